-- Shared by npy.lua, onnx.lua, run_store.lua and sweep.lua: whole-file reads and
-- writes, an expected error, and neurite-run as a child. Loaded with
-- dofile(<this folder> .. "file_helpers.lua").
local M = {}

function M.read(name)
  local f = assert(io.open(name, "rb")); local bytes = f:read("a"); f:close(); return bytes
end

function M.write(name, bytes)
  local f = assert(io.open(name, "wb")); f:write(bytes); f:close()
end

-- Calls fn(...), which must fail with a message containing `pattern`; returns the message.
function M.fails(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error containing: " .. pattern)
  assert(err:find(pattern, 1, true), "expected '" .. pattern .. "' in: " .. err)
  return err
end

-- For tests that run neurite-run as a child (run_store.lua, sweep.lua):
-- runs `runner options` in folder `dir`; returns its exit code and output.
function M.run_in(dir, runner, options)
  local pipe = io.popen("cd " .. dir .. " && " .. runner .. " " .. options .. " 2>&1; echo \"exit=$?\"")
  local out = pipe:read("a")
  pipe:close()
  return tonumber(out:match("exit=(%d+)%s*$")), out
end

-- The names in folder `dir`, sorted (none when it does not exist).
function M.list(dir)
  local names = {}
  local pipe = io.popen("ls -1 " .. dir .. " 2>/dev/null")
  for line in pipe:lines() do names[#names + 1] = line end
  pipe:close()
  table.sort(names)
  return names
end

return M
