-- dist_ops.lua: the dist module on known values. Run by every rank of
-- `mpirun -np 2 neurite-run dist_ops.lua`, and by a plain neurite-run,
-- where dist is a world of one (rank 0 of 1) and every collective leaves
-- its argument as it is. Asserts the same formulas either way.
local rank, size = dist.rank(), dist.size()
local expected_size, expected_threads = tonumber(arg[1]) or size, tonumber(arg[2])
assert(size == expected_size, string.format("dist.size() is %d, expected %d", size, expected_size))
assert(not expected_threads or dist.threads() == expected_threads,
       string.format("rank %d computes with %d threads, expected %d", rank, dist.threads(), expected_threads or 0))
assert(math.type(rank) == "integer" and rank >= 0 and rank < size, "ranks count from 0: got " .. tostring(rank))
assert(dist.is_main() == (rank == 0), "the main rank is rank 0")

local function near(a, b, what)
  assert(math.abs(a - b) <= 1e-6 * math.max(1, math.abs(b)), string.format("%s: got %.9g, expected %.9g", what, a, b))
end

-- Numbers: rank r contributes r + 1.
local sum_of_ranks = size * (size + 1) // 2
local s = dist.allreduce(rank + 1)
assert(s == sum_of_ranks and math.type(s) == "integer", "sum of rank + 1: got " .. tostring(s))
near(dist.allreduce(rank + 1, "mean"), (size + 1) / 2, "mean")
assert(dist.allreduce(rank + 1, "max") == size, "max")
assert(dist.allreduce(rank + 1, "min") == 1, "min")
local factorial = 1
for k = 2, size do factorial = factorial * k end
assert(dist.allreduce(rank + 1, "prod") == factorial, "prod")
near(dist.allreduce(0.25 * (rank + 1)), 0.25 * sum_of_ranks, "a float sum")

-- A list of numbers: element by element, a new list.
local list = {1, rank, 2.5}
local reduced = dist.allreduce(list)
assert(reduced ~= list and list[2] == rank, "a list is reduced into a new one")
assert(reduced[1] == size and reduced[2] == size * (size - 1) // 2, "list sums")
near(reduced[3], 2.5 * size, "list float")

-- A tensor: in place, and returned.
local t = tensor{rank + 1, 10 * (rank + 1), -(rank + 1)}
assert(dist.allreduce(t) == t, "a tensor is reduced in place and returned")
near(t[1], sum_of_ranks, "t[1]")
near(t[2], 10 * sum_of_ranks, "t[2]")
near(t[3], -sum_of_ranks, "t[3]")
local m = tensor{{rank, 1}, {2, rank}}
dist.allreduce(m, "mean")
near(m[1][1], (size - 1) / 2, "mean of a matrix")
near(m[2][1], 2, "mean of a constant")
-- A strided view (a transpose) is reduced in place too.
local base = tensor{{1, 2}, {3, 4}} * (rank + 1)
dist.allreduce(base:t())
near(base[1][2], 2 * sum_of_ranks, "through a view")

-- Broadcasts from the last rank (root counts from 0 too).
local root = size - 1
local b = tensor.full({4}, rank)
dist.broadcast(b, root)
for i = 1, 4 do near(b[i], root, "broadcast tensor") end
assert(dist.broadcast("from rank " .. rank, root) == "from rank " .. root, "broadcast string")
assert(dist.broadcast(rank == root, root) == true, "broadcast boolean")
assert(dist.broadcast(rank == root and 7 or nil, root) == 7, "broadcast integer")
assert(math.type(dist.broadcast(rank, root)) == "integer", "an integer stays one")
near(dist.broadcast(rank + 0.5, root), root + 0.5, "broadcast float")
assert(dist.broadcast(nil, root) == nil, "broadcast nil")
local got = dist.broadcast({rank, rank * 2}, root)
assert(got[1] == root and got[2] == 2 * root, "broadcast list")
assert(dist.broadcast("zero") == "zero", "the root is rank 0 by default")

-- The barrier holds every rank until the last arrives: rank 1 arrives
-- 0.5 s late, and rank 0 waits for it.
local before = monitor.elapsed()
if rank == 1 then
  while monitor.elapsed() - before < 0.5 do end
end
dist.barrier()
if size > 1 and rank == 0 then
  local waited = monitor.elapsed() - before
  assert(waited > 0.4, string.format("rank 0 left the barrier after %.3f s, before rank 1 arrived", waited))
end

-- What the collectives cost is counted (in a run of one, nothing is sent).
local stats = dist.stats()
if size > 1 then
  assert(stats.allreduce_calls >= 10 and stats.allreduce_bytes > 0, "allreduces are counted")
  assert(stats.broadcast_calls >= 9, "broadcasts are counted")
else
  assert(stats.allreduce_calls == 0 and stats.broadcast_calls == 0, "a world of one sends nothing")
end

-- Errors name the call and what was wrong, on every rank alike.
local function fails(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "error was: " .. tostring(err))
end
fails("dist.allreduce: op must be one of sum, mean, min, max, prod, got \"avg\"", dist.allreduce, 1, "avg")
fails("dist.broadcast: root must be a rank from 0 to " .. (size - 1) .. " (ranks count from 0), got " .. size,
      dist.broadcast, 1, size)
fails("dist.allreduce: element 2 of the list is a string", dist.allreduce, {1, "x"})
fails("dist.allreduce: argument 1 must be a tensor, a number or a list of numbers, got a string",
      dist.allreduce, "x")
if size > 1 then
  -- Tensors of different sizes: every rank is told, none waits for data.
  fails("every rank must pass a tensor of the same size", dist.broadcast, tensor.zeros{rank + 1})
end
-- The ranks are still in step after the errors.
assert(dist.allreduce(1) == size, "collectives still agree after the errors")

-- The model collectives: rank 0's weights everywhere, gradients averaged.
tensor.seed(100 + rank) -- a different initialisation on each rank
local model = nn.Sequential{nn.Dense(3, 2), nn.Dense(2, 1)}
dist.broadcast_parameters(model)
for _, p in ipairs(model:parameters()) do
  local copy = p:clone()
  dist.allreduce(copy, "max")
  local low = p:clone()
  dist.allreduce(low, "min")
  assert((copy - low):abs():max() == 0, "every rank holds rank 0's weights")
end
local x = tensor.full({4, 3}, rank + 1)
model:zero_grad()
model:backward(x, model:forward(x) * 0 + 1, false)
local own = model:parameters()[1].grad:clone()
dist.allreduce_gradients(model)
local averaged = own:clone()
dist.allreduce(averaged, "mean")
assert((model:parameters()[1].grad - averaged):abs():max() < 1e-6, "allreduce_gradients averages")
-- ds:batches{rank =, ranks =}: each rank's part of every batch (here in any
-- run, for both parts): 11 samples in batches of 5 split 3 + 2, 3 + 2, and
-- the last batch of 1 gives rank 1 nothing (false).
local ds = data.xor{count = 11, seed = 2}
local full
for x in ds:batches{size = 11, shuffle = false} do full = x:clone() end
-- Both ranks' iterators side by side: part 0 then part 1 of each batch is
-- the batch, in order.
local parts = {ds:batches{size = 5, shuffle = false, rank = 0, ranks = 2},
               ds:batches{size = 5, shuffle = false, rank = 1, ranks = 2}}
