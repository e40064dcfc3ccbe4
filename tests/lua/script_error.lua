-- Exit code 1 and file:line with a traceback on stderr.
local function inner() error("deliberate failure") end
inner()
