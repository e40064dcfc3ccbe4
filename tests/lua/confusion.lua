-- train.confusion: counts of (true class, predicted class), checked on a
-- model whose predictions are known, on one-hot targets, and on bad labels.
local model = nn.Sequential{nn.Dense{inputs = 3, outputs = 3, bias = false}}
model[1].weight:copy{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} -- predicts the largest input
-- Truth 1, 1, 2, 2, 3, 3, 3; predictions 1, 2, 2, 2, 3, 1, 3.
local x = tensor{{5, 0, 0}, {0, 5, 0}, {0, 5, 0}, {0, 5, 0}, {0, 0, 5}, {5, 0, 0}, {0, 0, 5}}
local y = tensor{1, 1, 2, 2, 3, 3, 3}
local c = train.confusion{model = model, data = {x = x, y = y}, batch_size = 3}
local expected = {{1, 1, 0}, {0, 2, 0}, {1, 0, 2}}
for t = 1, 3 do
  for g = 1, 3 do
    assert(c.matrix:get(t, g) == expected[t][g], string.format("C[%d][%d] = %g", t, g, c.matrix:get(t, g)))
  end
end
assert(c.samples == 7 and math.abs(c.accuracy - 5 / 7) < 1e-12, "accuracy 5/7")
assert(math.abs(c.recall[1] - 0.5) < 1e-12 and c.recall[2] == 1 and math.abs(c.recall[3] - 2 / 3) < 1e-12)
assert(math.abs(c.precision[1] - 0.5) < 1e-12 and math.abs(c.precision[2] - 2 / 3) < 1e-12 and c.precision[3] == 1)
print(train.confusion_text(c, {"pig", "dog", "cat"}))
assert(train.confusion_text(c, {"pig", "dog", "cat"}):find("cat      1     0     2  recall 0.667", 1, true))

-- One-hot targets give the same matrix; so does a dataset's own labels.
local one_hot = tensor.zeros{7, 3}
for i = 1, 7 do one_hot:set(i, y:get(i), 1) end
assert(train.confusion{model = model, data = {x = x, y = one_hot}}.matrix:equal(c.matrix))
assert(model:is_training(), "the model is back in training mode")

local ok, err = pcall(train.confusion, {model = model, data = {x = x, y = tensor{1, 1, 2, 2, 3, 3, 4}}})
assert(not ok and err:find("sample 7 has class 4.0, outside 1..3", 1, true), err)
assert(model:is_training(), "training mode is restored after an error too")
local regression = nn.Sequential{nn.Dense(3, 1)}
ok, err = pcall(train.confusion, {model = regression, data = {x = x, y = y}})
assert(not ok and err:find("one score per class, got outputs of shape [7, 1]", 1, true), err)
ok, err = pcall(train.confusion, {model = model, data = {x = x, y = y}, classes = 2})
assert(not ok and err:find("classes = 2, but the model gives 3 scores a sample", 1, true), err)
print("confusion ok")
