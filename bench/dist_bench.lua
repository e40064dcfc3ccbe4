-- dist_bench.lua: data-parallel training speed, measured (not tested).
--   neurite-run --threads T bench/dist_bench.lua [epochs] [batch]    (1 rank)
--   mpirun -np N neurite-run bench/dist_bench.lua [epochs] [batch]   (N ranks)
-- bench/dist_bench.sh runs the configurations of issue 15 and the table.
-- The Fashion-MNIST MLP of neurite-bench (784-256-128-10 ReLU, SGD lr 0.05
-- momentum 0.9, cross-entropy) through train.fit at a global batch of 256.
-- Rank 0 prints one line in neurite-bench's format:
--   dist_mlp_b256 ranks=N step=sharded|whole samples_per_s=... step_ms=... allreduce_calls_per_step=...
--     allreduce_bytes_per_step=... allreduce_ms_per_step=... allgather_..._per_step=...
--     isolated_allreduce_ms=... test_acc=...
-- (with a sharded step the allreduce figures are the reduce-scatter's).
-- samples_per_s is the median over the epochs after the first. The
-- allreduce time per step is what train.fit's collectives took (waiting for
-- the slower rank included); isolated_allreduce_ms is one allreduce of the
-- gradient arena alone, the median of 50 after a barrier; small_allreduce_us
-- the latency of one allreduce of 8 numbers.
local epochs = tonumber(arg[1]) or 4
local batch = tonumber(arg[2]) or 256 -- the global batch
-- "whole": every rank steps the whole model (allreduce), not its own part
-- (reduce-scatter, the part's step, allgather), train.fit's default.
local whole = arg[3] == "whole"

local train_ds, test_ds = data.fashion_mnist()
local mlp = nn.Sequential{nn.Dense(784, 256, {activation = "relu"}), nn.Dense(256, 128, {activation = "relu"}),
                          nn.Dense(128, 10)}
local optimizer = optim.SGD(mlp, {lr = 0.05, momentum = 0.9})

-- Per epoch: the collectives' calls, bytes and seconds (this rank's).
local per_epoch, last = {}, dist.stats()
local measure = {on_epoch_end = function()
  local now = dist.stats()
  per_epoch[#per_epoch + 1] = {calls = now.allreduce_calls - last.allreduce_calls,
                               bytes = now.allreduce_bytes - last.allreduce_bytes,
                               seconds = now.allreduce_seconds - last.allreduce_seconds,
                               gathers = now.allgather_calls - last.allgather_calls,
                               gather_bytes = now.allgather_bytes - last.allgather_bytes,
                               gather_seconds = now.allgather_seconds - last.allgather_seconds}
  last = now
end}
local history = train.fit{model = mlp, loss = nn.CrossEntropyLoss(), optimizer = optimizer, data = train_ds,
                          epochs = epochs, batch_size = batch, verbose = 0, callbacks = {measure},
                          data_parallel = whole and {shard_optimizer = false} or true}

local function median(list)
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  return sorted[#sorted // 2 + 1]
end
local rates, allreduce_ms, allgather_ms = {}, {}, {}
local steps = math.ceil(#train_ds / batch)
for e = math.min(2, epochs), epochs do
  rates[#rates + 1] = history.samples_per_s[e]
  allreduce_ms[#allreduce_ms + 1] = per_epoch[e].seconds / steps * 1000
  allgather_ms[#allgather_ms + 1] = per_epoch[e].gather_seconds / steps * 1000
end
local rate = median(rates)

-- One allreduce of the gradient arena on its own, as a step does it; and
-- the latency: an allreduce of 8 numbers, the median of 7 runs of 1,000.
local isolated, latency = {}, {}
if dist.size() > 1 then
  for _ = 1, 50 do
    dist.barrier()
    local before = dist.stats().allreduce_seconds
    dist.allreduce_gradients(mlp, "sum")
    isolated[#isolated + 1] = (dist.stats().allreduce_seconds - before) * 1000
  end
  local small = {1, 2, 3, 4, 5, 6, 7, 8}
  for _ = 1, 7 do
    dist.barrier()
    local before = dist.stats().allreduce_seconds
    for _ = 1, 1000 do dist.allreduce(small) end
    latency[#latency + 1] = (dist.stats().allreduce_seconds - before) * 1000 -- us per call
  end
end

local acc = train.evaluate{model = mlp, data = test_ds}.accuracy
if dist.is_main() then
  local e = per_epoch[epochs]
  print(string.format("dist_mlp_b%d ranks=%d threads=%d step=%s samples_per_s=%.0f step_ms=%.3f " ..
                      "allreduce_calls_per_step=%.0f allreduce_bytes_per_step=%.0f allreduce_ms_per_step=%.3f " ..
                      "allgather_calls_per_step=%.0f allgather_bytes_per_step=%.0f allgather_ms_per_step=%.3f " ..
                      "isolated_allreduce_ms=%.3f small_allreduce_us=%.2f " ..
                      "parameters=%d test_acc=%.4f epochs=%d", batch, dist.size(), dist.threads(),
                      (whole or dist.size() == 1) and "whole" or "sharded", rate, batch / rate * 1000,
                      e.calls / steps, e.bytes / steps, median(allreduce_ms),
                      e.gathers / steps, e.gather_bytes / steps, median(allgather_ms),
                      #isolated > 0 and median(isolated) or 0, #latency > 0 and median(latency) or 0,
                      mlp:parameter_count(), acc, epochs))
end
