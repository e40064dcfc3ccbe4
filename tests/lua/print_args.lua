-- Prints what the script was given, for the command-line tests.
print("args: " .. table.concat(arg, " | ") .. " (" .. #arg .. ")")
print("sandboxed: " .. tostring(io == nil))
