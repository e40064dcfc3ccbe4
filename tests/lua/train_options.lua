-- Every train.* function that takes a table of options rejects a key it
-- does not know, with a suggestion, at the script's line; unknown metrics
-- and modes too. A misspelt monitor names the keys the epoch logs have.
-- The error must name the line of the failing call: the line of fails(...)
-- itself, or with `next_line` the one below it.
local function check_error(line, fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  err = tostring(err)
  assert(err:find("train_options.lua:" .. line .. ": ", 1, true), "at the script's line " .. line .. ": " .. err)
  for _, text in ipairs{...} do
    assert(err:find(text, 1, true), "expected '" .. text .. "' in: " .. err)
  end
  return err
end
local function fails(fn, ...) return check_error(debug.getinfo(2, "l").currentline, fn, ...) end
local function fails_next(fn, ...) return check_error(debug.getinfo(2, "l").currentline + 1, fn, ...) end

tensor.seed(1)
local x = tensor.randn{12, 2}
local xy = {x = x, y = x:sum(2):gt(0):reshape{12} + 1}
local model = nn.Sequential{nn.Dense(2, 2)}
local function fit_opts(extra)
  local o = {model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.1}),
             data = xy, epochs = 2, batch_size = 4, verbose = 0}
  for k, v in pairs(extra) do o[k] = v end
  return o
end

fails(function() train.fit(fit_opts{epoch = 3}) end, "train.fit: unknown option 'epoch' (did you mean 'epochs'?)")
fails(function() train.fit(fit_opts{batchsize = 3}) end, "(did you mean 'batch_size'?)")
local err = fails(function() train.fit(fit_opts{colour = "red"}) end, "train.fit: unknown option 'colour' (options: ")
assert(err:find("epochs", 1, true) and err:find("validation", 1, true), "lists what it takes: " .. err)
fails(function() train.fit(fit_opts{metrics = {"f2"}}) end, "train.fit: unknown metric 'f2' (did you mean 'f1'?)")
fails(function() train.fit(fit_opts{metrics = {"acuracy"}}) end, "unknown metric 'acuracy' (did you mean 'accuracy'?)")
fails(function() train.fit(5) end, "train.fit: expects a table of options, got a number")
fails(function() train.fit{model, xy} end, "train.fit: options are given by name")
fails(function() train.evaluate{model = model, data = xy, batchsize = 4} end,
      "train.evaluate: unknown option 'batchsize' (did you mean 'batch_size'?)")
fails(function() train.evaluate{model = model, data = xy, metrics = {"recal"}} end,
      "train.evaluate: unknown metric 'recal' (did you mean 'recall'?)")
fails(function() train.confusion{model = model, data = xy, clases = 2} end,
      "train.confusion: unknown option 'clases' (did you mean 'classes'?)")
fails(function() train.checkpoint{path = "x.nrt", bestonly = true} end,
      "train.checkpoint: unknown option 'bestonly' (did you mean 'best_only'?)")
fails(function() train.checkpoint{path = "x.nrt", mode = "maximum"} end,
      "train.checkpoint: unknown mode 'maximum' (modes: min, max)")
fails(function() train.checkpoint{} end, "train.checkpoint: 'path' is required")
fails(function() train.early_stopping{patiance = 3} end,
      "train.early_stopping: unknown option 'patiance' (did you mean 'patience'?)")
fails(function() train.lr_schedule{kind = "step", stepsize = 2} end,
      "train.lr_schedule: unknown option 'stepsize' (did you mean 'step_size'?)")
fails(function() train.lr_schedule{kind = "cosin"} end, "train.lr_schedule: unknown kind 'cosin' (did you mean 'cosine'?)")
fails(function() train.gradient_check{model = model, loss = nn.CrossEntropyLoss(), data = xy, epsilo = 1e-3} end,
      "train.gradient_check: unknown option 'epsilo' (did you mean 'epsilon'?)")
fails(function() train.curvature{model = model, loss = nn.MSELoss(), data = xy, iteration = 3} end,
      "train.curvature: unknown option 'iteration' (did you mean 'iterations'?)")
fails(function() train.early_stopping(7) end, "train.early_stopping: expects a table of options, got a number")

fails(function() train.fit(fit_opts{data = 5}) end, "train: data must be {x = tensor, y = tensor} or a dataset, got a number")
fails(function() train.fit(fit_opts{validation = {x = x}}) end, "train: validation must be {x = tensor, y = tensor}")

-- A misspelt monitor: the logs have a val_loss (a validation set was given),
-- so the message lists the keys instead of asking for a validation set.
err = fails_next(function()
  train.fit(fit_opts{validation = xy, callbacks = {train.early_stopping{monitor = "val_los"}}})
end, "train.early_stopping: no 'val_los' in the epoch logs (did you mean 'val_loss'?", "val_loss", "loss")
assert(not err:find("validation set", 1, true), "a validation set was given: " .. err)
fails_next(function()
  train.fit(fit_opts{callbacks = {train.early_stopping{monitor = "val_loss"}}})
end, "train.early_stopping: no 'val_loss' in the epoch logs", "give train.fit a validation set")
-- A best_only checkpoint watching a key the logs lack would never save.
fails_next(function()
  train.fit(fit_opts{callbacks = {train.checkpoint{path = "never.nrt", monitor = "acc", best_only = true}}})
end, "train.checkpoint: no 'acc' in the epoch logs", "loss")

-- The shared check, for a user's own functions: level 2 names their caller.
local neurite = require "neurite"
local function my_step(opts)
  neurite.check_options(opts, "my_step", {"rate", "steps"})
end
fails(function() my_step{rate = 1, step = 2} end, "my_step: unknown option 'step' (did you mean 'steps'?)")
my_step{rate = 1, steps = 2}
fails(function() neurite.check_choice("fast", "my_step", "speed", {"slow", "fest"}, 1) end,
      "my_step: unknown speed 'fast' (did you mean 'fest'?)")

-- The right options still work.
local history = train.fit(fit_opts{metrics = {"accuracy"}, shuffle = false})
assert(#history.loss == 2 and #history.accuracy == 2)
print("train options ok")
