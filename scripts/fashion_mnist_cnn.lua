-- fashion_mnist_cnn.lua: a small convolutional network on Fashion-MNIST.
-- Two blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling
-- (28 -> 14 -> 7), then a dense layer with dropout. Images arrive as
-- [1, 28, 28]: the data keeps its shape. Trained with Adam, a cosine
-- schedule and random horizontal flips of the training images.
--
-- Run: neurite-run scripts/fashion_mnist_cnn.lua [epochs] [batch_size]
--      add --plot cnn.png to draw the curves, --log run.csv to keep them.

local epochs = tonumber(arg and arg[1]) or 15
local batch_size = tonumber(arg and arg[2]) or 64

local train_ds, test_ds = data.fashion_mnist()   -- [1, 28, 28] images, pixels in [0, 1]
print(train_ds)

local model = nn.Sequential{
  nn.Conv2D{inputs = 1, outputs = 32, kernel = 3, padding = "same", bias = false},
  nn.BatchNorm{features = 32}, nn.ReLU(), nn.MaxPool2D{kernel = 2},       -- [32, 14, 14]
  nn.Conv2D{inputs = 32, outputs = 64, kernel = 3, padding = "same", bias = false},
  nn.BatchNorm{features = 64}, nn.ReLU(), nn.MaxPool2D{kernel = 2},       -- [64, 7, 7]
  nn.Flatten(),
  nn.Dense{inputs = 64 * 7 * 7, outputs = 128, activation = "relu"},
  nn.Dropout{p = 0.25},
  nn.Dense{inputs = 128, outputs = 10},                                    -- logits
}
print(model:summary{1, 1, 28, 28})

local optimizer = optim.Adam(model:parameters(), {lr = 2e-3})
local started = monitor.elapsed()
local history = train.fit{
  model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer,
  data = train_ds, validation = test_ds,
  epochs = epochs, batch_size = batch_size, metrics = {"accuracy"},
  augment = {horizontal_flip = 0.5},
  callbacks = {train.lr_schedule{kind = "cosine", t_max = epochs}},
}
local seconds = monitor.elapsed() - started

local result = train.evaluate{model = model, data = test_ds, loss = nn.CrossEntropyLoss()}
print(string.format("test accuracy %.4f  test loss %.4f  (%d epochs, batch %d, %.0f s)",
                    result.accuracy, result.loss, #history.loss, batch_size, seconds))
return result.accuracy
