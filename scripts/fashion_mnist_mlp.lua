-- fashion_mnist_mlp.lua: the default experiment. A multilayer perceptron
-- 784-256-128-10 (ReLU) on Fashion-MNIST's 28 x 28 clothing images, trained
-- with cross-entropy and SGD with momentum under a cosine learning-rate
-- schedule. Reaches about 89% test accuracy in 10 epochs (the published
-- scikit-learn MLP baseline is 88.1%).
--
-- Run: neurite-run scripts/fashion_mnist_mlp.lua [epochs] [batch_size]
--      add --plot fashion.png to draw the curves, --log run.csv to keep them.

local epochs = tonumber(arg and arg[1]) or 10
local batch_size = tonumber(arg and arg[2]) or 64

local train_ds, test_ds = data.fashion_mnist()   -- pixels scaled to [0, 1]
print(train_ds)

local model = nn.Sequential{
  nn.Dense{inputs = 784, outputs = 256, activation = "relu"},
  nn.Dense{inputs = 256, outputs = 128, activation = "relu"},
  nn.Dense{inputs = 128, outputs = 10},          -- logits; the loss applies softmax
}
print(model:summary())

local optimizer = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
local history = train.fit{
  model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer,
  data = train_ds, validation = test_ds,
  epochs = epochs, batch_size = batch_size, metrics = {"accuracy"},
  callbacks = {train.lr_schedule{kind = "cosine", t_max = epochs}},
}

local result = train.evaluate{model = model, data = test_ds, loss = nn.CrossEntropyLoss()}
print(string.format("test accuracy %.4f  test loss %.4f  (%d epochs, batch %d)",
                    result.accuracy, result.loss, #history.loss, batch_size))
return result.accuracy
