-- Mixed precision (issue 18): model:set_precision("bf16") and
-- train.fit{precision = "bf16"}. Layers with a bf16 path compute in bf16
-- close to f32, the master weights stay f32, a checkpoint saved under bf16
-- loads and runs in f32, and a small model converges as in f32.
-- Skipped (exit 77) on a CPU without bf16 kernels; bf16_refusal.lua tests
-- the refusal there.
local kernels = nn.bf16_kernels()
if not kernels.supported then
  print("bf16.lua: skipped, no bf16 kernels: " .. kernels.missing)
  os.exit(77)
end
assert(kernels.name == "AMX" or kernels.name == "AVX512-BF16", kernels.name)

-- max |a - b| / max |a|: bf16 keeps 8 bits of mantissa (relative 2^-9 per
-- rounding), and sums in f32, so 1e-2 of the tensor's scale holds.
local function relative_error(a, b)
  local scale = a:abs():max()
  if scale == 0 then return (b:abs():max()) end
  return (a - b):abs():max() / scale
end

local function close(a, b, what)
  local err = relative_error(a, b)
  assert(err <= 1e-2, string.format("%s: bf16 is %.3g from f32 (relative), more than 1e-2", what, err))
  return err
end

-- True when x needs more than bf16's 8 bits of mantissa (its low 16 bits are not 0).
local function beyond_bf16(x)
  return string.unpack("<I4", string.pack("<f", x)) & 0xffff ~= 0
end

-- ---------------------------------------------------------------- closeness
-- Forward, input gradient and parameter gradients of each layer, f32 against
-- bf16 on random inputs, in the same model switched between precisions.
local function compare(name, layers, inputs)
  local model = nn.Sequential(type(layers) == "table" and layers or {layers})
  local x = tensor.randn(type(inputs) == "table" and inputs or {32, inputs})
  assert(model:precision() == "f32")
  local function run()
    model:zero_grad()
    local y = model:forward(x):clone()
    local g = tensor.randn(y:shape())
    local dx = model:backward(x, g, true):clone()
    local grads = {}
    for i, p in ipairs(model:parameters()) do grads[i] = p.grad:clone() end
    return y, dx, grads
  end
  tensor.seed(7)
  local y32, dx32, g32 = run()
  model:set_precision("bf16")
  assert(model:precision() == "bf16")
  tensor.seed(7)
  local y16, dx16, g16 = run()
  local err = close(y32, y16, name .. " forward")
  close(dx32, dx16, name .. " input gradient")
  for i = 1, #g32 do close(g32[i], g16[i], name .. " parameter gradient " .. i) end
  model:set_precision("f32")
  return err
end

local dense_error = 0
for _, act in ipairs{"identity", "relu", "sigmoid", "tanh", "elu", "softplus", "gelu", "swish"} do
  local err = compare("Dense " .. act, nn.Dense{inputs = 96, outputs = 40, activation = act}, 96)
  dense_error = math.max(dense_error, err)
