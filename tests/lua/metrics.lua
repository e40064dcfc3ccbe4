-- The metrics of train.evaluate and train.fit beside accuracy, against
-- values computed by hand: top-k accuracy, macro precision, recall and F1,
-- MAE, RMSE, R², and a user's function; over several batches.

local function close(a, b, what)
  assert(a ~= nil, what .. ": missing")
  assert(math.abs(a - b) < 1e-5, string.format("%s: %.8g, expected %.8g", what, a, b))
end

-- A model that passes its input through: the scores are the data.
local function identity(n)
  local m = nn.Sequential{nn.Dense(n, n)}
  m[1].weight:copy(tensor.eye(n))
  m[1].bias:zero_()
  return m
end

-- Six samples, three classes. Guesses 1 2 3 1 2 2, truth 1 1 3 2 2 3.
local scores = tensor{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}, {0.2, 0.3, 0.5},
                      {0.6, 0.3, 0.1}, {0.1, 0.6, 0.3}, {0.35, 0.4, 0.25}}
local truth = tensor{1, 1, 3, 2, 2, 3}
-- class 1: tp 1, predicted 2, actual 2 -> P 1/2, R 1/2, F1 1/2
-- class 2: tp 1, predicted 3, actual 2 -> P 1/3, R 1/2, F1 2/5
-- class 3: tp 1, predicted 1, actual 2 -> P 1,   R 1/2, F1 2/3
-- top 2: all but sample 6 (0.35 and 0.4 above its true 0.25)
local r = train.evaluate{model = identity(3), data = {x = scores, y = truth}, batch_size = 4,
                         metrics = {"accuracy", "top2_accuracy", "top3_accuracy", "precision", "recall", "f1"}}
close(r.accuracy, 0.5, "accuracy")
close(r.top2_accuracy, 5 / 6, "top-2 accuracy")
close(r.top3_accuracy, 1, "top-3 accuracy")
close(r.precision, (1 / 2 + 1 / 3 + 1) / 3, "macro precision")
close(r.recall, 0.5, "macro recall")
close(r.f1, (1 / 2 + 2 / 5 + 2 / 3) / 3, "macro F1")
-- One-hot targets give the same counts.
local onehot = tensor.zeros{6, 3}
for i = 1, 6 do onehot:set(i, truth:get(i), 1) end
local r2 = train.evaluate{model = identity(3), data = {x = scores, y = onehot}, metrics = {"f1"}}
close(r2.f1, r.f1, "F1 from one-hot targets")

-- A class absent from targets and predictions does not count in the macro average.
local four = tensor{{0.9, 0.1, 0, 0}, {0.1, 0.9, 0, 0}, {0.8, 0.2, 0, 0}}
local r4 = train.evaluate{model = identity(4), data = {x = four, y = tensor{1, 2, 2}},
                          metrics = {"precision", "recall"}}
-- class 1: tp 1, predicted 2, actual 1 -> P 1/2, R 1; class 2: tp 1, predicted 1, actual 2 -> P 1, R 1/2
close(r4.precision, 0.75, "precision over the classes present")
close(r4.recall, 0.75, "recall over the classes present")

-- Regression: errors -0.5 0 1 -1.
local x, y = tensor{{1}, {2}, {3}, {4}}, tensor{{1.5}, {2}, {2}, {5}}
local total_pred = train.metric("mean_prediction", function(pred) return pred:mean() end)
local rr = train.evaluate{model = identity(1), data = {x = x, y = y}, batch_size = 3,
                          metrics = {"mae", "rmse", "r2", total_pred}}
close(rr.mae, 2.5 / 4, "MAE")
close(rr.rmse, math.sqrt(2.25 / 4), "RMSE")
close(rr.r2, 1 - 2.25 / 7.6875, "R^2") -- SST about the mean 2.625
-- batch means 2 (3 samples) and 4 (1 sample), weighted by size: (2*3 + 4) / 4
close(rr.mean_prediction, 2.5, "a user's metric, averaged over the samples")
-- Two output columns: R^2 is the mean of each column's.
local x2 = tensor{{1, 0}, {2, 1}, {3, 0}, {4, 1}}
local y2 = tensor{{1.5, 0}, {2, 1}, {2, 0}, {5, 1}}
local rc = train.evaluate{model = identity(2), data = {x = x2, y = y2}, metrics = {"r2", "mae"}}
close(rc.r2, ((1 - 2.25 / 7.6875) + 1) / 2, "R^2 averaged over columns")
close(rc.mae, 2.5 / 8, "MAE over all elements")

