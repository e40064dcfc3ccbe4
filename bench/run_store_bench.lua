-- The run store's cost (docs/run-store.md), timed from outside by
-- farm-bench, side by side with --no-runs:
--   farm-bench -n 15 --vs 'neurite-run --no-runs bench/run_store_bench.lua tiny' \
--     -- neurite-run --runs /tmp/rs bench/run_store_bench.lua tiny
-- "tiny": a 2-16-2 network on moons in batches of 8, so that the per-step
-- scalar the store writes (batch_loss) weighs as much as it can against
-- the step; "mlp": one epoch of the Fashion-MNIST MLP (784-256-128-10,
-- batch 64) over the 10,000 test images, a typical step.
local case = arg[1] or "tiny"
if case == "tiny" then
  local ds = data.moons{count = 8000, noise = 0.2, seed = 1}
  local model = nn.Sequential{nn.Dense(2, 16, {activation = "tanh"}), nn.Dense(16, 2)}
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 0.01}),
            data = ds, epochs = 20, batch_size = 8, metrics = {"accuracy"}, verbose = 0}
elseif case == "mlp" then
  local train_ds = data.fashion_mnist{split = "test"} -- 10,000 images: 157 steps
  local model = nn.Sequential{nn.Dense(784, 256, {activation = "relu"}), nn.Dense(256, 128, {activation = "relu"}),
                              nn.Dense(128, 10)}
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.05, momentum = 0.9}),
            data = train_ds, epochs = 1, batch_size = 64, metrics = {"accuracy"}, verbose = 0}
else
  error("case must be tiny or mlp, got " .. case)
end
