-- Issue 11: hostile calls that crashed neurite-run (or read freed or foreign
-- memory) must raise an error naming the function and the bad value.
--   neurite-run memory_safety.lua [case]   (no case: all of them)
local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "message was: " .. tostring(err))
end

local cases = {}

-- Sizes whose byte count wrapped in allocate().
function cases.randperm()
  fails(function() return tensor.randperm(2 ^ 62) end,
        "tensor.randperm: n is 4611686018427387904; it must be between 0 and 16777216")
  fails(function() return tensor.randperm(-1) end, "tensor.randperm: n is -1")
  assert(tensor.randperm(0):numel() == 0)
end

function cases.linspace()
  fails(function() return tensor.linspace(0, 1, 2 ^ 62) end,
        "tensor.linspace: steps is 4611686018427387904; it must be between 0 and 1099511627776")
  fails(function() return tensor.arange(0, 2 ^ 62) end, "tensor.arange: 4.611686018e+18 elements are more")
  fails(function() return tensor.zeros(2 ^ 31, 2 ^ 31, 2 ^ 31) end, "has more elements than fit in memory")
  fails(function() return tensor.eye(2 ^ 40, 2 ^ 40) end, "has more elements than fit in memory")
end

-- start + length wrapped, then Tensor::fill wrote past the end.
function cases.narrow()
  local t = tensor.ones(16, 4)
  fails(function() return t:narrow(1, 2, math.maxinteger) end,
        "t:narrow: length 9223372036854775807 from start 2 does not fit dimension 1 of size 16 (at most 15)")
  fails(function() return t:narrow(2, math.mininteger, 1) end, "t:narrow: start -9223372036854775808 is out of range")
  fails(function() return t:narrow(1, 17, 1) end, "does not fit dimension 1 of size 16 (at most 0)")
  assert(t:narrow(1, 17, 0):numel() == 0, "an empty narrow at the end is allowed")
  fails(function() return t:expand(2 ^ 40, 16, 4) end, "has more elements than fit in memory")
  local ds = data.xor()
  fails(function() return ds:slice(2, math.maxinteger) end, "ds:slice: count is 9223372036854775807")
  fails(function() return ds:slice(math.mininteger) end, "ds:slice: first is -9223372036854775808")
end

-- A table whose __len lies: a negative size reached a memcpy.
function cases.negative_length()
  fails(function() return tensor(setmetatable({}, {__len = function() return -5 end})) end,
        "tensor: the table at the top has length -5")
  fails(function() return tensor{setmetatable({}, {__len = function() return -5 end})} end,
        "tensor: the table at [1] has length -5")
  fails(function() return tensor(setmetatable({}, {__len = function() return 2 ^ 50 end})) end,
        "has more elements than fit in memory")
  fails(function() return tensor(setmetatable({}, {__len = function() return 3 end})) end,
        "tensor: [1] is nil, expected a number")
end

-- The bound was compared as floats: 16777220 == float(16777219).
function cases.index_float()
  local n = 16777219
  local t = tensor.zeros(n, 1)
  fails(function() return t:index(1, {n + 1}) end,
        "t:index: index 16777220 (position 1) is out of range for dimension 1 of size 16777219")
  t:set(n, 1, 7)
  assert(t:index(1, {n}):item() == 7 and t:index(1, {n - 2, n}):sum() == 7)
  fails(function() return t:index(1, tensor{n + 1}) end, "t:index: index 16777220 is out of range")
  fails(function() return t:index(1, {1.5}) end, "t:index: index 1.5 (position 1) is not an integer")
  fails(function() return t:index(1, {0}) end, "t:index: index 0 (position 1) is out of range")
  local ds = data.tensors(tensor.zeros(n, 1), tensor.ones(n))
  fails(function() return ds:subset{n + 1} end, "ds:subset: index 16777220 (position 1) is out of range")
  fails(function() return ds:subset(tensor{n + 1}) end, "ds:subset: index 16777220 is out of range")
end

-- __gc called by hand, then the object used: freed memory was read.
function cases.tensor_gc()
  local t = tensor.ones(10, 10) * 5
  local row = t[3] -- a view made before: it keeps the memory alive
  local gc = getmetatable(t).__gc
  gc(t)
  gc(t) -- idempotent
  fails(function() return t:sum() end, "t:sum: the tensor was already freed")
  fails(function() return t + 1 end, "the tensor was already freed")
  fails(function() return t[1] end, "the tensor was already freed")
  fails(function() return tostring(t) end, "the tensor was already freed")
  for _ = 1, 3 do collectgarbage() end
  local junk = {}
  for i = 1, 100 do junk[i] = tensor.ones(10, 10) * -1e30 end
  assert(row:sum() == 50, "a view outlives its freed source: " .. row:sum())
  local p = nn.Dense(2, 2).weight
  gc(p)
  fails(function() return p.grad end, "the tensor was already freed")
end

function cases.dataset_gc()
  local ds = data.gaussians{count = 100}
  local gc = getmetatable(ds).__gc
  gc(ds)
  gc(ds)
  fails(function() return #ds end, "the dataset was already freed")
  fails(function() return ds:get(1) end, "ds:get: the dataset was already freed")
  fails(function() return ds.classes end, "the dataset was already freed")
  fails(function() return ds:batches{size = 10} end, "the dataset was already freed")
  local batches = {data.xor():batches{size = 2}}
  local closing = batches[4]
  getmetatable(closing).__gc(closing)
  getmetatable(closing).__gc(closing)
  assert(batches[1]() == nil, "a freed iterator ends the loop")
end

local only = arg and arg[1]
local ran = 0
for name, case in pairs(cases) do
  if not only or only == name then
    case()
    ran = ran + 1
  end
end
assert(ran > 0, "no case named " .. tostring(only))
print("memory safety ok (" .. ran .. " cases)")
