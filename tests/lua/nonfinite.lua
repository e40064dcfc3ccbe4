-- train.fit stops cleanly where the loss, the gradients or the parameters
-- stop being finite (issue 11): it names the epoch and step, runs
-- on_train_end and the checkpoint callbacks, and what it keeps is finite.
local dir = os.getenv("TMPDIR") or "/tmp"
local path = dir .. "/neurite_nonfinite_" .. os.time() .. ".nrt"

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end
local function all_finite(model)
  for _, p in ipairs(model:parameters()) do
    if not (finite(p:max()) and finite(p:min())) then return false end
  end
  return true
end

-- A 1 -> 1 Dense layer with weight w, trained with MSE toward 0 on x.
local function fit_line(w, x, lr, extra)
  local model = nn.Sequential{nn.Dense(1, 1)}
  model:parameters()[1]:fill(w)
  model:parameters()[2]:fill(0)
  local events = {}
  local callbacks = {train.checkpoint{path = path}, train.terminate_on_nan(),
                     {on_train_end = function() events.ended = true end,
                      on_batch_end = function(_, logs) events.last_loss = logs.loss end}}
  if extra then callbacks[#callbacks + 1] = extra end
  local history, fit = train.fit{
    model = model, loss = nn.MSELoss(), data = {x = tensor.ones(16, 1) * x, y = tensor.zeros(16, 1)},
    epochs = 5, batch_size = 8, shuffle = false, optimizer = optim.SGD(model:parameters(), {lr = lr}),
    verbose = 0, callbacks = callbacks}
  return model, history, fit, events
end

-- 1. Finite loss (1e20), gradient overflows (d/dw = 2·pred·x = 2e40): stopped
--    before the step, the model keeps its weight.
os.remove(path)
local model, history, fit, events = fit_line(1e-20, 1e30, 0.1)
assert(fit.nonfinite == "epoch 1, step 1: the gradients hold inf or nan (the loss is 1e+20)",
       "message was: " .. tostring(fit.nonfinite))
assert(events.ended, "on_train_end did not run")
assert(#history.loss == 1, "epochs logged: " .. #history.loss)
assert(model:parameters()[1]:max() == model:parameters()[1]:min() and
       math.abs(model:parameters()[1]:max() - 1e-20) < 1e-26, "the weight moved")
assert(all_finite(nn.load(path)), "the checkpoint is not finite")

-- 2. Predictions overflow to inf (finite, huge weight): the loss would raise
--    on them; train.fit reports "loss is inf", and terminate_on_nan saw it.
os.remove(path)
model, history, fit, events = fit_line(3e38, 10, 0.1)
assert(fit.nonfinite == "epoch 1, step 1: loss is inf", "message was: " .. tostring(fit.nonfinite))
assert(events.ended and events.last_loss == math.huge, "on_batch_end saw " .. tostring(events.last_loss))
assert(all_finite(model), "the step that gave inf was applied")

-- 3. The weight turns inf in epoch 2 (as an overflowing update would make
--    it): the parameters are lost, but epoch 1's checkpoint is not written over.
os.remove(path)
local overflow = {on_batch_end = function(_, _, f)
  if f.epoch == 2 then f.model:parameters()[1]:fill(math.huge) end
end}
model, history, fit, events = fit_line(1, 1, 0.01, overflow)
assert(fit.nonfinite and fit.nonfinite:find("^epoch 2, step 2: loss is inf; an update made the parameters inf or nan"),
       "message was: " .. tostring(fit.nonfinite))
assert(events.ended, "on_train_end did not run")
assert(not all_finite(model), "expected the update to overflow")
local kept = nn.load(path)
assert(all_finite(kept), "the checkpoint was written over with non-finite parameters")
local w = kept:parameters()[1]:max()
assert(w > 0.5 and w < 1, "the checkpoint is not epoch 1's state: w = " .. w)
os.remove(path)

-- 4. An empty dataset is an error at the script's line, for fit and evaluate.
local m = nn.Sequential{nn.Dense(2, 1)}
local empty = {x = tensor.zeros(0, 2), y = tensor.zeros(0, 1)}
local ok, err = pcall(function()
  train.fit{model = m, loss = nn.MSELoss(), data = empty, optimizer = optim.SGD(m:parameters(), {lr = 0.1})}
end)
assert(not ok and err:find("nonfinite.lua:%d+: train.fit: data has no samples"), err)
ok, err = pcall(function() local r = train.evaluate{model = m, data = empty}; return r end)
assert(not ok and err:find("nonfinite.lua:%d+: train.evaluate: data has no samples"), err)
ok, err = pcall(function()
  train.fit{model = m, loss = nn.MSELoss(), data = {x = tensor.zeros(5, 2), y = tensor.zeros(5, 1)}, batch_size = 8,
            drop_last = true, optimizer = optim.SGD(m:parameters(), {lr = 0.1})}
end)
assert(not ok and err:find("data has 5 samples, fewer than one batch of 8, and drop_last leaves none", 1, true), err)
print("nonfinite ok")
