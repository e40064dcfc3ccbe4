-- neurite/diagnostics.lua: train.gradient_check, train.curvature and
-- train.confusion, which look at a model over a whole data set: is
-- backpropagation right, how curved is the loss (which learning rates
-- converge), which classes does a classifier mix up?
--
-- Shipped readable beside train.lua, which it extends: the runtime runs it
-- with the neurite modules and the train table, and it adds its functions
-- to that table. It uses nothing but the public Lua API.

local neurite, train = ...
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local tensor, check_options = neurite.tensor, neurite.check_options

-- opts[key], required; `level` as error()'s, from the caller.
local function required(opts, fn, key, what, level)
  if opts[key] == nil then error(fn .. ": '" .. key .. "' is required (" .. what .. ")", level + 1) end
  return opts[key]
end

-- The whole data set as one batch, and the full loss and its gradient as
-- functions of the model's current weights. `finish` puts back the weights
-- and the training mode, whatever happened in between.
-- A list of losses, one per output, is weighted by opts.loss_weights.
-- Its errors name the script's line: the caller of train.<fn> is level 3
-- here.
local function full_batch(fn, opts)
  local model = required(opts, fn, "model", "the model whose loss is measured", 3)
  local loss = required(opts, fn, "loss", "the loss, e.g. nn.MSELoss()", 3)
  local data = required(opts, fn, "data", "{x = ..., y = ...} or a dataset", 3)
  local is_list = type(loss) == "table" and loss.forward == nil
  if is_list or opts.loss_weights ~= nil then
    local ok, combined = pcall(train.combined_loss, is_list and loss or {loss}, opts.loss_weights, fn)
    if not ok then error(combined, 3) end
    loss = combined
  end
  local epsilon = opts.epsilon or 1e-3
  if type(epsilon) ~= "number" or not (epsilon > 0) then
    error(fn .. ": epsilon must be a positive number, got " .. tostring(epsilon), 3)
  end
  local is_table = type(data) == "table" and not data.batches
  local next_batch, n = train.batches(data, is_table and math.huge or math.max(#data, 1), false, false)
  local x, y = next_batch()
  if not x then error(fn .. ": the data has no samples", 3) end
  local params = {} -- the trained ones: buffers (nn.Normalize's statistics) have no gradient
  for _, p in ipairs(model:parameters()) do
    if p.grad then params[#params + 1] = p end
  end
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
  check_options(opts, fn, {"model", "loss", "loss_weights", "data", "elements", "epsilon"})
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
  check_options(opts, fn, {"model", "loss", "loss_weights", "data", "iterations", "tolerance", "epsilon"})
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

-- Which classes a classifier mixes up: counts of (true class, predicted
-- class) over the data, rows the truth, both 1-based.
-- For a model with several outputs, `output` says which one (and y in the
-- data is then a table of targets, one per output).
--   train.confusion{model =, data =, classes = (the model's outputs), output =, batch_size = 1000}
--   returns {matrix = tensor{k, k}, accuracy =, recall = {...}, precision = {...}, samples =}
function train.confusion(opts)
  local fn = "train.confusion"
  check_options(opts, fn, {"model", "data", "classes", "output", "batch_size"})
  local model = required(opts, fn, "model", "the classifier", 2)
  local data = required(opts, fn, "data", "{x = ..., y = ...} or a dataset of classes", 2)
  local k, counts, seen, output = opts.classes, {}, 0, opts.output
  local was_training = model:is_training()
  model:eval()
  local ok, err = pcall(function()
    for x, y in train.batches(data, opts.batch_size or 1000, false, false) do
      local pred = model:forward(x)
      if type(pred) == "table" then
        if math.type(output) ~= "integer" or pred[output] == nil then
          error(string.format("%s: the model has %d outputs; say which with output = 1..%d, got %s", fn, #pred,
                              #pred, output == nil and "none" or tostring(output)), 0)
        end
        pred, y = pred[output], type(y) == "table" and y[output] or y
      elseif output ~= nil and output ~= 1 then
        error(string.format("%s: output = %s, but the model has one output", fn, tostring(output)), 0)
      end
      if pred:dim() ~= 2 or pred:size(2) < 2 then
        error(string.format("%s: the model must give one score per class, got outputs of shape [%s]", fn,
                            table.concat(pred:shape(), ", ")), 0)
      end
      k = k or pred:size(2)
      if k < pred:size(2) then
        error(string.format("%s: classes = %d, but the model gives %d scores a sample", fn, k, pred:size(2)), 0)
      end
      local n = pred:size(1)
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