end
-- Not f32 in disguise: bf16 rounding shows in the outputs.
assert(dense_error > 1e-5, "bf16 Dense matches f32 to " .. dense_error .. ": is it computing in bf16?")
for _, name in ipairs{"Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "SoftPlus", "GELU", "Swish"} do
  compare(name, nn[name](), 50)
end
-- Softmax stays f32 (converted at its boundary) and still agrees.
compare("Softmax", nn.Softmax(), 50)
-- A small CNN: Conv2D (precision "auto" multiplies bf16 copies, "f32" does
-- not) and pools in f32 blocked layouts, then bf16 Dense and ReLU. Average
-- pools: a max pool routes its gradient to the largest input, which
-- rounding may change, so gradients through it are not close everywhere.
compare("CNN", {nn.Conv2D{inputs = 1, outputs = 8, activation = "tanh", precision = "f32"}, nn.AvgPool2D(),
                nn.Conv2D{inputs = 8, outputs = 16, activation = "tanh"}, nn.AvgPool2D(),
                nn.Dense{inputs = 16 * 5 * 5, outputs = 32}, nn.ReLU(), nn.Dense{inputs = 32, outputs = 10}},
        {8, 1, 28, 28})

-- ---------------------------------------------------------------- master weights
local model = nn.Sequential{nn.Dense{inputs = 20, outputs = 16, activation = "relu"},
                            nn.Dense{inputs = 16, outputs = 3}}
model:set_precision("bf16")
local opt = optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
local x = tensor.randn{64, 20}
local y = tensor.zeros{64}
for i = 1, 64 do y:set(i, (i % 3) + 1) end
local loss = nn.CrossEntropyLoss()
for _ = 1, 20 do
  opt:zero_grad()
  local pred = model:forward(x)
  loss:forward(pred, y)
  model:backward(x, loss:backward(pred, y), false)
  opt:step()
end
local w = model:parameters()[1]
local fine = 0
local flat = w:reshape{w:numel()}
for i = 1, flat:numel() do
  if beyond_bf16(flat:get(i)) then fine = fine + 1 end
end
assert(fine > flat:numel() / 2, string.format("only %d of %d weights hold more than bf16's precision: the master "
                                              .. "weights must stay f32", fine, flat:numel()))

-- ---------------------------------------------------------------- checkpoints
model:save("bf16_model.nrt")
local loaded = nn.load("bf16_model.nrt")
assert(loaded:precision() == "f32", "a loaded model starts in f32, got " .. loaded:precision())
local p_saved, p_loaded = model:parameters(), loaded:parameters()
for i = 1, #p_saved do
  assert((p_saved[i] - p_loaded[i]):abs():max() == 0, "parameter " .. i .. " is saved as its f32 master value")
end
local bf16_out = model:forward(x):clone()
model:set_precision("f32")
local f32_out = model:forward(x):clone()
local loaded_out = loaded:forward(x)
assert((loaded_out - f32_out):abs():max() == 0, "the loaded model runs in f32 as the original does")
close(f32_out, bf16_out, "the bf16 model against its own f32 run")

-- ---------------------------------------------------------------- convergence
-- Three Gaussian blobs in 10 dimensions; the same seed and epochs in both.
local function blobs(n, seed)
  tensor.seed(seed)
  local data = tensor.randn{n, 10}
  local labels = tensor.zeros{n}
  for i = 1, n do
    local c = (i % 3) + 1
    labels:set(i, c)
    data:set(i, c, data:get(i, c) + 2.5)
  end
  return data, labels
end
local train_x, train_y = blobs(600, 1)
local test_x, test_y = blobs(300, 2)
local function fit(precision)
  tensor.seed(3)
  local m = nn.Sequential{nn.Dense{inputs = 10, outputs = 32, activation = "relu"},
                          nn.Dense{inputs = 32, outputs = 3}}
  local history = train.fit{model = m, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(m, {lr = 0.01}),
                            data = {x = train_x, y = train_y}, epochs = 15, batch_size = 32, verbose = 0,
                            precision = precision}
  assert(m:precision() == precision)
  return train.correct(train.predict(m, test_x), test_y) / 300, history.loss[#history.loss]
end
local acc32, loss32 = fit("f32")
local acc16, loss16 = fit("bf16")
print(string.format("bf16.lua: blobs test accuracy f32 %.4f, bf16 %.4f; last loss %.4f, %.4f",
                    acc32, acc16, loss32, loss16))
assert(acc32 > 0.85, "f32 learns the blobs: " .. acc32)
assert(math.abs(acc16 - acc32) <= 0.03, string.format("bf16 %.4f and f32 %.4f differ by more than 3 points", acc16, acc32))

-- ---------------------------------------------------------------- NaN and Inf in the input
-- A bf16 model finds them while it rounds its input to bf16, before any
-- layer runs, and says where as an f32 model does; 3 x 45 values put them
-- in the 32-wide body and in the tail of that pass.
local checked = nn.Sequential{nn.Dense{inputs = 45, outputs = 8, activation = "relu"}, nn.Dense{inputs = 8, outputs = 2}}
checked:set_precision("bf16")
local bad_x = tensor.randn{3, 45}
bad_x:set(1, 7, 0/0)
local ok, err = pcall(checked.forward, checked, bad_x)
assert(not ok and err:find("input [3, 45] holds NaN at sample 1, feature 7;", 1, true), tostring(err))
bad_x:set(1, 7, 0)
bad_x:set(3, 44, -math.huge)
ok, err = pcall(checked.forward, checked, bad_x)
assert(not ok and err:find("holds -Inf at sample 3, feature 44;", 1, true), tostring(err))
bad_x:set(3, 44, 0)
checked:set_precision("f32")
local y32 = checked:forward(bad_x):clone()
checked:set_precision("bf16")
close(y32, checked:forward(bad_x), "the model after refusing bad input")

-- ---------------------------------------------------------------- errors
ok, err = pcall(model.set_precision, model, "fp16")
assert(not ok and err:find('precision is "f32" or "bf16", not "fp16"', 1, true), tostring(err))
ok, err = pcall(train.fit, {model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                            data = {x = x, y = tensor.zeros{64, 3}}, precision = "half"})
assert(not ok and err:find('train.fit: precision is "f32" or "bf16", not "half"', 1, true), tostring(err))
print("bf16.lua: ok, Dense worst relative error " .. string.format("%.3g", dense_error))
