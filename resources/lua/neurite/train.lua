-- neurite/train.lua: train.fit, train.evaluate, train.predict and the
-- callbacks (early stopping, checkpoints, learning-rate schedules).
-- train.gradient_check and train.curvature are in diagnostics.lua.
--
-- This is the training loop that `train.fit` runs, shipped readable so you
-- can copy it into an experiment and change it. It uses nothing but the
-- public Lua API: tensor, nn, optim, monitor and data sources.
--
-- A data source is either {x = tensor, y = tensor} (rows are samples) or a
-- dataset with a `batches{size=, shuffle=, drop_last=}` method and `#ds`.
-- Class targets are 1-based, as argmax returns them.
--
-- Callbacks are tables with any of on_train_begin, on_epoch_begin,
-- on_batch_end, on_epoch_end, after_epoch_end (once every callback's
-- on_epoch_end has run: where checkpoints are written), on_train_end and
-- on_interrupt; each receives (logs, fit), where fit holds model, optimizer,
-- epoch, step, history, a `stop` flag a callback may set to end training,
-- and an `interrupted` flag: set, training stops at once as on Ctrl-C (the
-- on_interrupt callbacks run, then train.fit raises "interrupted").
-- Optional state()/load_state(s) methods let a checkpoint carry a
-- callback's own position (schedules, patience); a state holds numbers,
-- strings, booleans, tables and tensors.
--
-- Every function here that takes a table of options rejects a key it does
-- not know (neurite.check_options), so a typo is an error, not a default.

local neurite = ...
local tensor, monitor, json = neurite.tensor, neurite.monitor, neurite.json
local check_options, check_choice, closest_name = neurite.check_options, neurite.check_choice, neurite.closest_name

local train = {}

-- ---------------------------------------------------------------- helpers

local function check(opts, key, what, fn)
  local v = opts[key]
  if v == nil then error((fn or "train.fit") .. ": '" .. key .. "' is required (" .. what .. ")", 3) end
  return v
end

local METRICS = {"accuracy"}

-- Checks a list of metric names; `level` as error()'s, from the caller.
local function check_metrics(metrics, fn, level)
  for _, name in ipairs(metrics or {}) do check_choice(name, fn, "metric", METRICS, level + 1) end
  return metrics
end

-- The value a callback watches in the epoch logs. A missing key is a
-- mistake (a typo, or no validation set): the message lists the keys the
-- logs do have, and names the line that called train.fit (level 5 from
-- here: this, the callback, call(), train.fit, the script).
local function monitored(logs, key, fn)
  local value = logs[key]
  if value ~= nil then return value end
  local keys = {}
  for k in pairs(logs) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local near = closest_name(key, keys)
  local hint = key:find("^val_") and logs.val_loss == nil and "; give train.fit a validation set" or ""
  error(string.format("%s: no '%s' in the epoch logs (%sthey have: %s%s)", fn, key,
                      near and "did you mean '" .. near .. "'? " or "", table.concat(keys, ", "), hint), 5)
end

-- Number of correct predictions: argmax against class indices or one-hot
-- rows, or a 0.5 threshold for a single output.
function train.correct(pred, y)
  local n = pred:size(1)
  if pred:dim() == 2 and pred:size(2) > 1 then
    if y:dim() == 2 and y:size(2) == pred:size(2) then
      return pred:argmax(2):eq(y:argmax(2)):sum()
    end
    return pred:argmax(2):eq(y:reshape{n}):sum()
  end
  return pred:gt(0.5):eq(y:reshape(pred:shape())):sum()
end

local function wants(metrics, name)
  for _, m in ipairs(metrics or {}) do
    if m == name then return true end
  end
  return false
end

