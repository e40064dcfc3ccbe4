-- A long run for the window: 100,000 steps of XOR, one step an epoch, so
-- every chart (per step and per epoch) grows to 100,000 points. gui_bench
-- measures the event loop's latency meanwhile.
local steps = tonumber(arg and arg[1]) or 100000
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{1, 2, 2, 1}
local model = nn.Sequential{
  nn.Dense{inputs = 2, outputs = 6, activation = "tanh"},
  nn.Dense{inputs = 6, outputs = 2},
}
local t0 = monitor.elapsed()
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 0.01}),
          data = {x = x, y = y}, epochs = steps, batch_size = 4, verbose = 0, metrics = {"accuracy"},
          name = "long"}
print(string.format("BENCH steps=%d steps_per_s=%.0f", steps, steps / (monitor.elapsed() - t0)))
