-- dist_phases.lua: where a data-parallel step's time goes, phase by phase.
--   neurite-run --threads 1 bench/dist_phases.lua [batch] [steps]        (1 rank)
--   mpirun -np N neurite-run bench/dist_phases.lua [batch] [steps]       (N ranks)
-- The steps of train.fit on the Fashion-MNIST MLP of dist_bench.lua, written
-- out so each phase can be timed: this rank's part of the global batch
-- gathered, zero_grad, forward, loss (forward and gradient), backward, the
-- gradient allreduce, the step's small allreduce, the optimizer step. Each
-- phase's median over the steps after the first 50, in microseconds of this
-- process's CPU time (os.clock), so that a loaded machine, which stretches
-- the wall clock, changes them little; `wall` is the whole step's median
-- wall-clock time. Run with one compute thread and no spare core (taskset or
-- mpirun's binding): then os.clock is the one thread's time.
-- With a third argument "sharded", each rank steps its own part of the
-- model as train.fit does: `allreduce` is then the gradients'
-- reduce-scatter, and `step` the part's step and the parameters' allgather.
local batch = tonumber(arg[1]) or 256 -- the global batch
local steps = tonumber(arg[2]) or 400
local sharded = arg[3] == "sharded"
local train_ds = data.fashion_mnist()
local mlp = nn.Sequential{nn.Dense(784, 256, {activation = "relu"}), nn.Dense(256, 128, {activation = "relu"}),
                          nn.Dense(128, 10)}
local optimizer = optim.SGD(mlp, {lr = 0.05, momentum = 0.9})
local loss = nn.CrossEntropyLoss()
local ranks, rank = dist.size(), dist.rank()
dist.broadcast_parameters(mlp, 0)
if sharded then sharded = dist.shard_optimizer(mlp, optimizer) end
local function epoch()
  return train_ds:batches{size = batch, shuffle = true, rank = ranks > 1 and rank or nil,
                          ranks = ranks > 1 and ranks or nil}
end
local next_batch = epoch()
-- allgather: the wall time of a sharded step's allgather (dist.stats), which
-- `step` includes; step - allgather is the optimizer's own part.
local names = {"gather", "zero_grad", "forward", "loss", "backward", "allreduce", "small_allreduce", "step",
               "allgather", "wall"}
local times = {}
for _, name in ipairs(names) do times[name] = {} end
local clock, wall = os.clock, monitor.elapsed
for s = 1, steps do
  local w0, c0 = wall(), clock()
  local x, y = next_batch()
  if not x then
    next_batch = epoch()
    x, y = next_batch()
  end
  local c1 = clock()
  optimizer:zero_grad()
  local c2 = clock()
  local pred = mlp:forward(x)
  local c3 = clock()
  local value = loss:forward(pred, y)
  local grad = loss:backward(pred, y)
  local c4 = clock()
  mlp:backward(x, grad:mul_(#x / batch * (sharded and 1 or ranks)), false)
  local c5 = clock()
  if sharded then dist.reduce_gradients(mlp, optimizer) else dist.allreduce_gradients(mlp, "mean") end
  local c6 = clock()
  dist.allreduce({value, #x, 0, 0}, "sum")
  local g0 = dist.stats().allgather_seconds
  local c7 = clock()
  optimizer:step()
  local c8 = clock()
  if s > 50 then
    local spent = {c1 - c0, c2 - c1, c3 - c2, c4 - c3, c5 - c4, c6 - c5, c7 - c6, c8 - c7,
                   dist.stats().allgather_seconds - g0, wall() - w0}
    for i, name in ipairs(names) do times[name][#times[name] + 1] = spent[i] * 1e6 end
  end
end
local function median(list)
  table.sort(list)
  return list[#list // 2 + 1]
end
local parts = {}
for _, name in ipairs(names) do parts[#parts + 1] = string.format("%s=%.0f", name, median(times[name])) end
-- Every rank's line, in rank order.
for r = 0, ranks - 1 do
  if r == rank then
    io.stderr:write(string.format("dist_phases_b%d rank=%d ranks=%d step=%s us_cpu: %s\n", batch, rank, ranks,
                                  sharded and "sharded" or "whole", table.concat(parts, " ")))
    io.stderr:flush()
  end
  dist.barrier()
end
