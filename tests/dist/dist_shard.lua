-- dist_shard.lua: the sharded optimizer step of a data-parallel train.fit
-- (each rank reduce-scatters the gradients, steps its own part of the model
-- and keeps that part's optimizer state, then the parameters are
-- allgathered) against every rank stepping the whole model. Run by one
-- process, where nothing is sharded, and by `mpirun -np 2`, with
-- NEURITE_PLUGIN_PATH at the fixtures (LegacySgd: an ABI 1.2 optimizer).
local ranks = dist.size()
local source = data.fashion_mnist():slice(1, 640) -- 10 global batches of 64
local checkpoint = "dist_shard_" .. ranks .. ".nrt"

-- 784-40-10: the arena's halves split the first weight, so each rank's
-- part begins or ends inside a parameter.
local function train_with(kind, options, whole, callbacks)
  tensor.seed(5)
  local model = nn.Sequential{nn.Dense(784, 40, {activation = "relu"}), nn.Dense(40, 10)}
  local optimizer = optim[kind](model, options)
  local during -- what optimizer:state() gave in the middle of train.fit
  local peek = {on_batch_end = function(_, _, f)
    if f.step == 3 then during = {pcall(optimizer.state, optimizer)} end
  end}
  local all = {peek}
  for _, cb in ipairs(callbacks or {}) do all[#all + 1] = cb end
  local before = dist.stats().allgather_calls
  local history = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer, data = source,
                            epochs = 2, batch_size = 64, verbose = 0, callbacks = all,
                            data_parallel = whole and {shard_optimizer = false} or true}
  return {model = model, optimizer = optimizer, during = during, gathers = dist.stats().allgather_calls - before,
          loss = history.loss}
end

-- On 2 ranks both ways sum the same two parts (a + b): the same numbers bit
-- for bit. On more, the reduce-scatter adds in another order than the
-- allreduce: within float rounding.
local exact = ranks <= 2
local function same_parameters(a, b, what)
  local pa, pb = a:parameters(), b:parameters()
  for i = 1, #pa do
    local diff = (pa[i] - pb[i]):abs():max()
    assert(diff <= (exact and 0 or 1e-4), string.format("%s: parameter %d differs by %.3g", what, i, diff))
  end
end

local cases = {
  {"SGD", {lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-4}},
  {"Adam", {lr = 0.01, amsgrad = true}},
  {"RMSProp", {lr = 0.01, momentum = 0.5, centered = true}},
  {"Adagrad", {lr = 0.05, initial_accumulator_value = 0.1}},
}
for _, case in ipairs(cases) do
  local kind, options = case[1], case[2]
  -- The sharded run writes a checkpoint at each epoch's end: the state in
  -- it is merged from both ranks' parts, and the run goes on sharded.
  local sharded = train_with(kind, options, false, {train.checkpoint{path = checkpoint}})
  local whole = train_with(kind, options, true)
  assert(whole.gathers == 0, kind .. ": a whole step gathers nothing")
  if ranks > 1 then
    assert(sharded.gathers == 20, string.format("%s: 20 steps each end with an allgather, got %d", kind, sharded.gathers))
    assert(not sharded.during[1] and tostring(sharded.during[2]):find("split between the ranks", 1, true),
           kind .. ": a sharded state cannot be saved inside train.fit: " .. tostring(sharded.during[2]))
  else
    assert(sharded.gathers == 0 and sharded.during[1], kind .. ": one process steps the whole model")
  end
  assert(whole.during[1], kind .. ": a whole optimizer's state can be saved at any time")
  -- The same arithmetic on the same summed gradients: bit for bit.
  same_parameters(sharded.model, whole.model, kind)
  for e = 1, 2 do
    local diff = math.abs(sharded.loss[e] - whole.loss[e])
    assert(diff <= (exact and 0 or 1e-4), string.format("%s: epoch %d loss %.9g sharded, %.9g whole", kind, e,
                                                        sharded.loss[e], whole.loss[e]))
  end
  -- After train.fit every rank holds the whole state again, the parts
  -- merged; so does the checkpoint written at each epoch's end.
  local extras = nn.Sequential{nn.Dense(784, 40), nn.Dense(40, 10)}:load(checkpoint)
  assert(#extras.optimizer == #whole.optimizer:state(), kind .. ": the checkpoint holds a whole optimizer state")
  if exact then
    assert(sharded.optimizer:state() == whole.optimizer:state(), kind .. ": the merged state differs from the whole step's")
    assert(extras.optimizer == whole.optimizer:state(), kind .. ": the checkpoint's optimizer state is not the whole one")
  end
  assert(extras.optimizer == sharded.optimizer:state(), kind .. ": the checkpoint's state is not the merged one")
  print(string.format("rank %d: %s sharded = whole (loss %.6f)", dist.rank(), kind, sharded.loss[2]))
end

-- An optimizer built for ABI 1.2 has no shard slot: stepped whole on every
-- rank, the ranks keep the same weights, those of optim.SGD without momentum.
local legacy = train_with("LegacySgd", {lr = 0.05}, false)
assert(legacy.gathers == 0 and legacy.during[1], "LegacySgd is stepped whole on every rank")
for i, p in ipairs(legacy.model:parameters()) do
  local high, low = dist.allreduce(p:clone(), "max"), dist.allreduce(p:clone(), "min")
  assert((high - low):abs():max() == 0, "LegacySgd: parameter " .. i .. " differs between the ranks")
end
local sgd = train_with("SGD", {lr = 0.05}, false)
for i, p in ipairs(legacy.model:parameters()) do
  local diff = (p - sgd.model:parameters()[i]):abs():max()
  assert(diff <= 1e-6, string.format("LegacySgd: parameter %d is %.3g from SGD's", i, diff))
end
print(string.format("rank %d: LegacySgd (ABI 1.2) stepped whole, loss %.6f", dist.rank(), legacy.loss[2]))
