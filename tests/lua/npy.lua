-- .npy and .npz: round trips for every dtype, byte-for-byte agreement with
-- NumPy's own files (tests/data/npy, made by make_npy.py), state_dict round
-- trips, and errors that name the file and the field.
-- arg[1]: the folder of the NumPy fixtures.
local data = assert(arg[1], "usage: npy.lua <tests/data/npy>")

local helpers = dofile((arg[0]:match("^(.*[/\\])") or "") .. "file_helpers.lua")
local read, write, fails = helpers.read, helpers.write, helpers.fails

-- NumPy's files read back as the values NumPy wrote.
local t, dtype = tensor.load_npy(data .. "/f32.npy")
assert(dtype == "float32")
assert(t:equal(tensor{{1.5, -2.25, 3}, {0, 1e-3, -7}}), tostring(t))
t, dtype = tensor.load_npy(data .. "/f64.npy")
assert(dtype == "float64" and t:numel() == 3)
assert(math.abs(t:get(1) - 0.1) < 1e-8 and t:get(2) == -2.5 and math.abs(t:get(3) / 1e30 - 1) < 1e-7, tostring(t))
t, dtype = tensor.load_npy(data .. "/i64.npy")
assert(dtype == "int64" and t:equal(tensor{{-3, 0}, {7, 123456}}), tostring(t))
t, dtype = tensor.load_npy(data .. "/u1.npy")
assert(dtype == "uint8" and t:equal(tensor{{0, 1}, {200, 255}}), tostring(t))
t = tensor.load_npy(data .. "/scalar.npy")
assert(t:dim() == 0 and t:item() == 4.5, tostring(t))

-- Written files are NumPy's bytes exactly (header, padding and values).
for _, case in ipairs{{"f32.npy", "float32"}, {"i64.npy", "int64"}, {"u1.npy", "uint8"}, {"scalar.npy", "float32"}} do
  local src = tensor.load_npy(data .. "/" .. case[1])
  src:save_npy("out_" .. case[1], {dtype = case[2]})
  assert(read("out_" .. case[1]) == read(data .. "/" .. case[1]), case[1] .. " differs from NumPy's file")
end

-- Round trips of every dtype.
local x = tensor{{1, 2, 3}, {-4, 5.5, 1e-7}}
for _, dt in ipairs{"float32", "float64"} do
  assert(x:save_npy("rt.npy", {dtype = dt}) == x, "save_npy returns the tensor")
  local back, stored = tensor.load_npy("rt.npy")
  assert(stored == dt and back:equal(x), dt .. " round trip")
end
local ints = tensor{{0, 255}, {17, 3}}
for _, dt in ipairs{"int64", "uint8"} do
  ints:save_npy("rt.npy", {dtype = dt})
  local back, stored = tensor.load_npy("rt.npy")
  assert(stored == dt and back:equal(ints), dt .. " round trip")
end
local wide = tensor.randn{3, 1, 4, 2}
wide:save_npy("rt.npy")
assert(tensor.load_npy("rt.npy"):equal(wide), "4-D round trip")
local strided = tensor{{1, 2}, {3, 4}}:t()
strided:save_npy("rt.npy")
assert(tensor.load_npy("rt.npy"):equal(tensor{{1, 3}, {2, 4}}), "a transposed view is saved as it reads")

-- Values that do not fit an integer dtype, unknown dtypes and options.
fails("element 2 is 5.5, not a whole number", x.save_npy, tensor{1, 5.5}, "bad.npy", {dtype = "int64"})
fails("element 1 is 256, not a whole number in [0, 255]", x.save_npy, tensor{256}, "bad.npy", {dtype = "uint8"})
fails("unknown dtype 'int32' (dtypes: float32, float64, int64, uint8)", x.save_npy, x, "bad.npy", {dtype = "int32"})
fails("unknown option 'dtyp'", x.save_npy, x, "bad.npy", {dtyp = "int64"})

-- Bad files name the file and the field or byte.
fails(data .. "/i4.npy: byte 20: unsupported dtype '<i4'", tensor.load_npy, data .. "/i4.npy")
fails("Fortran (column-major) order", tensor.load_npy, data .. "/fortran.npy")
fails(data .. "/big_f64.npy: byte 136: element 2 is 1e+300, too large for float32", tensor.load_npy,
      data .. "/big_f64.npy")
