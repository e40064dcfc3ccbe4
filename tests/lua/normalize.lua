-- nn.Normalize: statistics given or measured on the training split, applied
-- as (x - mean) / std, kept as buffers (not trained, not in the optimizer),
-- and saved with the model so that a loaded model preprocesses by itself.

local function near(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: %.8g, expected %.8g", what, a, b))
end

-- Given statistics.
local n = nn.Normalize{mean = {1, -2}, std = {2, 0.5}}
assert(n:type() == "Normalize" and n:parameter_count() == 0, "no trained parameters")
local out = n:forward(tensor{{3, -2}, {1, -1}})
assert(out:equal(tensor{{1, 0}, {0, 2}}), "(x - mean) / std: " .. tostring(out))
local g = n:backward(tensor{{3, -2}, {1, -1}}, tensor{{1, 1}, {2, 4}})
assert(g:equal(tensor{{0.5, 2}, {1, 8}}), "the input gradient is the output gradient / std: " .. tostring(g))
assert(nn.Normalize{mean = 3, features = 2}:forward(tensor{{3, 4}}):equal(tensor{{0, 1}}), "one mean for all")

-- Measured on data: column 1 has mean 2 and population std sqrt(2/3)*... by hand below.
local x = tensor{{1, 5, 7}, {2, 5, 8}, {3, 5, 12}}
local m = nn.Normalize{data = x}
near(m.mean:get(1), 2, 1e-6, "mean of column 1")
near(m.mean:get(3), 9, 1e-6, "mean of column 3")
near(m.std:get(1), math.sqrt(2 / 3), 1e-6, "population std of column 1")
near(m.std:get(3), math.sqrt(14 / 3), 1e-5, "population std of column 3")
assert(m.std:get(2) == 1, "a constant column is only centred (std 1)")
local z = m:forward(x)
near(z:select(2, 1):mean(), 0, 1e-6, "normalized column 1 has mean 0")
near((z:select(2, 3) * z:select(2, 3)):mean(), 1, 1e-5, "and variance 1")
-- A dataset and {x = ...} give the same statistics, batch by batch (1024 a batch).
local big = tensor.randn{2500, 3} * tensor{1, 10, 0.1} + tensor{5, -3, 0}
local from_tensor = nn.Normalize{data = big}
local from_table = nn.Normalize{data = {x = big, y = tensor.zeros{2500, 1}}}
local ds = data.tensors(big, tensor.zeros{2500, 1})
local from_ds = nn.Normalize{data = ds}
for j = 1, 3 do
  local col = big:select(2, j)
  local mean = col:mean()
  local sd = math.sqrt(((col - mean) * (col - mean)):mean())
  near(from_tensor.mean:get(j), mean, 1e-4 * (1 + math.abs(mean)), "mean " .. j)
  near(from_tensor.std:get(j), sd, 1e-4 * sd, "std " .. j)
  near(from_table.std:get(j), from_tensor.std:get(j), 1e-6, "{x =} as the tensor")
  near(from_ds.std:get(j), from_tensor.std:get(j), 1e-6, "a dataset as the tensor")
end

-- In a model: the optimizer leaves the statistics alone; they are saved and loaded.
tensor.seed(5)
local model = nn.Sequential{nn.Normalize{data = big}, nn.Dense(3, 1)}
local mean_before = model[1].mean:clone()
local opt = optim.Adam(model, {lr = 0.1, weight_decay = 0.1})
local target = big:select(2, 2):reshape{2500, 1}
train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = {x = big, y = target}, epochs = 3,
          batch_size = 250, verbose = 0}
assert(model[1].mean:equal(mean_before), "training does not move the statistics")
local expected = model:forward(big)
model:save("normalize.nrt", {optimizer = opt})
local loaded = nn.load("normalize.nrt")
assert(loaded[1]:type() == "Normalize", "the loaded model starts with its Normalize layer")
assert(loaded[1].mean:equal(model[1].mean) and loaded[1].std:equal(model[1].std), "the statistics round-trip")
assert(loaded:forward(big):equal(expected), "the loaded model applies its own preprocessing")
-- Into a model built afresh (identity statistics) by m:load.
local fresh = nn.Sequential{nn.Normalize{features = 3}, nn.Dense(3, 1)}
assert(fresh[1].std:equal(tensor.ones{3}), "a new Normalize is the identity")
fresh:load("normalize.nrt")
assert(fresh:forward(big):equal(expected), "m:load brings the statistics")
os.remove("normalize.nrt")

