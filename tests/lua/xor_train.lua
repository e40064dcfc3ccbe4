-- XOR learned from Lua: a plain loop first, then train.fit, both to 100%.
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}

local function accuracy(model)
  return train.correct(train.predict(model, x), y) / 4
end

local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4, activation = "sigmoid"},
                            nn.Dense{inputs = 4, outputs = 1, activation = "sigmoid"}}
local loss = nn.MSELoss()
local opt = optim.SGD(model:parameters(), {lr = 2.0, momentum = 0.9})
for _ = 1, 3000 do
  opt:zero_grad()
  local pred = model:forward(x)
  loss:forward(pred, y)
  model:backward(x, loss:backward(pred, y), false)
  opt:step()
end
assert(accuracy(model) == 1, "the plain loop reaches 100% on XOR, got " .. accuracy(model))

local model2 = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 1, {activation = "sigmoid"})}
local history = train.fit{model = model2, loss = nn.MSELoss(), optimizer = optim.Adam(model2, {lr = 0.05}),
                          data = {x = x, y = y}, epochs = 2000, batch_size = 4, metrics = {"accuracy"},
                          verbose = 0,
                          callbacks = {train.early_stopping{monitor = "loss", target = 0.01, patience = 10000}}}
assert(history.accuracy[#history.accuracy] == 1, "train.fit reaches 100% accuracy")
assert(history.loss[#history.loss] <= 0.01, "early stopping at the target loss")
assert(#history.loss < 2000, "stopped before the maximum number of epochs")
assert(accuracy(model2) == 1)
print(string.format("xor ok: %d epochs", #history.loss))
