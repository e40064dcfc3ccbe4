-- ONNX export and import (issue 14): every built-in entry exports, passes
-- onnx::checker and re-imports with the same outputs; an MLP and a residual
-- graph round-trip; PyTorch's files (tests/data/onnx, made by make_onnx.py)
-- import and reproduce PyTorch's outputs; bad files give errors naming the
-- file and the node. arg[1]: the folder of the PyTorch files.
local data = assert(arg[1], "usage: onnx.lua <tests/data/onnx>")

local helpers = dofile((arg[0]:match("^(.*[/\\])") or "") .. "file_helpers.lua")
local read, write, fails = helpers.read, helpers.write, helpers.fails
-- max |a - b| / max |b|: the relative error of a whole output.
local function rel_diff(a, b)
  return (a - b):abs():max() / math.max(b:abs():max(), 1e-30)
end
-- Each exported model, its inputs and Neurite's outputs, for the ONNX Runtime
-- cross-check (tests/lua/ort_check.js reads ort_cases.txt).
local cases_file = assert(io.open("ort_cases.txt", "w"))
local case_count = 0
local function ort_case(path, inputs, outputs, what)
  case_count = case_count + 1
  local name = "ort_" .. case_count
  write(name .. ".onnx", read(path))
  for i, t in ipairs(inputs) do t:save_npy(name .. "_in" .. i .. ".npy") end
  for i, t in ipairs(outputs) do t:save_npy(name .. "_out" .. i .. ".npy") end
  cases_file:write(string.format("%s %d %d %s\n", name, #inputs, #outputs, what))
end
local worst = 0
local function same_outputs(model, x, path, tolerance, what)
  local expected = model:forward(x):clone()
  ort_case(path, {x}, {expected}, what)
  local back = nn.import_onnx(path)
  local got = back:forward(x)
  assert(got:dim() == expected:dim() and got:numel() == expected:numel(), what .. ": shapes differ")
  local d = rel_diff(got, expected)
  worst = math.max(worst, d)
  assert(d <= tolerance, string.format("%s: relative difference %.3g > %.3g", what, d, tolerance))
  return back
end

-- Every built-in activation after a Dense, and Dense's fused activations.
local x = tensor.randn{7, 4} * 2
local cases = {
  {"Identity"}, {"ReLU"}, {"Sigmoid"}, {"Tanh"}, {"ArcTan"}, {"SoftPlus"}, {"LeakyReLU", {negative_slope = 0.2}},
  {"ELU", {alpha = 0.5}}, {"PReLU", {channels = 5}}, {"PReLU", {channels = 1, init = 0.1}}, {"Softmax"},
  {"LogSoftmax"}, {"GELU"}, {"GELU", {approximate = "tanh"}}, {"Swish"}, {"Swish", {beta = 1.7}},
  {"BinaryStep"}, {"Sign"},
}
for _, case in ipairs(cases) do
  local act = case[2] and nn[case[1]](case[2]) or nn[case[1]]()
  local model = nn.Sequential{nn.Dense(4, 5), act}
  model:eval()
  local what = case[1] .. (case[2] and (" " .. next(case[2]) .. "=" .. tostring(case[2][next(case[2])])) or "")
  assert(nn.export_onnx(model, "entry.onnx") == "entry.onnx")
  assert(nn.check_onnx("entry.onnx"), what)
  same_outputs(model, x, "entry.onnx", 1e-6, what)
end
for _, act in ipairs{"identity", "relu", "sigmoid", "tanh", "elu", "softplus", "gelu", "swish"} do
  local model = nn.Sequential{nn.Dense(4, 6, {activation = act}), nn.Dense(6, 3, {bias = false})}
  nn.export_onnx(model, "dense.onnx", {opset = 13})
  nn.check_onnx("dense.onnx")
  same_outputs(model, x, "dense.onnx", 1e-6, "Dense activation = " .. act)
end
local model = nn.Sequential{nn.Dense(4, 6, {activation = "gelu", approximate = "tanh"})}
nn.export_onnx(model, "dense.onnx")
same_outputs(model, x, "dense.onnx", 1e-6, "Dense gelu tanh")

-- An MLP (trained a little, so its weights are not the initial ones).
local mlp = nn.Sequential{nn.Dense(4, 32, {activation = "relu"}), nn.Dense(32, 32, {activation = "tanh"}),
                          nn.Dense(32, 3), nn.Softmax()}
local target = tensor.randn{7, 3}:softmax(2)
local opt = optim.Adam(mlp, {lr = 0.01})
local loss = nn.MSELoss()
for _ = 1, 20 do
  opt:zero_grad()
  local pred = mlp:forward(x)
  loss:forward(pred, target)
  mlp:backward(x, loss:backward(pred, target), false)
  opt:step()
end
mlp:eval()
nn.export_onnx(mlp, "mlp.onnx")
local back = same_outputs(mlp, x, "mlp.onnx", 1e-6, "MLP")
assert(back:forward(tensor.randn{1, 4}):size(1) == 1 and back:forward(tensor.randn{33, 4}):size(1) == 33,
       "the batch dimension is dynamic")
mlp:save("cli_model.nrt") -- for the --export-onnx test
mlp:forward(x):save_npy("cli_expected.npy")
x:save_npy("cli_x.npy")

-- A residual graph: Add, Multiply, Concat; two inputs and two outputs.
local a, b = nn.Input{4}, nn.Input{4}
local h = nn.Dense(4, 4, {activation = "relu"})(a)
local sum = nn.Add()(h, a)
local gate = nn.Sigmoid()(nn.Dense(4, 4)(b))
local prod = nn.Multiply()(sum, gate)
local joined = nn.Concat()(sum, prod, b)
local residual = nn.Model{inputs = {a, b}, outputs = {nn.Dense(12, 2)(joined), sum}}
local xb = tensor.randn{7, 4}
nn.export_onnx(residual, "residual.onnx")
nn.check_onnx("residual.onnx")
local expected = residual:forward{x, xb}
local e1, e2 = expected[1]:clone(), expected[2]:clone()
ort_case("residual.onnx", {x, xb}, {e1, e2}, "residual graph")
local rb = nn.import_onnx("residual.onnx")
local got = rb:forward{x, xb}
assert(rel_diff(got[1], e1) <= 1e-6 and rel_diff(got[2], e2) <= 1e-6, "residual model")
worst = math.max(worst, rel_diff(got[1], e1), rel_diff(got[2], e2))
-- Nested models are inlined.
local nested = nn.Sequential{nn.Sequential{nn.Dense(4, 4, {activation = "tanh"}), nn.ReLU()}, nn.Dense(4, 2)}
nn.export_onnx(nested, "nested.onnx")
same_outputs(nested, x, "nested.onnx", 1e-6, "nested Sequential")

-- A layer defined in Lua gives its own ONNX form (onnx_form, in ONNX's
-- textual syntax): a rectifier re-imports as ReLU with the same outputs; a
-- cube, which the importer has no layer for, is checked here and run by
-- ONNX Runtime when it is installed.
nn.define{kind = "activation", name = "LuaRectifier",
          forward = function(self, v) return v:clamp(0, math.huge) end,
          backward = function(self, v, g) return g * v:gt(0) end,
          onnx_form = function(self, opset) return "{ Y0 = Relu(X0) }" end}
local rectified = nn.Sequential{nn.Dense(4, 3), nn.LuaRectifier()}
nn.export_onnx(rectified, "lua_rectifier.onnx")
same_outputs(rectified, x, "lua_rectifier.onnx", 1e-6, "a Lua layer's form")
nn.define{kind = "activation", name = "LuaCube",
          forward = function(self, v) return v * v * v end,
          backward = function(self, v, g) return g * v * v * 3 end,
          onnx_form = function(self, opset) return "{ square = Mul(X0, X0)\n Y0 = Mul(square, X0) }" end}
local cube = nn.Sequential{nn.Dense(4, 3), nn.LuaCube()}
nn.export_onnx(cube, "lua_cube.onnx")
nn.check_onnx("lua_cube.onnx")
ort_case("lua_cube.onnx", {x}, {cube:forward(x)}, "a Lua layer's own ONNX form (no importer)")
cases_file:close()
nn.define{kind = "activation", name = "LuaWrongForm",
          forward = function(self, v) return v end, backward = function(self, v, g) return g end,
          onnx_form = function(self, opset) return 42 end}
fails("onnx_form must return a string (ONNX nodes in ONNX's textual syntax) or nil, got a number",
      nn.export_onnx, nn.Sequential{nn.Dense(4, 4), nn.LuaWrongForm()}, "wrong.onnx")

-- What cannot be exported says which layer and what to add.
nn.define{kind = "activation", name = "Cube",
          forward = function(self, v) return v * v * v end,
          backward = function(self, v, g) return g * v * v * 3 end}
fails("ONNX export: layer 2 (Cube) has no ONNX form: 'Cube' (from a Lua definition) gives none: add " ..
      "onnx_form = function(self, opset) return \"{ Y0 = ... }\" end to its nn.define (docs/interchange.md)",
      nn.export_onnx, nn.Sequential{nn.Dense(4, 4), nn.Cube()}, "cube.onnx")
fails("opset 12 is not supported; give 13 to 17", nn.export_onnx, mlp, "x.onnx", {opset = 12})
fails("the shape of input 1 is unknown", nn.export_onnx, nn.Sequential{nn.ReLU()}, "x.onnx")
nn.export_onnx(nn.Sequential{nn.ReLU()}, "relu.onnx", {input_shape = {3}})
fails("unknown option 'opsett'", nn.export_onnx, mlp, "x.onnx", {opsett = 13})

-- PyTorch's files: the same outputs as PyTorch (within 1e-5).
for _, name in ipairs{"mlp", "activations", "residual"} do
  local m = nn.import_onnx(data .. "/" .. name .. ".onnx")
  local input = tensor.load_npy(data .. "/" .. name .. "_x.npy")
  local want = tensor.load_npy(data .. "/" .. name .. "_y.npy")
  local d = rel_diff(m:forward(input), want)
  print(string.format("PyTorch %s: relative difference %.3g", name, d))
  assert(d <= 1e-5, name .. ": " .. d)
end
-- An imported model fine-tunes: a few steps lower its loss.
local tuned = nn.import_onnx(data .. "/residual.onnx")
tuned:train()
local xi, yi = tensor.load_npy(data .. "/residual_x.npy"), tensor.zeros{5, 3}
local o2 = optim.SGD(tuned, {lr = 0.05})
local first
for step = 1, 10 do
  o2:zero_grad()
  local pred = tuned:forward(xi)
  local l = loss:forward(pred, yi)
  first = first or l
  tuned:backward(xi, loss:backward(pred, yi), false)
  o2:step()
end
assert(loss:forward(tuned:forward(xi), yi) < first, "fine-tuning an imported model lowers its loss")

-- Bad files: every unsupported operator at once, truncation, a newer opset.
local err = fails(data .. "/unsupported.onnx: 2 nodes use operators that Neurite cannot import:",
                  nn.import_onnx, data .. "/unsupported.onnx")
assert(err:find("(Sin)", 1, true) and err:find("(Cos)", 1, true) and err:find("(supported: Gemm", 1, true), err)
err = fails(data .. "/dynamic_reshape.onnx: 5 nodes use operators that Neurite cannot import:", nn.import_onnx,
            data .. "/dynamic_reshape.onnx")
assert(err:find("node '/Shape' (Shape)", 1, true) and err:find("node '/Gather' (Gather)", 1, true) and
       err:find("node '/Reshape' (Reshape): its target shape '/Concat_output_0' is computed in the graph", 1, true),
       err)
fails(data .. "/dangling.onnx: node 'second' (Relu) reads 'nowhere', which no input, initializer or node defines",
      nn.import_onnx, data .. "/dangling.onnx")
fails(data .. "/too_new.onnx: opset 18 is newer than this Neurite reads (opsets up to 17)", nn.import_onnx,
      data .. "/too_new.onnx")
local good = read("mlp.onnx")
write("truncated.onnx", good:sub(1, #good // 2))
fails("truncated.onnx: not an ONNX model, or a truncated or corrupt one", nn.import_onnx, "truncated.onnx")
write("garbage.onnx", string.rep("\255", 64))
fails("garbage.onnx: not an ONNX model", nn.import_onnx, "garbage.onnx")
write("empty.onnx", "")
fails("empty.onnx: the file is empty", nn.import_onnx, "empty.onnx")
fails("truncated.onnx: not an ONNX model", nn.check_onnx, "truncated.onnx")
-- Every cut and many flipped bytes: an error or a model, never a crash.
local outcomes = {[true] = 0, [false] = 0}
for cut = 0, #good - 1, 61 do
  write("cut.onnx", good:sub(1, cut))
  local ok = pcall(nn.import_onnx, "cut.onnx")
  outcomes[ok] = outcomes[ok] + 1
end
for i = 1, #good, 43 do
  write("flip.onnx", good:sub(1, i - 1) .. string.char(good:byte(i) ~ 0x5A) .. good:sub(i + 1))
  local ok, m = pcall(nn.import_onnx, "flip.onnx")
  if ok then pcall(m.forward, m, x) end
  outcomes[ok] = outcomes[ok] + 1
end
print(string.format("damaged files: %d refused, %d imported", outcomes[false], outcomes[true]))
print(string.format("onnx ok (worst round-trip relative difference %.3g)", worst))
