-- dist_resume.lua MODE CHECKPOINT: a checkpoint written by 2 ranks resumes
-- under 1 process, continuing the curve of a run never interrupted.
--   interrupt: (2 ranks) stops itself inside epoch 2, as a Ctrl-C would
--              (fit.interrupted), and rank 0 writes CHECKPOINT.
--   sigint:    (2 ranks) prints "ready" and trains until mpirun's Ctrl-C.
--   slow_epoch_end: (2 ranks) as sigint, but rank 0 prints "ready" at the
--              start of a 5 s end of epoch 1, while rank 1 waits for it.
--   chain:     (2 ranks) trains 2 epochs, then a new run resumes from them.
--   verify:    (1 process) resumes CHECKPOINT to the end of the epoch it
--              stopped in, and compares with a run trained without a stop.
local mode, path = arg[1], arg[2]
assert(mode and path, "usage: dist_resume.lua interrupt|sigint|verify CHECKPOINT")
local neurite = require "neurite"
local train_ds = data.fashion_mnist()
local source = train_ds:slice(1, 2000) -- 31 batches of 64 and one of 16

local function fit(epochs, resume, callbacks)
  tensor.seed(3)
  local model = nn.Sequential{nn.Dense(784, 64, {activation = "relu"}), nn.Dense(64, 10)}
  local optimizer = optim.SGD(model, {lr = 0.05, momentum = 0.9})
  if resume then tensor.seed(999) end -- the checkpoint's generator state must win
  local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer, data = source,
                            epochs = epochs, batch_size = 64, metrics = {"accuracy"}, verbose = 0,
                            resume = resume, callbacks = callbacks}
  return history, model
end

if mode == "chain" then
  -- A run that resumes from the checkpoint the run before it wrote (as
  -- scripts/residual_mlp.lua does): no rank may read it before rank 0 has
  -- written the last epoch's.
  assert(dist.size() == 2, "run under mpirun -np 2")
  fit(2, nil, {train.checkpoint{path = path, monitor = "loss"}})
  local history = fit(3, path, {train.checkpoint{path = path, monitor = "loss"}})
  assert(#history.loss == 3, "the second run resumed after epoch 2")
  print("rank " .. dist.rank() .. ": resumed from the checkpoint of the run before")
  return
end

-- Busy for `seconds` in Lua (the interrupt hook runs, as in training).
local function busy(seconds)
  local t = monitor.elapsed()
  while monitor.elapsed() - t < seconds do end
end

if mode == "interrupt" or mode == "sigint" or mode == "slow_epoch_end" then
  assert(dist.size() == 2, "run under mpirun -np 2")
  local callbacks = {train.checkpoint{path = path, monitor = "loss"}}
  if mode == "sigint" or mode == "slow_epoch_end" then -- end with "interrupted" and exit code 130 on every rank
    if mode == "sigint" then
      -- 20 ms a step, so that the Ctrl-C a second after "ready" lands in
      -- epoch 2 or 3; "ready" once step 5 is done, when every rank is inside
      -- train.fit (a rank still loading the data would stop alone, outside it).
      callbacks[2] = {on_batch_end = function(_, _, f)
        if f.step == 5 then print("ready") end
        busy(0.02)
      end}
    else
      -- Rank 0 spends 5 s at the end of epoch 1 (a long validation, a slow
      -- disk), longer than a stop's grace period: rank 1, waiting for it in
      -- a collective, is the one asked to stop (run.sh sigterm_epoch_end).
      callbacks[2] = {on_epoch_end = function(_, _, f)
        if f.epoch ~= 1 or not dist.is_main() then return end
        print("ready")
        busy(5)
      end}
    end
    fit(100000, nil, callbacks)
    return
  end
  callbacks[2] = {on_batch_end = function(_, _, f) if f.step == 40 then f.interrupted = true end end}
  local ok, err = pcall(fit, 3, nil, callbacks)
  assert(not ok and tostring(err):find("interrupted in epoch 2 at step 40", 1, true), tostring(err))
  dist.barrier() -- rank 0 has written the checkpoint
  local extras = nn.Sequential{nn.Dense(784, 64), nn.Dense(64, 10)}:load(path)
  local meta = neurite.json.decode(extras["meta.json"], extras["meta.tensors"])
  assert(meta.position and meta.position.batches == 8 and meta.position.seen == 8 * 64,
         "the checkpoint records 8 global batches of 64 done in epoch 2")
  print("rank " .. dist.rank() .. ": checkpoint written at step 40")
  return
end

assert(mode == "verify" and dist.size() == 1, "verify runs in one process")
local extras = nn.Sequential{nn.Dense(784, 64), nn.Dense(64, 10)}:load(path)
local meta = neurite.json.decode(extras["meta.json"], extras["meta.tensors"])
assert(meta.position, "an interrupt records the position inside the epoch")
local epochs = meta.position.epoch -- the epoch the interrupt stopped in, to its end
local full, full_model = fit(epochs)
local resumed, model = fit(epochs, path)
assert(#resumed.loss == epochs, "the resumed run finished epoch " .. epochs)
for e = 1, epochs do
  local rel = math.abs(resumed.loss[e] - full.loss[e]) / full.loss[e]
  assert(rel <= 1e-4, string.format("epoch %d: loss %.9g resumed, %.9g uninterrupted", e, resumed.loss[e], full.loss[e]))
  assert(math.abs(resumed.accuracy[e] - full.accuracy[e]) <= 0.005, "epoch " .. e .. " accuracy")
end
local a, b = model:parameters(), full_model:parameters()
for i = 1, #a do
  local diff = (a[i] - b[i]):abs():max()
  assert(diff <= 1e-4, string.format("parameter %d differs by %.3g", i, diff))
end
print(string.format("resumed under 1 process from 2 ranks' checkpoint: epoch %d loss %.6f (uninterrupted %.6f)",
                    epochs, resumed.loss[epochs], full.loss[epochs]))
