-- autoencoder.lua: a convolutional autoencoder on Fashion-MNIST, learning
-- without labels (lecture 001's unsupervised learning): the network must
-- give back its input through a bottleneck of 16 numbers per image, and the
-- loss is the reconstruction error (mean squared error per pixel), printed
-- before and after training. With --plot FILE it saves test images beside
-- their reconstructions (a PNG: two originals a row, each followed by its reconstruction).
--
-- Run: neurite-run scripts/autoencoder.lua [epochs]
--      neurite-run scripts/autoencoder.lua -- [epochs] --plot recon.png [--samples N]
--      (--samples N trains and tests on the first N images only: a quick look)
-- neurite-run's own --plot (before the script's name) draws the loss curves.

local epochs, plot, samples = 5, nil, nil
local i = 1
while arg and arg[i] do
  local a = arg[i]
  if a == "--plot" and arg[i + 1] then plot, i = arg[i + 1], i + 2
  elseif a == "--samples" and tonumber(arg[i + 1]) then samples, i = math.tointeger(tonumber(arg[i + 1])), i + 2
  elseif tonumber(a) then epochs, i = math.tointeger(tonumber(a)), i + 1
  else error(string.format("autoencoder.lua: unknown argument %q (give [epochs] [--plot FILE] [--samples N])", a)) end
end
local shown = 8 -- originals and reconstructions in the --plot picture

local train_ds, test_ds = data.fashion_mnist()    -- [1, 28, 28] images
-- Inputs are their own targets: the labels are not used.
local x_train, x_test = train_ds:inputs(), test_ds:inputs()   -- [N, 1, 28, 28]
if samples then
  x_train = x_train:narrow(1, 1, math.min(samples, x_train:size(1))):contiguous()
  x_test = x_test:narrow(1, 1, math.min(math.max(samples, shown), x_test:size(1))):contiguous()
end

local model = nn.Sequential{
  -- encoder: 28 -> 14 -> 7, then 16 numbers
  nn.Conv2D{inputs = 1, outputs = 16, kernel = 3, stride = 2, padding = 1, activation = "relu"},
  nn.Conv2D{inputs = 16, outputs = 32, kernel = 3, stride = 2, padding = 1, activation = "relu"},
  nn.Flatten(),
  nn.Dense{inputs = 32 * 7 * 7, outputs = 16},
  -- decoder: back to [32, 7, 7], then 7 -> 14 -> 28
  nn.Dense{inputs = 16, outputs = 32 * 7 * 7, activation = "relu"},
  nn.Reshape{shape = {32, 7, 7}},
  nn.ConvTranspose2D{inputs = 32, outputs = 16, kernel = 3, stride = 2, padding = 1, output_padding = 1,
                     activation = "relu"},
  nn.ConvTranspose2D{inputs = 16, outputs = 1, kernel = 3, stride = 2, padding = 1, output_padding = 1},
  nn.Sigmoid(),                                    -- pixels in [0, 1]
}
print(model:summary{1, 1, 28, 28})

local loss = nn.MSELoss()
local before = train.evaluate{model = model, data = {x = x_test, y = x_test}, loss = loss}.loss
train.fit{model = model, loss = loss, optimizer = optim.Adam(model:parameters(), {lr = 2e-3}),
          data = {x = x_train, y = x_train}, validation = {x = x_test, y = x_test},
          epochs = epochs, batch_size = 128}
local after = train.evaluate{model = model, data = {x = x_test, y = x_test}, loss = loss}.loss
print(string.format("reconstruction error (test MSE per pixel): %.4f untrained, %.4f after %d epochs",
                    before, after, epochs))
if not samples then -- a few images for a few steps need not learn this much
  assert(after < before / 2, "the autoencoder did not learn to reconstruct")
end

if plot then
  model:eval()
  local originals = x_test:narrow(1, 1, shown)
  local reconstructions = model:forward(originals):clone()
  local width, height = data.save_images(plot, {originals, reconstructions},
                                         {columns = 4, scale = 2, range = {0, 1}})
  print(string.format("saved %d test images beside their reconstructions to %s (%d x %d pixels)",
                      shown, plot, width, height))
end

return after
