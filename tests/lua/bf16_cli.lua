-- neurite-run --precision bf16: every model starts in bf16, and train.fit's
-- first line names the kernels (ctest checks the output).
local kernels = nn.bf16_kernels()
if not kernels.supported then
  print("bf16_cli.lua: skipped, no bf16 kernels")
  return
end
assert(nn.default_precision() == "bf16", nn.default_precision())
local model = nn.Sequential{nn.Dense{inputs = 4, outputs = 8, activation = "relu"}, nn.Dense{inputs = 8, outputs = 2}}
assert(model:precision() == "bf16", model:precision())
assert(model:summary():find("precision bf16: bf16 layers, f32 master weights", 1, true), model:summary())
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
          data = {x = tensor.randn{16, 4}, y = tensor.zeros{16, 2}}, epochs = 1, batch_size = 8}
model:set_precision("f32")
assert(model:precision() == "f32")
assert(not model:summary():find("precision bf16", 1, true), model:summary())
print("bf16_cli.lua: ok")
