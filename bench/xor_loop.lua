-- xor_loop.lua: the XOR 2-4-1 network trained from a plain Lua loop, timed
-- (issue 16 item 3). Not a test: bench/xor_bench.sh runs it side by side
-- with bench/torch_xor.py, the same loop in PyTorch.
--   neurite-run bench/xor_loop.lua [repeats = 7] [steps = 10000]
-- Each repeat trains a fresh network `steps` full-batch steps (zero_grad,
-- forward, loss forward and backward, backward, step); it prints lines in
-- neurite-bench's format, with the median over the repeats:
--   xor_torch7_form us_per_step=... min=... max=... cpu_us_per_step=... final_loss=...
-- cpu_us_per_step is the process's CPU time (os.clock, all its threads): a
-- proxy for the wall time of a quiet machine when others load this one.
-- Forms:
--   torch7_form  nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.Dense(4, 1), nn.Sigmoid()}
--   fused_form   nn.Dense with activation = "sigmoid" (two modules)
--   lua_layer    torch7_form with its second Dense + Sigmoid inside an
--                nn.define layer that calls them: what a Lua layer adds
--                (one forward and one backward call a step) over torch7_form

local repeats = tonumber(arg[1]) or 7
local steps = tonumber(arg[2]) or 10000

local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}

inner_layers = {}

-- A Lua layer wrapping two built-in layers: forward and backward call them
-- and return what they return (views of their buffers).
nn.define{
  name = "BenchDenseSigmoid", params = {{name = "inputs", type = "int"}, {name = "outputs", type = "int"}},
  parameters = {},
  init = function(self)
    self.dense, self.act = nn.Dense(self.inputs, self.outputs), nn.Sigmoid()
    inner_layers[#inner_layers + 1] = self.dense -- for the optimizer below
  end,
  forward = function(self, x)
    self.hidden = self.dense:forward(x)
    return self.act:forward(self.hidden)
  end,
  backward = function(self, x, grad_out)
    return self.dense:backward(x, self.act:backward(self.hidden, grad_out))
  end,
  output_shape = function(self, shape) return {shape[1], self.outputs} end,
}

local builders = {
  {"torch7_form", function()
    return nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.Dense(4, 1), nn.Sigmoid()}
  end},
  {"fused_form", function()
    return nn.Sequential{nn.Dense{inputs = 2, outputs = 4, activation = "sigmoid"},
                         nn.Dense{inputs = 4, outputs = 1, activation = "sigmoid"}}
  end},
  {"lua_layer", function()
    -- Second, so that its backward runs: a first layer without parameters of
    -- its own needs none (the host skips it), and its inner Dense would not learn.
    return nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.BenchDenseSigmoid{inputs = 4, outputs = 1}}
  end},
}

-- The model's parameters and those of the layers a Lua layer holds.
local function all_parameters(model)
  local list = model:parameters()
  for _, inner in ipairs(inner_layers) do
    for _, p in ipairs(inner:parameters()) do list[#list + 1] = p end
  end
  inner_layers = {}
  return list
end

local function train(model, n)
  local mse = nn.MSELoss()
  local opt = optim.SGD(all_parameters(model), {lr = 2.0, momentum = 0.9})
  local value
  for _ = 1, n do
    opt:zero_grad()
    local pred = model:forward(x)
    value = mse:forward(pred, y)
    model:backward(x, mse:backward(pred, y), false)
    opt:step()
  end
  return value
end

local function median(list)
  local sorted = {table.unpack(list)}
  table.sort(sorted)
  return sorted[(#sorted + 1) // 2]
end

for _, form in ipairs(builders) do
  local name, build = form[1], form[2]
  local times, cpu, last = {}, {}, nil
  train(build(), 200) -- primitives built, memory touched
  for r = 1, repeats do
    local model = build()
    local started, cpu_started = monitor.elapsed(), os.clock()
    last = train(model, steps)
    times[r] = (monitor.elapsed() - started) / steps * 1e6
    cpu[r] = (os.clock() - cpu_started) / steps * 1e6
  end
  table.sort(times)
  print(string.format("xor_%s us_per_step=%.2f min=%.2f max=%.2f cpu_us_per_step=%.2f final_loss=%.5f steps=%d repeats=%d",
                      name, median(times), times[1], times[#times], median(cpu), last, steps, repeats))
end
