-- Convolutional networks from Lua: Conv2D and the pools as nn.<Name>, a 3x3
-- convolution against hand-computed values, a small CNN in nn.Sequential
-- that learns to tell vertical from horizontal bars, and the errors a user
-- meets, at the script's line.

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-4) * (1 + math.abs(b)) end

-- 1. A 3x3 convolution on a 4x4 input, weights 1..9, bias 0.5, input 1..16:
-- out[i][j] = sum_ab w[a][b] x[i+a][j+b] + 0.5 = 45 (4i + j + 1) + 303 + 0.5
-- (0-based i, j), which a flipped kernel (a true convolution) would not give.
local conv = nn.Conv2D{inputs = 1, outputs = 1, kernel = 3}
conv.weight:copy(tensor.arange(1, 10):reshape{1, 1, 3, 3})
conv.bias:fill(0.5)
local x = tensor.arange(1, 17):reshape{1, 1, 4, 4}
local y = conv:forward(x)
local shape = y:shape()
assert(#shape == 4 and shape[1] == 1 and shape[2] == 1 and shape[3] == 2 and shape[4] == 2,
       "a 3x3 convolution of a 4x4 input is 2x2")
local expected = {{348.5, 393.5}, {528.5, 573.5}}
for i = 1, 2 do
  for j = 1, 2 do
    assert(close(y:get(1, 1, i, j), expected[i][j]),
           string.format("out[%d][%d] = %g, expected %g", i, j, y:get(1, 1, i, j), expected[i][j]))
  end
end

-- "same" padding keeps 4x4; its corner sees w[2..3][2..3] over x[1..2][1..2].
local same = nn.Conv2D{inputs = 1, outputs = 1, kernel = 3, padding = "same"}
same.weight:copy(conv.weight)
same.bias:fill(0.5)
local ys = same:forward(x)
assert(ys:size(3) == 4 and ys:size(4) == 4, "same padding keeps the size")
assert(close(ys:get(1, 1, 1, 1), 5 * 1 + 6 * 2 + 8 * 5 + 9 * 6 + 0.5), "same padding's corner")

-- Pairs: a {3, 2} kernel with stride {1, 2} on 5x6 gives 3x3.
local pairs_conv = nn.Conv2D{inputs = 2, outputs = 3, kernel = {3, 2}, stride = {1, 2}}
local yp = pairs_conv:forward(tensor.randn(2, 2, 5, 6))
assert(yp:size(1) == 2 and yp:size(2) == 3 and yp:size(3) == 3 and yp:size(4) == 3, "pair parameters")

-- 2. Max pooling routes each gradient to its window's maximum.
local pool = nn.MaxPool2D{kernel = 2}
local px = tensor{{{{1, 5, 2, 0}, {3, 4, 8, 7}, {9, 6, 1, 2}, {0, 2, 3, 4}}}}
local py = pool:forward(px)
assert(py:equal(tensor{{{{5, 8}, {9, 4}}}}), "max of each 2x2 window")
local dx = pool:backward(px, tensor{{{{10, 20}, {30, 40}}}})
local routed = tensor{{{{0, 10, 0, 0}, {0, 0, 20, 0}, {30, 0, 0, 0}, {0, 0, 0, 40}}}}
assert(dx:equal(routed), "each gradient lands where its maximum was")
local avg = nn.AvgPool2D{kernel = 2}:forward(px)
assert(close(avg:get(1, 1, 1, 1), 13 / 4) and close(avg:get(1, 1, 2, 2), 10 / 4), "averages of 2x2 windows")
local gap = nn.GlobalAvgPool2D():forward(px)
assert(gap:size(1) == 1 and gap:size(2) == 1 and close(gap:get(1, 1), 57 / 16), "global average: [N, C]")

-- Upsample repeats pixels; its backward sums each block's gradients.
local up = nn.Upsample{scale = 2}
local small = tensor{{{{1, 2}, {3, 4}}}}
assert(up:forward(small):equal(tensor{{{{1, 1, 2, 2}, {1, 1, 2, 2}, {3, 3, 4, 4}, {3, 3, 4, 4}}}}), "nearest x2")
assert(up:backward(small, tensor.ones(1, 1, 4, 4)):equal(tensor{{{{4, 4}, {4, 4}}}}), "Upsample's gradient")

