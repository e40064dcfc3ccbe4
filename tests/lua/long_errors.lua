-- A Lua-defined entry's error longer than the plugin ABI's 1 KiB message
-- buffer arrives whole: its root cause, at the end, used to be cut off.
local cause = "the root cause is here"
local long = string.rep("context ", 400) -- 3200 bytes before the cause

nn.define{name = "LongLoss", kind = "loss",
          forward = function() error(long .. cause) end,
          backward = function(_, pred) return pred end}
local ok, err = pcall(function() return nn.LongLoss():forward(tensor{{1, 2}}, tensor{{1, 2}}) end)
assert(not ok and err:find(cause, 1, true), "loss forward: the cause was cut: ..." .. tostring(err):sub(-80))

nn.define{name = "LongInit",
          init = function() error(long .. cause) end,
          forward = function(_, x) return x end,
          backward = function(_, _, g) return g end}
ok, err = pcall(nn.LongInit)
assert(not ok and err:find(cause, 1, true), "layer init: the cause was cut: ..." .. tostring(err):sub(-80))
print("long errors ok")
