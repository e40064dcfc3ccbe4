-- train.gradient_check: backprop against numeric differentiation (seed 003),
-- on a built-in MLP and on a Lua layer whose backward is wrong on purpose.
local clouds = data.gaussians{count = 64, separation = 2, stddev = 1, seed = 2}
local d = {x = clouds:inputs(), y = clouds:targets()}

tensor.seed(1)
local mlp = nn.Sequential{nn.Dense(2, 5, {activation = "tanh"}), nn.Dense(5, 2)}
local before = mlp[1].weight:clone()
local ok_check = train.gradient_check{model = mlp, loss = nn.CrossEntropyLoss(), data = clouds}
print(string.format("MLP: %d elements, worst relative error %.2g (%s)", ok_check.checked,
                    ok_check.max_relative_error, ok_check.worst))
assert(ok_check.checked == 10 + 5 + 10 + 2, "every element of these small tensors is checked")
assert(ok_check.max_relative_error < 1e-2, ok_check.worst)
assert(mlp[1].weight:equal(before) and mlp:is_training(), "weights and mode are restored")

-- A layer y = x * s whose backward forgets a factor of 2 for s.
nn.define{
  kind = "layer", name = "BadScale", summary = "y = x * s, with a wrong gradient for s.",
  params = {{name = "features", type = "int", min = 1}},
  parameters = {"s"},
  init = function(self) self.s = tensor.full({self.features}, 0.7) end,
  forward = function(self, x) return x * self.s end,
  backward = function(self, x, grad_out)
    self.grads.s:add_((grad_out * x):sum(1), 2) -- should be 1
    return grad_out * self.s
  end,
}
local bad = nn.Sequential{nn.BadScale{features = 2}, nn.Dense(2, 2)}
local caught = train.gradient_check{model = bad, loss = nn.CrossEntropyLoss(), data = d, elements = 4}
print(string.format("BadScale: worst relative error %.2g (%s)", caught.max_relative_error, caught.worst))
assert(caught.max_relative_error > 0.2, "a gradient twice too large is caught")
assert(caught.worst:find("parameter 1 (s)", 1, true), caught.worst)
assert(caught.checked == 2 + 4 + 2, "at most 4 elements a tensor")

local ok, err = pcall(train.gradient_check, {model = mlp, loss = nn.CrossEntropyLoss(), data = d, elements = 0})
assert(not ok and err:find("elements must be a whole number", 1, true), err)
-- The message points at the script's line that made the call.
ok, err = pcall(function() local r = train.gradient_check{model = mlp, data = d}; return r end)
assert(not ok and err:find("gradient_check.lua:%d+: train.gradient_check: 'loss' is required"), err)
print("gradient check ok")
