-- autograd_bench.lua: what autograd costs (measured, not tested).
-- neurite-run bench/autograd_bench.lua [repeats]
-- One line per case, in neurite-bench's format (us = median microseconds):
--   small_add_x1000: 1000 additions of two 4-element tensors, no tape (the
--     cost every tensor call pays for autograd: one test; runs on builds
--     without autograd too, for comparison);
--   mlp_forward_b64 / mlp_grad_b64 / mlp_hand_b64: a 784-128-10 tanh MLP's
--     cross-entropy on 64 samples: the forward alone, autograd.grad for
--     both weights, and the same gradients written by hand with tensor ops.
local repeats = tonumber(arg[1]) or 50
tensor.seed(1)

local function median(values)
  table.sort(values)
  return values[(#values + 1) // 2]
end

local function measure(name, fn)
  for _ = 1, 3 do fn() end
  local times = {}
  for i = 1, repeats do
    local started = monitor.elapsed()
    fn()
    times[i] = monitor.elapsed() - started
  end
  print(string.format("%s us=%.1f", name, median(times) * 1e6))
end

local p, q = tensor.rand(4), tensor.rand(4)
measure("small_add_x1000", function()
  for _ = 1, 1000 do local _ = p + q end
end)
if not autograd then return end

local x = tensor.randn(64, 784)
local labels = tensor.randint(1, 10, {64}):reshape{64, 1}
local onehot = tensor.zeros(64, 10):scatter(2, labels, 1)
local w1, w2 = tensor.randn(784, 128) * 0.05, tensor.randn(128, 10) * 0.1

local function loss(a, b)
  return -(x:matmul(a):tanh():matmul(b):log_softmax(2) * onehot):sum() / 64
end
measure("mlp_forward_b64", function() return loss(w1, w2) end)
measure("mlp_grad_b64", function() return autograd.grad(loss, {w1, w2}) end)
measure("mlp_hand_b64", function()
  local h = x:matmul(w1):tanh()
  local logp = h:matmul(w2):log_softmax(2)
  local dz = (logp:exp() - onehot) / 64
  local gw2 = h:t():matmul(dz)
  local dh = dz:matmul(w2:t()) * (1 - h * h)
  return x:t():matmul(dh), gw2
end)
-- The hand-written gradients agree with autograd's.
local g = autograd.grad(loss, {w1, w2})
local h = x:matmul(w1):tanh()
local dz = (h:matmul(w2):log_softmax(2):exp() - onehot) / 64
print(string.format("max difference from the hand-written gradient: %.2g",
                    math.max((g[2] - h:t():matmul(dz)):abs():max(),
                             (g[1] - x:t():matmul(dz:matmul(w2:t()) * (1 - h * h))):abs():max())))
