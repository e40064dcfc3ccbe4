-- lua_bench.lua: the Lua surface's speed claims, measured (not tested).
--   neurite-run bench/lua_bench.lua [epochs] [batch]
-- Prints lines in neurite-bench's format:
--   xor_lua_loop steps=10000 seconds=...          (claim: at most 0.1 s)
--   mlp_fit_b64 samples_per_s=... test_acc=...    (claim: at least 95% of
--       neurite-bench's mlp_b64 samples_per_s, the same model and optimizer)
-- Throughput is the median over epochs after the first, like neurite-bench.

local epochs = tonumber(arg[1]) or 4
local batch = tonumber(arg[2]) or 64

-- 1. XOR 2-4-1 sigmoid, 10,000 full-batch steps from a plain Lua loop.
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4, activation = "sigmoid"},
                            nn.Dense{inputs = 4, outputs = 1, activation = "sigmoid"}}
local loss = nn.MSELoss()
local opt = optim.SGD(model:parameters(), {lr = 2.0, momentum = 0.9})
local function xor_steps(n)
  for _ = 1, n do
    opt:zero_grad()
    local pred = model:forward(x)
    loss:forward(pred, y)
    model:backward(x, loss:backward(pred, y), false)
    opt:step()
  end
end
xor_steps(100) -- primitives built, memory touched
local started = monitor.elapsed()
xor_steps(10000)
print(string.format("xor_lua_loop steps=10000 seconds=%.4f", monitor.elapsed() - started))

-- 2. The Fashion-MNIST MLP of neurite-bench (784-256-128-10 ReLU, SGD lr 0.05
-- momentum 0.9, cross-entropy) through train.fit.
local train_ds, test_ds = data.fashion_mnist()
local mlp = nn.Sequential{nn.Dense(784, 256, {activation = "relu"}), nn.Dense(256, 128, {activation = "relu"}),
                          nn.Dense(128, 10)}
local history = train.fit{model = mlp, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(mlp, {lr = 0.05, momentum = 0.9}),
                          data = train_ds, epochs = epochs, batch_size = batch, verbose = 0}
local rates = {}
for i = 2, #history.samples_per_s do rates[#rates + 1] = history.samples_per_s[i] end
if #rates == 0 then rates = history.samples_per_s end
table.sort(rates)
local acc = train.evaluate{model = mlp, data = test_ds}.accuracy
print(string.format("mlp_fit_b%d samples_per_s=%.0f test_acc=%.4f loss=%.4f epochs=%d", batch,
                    rates[#rates // 2 + 1], acc, history.loss[#history.loss], epochs))
