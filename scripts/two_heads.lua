-- two_heads.lua: a model with two inputs and two outputs. Each Fashion-MNIST
-- image is seen as two inputs, its top and bottom halves (two cameras, say),
-- read by a branch each and joined; one head names the garment (10
-- classes), the other estimates how much of the picture is ink (the mean
-- pixel value). train.fit takes one loss per output, weighted, and logs
-- each output's loss (loss_1, loss_2) and the class head's accuracy.
--
-- Run: neurite-run scripts/two_heads.lua [epochs] [train_samples]

local epochs = tonumber(arg and arg[1]) or 4
local samples = tonumber(arg and arg[2]) or 12000

local train_all, test_all = data.fashion_mnist()
local function halves_and_ink(ds)
  local n = #ds
  local images = ds:inputs():reshape{n, 28, 28}     -- {N, 1, 28, 28}: drop the channel
  local top = images:index(2, tensor.linspace(1, 14, 14)):reshape{n, 392}
  local bottom = images:index(2, tensor.linspace(15, 28, 14)):reshape{n, 392}
  local ink = images:reshape{n, 784}:mean(2):reshape{n, 1}
  return {x = {top, bottom}, y = {ds, ink}}         -- a dataset under y gives its labels
end
local train_data = halves_and_ink(train_all:slice(1, samples))
local test_data = halves_and_ink(test_all:slice(1, math.min(samples // 6 + 1, #test_all)))

local top, bottom = nn.Input{392}, nn.Input{392}
local h = nn.Concat{axis = 2}(nn.Dense{inputs = 392, outputs = 128, activation = "relu"}(top),
                              nn.Dense{inputs = 392, outputs = 128, activation = "relu"}(bottom))
h = nn.Dense{inputs = 256, outputs = 128, activation = "relu"}(h)
local garment = nn.Dense{inputs = 128, outputs = 10}(h)
local ink = nn.Dense{inputs = 128, outputs = 1}(h)
local model = nn.Model{inputs = {top, bottom}, outputs = {garment, ink}}
print(model)

local losses = {nn.CrossEntropyLoss(), nn.MSELoss()}
local weights = {1, 20}      -- the ink error is small in absolute terms: weigh it up
train.fit{model = model, loss = losses, loss_weights = weights, optimizer = optim.Adam(model, {lr = 1e-3}),
          data = train_data, validation = test_data, epochs = epochs, batch_size = 64, metrics = {"accuracy"}}

local result = train.evaluate{model = model, data = test_data, loss = losses, loss_weights = weights}
local ink_true = test_data.y[2]
local ink_spread = math.sqrt((ink_true - ink_true:mean()):pow(2):mean())
print(string.format("test: garment accuracy %.4f; ink error %.4f (rms), against %.4f for always guessing the mean",
                    result.accuracy_1, math.sqrt(result.loss_2), ink_spread))
return result.accuracy_1
