-- Never ends by itself: the cancel path (SIGINT) must stop it.
print("ready")
io.stdout:flush()
local n = 0
while true do n = n + 1 end
