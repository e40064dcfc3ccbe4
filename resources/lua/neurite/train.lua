-- neurite/train.lua: train.fit, train.evaluate and train.predict. The
-- callbacks (early stopping, checkpoints, learning-rate schedules) and
-- train.resume are in callbacks.lua; train.gradient_check, train.curvature
-- and train.confusion in diagnostics.lua.
--
-- This is the training loop that `train.fit` runs, shipped readable so you
-- can copy it into an experiment and change it. It uses nothing but the
-- public Lua API: tensor, nn, optim, monitor and data sources.
--
-- A data source is either {x = tensor, y = tensor} (rows are samples) or a
-- dataset with a `batches{size=, shuffle=, drop_last=}` method and `#ds`.
-- For a model with several inputs or outputs, x and y may be lists whose
-- parts are tensors or datasets: {x = {x1, x2}, y = {y1, y2}}.
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

local neurite, parallel = ... -- parallel.lua: data-parallel runs under mpirun
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local tensor, monitor = neurite.tensor, neurite.monitor
local shard_part = parallel.shard_part
local check_options = neurite.check_options
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

-- Checks a list of metrics (names, train.metric(...); metrics.lua); `level`
-- as error()'s, from the caller.
local function check_metrics(metrics, fn, level)
  for _, m in ipairs(metrics or {}) do train._check_metric(m, fn, level + 1) end
  return metrics
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

-- Whether a source with one target holds class labels (the one rule of
-- data.target_kind); a list of targets is judged output by output.
local function class_data(data)
  local y = type(data) == "table" and (data.y or data[2])
  if type(y) == "table" and not tensor.is_tensor(y) then return false end
  return target_kind(data) == "classes"
end

local function wants(metrics, name)
  for _, m in ipairs(metrics or {}) do
    if m == name then return true end
  end
  return false
end

local function describe(v)
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

-- Whether v has a method `name` (a model's forward, an optimizer's step),
-- without raising for objects whose __index refuses unknown names.
local function has_method(v, name)
  if type(v) ~= "userdata" and type(v) ~= "table" then return false end
  local ok, f = pcall(function() return v[name] end)
  return ok and type(f) == "function"
end

-- The options of train.fit that are not objects: numbers in their range,
-- booleans. Raised at the script's line (level 3: this, train.fit, script).
local function check_fit_values(opts, fn)
  local function whole(key, min)
    local v = opts[key]
    local ok = v == nil or (type(v) == "number" and v == math.floor(v) and v >= min and v < 2 ^ 53)
    if not ok then
      error(string.format("%s: %s must be a whole number >= %d, got %s", fn, key, min,
                          type(v) == "number" and tostring(v) or describe(v)), 4)
    end
  end
  whole("epochs", 0)
  whole("batch_size", 1)
  whole("eval_batch_size", 1)
  whole("verbose", 0)
  for _, key in ipairs{"shuffle", "drop_last"} do
    if opts[key] ~= nil and type(opts[key]) ~= "boolean" then
      error(string.format("%s: %s must be true or false, got %s", fn, key, describe(opts[key])), 3)
    end
  end
end

-- "1 loss", "2 losses"
local function amount(n, noun, plural)
  return n .. " " .. (n == 1 and noun or plural or noun .. "s")
end

-- ---------------------------------------------------------------- data sources

-- A part of a data source: a tensor (rows are samples) or a dataset.
local function is_part(v)
  return tensor.is_tensor(v) or (type(v) == "userdata" and v.batches ~= nil)
end

-- x or y of a source as a list of parts, and whether it was a single part.
local function parts(v)
  if is_part(v) then return {v}, true end
  return v, false
end

