-- neurite/metrics.lua: the metrics of train.fit and train.evaluate beside
-- accuracy (which train.lua counts itself): top-k accuracy, macro
-- precision, recall and F1, MAE, RMSE, R², and a user's Lua function.
--
-- Shipped readable beside train.lua, which it extends: the runtime runs it
-- with the neurite modules and the train table. It uses nothing but the
-- public Lua API; every sum is taken over whole batches with tensor
-- operations, never an element at a time through Lua.
--
-- Names in metrics = {...}:
--   "top5_accuracy" (any k): the true class among the k highest scores
--       (a tie with the k-th score counts as in);
--   "precision", "recall", "f1": macro averages over the classes that
--       occur in the targets or the predictions (a class never predicted
--       has precision 0), from the argmax of the scores (or a 0.5
--       threshold for one output) against class indices from 1 or
--       one-hot rows;
--   "mae", "rmse": mean absolute and root mean squared error over all
--       elements; "r2": 1 - SSE/SST per output column, averaged (1 for a
--       constant column predicted exactly, 0 for one that is not);
--   train.metric(name, function(pred, y) return number end): the mean of
--       the function's values over the batches, weighted by their sizes.

local neurite, train = ...
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local tensor, check_choice = neurite.tensor, neurite.check_choice

local NAMES = {"accuracy", "precision", "recall", "f1", "mae", "rmse", "r2", "top5_accuracy"}
local CLASS_METRICS = {precision = true, recall = true, f1 = true}
local REGRESSION_METRICS = {mae = true, rmse = true, r2 = true}

local function describe(v)
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

-- train.metric(name, fn): a metric of the user's, logged as `name`.
function train.metric(name, fn)
  if type(name) ~= "string" or name == "" then
    error("train.metric: the first argument must be the metric's name, got " .. describe(name), 2)
  end
  if type(fn) ~= "function" then
    error("train.metric: the second argument must be a function(pred, y) returning a number, got " .. describe(fn), 2)
  end
  return {metric_name = name, fn = fn}
end

function train._is_metric(v)
  return type(v) == "table" and type(v.fn) == "function" and type(v.metric_name) == "string"
end

-- The k of "top<k>_accuracy", or nil.
local function top_k(name)
  local k = type(name) == "string" and tonumber(name:match("^top(%d+)_accuracy$")) or nil
  return k and k >= 1 and k or nil
end

-- Raises unless `m` is a metric name or train.metric(...); `level` as error()'s.
function train._check_metric(m, fn, level)
  if train._is_metric(m) or top_k(m) then return m end
  if type(m) == "function" then
    error(fn .. ": a function as a metric needs a name: train.metric(\"name\", fn)", level + 1)
  end
  check_choice(m, fn, "metric", NAMES, level + 1)
  return m
end

local function name_of(m) return train._is_metric(m) and m.metric_name or m end

-- Class indices from 1 of the predictions and targets, and the number of classes.
local function classes(pred, y, fn)
  local n = pred:size(1)
  if pred:dim() == 2 and pred:size(2) > 1 then
    local truth = (y:dim() == 2 and y:size(2) == pred:size(2)) and y:argmax(2) or y:reshape{n}
    return pred:argmax(2), truth, pred:size(2)
  end
  if pred:numel() ~= n then
    error(string.format("%s: precision, recall and f1 need one score per class or one output, got predictions "
                        .. "of shape [%s]", fn, table.concat(pred:shape(), ", ")), 0)
  end
  return pred:reshape{n}:gt(0.5):add(1), y:reshape{n}:add(1), 2
end

-- Adds counts[c] (a Lua list) of the classes in `index` (a tensor of n class indices from 1).
local function add_counts(counts, index, weights, k)
  local per_class = tensor.zeros{k}:index_add(1, index, weights):totable()
  for c = 1, k do counts[c] = (counts[c] or 0) + per_class[c] end
end

