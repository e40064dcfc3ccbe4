-- ONNX for the layers of the convolutional issue (Conv2D, ConvTranspose2D,
-- MaxPool2D, AvgPool2D, GlobalAvgPool2D, BatchNorm, LayerNorm, Dropout,
-- Flatten, Reshape): a PyTorch CNN (tests/data/onnx/cnn.onnx, make_onnx.py)
-- imports within 1e-5 of PyTorch's outputs, and a Neurite CNN exports at
-- opsets 13 and 17, passes the checker and re-imports with its outputs.
-- Exit 77 (reported as skipped) while those layers are not registered.
-- arg[1]: the folder of the PyTorch files.
local data = assert(arg[1], "usage: onnx_cnn.lua <tests/data/onnx>")
local have, missing = {}, {}
for _, e in ipairs(nn.plugins()) do have[e.name] = true end
for _, name in ipairs{"Conv2D", "ConvTranspose2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "BatchNorm",
                      "LayerNorm", "Dropout", "Flatten", "Reshape"} do
  if not have[name] then missing[#missing + 1] = name end
end
if #missing > 0 then
  -- Every operator of PyTorch's CNN still maps: the import stops only at the missing entry.
  local ok, err = pcall(nn.import_onnx, data .. "/cnn.onnx")
  assert(not ok and err:find("is not registered (its plugin is not loaded)", 1, true) and
         not err:find("cannot import", 1, true), err)
  print("SKIPPED: not registered: " .. table.concat(missing, ", ") .. " (cnn.onnx maps up to: " ..
        err:match("cnn.onnx: (.-) as ") .. ")")
  os.exit(77)
end

local function rel_diff(a, b)
  return (a - b):abs():max() / math.max(b:abs():max(), 1e-30)
end

local torch_cnn = nn.import_onnx(data .. "/cnn.onnx")
local d = rel_diff(torch_cnn:forward(tensor.load_npy(data .. "/cnn_x.npy")), tensor.load_npy(data .. "/cnn_y.npy"))
print(string.format("PyTorch cnn: relative difference %.3g", d))
assert(d <= 1e-5, "PyTorch's CNN: " .. d)

local model = nn.Sequential{
  nn.Conv2D{inputs = 1, outputs = 4, kernel = 3, padding = "same", activation = "relu"},
  nn.BatchNorm{features = 4},
  nn.MaxPool2D{kernel = 2},
  nn.Conv2D{inputs = 4, outputs = 6, kernel = {3, 3}, padding = 1, groups = 2},
  nn.AvgPool2D{kernel = 2, stride = 1, padding = 1, count_include_pad = false},
  nn.ConvTranspose2D{inputs = 6, outputs = 3, kernel = 2, stride = 2},
  nn.Dropout{p = 0.3},
  nn.GlobalAvgPool2D(),
  nn.Reshape{shape = {3, 1}},
  nn.Flatten(),
  nn.Dense(3, 4),
  nn.LayerNorm{shape = {4}},
}
local x = tensor.randn{5, 1, 8, 8}
model:train()
for _ = 1, 3 do model:forward(tensor.randn{16, 1, 8, 8} * 2 + 1) end -- running statistics move
model:eval()
local expected = model:forward(x):clone()
for _, opset in ipairs{13, 17} do
  nn.export_onnx(model, "cnn.onnx", {opset = opset, input_shape = {1, 8, 8}})
  assert(nn.check_onnx("cnn.onnx"))
  -- Below opset 17 LayerNorm is written as its decomposition (ReduceMean,
  -- Sub, Div, ...), which the checker accepts and ONNX Runtime runs, but
  -- which import does not fold back into a LayerNorm: round trips at 17.
  if opset >= 17 then
    local back = nn.import_onnx("cnn.onnx")
    local e = rel_diff(back:forward(x), expected)
    print(string.format("Neurite CNN, opset %d: relative difference %.3g", opset, e))
    assert(e <= 1e-6, "opset " .. opset .. ": " .. e)
  end
end
print("onnx cnn ok")
