-- On a CPU without bf16 instructions precision "bf16" refuses, naming them,
-- rather than run oneDNN's emulation. ctest plays such a CPU by capping
-- oneDNN with ONEDNN_MAX_CPU_ISA=AVX512_CORE (AVX-512 without BF16 or AMX).
local kernels = nn.bf16_kernels()
assert(kernels.name == "none" and not kernels.supported,
       "run with ONEDNN_MAX_CPU_ISA=AVX512_CORE; kernels: " .. kernels.name)
assert(kernels.missing:find("AVX512-BF16", 1, true) and kernels.missing:find("AMX", 1, true), kernels.missing)

local model = nn.Sequential{nn.Dense{inputs = 4, outputs = 2}}
local ok, err = pcall(model.set_precision, model, "bf16")
assert(not ok, "set_precision(\"bf16\") must refuse without bf16 instructions")
for _, part in ipairs{'precision "bf16" needs bfloat16 instructions', "AVX512-BF16 (avx512_bf16)",
                      "AMX (amx_bf16, amx_tile)", "ONEDNN_MAX_CPU_ISA=AVX512_CORE", 'Use precision "f32"'} do
  assert(err:find(part, 1, true), "the refusal says " .. part .. ": " .. err)
end
assert(model:precision() == "f32", "a refused switch leaves the model in f32")

ok, err = pcall(train.fit, {model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                            data = {x = tensor.zeros{8, 4}, y = tensor.zeros{8, 2}}, precision = "bf16", verbose = 0})
assert(not ok and err:find("train.fit: ", 1, true) and err:find("needs bfloat16 instructions", 1, true), tostring(err))
-- f32 still trains.
train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
          data = {x = tensor.zeros{8, 4}, y = tensor.zeros{8, 2}}, precision = "f32", epochs = 1, verbose = 0}
print("bf16_refusal.lua: ok")