local good = read(data .. "/f32.npy")
write("truncated.npy", good:sub(1, #good - 3))
fails("truncated.npy: ", tensor.load_npy, "truncated.npy")
write("noheader.npy", good:sub(1, 40))
fails("noheader.npy: byte ", tensor.load_npy, "noheader.npy")
write("notnpy.npy", "hello world, not numpy at all")
fails("notnpy.npy: byte 0: not a NumPy .npy file", tensor.load_npy, "notnpy.npy")
fails("no-such-file.npy: cannot open", tensor.load_npy, "no-such-file.npy")
for cut = 0, #good - 1 do -- every prefix: an error, never a crash
  write("cut.npy", good:sub(1, cut))
  assert(not pcall(tensor.load_npy, "cut.npy"), "a cut at " .. cut .. " must be refused")
end

-- state_dict: PyTorch's keys, copies, and a round trip into another model.
local model = nn.Sequential{nn.Dense(4, 6, {activation = "relu"}), nn.Tanh(), nn.Dense(6, 3), nn.PReLU{channels = 3}}
local sd = model:state_dict()
local keys = {}
for k in pairs(sd) do keys[#keys + 1] = k end
table.sort(keys)
assert(table.concat(keys, " ") == "0.bias 0.weight 2.bias 2.weight 3.alpha", table.concat(keys, " "))
assert(sd["0.weight"]:size(1) == 6 and sd["0.weight"]:size(2) == 4, "Dense weight is {outputs, inputs}")
local input = tensor.randn{5, 4}
local expected = model:forward(input):clone()
local other = nn.Sequential{nn.Dense(4, 6, {activation = "relu"}), nn.Tanh(), nn.Dense(6, 3), nn.PReLU{channels = 3}}
assert(not other:forward(input):equal(expected), "a fresh model differs")
assert(other:load_state_dict(sd) == other)
assert(other:forward(input):equal(expected), "load_state_dict gives the same outputs")
sd["0.weight"]:fill(0) -- a copy: the model is unchanged
assert(model:forward(input):equal(expected), "state_dict returns copies")

-- Errors: every problem at once, and nothing changed.
local before = other:forward(input):clone()
local bad = other:state_dict()
bad["0.weight"] = tensor.zeros{6, 5}
bad["2.bias"] = nil
bad["7.weight"] = tensor.zeros{1}
local err = fails("m:load_state_dict: the model was not changed:", other.load_state_dict, other, bad)
assert(err:find("unexpected key 7.weight", 1, true), err)
assert(err:find("missing key 2.bias", 1, true), err)
assert(err:find("shape mismatch: '0.weight' (Dense) is [6, 4] in the model but [6, 5] in the table", 1, true), err)
assert(other:forward(input):equal(before), "a refused state_dict leaves the model as it was")
local partial = {["2.bias"] = tensor.ones{3}}
fails("missing keys 0.weight, 0.bias, 2.weight, 3.alpha", other.load_state_dict, other, partial)
other:load_state_dict(partial, {strict = false})
assert(other:state_dict()["2.bias"]:equal(tensor.ones{3}), "strict = false loads what is given")
fails("'0.weight' must be a tensor", other.load_state_dict, other, {["0.weight"] = 3})

-- Graph models and nested models: node indices as keys.
local inp = nn.Input{4}
local h = nn.Dense(4, 4, {activation = "tanh"})(inp)
local out = nn.Add()(h, inp)
local graph = nn.Model{inputs = inp, outputs = nn.Dense(4, 2)(out)}
local gkeys = {}
for k in pairs(graph:state_dict()) do gkeys[#gkeys + 1] = k end
table.sort(gkeys)
assert(table.concat(gkeys, " ") == "0.bias 0.weight 2.bias 2.weight", table.concat(gkeys, " "))
local nested = nn.Sequential{nn.Sequential{nn.Dense(2, 2)}, nn.Dense(2, 1)}
assert(nested:state_dict()["0.0.weight"] and nested:state_dict()["1.bias"], "nested keys")

-- .npz: one .npy per parameter, read back by name.
nn.save_npz(model, "model.npz")
local loaded = nn.load_npz("model.npz")
for k, v in pairs(model:state_dict()) do assert(loaded[k] and loaded[k]:equal(v), "npz member " .. k) end
local fresh = nn.Sequential{nn.Dense(4, 6, {activation = "relu"}), nn.Tanh(), nn.Dense(6, 3), nn.PReLU{channels = 3}}
fresh:load_state_dict(nn.load_npz("model.npz"))
assert(fresh:forward(input):equal(expected), "an .npz round trip gives the same outputs")
-- A PyTorch network's state_dict, saved by numpy.savez: its keys are ours.
local torch_mlp = nn.Sequential{nn.Dense(4, 8), nn.ReLU(), nn.Dense(8, 3)}
torch_mlp:load_state_dict(nn.load_npz(data .. "/torch_mlp.npz"))
local want = tensor.load_npy(data .. "/torch_mlp_y.npy")
local diff = (torch_mlp:forward(tensor.load_npy(data .. "/torch_mlp_x.npy")) - want):abs():max() / want:abs():max()
print(string.format("PyTorch state_dict through .npz: relative difference %.3g", diff))
assert(diff <= 1e-6, "PyTorch's weights give PyTorch's outputs: " .. diff)
local zip = read("model.npz")
assert(zip:sub(1, 4) == "PK\3\4" and zip:find("0.weight.npy", 1, true), "a zip of <name>.npy members")
nn.save_npz({a = tensor{1, 2}}, "table.npz")
assert(nn.load_npz("table.npz").a:equal(tensor{1, 2}))
write("broken.npz", zip:sub(1, #zip // 2))
fails("broken.npz: not a readable .npz (zip) archive", nn.load_npz, "broken.npz")
fails("nn.save_npz: argument 1 must be a model or a table", nn.save_npz, 42, "x.npz")
print("npy ok")
