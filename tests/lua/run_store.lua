-- The run store (docs/run-store.md) through neurite-run itself: each case
-- runs a small script in a child neurite-run and reads what it left under
-- --runs. Usage: neurite-run run_store.lua <neurite-run> <this folder>
local runner, here = arg[1], arg[2]
assert(runner and here, "usage: run_store.lua <neurite-run> <tests/lua folder>")
local files = dofile(here .. "/file_helpers.lua")
local json = require("neurite").json

local root = "run_store_work"
os.execute("rm -rf " .. root .. " && mkdir -p " .. root)

local function write_script(name, text)
  files.write(root .. "/" .. name, text)
  return name
end

-- Runs neurite-run in `root` with `options`; returns its exit code and output.
local function neurite_run(options) return files.run_in(root, runner, options) end
local function list(dir) return files.list(root .. "/" .. dir) end

local function run_json(dir, id) return json.decode(files.read(root .. "/" .. dir .. "/" .. id .. "/run.json")) end

local function metrics_lines(dir, id)
  local rows = {}
  for line in io.lines(root .. "/" .. dir .. "/" .. id .. "/metrics.jsonl") do rows[#rows + 1] = json.decode(line) end
  return rows
end

local FIT = [[
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}
local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 1, {activation = "sigmoid"})}
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.Adam(model, {lr = 0.05}),
          data = {x = x, y = y}, epochs = 6, batch_size = 2, verbose = 0}
model:save("xor.nrt")
]]

-- 1. Two runs of one script: two directories with distinct ids, each a
-- full record.
write_script("fit.lua", FIT)
for _ = 1, 2 do
  local code, out = neurite_run("--seed 7 --runs store fit.lua -- alpha --beta")
  assert(code == 0, out)
end
local ids = list("store")
assert(#ids == 2, "two runs give two run directories, got " .. #ids)
assert(ids[1] ~= ids[2])
for _, id in ipairs(ids) do
  local r = run_json("store", id)
  assert(r.id == id, "run.json names its directory")
  assert(r.status == "finished", "status " .. tostring(r.status))
  assert(r.script.path:match("/run_store_work/fit%.lua$"), r.script.path)
  assert(files.read(root .. "/store/" .. id .. "/fit.lua") == FIT, "the script is copied into the run")
  assert(#r.script.arguments == 2 and r.script.arguments[1] == "alpha" and r.script.arguments[2] == "--beta")
  assert(r.seed == "7", "seed " .. tostring(r.seed))
  local h = r.hyperparameters
  assert(h.optimizer.type == "Adam" and h.optimizer.options.lr == 0.05, json.encode(h))
  assert(h.optimizer.text:find("Adam(lr=0.05", 1, true))
  assert(h.batch_size == 2 and h.epochs == 6 and h.shuffle == true)
  assert(h.model:find("nn.Sequential", 1, true) and h.model:find("Dense(inputs=2, outputs=8", 1, true), h.model)
  assert(h.loss:find("MSELoss", 1, true), h.loss)
  assert(h.parameters == 33 and h.model_summary:find("33 parameters in all", 1, true), tostring(h.model_summary))
  assert(r.started < r.ended, "start " .. r.started .. " before end " .. r.ended)
  assert(r.epochs == 6, "epochs " .. tostring(r.epochs))
  -- metrics.jsonl holds every scalar; final_metrics is the last of each.
  local rows, last, epoch_losses = metrics_lines("store", id), {}, 0
  for _, row in ipairs(rows) do
    last[row.name] = row.value
    if row.name == "loss" then epoch_losses = epoch_losses + 1 end
  end
  assert(epoch_losses == 6, "one loss a epoch in metrics.jsonl, got " .. epoch_losses)
  assert(type(r.final_metrics.loss) == "number" and r.final_metrics.loss == last.loss,
         "final loss " .. tostring(r.final_metrics.loss) .. " is the last logged, " .. tostring(last.loss))
  assert(r.final_metrics.lr == 0.05)
  assert(#r.checkpoints == 1 and r.checkpoints[1].path:match("/run_store_work/xor%.nrt$"), json.encode(r.checkpoints))
end
-- Same seed, same script: the two runs trained alike.
assert(run_json("store", ids[1]).final_metrics.loss == run_json("store", ids[2]).final_metrics.loss)

-- 2. A failed run is kept with its status and message.
write_script("fails.lua", FIT .. "\nerror('deliberate failure after training')\n")
local code, out = neurite_run("--runs failed fails.lua")
assert(code == 1, out)
ids = list("failed")
assert(#ids == 1, "the failed run is stored")
local failed = run_json("failed", ids[1])
assert(failed.status == "failed", failed.status)
assert(failed.message:find("fails.lua:8: deliberate failure after training", 1, true), failed.message)
assert(failed.final_metrics.loss, "what it trained before failing is kept")

-- ... and so is one that fails inside train.fit, at the script's line.
write_script("bad_fit.lua", [[
local model = nn.Sequential{nn.Dense(2, 1)}
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
          data = {x = tensor.randn(8, 3), y = tensor.randn(8, 1)}, epochs = 1, verbose = 0}
]])
code, out = neurite_run("--runs failed bad_fit.lua")
assert(code == 1, out)
ids = list("failed")
assert(#ids == 2)
for _, id in ipairs(ids) do
  local r = run_json("failed", id)
  if r.script.path:match("bad_fit%.lua$") then
    assert(r.status == "failed" and r.message:find("bad_fit.lua:2:", 1, true), r.message)
  end
end

-- 3. --no-runs keeps nothing; the default is runs/ in the working directory.
code, out = neurite_run("--no-runs fit.lua")
assert(code == 0, out)
assert(#list("runs") == 0, "--no-runs writes no run store")
code, out = neurite_run("fit.lua")
assert(code == 0, out)
assert(#list("runs") == 1, "the default store is runs/")
code, out = neurite_run("--runs x --no-runs fit.lua")
assert(code == 2 and out:find("contradict", 1, true), out)

-- 4. The sandbox: the store is written only below the working directory,
-- symbolic links followed as for any write.
code, out = neurite_run("--sandbox --runs /tmp fit.lua")
assert(code == 1 and out:find("in sandbox mode files are written only below the working directory", 1, true), out)
os.execute("mkdir -p " .. root .. "/jail && ln -sfn /tmp " .. root .. "/jail/runs")
local pipe = io.popen("cd " .. root .. "/jail && " .. runner .. " --sandbox ../fit.lua 2>&1; echo \"exit=$?\"")
out = pipe:read("a"); pipe:close()
assert(out:find("exit=1", 1, true) and out:find("(it leads to /tmp)", 1, true), out)

print("run store ok")