local sizes, row = {{}, {}}, 0
for batch = 1, 3 do
  for r = 1, 2 do
    local x, y = parts[r]()
    sizes[r][batch] = x and #x or 0
    assert(x or y == false, "an empty part gives false, false")
    for i = 1, (x and #x or 0) do
      row = row + 1
      assert(x[i][1] == full[row][1] and x[i][2] == full[row][2], "row " .. row .. " in its place")
    end
  end
end
assert(row == 11, "the parts together are the whole set")
for r, expected in ipairs{{3, 3, 1}, {2, 2, 0}} do
  for i = 1, 3 do
    assert(sizes[r][i] == expected[i], string.format("rank %d, batch %d: %d samples", r - 1, i, sizes[r][i]))
  end
end
fails("ds:batches: rank = 2 is not one of the 2 ranks (ranks count from 0", ds.batches, ds,
      {size = 4, rank = 2, ranks = 2})

-- train.fit: a step counts the global batch on every rank; with
-- data_parallel = false each rank trains alone on all the data, with no
-- collective (a sweep).
local function fit_sizes(data_parallel)
  tensor.seed(5)
  local xs = tensor.randn{40, 3}
  local net = nn.Sequential{nn.Dense(3, 1)}
  local sizes, calls, gathers = {}, dist.stats().allreduce_calls, dist.stats().allgather_calls
  train.fit{model = net, loss = nn.MSELoss(), optimizer = optim.SGD(net, {lr = 0.01}), verbose = 0,
            data = {x = xs, y = xs:sum(2):reshape{40, 1}}, epochs = 1, batch_size = 15, data_parallel = data_parallel,
            callbacks = {{on_batch_end = function(_, logs) sizes[#sizes + 1] = logs.size end}}}
  return sizes, dist.stats().allreduce_calls - calls, dist.stats().allgather_calls - gathers
end
local sizes, calls, gathers = fit_sizes(nil)
assert(#sizes == 3 and sizes[1] == 15 and sizes[3] == 10, "steps count the global batches of 15, 15 and 10")
-- Per step one for the gradients (this rank's part of their sum: the
-- optimizer steps its part), one for the step's sums, and an allgather of
-- the parameters; at the start the ranks' check that they resume from the
-- same place and their agreement to shard the optimizer, at the end their
-- check for a stop asked after the last step.
assert(calls == (size > 1 and 2 * 3 + 3 or 0), string.format("%d allreduces for 3 steps", calls))
assert(gathers == (size > 1 and 3 or 0), string.format("%d allgathers for 3 steps", gathers))
sizes, calls = fit_sizes(false)
assert(#sizes == 3 and sizes[1] == 15 and calls == 0, "data_parallel = false: alone, on all the data")
if size > 1 then
  -- Optimizers that evaluate the loss again in their step see one rank's data: refused.
  local net = nn.Sequential{nn.Dense(3, 1)}
  local xs = tensor.randn{8, 3}
  fails("a data-parallel run needs a first-order optimizer", train.fit, {model = net, loss = nn.MSELoss(),
        optimizer = optim.LBFGS(net), data = {x = xs, y = xs:sum(2):reshape{8, 1}}, epochs = 1, verbose = 0})
end
print(string.format("dist ok: rank %d of %d", rank, size))
