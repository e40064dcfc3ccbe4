-- The tensor surface: constructors, 1-based access, arithmetic, reductions.
local t = tensor{{1, 2, 3}, {4, 5, 6}}
assert(t:dim() == 2 and t:numel() == 6 and #t == 2)
local s = t:shape(); assert(s[1] == 2 and s[2] == 3)
assert(t:get(2, 3) == 6 and t:get(1, 1) == 1)
t:set(1, 1, 10); assert(t:get(1, 1) == 10); t:set(1, 1, 1)
assert(t:sum() == 21 and t:mean() == 3.5 and t:max() == 6 and t:min() == 1)
assert((t + 1):get(2, 3) == 7 and (2 * t):get(2, 2) == 10 and (1 - t):get(1, 2) == -1)
assert((t / 2):get(2, 2) == 2.5 and (-t):get(1, 3) == -3 and (t ^ 2):get(2, 1) == 16)
assert((t * t):get(2, 3) == 36 and (t - t):abs():sum() == 0)
local row = tensor{10, 20, 30}
assert((t + row):get(2, 3) == 36, "broadcast a row over the rows")
local mm = t:matmul(t:t())
assert(mm:get(1, 2) == 32 and mm:get(2, 2) == 77)
assert(t:t():get(3, 2) == 6)
local am = t:argmax(2); assert(am:get(1) == 3 and am:get(2) == 3)
assert(tensor{3, 9, 2}:argmax() == 2)
local sums = t:sum(1); assert(sums:get(1) == 5 and sums:get(3) == 9)
assert(math.abs(tensor{0}:exp():get(1) - 1) < 1e-7 and math.abs(tensor{1}:exp():log():get(1) - 1) < 1e-6)
assert(tensor{4}:sqrt():get(1) == 2 and tensor{-2}:abs():get(1) == 2)
local r = t:reshape{3, 2}; assert(r:get(3, 2) == 6)
r:set(1, 1, 100); assert(t:get(1, 1) == 100, "reshape shares memory"); r:set(1, 1, 1)
local c = t:clone(); c:fill(0); assert(t:sum() == 21 and c:sum() == 0)
c:copy(t); assert(c:equal(t))
local nested = t:totable(); assert(nested[2][3] == 6)
assert(tensor.zeros{2, 2}:sum() == 0 and tensor.ones(2, 3):sum() == 6)
tensor.seed(7); local a = tensor.rand{5}; tensor.seed(7); local b = tensor.rand{5}
assert(a:equal(b), "tensor.rand is seedable")
local n = tensor.randn{1000}; assert(math.abs(n:mean()) < 0.15)
local p = tensor.randperm(10); assert(p:sum() == 55 and p:max() == 10 and p:min() == 1)
assert(t:index(1, tensor{2, 1}):get(1, 1) == 4 and t:narrow(1, 2, 1):get(1, 3) == 6)
assert(tostring(tensor{1, 2}):find("tensor [2]", 1, true))
local big = tostring(tensor.zeros{1000, 1000}); assert(#big < 2000 and big:find("...", 1, true))
assert(require("neurite").tensor == tensor and require("neurite").nn == nn)
-- Views keep the memory they show alive after the tensor they came from is gone.
local view = tensor.ones{100, 100}:reshape{10000}
local rows = (tensor.ones{50, 4} * 2):narrow(1, 10, 5)
local w = nn.Dense(4, 4).weight:reshape{16}
for _ = 1, 3 do collectgarbage() end
local junk = {}
for i = 1, 200 do junk[i] = tensor.zeros{100, 100} + i end
assert(view:sum() == 10000 and rows:sum() == 40 and w:numel() == 16)
print("tensor ops ok")
