-- os.exit(code) ends the run with that code wherever it is called: inside
-- pcall, xpcall, a coroutine or a Lua-defined layer that the host calls
-- under its own protected call. arg[1] picks the case.
local case = arg[1]
if case == "pcall" then
  print(pcall(os.exit, 3))
elseif case == "xpcall" then
  print(xpcall(function() os.exit(4) end, function() return "swallowed" end))
elseif case == "coroutine" then
  print(coroutine.resume(coroutine.create(function() os.exit(5) end)))
elseif case == "nested" then
  print(pcall(function()
    local co = coroutine.wrap(function() pcall(os.exit, 6) end)
    co()
  end))
elseif case == "layer" then
  local Quit = nn.define{name = "Quit", forward = function() os.exit(7) end,
                         backward = function(_, _, g) return g end,
                         output_shape = function(_, s) return s end}
  local m = nn.Sequential{Quit()}
  print(pcall(m.forward, m, tensor{{1, 2}}))
end
print("after os.exit: must not be printed")
