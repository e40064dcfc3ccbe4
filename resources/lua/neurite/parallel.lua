-- neurite/parallel.lua: what train.fit does differently in a data-parallel
-- run, `mpirun -np N neurite-run script.lua` (or srun), with no change to
-- the script. The ranks count from 0, as in MPI; rank 0 is the main one
-- (see the dist module).
--
-- Every rank draws the same global shuffle (the same generator state, made
-- sure of at the start) and takes its part of each global batch of
-- batch_size samples: batch_size // N samples each, and the first
-- batch_size % N ranks one more (shard_part; the core splits a dataset's
-- batches by the same rule). A part of a last, small batch may be empty;
-- that rank adds zeros. Each part's loss gradient is weighted by the part's
-- share of the batch (n / batch for a loss that averages, 1 for one that
-- sums), so the sum of the parts' parameter gradients, one MPI_Allreduce
-- over the model's contiguous gradient arena, is the gradient of the whole
-- batch, and every rank takes the same optimizer step. One small allreduce
-- per step makes the loss, the accuracy and any stop request global: the
-- curve is that of one process on the same batches, and all ranks stop at
-- the same step.
--
-- Shipped readable beside train.lua, which the runtime runs with this
-- module's table.

local neurite = ...
local tensor, dist = neurite.tensor, neurite.dist

local parallel = {}

-- Where this rank takes part in a train.fit: {rank =, ranks =} under a
-- launcher with several ranks, nil in a run of one process, or when the
-- script asks each rank to train alone on all the data (data_parallel =
-- false: a sweep of one configuration per rank).
-- data_parallel = {shard_optimizer = false} keeps every rank stepping the
-- whole model (the comparison bench/dist_bench.sh makes).
function parallel.shard(opts)
  local mode = opts.data_parallel
  if mode == false or dist.size() < 2 then return nil end
  if mode ~= nil and mode ~= true and type(mode) ~= "table" then
    error("train.fit: data_parallel must be true, false or {shard_optimizer = false}, got " .. tostring(mode), 3)
  end
  local sharded = not (type(mode) == "table" and mode.shard_optimizer == false)
  return {rank = dist.rank(), ranks = dist.size(), shard_optimizer = sharded}
end

-- Rank shard.rank's part of the batch of `count` samples at position
-- `first`; without a shard, the whole batch. Returns where the part begins
-- and its size.
function parallel.shard_part(first, count, shard)
  if not shard then return first, count end
  local base, extra, r = count // shard.ranks, count % shard.ranks, shard.rank
  return first + r * base + math.min(r, extra), base + (r < extra and 1 or 0)
end

-- The weight of a part of n samples in a batch of `batch`.
function parallel.share(fit, n, batch)
  if not fit.shard or fit.summed then return 1 end
  return n / batch
end

-- The loss gradient (a tensor, or one per output) times the part's weight:
-- backward is linear in it, so every parameter gradient is weighted too.
function parallel.weighted(grad, weight)
  if weight == 1 then return grad end
  if tensor.is_tensor(grad) then return grad:mul_(weight) end
  for _, g in ipairs(grad) do g:mul_(weight) end
  return grad
end

