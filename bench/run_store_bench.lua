-- The run store's cost (docs/run-store.md). A shared machine makes two
-- whole training runs differ by more than the store costs, so the cost is
-- taken apart: "log" times monitor.log, the path every scalar takes to the
-- store (median of 7 rounds of 200,000 calls); run it with --runs and with
-- --no-runs, and the difference is what the store adds to a scalar.
-- "tiny" and "mlp" time a training step (median of the epochs' seconds over
-- their steps; train.fit logs one scalar a step, plus a few an epoch):
--   neurite-run --no-runs bench/run_store_bench.lua log
--   neurite-run --runs /tmp/rs bench/run_store_bench.lua log
--   neurite-run --no-runs bench/run_store_bench.lua tiny
-- "tiny": a 2-16-2 network on moons in batches of 8, the cheapest step a
-- script is likely to have (the worst case for the store); "mlp": the
-- Fashion-MNIST MLP (784-256-128-10, batch 64) on the 10,000 test images.
local case = arg[1] or "log"

local function median(values)
  table.sort(values)
  return values[(#values + 1) // 2]
end

if case == "log" then
  local calls, rounds = 200000, {}
  local run <close> = monitor.run("log_bench")
  for _ = 1, 7 do
    local start = monitor.elapsed()
    for i = 1, calls do
      monitor.step(i)
      monitor.log("batch_loss", i * 1e-3)
    end
    rounds[#rounds + 1] = (monitor.elapsed() - start) / calls
  end
  print(string.format("log: %.0f ns per scalar (monitor.step + monitor.log), store %s", median(rounds) * 1e9,
                      monitor.run_dir() and "on" or "off"))
  return
end

local ds, model, optimizer, batch
if case == "tiny" then
  ds = data.moons{count = 8000, noise = 0.2, seed = 1}
  model = nn.Sequential{nn.Dense(2, 16, {activation = "tanh"}), nn.Dense(16, 2)}
  optimizer, batch = optim.Adam(model, {lr = 0.01}), 8
elseif case == "mlp" then
  ds = data.fashion_mnist{split = "test"}
  model = nn.Sequential{nn.Dense(784, 256, {activation = "relu"}), nn.Dense(256, 128, {activation = "relu"}),
                        nn.Dense(128, 10)}
  optimizer, batch = optim.SGD(model, {lr = 0.05, momentum = 0.9}), 64
else
  error("case must be log, tiny or mlp, got " .. case)
end
local per_step, last = {}, monitor.elapsed()
local steps = math.ceil(#ds / batch)
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer, data = ds, epochs = 5,
          batch_size = batch, verbose = 0,
          on_epoch = function()
            local now = monitor.elapsed()
            per_step[#per_step + 1] = (now - last) / steps
            last = now
          end}
print(string.format("%s: %.1f us per training step (batch %d, %d steps an epoch)", case, median(per_step) * 1e6,
                    batch, steps))
