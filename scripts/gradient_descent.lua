-- gradient_descent.lua: seed 003's three ways to feed the data, on the same
-- two Gaussian clouds and the same initial weights: full batch (all samples
-- per step), online / stochastic (one sample per step) and mini-batch (16).
-- Each is a monitor run of its own, so --plot draws their curves together.
--
-- Run: neurite-run --plot gd.png scripts/gradient_descent.lua

local clouds = data.gaussians{count = 200, separation = 2, stddev = 0.8, seed = 4}
local train_ds, test_ds = clouds:split(0.75, {seed = 1})

local modes = {{"full batch", #train_ds}, {"online", 1}, {"mini-batch", 16}}
for _, mode in ipairs(modes) do
  local name, batch = mode[1], mode[2]
  tensor.seed(7)                                  -- the same initial weights for every mode
  local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 2)}
  local started = monitor.elapsed()
  local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.05}),
                            data = train_ds, validation = test_ds, epochs = 30, batch_size = batch,
                            metrics = {"accuracy"}, verbose = 0, name = name}
  print(string.format("%-10s  %4d steps  loss %.4f  test accuracy %.3f  %.2f s", name,
                      30 * math.ceil(#train_ds / batch), history.loss[#history.loss],
                      history.val_accuracy[#history.val_accuracy], monitor.elapsed() - started))
end
