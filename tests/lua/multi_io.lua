-- train.fit, evaluate, predict and the diagnostics with models of several
-- inputs and outputs: the data as lists of tensors and datasets shuffled
-- together, one loss per output with loss_weights, the per-output logs
-- (loss_<k>, accuracy_<k>), and the errors at the script's line.

-- 120 samples: a class from x1 and a value from x2, so each head needs its input.
local function make_data()
  tensor.seed(5)
  local x1, x2 = tensor.randn{120, 4}, tensor.randn{120, 3}
  return {x1 = x1, x2 = x2, class = x1:sum(2):gt(0):reshape{120} + 1, value = x2:sum(2):reshape{120, 1} * 0.5}
end

-- Two inputs joined, two heads: classes (CrossEntropyLoss) and a value (MSELoss).
local function two_headed(seed)
  tensor.seed(seed)
  local a, b = nn.Input{4}, nn.Input{3}
  local h = nn.Concat{axis = 2}(nn.Dense{inputs = 4, outputs = 6, activation = "tanh"}(a),
                                nn.Dense{inputs = 3, outputs = 6, activation = "tanh"}(b))
  local classes = nn.Dense{inputs = 12, outputs = 2}(h)
  local value = nn.Dense{inputs = 12, outputs = 1}(h)
  return nn.Model{inputs = {a, b}, outputs = {classes, value}}
end

local function close(a, b, what)
  assert(math.abs(a - b) <= 1e-12 * math.max(1, math.abs(a)), string.format("%s: %.17g against %.17g", what, a, b))
end

local d = make_data()
local xy = {x = {d.x1, d.x2}, y = {d.class, d.value}}
local losses = {nn.CrossEntropyLoss(), nn.MSELoss()}

-- Two inputs, two outputs: both losses fall; the logs are named per output;
-- the total is the weighted sum; validation gets the same keys.
local model = two_headed(1)
local history = train.fit{model = model, loss = losses, loss_weights = {1, 0.5}, data = xy, validation = xy,
                          optimizer = optim.Adam(model, {lr = 0.02}), epochs = 8, batch_size = 16,
                          metrics = {"accuracy"}, verbose = 0}
