-- Lua's pattern matcher backtracks for hours on this, inside one C call
-- that nothing can interrupt: the first Ctrl-C still ends the run, with a
-- message that says why it could not clean up.
local s = string.rep("a", 30000)
print("ready")
print(s:find((".-"):rep(8) .. "b"))
