-- The data module: generators, splits, batches, normalization, 1-based
-- labels, and training on a dataset through train.fit.
local xor = data.gates("xor")
assert(#xor == 4 and xor.kind == "classes" and #xor.classes == 2)
local x, y = xor:get(4)
assert(x:get(1) == 1 and x:get(2) == 1 and y == 1, "XOR(1, 1) is class 1 of {0, 1}")
local _, y2 = xor:get(2)
assert(y2 == 2, "XOR(1, 0) is the second class")
local ok, err = pcall(xor.get, xor, 5)
assert(not ok and err:find("index 5 is out of range for a dataset of 4 samples", 1, true), err)

-- Batches: every sample once per epoch, the last batch partial, labels 1-based.
local g = data.gaussians{count = 100, seed = 3}
local seen, batches = 0, 0
for xb, yb in g:batches{size = 32, seed = 1} do
  batches = batches + 1
  seen = seen + #xb
  assert(xb:shape()[2] == 2 and yb:min() >= 1 and yb:max() <= 2)
end
assert(seen == 100 and batches == 4, "100 samples in 4 batches")
local dropped = 0
for xb in g:batches{size = 32, drop_last = true} do dropped = dropped + #xb end
assert(dropped == 96)
-- The same seed gives the same order.
local function first(seed) for xb in g:batches{size = 8, seed = seed} do return xb:clone() end end
assert(first(5):equal(first(5)) and not first(5):equal(first(6)))
-- Breaking out of the loop closes the iterator (its thread) at once.
for _ in g:batches{size = 10} do break end

-- Splits keep the classes balanced; normalization statistics come from train.
local train_part, rest = g:split(0.8, {seed = 2})
assert(#train_part == 80 and #rest == 20)
assert(train_part.class_counts[1] == 40 and train_part.class_counts[2] == 40)
local a, b, c = g:split{train = 0.6, validation = 0.2, test = 0.2, seed = 2}
assert(#a == 60 and #b == 20 and #c == 20)
local norm = train_part:normalize()
local xs = norm:inputs()
assert(math.abs(xs:mean()) < 1e-5, "standardized training inputs have mean 0")
local rest_norm = rest:normalize(norm)
assert(tostring(rest_norm):find("standardize", 1, true), "validation data gets the training transform")
assert(norm:targets():min() == 1, "targets() are 1-based classes")

-- Train on a dataset: two Gaussian clouds are separable.
local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 2)}
local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 0.05}),
                          data = norm, validation = rest_norm, epochs = 30, batch_size = 16,
                          metrics = {"accuracy"}, verbose = 0}
assert(history.val_accuracy[#history.val_accuracy] >= 0.9,
       "separable clouds: " .. history.val_accuracy[#history.val_accuracy])

-- Regression data and the other generators.
local sine = data.sine{count = 50, evenly_spaced = true}
assert(sine.kind == "values" and #sine == 50)
assert(#data.moons{count = 40} == 40 and #data.spirals{count = 30, arms = 3} == 30 and #data.xor{count = 40} == 40)
local onehot = xor:with_targets("one_hot")
local _, t = onehot:get(1)
assert(t:numel() == 2, "one-hot targets")
local dt = data.tensors(tensor{{1, 2}, {3, 4}, {5, 6}}, tensor{1, 2, 1})
assert(#dt == 3 and dt.class_counts[1] == 2)
ok, err = pcall(data.csv, "no-such-file.csv")
assert(not ok and err:find("no-such-file.csv", 1, true), err)
print("datasets ok")
