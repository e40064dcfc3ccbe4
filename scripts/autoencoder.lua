-- autoencoder.lua: a convolutional autoencoder on Fashion-MNIST, learning
-- without labels (lecture 001's unsupervised learning): the network must
-- give back its input through a bottleneck of 16 numbers per image, and the
-- loss is the reconstruction error (mean squared error per pixel), printed
-- before and after training; --plot FILE draws its curves.
--
-- Run: neurite-run scripts/autoencoder.lua [epochs]

local epochs = tonumber(arg and arg[1]) or 5

local train_ds, test_ds = data.fashion_mnist()    -- [1, 28, 28] images
-- Inputs are their own targets: the labels are not used.
local x_train, x_test = train_ds:inputs(), test_ds:inputs()   -- [N, 1, 28, 28]

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
assert(after < before / 2, "the autoencoder did not learn to reconstruct")

return after
