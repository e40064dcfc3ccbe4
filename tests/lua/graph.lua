-- The functional API (nn.Input, layers called on symbolic tensors, nn.Model),
-- Lua-defined layers of several inputs, and the errors of bad graphs, each
-- at the script's line.
local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "message was: " .. tostring(err))
  assert(tostring(err):find("graph.lua:%d+:"), "the message names no line of the script: " .. tostring(err))
end

-- A residual block, and the model's nodes are the script's own layers.
local x = nn.Input{4}
local first = nn.Dense{inputs = 4, outputs = 6, activation = "tanh"}
local h = first(x)
local r = nn.Dense{inputs = 6, outputs = 6}(h)
local y = nn.Dense{inputs = 6, outputs = 2}(nn.Add()(h, r))
local model = nn.Model{inputs = x, outputs = y}
assert(#model == 4 and model[1] == first, "m[i] is the layer the script made")
assert(model:type() == "Model" and model:input_count() == 1 and model:output_count() == 1)
local summary = model:summary()
assert(summary:find("Add%s+%[1, 6%]%s+0%s+node 1, node 2"), summary)
local data = {x = tensor.randn{8, 4}, y = tensor.randn{8, 2}}
local check = train.gradient_check{model = model, loss = nn.MSELoss(), data = data}
assert(check.max_relative_error < 2e-2, check.worst)

-- A Lua layer of two inputs, with a parameter, inside a graph.
nn.define{name = "Blend", inputs = 2, params = {{name = "mix", default = 0.25}},
  init = function(self) self.w = tensor{self.mix} end, parameters = {"w"},
  forward = function(self, a, b) return a * self.w:get(1) + b * (1 - self.w:get(1)) end,
  backward = function(self, a, b, g)
    self.grads.w:add_(tensor{((a - b) * g):sum()})
    return g * self.w:get(1), g * (1 - self.w:get(1))
  end}
local blend = nn.Blend()
local out = blend(tensor{{1, 2, 3}}, tensor{{3, 2, 1}})
assert(out:equal(tensor{{2.5, 2, 1.5}}), tostring(out))
local a, b = nn.Input{3}, nn.Input{3}
local two = nn.Model{inputs = {a, b}, outputs = nn.Dense(3, 2)(nn.Blend()(nn.Dense(3, 3)(a), b))}
assert(two:input_count() == 2 and two:output_count() == 1)
local d2 = {x = {tensor.randn{6, 3}, tensor.randn{6, 3}}, y = tensor.randn{6, 2}}
check = train.gradient_check{model = two, loss = nn.MSELoss(), data = d2}
assert(check.max_relative_error < 2e-2, check.worst)
fails(function() return nn.Blend()(tensor{{1, 2, 3}}) end, "Lua layer 'Blend' takes 2 inputs, got 1")
fails(function() nn.define{name = "Bad", inputs = 0, forward = function() end, backward = function() end} end,
      "inputs must be a whole number from 1 to 16")

-- Nesting: a Sequential as a node; the same tensor read twice by one node.
local inner = nn.Sequential{nn.Dense(3, 3), nn.Tanh()}
local xi = nn.Input{3}
local ni = inner(xi)
local nested = nn.Model{inputs = xi, outputs = nn.Add()(ni, ni)}
check = train.gradient_check{model = nested, loss = nn.MSELoss(), data = {x = tensor.randn{5, 3}, y = tensor.randn{5, 3}}}
assert(check.max_relative_error < 2e-2, check.worst)
nested:save("graph_nested.nrt")
local back = nn.load("graph_nested.nrt")
local probe = tensor.randn{2, 3}
assert(back:forward(probe):equal(nested:forward(probe)), "a nested model round-trips bitwise")

-- Bad graphs: named, and nothing half-built.
local p = nn.Input{4}
local dense = nn.Dense(4, 4)
local q = dense(p)
fails(function() return dense(q) end, "this layer is already a node of a graph")
local other = nn.Input{4}
fails(function() return nn.Model{inputs = p, outputs = nn.Add()(q, nn.Dense(4, 4)(other))} end,
      "depends on nn.Input, which is not among the model's inputs")
local unused = nn.Input{2}
fails(function() return nn.Model{inputs = {p, unused}, outputs = q} end, "input 2 ('input2') is not used by any output")
fails(function() return nn.Add()(nn.Dense(4, 8)(nn.Input{4}), nn.Dense(4, 5)(nn.Input{4})) end,
      "inputs [1, 8] and [1, 5] must have the same shape")
fails(function() return model:forward{tensor.randn{2, 4}, tensor.randn{2, 4}} end, "forward takes 1 input, got 2")
fails(function() return model:forward(tensor.randn{2, 5}) end, "does not match the declared sample shape [4]")
fails(function() return nn.Sequential{first} end, "already belongs to a model")
local m2 = nn.Model{inputs = p, outputs = q}
fails(function() return nn.Model{inputs = p, outputs = q} end, "already belongs to a model")
fails(function() return nn.Model{inputs = p} end, "'outputs' must be a symbolic tensor")
print("graph ok", #m2)
