-- long_fit.lua CHECKPOINT: trains until interrupted (sigint.sh sends the
-- Ctrl-C); the checkpoint callback then writes the position inside the
-- epoch to CHECKPOINT, and the best_only one keeps its best file and puts
-- the run's state beside it.
-- long_fit.lua CHECKPOINT verify: resumes from that checkpoint and checks
-- that the curve and the weights are those of a run never interrupted.
local path, mode = arg[1] or "interrupted.nrt", arg[2]
local neurite = require "neurite"

local function setup()
  tensor.seed(8)
  local x = tensor.randn{2048, 10}
  local y = x:sum(2):reshape{2048, 1} * 0.3 + tensor.randn{2048, 1} * 0.1
  local model = nn.Sequential{nn.Dense(10, 32, {activation = "relu"}), nn.Dense(32, 1)}
  return model, optim.SGD(model, {lr = 0.01, momentum = 0.9}), {x = x, y = y}
end

local function fit(epochs, resume, callbacks)
  local model, optimizer, data = setup()
  if resume then tensor.seed(12345) end -- the checkpoint's generator state must win
  local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optimizer, data = data,
                            epochs = epochs, batch_size = 8, verbose = 0, resume = resume, callbacks = callbacks}
  return history, model, data
end

if mode ~= "verify" then
  print("ready")
  io.stdout:flush()
  fit(100000000, nil, {train.checkpoint{path = path, monitor = "loss"},
                       train.checkpoint{path = "sigint_best.nrt", monitor = "loss", best_only = true}})
  return
end

local extras = setup():load(path)
local meta = neurite.json.decode(extras["meta.json"], extras["meta.tensors"])
assert(meta.position, "an interrupt records the position inside the epoch")
local epochs = meta.position.epoch
local full, full_model, data = fit(epochs)
local resumed, model = fit(epochs, path)
assert(#resumed.loss == epochs, "the resumed run finished epoch " .. epochs)
for i = 1, epochs do
  assert(resumed.loss[i] == full.loss[i],
         string.format("epoch %d: resumed loss %.17g, uninterrupted %.17g", i, resumed.loss[i], full.loss[i]))
end
assert(model:forward(data.x):equal(full_model:forward(data.x)), "the final weights are identical")
print(string.format("resumed inside epoch %d after %d of its %d batches: the curves are identical",
                    epochs, meta.position.batches, 2048 // 8))
