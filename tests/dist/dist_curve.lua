-- dist_curve.lua OUT [tensors]: the Fashion-MNIST MLP (784-256-128-10)
-- trained for 100 steps of a global batch of 65 on the first 6,436
-- training images, then evaluated on the test set. Rank 0 writes the 100
-- per-step losses, the test accuracy and the number of ranks to OUT.
-- Run by one process and by `mpirun -np 2`; dist_compare.lua then checks
-- that the curves are the same. With 2 ranks a batch of 65 splits 33 + 32,
-- and the last batch holds one sample: rank 1's part of it is empty.
-- "tensors" trains from {x =, y =} tensors (train.batches' Lua path)
-- instead of the dataset (the core's batch iterator).
local out, mode = arg[1], arg[2]
assert(out, "usage: dist_curve.lua OUT [tensors]")
local batch, steps = 65, 100
local samples = batch * (steps - 1) + 1

local train_ds, test_ds = data.fashion_mnist()
local source = train_ds:slice(1, samples)
if mode == "tensors" then
  for x, y in source:batches{size = samples, shuffle = false} do source = {x = x:clone(), y = y:clone()} end
end

tensor.seed(7)
local model = nn.Sequential{
  nn.Dense{inputs = 784, outputs = 256, activation = "relu"},
  nn.Dense{inputs = 256, outputs = 128, activation = "relu"},
  nn.Dense{inputs = 128, outputs = 10},
}
local optimizer = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
local losses = {}
local record = {on_batch_end = function(_, logs) losses[#losses + 1] = logs.loss end}
-- 2,001 validation samples: 1,001 and 1,000 on two ranks.
local validation = test_ds:slice(1, 2001)
if mode == "tensors" then
  for x, y in validation:batches{size = 2001, shuffle = false} do validation = {x = x:clone(), y = y:clone()} end
end
local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer, data = source,
                          validation = validation, epochs = 1, batch_size = batch, metrics = {"accuracy"}, callbacks = {record}, verbose = 0}
assert(#losses == steps, string.format("%d steps, expected %d", #losses, steps))
local result = train.evaluate{model = model, data = test_ds, loss = nn.CrossEntropyLoss()}
-- Every rank took the same optimizer steps: the weights are the same, bit for bit.
for i, p in ipairs(model:parameters()) do
  local high, low = dist.allreduce(p:clone(), "max"), dist.allreduce(p:clone(), "min")
  assert((high - low):abs():max() == 0, "parameter " .. i .. " differs between the ranks")
end

if dist.is_main() then
  local f = assert(io.open(out, "w"))
  f:write(string.format("ranks %d\n", dist.size()))
  f:write(string.format("accuracy %.6f\n", result.accuracy))
  f:write(string.format("epoch_loss %.9g\n", history.loss[1]))
  f:write(string.format("val_loss %.9g\n", history.val_loss[1]))
  f:write(string.format("val_accuracy %.9g\n", history.val_accuracy[1]))
  for _, l in ipairs(losses) do f:write(string.format("%.9g\n", l)) end
  f:close()
end
print(string.format("rank %d: test accuracy %.4f after %d steps", dist.rank(), result.accuracy, steps))
