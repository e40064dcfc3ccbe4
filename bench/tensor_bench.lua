-- tensor_bench.lua: the speed of tensor operations from Lua (measured, not
-- tested). neurite-run bench/tensor_bench.lua [repeats]
-- One line per operation, in neurite-bench's format:
--   add_b256x784 us=... gb_s=...
-- us is the median time of one call over `repeats` calls (after a warm-up);
-- gb_s counts the bytes the operation must read and write once. The first
-- group runs on both old and new builds (operations that existed before
-- the strided views), the second only where the newer operations exist.
local repeats = tonumber(arg[1]) or 200
local rows, cols = 256, 784
tensor.seed(1)
local a, b = tensor.rand(rows, cols), tensor.rand(rows, cols)
local row = tensor.rand(cols)
local w = tensor.rand(cols, 128)
local idx = tensor.randperm(rows)

local function median(values)
  table.sort(values)
  return values[(#values + 1) // 2]
end

local function measure(name, bytes, fn)
  for _ = 1, 5 do fn() end
  local times = {}
  for i = 1, repeats do
    local started = monitor.elapsed()
    fn()
    times[i] = monitor.elapsed() - started
  end
  local seconds = median(times)
  print(string.format("%s us=%.1f gb_s=%.2f", name, seconds * 1e6, bytes / seconds / 1e9))
end

local n = rows * cols * 4 -- bytes of one operand
measure("add_b256x784", 3 * n, function() return a + b end)
measure("mul_scalar_b256x784", 2 * n, function() return a * 2 end)
measure("add_row_b256x784", 2 * n, function() return a + row end)
measure("add__b256x784", 3 * n, function() return a:add_(b, 0) end)
measure("sum_dim2_b256x784", n, function() return a:sum(2) end)
measure("sum_dim1_b256x784", n, function() return a:sum(1) end)
measure("max_dim2_b256x784", n, function() return a:max(2) end)
measure("exp_b256x784", 2 * n, function() return a:exp() end)
measure("index_rows_b256x784", 2 * n, function() return a:index(1, idx) end)
measure("matmul_b256x784x128", n + cols * 128 * 4 + rows * 128 * 4, function() return a:matmul(w) end)
if not a.softmax then return end
local ones_index = tensor.ones(rows, cols)
local x3, y3 = tensor.rand(32, 64, 64), tensor.rand(32, 64, 64)
measure("add_transposed_b256x784", 3 * n, function() return a:t() + b:t() end)
measure("contiguous_of_t_b256x784", 2 * n, function() return a:t():contiguous() end)
measure("matmul_t_b256x784x256", 2 * n + rows * rows * 4, function() return a:matmul(b:t()) end)
measure("softmax_dim2_b256x784", 2 * n, function() return a:softmax(2) end)
measure("logsumexp_dim2_b256x784", n, function() return a:logsumexp(2) end)
measure("var_dim1_b256x784", n, function() return a:var(1) end)
measure("cumsum_dim1_b256x784", 2 * n, function() return a:cumsum(1) end)
measure("where_b256x784", 4 * n, function() return tensor.where(a:gt(0.5), a, b) end)
measure("gather_dim2_b256x784", 3 * n, function() return a:gather(2, ones_index) end)
measure("cat_dim2_b256x784", 4 * n, function() return tensor.cat({a, b}, 2) end)
measure("bmm_b32x64x64", 3 * 32 * 64 * 64 * 4, function() return x3:matmul(y3) end)
