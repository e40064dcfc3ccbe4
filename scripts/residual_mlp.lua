-- residual_mlp.lua: a residual MLP on Fashion-MNIST, built with the
-- functional API. Each block adds a correction to its input, h + f(h), so
-- the gradient reaches the first layer through the sum unchanged. Trains
-- half the epochs with a checkpoint after each, then a fresh model and
-- optimizer resume from the checkpoint and finish; the final weights are
-- saved, loaded into a third model, and tested.
--
-- Run: neurite-run scripts/residual_mlp.lua [epochs] [batch_size] [train_samples]
--      (train_samples: a subset, for a quick look)

local epochs = tonumber(arg and arg[1]) or 6
local batch_size = tonumber(arg and arg[2]) or 64
local samples = tonumber(arg and arg[3])

local train_ds, test_ds = data.fashion_mnist()   -- pixels scaled to [0, 1]
if samples then train_ds, test_ds = train_ds:slice(1, samples), test_ds:slice(1, math.max(samples // 6, 1)) end

local function residual_mlp()
  local x = nn.Input{784}
  local h = nn.Dense{inputs = 784, outputs = 256, activation = "relu"}(x)
  for _ = 1, 2 do                                 -- two residual blocks
    local f = nn.Dense{inputs = 256, outputs = 256, activation = "relu"}(h)
    h = nn.Add()(h, nn.Dense{inputs = 256, outputs = 256}(f))
  end
  local logits = nn.Dense{inputs = 256, outputs = 10}(h)   -- the loss applies softmax
  return nn.Model{inputs = x, outputs = logits}
end

local checkpoint = "residual_mlp.nrt"
local function fit(model, last_epoch, resume)
  return train.fit{
    model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.05, momentum = 0.9}),
    data = train_ds, validation = test_ds, epochs = last_epoch, batch_size = batch_size, metrics = {"accuracy"},
    resume = resume,   -- weights, optimizer state, epoch, history and the schedule's position
    callbacks = {train.checkpoint{path = checkpoint}, train.lr_schedule{kind = "cosine", t_max = epochs}},
  }
end

local model = residual_mlp()
print(model:summary())
local started = monitor.elapsed()
fit(model, epochs // 2)
print("-- a new model resumes from " .. checkpoint)
local resumed = residual_mlp()
local history = fit(resumed, epochs, checkpoint)
local seconds = monitor.elapsed() - started

resumed:save("residual_mlp_final.nrt")
local loaded = residual_mlp()
loaded:load("residual_mlp_final.nrt")
local result = train.evaluate{model = loaded, data = test_ds, loss = nn.CrossEntropyLoss()}
assert(result.accuracy == train.evaluate{model = resumed, data = test_ds}.accuracy, "loaded = trained")
print(string.format("test accuracy %.4f  test loss %.4f  (%d epochs, batch %d, %.1f s)",
                    result.accuracy, result.loss, #history.loss, batch_size, seconds))
return result.accuracy
