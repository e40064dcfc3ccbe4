-- Trains until interrupted; the checkpoint callback writes on SIGINT.
local x = tensor.randn{256, 10}
local y = tensor.randn{256, 1}
local model = nn.Sequential{nn.Dense(10, 32, {activation = "relu"}), nn.Dense(32, 1)}
print("ready")
io.stdout:flush()
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.01}),
          data = {x = x, y = y}, epochs = 100000000, batch_size = 8, verbose = 0,
          callbacks = {train.checkpoint{path = arg[1] or "interrupted.nrt", monitor = "loss", best_only = true}}}
