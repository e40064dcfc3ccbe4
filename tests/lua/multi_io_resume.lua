-- A run of a model with two inputs and two outputs saves, loads and
-- resumes exactly: from an epoch's end and from an interrupt inside an
-- epoch, the per-output curves (loss_1, loss_2, accuracy_1 and their val_
-- twins) and the final weights equal those of a run never interrupted.
-- The data mixes a dataset and tensors, so the dataset's own batches
-- skip what the interrupted run had done.
local interrupting = dofile(arg[0]:match("^(.-)[^/]*$") .. "interrupting.lua")
local moons = data.moons{count = 50, noise = 0.1, seed = 3}
tensor.seed(4)
local extra = tensor.randn{50, 3}
local radius = moons:inputs():pow(2):sum(2):reshape{50, 1} + extra:sum(2):reshape{50, 1} * 0.3
local source = {x = {moons, extra}, y = {moons, radius}}
local losses = {nn.CrossEntropyLoss(), nn.MSELoss()}

local function two_headed()
  tensor.seed(7)
  local a, b = nn.Input{2}, nn.Input{3}
  local h = nn.Concat{axis = 2}(nn.Dense{inputs = 2, outputs = 8, activation = "tanh"}(a),
                                nn.Dense{inputs = 3, outputs = 4, activation = "tanh"}(b))
  return nn.Model{inputs = {a, b}, outputs = {nn.Dense{inputs = 12, outputs = 2}(h),
                                              nn.Dense{inputs = 12, outputs = 1}(h)}}
end

-- 50 samples in batches of 8: 7 batches an epoch, the last one of 2.
local function fit(opts)
  local model = two_headed()
  local callbacks = interrupting.callbacks(opts)
  if opts.resume then tensor.seed(999) end -- whatever the generator holds now must not matter
  local ok, history = pcall(train.fit, {model = model, loss = opts.losses or losses,
                                        loss_weights = not opts.losses and {1, 0.5} or nil,
                                        optimizer = optim.Adam(model, {lr = 0.02}), data = opts.data or source,
                                        validation = opts.data or source, epochs = opts.epochs or 5, batch_size = 8,
                                        metrics = {"accuracy"}, verbose = 0, resume = opts.resume,
                                        callbacks = callbacks})
  return ok, history, model
end

local KEYS = {"loss", "loss_1", "loss_2", "accuracy_1", "val_loss", "val_loss_1", "val_loss_2", "val_accuracy_1"}
local function same_curves(a, b, what) interrupting.same_curves(a, b, KEYS, what) end
local inputs = {moons:inputs(), extra}
local function same_weights(a, b, what)
  local pa, pb = a:forward(inputs), b:forward(inputs)
  assert(pa[1]:equal(pb[1]) and pa[2]:equal(pb[2]), what .. ": the final weights are identical")
end

local ok, full, full_model = fit{}
assert(ok, full)
assert(full.loss_2[5] < full.loss_2[1] and full.loss_1[5] < full.loss_1[1], "both losses fall")

-- Interrupted inside epoch 3 (after batch 3, and after its last batch).
for _, stop_step in ipairs{17, 21} do
  os.remove("multi_interrupted.nrt")
  local stopped, err = fit{stop_step = stop_step,
                           callbacks = {train.checkpoint{path = "multi_interrupted.nrt", monitor = "loss"}}}
  assert(not stopped and tostring(err):find("interrupted in epoch 3 at step " .. stop_step, 1, true), tostring(err))
  local resumed_ok, resumed, model = fit{resume = "multi_interrupted.nrt"}
  assert(resumed_ok, resumed)
  same_curves(resumed, full, "stopped at step " .. stop_step)
  same_weights(model, full_model, "stopped at step " .. stop_step)
end

-- From an epoch's end: three epochs, a new process's worth of state, two more.
os.remove("multi_epoch.nrt")
assert(fit{epochs = 3, callbacks = {train.checkpoint{path = "multi_epoch.nrt", monitor = "val_loss_2"}}})
local resumed_ok, resumed, model = fit{resume = "multi_epoch.nrt",
                                      callbacks = {train.checkpoint{path = "multi_epoch.nrt", monitor = "val_loss_2"}}}
assert(resumed_ok, resumed)
same_curves(resumed, full, "resumed at epoch 4")
same_weights(model, full_model, "resumed at epoch 4")

-- save and load: a fresh model of the same graph computes the same outputs.
full_model:save("multi_model.nrt")
local loaded = two_headed()
loaded:load("multi_model.nrt")
same_weights(loaded, full_model, "after m:load")

-- The sums of an interrupted epoch belong to its outputs: a run with
-- another number of losses cannot continue them.
local wrong_ok, err = fit{resume = "multi_interrupted.nrt", losses = {nn.CrossEntropyLoss()},
                          data = {x = {moons, extra}, y = moons}}
assert(not wrong_ok and tostring(err):find("was interrupted in a run with 2 outputs; this run has 1", 1, true),
       tostring(err))
print("multi io resume ok")
