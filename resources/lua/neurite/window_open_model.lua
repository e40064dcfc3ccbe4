-- neurite/window_open_model.lua: File → Open model… in the window, run in
-- the state of the last run. The window puts the path in the global
-- __neurite_model_path, so it is never spliced into Lua source. A .onnx file
-- is imported, any other file loaded as a Neurite checkpoint (.nrt). The
-- model is watched, so the Model panel draws its graph, and kept in the
-- global `model` for the console prompt (model:forward(x), model:summary()).
local path = __neurite_model_path
__neurite_model_path = nil
local opened
if path:lower():match("%.onnx$") then
  opened = nn.import_onnx(path)
else
  opened = nn.load(path)
end
model = opened
monitor.watch(opened)
print(string.format("Opened %s: %d parameters; the console's `model` is this model", path, opened:parameter_count()))