local function check_class_range(index, k, fn, what)
  if index:numel() == 0 then return end
  local low, high = index:min(), index:max()
  if low < 1 or high > k or low % 1 ~= 0 or high % 1 ~= 0 then
    error(string.format("%s: %s hold class %s, outside 1..%d", fn, what, low < 1 and tostring(low) or tostring(high),
                        k), 0)
  end
end

-- Per column: the sums that SSE and SST need.
local function add_columns(sums, key, t)
  local col = t:sum(1):totable()
  local into = sums[key] or {}
  for j = 1, #col do into[j] = (into[j] or 0) + col[j] end
  sums[key] = into
end

-- The running sums of one output's metrics over batches; `fn` names the caller in errors.
local function tracker(list, fn)
  local t = {list = list, fn = fn, sums = {samples = 0}}
  local wants = {}
  for _, m in ipairs(list) do wants[name_of(m)] = m end
  function t:add(pred, y)
    local s, n = self.sums, pred:size(1)
    s.samples = s.samples + n
    local class_metrics = wants.precision or wants.recall or wants.f1
    if class_metrics then
      local guess, truth, k = classes(pred, y, fn)
      check_class_range(truth, k, fn, "the targets")
      s.classes = k
      s.tp, s.predicted, s.actual = s.tp or {}, s.predicted or {}, s.actual or {}
      add_counts(s.tp, truth, guess:eq(truth), k)
      add_counts(s.predicted, guess, tensor.ones{n}, k)
      add_counts(s.actual, truth, tensor.ones{n}, k)
    end
    for name in pairs(wants) do
      local k = top_k(name)
      if k and n > 0 then
        local _, truth = classes(pred, y, fn)
        local own = pred:gather(2, truth:reshape{n, 1})
        local above = pred:gt(own):sum(2)
        s[name] = (s[name] or 0) + above:lt(k):sum()
      end
    end
    if (wants.mae or wants.rmse or wants.r2) and n > 0 then
      local cols = pred:numel() // n
      local p = pred:reshape{n, cols}
      local target = y:reshape{n, cols}
      local e = p - target
      s.abs = (s.abs or 0) + e:abs():sum()
      s.elements = (s.elements or 0) + n * cols
      add_columns(s, "sse", e * e)
      add_columns(s, "y", target)
      add_columns(s, "y2", target * target)
    end
    for _, m in ipairs(self.list) do
      if train._is_metric(m) then
        local v = m.fn(pred, y)
        if type(v) ~= "number" then
          error(string.format("%s: metric '%s' returned %s, not a number", fn, m.metric_name, describe(v)), 0)
        end
        s[m.metric_name] = (s[m.metric_name] or 0) + v * n
      end
    end
  end
  -- The metrics' values, by name.
  function t:values()
    local s, out = self.sums, {}
    local seen = math.max(s.samples, 1)
    for name in pairs(wants) do
      if top_k(name) or not (CLASS_METRICS[name] or REGRESSION_METRICS[name] or name == "accuracy") then
        out[name] = (s[name] or 0) / seen
      end
    end
    if s.classes then
      local precision, recall, f1, present = 0, 0, 0, 0
      for c = 1, s.classes do
        local tp, predicted, actual = s.tp[c], s.predicted[c], s.actual[c]
        if predicted + actual > 0 then
          present = present + 1
          precision = precision + (predicted > 0 and tp / predicted or 0)
          recall = recall + (actual > 0 and tp / actual or 0)
          f1 = f1 + 2 * tp / (predicted + actual)
        end
      end
      present = math.max(present, 1)
      out.precision, out.recall, out.f1 = precision / present, recall / present, f1 / present
      for name in pairs(CLASS_METRICS) do
        if not wants[name] then out[name] = nil end
      end
    end
    if s.elements then
      if wants.mae then out.mae = s.abs / s.elements end
      if wants.rmse then
        local sq = 0
        for _, v in ipairs(s.sse) do sq = sq + v end
        out.rmse = math.sqrt(sq / s.elements)
      end
      if wants.r2 then
        local r2 = 0
        for j, sse in ipairs(s.sse) do
          local sst = s.y2[j] - s.y[j] * s.y[j] / s.samples
          if sst > 1e-12 * math.max(s.y2[j], 1e-30) then r2 = r2 + 1 - sse / sst
          else r2 = r2 + (sse == 0 and 1 or 0) end
        end
        out.r2 = r2 / #s.sse
      end
    end
    return out
  end
  return t