-- Checks the parts of a source with several inputs or targets: tensors or
-- datasets (labelled, under y), all with the same number of rows.
local function check_parts(source, what, level)
  level = level + 1
  local rows, first
  for _, side in ipairs{"x", "y"} do
    local list, single = parts(source[side] or source[side == "x" and 1 or 2])
    if type(list) ~= "table" or #list == 0 then
      error(string.format("train: %s.%s must be a tensor, a dataset or a list of them, got %s", what, side,
                          type(list) == "table" and "an empty table" or describe(list)), level)
    end
    for i, p in ipairs(list) do
      local name = single and what .. "." .. side or string.format("%s.%s[%d]", what, side, i)
      if not is_part(p) then
        error(string.format("train: %s is %s, expected a tensor or a dataset", name, describe(p)), level)
      end
      if side == "y" and not tensor.is_tensor(p) and p.kind == "none" then
        error(string.format("train: %s is an unlabelled dataset; its targets are missing", name), level)
      end
      if rows == nil then
        rows, first = #p, name
      elseif #p ~= rows then
        error(string.format("train: %s has %d rows but %s has %d (one row per sample everywhere)",
                            name, #p, first, rows), level)
      end
    end
  end
end

-- Raises unless `source` is {x =, y =} with as many rows in each (returns
-- false) or a dataset (returns true); `level` as error()'s. x and y are each
-- a tensor, a dataset (its inputs under x, its targets under y), or a list
-- of them for a model with several inputs or outputs.
local function check_source(source, what, level)
  level = level + 1
  if type(source) == "userdata" or (type(source) == "table" and source.batches) then return true end
  if type(source) ~= "table" then
    error("train: " .. what .. " must be {x = tensor, y = tensor} or a dataset, got a " .. type(source), level)
  end
  local x, y = source.x or source[1], source.y or source[2]
  if not tensor.is_tensor(x) or not tensor.is_tensor(y) then
    if x == nil or y == nil then
      error("train: " .. what .. " must be {x = tensor, y = tensor} or a dataset", level)
    end
    check_parts(source, what, level)
    return false
  end
  if #y ~= #x then
    error(string.format("train: %s.x has %d rows but %s.y has %d", what, #x, what, #y), level)
  end
  return false
end

-- Batches of sources with several parts, all in one order: tensors are
-- indexed with the order drawn, datasets are batched unshuffled over a
-- view in that order, so that the core's iterator still gathers (and may
-- prefetch) their samples. x and y come as tables where the source has
-- lists of several parts, as tensors where it has one.
local function zipped_batches(source, size, shuffle, drop_last, skip, shard)
  local xs, ys = parts(source.x or source[1]), parts(source.y or source[2])
  local n = #xs[1]
  size = math.min(size or n, n)
  local order = shuffle and size < n and tensor.randperm(n) or nil
  local streams, latest = {}, {} -- per dataset: its batches, and its current (x, y)
  for _, list in ipairs{xs, ys} do
    for _, p in ipairs(list) do
      if not tensor.is_tensor(p) and not streams[p] then
        streams[p] = (order and p:subset(order) or p):batches{size = size, shuffle = false, drop_last = drop_last,
                                                             skip = skip, seed = 0, rank = shard and shard.rank,
                                                             ranks = shard and shard.ranks}
      end
    end
  end
  local i = 1 + (skip or 0) * size
  local function pick(list, side, rows, first, count)
    local out = {}
    for k, p in ipairs(list) do
      if latest[p] then out[k] = latest[p][side]
      elseif rows then out[k] = p:index(1, rows)
      else out[k] = p:narrow(1, first, count) end
    end
    return #out == 1 and out[1] or out
  end
  return function()
    if i > n then return nil end
    local count = math.min(size, n - i + 1)
    if drop_last and count < size then return nil end
    for ds, next_batch in pairs(streams) do latest[ds] = table.pack(next_batch()) end
    local first, part = shard_part(i, count, shard)
    i = i + count
    if part == 0 then return false, false end
    local rows = order and order:narrow(1, first, part)
    return pick(xs, 1, rows, first, part), pick(ys, 2, rows, first, part)
  end, n
end

-- An iterator over (x, y) batches and the number of samples in the source.
-- skip = k leaves out the first k batches of the order drawn (a resumed
-- run continuing inside an epoch), without gathering them. augment (a
-- dataset's only: {crop_padding =, horizontal_flip =}) crops and flips images.
-- With shard = {rank =, ranks =} (parallel.lua), size is the global batch,
-- and this rank's part of each comes (false, false where that part is empty).
function train.batches(source, size, shuffle, drop_last, skip, augment, shard)
  if check_source(source, "data", 3) then
    return source:batches{size = size, shuffle = shuffle, drop_last = drop_last, skip = skip, augment = augment,
                          rank = shard and shard.rank, ranks = shard and shard.ranks}, #source
  end
  if augment ~= nil then
    error("train.batches: augment applies to a dataset (data.idx, data.images, data.tensors), not to tensors", 2)
  end
  local x, y = source.x or source[1], source.y or source[2]
  if not tensor.is_tensor(x) or not tensor.is_tensor(y) then
    return zipped_batches(source, size, shuffle, drop_last, skip, shard)
  end
  local n = #x
  size = math.min(size or n, n)
  local order = shuffle and size < n and tensor.randperm(n) or nil
  local i = 1 + (skip or 0) * size
  return function()
    if i > n then return nil end
    local count = math.min(size, n - i + 1)
    if drop_last and count < size then return nil end
    local first, part = shard_part(i, count, shard)
    i = i + count
    if part == 0 then return false, false end
    if order then
      local idx = order:narrow(1, first, part)
      return x:index(1, idx), y:index(1, idx)
    end
    return x:narrow(1, first, part), y:narrow(1, first, part)
  end, n
end

-- Raises (at `level`, as error()'s) when a source gives no batch: an empty
-- dataset, or fewer samples than one batch with drop_last.
local function check_samples(source, what, fn, batch_size, drop_last, level)
  local _, n = train.batches(source, 1, false, false)
  if n == 0 then error(string.format("%s: %s has no samples", fn, what), level + 1) end
  if drop_last and batch_size and n < batch_size then
    error(string.format("%s: %s has %d samples, fewer than one batch of %d, and drop_last leaves none",
                        fn, what, n, batch_size), level + 1)
  end
end

local function call(callbacks, event, logs, fit)
  for _, cb in ipairs(callbacks) do
    local fn = cb[event]
    if fn then fn(cb, logs, fit) end
  end
end

-- ---------------------------------------------------------------- several outputs

-- Samples in a batch: x is a tensor, or a table of them (several inputs).
local function samples_in(x)
  if type(x) == "table" then return #x[1] end
  return #x
end

-- object:method(...) with its errors (data that does not fit the model or
-- the loss) raised at `level` as error()'s: the script's line rather than
-- this file's.
local function call_at(level, object, method, ...)
  local ok, result = pcall(object[method], object, ...)
  if ok then return result end
  error(result, type(result) == "string" and level + 1 or 0)
end

local function is_finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local function number_text(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return string.format("%.6g", v)
end

-- Whether every parameter of the model is finite (max and min count NaN
-- as the extreme). Once an epoch: an update can overflow where the loss and
-- the gradients were still finite.
local function parameters_finite(model)
  for _, p in ipairs(model:parameters()) do
    if p:numel() > 0 and not (is_finite(p:max()) and is_finite(p:min())) then return false end
  end
  return true
end

-- A tensor's (or a list of tensors') first non-finite value, or nil.
local function nonfinite_in(pred)
  for _, t in ipairs(type(pred) == "table" and pred or {pred}) do
    local total = t:sum()
    if not is_finite(total) then
      local hi, lo = t:max(), t:min()
      -- What a loss of such predictions is: inf for an infinite one.
      if hi == math.huge or lo == -math.huge then return math.huge end
      return 0 / 0
    end
  end
  return nil
end

-- The loss of a training batch. Predictions that hold inf or nan make a
-- loss raise (it needs finite values); train.fit treats them as a
-- non-finite loss and stops cleanly instead of failing.
local function loss_value(loss, pred, y)
  local ok, result = pcall(loss.forward, loss, pred, y)
  if ok then return result end
  local bad = nonfinite_in(pred)
  if bad then return bad end
  error(result, type(result) == "string" and 4 or 0)
end

local function is_loss(v)
  return (type(v) == "userdata" or type(v) == "table") and v.forward ~= nil and v.backward ~= nil
end

-- Raises unless `losses` is a list of losses and `weights` nil or a list of
-- as many numbers; `level` as error()'s.
local function check_losses(losses, weights, fn, level)
  level = level + 1
  if type(losses) ~= "table" or #losses == 0 then
    error(string.format("%s: loss must be a loss such as nn.MSELoss(), or a list of them, one per output; got %s",
                        fn, type(losses) == "table" and "an empty table" or describe(losses)), level)
  end
  for k, l in ipairs(losses) do
    if not is_loss(l) then
      error(string.format("%s: loss[%d] is %s, expected a loss such as nn.MSELoss()", fn, k, describe(l)), level)
    end
  end
  if weights == nil then return end
  if type(weights) ~= "table" then
    error(string.format("%s: loss_weights must be a list of numbers, one per loss, got %s", fn, describe(weights)),
          level)
  end
  if #weights ~= #losses then
    error(string.format("%s: loss_weights has %s for %s; give one weight per loss", fn, amount(#weights, "number"),
                        amount(#losses, "loss", "losses")), level)
  end
  for k, w in ipairs(weights) do
    if type(w) ~= "number" then
      error(string.format("%s: loss_weights[%d] must be a number, got %s", fn, k, describe(w)), level)
    end
  end
end

local function combine(losses, weights)
  local c = {losses = losses, weights = weights or {}, values = {}}
  -- losses[k]:<method>(pred, target); its errors say which output, at the caller's line.
  local function run(k, method, pred, target)
    local loss = c.losses[k]
    local ok, result = pcall(loss[method], loss, pred, target)
    if ok then return result end
    error(type(result) == "string" and #c.losses > 1 and "output " .. k .. ": " .. result or result, 3)
  end
  function c:forward(preds, targets)
    if tensor.is_tensor(preds) then preds, targets = {preds}, {targets} end
    local total = 0
    for k = 1, #self.losses do
      local value = run(k, "forward", preds[k], targets[k])
      self.values[k] = value
      total = total + (self.weights[k] or 1) * value
    end
    return total
  end
  function c:backward(preds, targets)
    local single = tensor.is_tensor(preds)
    if single then preds, targets = {preds}, {targets} end
    local grads, uses = {}, {}
    for _, l in ipairs(self.losses) do uses[l] = (uses[l] or 0) + 1 end
    for k = 1, #self.losses do
      local w = self.weights[k] or 1
      grads[k] = run(k, "backward", preds[k], targets[k])
      -- A loss's backward reuses its buffer: one loss object for two outputs needs copies.
      if uses[self.losses[k]] > 1 then grads[k] = grads[k]:clone() end
      if w ~= 1 then grads[k]:mul_(w) end
    end
    return single and grads[1] or grads
  end
  return c
end

-- The losses of a model with several outputs as one loss: forward(preds,
-- targets) returns the weighted sum and keeps each output's own loss in
-- `values`; backward returns each output's gradient scaled by its weight.
-- preds and targets are tables in the order of the model's outputs (or
-- tensors, for one loss with a weight). `fn` names the caller in errors.
--   train.combined_loss({nn.CrossEntropyLoss(), nn.MSELoss()}, {1, 0.5})
function train.combined_loss(losses, weights, fn)
  check_losses(losses, weights, fn or "train.combined_loss", 2)
  return combine(losses, weights)
end

-- The `loss` and `loss_weights` options: one loss, or a list of losses,
-- one per output, weighted (by 1 unless told). Returns what computes the
-- loss (the loss itself when there is one and no weight) and the list of
-- losses. `level` as error()'s.
local function objective(loss, weights, fn, level)
  local losses = is_loss(loss) and {loss} or loss
  check_losses(losses, weights, fn, level + 1)
  if is_loss(loss) and weights == nil then return loss, losses end
  return combine(losses, weights), losses
end

-- Losses whose targets are classes: their outputs are what `accuracy` means.
local CLASS_LOSSES = {CrossEntropyLoss = true, CategoricalCrossEntropyLoss = true, BCELoss = true}

local function is_class_loss(loss)
  return type(loss) == "userdata" and loss.type ~= nil and CLASS_LOSSES[loss:type()] == true
end

-- Which of `count` outputs get accuracy, as a list of booleans. A list of
-- names, such as {"accuracy"}, applies to one output, and to each of
-- several that is class data (is_class(k)); a list of lists, such as
-- {{"accuracy"}, {}}, says it per output; nil means the class data.
-- `level` as error()'s.
local function accuracy_outputs(metrics, count, is_class, fn, level)
  level = level + 1
  local per = {}
  if train._per_output(metrics) then
    if #metrics ~= count then
      error(string.format("%s: metrics has %s for %s; give one list per output", fn, amount(#metrics, "list"),
                          amount(count, "output")), level)
    end
    for k, list in ipairs(metrics) do per[k] = wants(check_metrics(list, fn, level), "accuracy") end
  elseif metrics == nil then
    for k = 1, count do per[k] = is_class(k) end
  else
    local accuracy, any = wants(check_metrics(metrics, fn, level), "accuracy"), false
    for k = 1, count do
      per[k] = accuracy and (count == 1 or is_class(k))
      any = any or per[k]
    end
    if accuracy and not any then
      error(fn .. ": metrics = {\"accuracy\"} applies to the outputs of class data (trained with a " ..
            "classification loss), and no output is; choose per output, e.g. metrics = {{\"accuracy\"}, {}}", level)
    end
  end
  return per
end

-- Raises unless the model gave `count` outputs, one per loss, and the data
-- as many targets. `level` as error()'s.
local function check_outputs(pred, y, count, fn, level)
  local outputs = type(pred) == "table" and #pred or 1
  local targets = type(y) == "table" and #y or 1
  if outputs ~= count then
    error(string.format("%s: the model has %s and %s; give one loss per output, " ..
                        "e.g. loss = {nn.CrossEntropyLoss(), nn.MSELoss()}", fn, amount(outputs, "output"),
                        amount(count, "loss", "losses")), level + 1)
  end
  if targets ~= count then
    error(string.format("%s: the model has %s but the data gives %s; give one per output, y = {y1, y2, ...}",
                        fn, amount(count, "output"), amount(targets, "target")), level + 1)
  end
end

-- Each output's running sums: its own (unweighted) loss and its correct
-- predictions, for the logs loss_<k> and accuracy_<k>.
local function new_outputs(count)
  local outs = {}
  for k = 1, count do outs[k] = {loss = 0, correct = 0} end
  return outs
end

local function add_outputs(outs, combined, pred, y, accuracy, n)
  for k, o in ipairs(outs) do
    if combined then o.loss = o.loss + combined.values[k] * n end
    if accuracy[k] then o.correct = o.correct + train.correct(pred[k], y[k]) end
  end
end

local function output_logs(logs, outs, accuracy, seen, with_loss)
  for k, o in ipairs(outs) do
    if with_loss then logs["loss_" .. k] = o.loss / math.max(seen, 1) end
    if accuracy[k] then logs["accuracy_" .. k] = o.correct / math.max(seen, 1) end
  end
end

-- ---------------------------------------------------------------- evaluate / predict

-- The sums of train.evaluate over the batches of `data`; o holds the
-- options and how they were read. Its errors name the script's line:
-- level 4 here (this, pcall, train.evaluate, the script).
local function evaluate_batches(o)
  local sums = {samples = 0, loss = 0, correct = 0}
  for x, y in train.batches(o.data, o.batch_size, false, false) do
    local pred = call_at(4, o.model, "forward", x)
    local count = o.losses and #o.losses or (type(pred) == "table" and #pred or 1)
    check_outputs(pred, y, count, o.fn, 4)
    sums.accuracy = sums.accuracy or accuracy_outputs(o.metrics, count, function(k)
      if count == 1 then return o.classes end
      if o.losses then return is_class_loss(o.losses[k]) end
      return target_kind(y[k]) == "classes"
    end, o.fn, 4)
    local n = samples_in(x)
    if sums.trackers == nil then sums.trackers = train._metric_trackers(o.metrics, count, o.fn, 4) or false end
    train._add_metrics(sums.trackers, pred, y, 4)
    if o.loss then sums.loss = sums.loss + call_at(4, o.loss, "forward", pred, y) * n end
    if count > 1 then
      sums.outputs = sums.outputs or new_outputs(count)
      add_outputs(sums.outputs, o.loss, pred, y, sums.accuracy, n)
    elseif sums.accuracy[1] then
      sums.correct = sums.correct + train.correct(pred, y)
    end
    sums.samples = sums.samples + n
  end
  return sums
end

-- train.evaluate{model =, data =, loss =, loss_weights =, metrics =, batch_size = 1000}
-- returns {samples =, loss = (with a loss), accuracy = (for class data by
-- default)}. For a model with several outputs, loss is the weighted sum and
-- loss_<k>, accuracy_<k> are output k's, as in train.fit's logs.
function train.evaluate(opts)
  local fn = "train.evaluate"
  check_options(opts, fn, {"model", "data", "loss", "loss_weights", "metrics", "batch_size"})
  local o = {fn = fn, model = check(opts, "model", "the model to evaluate", fn), metrics = opts.metrics,
             data = check(opts, "data", "{x = ..., y = ...} or a dataset", fn), batch_size = opts.batch_size or 1000}
  check_samples(o.data, "data", fn, nil, false, 2)
  if opts.loss ~= nil then o.loss, o.losses = objective(opts.loss, opts.loss_weights, fn, 2) end
  if o.metrics ~= nil and not train._per_output(o.metrics) then check_metrics(o.metrics, fn, 2) end
  -- Accuracy by default for class data only; it means nothing for regression.
  o.classes = class_data(o.data)
  local was_training = o.model:is_training()
  o.model:eval()
  local ok, sums = pcall(evaluate_batches, o)
  o.model:train(was_training)
  if not ok then error(sums, 0) end
  local seen = math.max(sums.samples, 1)
  local result = {samples = sums.samples, loss = o.loss and sums.loss / seen or nil}
  if sums.outputs then
    output_logs(result, sums.outputs, sums.accuracy, sums.samples, o.loss ~= nil)
  elseif sums.accuracy == nil then -- no samples: the accuracy asked for, over nothing
    if (o.metrics == nil and o.classes) or wants(o.metrics, "accuracy") then result.accuracy = 0 end
  elseif sums.accuracy[1] then
    result.accuracy = sums.correct / seen
  end
  train._metric_logs(result, sums.trackers, sums.outputs and #sums.outputs or 1)
  return result
end

-- The model's outputs in eval mode: x is a tensor, or a table of tensors in
-- the order of the model's inputs; a table of outputs for several.
function train.predict(model, x)
  local was_training = model:is_training()
  model:eval()
  local out = model:forward(x)
  model:train(was_training)
  -- Copies: forward returns views of the model's buffers, which its next forward overwrites.
  if tensor.is_tensor(out) then return out:clone() end
  local copies = {}
  for k, t in ipairs(out) do copies[k] = t:clone() end
  return copies
end

-- ---------------------------------------------------------------- fit

local FIT_OPTIONS = {"model", "loss", "loss_weights", "optimizer", "data", "validation", "epochs", "batch_size",
                     "shuffle", "drop_last", "metrics", "callbacks", "verbose", "name", "resume", "on_epoch",
                     "eval_batch_size", "clip_grad_norm", "clip_grad_value", "augment", "data_parallel", "precision"}

-- One epoch of training; fills logs.loss, accuracy, lr and samples_per_s
-- (and loss_<k>, accuracy_<k> for several outputs).
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
  local next_batch, total = train.batches(fit.data, fit.batch_size, fit.shuffle, fit.drop_last, from.batches,
                                          fit.augment, fit.shard)
  if resumed then tensor.set_rng_state(resumed.rng) end
  local count, accuracy = fit.outputs, fit.accuracy
  local outs = count > 1 and (from.outputs or new_outputs(count)) or nil
  fit.trackers = train._metric_trackers(fit.metrics, count, "train.fit", 3, from.metrics)
  local batches, seen, sum_loss, correct = from.batches, from.seen, from.sum_loss, from.correct
  local started = monitor.elapsed()
  for x, y in next_batch do
    optimizer:zero_grad()
    local pred, value, weight = nil, 0, 1
    if x then -- false: this rank's part of a last, small batch is empty
      pred = call_at(3, model, "forward", x)
      check_outputs(pred, y, count, "train.fit", 3)
      value = loss_value(loss, pred, y)
      weight = parallel.share(fit, samples_in(x), math.min(fit.batch_size, total - batches * fit.batch_size))
      -- A loss that is not finite skips backward; the step stops below, on
      -- every rank of a data-parallel run, since the step's sums carry it.
      if is_finite(value) then model:backward(x, parallel.weighted(loss:backward(pred, y), weight), false) end
    end
    local sums = parallel.step_sums(fit, x, pred, y, value, weight, train.correct)
    local n = sums[2]
    value = sums[1]
    local fault = not is_finite(value) and "loss is " .. number_text(value) or nil
    if not fault and fit.check_grads and not parallel.grads_finite(fit, sums) then
      fault = "the gradients hold inf or nan (the loss is " .. number_text(value) .. ")"
    end
    if fault then
      -- Stopped before the step: the parameters keep their last finite values.
      fit.stop, fit.nonfinite = true, string.format("epoch %d, step %d: %s", fit.epoch, batches + 1, fault)
      call(fit.callbacks, "on_batch_end", {loss = value, size = n, step = fit.step}, fit)
      break
    end
    -- Counted before the step: optim.LBFGS and optim.Newton run forward again.
    batches, seen, sum_loss, correct = batches + 1, seen + n, sum_loss + value * n, correct + sums[3]
    for k, o in ipairs(outs or {}) do
      o.loss, o.correct = o.loss + sums[3 + 2 * k] * n, o.correct + sums[4 + 2 * k]
    end
    if pred then train._add_metrics(fit.trackers, pred, y, 3) end
    train._optimizer_step(fit, x, y) -- clipping, and a closure for optim.LBFGS / Newton (schedules.lua)
    fit.step = monitor.step()
    -- Progress first: it places the batch's value at its fraction of the epoch.
    monitor.progress(seen, total, string.format("epoch %d/%d", fit.epoch, fit.epochs))
    monitor.log("batch_loss", value)
    call(fit.callbacks, "on_batch_end", {loss = value, size = n, step = fit.step}, fit)
    if sums[4] > 0 then fit.interrupted = true end
    if fit.stop or fit.interrupted then break end
  end
  local seconds = from.seconds + (monitor.elapsed() - started)
  fit.position = {epoch = fit.epoch, shuffle_rng = shuffle_rng, batches = batches, seen = seen,
                  sum_loss = sum_loss, correct = correct, outputs = outs, seconds = seconds,
                  metrics = train._metric_sums(fit.trackers)}
  logs.loss = sum_loss / math.max(seen, 1)
  if not parameters_finite(model) then
    -- The optimizer's update overflowed at an earlier step: what is in
    -- memory is lost, the checkpoint callbacks keep the last finite file.
    fit.stop, fit.nonfinite_parameters = true, true
    fit.nonfinite = (fit.nonfinite or string.format("epoch %d, step %d", fit.epoch, batches)) ..
                    "; an update made the parameters inf or nan"
    monitor.text("train.fit: " .. fit.nonfinite .. "; training stopped, checkpoints are not written over")
  elseif fit.nonfinite then
    monitor.text("train.fit: " .. fit.nonfinite .. "; training stopped, the model keeps its parameters " ..
                 "from before that step")
  end
  if outs then
    output_logs(logs, outs, accuracy, seen, true)
  elseif accuracy[1] then
    logs.accuracy = correct / math.max(seen, 1)
  end
  train._metric_logs(logs, fit.trackers, count)
  logs.lr = optimizer.lr
  logs.samples_per_s = seen / math.max(seconds, 1e-9)
  return seconds
end

-- The keys of the epoch logs, in the order they are printed and kept.
local function log_keys(count, accuracy, metric_names)
  local keys = {}
  for _, prefix in ipairs{"", "val_"} do
    keys[#keys + 1] = prefix .. "loss"
    if count == 1 then
      keys[#keys + 1] = prefix .. "accuracy"
    else
      for k = 1, count do keys[#keys + 1] = prefix .. "loss_" .. k end
      for k = 1, count do
        if accuracy[k] then keys[#keys + 1] = prefix .. "accuracy_" .. k end
      end
    end
    for _, name in ipairs(metric_names) do keys[#keys + 1] = prefix .. name end
  end
  keys[#keys + 1] = "lr"
  keys[#keys + 1] = "samples_per_s"
  return keys
end

-- train.fit's precision = "f32" | "bf16": the model computes in it from now
-- on (model:set_precision); nil leaves the model's (neurite-run --precision).
function train._set_precision(model, precision, fn, level)
  if precision == nil then return end
  if precision ~= "f32" and precision ~= "bf16" then
    local given = type(precision) == "string" and '"' .. precision .. '"' or describe(precision)
    error(string.format('%s: precision is "f32" or "bf16", not %s', fn, given), level + 1)
  end
  if not has_method(model, "set_precision") then
    error(string.format("%s: precision applies to an nn.Sequential or nn.Model, not %s", fn, describe(model)), level + 1)
  end
  local ok, err = pcall(model.set_precision, model, precision)
  if not ok then error(fn .. ": " .. tostring(err):gsub("^[^:]*:%d+: ", ""), level + 1) end
end

local function report(logs, fit, seconds)
  local line = string.format("epoch %d/%d  loss %.4f", fit.epoch, fit.epochs, logs.loss)
  for _, key in ipairs(fit.log_keys) do
    if logs[key] then
      monitor.log(key, logs[key])
      fit.history[key] = fit.history[key] or {}
      fit.history[key][#fit.history[key] + 1] = logs[key]
      if key ~= "loss" and key ~= "lr" and key ~= "samples_per_s" then
        line = line .. string.format("  %s %.4f", key, logs[key])
      end
    end
  end
  if fit.verbose >= 1 then
    monitor.text(line .. string.format("  %.0f samples/s  %.1fs", logs.samples_per_s, seconds))
  end
end

-- For a {x =, y =} source, as many targets as losses (a dataset's are
-- counted at its first batch). `level` as error()'s.
local function check_target_count(source, what, count, level)
  if type(source) ~= "table" or source.batches then return end
  local y = source.y or source[2]
  local targets = is_part(y) and 1 or #y
  if targets ~= count then
    error(string.format("train.fit: %s.y has %s for %s; give one target and one loss per output", what,
                        amount(targets, "target"), amount(count, "loss", "losses")), level + 1)
  end
end

-- What run.json keeps of a fit (docs/run-store.md): the optimizer with its
-- options (the numbers it reports by name; the text holds the rest), the
-- model's summary, the loss, batch size and epochs.
local function record_hyperparameters(opts, fit)
  local optimizer = fit.optimizer
  local text = tostring(optimizer)
  local ok, kind = pcall(function() return optimizer:type() end)
  local options = {}
  for key in text:gmatch("([%w_]+)=") do
    local found, value = pcall(function() return optimizer[key] end)
    if found and type(value) == "number" then options[key] = value end
  end
  -- The summary (layers, output shapes, parameter counts) needs the input's
  -- shape, which a model of Lua layers may not know: then the description alone.
  local has_summary, summary = pcall(function() return fit.model:summary() end)
  summary = has_summary and type(summary) == "string" and summary or nil
  monitor.hparams{optimizer = {type = ok and kind or text:match("^[%w_.]+"), options = options, text = text},
                  model = tostring(fit.model), model_summary = summary,
                  parameters = summary and tonumber(summary:match("(%d+) parameters in all")),
                  loss = tostring(opts.loss), batch_size = fit.batch_size,
                  epochs = fit.epochs, shuffle = fit.shuffle, metrics = fit.metrics,
                  precision = has_method(fit.model, "precision") and fit.model:precision() or "f32"}
end

-- train.fit{model=, loss=, loss_weights=, optimizer=, data=, validation=,
--           epochs=, batch_size=, shuffle=, drop_last=, metrics=,
--           callbacks=, verbose=, name=, resume=, on_epoch=,
--           eval_batch_size=, clip_grad_norm=, clip_grad_value=} -> history, fit
-- clip_grad_norm = c and clip_grad_value = c clip the gradients before
-- each step (schedules.lua); metrics beside accuracy are in metrics.lua.
-- A model with several inputs takes data = {x = {x1, x2}, y = ...}; each
-- of x and y is a tensor, a dataset (its inputs under x, its targets under
-- y), or a list of them, all with the same rows, shuffled together.
-- A model with several outputs takes one loss per output, in the order of
-- its outputs: loss = {nn.CrossEntropyLoss(), nn.MSELoss()}, and as many
-- targets: y = {y1, y2}. The loss minimized and logged as `loss` is the
-- sum weighted by loss_weights = {1, 0.5} (default all 1); each output's
-- own loss is logged as loss_1, loss_2, ... (val_loss_1 on the validation
-- set), numbered in the order of the model's outputs (Keras names them
-- after the output layers, which have no names of their own here).
-- metrics = {"accuracy"} applies to the outputs trained with a
-- classification loss (CrossEntropyLoss, CategoricalCrossEntropyLoss,
-- BCELoss), logged as accuracy_<k>; metrics = {{"accuracy"}, {}} chooses
-- per output. A model with one output logs loss and accuracy as ever.
function train.fit(opts)
  local fn = "train.fit"
  check_options(opts, fn, FIT_OPTIONS)
  local model = check(opts, "model", "an nn.Sequential or nn.Model")
  if not has_method(model, "forward") or not has_method(model, "parameters") then
    error(string.format("%s: model must be an nn.Sequential or nn.Model, got %s", fn, describe(model)), 2)
  end
  check_fit_values(opts, fn)
  train._set_precision(model, opts.precision, fn, 2)
  check(opts, "loss", "e.g. nn.CrossEntropyLoss(), or a list with one loss per output")
  local loss, losses = objective(opts.loss, opts.loss_weights, fn, 2)
  local optimizer = check(opts, "optimizer", "e.g. optim.SGD(model:parameters(), {lr = 0.1})")
  if not has_method(optimizer, "step") or not has_method(optimizer, "zero_grad") then
    error(string.format("%s: optimizer must be an optimizer such as optim.SGD(model:parameters(), {lr = 0.1}), got %s",
                        fn, describe(optimizer)), 2)
  end
  local data = check(opts, "data", "{x = ..., y = ...} or a dataset")
  check_source(data, "data", 2)
  check_target_count(data, "data", #losses, 2)
  check_samples(data, "data", fn, opts.batch_size or 32, opts.drop_last, 2)
  if opts.augment ~= nil then -- training batches only; checked here to fail at the script's line
    if not check_source(data, "data", 2) then
      error(fn .. ": augment applies to a dataset (data.idx, data.images, data.tensors), not to tensors", 2)
    end
    local ok, err = pcall(data.batches, data, {size = 1, prefetch = false, augment = opts.augment})
    if not ok then error(tostring(err):gsub("^[^:]*:%d+: ", ""), 2) end
  end
  if opts.validation ~= nil then
    check_source(opts.validation, "validation", 2)
    check_target_count(opts.validation, "validation", #losses, 2)
    check_samples(opts.validation, "validation", fn, nil, false, 2)
  end
  local metrics = opts.metrics or {}
  local accuracy = accuracy_outputs(metrics, #losses, function(k) return is_class_loss(losses[k]) end, fn, 2)
  local callbacks = {}
  for _, cb in ipairs(opts.callbacks or {}) do callbacks[#callbacks + 1] = cb end
  if opts.on_epoch then
    local on_epoch = opts.on_epoch
    callbacks[#callbacks + 1] = {on_epoch_end = function(_, logs, fit)
      if on_epoch(fit.epoch, logs, fit) == false then fit.stop = true end
    end}
  end

  local history = {loss = {}, val_loss = {}, accuracy = {}, val_accuracy = {}, lr = {}}
  local fit = {model = model, optimizer = optimizer, loss = loss, epoch = 0, step = 0,
               epochs = opts.epochs or 10, history = history, stop = false, interrupted = false,
               callbacks = callbacks, data = data, batch_size = opts.batch_size or 32,
               shuffle = opts.shuffle ~= false, drop_last = opts.drop_last, metrics = metrics,
               outputs = #losses, accuracy = accuracy, params = model:parameters(),
               clip = train._clip_options(opts, optimizer, 2),
               log_keys = log_keys(#losses, accuracy,
                                   train._metric_log_names(train._metric_trackers(metrics, #losses, fn, 2), #losses)),
               verbose = opts.verbose == nil and 1 or opts.verbose, augment = opts.augment,
               -- Optimizers written in Lua may have no gradient check of their own.
               check_grads = has_method(optimizer, "grads_finite")}
  fit.shard = parallel.shard(opts) -- under mpirun: this rank's part of each batch
  -- Stop requests (Ctrl-C, the GUI's Stop) are handled at step boundaries
  -- in train_epoch, so the callbacks can still write their checkpoint; on
  -- several ranks, at the step the ranks agree on (parallel.lua), from
  -- before their first collective here on.
  local guard <close> = monitor.cooperative{collective = fit.shard ~= nil}
  local start_epoch, resumed = 1, nil
  if opts.resume then start_epoch, resumed = train.resume(fit, opts.resume, callbacks) end
  if fit.shard then parallel.join(fit, start_epoch, losses) end

  local run <close> = opts.name and monitor.run(opts.name) or nil
  monitor.step(fit.step)
  monitor.watch(model, data, opts.validation) -- says which model trains on what (the window draws it)
  if fit.verbose >= 1 and has_method(model, "precision") and model:precision() == "bf16" then
    local k = nn.bf16_kernels()
    monitor.text(string.format("precision bf16: %s kernels (oneDNN %s), f32 master weights", k.name, k.isa))
  end
  record_hyperparameters(opts, fit)
  call(callbacks, "on_train_begin", {}, fit)

  for epoch = start_epoch, fit.epochs do
    fit.epoch = epoch
    monitor.epoch(epoch)
    local logs = {epoch = epoch}
    call(callbacks, "on_epoch_begin", logs, fit)
    model:train()
    local seconds = train_epoch(fit, logs, resumed)
    resumed = nil
    parallel.end_epoch(fit)
    if fit.interrupted then
      call(callbacks, "on_interrupt", logs, fit)
      error(string.format("train.fit: interrupted in epoch %d at step %d", epoch, fit.step), 2)
    end
    if opts.validation then
      local v = parallel.evaluate(fit, train.evaluate, {model = model, data = opts.validation, loss = opts.loss,
                                  loss_weights = opts.loss_weights, metrics = metrics,
                                  batch_size = opts.eval_batch_size})
      for key, value in pairs(v) do
        if key ~= "samples" then logs["val_" .. key] = value end
      end
    end
    report(logs, fit, seconds)
    call(callbacks, "on_epoch_end", logs, fit)
    call(callbacks, "after_epoch_end", logs, fit)
    if fit.stop then break end
  end
  parallel.finish(fit)
  call(callbacks, "on_train_end", {epoch = fit.epoch}, fit)
  return history, fit
end

return train
