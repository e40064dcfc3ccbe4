-- Shared by npy.lua and onnx.lua: whole-file reads and writes, and an
-- expected error. Loaded with dofile(<this folder> .. "file_helpers.lua").
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

return M
