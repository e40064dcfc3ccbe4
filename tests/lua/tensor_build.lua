-- Building tensors: cat, stack, arange, linspace, eye, randperm, randint and
-- the *_like family, against values worked out by hand.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails, same = check.fails, check.same

local a = tensor{{1, 2, 3}, {4, 5, 6}}
local b = tensor{{7, 8, 9}}
same(tensor.cat{a, b}, {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, "cat along rows")
same(tensor.cat({a, tensor{{0}, {0}}}, 2), {{1, 2, 3, 0}, {4, 5, 6, 0}}, "cat(list, 2)")
same(tensor.cat({a, tensor{{0}, {0}}}, -1), {{1, 2, 3, 0}, {4, 5, 6, 0}}, "cat(list, -1)")
same(tensor.cat{a:t(), a:t()}, {{1, 4}, {2, 5}, {3, 6}, {1, 4}, {2, 5}, {3, 6}}, "cat of transposed views")
same(tensor.cat({a:t(), b:t()}, 2), {{1, 4, 7}, {2, 5, 8}, {3, 6, 9}}, "cat of views along columns")
same(tensor.cat{tensor{}, tensor{1, 2}, tensor{3}}, {1, 2, 3}, "cat skips 1-D empty tensors (a loop's start)")
same(tensor.cat{tensor{}, a}, {{1, 2, 3}, {4, 5, 6}}, "an empty start before matrices")
same(tensor.cat{a}, {{1, 2, 3}, {4, 5, 6}}, "cat of one")

same(tensor.stack{tensor{1, 2}, tensor{3, 4}}, {{1, 2}, {3, 4}}, "stack")
same(tensor.stack({tensor{1, 2}, tensor{3, 4}}, 2), {{1, 3}, {2, 4}}, "stack(list, 2)")
same(tensor.stack({tensor{1, 2}, tensor{3, 4}}, -1), {{1, 3}, {2, 4}}, "stack(list, -1)")
same(tensor.stack{tensor(1), tensor(2)}, {1, 2}, "stack of 0-d tensors")
same(tensor.stack{a, a:clone():mul_(2)}:sum(1), {{3, 6, 9}, {12, 15, 18}}, "stack then sum")

same(tensor.arange(5), {0, 1, 2, 3, 4}, "arange(5) (end excluded, as PyTorch)")
same(tensor.arange(1, 4), {1, 2, 3}, "arange(1, 4)")
same(tensor.arange(0, 1, 0.25), {0, 0.25, 0.5, 0.75}, "arange(0, 1, 0.25)")
same(tensor.arange(5, 0, -2), {5, 3, 1}, "arange(5, 0, -2)")
same(tensor.arange(3, 3), {}, "arange(3, 3)")
same(tensor.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1}, "linspace(0, 1, 5)")
same(tensor.linspace(2, 3, 1), {2}, "linspace(2, 3, 1)")
same(tensor.linspace(0, 1, 0), {}, "linspace(0, 1, 0)")
assert(tensor.linspace(-1, 1):numel() == 100, "linspace has 100 steps by default")
same(tensor.eye(2), {{1, 0}, {0, 1}}, "eye(2)")
same(tensor.eye(2, 3), {{1, 0, 0}, {0, 1, 0}}, "eye(2, 3)")
same(tensor.eye(0), {}, "eye(0)", nil, {0, 0})