for _, key in ipairs{"loss", "loss_1", "loss_2", "accuracy_1", "val_loss", "val_loss_1", "val_loss_2",
                     "val_accuracy_1", "lr", "samples_per_s"} do
  assert(#history[key] == 8, key .. " is logged every epoch: " .. #(history[key] or {}))
end
assert(history.accuracy_2 == nil and history.val_accuracy_2 == nil, "no accuracy for the regression head")
assert(#history.accuracy == 0, "no plain accuracy for several outputs")
for e = 1, 8 do
  close(history.loss[e], history.loss_1[e] + 0.5 * history.loss_2[e], "epoch " .. e .. " total")
  close(history.val_loss[e], history.val_loss_1[e] + 0.5 * history.val_loss_2[e], "epoch " .. e .. " val total")
end
for _, fall in ipairs{{"loss_1", 0.6}, {"loss_2", 0.3}} do
  local curve = history[fall[1]]
  assert(curve[8] < fall[2] * curve[1], string.format("%s falls: %.4f -> %.4f", fall[1], curve[1], curve[8]))
end
assert(history.accuracy_1[8] > 0.85, "the class head learns: " .. history.accuracy_1[8])

-- evaluate: each output's loss, and the total under the weights given.
local function evaluate(weights, metrics)
  return train.evaluate{model = model, data = xy, loss = losses, loss_weights = weights, metrics = metrics}
end
local plain, weighted = evaluate(nil), evaluate({2, 3})
close(plain.loss, plain.loss_1 + plain.loss_2, "weights default to 1")
close(weighted.loss, 2 * plain.loss_1 + 3 * plain.loss_2, "weighted total")
assert(weighted.loss_1 == plain.loss_1 and weighted.loss_2 == plain.loss_2, "the weights leave each output's loss")
assert(plain.samples == 120 and plain.accuracy_1 and not plain.accuracy_2, "accuracy by default for the class head")
local per_output = evaluate(nil, {{}, {"accuracy"}})
assert(per_output.accuracy_1 == nil and per_output.accuracy_2, "metrics per output")
close(plain.loss_2, losses[2]:forward(train.predict(model, {d.x1, d.x2})[2], d.value), "loss_2 is the MSE")

-- predict: a table of outputs, in the order of `outputs`.
local pred = train.predict(model, {d.x1, d.x2})
assert(#pred == 2 and pred[1]:size(2) == 2 and pred[2]:size(2) == 1 and #pred[1] == 120, "two outputs")
assert(model:is_training(), "predict restores the mode")

-- A zero weight: that head gets no gradient, so its weights stay put; the
-- other head's do not.
local frozen = two_headed(2)
local head2_before, head1_before = frozen[5].weight:clone(), frozen[4].weight:clone()
train.fit{model = frozen, loss = losses, loss_weights = {1, 0}, data = xy, optimizer = optim.SGD(frozen, {lr = 0.1}),
          epochs = 2, batch_size = 16, verbose = 0}
assert(frozen[5].weight:equal(head2_before), "loss_weights = {1, 0}: the value head is not trained")
assert(not frozen[4].weight:equal(head1_before), "the class head is")

-- The gradients of the weighted sum are right (numeric differentiation).
local check = train.gradient_check{model = two_headed(3), loss = losses, loss_weights = {1, 0.5},
                                   data = {x = {d.x1:narrow(1, 1, 20), d.x2:narrow(1, 1, 20)},
                                           y = {d.class:narrow(1, 1, 20), d.value:narrow(1, 1, 20)}}}
assert(check.max_relative_error < 1e-2, check.worst)

-- One input, two outputs, the data a dataset: {x = ds, y = {ds, tensor}}
-- batches the dataset through its own iterator in the order of one
-- shuffle, so it trains exactly as the same data given as tensors.
local moons = data.moons{count = 90, noise = 0.1, seed = 4}
local radius = moons:inputs():pow(2):sum(2):reshape{90, 1}
local function one_in_two_out(source, drop_last)
  tensor.seed(8)
  local x = nn.Input{2}
  local h = nn.Dense{inputs = 2, outputs = 8, activation = "tanh"}(x)
  local m = nn.Model{inputs = x, outputs = {nn.Dense{inputs = 8, outputs = 2}(h), nn.Dense{inputs = 8, outputs = 1}(h)}}
  tensor.seed(9)
  local hist = train.fit{model = m, loss = losses, data = source, optimizer = optim.Adam(m, {lr = 0.02}), epochs = 4,
                         batch_size = 16, drop_last = drop_last, metrics = {{"accuracy"}, {}}, verbose = 0}
  return hist, m
end
for _, drop_last in ipairs{false, true} do
  local from_dataset, m1 = one_in_two_out({x = moons, y = {moons, radius}}, drop_last)
  local from_tensors, m2 = one_in_two_out({x = moons:inputs(), y = {moons:targets(), radius}}, drop_last)
  for _, key in ipairs{"loss", "loss_1", "loss_2", "accuracy_1"} do
    for e = 1, 4 do
      assert(from_dataset[key][e] == from_tensors[key][e],
             string.format("drop_last %s, epoch %d %s: dataset %.17g, tensors %.17g", tostring(drop_last), e, key,
                           from_dataset[key][e], from_tensors[key][e]))
    end
  end
  local p1, p2 = m1:forward(moons:inputs()), m2:forward(moons:inputs())
  assert(p1[1]:equal(p2[1]) and p1[2]:equal(p2[2]), "the same weights")
end
assert(one_in_two_out({x = moons, y = {moons, radius}}).loss_2[1] > 0, "trains")

-- train.batches: every part in one order, and a dataset's rows with them.
tensor.seed(3)
local ids = tensor.linspace(1, 90, 90):reshape{90, 1}
local seen = {}
for x, y in train.batches({x = {moons, ids}, y = {ids, moons}}, 32, true, false) do
  assert(x[2]:equal(y[1]), "the tensors get the same rows")
  for i = 1, #x[2] do
    local row = math.tointeger(x[2]:get(i, 1))
    assert(x[1]:narrow(1, i, 1):equal(moons:inputs():narrow(1, row, 1)), "the dataset's row " .. row .. " with its id")
    assert(y[2]:get(i) == moons:targets():get(row), "its target too")
    seen[row] = true
  end
end
for row = 1, 90 do assert(seen[row], "row " .. row .. " is visited") end

-- confusion of one head of several.
local c = train.confusion{model = model, data = xy, output = 1}
assert(c.samples == 120 and math.abs(c.accuracy - plain.accuracy_1) < 1e-12, "the class head's confusion")

-- A single-output model keeps its logs: loss and accuracy, no loss_1.
tensor.seed(1)
local mlp = nn.Sequential{nn.Dense(4, 2)}
local single = train.fit{model = mlp, loss = nn.CrossEntropyLoss(), data = {x = d.x1, y = d.class},
                         optimizer = optim.SGD(mlp, {lr = 0.1}), epochs = 2, metrics = {"accuracy"}, verbose = 0}
assert(#single.accuracy == 2 and single.loss_1 == nil and single.accuracy_1 == nil, "single output: plain keys")

-- Errors name the script's line (fails: the line of the call; fails_next: the one below).
local function check_error(line, fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  err = tostring(err)
  assert(err:find("multi_io.lua:" .. line .. ": ", 1, true), "at the script's line " .. line .. ": " .. err)
  for _, text in ipairs{...} do assert(err:find(text, 1, true), "expected '" .. text .. "' in: " .. err) end
end
local function fails(fn, ...) check_error(debug.getinfo(2, "l").currentline, fn, ...) end
local function fails_next(fn, ...) check_error(debug.getinfo(2, "l").currentline + 1, fn, ...) end
local function fit_with(extra)
  local m = two_headed(1)
  local o = {model = m, loss = losses, data = xy, optimizer = optim.SGD(m, {lr = 0.1}), epochs = 1, verbose = 0}
  for k, v in pairs(extra) do o[k] = v end
  return o
end

fails(function() train.fit(fit_with{data = {x = {d.x1, d.x2:narrow(1, 1, 119)}, y = {d.class, d.value}}}) end,
      "train: data.x[2] has 119 rows but data.x[1] has 120")
fails(function() train.fit(fit_with{data = {x = {d.x1, d.x2}, y = {d.class, d.value:narrow(1, 1, 100)}}}) end,
      "train: data.y[2] has 100 rows but data.x[1] has 120")
fails(function() train.fit(fit_with{loss = nn.CrossEntropyLoss(), data = {x = {d.x1, d.x2}, y = d.class}}) end,
      "train.fit: the model has 2 outputs and 1 loss; give one loss per output")
fails(function() train.fit(fit_with{loss = {nn.CrossEntropyLoss(), nn.MSELoss(), nn.MSELoss()},
                                    data = {x = {d.x1, d.x2}, y = {d.class, d.value, d.value}}}) end,
      "train.fit: the model has 2 outputs and 3 losses")
fails(function() train.fit(fit_with{loss_weights = {1}}) end,
      "train.fit: loss_weights has 1 number for 2 losses; give one weight per loss")
fails(function() train.fit(fit_with{loss_weights = {1, "half"}}) end, "train.fit: loss_weights[2] must be a number")
fails(function() train.fit(fit_with{data = {x = {d.x1, d.x2}, y = d.class}}) end,
      "train.fit: data.y has 1 target for 2 losses")
fails(function() train.fit(fit_with{validation = {x = {d.x1, d.x2}, y = {d.class}}}) end,
      "train.fit: validation.y has 1 target for 2 losses")
fails(function() train.fit(fit_with{loss = {nn.CrossEntropyLoss(), 3}}) end,
      "train.fit: loss[2] is a number, expected a loss")
fails(function() train.fit(fit_with{metrics = {{"accuracy"}}}) end, "train.fit: metrics has 1 list for 2 outputs")
fails(function() train.fit(fit_with{metrics = {{"acuracy"}, {}}}) end, "did you mean 'accuracy'?")
fails(function() train.fit(fit_with{data = {x = {d.x1}, y = {d.class, d.value}}}) end,
      "Model: forward takes 2 inputs, got 1")
fails(function() train.fit(fit_with{data = {x = {d.x1, d.x2}, y = {d.class, moons}}}) end,
      "train: data.y[2] has 90 rows but data.x[1] has 120")
-- A target that does not fit its loss: the message says which output.
fails_next(function()
  train.fit(fit_with{data = {x = {d.x1, d.x2}, y = {d.class, data.tensors(d.x1, d.x1)}}})
end, "output 2: MSELoss: target [32, 4] does not fit the prediction [32, 1]")
fails(function() train.fit(fit_with{loss = {nn.MSELoss(), nn.MSELoss()}, metrics = {"accuracy"},
                                    data = {x = {d.x1, d.x2}, y = {d.value, d.value}}}) end,
      "train.fit: metrics = {\"accuracy\"} applies to the outputs of class data")
fails(function() train.evaluate{model = model, data = {x = {d.x1, d.x2}, y = d.class}} end,
      "train.evaluate: the model has 2 outputs but the data gives 1 target")
assert(model:is_training(), "a failed evaluate leaves the model's mode as it was")
fails(function() train.gradient_check{model = model, loss = {nn.CrossEntropyLoss(), 3}, data = xy} end,
      "train.gradient_check: loss[2] is a number, expected a loss")
fails(function() train.combined_loss(losses, {1, 2, 3}) end,
      "train.combined_loss: loss_weights has 3 numbers for 2 losses")
fails(function() train.confusion{model = mlp, data = {x = d.x1, y = d.class}, output = 2} end,
      "train.confusion: output = 2, but the model has one output")
fails(function() train.confusion{model = model, data = xy} end,
      "train.confusion: the model has 2 outputs; say which with output = 1..2")
print("multi io ok")
