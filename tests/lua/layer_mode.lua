-- A layer inside a model follows the model's mode: after model:eval(),
-- model[i]:forward runs in evaluation mode too, as the model's own forward
-- does. A standalone layer keeps its own mode.
nn.define{
  kind = "layer", name = "TrainDoubles",
  -- Doubles its input while training, passes it through in evaluation.
  forward = function(self, x, training) return training and x * 2 or x:clone() end,
  backward = function(self, x, grad_out) return grad_out end,
}
local x = tensor{{1, 2, 3}}
local doubled = x * 2

local model = nn.Sequential{nn.Dense(3, 3), nn.TrainDoubles()}
local member = model[2]
assert(model:is_training() and member:is_training(), "a new model and its layers train")
assert(member:forward(x):equal(doubled), "training mode: doubled")
model:eval()
assert(not member:is_training(), "model:eval() reaches the layer handle")
assert(member:forward(x):equal(x), "model:eval(): model[2]:forward runs in evaluation mode")
assert(model[2]:forward(x):equal(x), "also through a fresh handle")
model:train()
assert(member:forward(x):equal(doubled), "model:train(): training mode again")
model:train(false)
assert(member:forward(x):equal(x), "model:train(false) is model:eval()")

-- Setting the mode of one member alone would disagree with the model's own
-- forward, so it is refused with a message that says what to do.
local ok, err = pcall(function() member:eval() end)
assert(not ok and err:find("layer_mode.lua:28:", 1, true) and err:find("model:eval()", 1, true), tostring(err))
ok, err = pcall(function() member:train() end)
assert(not ok and err:find("follows the mode of its model", 1, true), tostring(err))

-- A standalone layer has a mode of its own.
local alone = nn.TrainDoubles()
assert(alone:forward(x):equal(doubled))
alone:eval()
assert(not alone:is_training() and alone:forward(x):equal(x))
alone:train()
assert(alone:forward(x):equal(doubled))
print("layer mode ok")
