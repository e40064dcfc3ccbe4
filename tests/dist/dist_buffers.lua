-- dist_buffers.lua: buffers (running statistics) in a data-parallel run,
-- with the RunningMean fixture (an identity layer whose buffer follows the
-- mean of the samples it saw). Every rank starts from rank 0's buffer, and
-- at the end of each epoch train.fit averages the ranks' buffers: after it,
-- every rank holds the same values, those of dist.average_buffers.
tensor.seed(11)
local x = tensor.randn{64, 4} + tensor{1, 2, 3, 4}
local model = nn.Sequential{nn.RunningMean{features = 4}, nn.Dense(4, 1)}
local mean = model[1].mean
assert(mean.name == "mean", "the fixture's buffer")

-- broadcast_parameters carries buffers: rank 1 starts from rank 0's.
mean:fill(dist.rank() + 1)
dist.broadcast_parameters(model)
for f = 1, 4 do assert(mean[f] == 1, "rank 0's buffer everywhere") end

-- average_buffers averages them.
mean:fill(10 * dist.rank())
dist.average_buffers(model)
local expected = 10 * (dist.size() - 1) / 2
for f = 1, 4 do assert(math.abs(mean[f] - expected) < 1e-6, "the ranks' average") end

-- train.fit: the ranks' buffers differ inside an epoch (each saw its own
-- half of each batch) and agree at its end.
local differed = false
local function spread()
  local high, low = dist.allreduce(mean:clone(), "max"), dist.allreduce(mean:clone(), "min")
  return (high - low):abs():max()
end
-- (The optimizer gets the trained parameters: optim.SGD(model) refuses a buffer.)
local trained = {}
for _, p in ipairs(model:parameters()) do
  if p.name ~= "mean" then trained[#trained + 1] = p end
end
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(trained, {lr = 0.01}), verbose = 0,
          data = {x = x, y = x:sum(2):reshape{64, 1}}, epochs = 2, batch_size = 16, shuffle = false,
          callbacks = {{on_batch_end = function() differed = differed or spread() > 1e-3 end}}}
assert(spread() == 0, "every rank holds the same buffer after train.fit")
assert(differed == (dist.size() > 1), "inside an epoch the ranks' buffers follow their own samples")
print(string.format("buffers ok: rank %d of %d, mean %.4f %.4f %.4f %.4f", dist.rank(), dist.size(),
                    mean[1], mean[2], mean[3], mean[4]))
