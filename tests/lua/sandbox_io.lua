-- Run with --sandbox: must fail with exit code 1 at line 2.
local f = io.open("/etc/passwd")