-- Raises unless `source` is {x = tensor, y = tensor} with as many rows in
-- each (returns false) or a dataset (returns true); `level` as error()'s.
local function check_source(source, what, level)
  level = level + 1
  if type(source) == "userdata" or (type(source) == "table" and source.batches) then return true end
  if type(source) ~= "table" then
    error("train: " .. what .. " must be {x = tensor, y = tensor} or a dataset, got a " .. type(source), level)
  end
  local x, y = source.x or source[1], source.y or source[2]
  if not tensor.is_tensor(x) or not tensor.is_tensor(y) then
    error("train: " .. what .. " must be {x = tensor, y = tensor} or a dataset", level)
  end
  if #y ~= #x then
    error(string.format("train: %s.x has %d rows but %s.y has %d", what, #x, what, #y), level)
  end
  return false
end

-- An iterator over (x, y) batches and the number of samples in the source.
-- skip = k leaves out the first k batches of the order drawn (a resumed
-- run continuing inside an epoch), without gathering them.
function train.batches(source, size, shuffle, drop_last, skip)
  if check_source(source, "data", 3) then
    return source:batches{size = size, shuffle = shuffle, drop_last = drop_last, skip = skip}, #source
  end
  local x, y = source.x or source[1], source.y or source[2]
  local n = #x
  size = math.min(size or n, n)
  local order = shuffle and size < n and tensor.randperm(n) or nil
  local i = 1 + (skip or 0) * size
  return function()
    if i > n then return nil end
    local count = math.min(size, n - i + 1)
    if drop_last and count < size then return nil end
    local xb, yb
    if order then
      local idx = order:narrow(1, i, count)
      xb, yb = x:index(1, idx), y:index(1, idx)
    else
      xb, yb = x:narrow(1, i, count), y:narrow(1, i, count)
    end
    i = i + count
    return xb, yb
  end, n
end

local function call(callbacks, event, logs, fit)
  for _, cb in ipairs(callbacks) do
    local fn = cb[event]
    if fn then fn(cb, logs, fit) end
  end
end

-- ---------------------------------------------------------------- evaluate / predict

function train.evaluate(opts)
  check_options(opts, "train.evaluate", {"model", "data", "loss", "metrics", "batch_size"})
  local model = check(opts, "model", "the model to evaluate", "train.evaluate")
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset", "train.evaluate")
  local loss, metrics = opts.loss, check_metrics(opts.metrics, "train.evaluate", 2)
  if metrics == nil then
    -- Accuracy by default for class data only; it means nothing for regression.
    local classes = (type(data) == "userdata" and data.kind == "classes") or
                    (type(data) == "table" and tensor.is_tensor(data.y or data[2]) and (data.y or data[2]):dim() == 1)
    metrics = classes and {"accuracy"} or {}
  end
  local was_training = model:is_training()
  model:eval()
  local total_loss, correct, seen = 0, 0, 0
  local next_batch = train.batches(data, opts.batch_size or 1000, false, false)
  for x, y in next_batch do
    local pred = model:forward(x)
    local n = #x
    if loss then total_loss = total_loss + loss:forward(pred, y) * n end
    if wants(metrics, "accuracy") then correct = correct + train.correct(pred, y) end
    seen = seen + n
  end
  model:train(was_training)
  local result = {samples = seen}
  if loss then result.loss = total_loss / math.max(seen, 1) end
  if wants(metrics, "accuracy") then result.accuracy = correct / math.max(seen, 1) end
  return result
end

-- Which classes a classifier mixes up: counts of (true class, predicted
-- class) over the data, rows the truth, both 1-based.
--   train.confusion{model =, data =, classes = (the model's outputs), batch_size = 1000}
--   returns {matrix = tensor{k, k}, accuracy =, recall = {...}, precision = {...}, samples =}
function train.confusion(opts)
  local fn = "train.confusion"
  check_options(opts, fn, {"model", "data", "classes", "batch_size"})
  local model = check(opts, "model", "the classifier", fn)
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset of classes", fn)
  local k, counts, seen = opts.classes, {}, 0
  local was_training = model:is_training()
  model:eval()
  local ok, err = pcall(function()
    for x, y in train.batches(data, opts.batch_size or 1000, false, false) do
      local pred = model:forward(x)
      if pred:dim() ~= 2 or pred:size(2) < 2 then
        error(string.format("%s: the model must give one score per class, got outputs of shape [%s]", fn,
                            table.concat(pred:shape(), ", ")), 0)
      end
      k = k or pred:size(2)
      if k < pred:size(2) then
        error(string.format("%s: classes = %d, but the model gives %d scores a sample", fn, k, pred:size(2)), 0)
      end
      local n = #x
      local guess = pred:argmax(2)
      local truth = (y:dim() == 2 and y:size(2) == pred:size(2)) and y:argmax(2) or y:reshape{n}
      for i = 1, n do
        local t, g = math.tointeger(truth:get(i)), math.tointeger(guess:get(i))
        if not t or t < 1 or t > k then
          error(string.format("%s: sample %d has class %s, outside 1..%d", fn, seen + i, tostring(truth:get(i)), k), 0)
        end
        local key = (t - 1) * k + g
        counts[key] = (counts[key] or 0) + 1
      end
      seen = seen + n
    end
  end)
  model:train(was_training)
  if not ok then error(err, 2) end
  k = k or 0
  local matrix = tensor.zeros{math.max(k, 1), math.max(k, 1)}
  local correct, rows, cols = 0, {}, {}
  for t = 1, k do
    for g = 1, k do
      local c = counts[(t - 1) * k + g] or 0
      if c > 0 then matrix:set(t, g, c) end
      rows[t], cols[g] = (rows[t] or 0) + c, (cols[g] or 0) + c
      if t == g then correct = correct + c end
    end
  end
  local recall, precision = {}, {}
  for c = 1, k do
    recall[c] = rows[c] > 0 and (counts[(c - 1) * k + c] or 0) / rows[c] or nil
    precision[c] = cols[c] > 0 and (counts[(c - 1) * k + c] or 0) / cols[c] or nil
  end
  return {matrix = matrix, accuracy = seen > 0 and correct / seen or nil, recall = recall, precision = precision,
          samples = seen, classes = k}
end

-- The confusion matrix as aligned text, with class names when given.
function train.confusion_text(result, names)
  local k, m = result.classes, result.matrix
  local label = function(c) return names and names[c] and tostring(names[c]) or tostring(c) end
  local width = 6
  for c = 1, k do width = math.max(width, #label(c)) end
  local lines = {string.format("%" .. width .. "s  predicted ->", "true")}
  for t = 1, k do
    local cells = {}
    for g = 1, k do cells[g] = string.format("%6d", math.tointeger(m:get(t, g)) or 0) end
    lines[#lines + 1] = string.format("%" .. width .. "s %s  recall %s", label(t), table.concat(cells),
                                      result.recall[t] and string.format("%.3f", result.recall[t]) or "-")
  end
  return table.concat(lines, "\n")
end

function train.predict(model, x)
  local was_training = model:is_training()
  model:eval()
  local out = model:forward(x)
  model:train(was_training)
  return out
end

-- ---------------------------------------------------------------- fit

local function improved(mode, value, best, min_delta)
  if best == nil then return true end
  if mode == "max" then return value > best + min_delta end
  return value < best - min_delta
end

local function mode_of(name)
  return (name:find("accuracy") and "max") or "min"
end

local MODES = {"min", "max"}

-- The monitor and mode options of a callback; errors at the script's line.
local function monitor_and_mode(opts, fn)
  local name = opts.monitor or "val_loss"
  if type(name) ~= "string" then
    error(string.format("%s: monitor must name an entry of the epoch logs, such as \"val_loss\", got a %s",
                        fn, type(name)), 3)
  end
  return name, check_choice(opts.mode or mode_of(name), fn, "mode", MODES, 3)
end

local FIT_OPTIONS = {"model", "loss", "optimizer", "data", "validation", "epochs", "batch_size", "shuffle",
                     "drop_last", "metrics", "callbacks", "verbose", "name", "resume", "on_epoch",
                     "eval_batch_size"}

-- One epoch of training; fills logs.loss, accuracy, lr and samples_per_s.
-- Afterwards fit.position says where the epoch got to, for a checkpoint
-- an interrupt writes: the generator state the shuffle was drawn from, the
-- batches done, the running sums. Given such a position (`resumed`), the
-- same shuffle is drawn again, the batches done are skipped without being
-- gathered, the generator goes back to where the interrupt left it, and
-- the sums go on: the epoch ends as if it had never been interrupted.
local function train_epoch(fit, logs, resumed)
  local model, optimizer, loss = fit.model, fit.optimizer, fit.loss
  local from = resumed or {batches = 0, seen = 0, sum_loss = 0, correct = 0, seconds = 0}
  if resumed then tensor.set_rng_state(resumed.shuffle_rng) end
  local shuffle_rng = tensor.rng_state()
  local next_batch, total = train.batches(fit.data, fit.batch_size, fit.shuffle, fit.drop_last, from.batches)
  if resumed then tensor.set_rng_state(resumed.rng) end
  local accuracy = wants(fit.metrics, "accuracy")
  local batches, seen, sum_loss, correct = from.batches, from.seen, from.sum_loss, from.correct
  local started = monitor.elapsed()
  for x, y in next_batch do
    optimizer:zero_grad()
    local pred = model:forward(x)
    local value = loss:forward(pred, y)
    model:backward(x, loss:backward(pred, y), false)
    optimizer:step()
    local n = #x
    fit.step = monitor.step()
    batches, seen, sum_loss = batches + 1, seen + n, sum_loss + value * n
    if accuracy then correct = correct + train.correct(pred, y) end
    monitor.log("batch_loss", value)
    monitor.progress(seen, total, string.format("epoch %d/%d", fit.epoch, fit.epochs))
    call(fit.callbacks, "on_batch_end", {loss = value, size = n, step = fit.step}, fit)
    if monitor.stop_requested() then fit.interrupted = true end
    if fit.stop or fit.interrupted then break end
  end
  local seconds = from.seconds + (monitor.elapsed() - started)
  fit.position = {epoch = fit.epoch, shuffle_rng = shuffle_rng, batches = batches, seen = seen,
                  sum_loss = sum_loss, correct = correct, seconds = seconds}
  logs.loss = sum_loss / math.max(seen, 1)
  if accuracy then logs.accuracy = correct / math.max(seen, 1) end
  logs.lr = optimizer.lr
  logs.samples_per_s = seen / math.max(seconds, 1e-9)
  return seconds
end

local function report(logs, fit, seconds)
  for _, key in ipairs{"loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"} do
    if logs[key] then
      monitor.log(key, logs[key])
      fit.history[key] = fit.history[key] or {}
      fit.history[key][#fit.history[key] + 1] = logs[key]
    end
  end
  if fit.verbose >= 1 then
    local line = string.format("epoch %d/%d  loss %.4f", fit.epoch, fit.epochs, logs.loss)
    if logs.accuracy then line = line .. string.format("  accuracy %.4f", logs.accuracy) end
    if logs.val_loss then line = line .. string.format("  val_loss %.4f", logs.val_loss) end
    if logs.val_accuracy then line = line .. string.format("  val_accuracy %.4f", logs.val_accuracy) end
    line = line .. string.format("  %.0f samples/s  %.1fs", logs.samples_per_s, seconds)
    monitor.text(line)
  end
end

-- train.fit{model=, loss=, optimizer=, data=, validation=, epochs=,
--           batch_size=, shuffle=, drop_last=, metrics=, callbacks=,
--           verbose=, name=, resume=, on_epoch=, eval_batch_size=} -> history
function train.fit(opts)
  check_options(opts, "train.fit", FIT_OPTIONS)
  local model = check(opts, "model", "an nn.Sequential")
  local loss = check(opts, "loss", "e.g. nn.CrossEntropyLoss()")
  local optimizer = check(opts, "optimizer", "e.g. optim.SGD(model:parameters(), {lr = 0.1})")
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset")
  check_source(data, "data", 2)
  if opts.validation ~= nil then check_source(opts.validation, "validation", 2) end
  local metrics = check_metrics(opts.metrics or {}, "train.fit", 2)
  local callbacks = {}
  for _, cb in ipairs(opts.callbacks or {}) do callbacks[#callbacks + 1] = cb end
  if opts.on_epoch then
    local fn = opts.on_epoch
    callbacks[#callbacks + 1] = {on_epoch_end = function(_, logs, fit)
      if fn(fit.epoch, logs, fit) == false then fit.stop = true end
    end}
  end

  local history = {loss = {}, val_loss = {}, accuracy = {}, val_accuracy = {}, lr = {}}
  local fit = {model = model, optimizer = optimizer, loss = loss, epoch = 0, step = 0,
               epochs = opts.epochs or 10, history = history, stop = false, interrupted = false,
               callbacks = callbacks, data = data, batch_size = opts.batch_size or 32,
               shuffle = opts.shuffle ~= false, drop_last = opts.drop_last, metrics = metrics,
               verbose = opts.verbose == nil and 1 or opts.verbose}
  local start_epoch, resumed = 1, nil
  if opts.resume then start_epoch, resumed = train.resume(fit, opts.resume, callbacks) end

  local run <close> = opts.name and monitor.run(opts.name) or nil
  -- Stop requests (Ctrl-C, the GUI's Stop) are handled at step boundaries
  -- in train_epoch, so the callbacks can still write their checkpoint.
  local guard <close> = monitor.cooperative()
  monitor.step(fit.step)
  monitor.watch(model, data, opts.validation) -- says which model trains on what (the window draws it)
  call(callbacks, "on_train_begin", {}, fit)

  for epoch = start_epoch, fit.epochs do
    fit.epoch = epoch
    monitor.epoch(epoch)
    local logs = {epoch = epoch}
    call(callbacks, "on_epoch_begin", logs, fit)
    model:train()
    local seconds = train_epoch(fit, logs, resumed)
    resumed = nil
    if fit.interrupted then
      call(callbacks, "on_interrupt", logs, fit)
      error(string.format("train.fit: interrupted in epoch %d at step %d", epoch, fit.step), 2)
    end
    if opts.validation then
      local v = train.evaluate{model = model, data = opts.validation, loss = loss,
                               metrics = metrics, batch_size = opts.eval_batch_size}
      logs.val_loss, logs.val_accuracy = v.loss, v.accuracy
    end
    report(logs, fit, seconds)
    call(callbacks, "on_epoch_end", logs, fit)
    call(callbacks, "after_epoch_end", logs, fit)
    if fit.stop then break end
  end
  call(callbacks, "on_train_end", {epoch = fit.epoch}, fit)
  return history, fit
end

-- ---------------------------------------------------------------- checkpoints

-- Writes what train.fit{resume = path} needs: the model, the optimizer's
-- state, and the metadata as JSON (read back as data, never run), with the
-- tensors of callback states in a section of their own. `position` is the
-- place inside an epoch an interrupt stopped at (nil at an epoch's end).
local function save_checkpoint(path, fit, position)
  local states = {}
  for i, cb in ipairs(fit.callbacks or {}) do
    if cb.state then states[i] = cb:state() end
  end
  local meta = {epoch = position and position.epoch - 1 or fit.epoch, step = fit.step, history = fit.history,
                rng = tensor.rng_state(), lr = fit.optimizer.lr, callbacks = states, position = position}
  local text, tensors = json.encode(meta)
  fit.model:save(path, {optimizer = fit.optimizer, ["meta.json"] = text, ["meta.tensors"] = tensors})
end

local function describe(v)
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

-- The metadata of a checkpoint, checked field by field: a damaged or
-- crafted file gives an error that names it, never a crash or a wrong
-- resume. Errors name the line that called train.fit: fail, read_meta (or
-- expect, then read_meta), train.resume, train.fit, the script.
local function read_meta(extras, path)
  local function fail(why, depth)
    error(string.format("train.fit: checkpoint '%s': %s", path, why), 5 + (depth or 0))
  end
  if extras["meta.json"] == nil then
    if extras.meta ~= nil then
      fail("it was written by an older Neurite, whose metadata is a Lua expression; such metadata is " ..
           "no longer run, since a crafted one could run code. Its weights still load with m:load(path), " ..
           "but train.fit cannot resume from it")
    end
    return {epoch = 0} -- saved by m:save alone: the weights, nothing to continue
  end
  local ok, meta = pcall(json.decode, extras["meta.json"], extras["meta.tensors"])
  if not ok then fail("the metadata is damaged: " .. tostring(meta)) end
  local function expect(t, key, kind, optional)
    local v = t[key]
    local fine = (optional and v == nil) or (kind == "whole number" and math.type(v) == "integer" and v >= 0) or
                 (kind == "number" and type(v) == "number") or (kind == type(v))
    if not fine then fail(string.format("'%s' must be a %s, got %s", key, kind, describe(v)), 1) end
  end
  expect(meta, "epoch", "whole number")
  for _, f in ipairs{{"step", "whole number"}, {"lr", "number"}, {"rng", "string"}, {"history", "table"},
                     {"callbacks", "table"}, {"position", "table"}} do
    expect(meta, f[1], f[2], true)
  end
  for key in pairs(meta.history or {}) do expect(meta.history, key, "table") end
  local p = meta.position
  if p then
    for _, key in ipairs{"epoch", "batches", "seen"} do expect(p, key, "whole number") end
    for _, key in ipairs{"sum_loss", "correct", "seconds"} do expect(p, key, "number") end
    expect(p, "shuffle_rng", "string")
    expect(meta, "rng", "string")
    if p.epoch ~= meta.epoch + 1 then fail("the position is in epoch " .. p.epoch .. " after epoch " .. meta.epoch) end
    p.rng = meta.rng
  end
  return meta
end

-- Restores model, optimizer, history, RNG and callback state from a
-- checkpoint written by train.checkpoint; returns the epoch to start at,
-- and the position inside it when an interrupt wrote the checkpoint.
-- A path with no file yet starts afresh (so a script can always pass it).
function train.resume(fit, path, callbacks)
  local ok, extras = pcall(fit.model.load, fit.model, path)
  if not ok then
    if tostring(extras):find("cannot open checkpoint", 1, true) then return 1 end
    error(extras, 3)
  end
  local meta = read_meta(extras, path)
  if extras.optimizer then fit.optimizer:load_state(extras.optimizer) end
  if meta.history then
    for k, v in pairs(meta.history) do fit.history[k] = v end
  end
  if meta.rng then tensor.set_rng_state(meta.rng) end
  if meta.lr then fit.optimizer.lr = meta.lr end
  fit.step = meta.step or 0
  for i, cb in ipairs(callbacks) do
    if cb.load_state and meta.callbacks and meta.callbacks[i] ~= nil then
      cb:load_state(meta.callbacks[i])
    end
  end
  return meta.epoch + 1, meta.position
end

-- ---------------------------------------------------------------- callbacks

-- "best.nrt" -> "best.interrupted.nrt"
local function interrupted_name(path)
  local stem = path:match("^(.*)%.nrt$")
  return stem and stem .. ".interrupted.nrt" or path .. ".interrupted"
end

-- train.checkpoint{path =, monitor = "val_loss", mode = (from monitor),
--                  best_only = false, interrupt_path = (see below)}
-- Saves model, optimizer state, epoch, history, RNG and callback state, so
-- that train.fit{resume = path} continues the curves exactly. Written
-- atomically after each epoch, once every callback's on_epoch_end has run
-- (so early stopping's and the schedules' states are this epoch's); with
-- best_only, only when the monitored value improved.
-- On an interrupt (Ctrl-C, the window's Stop) the checkpoint records the
-- position inside the epoch, and a resumed run continues exactly there.
-- A plain checkpoint writes it to `path`: its file is the run's latest
-- state. A best_only checkpoint never replaces its best weights with
-- unfinished ones: it writes the interrupted state beside them, to
-- interrupt_path, by default <path>.interrupted.nrt (best.nrt ->
-- best.interrupted.nrt); interrupt_path = false writes nothing.
function train.checkpoint(opts)
  local fn = "train.checkpoint"
  check_options(opts, fn, {"path", "monitor", "mode", "best_only", "interrupt_path"})
  local cb = {path = check(opts, "path", "where to write the checkpoint", fn), best_only = opts.best_only or false}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  cb.interrupt_path = opts.interrupt_path
  if cb.interrupt_path == nil then cb.interrupt_path = cb.best_only and interrupted_name(cb.path) or cb.path end
  -- Decides at the epoch's end, writes once every callback has updated its state.
  function cb:on_epoch_end(logs)
    self.due = true
    if self.best_only then
      local value = monitored(logs, self.monitor, fn)
      self.due = improved(self.mode, value, self.best, 0)
      if self.due then self.best = value end
    end
  end
  function cb:after_epoch_end(_, fit)
    if self.due then save_checkpoint(self.path, fit) end
    self.due = false
  end
  function cb:on_interrupt(_, fit)
    if not self.interrupt_path then return end
    save_checkpoint(self.interrupt_path, fit, fit.position)
    if self.interrupt_path ~= self.path then
      monitor.text(string.format("%s: interrupted; %s keeps the best epoch, the run's state went to %s " ..
                                 "(train.fit{resume = ...} continues from it)", fn, self.path, self.interrupt_path))
    end
  end
  function cb:state() return {best = self.best} end
  function cb:load_state(s) self.best = s.best end
  return cb
end

-- Stops when the monitored value stops improving for `patience` epochs, or
-- as soon as it reaches `target` (the seeds' "until the error is small
-- enough, or after the maximum number of iterations"). With restore_best,
-- the best epoch's weights are put back at the end; they are part of the
-- callback's state, so a checkpoint keeps them for a resumed run.
function train.early_stopping(opts)
  local fn = "train.early_stopping"
  if opts == nil then opts = {} end
  check_options(opts, fn, {"monitor", "patience", "min_delta", "target", "restore_best", "mode"})
  local cb = {patience = opts.patience or 5, min_delta = opts.min_delta or 0, target = opts.target,
              restore_best = opts.restore_best or false, wait = 0}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  function cb:on_epoch_end(logs, fit)
    local value = monitored(logs, self.monitor, fn)
    if improved(self.mode, value, self.best, self.min_delta) then
      self.best, self.wait, self.best_epoch = value, 0, fit.epoch
      if self.restore_best then
        self.saved = {}
        for i, p in ipairs(fit.model:parameters()) do self.saved[i] = p:clone() end
      end
    else
      self.wait = self.wait + 1
    end
    local reached = self.target and ((self.mode == "min" and value <= self.target) or
                                     (self.mode == "max" and value >= self.target))
    if reached or self.wait >= self.patience then
      fit.stop = true
      self.stopped_epoch = fit.epoch
    end
  end
  function cb:on_train_end(_, fit)
    if self.restore_best and self.saved then
      for i, p in ipairs(fit.model:parameters()) do p:copy(self.saved[i]) end
    end
  end
  function cb:state()
    return {best = self.best, wait = self.wait, best_epoch = self.best_epoch, weights = self.saved}
  end
  function cb:load_state(s)
    self.best, self.wait, self.best_epoch, self.saved = s.best, s.wait or 0, s.best_epoch, s.weights
  end
  return cb
end

-- kind = "step" {step_size, gamma}, "exponential" {gamma}, "cosine"
-- {t_max, eta_min}, or "plateau" {monitor, factor, patience, min_lr}.
function train.lr_schedule(opts)
  local fn = "train.lr_schedule"
  check_options(opts, fn, {"kind", "gamma", "step_size", "t_max", "eta_min", "monitor", "factor", "patience",
                           "min_lr"})
  local kind = check_choice(opts.kind or "step", fn, "kind", {"step", "exponential", "cosine", "plateau"})
  local cb = {kind = kind, gamma = opts.gamma or 0.1, step_size = opts.step_size or 10,
              t_max = opts.t_max, eta_min = opts.eta_min or 0, factor = opts.factor or 0.1,
              patience = opts.patience or 3, min_lr = opts.min_lr or 0, wait = 0}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  function cb:on_train_begin(_, fit)
    self.base = self.base or fit.optimizer.lr
    self.t_max = self.t_max or fit.epochs
  end
  function cb:on_epoch_begin(_, fit)
    local e = fit.epoch - 1 -- epochs completed
    local lr
    if self.kind == "step" then lr = self.base * self.gamma ^ (e // self.step_size)
    elseif self.kind == "exponential" then lr = self.base * self.gamma ^ e
    elseif self.kind == "cosine" then
      lr = self.eta_min + (self.base - self.eta_min) * (1 + math.cos(math.pi * math.min(e, self.t_max) / self.t_max)) / 2
    end
    if lr then fit.optimizer.lr = lr end
  end
  function cb:on_epoch_end(logs, fit)
    if self.kind ~= "plateau" then return end
    local value = monitored(logs, self.monitor, fn)
    if improved(self.mode, value, self.best, 0) then
      self.best, self.wait = value, 0
    else
      self.wait = self.wait + 1
      if self.wait >= self.patience then
        fit.optimizer.lr = math.max(fit.optimizer.lr * self.factor, self.min_lr)
        self.wait = 0
      end
    end
  end
  function cb:state() return {base = self.base, best = self.best, wait = self.wait} end
  function cb:load_state(s) self.base, self.best, self.wait = s.base, s.best, s.wait or 0 end
  return cb
end

function train.terminate_on_nan()
  return {on_batch_end = function(_, logs, fit)
    if logs.loss ~= logs.loss or logs.loss == math.huge or logs.loss == -math.huge then
      fit.stop = true
      monitor.text(string.format("train: the loss is %s at step %d; training stopped", tostring(logs.loss), fit.step))
    end
  end}
end

return train
