-- neurite/window_prompt.lua: the window's console prompt, run in the state
-- of the last run. As the lua prompt does: an expression prints its values,
-- anything else runs as a statement. The window puts the line typed in the
-- global __neurite_prompt, so it is never spliced into Lua source.
local code = __neurite_prompt
__neurite_prompt = nil
local chunk = load("return " .. code, "=prompt")
if not chunk then chunk = assert(load(code, "=prompt")) end
local results = table.pack(chunk())
if results.n > 0 then print(table.unpack(results, 1, results.n)) end
