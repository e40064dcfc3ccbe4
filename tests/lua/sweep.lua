-- train.sweep: a grid of 4 variants gives 4 stored runs and a sorted table,
-- --sweep-parallel 2 gives the same numbers, random search draws from
-- ranges, and bad sweeps fail at the script's line.
-- Usage: neurite-run sweep.lua <neurite-run> <this folder>
local runner, here = arg[1], arg[2]
assert(runner and here, "usage: sweep.lua <neurite-run> <tests/lua folder>")
local files = dofile(here .. "/file_helpers.lua")
local json = require("neurite").json

local root = "sweep_work"
os.execute("rm -rf " .. root .. " && mkdir -p " .. root)

local function neurite_run(options) return files.run_in(root, runner, options) end
local function list(dir) return files.list(root .. "/" .. dir) end

-- The sweep script writes its results table (results_<tag>.json) for the
-- checks below; `run` trains a small classifier on moons per variant.
files.write(root .. "/grid.lua", [[
local tag = arg[1]
local ds = data.moons{count = 128, noise = 0.2, seed = 3}
local results = train.sweep{
  grid = {lr = {0.003, 0.03}, hidden = {4, 16}},
  metric = "accuracy",
  run = function(cfg)
    local model = nn.Sequential{nn.Dense(2, cfg.hidden, {activation = "tanh"}), nn.Dense(cfg.hidden, 2)}
    train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = cfg.lr}),
              data = ds, epochs = 3, batch_size = 32, metrics = {"accuracy"}, verbose = 0}
  end}
local f = assert(io.open("results_" .. tag .. ".json", "w"))
f:write((require("neurite").json.encode(results)))
f:close()
print("best", results.best.variant, results.best.metric)
-- A second sweep that builds on the first: workers return the first one's
-- results instead of running it again.
local second = train.sweep{grid = {epochs = {1, 2}}, name = "second", verbose = 0, run = function(cfg)
  local model = nn.Sequential{nn.Dense(2, results.best.config.hidden, {activation = "tanh"}),
                              nn.Dense(results.best.config.hidden, 2)}
  return train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = results.best.config.lr}),
                   data = ds, epochs = cfg.epochs, batch_size = 32, verbose = 0}
end}
f = assert(io.open("second_" .. tag .. ".json", "w"))
f:write((require("neurite").json.encode(second)))
f:close()
]])

