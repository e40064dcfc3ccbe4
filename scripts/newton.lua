-- newton.lua: seed 001's Newton's method against gradient descent and
-- L-BFGS. On f(θ) = θ1² + θ2² the Hessian is 2I, so one Newton step
-- θ ← θ - H⁻¹ ∇f lands on the minimum; gradient descent needs many steps
-- unless its rate is exactly 1/2, and L-BFGS learns the curvature from its
-- first step. Then the three train a small network (2-4-1 on XOR) to a
-- target loss: steps and seconds each.
--
-- Run: neurite-run scripts/newton.lua

local function quadratic()
  local layer = nn.Dense{inputs = 2, outputs = 1, bias = false} -- θ is its 1×2 weight
  local theta = layer.weight
  theta:copy(tensor{{3, -4}})
  local function closure()
    theta.grad:copy(theta * 2) -- ∇f = 2θ
    return theta:dot(theta)
  end
  return layer, theta, closure
end

print("f(θ) = θ1² + θ2² from θ = (3, -4), f = 25: steps until f < 1e-10")
local function count_steps(make, plain)
  local layer, theta, closure = quadratic()
  local opt = make(layer)
  local steps = 0
  while closure() >= 1e-10 and steps < 10000 do
    if plain then opt:step() else opt:step(closure) end
    steps = steps + 1
  end
  return steps, theta
end
local quadratic_results = {}
for _, method in ipairs{
    {"gradient descent, lr 0.1", function(l) return optim.SGD(l, {lr = 0.1}) end, true},
    {"gradient descent, lr 0.45", function(l) return optim.SGD(l, {lr = 0.45}) end, true},
    {"Newton", function(l) return optim.Newton(l, {damping = 0}) end},
    {"L-BFGS", function(l) return optim.LBFGS(l, {max_iter = 1}) end}} do
  local steps, theta = count_steps(method[2], method[3])
  quadratic_results[method[1]] = steps
  print(string.format("  %-26s %5d steps  θ = (%.2g, %.2g)", method[1], steps, theta:get(1, 1), theta:get(1, 2)))
end
assert(quadratic_results.Newton == 1, "Newton converges in one step on a quadratic")
assert(quadratic_results["L-BFGS"] <= 3, "L-BFGS needs its first step to learn the curvature")
assert(quadratic_results["gradient descent, lr 0.1"] > 50, "gradient descent creeps: (1 - 2 lr) a step")

-- ---------------------------------------------------------------- a small network
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}
local loss = nn.MSELoss()
local target = 1e-3
print()
print(string.format("XOR, 2-4-1 tanh network, mean squared error: steps and time until the loss < %g", target))

local function train_until(name, make, max_steps)
  tensor.seed(12) -- the same initial weights for every method
  local model = nn.Sequential{nn.Dense(2, 4, {activation = "tanh"}), nn.Dense(4, 1)}
  local opt = make(model)
  local calls = 0
  local function closure()
    calls = calls + 1
    opt:zero_grad()
    local pred = model:forward(x)
    local value = loss:forward(pred, y)
    model:backward(x, loss:backward(pred, y), false)
    return value
  end
  local started = monitor.elapsed()
  local steps, value = 0, closure()
  while value >= target and steps < max_steps do
    if opt.needs_closure then opt:step(closure) else opt:step() end
    steps = steps + 1
    value = closure()
  end
  local seconds = monitor.elapsed() - started
  print(string.format("  %-26s %6d steps  %6d gradients  %8.4f s  loss %.2e%s", name, steps, calls, seconds, value,
                      value < target and "" or "  (not reached)"))
  return value, steps
end

-- lr 0.2: at 0.5 this start sits at the edge of stability, where the last bit
-- of rounding decides between a spike that recovers and one that diverges.
local gd_loss = train_until("gradient descent, lr 0.2", function(m) return optim.SGD(m, {lr = 0.2}) end, 20000)
local newton_loss, newton_steps = train_until("Newton (damping 1e-3)",
                                              function(m) return optim.Newton(m, {damping = 1e-3}) end, 200)
local lbfgs_loss = train_until("L-BFGS (strong Wolfe)", function(m)
  return optim.LBFGS(m, {max_iter = 10, line_search_fn = "strong_wolfe"})
end, 500)
local backtracking_loss = train_until("L-BFGS (backtracking)", function(m)
  return optim.LBFGS(m, {max_iter = 10, line_search_fn = "backtracking"})
end, 500)
assert(newton_loss < target, "Newton reaches the target loss")
assert(lbfgs_loss < target and backtracking_loss < target, "L-BFGS reaches the target loss")
print(string.format("\nNewton took %d steps; each costs 2n + 2 = %d gradient evaluations and an n×n Cholesky (n = 17).",
                    newton_steps, 2 * 17 + 2))
if gd_loss >= target then print("gradient descent did not reach the target within 20000 steps") end
