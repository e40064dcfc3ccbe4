-- Messages about bad input count from 1, as the rest of the Lua API does,
-- and an empty checkpoint path is an error of ours, not a Qt warning.
local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(err:find(pattern, 1, true), "message was: " .. tostring(err))
end

local model = nn.Sequential{nn.Dense(4, 2)}
local x = tensor.zeros{3, 4}
x:set(2, 3, 0/0)
fails(function() model:forward(x) end, "input [3, 4] holds NaN at sample 2, feature 3;")
x:set(2, 3, 0)
x:set(3, 1, -math.huge)
fails(function() model:forward(x) end, "holds -Inf at sample 3, feature 1;")
local images = tensor.zeros{2, 1, 2, 3}
images:reshape{12}:set(11, math.huge) -- sample 2, channel 1, row 2, column 2
fails(function() model:forward(images) end, "holds Inf at sample 2, element [1, 2, 2];")
fails(function() model:forward(tensor{1, 2, 0/0}) end, "holds NaN at element 3;")

fails(function() nn.load("") end, "input_messages.lua:21: nn.load: the path is empty")
fails(function() model:load("") end, "the path is empty")
fails(function() model:save("") end, "the path is empty")
print("input messages ok")
