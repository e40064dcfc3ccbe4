-- neurite/sweep.lua: train.sweep, grid and random search over
-- hyperparameters (as Keras Tuner's GridSearch and RandomSearch, and what
-- TensorBoard's HParams compares):
--   local results = train.sweep{
--     grid = {lr = {1e-3, 1e-2}, hidden = {32, 64}},   -- every combination
--     run = function(cfg) ... return history end,        -- one variant
--     metric = "val_accuracy", mode = "max"}
--   print(results.best.config.lr, results.best.metric)
-- With random = N, N variants are drawn from `grid` instead, where an entry
-- is a list (one value picked) or a range {min =, max = [, log = true]
-- [, integer = true]}. Each variant runs as a run of its own (monitor.run),
-- stored with its configuration as hyperparameters (docs/run-store.md), and
-- is seeded with seed + variant - 1, so that it gives the same numbers
-- whichever process runs it: neurite-run --sweep-parallel N runs the
-- variants in N processes (sweep_processes.cpp).

local neurite, train = ...
local monitor, tensor, json = neurite.monitor, neurite.tensor, neurite.json
local check_options, check_choice = neurite.check_options, neurite.check_choice
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp

local FN = "train.sweep"

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error(string.format("%s: grid takes hyperparameters by name (lr = {...}), got a key of type %s", FN,
                          type(k)), 3)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

local function is_range(v)
  return type(v) == "table" and (v.min ~= nil or v.max ~= nil)
end

-- grid: every combination, the last name (in sorted order) changing fastest.
local function grid_variants(grid, keys)
  local variants = {{}}
  for _, key in ipairs(keys) do
    local values = grid[key]
    if is_range(values) then
      error(string.format("%s: grid.%s is a range; ranges are drawn with random = N", FN, key), 3)
    end
    if type(values) ~= "table" then values = {values} end
    if #values == 0 then error(string.format("%s: grid.%s has no values", FN, key), 3) end
    local grown = {}
    for _, partial in ipairs(variants) do
      for _, value in ipairs(values) do
        local cfg = {}
        for k, v in pairs(partial) do cfg[k] = v end
        cfg[key] = value
        grown[#grown + 1] = cfg
      end
    end
    variants = grown
  end
  return variants
end

-- A generator of its own (a 64-bit LCG, Knuth's constants), so that drawing
-- the variants neither reads nor moves tensor.rand's or math.random's state.
local function generator(seed)
  local state = seed * 2862933555777941757 + 3037000493
  return function()
    state = state * 6364136223846793005 + 1442695040888963407
    return ((state >> 11) & ((1 << 53) - 1)) / (1 << 53) -- [0, 1)
  end
end

local function draw(spec, key, uniform)
  if not is_range(spec) then
    if type(spec) ~= "table" then return spec end
    if #spec == 0 then error(string.format("%s: grid.%s has no values", FN, key), 4) end
    return spec[1 + math.floor(uniform() * #spec)]
  end
  check_options(spec, FN .. " range " .. key, {"min", "max", "log", "integer"}, 4)
  local lo, hi = spec.min, spec.max
  if type(lo) ~= "number" or type(hi) ~= "number" or lo > hi then
    error(string.format("%s: grid.%s needs numbers min <= max, got min = %s, max = %s", FN, key,
                        tostring(lo), tostring(hi)), 4)
  end
  if spec.log and lo <= 0 then
    error(string.format("%s: grid.%s: a log range needs min > 0, got %s", FN, key, tostring(lo)), 4)
  end
  local u = uniform()
  if spec.integer then return math.floor(lo + u * (math.floor(hi) - lo + 1)) end
  if spec.log then return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) end
  return lo + u * (hi - lo)
end

local function random_variants(grid, keys, count, seed)
  local uniform = generator(seed)
  local variants = {}
  for i = 1, count do
    local cfg = {}
    for _, key in ipairs(keys) do cfg[key] = draw(grid[key], key, uniform) end
    variants[i] = cfg
  end
  return variants
end

-- What the variant reached: the last value of every monitored scalar, with
-- what `run` returned on top (a number is the metric; a table's numbers, or
-- the last number of a list in it such as a history's, count by name).
local function variant_metrics(returned, metric)
  local metrics = monitor.final_metrics()
  if type(returned) == "number" then
    metrics[metric] = returned
  elseif type(returned) == "table" then
    for k, v in pairs(returned) do
      if type(k) == "string" then
        if type(v) == "number" then metrics[k] = v
        elseif type(v) == "table" and type(v[#v]) == "number" then metrics[k] = v[#v] end
      end
    end
  end
  return metrics
end

-- Runs variant i as a run of its own and returns its entry.
local function run_variant(opts, i, cfg, seed)
  local name = (opts.name or "sweep") .. "-" .. i
  local entry = {variant = i, config = cfg, seed = seed, status = "finished"}
  local run = monitor.run(name)
  entry.run_id = run.id
  -- The metric and direction go into run.json too: the window ranks the
  -- stored variants by them (its sweep table).
  local hparams = {sweep = opts.name or "sweep", variant = i, seed = seed,
                   sweep_metric = opts.metric, sweep_mode = opts.mode}
  for k, v in pairs(cfg) do hparams[k] = v end
  monitor.hparams(hparams)
  entry.run_dir = monitor.run_dir()
  tensor.seed(seed)
  local ok, returned = pcall(opts.run, cfg)
  if not ok and monitor.stop_requested() then
    -- Ctrl-C stops the sweep, not one variant. The run stays open: the
    -- script's end stores it as stopped, with this message (a binding
    -- called now would raise "interrupted" in its place).
    error(returned, 0)
  end
  entry.metrics = variant_metrics(ok and returned or nil, opts.metric)
  if ok then
    entry.metric = entry.metrics[opts.metric]
    if entry.metric ~= nil then monitor.hparams{sweep_result = entry.metric} end
    run:finish(true)
  else -- what it logged before failing stays in metrics; it ranks last
    entry.status, entry.error = "failed", tostring(returned)
    monitor.end_run(false, entry.error)
  end
  return entry
end

-- Best first; variants without the metric (failed ones, NaN) last, in order.
local function sort_results(results, mode)
  local function missing(e) return e.metric == nil or e.metric ~= e.metric end
  table.sort(results, function(a, b)
    if missing(a) or missing(b) or a.metric == b.metric then
      if missing(a) ~= missing(b) then return missing(b) end
      return a.variant < b.variant
    end
    if mode == "max" then return a.metric > b.metric end
    return a.metric < b.metric
  end)
end

-- The results of the script's sweeps so far, in order: a worker started
-- for a later sweep returns these instead of running them again.
local finished = {}

-- The parent of a --sweep-parallel sweep: the workers' entries, joined.
local function parallel_results(variants, number)
  local results = {}
  local ok, texts = pcall(neurite._sweep_spawn, #variants, number, (json.encode(finished)))
  if not ok then -- at the script's line, not this file's
    error(FN .. ": " .. tostring(texts):gsub("^[^\n]-:%d+: ", ""):gsub("^train%.sweep: ", ""), 3)
  end
  for _, text in ipairs(texts) do
    for _, entry in ipairs(json.decode(text)) do
      entry.config = variants[entry.variant] -- the parent drew the same variants
      results[#results + 1] = entry
    end
  end
  return results
end

local function keep(results, number)
  local plain = {}
  for i, e in ipairs(results) do plain[i] = e end
  finished[number] = plain
  results.best = results[1]
  return results
end

local function report(results, opts)
  if opts.verbose == 0 then return end
  local lines = {string.format("%s: %d variants, best by %s (%s):", FN, #results, opts.metric, opts.mode)}
  for rank, e in ipairs(results) do
    local parts = {}
    for _, key in ipairs(sorted_keys(e.config)) do parts[#parts + 1] = key .. "=" .. tostring(e.config[key]) end
    lines[#lines + 1] = string.format("  %d. variant %d  %s = %s  %s%s", rank, e.variant, opts.metric,
                                      e.metric and string.format("%.6g", e.metric) or "-", table.concat(parts, " "),
                                      e.status == "failed" and "  (failed: " .. e.error .. ")" or "")
  end
  print(table.concat(lines, "\n"))
end

-- train.sweep{grid =, run =, random =, metric = "loss", mode =, seed = 1,
--             name = "sweep", verbose = 1} -> results (sorted, best first;
-- results.best is results[1]); each entry: variant, config, metric,
-- metrics, seed, status, error, run_id, run_dir.
function train.sweep(opts)
  check_options(opts, FN, {"grid", "run", "random", "metric", "mode", "seed", "name", "verbose"}, 2)
  if type(opts.grid) ~= "table" then error(FN .. ": grid must be a table such as {lr = {1e-3, 1e-2}}", 2) end
  if type(opts.run) ~= "function" then error(FN .. ": run must be a function(cfg) that trains one variant", 2) end
  if opts.random ~= nil and (math.type(opts.random) ~= "integer" or opts.random < 1) then
    error(FN .. ": random must be a positive whole number of variants, got " .. tostring(opts.random), 2)
  end
  opts.metric = opts.metric or "loss"
  if type(opts.metric) ~= "string" then error(FN .. ": metric must be the name of a metric, e.g. \"val_loss\"", 2) end
  opts.mode = opts.mode or (opts.metric:find("acc") and "max" or "min")
  check_choice(opts.mode, FN, "mode", {"min", "max"}, 2)
  local seed = opts.seed or 1
  if math.type(seed) ~= "integer" then error(FN .. ": seed must be a whole number", 2) end
  local keys = sorted_keys(opts.grid)
  local variants = opts.random and random_variants(opts.grid, keys, opts.random, seed)
                   or grid_variants(opts.grid, keys)

  local number = #finished + 1
  local worker, workers, target, previous = neurite._sweep_role()
  if worker and number < target then
    return keep(json.decode(previous)[number], number) -- the parent ran this one already
  end
  local results = {}
  if not worker and neurite._sweep_processes() > 1 and #variants > 1 then
    results = parallel_results(variants, number)
  else
    for i, cfg in ipairs(variants) do
      if not worker or (i - 1) % workers + 1 == worker then
        results[#results + 1] = run_variant(opts, i, cfg, seed + i - 1)
      end
    end
  end
  if worker then
    neurite._sweep_finish_worker((json.encode(results))) -- and the worker ends here
  end
  sort_results(results, opts.mode)
  keep(results, number)
  report(results, opts)
  return results
end