-- train.fit logs them, on the training and the validation data, and callbacks watch them.
tensor.seed(4)
local clouds = data.gaussians{count = 120, separation = 3, stddev = 0.6, seed = 2}
local tr, va = clouds:split(0.75, {seed = 1})
local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 2)}
local stop = train.early_stopping{monitor = "val_f1", patience = 100}
assert(stop.mode == "max", "F1 improves upwards")
assert(train.early_stopping{monitor = "val_rmse"}.mode == "min", "RMSE improves downwards")
local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 0.05}),
                          data = tr, validation = va, epochs = 5, verbose = 0, callbacks = {stop},
                          metrics = {"accuracy", "f1", "precision", "top1_accuracy"}}
assert(#history.f1 == 5 and #history.val_f1 == 5 and #history.val_precision == 5, "logged every epoch")
close(history.top1_accuracy[5], history.accuracy[5], "top-1 accuracy is accuracy")
local again = train.evaluate{model = model, data = va, metrics = {"f1"}}
close(again.f1, history.val_f1[5], "val_f1 is train.evaluate's f1")
assert(history.val_f1[5] > 0.8, "the clouds are separable: val F1 " .. history.val_f1[5])

-- An interrupted epoch resumed from its checkpoint ends with the metrics
-- of the uninterrupted run: their running sums are part of the position.
do
  local function run(resume, stop_at)
    tensor.seed(4)
    local points = data.gaussians{count = 60, separation = 1, stddev = 1, seed = 2}
    local m = nn.Sequential{nn.Dense(2, 3)}
    local callbacks = {train.checkpoint{path = "metrics_interrupted.nrt"}}
    if stop_at then
      callbacks[2] = {on_batch_end = function(_, _, f) if f.step == stop_at then f.interrupted = true end end}
    end
    return train.fit{model = m, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(m, {lr = 0.1}), data = points,
                     epochs = 3, batch_size = 8, verbose = 0, resume = resume, callbacks = callbacks,
                     metrics = {"accuracy", "f1", "top2_accuracy",
                                train.metric("mean_score", function(p) return p:mean() end)}}
  end
  os.remove("metrics_interrupted.nrt")
  local whole = run()
  os.remove("metrics_interrupted.nrt")
  local ok, err = pcall(run, nil, 12) -- inside epoch 2 (8 batches an epoch)
  assert(not ok and err:find("interrupted in epoch 2 at step 12", 1, true), err)
  local resumed = run("metrics_interrupted.nrt")
  os.remove("metrics_interrupted.nrt")
  for e = 1, 3 do
    for _, key in ipairs{"f1", "top2_accuracy", "mean_score"} do
      close(resumed[key][e], whole[key][e], key .. " of epoch " .. e .. " after resuming")
    end
  end
end

-- Errors at the script's line.
local function fails(f, text)
  local ok, err = pcall(f)
  assert(not ok and err:find(text, 1, true), "expected '" .. text .. "' in: " .. tostring(err))
  assert(err:find("metrics.lua:%d+:"), "the error names the script's line: " .. err)
end
fails(function() train.evaluate{model = identity(3), data = {x = scores, y = truth}, metrics = {"f2"}} end,
      "unknown metric 'f2' (did you mean 'f1'?)")
fails(function() train.evaluate{model = identity(3), data = {x = scores, y = truth}, metrics = {function() end}} end,
      "a function as a metric needs a name: train.metric(\"name\", fn)")
fails(function()
  train.evaluate{model = identity(3), data = {x = scores, y = truth},
                 metrics = {train.metric("bad", function() return "x" end)}}
end, "metric 'bad' returned a string, not a number")
fails(function() train.metric("m") end, "the second argument must be a function(pred, y) returning a number")
print("metrics ok")
