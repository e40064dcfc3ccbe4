-- Each loss declares what its target holds, and nothing is guessed from
-- shapes: regression and BCE losses take a target shaped as the prediction,
-- and [N] for a prediction [N, 1], as Keras does; CrossEntropyLoss takes
-- 1-based class indices; a loss defined in Lua declares it with `target`.
--
-- Reference numbers: PyTorch 1.13 (float32), computed once with
--   import torch.nn.functional as F
--   p = torch.tensor([[0.5], [0.3], [-1.2], [2.0]], requires_grad=True)
--   t = torch.tensor([0.4, 0.2, -1.0, 1.5]).view(-1, 1)
--   F.mse_loss(p, t) / F.l1_loss(p, t) / F.huber_loss(p, t, delta=0.3), then .backward()
--   q = torch.tensor([[0.9], [0.2], [0.6], [0.35]], requires_grad=True)
--   F.binary_cross_entropy(q, torch.tensor([1., 0., 1., 0.]).view(-1, 1))
--   z = torch.tensor([[1., 2., 3.], [1., -1., 0.5]], requires_grad=True)
--   F.cross_entropy(z, torch.tensor([2, 0]))          # classes 3 and 1, counted from 1
-- PyTorch needs the .view(-1, 1): given t of shape [4] its mse_loss broadcasts
-- to [4, 4] (with a warning) and BCE refuses.
local function near(got, want, what, tolerance)
  tolerance = tolerance or 2e-6
  if type(want) == "number" then
    assert(math.abs(got - want) <= tolerance, string.format("%s: %.9g, PyTorch gives %.9g", what, got, want))
    return
  end
  local flat = got:reshape{got:numel()}
  assert(flat:numel() == #want, what .. ": " .. flat:numel() .. " values, expected " .. #want)
  for i = 1, #want do
    assert(math.abs(flat:get(i) - want[i]) <= tolerance,
           string.format("%s: element %d is %.9g, PyTorch gives %.9g", what, i, flat:get(i), want[i]))
  end
end

local function fails(fn, part)
  local ok, err = pcall(fn)
  assert(not ok, "no error; expected: " .. part)
  assert(tostring(err):find(part, 1, true), "the error lacks '" .. part .. "': " .. tostring(err))
end

-- ---------------------------------------------------------------- [N] against [N, 1]

local p = tensor{{0.5}, {0.3}, {-1.2}, {2.0}}
local t = tensor{0.4, 0.2, -1.0, 1.5}
local torch = {
  MSELoss = {0.0775000006, {0.04999999702, 0.05000000447, -0.1000000238, 0.25}},
  MAELoss = {0.2250000089, {0.25, 0.25, -0.25, 0.25}},
  HuberLoss = {0.0337500051, {0.02499999851, 0.02500000224, -0.05000001192, 0.07500000298}},
}
for name, want in pairs(torch) do
  local loss = name == "HuberLoss" and nn.HuberLoss{delta = 0.3} or nn[name]()
  for _, target in ipairs{t, t:reshape{4, 1}} do
    local shape = "[" .. table.concat(target:shape(), ", ") .. "]"
    near(loss:forward(p, target), want[1], name .. " forward, target " .. shape)
    local grad = loss:backward(p, target)
    assert(grad:dim() == 2 and grad:size(2) == 1, name .. ": the gradient is shaped as the prediction")
    near(grad, want[2], name .. " backward, target " .. shape)
  end
end

local q = tensor{{0.9}, {0.2}, {0.6}, {0.35}}
local bce = nn.BCELoss()
near(bce:forward(q, tensor{1, 0, 1, 0}), 0.3175281584, "BCELoss forward, 0/1 target [4]")
near(bce:backward(q, tensor{1, 0, 1, 0}), {-0.277777791, 0.3124999702, -0.4166666567, 0.3846153915},
     "BCELoss backward, 0/1 target [4]", 1e-5)

-- Other shapes are refused with both named, before the plugin runs.
fails(function() nn.MSELoss():forward(p, tensor{0.4, 0.2, -1.0}) end,
      "MSELoss: target [3] does not fit the prediction [4, 1]")
fails(function() nn.BCELoss():forward(tensor{{0.5, 0.5}}, tensor{1}) end,
      "BCELoss: target [1] does not fit the prediction [1, 2]")

-- train.fit on a one-output model with targets [N]: a straight line y = 2x - 1.
tensor.seed(3)
local x = tensor.linspace(-1, 1, 32):reshape{32, 1}
local y = (x * 2 - 1):reshape{32}
local line = nn.Sequential{nn.Dense(1, 1)}
local history = train.fit{model = line, loss = nn.MSELoss(), optimizer = optim.SGD(line, {lr = 0.3}),
                          data = {x = x, y = y}, epochs = 60, batch_size = 8, verbose = 0}
assert(history.loss[#history.loss] < 1e-4, "a line fitted through [N] targets, loss " .. history.loss[#history.loss])
near(line[1].weight:get(1, 1), 2, "the fitted slope", 1e-2)

-- ---------------------------------------------------------------- class indices

local z = tensor{{1, 2, 3}, {1, -1, 0.5}}
local ce = nn.CrossEntropyLoss()
for _, classes in ipairs{tensor{3, 1}, tensor{{3}, {1}}} do
  near(ce:forward(z, classes), 0.4812814593, "CrossEntropyLoss forward")
  near(ce:backward(z, classes), {0.04501529038, 0.1223642454, -0.1673794985, -0.2129515111, 0.03884778917,
                                 0.1741037071}, "CrossEntropyLoss backward")
end
fails(function() ce:forward(z, tensor{3, 4}) end,
      "CrossEntropyLoss: the target of sample 2 is 4 but the prediction [2, 3] has classes 1 to 3")
fails(function() ce:forward(z, tensor{0, 1}) end, "the target of sample 1 is 0")
fails(function() ce:forward(z, tensor{1.5, 1}) end, "the target of sample 1 is 1.5")
fails(function() ce:forward(z, tensor{{0, 0, 1}, {1, 0, 0}}) end,
      "target [2, 3] must hold one class index per sample, [2] or [2, 1], for pred [2, 3]")

-- The declaration is in the help text.
assert(nn.help("MSELoss"):find("Target: shaped as the prediction", 1, true), nn.help("MSELoss"))
assert(nn.help("CrossEntropyLoss"):find("Target: one class index per sample", 1, true))

-- ---------------------------------------------------------------- losses defined in Lua

-- target = "class": the loss sees 1-based class numbers, as the script counts.
local seen
nn.define{
  name = "PickScore", kind = "loss", target = "class",
  forward = function(self, pred, target)
    seen = target:clone()
    local total = 0
    for r = 1, pred:size(1) do total = total - pred:get(r, target:get(r)) end
    return total / pred:size(1)
  end,
  backward = function(self, pred, target)
    local grad = tensor.zeros(pred:shape())
    for r = 1, pred:size(1) do grad:set(r, target:get(r), -1 / pred:size(1)) end
    return grad
  end,
}
local pick = nn.PickScore()
near(pick:forward(z, tensor{3, 1}), -(3 + 1) / 2, "PickScore forward")
assert(seen:get(1) == 3 and seen:get(2) == 1, "a Lua class loss sees 1-based classes")
near(pick:backward(z, tensor{3, 1}), {0, 0, -0.5, -0.5, 0, 0}, "PickScore backward")
fails(function() pick:forward(z, tensor{4, 1}) end,
      "PickScore: the target of sample 1 is 4 but the prediction [2, 3] has classes 1 to 3")
assert(nn.help("PickScore"):find("Target: one class index per sample", 1, true))

-- By default a Lua loss takes the prediction's shape, [N] included for [N, 1].
nn.define{
  name = "LuaSquares", kind = "loss",
  forward = function(self, pred, target)
    seen = target:shape()
    return ((pred - target) ^ 2):sum() / pred:numel()
  end,
  backward = function(self, pred, target) return (pred - target) * (2 / pred:numel()) end,
}
near(nn.LuaSquares():forward(p, t), 0.0775000006, "LuaSquares forward on [N]")
assert(#seen == 2 and seen[1] == 4 and seen[2] == 1, "the Lua loss received the target as [4, 1]")
near(nn.LuaSquares():backward(p, t), torch.MSELoss[2], "LuaSquares backward on [N]")

fails(function() nn.define{name = "Odd", kind = "loss", target = "classes", forward = print, backward = print} end,
      'target must be "class" (class indices) or "same_shape" (shaped as the prediction), got "classes"')
fails(function() nn.define{name = "OddLayer", target = "class", forward = print, backward = print} end,
      "'target' is for losses only")
print("loss_targets.lua: ok")
