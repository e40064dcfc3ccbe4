-- Wrote tests/data/v1_mlp.nrt and v1_mlp_outputs.txt with a Neurite from before core v2
-- (checkpoint format 1, before commit c583cbe): neurite-run make_v1_mlp.lua -- v1_mlp.nrt v1_mlp_outputs.txt
local m = nn.Sequential{nn.Dense(3, 4, {activation = "tanh"}), nn.PReLU{channels = 4}, nn.Dense(4, 2)}
local x = tensor{{0.5, -1, 2}, {1, 0, -0.5}}
m:save(arg[1])
local y = m:forward(x)
local f = assert(io.open(arg[2], "w"))
for i = 1, 2 do for j = 1, 2 do f:write(string.format("%.9g\n", y:get(i, j))) end end
f:close()