-- Backpropagation through it, checked numerically (its statistics are not parameters).
tensor.seed(6)
local sandwich = nn.Sequential{nn.Dense(3, 4, {activation = "tanh"}), nn.Normalize{mean = {0.1, 0, -0.2, 0.3},
                                                                                    std = {0.5, 2, 1, 0.25}},
                               nn.Dense(4, 2)}
local check = train.gradient_check{model = sandwich, loss = nn.MSELoss(),
                                   data = {x = tensor.randn{16, 3}, y = tensor.randn{16, 2}}}
assert(check.max_relative_error < 1e-2, "gradients through Normalize: " .. check.worst)
assert(check.checked == 12 + 4 + 8 + 2, "the buffers are not checked: " .. check.checked)

-- Per channel, as torchvision: images [batch, 2, 2, 2], channel 1 holds 0..7, channel 2 is 3 everywhere.
local images = tensor.zeros{2, 2, 2, 2}
for i = 1, 2 do
  for r = 1, 2 do
    for c = 1, 2 do
      images:set(i, 1, r, c, (i - 1) * 4 + (r - 1) * 2 + (c - 1))
      images:set(i, 2, r, c, 3)
    end
  end
end
local pc = nn.Normalize{data = images, per_channel = true}
assert(pc.mean:numel() == 2, "one mean a channel")
near(pc.mean:get(1), 3.5, 1e-6, "channel 1 mean of 0..7")
near(pc.std:get(1), math.sqrt(5.25), 1e-6, "channel 1 population std of 0..7") -- variance (8² - 1) / 12
near(pc.mean:get(2), 3, 1e-6, "channel 2 mean")
assert(pc.std:get(2) == 1, "constant channel: std 1")
local normalized = pc:forward(images)
near(normalized:get(2, 1, 2, 2), (7 - 3.5) / math.sqrt(5.25), 1e-5, "per-channel normalisation of one pixel")
assert(normalized:select(2, 2):abs():max() == 0, "channel 2 centred to 0")
local given = nn.Normalize{mean = {1, 2}, std = {2, 4}}
assert(given:forward(tensor{{{{3}}, {{6}}}}):equal(tensor{{{{1}}, {{1}}}}), "given per-channel statistics")
local grad = given:backward(tensor{{{{3}}, {{6}}}}, tensor{{{{2}}, {{2}}}})
assert(grad:equal(tensor{{{{1}}, {{0.5}}}}), "per-channel input gradient")

-- Errors.
local function fails(f, text)
  local ok, err = pcall(f)
  assert(not ok and err:find(text, 1, true), "expected '" .. text .. "' in: " .. tostring(err))
end
fails(function() nn.Normalize{mean = {1, 2}, std = {1, 0}} end, "nn.Normalize: every std must be positive")
fails(function() nn.Normalize{mean = {1, 2}, std = {1, 2, 3}} end, "std has 3 values for 2 features")
fails(function() nn.Normalize{data = x, mean = {1}} end, "give data (to measure mean and std) or mean and std, not both")
fails(function() nn.Normalize{} end, "give mean and std, data to measure them on, or features")
fails(function() nn.Normalize{men = {1}} end, "unknown option 'men' (did you mean 'mean'?)")
fails(function() nn.Normalize{mean = {1, 2}}:forward(tensor{{1, 2, 3}}) end,
      "Normalize: expects input {batch, ...} with 2 features a sample, or {batch, 2, ...} (per channel), got [1, 3]")
fails(function() nn.Normalize{data = x, per_channel = true} end,
      "nn.Normalize: per_channel needs samples of two or more dimensions ({batch, channels, ...}), got [3, 3]")
fails(function() nn.Normalize{data = tensor.zeros{0, 3}} end, "the data has no samples to measure")
print("normalize ok")
