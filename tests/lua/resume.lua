-- A run resumed from an epoch-end checkpoint continues the loss curve
-- exactly: 6 epochs in one go equal 3 epochs, a restart, and 3 more.
local function setup()
  tensor.seed(11)
  local x = tensor.randn{64, 5}
  local y = (x:sum(2):reshape{64, 1}):gt(0)
  local model = nn.Sequential{nn.Dense(5, 8, {activation = "tanh"}), nn.Dense(8, 1, {activation = "sigmoid"})}
  local opt = optim.SGD(model, {lr = 0.5, momentum = 0.9})
  return model, opt, {x = x, y = y}
end
local function fit(model, opt, data, epochs, path, resume)
  return train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = data, epochs = epochs,
                   batch_size = 16, verbose = 0, resume = resume,
                   callbacks = {train.checkpoint{path = path, monitor = "loss"},
                                train.lr_schedule{kind = "step", step_size = 2, gamma = 0.5}}}
end

local m1, o1, d1 = setup()
local full = fit(m1, o1, d1, 6, "resume_full.nrt")

os.remove("resume_part.nrt")
local m2, o2, d2 = setup()
fit(m2, o2, d2, 3, "resume_part.nrt")
tensor.seed(999) -- whatever happens in between must not matter
local m3, o3 = setup()
local resumed = fit(m3, o3, d2, 6, "resume_part.nrt", "resume_part.nrt")

assert(#resumed.loss == 6, "the history continues from the checkpoint: " .. #resumed.loss)
for i = 1, 6 do
  assert(resumed.loss[i] == full.loss[i],
         string.format("epoch %d: resumed loss %.17g differs from %.17g", i, resumed.loss[i], full.loss[i]))
  assert(resumed.lr[i] == full.lr[i], "the schedule position is restored")
end
assert(m3:forward(d1.x):equal(m1:forward(d1.x)), "the final weights are identical")
print("resume ok")
