-- A 6000² product takes seconds: Ctrl-C must stop it within one, and not
-- corrupt the heap (a signal delivered into oneDNN's kernels once did).
local a = tensor.rand(6000, 6000)
print("ready")
while true do local c = a:matmul(a) end