end

-- Internal (train._*: shared with train.lua and callbacks.lua, not API).
-- The metrics of each output other than accuracy, as trackers: a list
-- with one entry per output (false where there are none), or nil when no
-- output has any. `metrics` is a list of names and train.metric(...), or
-- one such list per output; a flat list with several outputs may hold
-- only accuracy. `level` as error()'s. `sums` (from _metric_sums) puts
-- back the running sums of an epoch interrupted and resumed.
function train._metric_trackers(metrics, count, fn, level, sums)
  if metrics == nil then return nil end
  local per_output = train._per_output(metrics)
  local trackers, any = {}, false
  for k = 1, count do
    local list = per_output and metrics[k] or metrics
    local extra = {}
    for _, m in ipairs(list or {}) do
      if name_of(m) ~= "accuracy" then extra[#extra + 1] = m end
    end
    if #extra > 0 and count > 1 and not per_output then
      error(string.format("%s: with %d outputs, give metrics other than accuracy per output, " ..
                          "e.g. metrics = {{\"accuracy\", \"f1\"}, {\"mae\"}}", fn, count), level + 1)
    end
    trackers[k] = #extra > 0 and tracker(extra, fn) or false
    if trackers[k] and sums and type(sums[k]) == "table" then trackers[k].sums = sums[k] end
    any = any or #extra > 0
  end
  return any and trackers or nil
end

-- The trackers' running sums, for a checkpoint's position inside an epoch.
function train._metric_sums(trackers)
  local sums = {}
  for k, t in ipairs(trackers or {}) do sums[k] = t and t.sums or false end
  return sums
end

-- Whether metrics holds one list per output (rather than one list).
function train._per_output(metrics)
  return metrics ~= nil and type(metrics[1]) == "table" and not train._is_metric(metrics[1])
end

-- The log names of the trackers' metrics (name, or name_<k> with several outputs).
function train._metric_log_names(trackers, count)
  local names = {}
  for k, t in ipairs(trackers or {}) do
    for _, m in ipairs(t and t.list or {}) do
      names[#names + 1] = count > 1 and name_of(m) .. "_" .. k or name_of(m)
    end
  end
  return names
end

-- Adds a batch to every tracker: pred and y are tensors (one output) or
-- lists. Errors (a user's metric that fails) are raised at `level` as
-- error()'s, from the caller.
function train._add_metrics(trackers, pred, y, level)
  if not trackers then return end
  local single = tensor.is_tensor(pred)
  for k, t in ipairs(trackers) do
    if t then
      local ok, err = pcall(t.add, t, single and pred or pred[k], single and y or y[k])
      if not ok then error(err, type(err) == "string" and level + 1 or 0) end
    end
  end
end

-- Writes the trackers' values into logs (with `prefix`, e.g. "val_").
function train._metric_logs(logs, trackers, count, prefix)
  for k, t in ipairs(trackers or {}) do
    if t then
      for name, value in pairs(t:values()) do
        logs[(prefix or "") .. (count > 1 and name .. "_" .. k or name)] = value
      end
    end
  end
end

-- The direction in which a metric improves, for callbacks that watch it.
function train._metric_mode(name)
  local base = name:gsub("^val_", ""):gsub("_%d+$", "")
  if base:find("accuracy") or CLASS_METRICS[base] or base == "r2" then return "max" end
  return "min"
end
