-- After `neurite-run --export-onnx cli_model.nrt cli_model.onnx` (see
-- tests/lua/CMakeLists.txt): the file imports and gives the saved model's outputs.
local m = nn.import_onnx("cli_model.onnx")
assert(nn.check_onnx("cli_model.onnx"))
local got, want = m:forward(tensor.load_npy("cli_x.npy")), tensor.load_npy("cli_expected.npy")
local d = (got - want):abs():max() / want:abs():max()
assert(d <= 1e-6, "relative difference " .. d)
print("onnx cli ok")
