-- A third party's layers in ONNX export (plugin ABI 1.2's onnx_form slot),
-- from the registry fixture onnx_forms.so loaded through NEURITE_PLUGIN_PATH.
assert(nn.FixtureOnnxLinear, "the onnx_forms fixture is not loaded; is NEURITE_PLUGIN_PATH set?")
local function close(a, b, tolerance)
  local worst = (a - b):abs():max()
  assert(worst <= tolerance, string.format("outputs differ by %g", worst))
  return worst
end

-- A hand-computed linear layer whose form is a Gemm re-imports as a Dense:
-- the same numbers through ONNX.
tensor.seed(7)
local model = nn.Sequential{nn.FixtureOnnxLinear{inputs = 4, outputs = 3}, nn.Tanh(),
                            nn.FixtureScale{factor = 0.5}}
local x = tensor.randn{5, 4}
local expected = model:forward(x)
nn.export_onnx(model, "plugin_form.onnx")
nn.check_onnx("plugin_form.onnx")
-- The Mul by a Constant is not a pattern the importer knows; the Gemm alone is.
local linear = nn.Sequential{nn.FixtureOnnxLinear{inputs = 4, outputs = 3}}
local y_linear = linear:forward(x)
nn.export_onnx(linear, "plugin_linear.onnx")
local back = nn.import_onnx("plugin_linear.onnx")
local worst = close(back:forward(x), y_linear, 1e-5)
assert(tostring(back):find("Dense", 1, true), "the Gemm did not come back as a Dense: " .. tostring(back))
print(string.format("plugin form: Gemm re-imported as Dense, largest difference %g", worst))
assert(expected:size(1) == 5 and expected:size(2) == 3)

-- Every mistake in a form is an error naming the layer, the plugin and the fault.
local function refused(mistake, ...)
  local m = nn.Sequential{nn.Dense(2, 2), nn.FixtureOnnxBroken{mistake = mistake}}
  local ok, err = pcall(nn.export_onnx, m, "broken.onnx")
  assert(not ok, mistake .. ": the export went through")
  err = tostring(err)
  for _, part in ipairs{"FixtureOnnxBroken", ...} do
    assert(err:find(part, 1, true), mistake .. ": the error lacks '" .. part .. "': " .. err)
  end
  print(mistake .. ": " .. err)
end
refused("none", "has no ONNX form", "onnx_form slot of plugin ABI 1.2", "fixture-onnx-forms")
refused("syntax", "does not parse as ONNX's textual syntax", "fixture-onnx-forms")
refused("unknown_name", "reads 'offset', which is not an input", "parameter (none)")
refused("unknown_op", "the ONNX checker refuses", "Frobnicate")
refused("second_input", "reads X1 but the layer has 1 input(s)")
refused("no_output", "writes no output (name the layer's output Y0)")
refused("throws", "deliberate failure in onnx_form", "onnx_form")
print("onnx_form.lua: ok")
