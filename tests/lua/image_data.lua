-- Images keep their shape: IDX images are samples of [1, H, W], image
-- folders give [C, H, W], batches are [B, C, H, W] unless flattened, and an
-- MLP written for flat vectors (Dense, nn.Input{784}) still trains on them.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails, same = check.fails, check.same

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "/dark' '" .. dir .. "/light'"))

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end
local function u32(n) return string.char(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255) end

-- IDX: three 2 × 3 images (unsigned bytes) and their labels.
write(dir .. "/images.idx", "\0\0\8\3" .. u32(3) .. u32(2) .. u32(3) ..
      string.char(0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60))
write(dir .. "/labels.idx", "\0\0\8\1" .. u32(3) .. string.char(0, 1, 1))
local ds = data.idx(dir .. "/images.idx", dir .. "/labels.idx")
same(tensor(ds.shape), {1, 2, 3}, "an IDX image gets its channel dimension")
same(ds:inputs()[1], {{{0, 0.2, 0.4}, {0.6, 0.8, 1}}}, "sample 1, scaled to [0, 1]", 1e-6)
for x, y in ds:batches{size = 2, shuffle = false} do
  same(tensor(x:shape()), {2, 1, 2, 3}, "a batch keeps the sample shape")
  same(y, {1, 2}, "labels, 1-based")
  break
end
-- Augmentation of training batches: a certain flip mirrors every image.
for x in ds:batches{size = 3, shuffle = false, augment = {horizontal_flip = 1}} do
  same(x[1], {{{0.4, 0.2, 0}, {1, 0.8, 0.6}}}, "mirrored left to right", 1e-6)
  break
end
-- A crop after padding 1 shifts each image by at most one pixel, bringing in zeros.
local plain = ds:inputs()
for x in ds:batches{size = 3, shuffle = false, augment = {crop_padding = 1}, seed = 4} do
  for i = 1, 3 do
    local found = false
    for dy = -1, 1 do
      for dx = -1, 1 do
        local want = tensor.zeros{1, 2, 3}
        for r = 1, 2 do
          for c = 1, 3 do
            if r + dy >= 1 and r + dy <= 2 and c + dx >= 1 and c + dx <= 3 then
              want[1][r][c] = plain[i][1][r + dy][c + dx]
            end
          end
        end
        found = found or x[i]:equal(want)
      end
    end
    assert(found, "sample " .. i .. " is a shift of the original")
  end
end
fails(function() ds:batches{augment = {flip = 0.5}} end, "unknown")
fails(function() ds:batches{augment = {horizontal_flip = 2}} end,
      "horizontal_flip")
for x in ds:batches{size = 2, flatten = true} do
  same(tensor(x:shape()), {2, 6}, "flatten = true gives rows of features")
  break
end

-- An image folder: grayscale [1, H, W], colour [3, H, W] (portable pixmaps).
write(dir .. "/dark/a.pgm", "P5\n4 2\n255\n" .. string.char(0, 10, 20, 30, 40, 50, 60, 70))
write(dir .. "/light/b.ppm", "P6\n4 2\n255\n" .. string.rep(string.char(255, 0, 0), 8))
local gray = data.images(dir)
same(tensor(gray.shape), {1, 2, 4}, "grayscale images are [1, H, W]")
local colour = data.images(dir, {grayscale = false})
same(tensor(colour.shape), {3, 2, 4}, "colour images are [C, H, W]")
same(colour:inputs()[2]:select(1, 1), {{1, 1, 1, 1}, {1, 1, 1, 1}}, "the red plane of the red image")
same(colour:inputs()[2]:select(1, 2), {{0, 0, 0, 0}, {0, 0, 0, 0}}, "its green plane")
os.execute("rm -r '" .. dir .. "'")

-- An MLP for flat vectors trains on images [N, 1, 2, 3] unchanged: Dense
-- flattens the sample, and so does a model input declared {6}.
local images = tensor.rand{40, 1, 2, 3}
local labels = images:reshape{40, 6}:sum(2):gt(3):reshape{40} + 1 -- two classes by brightness
local mlp = nn.Sequential{nn.Dense(6, 8, {activation = "tanh"}), nn.Dense(8, 2)}
same(tensor(mlp:forward(images):shape()), {40, 2}, "Dense flattens [N, 1, 2, 3]")
local input = nn.Input{6}
local graph = nn.Model{inputs = input, outputs = nn.Dense(8, 2)(nn.Dense(6, 8, {activation = "tanh"})(input))}
local history = train.fit{model = graph, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(graph, {lr = 0.05}),
                          data = {x = images, y = labels}, epochs = 30, batch_size = 8, verbose = 0}
assert(history.loss[#history.loss] < 0.5 * history.loss[1], "a declared {6} input trains on [N, 1, 2, 3]")
fails(function() graph:forward(tensor.ones{2, 1, 2, 4}) end, "does not match the declared sample shape [6]")
graph:forward(images)
local dx = graph:backward(images, tensor.ones{40, 2})
same(tensor(dx:shape()), {40, 1, 2, 3}, "the input gradient has the input's shape")
local flat_dx = graph:forward(images:reshape{40, 6}) and graph:backward(images:reshape{40, 6}, tensor.ones{40, 2})
assert(dx:reshape{40, 6}:equal(flat_dx), "and the values of the flat input's gradient")
-- train.fit augments the training data only, and refuses to augment tensors.
local image_ds = data.tensors(images, labels)
history = train.fit{model = graph, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(graph, {lr = 0.05}),
                    data = image_ds, validation = image_ds, epochs = 2, batch_size = 8, verbose = 0,
                    augment = {crop_padding = 1, horizontal_flip = 0.5}}
assert(#history.loss == 2 and #history.val_loss == 2)
local line = debug.getinfo(1, "l").currentline
fails(function() train.fit{model = graph, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(graph),
                           data = {x = images, y = labels}, augment = {horizontal_flip = 0.5}} end,
      "image_data.lua:" .. (line + 1) .. ": train.fit: augment applies to a dataset")
fails(function() train.fit{model = graph, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(graph),
                           data = image_ds, augment = {crop_padding = -2}} end, "crop_padding = -2")

-- Fashion-MNIST, where the Debian package is installed.
local ok, train_ds, test_ds = pcall(data.fashion_mnist)
if ok then
  same(tensor(train_ds.shape), {1, 28, 28}, "Fashion-MNIST samples are [1, 28, 28]")
  for x in train_ds:batches{size = 16} do
    same(tensor(x:shape()), {16, 1, 28, 28}, "a Fashion-MNIST batch")
    break
  end
  -- Everything together: flattened images, batch norm, dropout, augmented
  -- training batches; train.evaluate runs in evaluation mode.
  tensor.seed(5)
  local model = nn.Sequential{nn.Flatten(), nn.Dense(784, 128), nn.BatchNorm{features = 128}, nn.ReLU(),
                              nn.Dropout{p = 0.2}, nn.Dense(128, 10)}
  local small = train_ds:subset(tensor.randperm(60000):narrow(1, 1, 6000))
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 2e-3}), data = small,
            epochs = 3, batch_size = 64, verbose = 0, augment = {crop_padding = 2}}
  local result = train.evaluate{model = model, data = test_ds:slice(1, 2000)}
  assert(result.accuracy > 0.7, "an MLP with BatchNorm and Dropout learns: " .. result.accuracy)
  print(string.format("batch norm + dropout MLP: accuracy %.3f", result.accuracy))
end
print("image data ok")
