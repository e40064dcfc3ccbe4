-- activations.lua: every activation in the registry (built-in or plugin) and
-- its derivative at sample points, the table of seed 001. The derivative
-- comes from the entry's own backward pass with an output gradient of 1.

local xs = tensor{{-2, -1, -0.5, 0, 0.5, 1, 2}}
local header = {}
for i = 1, xs:numel() do header[i] = string.format("%7.2f", xs:get(1, i)) end
print(string.format("%-12s %-6s %s", "activation", "", table.concat(header)))

for _, entry in ipairs(nn.plugins("activation")) do
  local ok, act = pcall(nn[entry.name])
  if ok and entry.name ~= "Softmax" and entry.name ~= "LogSoftmax" then
    local y = act:forward(xs)
    local dy = act:backward(xs, tensor.ones(xs:shape()))
    local f, d = {}, {}
    for i = 1, xs:numel() do
      f[i] = string.format("%7.3f", y:get(1, i))
      d[i] = string.format("%7.3f", dy:get(1, i))
    end
    print(string.format("%-12s %-6s %s", entry.name, "f(x)", table.concat(f)))
    print(string.format("%-12s %-6s %s", "", "f'(x)", table.concat(d)))
  end
end
