-- regression_sine.lua: seed 004's function approximation. One hidden layer
-- of 3, 6 and 20 tanh neurons fits y = sin(x) on [-pi, pi]; more neurons fit
-- the curve more closely.
--
-- Run: neurite-run --plot sine.png scripts/regression_sine.lua

local train_ds = data.sine{count = 200, seed = 1}
local grid = data.sine{count = 50, evenly_spaced = true}      -- noise-free, for the error table

for _, hidden in ipairs{3, 6, 20} do
  local model = nn.Sequential{nn.Dense(1, hidden, {activation = "tanh"}), nn.Dense(hidden, 1)}
  train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.Adam(model, {lr = 0.01}),
            data = train_ds, epochs = 500, batch_size = 32, verbose = 0, name = hidden .. " neurons"}
  local result = train.evaluate{model = model, data = grid, loss = nn.MSELoss(), metrics = {}}
  local x, y = grid:get(13)
  local pred = train.predict(model, x:reshape{1, 1})
  print(string.format("%2d hidden neurons: mean squared error %.5f on the grid; sin(%.2f) = %.3f, net %.3f",
                      hidden, result.loss, x:get(1), y:get(1), pred:get(1, 1)))
end
