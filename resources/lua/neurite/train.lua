-- neurite/train.lua: train.fit, train.evaluate, train.predict and the
-- callbacks (early stopping, checkpoints, learning-rate schedules).
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
-- on_batch_end, on_epoch_end, on_train_end and on_interrupt; each receives
-- (logs, fit), where fit holds model, optimizer, epoch, step, history and
-- a `stop` flag a callback may set. Optional state()/load_state(s) methods
-- let a checkpoint carry a callback's own position (schedules, patience).

local neurite = ...
local tensor, monitor = neurite.tensor, neurite.monitor
-- Whether data holds class labels: the one rule (a dataset's kind, a table's
-- kind, else y's values), shared with the window.
local target_kind = neurite.data.target_kind

local train = {}

-- ---------------------------------------------------------------- helpers

local function check(opts, key, what, fn)
  local v = opts[key]
  if v == nil then error((fn or "train.fit") .. ": '" .. key .. "' is required (" .. what .. ")", 3) end
  return v
end

-- Serialises plain data (numbers, strings, booleans, tables) as a Lua
-- expression; load() reads it back in an empty environment.
local function serialize(v, out)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v then out[#out + 1] = "(0/0)"
    elseif v == math.huge then out[#out + 1] = "(1/0)"
    elseif v == -math.huge then out[#out + 1] = "(-1/0)"
    else out[#out + 1] = string.format("%.17g", v) end
  elseif t == "string" then out[#out + 1] = string.format("%q", v)
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    for k, item in pairs(v) do
      out[#out + 1] = "["
      serialize(k, out)
      out[#out + 1] = "]="
      serialize(item, out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("cannot save a " .. t .. " in a checkpoint", 0)
  end
  return out
end

function train.serialize(v) return table.concat(serialize(v, {})) end

function train.deserialize(s)
  local chunk, err = load("return " .. s, "=checkpoint meta", "t", {})
  if not chunk then error("the checkpoint's metadata is damaged: " .. err, 2) end
  return chunk()
end

-- Number of correct predictions: argmax against rows shaped as pred
-- (one-hot or soft labels) or against class indices (from 1), or a 0.5
-- threshold for a single output.
function train.correct(pred, y)
  local n = pred:size(1)
  if pred:dim() == 2 and pred:size(2) > 1 then
    if y:dim() == 2 and y:size(2) == pred:size(2) then
      return pred:argmax(2):eq(y:argmax(2)):sum()
    end
    local _, encoding = target_kind(y)
    if encoding ~= "index" then
      error(string.format("train.correct: y [%s] holds neither class indices from 1 nor rows shaped as the "
                          .. "prediction [%s]", table.concat(y:shape(), ", "), table.concat(pred:shape(), ", ")), 2)
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

-- An iterator over (x, y) batches and the number of samples in the source.
function train.batches(source, size, shuffle, drop_last)
  if type(source) ~= "table" and type(source) ~= "userdata" then
    error("train: data must be {x = tensor, y = tensor} or a dataset, got " .. type(source), 3)
  end
  if type(source) == "userdata" or source.batches then
    return source:batches{size = size, shuffle = shuffle, drop_last = drop_last}, #source
  end
  local x, y = source.x or source[1], source.y or source[2]
  if not tensor.is_tensor(x) or not tensor.is_tensor(y) then
    error("train: data must be {x = tensor, y = tensor} or a dataset", 3)
  end
  local n = #x
  if #y ~= n then
    error(string.format("train: data.x has %d rows but data.y has %d", n, #y), 3)
  end
  size = math.min(size or n, n)
  local order = shuffle and size < n and tensor.randperm(n) or nil
  local i = 1
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
  local model = check(opts, "model", "the model to evaluate", "train.evaluate")
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset", "train.evaluate")
  local loss, metrics = opts.loss, opts.metrics
  if metrics == nil then
    -- Accuracy by default for class data only; it means nothing for regression.
    metrics = target_kind(data) == "classes" and {"accuracy"} or {}
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
  if type(opts) ~= "table" then error(fn .. ": expects a table of options", 2) end
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

-- train.fit{model=, loss=, optimizer=, data=, validation=, epochs=,
--           batch_size=, shuffle=, metrics=, callbacks=, verbose=,
--           name=, resume=, on_epoch=} -> history
function train.fit(opts)
  local model = check(opts, "model", "an nn.Sequential")
  local loss = check(opts, "loss", "e.g. nn.CrossEntropyLoss()")
  local optimizer = check(opts, "optimizer", "e.g. optim.SGD(model:parameters(), {lr = 0.1})")
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset")
  local epochs = opts.epochs or 10
  local batch_size = opts.batch_size or 32
  local shuffle = opts.shuffle ~= false
  local metrics = opts.metrics or {}
  local verbose = opts.verbose == nil and 1 or opts.verbose
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
               epochs = epochs, history = history, stop = false, interrupted = false,
               callbacks = callbacks}
  local start_epoch = 1
  if opts.resume then start_epoch = train.resume(fit, opts.resume, callbacks) end

  local run <close> = opts.name and monitor.run(opts.name) or nil
  -- Stop requests (Ctrl-C, the GUI's Stop) are handled at step boundaries
  -- below, so the callbacks can still write their checkpoint.
  local guard <close> = monitor.cooperative()
  monitor.step(fit.step)
  call(callbacks, "on_train_begin", {}, fit)

  for epoch = start_epoch, epochs do
    fit.epoch = epoch
    monitor.epoch(epoch)
    local logs = {epoch = epoch}
    call(callbacks, "on_epoch_begin", logs, fit)
    model:train()
    local started = monitor.elapsed()
    local seen, sum_loss, correct = 0, 0, 0
    local next_batch, total = train.batches(data, batch_size, shuffle, opts.drop_last)
    for x, y in next_batch do
      optimizer:zero_grad()
      local pred = model:forward(x)
      local value = loss:forward(pred, y)
      model:backward(x, loss:backward(pred, y), false)
      optimizer:step()
      local n = #x
      fit.step = monitor.step()
      seen = seen + n
      sum_loss = sum_loss + value * n
      if wants(metrics, "accuracy") then correct = correct + train.correct(pred, y) end
      monitor.log("batch_loss", value)
      monitor.progress(seen, total, string.format("epoch %d/%d", epoch, epochs))
      local batch_logs = {loss = value, size = n, step = fit.step}
      call(callbacks, "on_batch_end", batch_logs, fit)
      if monitor.stop_requested() then fit.interrupted = true end
      if fit.stop or fit.interrupted then break end
    end
    local seconds = math.max(monitor.elapsed() - started, 1e-9)
    logs.loss = sum_loss / math.max(seen, 1)
    if wants(metrics, "accuracy") then logs.accuracy = correct / math.max(seen, 1) end
    logs.lr = optimizer.lr
    logs.samples_per_s = seen / seconds
    if fit.interrupted then
      call(callbacks, "on_interrupt", logs, fit)
      error(string.format("train.fit: interrupted in epoch %d at step %d", epoch, fit.step), 2)
    end
    if opts.validation then
      local v = train.evaluate{model = model, data = opts.validation, loss = loss,
                               metrics = metrics, batch_size = opts.eval_batch_size}
      logs.val_loss, logs.val_accuracy = v.loss, v.accuracy
    end
    for _, key in ipairs{"loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"} do
      if logs[key] then
        monitor.log(key, logs[key])
        history[key] = history[key] or {}
        history[key][#history[key] + 1] = logs[key]
      end
    end
    if verbose >= 1 then
      local line = string.format("epoch %d/%d  loss %.4f", epoch, epochs, logs.loss)
      if logs.accuracy then line = line .. string.format("  accuracy %.4f", logs.accuracy) end
      if logs.val_loss then line = line .. string.format("  val_loss %.4f", logs.val_loss) end
      if logs.val_accuracy then line = line .. string.format("  val_accuracy %.4f", logs.val_accuracy) end
      line = line .. string.format("  %.0f samples/s  %.1fs", logs.samples_per_s, seconds)
      monitor.text(line)
    end
    call(callbacks, "on_epoch_end", logs, fit)
    if fit.stop then break end
  end
  call(callbacks, "on_train_end", {epoch = fit.epoch}, fit)
  return history, fit
end

-- Restores model, optimizer, history, RNG and callback state from a
-- checkpoint written by train.checkpoint; returns the epoch to start at.
function train.resume(fit, path, callbacks)
  local ok, extras = pcall(fit.model.load, fit.model, path)
  if not ok then
    if tostring(extras):find("cannot open checkpoint", 1, true) then return 1 end
    error(extras, 0)
  end
  if extras.optimizer then fit.optimizer:load_state(extras.optimizer) end
  local meta = extras.meta and train.deserialize(extras.meta) or {}
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
  return (meta.epoch or 0) + 1
end

-- ---------------------------------------------------------------- callbacks

-- Saves model, optimizer state, epoch, history, RNG and callback state, so
-- that train.fit{resume = path} continues the curves exactly from an epoch
-- end. Written atomically; also written when the run is interrupted.
function train.checkpoint(opts)
  local cb = {path = check(opts, "path", "where to write the checkpoint"),
              monitor = opts.monitor or "val_loss", best_only = opts.best_only or false}
  cb.mode = opts.mode or mode_of(cb.monitor)
  local function save(fit, epoch_done)
    local states = {}
    for i, other in ipairs(fit.callbacks or {}) do
      if other.state then states[i] = other:state() end
    end
    local meta = {epoch = epoch_done, step = fit.step, history = fit.history,
                  rng = tensor.rng_state(), lr = fit.optimizer.lr, callbacks = states}
    fit.model:save(cb.path, {optimizer = fit.optimizer, meta = train.serialize(meta)})
  end
  function cb:on_epoch_end(logs, fit)
    local value = logs[self.monitor]
    if self.best_only then
      if value == nil or not improved(self.mode, value, self.best, 0) then return end
      self.best = value
    end
    save(fit, fit.epoch)
  end
  function cb:on_interrupt(_, fit) save(fit, fit.epoch - 1) end
  function cb:state() return {best = self.best} end
  function cb:load_state(s) self.best = s.best end
  return cb
end

-- Stops when the monitored value stops improving for `patience` epochs, or
-- as soon as it reaches `target` (the seeds' "until the error is small
-- enough, or after the maximum number of iterations").
function train.early_stopping(opts)
  opts = opts or {}
  local cb = {monitor = opts.monitor or "val_loss", patience = opts.patience or 5,
              min_delta = opts.min_delta or 0, target = opts.target,
              restore_best = opts.restore_best or false, wait = 0}
  cb.mode = opts.mode or mode_of(cb.monitor)
  function cb:on_epoch_end(logs, fit)
    local value = logs[self.monitor]
    if value == nil then
      error("train.early_stopping: no '" .. self.monitor .. "' in the epoch logs" ..
            (self.monitor:find("^val_") and " (give train.fit a validation set)" or ""), 0)
    end
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
  function cb:state() return {best = self.best, wait = self.wait, best_epoch = self.best_epoch} end
  function cb:load_state(s) self.best, self.wait, self.best_epoch = s.best, s.wait or 0, s.best_epoch end
  return cb
end

-- kind = "step" {step_size, gamma}, "exponential" {gamma}, "cosine"
-- {t_max, eta_min}, or "plateau" {monitor, factor, patience, min_lr}.
function train.lr_schedule(opts)
  local kind = opts.kind or "step"
  local cb = {kind = kind, gamma = opts.gamma or 0.1, step_size = opts.step_size or 10,
              t_max = opts.t_max, eta_min = opts.eta_min or 0,
              monitor = opts.monitor or "val_loss", factor = opts.factor or 0.1,
              patience = opts.patience or 3, min_lr = opts.min_lr or 0, wait = 0}
  if not ({step = 1, exponential = 1, cosine = 1, plateau = 1})[kind] then
    error("train.lr_schedule: kind must be step, exponential, cosine or plateau, got " .. tostring(kind), 2)
  end
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
    local value = logs[self.monitor]
    if value == nil then return end
    if improved(mode_of(self.monitor), value, self.best, 0) then
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

-- ---------------------------------------------------------------- gradients and curvature

-- The whole data set as one batch, and the full loss and its gradient as
-- functions of the model's current weights. `finish` puts back the weights
-- and the training mode, whatever happened in between.
-- Its errors name the script's line: the caller of train.<fn> is level 3
-- here, and level 4 inside need().
local function full_batch(fn, opts)
  local function need(key, what)
    if opts[key] == nil then error(fn .. ": '" .. key .. "' is required (" .. what .. ")", 4) end
    return opts[key]
  end
  local model = need("model", "the model whose loss is measured")
  local loss = need("loss", "the loss, e.g. nn.MSELoss()")
  local data = need("data", "{x = ..., y = ...} or a dataset")
  local epsilon = opts.epsilon or 1e-3
  if type(epsilon) ~= "number" or not (epsilon > 0) then
    error(fn .. ": epsilon must be a positive number, got " .. tostring(epsilon), 3)
  end
  local is_table = type(data) == "table" and not data.batches
  local next_batch, n = train.batches(data, is_table and math.huge or math.max(#data, 1), false, false)
  local x, y = next_batch()
  if not x then error(fn .. ": the data has no samples", 3) end
  local params = model:parameters()
  local saved = {}
  for i, p in ipairs(params) do saved[i] = p:clone() end
  local was_training = model:is_training()
  local f = {params = params, saved = saved, samples = n, epsilon = epsilon}
  function f.value() return loss:forward(model:forward(x), y) end
  function f.gradient()
    model:zero_grad()
    local pred = model:forward(x)
    loss:forward(pred, y)
    model:backward(x, loss:backward(pred, y), false)
    local g = {}
    for i, p in ipairs(params) do g[i] = p.grad:clone() end
    return g
  end
  -- Runs body() in eval mode, then restores; a failing forward (data that
  -- does not fit the model) must not leave the weights moved or the mode changed.
  function f.finish(body)
    model:eval() -- no dropout noise: the same weights give the same loss
    local ok, err = pcall(body)
    for i, p in ipairs(params) do p:copy(saved[i]) end
    model:train(was_training)
    if not ok then error(err, 0) end
  end
  return f
end

-- Backpropagation checked by numeric differentiation (seed 003): for up to
-- `elements` entries of every parameter tensor (spread evenly over it),
-- (L(w + e) - L(w - e)) / 2e against the gradient backward computed, with
-- the relative error |a - n| / max(0.01, |a| + |n|) of the plugin checks.
--   train.gradient_check{model =, loss =, data =, elements = 16, epsilon = 1e-3}
--   returns {max_relative_error =, max_absolute_error =, worst =, checked =}
function train.gradient_check(opts)
  local fn = "train.gradient_check"
  if type(opts) ~= "table" then error(fn .. ": expects a table of options", 2) end
  local elements = opts.elements or 16
  if type(elements) ~= "number" or elements < 1 or elements % 1 ~= 0 then
    error(fn .. ": elements must be a whole number of at least 1, got " .. tostring(elements), 2)
  end
  local f = full_batch(fn, opts)
  local result = {max_relative_error = 0, max_absolute_error = 0, checked = 0, worst = "nothing checked"}
  f.finish(function()
    local analytic = f.gradient()
    for i, p in ipairs(f.params) do
      local count = p:numel()
      local flat, grad = p:reshape{count}, analytic[i]:reshape{count}
      local k = math.min(count, elements)
      for j = 1, k do
        local index = math.floor((j - 1) * count / k) + 1
        local kept = flat:get(index)
        flat:set(index, kept + f.epsilon)
        local up = f.value()
        flat:set(index, kept - f.epsilon)
        local down = f.value()
        flat:set(index, kept)
        local numeric, a = (up - down) / (2 * f.epsilon), grad:get(index)
        local abs_error = math.abs(a - numeric)
        local rel = abs_error / math.max(1e-2, math.abs(a) + math.abs(numeric))
        if rel ~= rel then rel = math.huge end -- NaN: the worst there is
        result.checked = result.checked + 1
        result.max_absolute_error = math.max(result.max_absolute_error, abs_error)
        if rel > result.max_relative_error or result.worst == "nothing checked" then
          result.max_relative_error = rel
          result.worst = string.format("parameter %d (%s) element %d: backprop %.6g, numeric %.6g",
                                       i, p.name or "?", index, a, numeric)
        end
      end
    end
  end)
  return result
end

-- The largest eigenvalue of the loss's Hessian over the whole data set, by
-- power iteration. Each Hessian-vector product is a central difference of
-- two full-batch gradients, H v ~ (g(w + e v) - g(w - e v)) / 2e, so any
-- model whose backward pass is right can be measured, with no second
-- derivatives written anywhere. Near a minimum the loss is about quadratic,
-- and gradient descent then converges fastest at lr = 1 / lambda_max and
-- diverges above lr = 2 / lambda_max (seed 002: learning rate and the
-- Hessian).
--   train.curvature{model =, loss =, data =, iterations = 100, tolerance = 1e-4, epsilon = 1e-3}
--   returns {eigenvalue =, lr_optimal =, lr_max =, iterations =, samples =}
function train.curvature(opts)
  local fn = "train.curvature"
  if type(opts) ~= "table" then error(fn .. ": expects a table of options", 2) end
  local iterations, tolerance = opts.iterations or 100, opts.tolerance or 1e-4
  if type(iterations) ~= "number" or iterations < 1 or iterations % 1 ~= 0 then
    error(fn .. ": iterations must be a whole number of at least 1, got " .. tostring(iterations), 2)
  end
  local f = full_batch(fn, opts)
  local function dot(a, b)
    local s = 0
    for i = 1, #a do s = s + a[i]:dot(b[i]) end
    return s
  end
  local function scale(a, k)
    for i = 1, #a do a[i]:mul_(k) end
    return a
  end
  local params, saved, epsilon = f.params, f.saved, f.epsilon
  local v = {}
  for i, p in ipairs(params) do v[i] = tensor.randn(p:shape()) end
  scale(v, 1 / math.sqrt(dot(v, v)))
  local lambda, done = 0, 0
  f.finish(function()
    for it = 1, iterations do
      for i, p in ipairs(params) do p:copy(saved[i]):add_(v[i], epsilon) end
      local up = f.gradient()
      for i, p in ipairs(params) do p:copy(saved[i]):add_(v[i], -epsilon) end
      local down = f.gradient()
      local hv = {}
      for i = 1, #params do hv[i] = (up[i] - down[i]) / (2 * epsilon) end
      local previous = lambda
      lambda = dot(v, hv) -- the Rayleigh quotient of the unit vector v
      done = it
      local norm = math.sqrt(dot(hv, hv))
      if norm == 0 or norm ~= norm then break end
      v = scale(hv, 1 / norm)
      if it > 1 and math.abs(lambda - previous) <= tolerance * math.abs(lambda) then break end
    end
  end)
  return {eigenvalue = lambda, iterations = done, samples = f.samples,
          lr_optimal = lambda > 0 and 1 / lambda or nil, lr_max = lambda > 0 and 2 / lambda or nil}
end

return train
