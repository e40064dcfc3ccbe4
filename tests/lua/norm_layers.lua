-- BatchNorm, LayerNorm, Dropout, Flatten and Reshape from a script: values
-- against hand-computed ones, running statistics through a checkpoint,
-- seeded dropout masks, and errors at the script's line naming the layer,
-- the shapes and the value.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails, same = check.fails, check.same

-- BatchNorm on [N, C]: channel 1 holds 1, 2, 3, 4 (mean 2.5, variance 1.25),
-- channel 2 holds 0, 0, 0, 4 (mean 1, variance 3).
local bn = nn.BatchNorm{features = 2}
local x = tensor{{1, 0}, {2, 0}, {3, 0}, {4, 4}}
local s1, s2 = math.sqrt(1.25 + 1e-5), math.sqrt(3 + 1e-5)
same(bn:forward(x), {{-1.5 / s1, -1 / s2}, {-0.5 / s1, -1 / s2}, {0.5 / s1, -1 / s2}, {1.5 / s1, 3 / s2}},
     "BatchNorm training output", 1e-5)
-- One step moved the running statistics by momentum 0.1 (the variance unbiased: × 4/3).
local rm, rv = {0.25, 0.1}, {0.9 + 0.1 * 1.25 * 4 / 3, 0.9 + 0.1 * 3 * 4 / 3}
same(bn.running_mean, rm, "running_mean", 1e-6)
same(bn.running_var, rv, "running_var", 1e-6)
bn:eval()
same(bn:forward(x), {{(1 - rm[1]) / math.sqrt(rv[1] + 1e-5), (0 - rm[2]) / math.sqrt(rv[2] + 1e-5)},
                     {(2 - rm[1]) / math.sqrt(rv[1] + 1e-5), (0 - rm[2]) / math.sqrt(rv[2] + 1e-5)},
                     {(3 - rm[1]) / math.sqrt(rv[1] + 1e-5), (0 - rm[2]) / math.sqrt(rv[2] + 1e-5)},
                     {(4 - rm[1]) / math.sqrt(rv[1] + 1e-5), (4 - rm[2]) / math.sqrt(rv[2] + 1e-5)}},
     "BatchNorm evaluation output", 1e-5)
same(bn.running_mean, rm, "evaluation leaves the statistics", 1e-6)

-- A model with BatchNorm on images: its statistics come back bit for bit.
tensor.seed(3)
local model = nn.Sequential{nn.BatchNorm{features = 3, momentum = 0.2}, nn.Flatten(), nn.Dense(12, 2)}
for _ = 1, 3 do model:forward(tensor.randn{5, 3, 2, 2} * 2 + 1) end
model:eval()
local probe = tensor.randn{2, 3, 2, 2}
local expected = model:forward(probe)
model:save("norm_layers.nrt")
local loaded = nn.load("norm_layers.nrt")
loaded:eval()
assert(loaded[1].running_mean:equal(model[1].running_mean), "running_mean round-trips bitwise")
assert(loaded[1].running_var:equal(model[1].running_var), "running_var round-trips bitwise")
assert(model[1].running_mean:abs():sum() > 0, "training moved the statistics")
assert(loaded:forward(probe):equal(expected), "evaluation outputs are bitwise equal after loading")
os.remove("norm_layers.nrt")
-- Buffers are not trained: m:parameters() lists what is (as PyTorch's
-- parameters()), m:buffers() the statistics, and the optimizer leaves those alone.
assert(#model:parameters() == 4 and #model:buffers() == 2, "BatchNorm: weight and bias trained, two buffers")
assert(model:buffers()[1]:equal(model[1].running_mean) and model[1]:buffers()[2]:equal(model[1].running_var))
model:train()
local opt = optim.SGD(model, {lr = 0.1})
local before = model[1].running_var:clone()
opt:zero_grad()
local y = model:forward(probe)
model:backward(probe, tensor.ones(y:shape()), false)
local moved_by_forward = model[1].running_var:clone()
opt:step()
assert(model[1].running_var:equal(moved_by_forward) and not moved_by_forward:equal(before),
       "the forward moves the statistics, the optimizer does not")

-- LayerNorm over each sample's last dimension.
local ln = nn.LayerNorm{shape = {4}}
same(ln:forward(tensor{{1, 2, 3, 4}}), {{-1.5 / s1, -0.5 / s1, 0.5 / s1, 1.5 / s1}}, "LayerNorm", 1e-5)
same(tensor(ln.weight:shape()), {4}, "LayerNorm weight shape")

-- Dropout: the run's seed decides the mask; scaled in training, identity in evaluation.
local ones = tensor.ones{4, 100}
tensor.seed(42)
local d1 = nn.Dropout{p = 0.5}
tensor.seed(42)
local d2 = nn.Dropout{p = 0.5}
local m1 = d1:forward(ones):clone() -- kept past the next forward
assert(m1:equal(d2:forward(ones)), "the same seed gives the same mask")
assert(not m1:equal(d1:forward(ones)), "each training step draws a new mask")
local kept = m1:gt(0):sum()
assert(kept > 150 and kept < 250, "about half kept: " .. kept)
assert(m1:max() == 2 and m1:min() == 0, "survivors scaled by 1 / (1 - p) = 2")
d1:eval()
assert(d1:forward(ones):equal(ones), "evaluation is the identity")
-- A checkpoint keeps the seed and the masks drawn: a loaded model continues the sequence.
local dm = nn.Sequential{nn.Dropout{p = 0.5}}
dm:forward(ones)
dm:save("norm_layers_dropout.nrt")
local next_mask = dm:forward(ones)
local back = nn.load("norm_layers_dropout.nrt")
assert(back:forward(ones):equal(next_mask), "a loaded model draws the mask the saved one drew next")
os.remove("norm_layers_dropout.nrt")

-- Flatten and Reshape keep the batch dimension and the order of values.
local images = tensor.arange(1, 25):reshape{2, 1, 3, 4}
local flat = nn.Flatten():forward(images)
same(tensor(flat:shape()), {2, 12}, "Flatten shape")
assert(flat:equal(images:reshape{2, 12}), "Flatten keeps the order")
assert(nn.Reshape{shape = {3, -1}}:forward(flat):equal(images:reshape{2, 3, 4}), "Reshape with -1")

-- Errors name the layer, the shapes and the value, at the script's line.
fails(function() nn.Dropout{p = 1} end, "Dropout: p = 1 is outside [0, 1)")
fails(function() nn.Dropout{p = 1.5} end, "1.5")
local line = debug.getinfo(1, "l").currentline
fails(function() nn.BatchNorm{features = 3}:forward(tensor.ones{2, 4, 5, 5}) end,
      "norm_layers.lua:" .. (line + 1) .. ":")
fails(function() nn.BatchNorm{features = 3}:forward(tensor.ones{2, 4, 5, 5}) end, "expects 3 channels")
fails(function() nn.BatchNorm{features = 3}:forward(tensor.ones{2, 4, 5, 5}) end, "[2, 4, 5, 5]")
fails(function() nn.Reshape{shape = {10, 10}}:forward(tensor.ones{2, 1, 28, 28}) end,
      "cannot give samples of [1, 28, 28] (784 values) the shape {10, 10} (100 values)")
fails(function() nn.LayerNorm{shape = {5}}:forward(tensor.ones{2, 4}) end, "LayerNorm")
local seq = nn.Sequential{nn.Dense(4, 4), nn.Reshape{shape = {3, 3}}}
fails(function() seq:forward(tensor.ones{2, 4}) end, "Reshape")
print("norm layers ok")