-- After backward, this step's sums as a list: the loss weighted as the
-- gradient was, samples, correct predictions (correct(pred, y) counts
-- them), whether a stop was asked for, then each output's weighted loss and
-- correct predictions. In a data-parallel run the gradients and this list
-- are summed over the ranks (two allreduces), so every rank gets the
-- batch's values. x is false where this rank's part of the batch was empty.
function parallel.step_sums(fit, x, pred, y, value, weight, correct)
  local count = fit.outputs
  local samples = x and (type(x) == "table" and #x[1] or #x) or 0
  local sums = {value * weight, samples, 0, neurite.monitor.stop_requested() and 1 or 0}
  if count == 1 and pred and fit.accuracy[1] then sums[3] = correct(pred, y) end
  if count > 1 then
    for k = 1, count do
      sums[3 + 2 * k] = pred and fit.loss.values[k] * weight or 0
      sums[4 + 2 * k] = pred and fit.accuracy[k] and correct(pred[k], y[k]) or 0
    end
  end
  if not fit.shard then return sums end
  dist.reduce_gradients(fit.model, fit.optimizer) -- all of them, or this rank's part for a sharded step
  if fit.sharded then -- the ranks that found inf or nan in their part of the gradients
    sums[#sums + 1] = fit.optimizer:grads_finite() and 0 or 1
    fit.nonfinite_at = #sums
  end
  local asked = sums[4] > 0
  sums = dist.allreduce(sums, "sum")
  -- Another rank was asked to stop: this one stops as if asked too (it
  -- ends with "interrupted" and exit code 130, not with an error).
  if sums[4] > 0 and not asked then neurite.monitor.request_stop() end
  return sums
end

-- Whether the step's gradients are finite (the optimizer's check): with a
-- sharded step each rank checked its part, and the sums carry the verdict.
function parallel.grads_finite(fit, sums)
  if fit.sharded then return sums[fit.nonfinite_at] == 0 end
  return fit.optimizer:grads_finite()
end

-- Reductions whose gradient is a sum over the samples, not a mean.
local SUMMED = {sum = true, half_sum = true}

-- Makes every rank start alike: rank 0's weights and buffers, generator
-- state (which draws the shuffles) and resumed position. Raises on a rank
-- that resumed elsewhere than rank 0 (a checkpoint it could not read), at
-- the line that called train.fit (level 3: this, train.fit, the script).
function parallel.join(fit, start_epoch, losses)
  if fit.optimizer.needs_closure then
    error("train.fit: optim.LBFGS and optim.Newton evaluate the loss again inside their step, on this rank's " ..
          "data only; a data-parallel run needs a first-order optimizer (SGD, Adam, ...) or data_parallel = false", 3)
  end
  local summed = 0
  for _, l in ipairs(losses) do
    local config = type(l) == "userdata" and l.config and l:config() or {}
    if SUMMED[config.reduction] then summed = summed + 1 end
  end
  if summed > 0 and summed < #losses then
    error("train.fit: in a data-parallel run the losses must all average or all sum (their reduction)", 3)
  end
  fit.summed = summed > 0
  local at = dist.broadcast({start_epoch, fit.step}, 0)
  if at[1] ~= start_epoch or at[2] ~= fit.step then
    error(string.format("train.fit: rank %d starts at epoch %d step %d but rank 0 at epoch %d step %d; every " ..
                        "rank must read the same checkpoint (keep it where every node reads it)",
                        dist.rank(), start_epoch, fit.step, at[1], at[2]), 3)
  end
  tensor.set_rng_state(dist.broadcast(tensor.rng_state(), 0))
  dist.broadcast_parameters(fit.model, 0)
  -- Each rank steps its own part of the model (ZeRO stage 1): the
  -- gradients are reduce-scattered, the parameters allgathered after the
  -- step. Not with clip_grad_norm, whose norm needs all the gradients.
  fit.sharded = fit.shard.shard_optimizer and not fit.clip.clip_grad_norm and
                dist.shard_optimizer(fit.model, fit.optimizer)
end

-- The rows of a data source ({x =, y =} of tensors, datasets or lists of
-- them, or a dataset), or nil for a source of another kind.
local function rows(source)
  if type(source) == "userdata" then return #source end
  local x = type(source) == "table" and (source.x or source[1])
  if tensor.is_tensor(x) or type(x) == "userdata" then return #x end
  if type(x) == "table" and (tensor.is_tensor(x[1]) or type(x[1]) == "userdata") then return #x[1] end
  return nil
end

-- Rows first .. first + count - 1 of every tensor and dataset in a source.
local function slice(v, first, count)
  if tensor.is_tensor(v) then return v:narrow(1, first, count) end
  if type(v) == "userdata" then return v:slice(first, count) end
  if type(v) ~= "table" then return v end -- such as kind = "classes"
  local part = {}
  for k, p in pairs(v) do part[k] = slice(p, first, count) end
  return part
end

-- train.evaluate(opts) on the validation data at an epoch's end. In a
-- data-parallel run each rank evaluates a contiguous part of it (split as
-- the batches are) and the results are combined: every value weighted by
-- its part's samples, in one allreduce. A set smaller than the number of
-- ranks, or a source of another kind, is evaluated whole on every rank.
function parallel.evaluate(fit, evaluate, opts)
  local n = fit.shard and rows(opts.data)
  if not n or n < fit.shard.ranks then return evaluate(opts) end
  opts.data = slice(opts.data, parallel.shard_part(1, n, fit.shard))
  local result, keys = evaluate(opts), {}
  for k in pairs(result) do
    if k ~= "samples" then keys[#keys + 1] = k end
  end
  table.sort(keys) -- the same keys on every rank: they follow from the options
  local sums = {result.samples}
  for i, k in ipairs(keys) do sums[i + 1] = result[k] * result.samples end
  sums = dist.allreduce(sums, "sum")
  local combined = {samples = sums[1]}
  for i, k in ipairs(keys) do combined[k] = sums[i + 1] / sums[1] end
  return combined
end

-- At an epoch's end: each rank's running statistics (batch norm) saw its
-- own samples; their average is every rank's.
function parallel.end_epoch(fit)
  if fit.shard then dist.average_buffers(fit.model) end
  -- Interrupted: every rank gets the optimizer's whole state back, for the
  -- interrupt checkpoint and for a script that goes on after train.fit.
  if fit.interrupted then parallel.unshard(fit) end
end

-- The optimizer's whole state on every rank again, after a sharded run.
function parallel.unshard(fit)
  if fit.sharded then dist.unshard_optimizer(fit.optimizer) end
  fit.sharded = false
end

-- At the end of a run that was not interrupted: a stop asked of one rank
-- after the last step the ranks agreed on (in the last epoch's end) reaches
-- every rank here, so that all of them stop right after train.fit returns
-- ("interrupted", exit code 130), not that rank alone.
function parallel.finish(fit)
  if not fit.shard then return end
  parallel.unshard(fit)
  local asked = neurite.monitor.stop_requested()
  local sums = dist.allreduce({asked and 1 or 0}, "sum")
  if sums[1] > 0 and not asked then neurite.monitor.request_stop() end
end

return parallel
