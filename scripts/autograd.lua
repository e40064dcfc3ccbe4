-- autograd.lua: seed 004's automatic gradient of f(x1, x2) = x1 x2 + sin(x1),
-- against the derivatives by hand (df/dx1 = x2 + cos x1, df/dx2 = x1) and
-- seed 003's numeric differentiation. First the library's way,
-- autograd.grad, which records the tensor operations f performs and walks
-- them back; then the two ways it can work, written out by hand:
--   forward mode: each value carries its derivative along one input (dual numbers);
--   reverse mode: the forward pass records a graph, and one backward pass over
--   it gives the derivatives along every input - backpropagation, which is
--   what every layer's backward does, and train.gradient_check tests.

-- Reverse mode: a node knows its value, its inputs and the local derivatives.
local Node = {}
Node.__index = Node
local function node(value, parents) return setmetatable({value = value, grad = 0, parents = parents or {}}, Node) end
Node.__add = function(a, b) return node(a.value + b.value, {{a, 1}, {b, 1}}) end            -- "distributor"
Node.__mul = function(a, b) return node(a.value * b.value, {{a, b.value}, {b, a.value}}) end -- "switch"
local function sin(a) return node(math.sin(a.value), {{a, math.cos(a.value)}}) end

function Node:backward()
  -- Visit nodes so each one's gradient is complete before it is passed on.
  local order, seen = {}, {}
  local function visit(n)
    if seen[n] then return end
    seen[n] = true
    for _, p in ipairs(n.parents) do visit(p[1]) end
    order[#order + 1] = n
  end
  visit(self)
  self.grad = 1
  for i = #order, 1, -1 do
    for _, p in ipairs(order[i].parents) do p[1].grad = p[1].grad + order[i].grad * p[2] end
  end
end

-- Forward mode: a dual number a + a' e with e^2 = 0.
local Dual = {}
Dual.__index = Dual
local function dual(v, d) return setmetatable({v = v, d = d}, Dual) end
Dual.__add = function(a, b) return dual(a.v + b.v, a.d + b.d) end
Dual.__mul = function(a, b) return dual(a.v * b.v, a.d * b.v + a.v * b.d) end
local function dsin(a) return dual(math.sin(a.v), math.cos(a.v) * a.d) end

local function f(x1, x2) return x1 * x2 + math.sin(x1) end
local x1, x2 = 2, 5

local a, b = node(x1), node(x2)
local y = a * b + sin(a)
y:backward()

local fwd1 = (function(p, q) return p * q + dsin(p) end)(dual(x1, 1), dual(x2, 0)).d
local fwd2 = (function(p, q) return p * q + dsin(p) end)(dual(x1, 0), dual(x2, 1)).d

local h = 1e-5
local num1 = (f(x1 + h, x2) - f(x1 - h, x2)) / (2 * h)
local num2 = (f(x1, x2 + h) - f(x1, x2 - h)) / (2 * h)
local exact1, exact2 = x2 + math.cos(x1), x1

-- The library: f on tensors, recorded while autograd.grad runs it; the
-- gradients come back as tensors (f32), one per input.
local function f_tensors(p, q) return p * q + p:sin() end
local lib, value = autograd.grad(f_tensors, {tensor(x1), tensor(x2)})
local lib1, lib2 = lib[1]:item(), lib[2]:item()

print(string.format("f(%g, %g) = %.6f", x1, x2, y.value))
print(string.format("%-26s %12s %12s", "", "df/dx1", "df/dx2"))
print(string.format("%-26s %12.8f %12.8f", "by hand: x2 + cos x1, x1", exact1, exact2))
print(string.format("%-26s %12.8f %12.8f", "autograd.grad (library)", lib1, lib2))
print(string.format("%-26s %12.8f %12.8f", "reverse mode (1 pass)", a.grad, b.grad))
print(string.format("%-26s %12.8f %12.8f", "forward mode (1 pass each)", fwd1, fwd2))
print(string.format("%-26s %12.8f %12.8f", "numeric, h = 1e-5", num1, num2))
assert(math.abs(y.value - f(x1, x2)) < 1e-12)
-- f32 tensors: within a few units of float rounding of the exact values.
assert(math.abs(value:item() - f(x1, x2)) < 1e-5, "autograd.grad returns f's value")
assert(math.abs(lib1 - exact1) < 1e-5 and math.abs(lib2 - exact2) < 1e-5, "autograd.grad is exact up to f32 rounding")
assert(math.abs(a.grad - exact1) < 1e-12 and math.abs(b.grad - exact2) < 1e-12, "reverse mode is exact")
assert(math.abs(fwd1 - exact1) < 1e-12 and math.abs(fwd2 - exact2) < 1e-12, "forward mode is exact")
assert(math.abs(num1 - exact1) < 1e-8 and math.abs(num2 - exact2) < 1e-8, "numeric is close")

-- The step h of numeric differentiation: too large and the curvature shows,
-- too small and rounding does (seed 003).
print()
for _, step in ipairs{1e-1, 1e-3, 1e-5, 1e-8, 1e-11, 1e-14} do
  local n = (f(x1 + step, x2) - f(x1 - step, x2)) / (2 * step)
  print(string.format("h = %-6g numeric df/dx1 %.10f  error %.1e", step, n, math.abs(n - exact1)))
end

-- Vectorised: f at 5 points at once, an output of 5 values; grad_outputs
-- (ones) asks for the gradient of their sum, which is each point's own.
local p1, p2 = tensor.linspace(-2, 2, 5), tensor{5, 4, 3, 2, 1}
local g = autograd.grad(f_tensors, {p1, p2}, {grad_outputs = tensor.ones(5)})
print()
print("at 5 points: x1 = " .. table.concat(p1:totable(), ", ") .. ", x2 = " .. table.concat(p2:totable(), ", "))
print("df/dx1 by autograd.grad: " .. table.concat(g[1]:totable(), ", "))
local by_hand = p2 + p1:cos()
assert((g[1] - by_hand):abs():max() < 1e-6, "df/dx1 = x2 + cos x1 at each point")
assert(g[2]:equal(p1), "df/dx2 = x1 at each point")