-- ConvTranspose2D: one pixel through a 3x3 kernel paints the kernel, scaled;
-- stride 2, padding 1 and output_padding 1 double the size.
local tconv = nn.ConvTranspose2D{inputs = 1, outputs = 1, kernel = 3, stride = 2, bias = false}
tconv.weight:copy(tensor.arange(1, 10):reshape{1, 1, 3, 3})
assert(tconv:forward(tensor{{{{2}}}}):equal(tensor.arange(1, 10):reshape{1, 1, 3, 3}:mul(2)), "a painted kernel")
local doubling = nn.ConvTranspose2D{inputs = 2, outputs = 3, kernel = 3, stride = 2, padding = 1, output_padding = 1}
local dy = doubling:forward(tensor.randn(1, 2, 4, 4))
assert(dy:size(2) == 3 and dy:size(3) == 8 and dy:size(4) == 8, "4x4 to 8x8")

-- 3. A small CNN learns vertical (class 1) from horizontal (class 2) bars on
-- noisy 8x8 images, through the blocked layouts between its oneDNN layers.
tensor.seed(5)
local n = 64
local images = tensor.randn(n, 1, 8, 8):mul(0.1)
local labels = tensor.zeros(n)
for s = 1, n do
  local vertical = s % 2 == 1
  local at = (s * 7) % 8 + 1
  for k = 1, 8 do
    if vertical then images:set(s, 1, k, at, 1) else images:set(s, 1, at, k, 1) end
  end
  labels[s] = vertical and 1 or 2
end

local model = nn.Sequential{
  nn.Conv2D{inputs = 1, outputs = 8, kernel = 3, padding = "same", activation = "relu"},
  nn.MaxPool2D{kernel = 2},
  nn.Conv2D{inputs = 8, outputs = 16, kernel = 3, activation = "relu"},
  nn.GlobalAvgPool2D(),
  nn.Dense{inputs = 16, outputs = 2},
}
local loss = nn.CrossEntropyLoss()
local opt = optim.Adam(model:parameters(), {lr = 0.02})
local first_loss, last_loss
for step = 1, 60 do
  opt:zero_grad()
  local pred = model:forward(images)
  last_loss = loss:forward(pred, labels)
  first_loss = first_loss or last_loss
  model:backward(images, loss:backward(pred, labels), false)
  opt:step()
end
local pred = model:forward(images)
local correct = 0
for s = 1, n do
  if pred[s]:argmax() == labels[s] then correct = correct + 1 end
end
print(string.format("cnn: loss %.4f -> %.4f, accuracy %d/%d", first_loss, last_loss, correct, n))
assert(first_loss > 0.5, "an untrained model is unsure")
assert(last_loss < 0.1, "the loss falls below 0.1 in 60 steps, got " .. last_loss)
assert(correct == n, "every training image is classified, got " .. correct)

-- The trained CNN survives a checkpoint: its pairs, words and weights.
model:save("cnn_test.nrt")
local loaded = nn.load("cnn_test.nrt")
assert(loaded:forward(images):equal(model:forward(images)), "a reloaded CNN gives the same outputs")
os.remove("cnn_test.nrt")

-- 4. Errors name the layer, the shapes and the value.
local function fails(pattern, fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching '" .. pattern .. "'")
  assert(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
  assert(tostring(err):find("cnn.lua:", 1, true), "the error is at the script's line: " .. tostring(err))
end
local chained = nn.Sequential{nn.Conv2D{inputs = 1, outputs = 16, kernel = 3}, nn.MaxPool2D{kernel = 2},
                              nn.Conv2D{inputs = 32, outputs = 8, kernel = 3}}
fails("expects 32 channels, input [64, 16, 13, 13]", function() chained:forward(tensor.zeros(64, 1, 28, 28)) end)
fails("Conv2D", function() chained:forward(tensor.zeros(64, 1, 28, 28)) end)
fails("kernel 5 is larger than the padded input 4x4", function()
  nn.Conv2D{inputs = 1, outputs = 1, kernel = 5, padding = 1}:forward(tensor.zeros(1, 1, 2, 2))
end)
fails("expects a 4-D input [N, C, H, W], got 2-D [4, 784]", function()
  nn.Conv2D{inputs = 1, outputs = 4}:forward(tensor.zeros(4, 784))
end)
fails("parameter 'stride' = 0 is outside its range", function() nn.Conv2D{inputs = 1, outputs = 1, stride = 0} end)
fails("parameter 'padding' = -1 is outside its range", function() nn.Conv2D{inputs = 1, outputs = 1, padding = -1} end)
fails("groups = 3 must divide both inputs = 4 and outputs = 6", function()
  nn.Conv2D{inputs = 4, outputs = 6, groups = 3}
end)
fails("one of same, valid; got \"full\"", function() nn.Conv2D{inputs = 1, outputs = 1, padding = "full"} end)
fails("must be one integer or a pair {h, w}, got 3 numbers", function()
  nn.Conv2D{inputs = 1, outputs = 1, kernel = {3, 3, 3}}
end)
fails("padding 2 is more than half the kernel 2", function() nn.MaxPool2D{kernel = 2, padding = 2} end)
print("cnn ok")
