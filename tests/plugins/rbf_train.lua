-- Trains with the out-of-tree RBF layer (loaded through NEURITE_PLUGIN_PATH):
-- the loss on the two moons must fall well below where it started.
assert(nn.RBF, "the RBF plugin is not loaded; is NEURITE_PLUGIN_PATH set?")
local moons = data.moons{count = 200, noise = 0.1, seed = 3}
local model = nn.Sequential{
  nn.RBF{inputs = 2, units = 8, gamma = 2.0},
  nn.Dense{inputs = 8, outputs = 2},
}
local history = train.fit{model = model, loss = nn.CrossEntropyLoss(),
                          optimizer = optim.Adam(model, {lr = 0.05}),
                          data = moons, epochs = 40, batch_size = 20, verbose = 0}
local first, last = history.loss[1], history.loss[#history.loss]
print(string.format("rbf moons: loss %.4f -> %.4f", first, last))
assert(last < 0.6 * first, string.format("the loss went from %.4f to %.4f only", first, last))

-- The template's own ONNX form (plugin ABI 1.2): the trained model exports
-- and passes the ONNX checker. With arg[1] a folder, it also leaves the
-- model, an input and Neurite's output there for ONNX Runtime
-- (tests/lua/ort_check.js reads ort_cases.txt).
local onnx_path = (arg[1] or ".") .. "/ort_1.onnx"
nn.export_onnx(model, onnx_path)
nn.check_onnx(onnx_path)
if arg[1] then
  model:eval()
  local x = moons:inputs():narrow(1, 1, 16)
  x:save_npy(arg[1] .. "/ort_1_in1.npy")
  model:forward(x):save_npy(arg[1] .. "/ort_1_out1.npy")
  local cases = assert(io.open(arg[1] .. "/ort_cases.txt", "w"))
  cases:write("ort_1 1 1 RBF plugin's own ONNX form\n")
  cases:close()
end
print("rbf: exported to ONNX and checked")
