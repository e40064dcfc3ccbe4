-- Run with NEURITE_PLUGIN_PATH naming a folder of libraries that crash while
-- loading: the run goes on without them, and nn.refusals() says why each was
-- refused.
local reasons = {}
for _, r in ipairs(nn.refusals()) do reasons[r.file:match("[^/]+$")] = r.reason end
local function expect(file, part)
  local reason = reasons[file]
  assert(reason, file .. " is not among the refused libraries")
  assert(reason:find(part, 1, true), file .. ": the reason lacks '" .. part .. "': " .. reason)
end
expect("abort_on_load.so", "crashed with SIGABRT in its entry point neurite_plugin_entry when loaded in a probe process")
expect("segv_on_dlopen.so", "crashed with SIGSEGV in dlopen (its static constructors)")
-- The built-in plugins are there as always.
local m = nn.Sequential{nn.Dense(2, 1)}
assert(m:forward(tensor{{1, 2}}):size(1) == 1)
print("quarantine ok")