same(tensor.zeros_like(a), {{0, 0, 0}, {0, 0, 0}}, "zeros_like")
same(tensor.ones_like(a:t()), {{1, 1}, {1, 1}, {1, 1}}, "ones_like of a view")
same(tensor.full_like(a, 7), {{7, 7, 7}, {7, 7, 7}}, "full_like")
same(tensor.zeros_like(tensor(3)), 0, "zeros_like of a 0-d tensor")
-- {} is the 0-d shape, as torch.zeros(()): one number, no dimensions
same(tensor.zeros{}, 0, "zeros{} is 0-d", nil, {})
same(tensor.full({}, 7), 7, "full({}, 7) is 0-d", nil, {})
assert(tensor.ones{}:dim() == 0 and tensor.ones{}:numel() == 1 and tensor.ones{}:item() == 1)
local r0 = tensor.rand{}
assert(r0:dim() == 0 and r0:item() >= 0 and r0:item() < 1, "rand{} is one draw in [0, 1)")
local k0 = tensor.randint(5, {})
assert(k0:dim() == 0 and k0:item() % 1 == 0 and k0:item() >= 0 and k0:item() < 5, "randint(5, {}) is 0-d")
same(tensor{7}:reshape{}, 7, "reshape{} of one element is 0-d", nil, {})
same(tensor(7):reshape{1, 1}, {{7}}, "a 0-d tensor reshaped to [1, 1]")
same(tensor.zeros{} + tensor{1, 2}, {1, 2}, "a 0-d tensor broadcasts")
fails(function() return tensor{1, 2}:reshape{} end, "t:reshape: cannot reshape 2 elements to [] (1 elements)")
fails(function() return tensor.zeros() end, "tensor.zeros needs a shape, e.g. {2, 3}")
tensor.seed(11)
local r = tensor.rand_like(tensor.zeros(2000))
assert(r:min() >= 0 and r:max() < 1 and math.abs(r:mean() - 0.5) < 0.05)
local n = tensor.randn_like(tensor.zeros(4000))
assert(math.abs(n:mean()) < 0.1 and math.abs(n:std() - 1) < 0.1)

tensor.seed(5)
local dice = tensor.randint(1, 7, {6000})
assert(dice:min() == 1 and dice:max() == 6 and dice:floor():equal(dice), "randint(1, 7): whole numbers 1..6")
for v = 1, 6 do
  local share = dice:eq(v):mean()
  assert(math.abs(share - 1 / 6) < 0.03, "randint is uniform: " .. v .. " has share " .. share)
end
local low = tensor.randint(3, {2, 50})
assert(low:dim() == 2 and low:min() == 0 and low:max() == 2, "randint(3, shape): 0..2")
tensor.seed(5)
assert(tensor.randint(1, 7, {6000}):equal(dice), "tensor.seed decides randint")

local p = tensor.randperm(6)
assert(p:min() == 1 and p:max() == 6 and p:sum() == 21)
local sorted = tensor.zeros(6):scatter(1, p, tensor{1, 2, 3, 4, 5, 6})
assert(sorted:sum() == 21 and sorted:ne(0):sum() == 6, "randperm(6) is a permutation of 1..6")

fails(function() return tensor.cat{a, tensor{{1, 2, 3, 4}}} end,
      "tensor.cat: tensor 2 has shape [1, 4] but tensor 1 has [2, 3]; they must match except in dimension 1")
fails(function() return tensor.cat({a, tensor{1, 2}}, 2) end,
      "tensor.cat: tensor 2 has shape [2] but tensor 1 has [2, 3]")
fails(function() return tensor.cat({a, b}, 3) end, "tensor.cat: dimension 3 is out of range (dimensions are 1..2")
fails(function() return tensor.cat{} end, "tensor.cat: the list of tensors is empty")
fails(function() return tensor.cat{a, 5} end, "tensor.cat: element 2 of the list is a number, expected a tensor")
fails(function() return tensor.cat(a) end, "tensor.cat: argument 1 must be a list of tensors")
fails(function() return tensor.cat{tensor(1), tensor(2)} end, "tensor.cat: tensor 1 is 0-d; tensor.stack joins 0-d tensors")
fails(function() return tensor.stack{tensor{1, 2}, tensor{1, 2, 3}} end,
      "tensor.stack: tensor 2 has shape [3] but tensor 1 has [2]; stacked tensors must all have one shape")
fails(function() return tensor.stack({tensor{1}}, 3) end, "tensor.stack: dimension 3 is out of range (dimensions are 1..2")
fails(function() return tensor.arange(0, 1, 0) end, "tensor.arange: start 0, end 1 and step 0 must be finite, and step nonzero")
fails(function() return tensor.arange(1, 0) end, "tensor.arange: a step of 1 never goes from 1 to 0")
fails(function() return tensor.randint(5, 5, {1}) end, "tensor.randint: the range [5, 5) must be nonempty")
fails(function() return tensor.randint(5, 3) end, "tensor.randint: argument 2 must be a shape such as {2, 3}, got a number")
fails(function() return tensor.randint(0, 2 ^ 30, {1}) end, "whole numbers beyond it are not exact in a float tensor")
fails(function() return tensor.eye(-1) end, "tensor.eye: the sizes -1 and -1 must be >= 0")
fails(function() return tensor.linspace(0, 1, 2.5) end, "tensor.linspace: steps is 2.5; it must be an integer")
print("tensor build ok")
