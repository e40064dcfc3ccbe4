-- An interrupt in the middle of an epoch (a callback raises the same flag
-- Ctrl-C raises, at a chosen step): the checkpoint records the position
-- inside the epoch, and a run resumed from it gives the same per-epoch
-- losses, accuracies and final weights, bit for bit, as a run that was
-- never interrupted. With shuffling, for a {x =, y =} table and a dataset.
-- A best_only checkpoint keeps its best weights through the interrupt.
local interrupting = dofile(arg[0]:match("^(.-)[^/]*$") .. "interrupting.lua")
local function table_data()
  tensor.seed(21)
  local x = tensor.randn{50, 4}
  return {x = x, y = x:sum(2):gt(0):reshape{50} + 1}
end
local function dataset_data()
  return data.moons{count = 50, seed = 3}
end

-- 50 samples in batches of 8: 7 batches an epoch, the last one of 2.
local function fit(make_data, opts)
  local source = make_data()
  tensor.seed(7)
  local features = source.x and 4 or 2 -- the moons have two
  local model = nn.Sequential{nn.Dense(features, 8, {activation = "tanh"}), nn.Dense(8, 2)}
  local callbacks = interrupting.callbacks(opts)
  if opts.resume then tensor.seed(999) end -- whatever the generator holds now must not matter
  local ok, history = pcall(train.fit, {model = model, loss = nn.CrossEntropyLoss(),
                                        optimizer = optim.Adam(model, {lr = 0.02}), data = source,
                                        epochs = 5, batch_size = 8, metrics = {"accuracy"}, verbose = 0,
                                        resume = opts.resume, callbacks = callbacks})
  return ok, history, model, source
end

local function same_curves(a, b, what) interrupting.same_curves(a, b, {"loss", "accuracy"}, what) end

local function file_bytes(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

for _, case in ipairs{{"a table", table_data}, {"a dataset", dataset_data}} do
  local what, make_data = case[1], case[2]
  local ok, full, full_model, source = fit(make_data, {})
  assert(ok, full)
  for _, stop_step in ipairs{17, 21} do -- epoch 3 after batch 3; epoch 3 after its last batch
    os.remove("interrupt_resume.nrt")
    local stopped, err = fit(make_data, {stop_step = stop_step,
                                          callbacks = {train.checkpoint{path = "interrupt_resume.nrt", monitor = "loss"}}})
    assert(not stopped and tostring(err):find("interrupted in epoch 3 at step " .. stop_step, 1, true), tostring(err))
    local resumed_ok, resumed, model = fit(make_data, {resume = "interrupt_resume.nrt"})
    assert(resumed_ok, resumed)
    same_curves(resumed, full, what .. ", stopped at step " .. stop_step)
    local x = source.x or source:inputs()
    assert(model:forward(x):equal(full_model:forward(x)), what .. ": the final weights are identical")
  end
end

-- best_only: the interrupt leaves the best file as the last improving epoch
-- wrote it, and puts the run's state in a file of its own, to resume from.
os.remove("best.nrt")
os.remove("best.interrupted.nrt")
local best_before
local watch = {on_batch_end = function(_, _, fit)
  if fit.step == 17 then best_before = file_bytes("best.nrt") end
end}
local stopped, err = fit(table_data, {stop_step = 17, callbacks = {
  train.checkpoint{path = "best.nrt", monitor = "loss", best_only = true}, watch}})
assert(not stopped and tostring(err):find("interrupted", 1, true), tostring(err))
assert(best_before and #best_before > 0, "two epochs improved the loss: best.nrt exists")
assert(file_bytes("best.nrt") == best_before, "the interrupt did not touch the best checkpoint")
assert(file_bytes("best.interrupted.nrt"), "the interrupted state is in best.interrupted.nrt")
local _, full = fit(table_data, {})
local resumed_ok, resumed = fit(table_data, {resume = "best.interrupted.nrt"})
assert(resumed_ok, resumed)
same_curves(resumed, full, "resumed from best.interrupted.nrt")

-- interrupt_path = false: a best_only checkpoint writes nothing on an interrupt.
os.remove("best.nrt")
os.remove("best.interrupted.nrt")
fit(table_data, {stop_step = 17, callbacks = {
  train.checkpoint{path = "best.nrt", monitor = "loss", best_only = true, interrupt_path = false}}})
assert(file_bytes("best.nrt") and not file_bytes("best.interrupted.nrt"), "interrupt_path = false writes nothing")
print("interrupt resume ok")