local function check_sorted(results, what)
  assert(#results == 4, what .. ": 4 variants, got " .. #results)
  local seen = {}
  for k, e in ipairs(results) do
    assert(type(e.metric) == "number" and e.metric == e.metrics.accuracy, what .. ": metric is the final accuracy")
    assert(e.status == "finished" and e.seed == e.variant, what .. ": seeds 1..4 follow the variant")
    if k > 1 then assert(results[k - 1].metric >= e.metric, what .. ": sorted best (highest accuracy) first") end
    seen[e.config.lr .. "/" .. e.config.hidden] = true
  end
  for _, key in ipairs{"0.003/4", "0.003/16", "0.03/4", "0.03/16"} do assert(seen[key], what .. ": variant " .. key) end
end

-- 1. Serial, one thread: 4 stored runs with their configuration.
local code, out = neurite_run("--threads 1 --runs serial grid.lua serial")
assert(code == 0, out)
local serial = json.decode(files.read(root .. "/results_serial.json"))
check_sorted(serial, "serial")
assert(out:find("train.sweep: 4 variants, best by accuracy (max):", 1, true), out)
local runs = list("serial")
assert(#runs == 6, "a sweep of 4 and one of 2 give 6 stored runs, got " .. #runs)
local stored = {}
for _, id in ipairs(runs) do
  local r = json.decode(files.read(root .. "/serial/" .. id .. "/run.json"))
  local h = r.hyperparameters
  if h.sweep == "sweep" then
    assert(r.status == "finished" and h.lr and h.hidden and h.seed == h.variant)
    assert(h.optimizer.options.lr == h.lr, "the fit inside the variant recorded its optimizer too")
    stored[h.variant] = r.final_metrics.accuracy
  else
    assert(h.sweep == "second" and (h.epochs == 1 or h.epochs == 2))
  end
end
for _, e in ipairs(serial) do
  assert(stored[e.variant] == e.metric, "the table and the store agree on variant " .. e.variant)
  assert(e.run_dir:find("/sweep_work/serial/", 1, true), e.run_dir)
end

-- 2. --sweep-parallel 2 on 2 threads: two workers of 1 thread each, the
-- same variants, seeds and numbers, and 4 runs in the store.
code, out = neurite_run("--threads 2 --sweep-parallel 2 --runs parallel grid.lua parallel")
assert(code == 0, out)
local parallel = json.decode(files.read(root .. "/results_parallel.json"))
check_sorted(parallel, "parallel")
for k = 1, 4 do
  assert(parallel[k].variant == serial[k].variant and parallel[k].metric == serial[k].metric,
         string.format("rank %d: parallel variant %d (%s) = serial variant %d (%s)", k, parallel[k].variant,
                       parallel[k].metric, serial[k].variant, serial[k].metric))
  assert(parallel[k].metrics.loss == serial[k].metrics.loss, "identical losses")
end
assert(#list("parallel") == 6, "the workers store the 4 + 2 runs, got " .. #list("parallel"))
local second_serial = json.decode(files.read(root .. "/second_serial.json"))
local second_parallel = json.decode(files.read(root .. "/second_parallel.json"))
assert(#second_serial == 2 and #second_parallel == 2)
for k = 1, 2 do
  assert(second_serial[k].metric == second_serial[k].metrics.loss, "a returned history's last loss")
  assert(second_parallel[k].variant == second_serial[k].variant and second_parallel[k].metric == second_serial[k].metric,
         "the second sweep agrees too")
end

-- 2b. Ctrl-C stops a parallel sweep: the parent passes it to the workers,
-- all end (exit 130), and what they stored is "stopped" with the message.
files.write(root .. "/long.lua", [[
local ds = data.moons{count = 20000, seed = 1}
train.sweep{grid = {lr = {0.01, 0.02, 0.03, 0.04}}, run = function(cfg)
  local model = nn.Sequential{nn.Dense(2, 64, {activation = "tanh"}), nn.Dense(64, 2)}
  train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = cfg.lr}),
            data = ds, epochs = 500, batch_size = 8, verbose = 0}
end}
]])
local pipe = io.popen("cd " .. root .. " && (" .. runner .. " --sweep-parallel 2 --runs stopped long.lua >long.out 2>&1 & " ..
                      "pid=$!; sleep 3; kill -INT $pid; wait $pid; echo \"exit=$?\"; sleep 1; " ..
                      "pgrep -f '^/proc/self/exe --threads .* long.lua' | wc -l)")
out = pipe:read("a")
pipe:close()
assert(out:match("exit=130%s+0%s*$"), "interrupted, and no worker left running: " .. out .. files.read(root .. "/long.out"))
for _, id in ipairs(list("stopped")) do
  local r = json.decode(files.read(root .. "/stopped/" .. id .. "/run.json"))
  assert(r.status == "stopped" and r.message:find("long.lua:%d+: train%.%a+: interrupted"), r.status .. " " .. tostring(r.message))
end

-- 3. Random search: ranges drawn (log and integer), the same draws for the
-- same seed; a failing variant is stored as failed and sorted last.
files.write(root .. "/random.lua", [[
local function draws(seed)
  return train.sweep{random = 5, seed = seed, verbose = 0, metric = "score", mode = "min",
    grid = {lr = {min = 1e-4, max = 1e-1, log = true}, units = {min = 2, max = 9, integer = true}, act = {"relu", "tanh"}},
    run = function(cfg)
      if cfg.units <= 4 then error("four units are too few") end
      monitor.log("score", cfg.lr * cfg.units)
    end}
end
local a, b = draws(5), draws(5)
assert(#a == 5)
local failed = 0
for _, e in ipairs(a) do if e.status == "failed" then failed = failed + 1 end end
assert(failed >= 1 and failed < 5, "seed 5 draws failing and working variants, " .. failed .. " failed")
for k, e in ipairs(a) do
  assert(e.config.lr >= 1e-4 and e.config.lr <= 1e-1, "lr in its range")
  assert(math.type(e.config.units) == "integer" and e.config.units >= 2 and e.config.units <= 9)
  assert(e.config.act == "relu" or e.config.act == "tanh")
  assert(b[k].config.lr == e.config.lr and b[k].metric == e.metric, "the same seed draws the same variants")
  if e.status == "finished" then
    assert(e.metric == e.config.lr * e.config.units)
    if k > 1 and a[k - 1].metric then assert(a[k - 1].metric <= e.metric, "min mode: lowest first") end
  else
    assert(e.metric == nil and e.error:find("four units are too few", 1, true) and k > 1)
  end
end
local c = draws(6)
assert(c[1].config.lr ~= a[1].config.lr or c[2].config.lr ~= a[2].config.lr, "another seed, other draws")
print("random ok")
]])
code, out = neurite_run("--runs random random.lua")
assert(code == 0 and out:find("random ok", 1, true), out)
assert(#list("random") == 15, "3 sweeps of 5 variants are 15 runs")

-- 4. Mistakes are errors at the script's line.
files.write(root .. "/typo.lua", [[
train.sweep{grid = {lr = {1}}, run = function() end, metrc = "loss"}
]])
code, out = neurite_run("--no-runs typo.lua")
assert(code == 1 and out:find("typo.lua:1: train.sweep: unknown option 'metrc' (did you mean 'metric'?)", 1, true), out)
files.write(root .. "/range.lua", [[
train.sweep{grid = {lr = {min = 1, max = 2}}, run = function() end}
]])
code, out = neurite_run("--no-runs range.lua")
assert(code == 1 and out:find("range.lua:1: train.sweep: grid.lr is a range; ranges are drawn with random = N",
                               1, true), out)
code, out = neurite_run("--sweep-parallel 0 grid.lua x")
assert(code == 2 and out:find("--sweep-parallel needs", 1, true), out)
print("sweep ok")
