-- Selecting and scattering: index, index_add, gather, scatter, where,
-- masked_select and masked_fill. Indices count from 1; masks are nonzero.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails, same = check.fails, check.same

local t = tensor{{1, 2, 3}, {4, 5, 6}}

same(t:index(1, {2, 1, 2}), {{4, 5, 6}, {1, 2, 3}, {4, 5, 6}}, "index(1, {...})")
same(t:index(2, tensor{3, 1}), {{3, 1}, {6, 4}}, "index(2, tensor)")
same(t:index(2, 2), {{2}, {5}}, "index(2, one integer)")
same(t:index(1, {}), {}, "index with no indices", nil, {0, 3})

local acc = tensor.zeros(3, 2)
same(acc:index_add(1, {1, 3, 1}, tensor{{1, 1}, {2, 2}, {3, 3}}), {{4, 4}, {0, 0}, {2, 2}}, "index_add accumulates repeats")
same(acc, {{0, 0}, {0, 0}, {0, 0}}, "index_add is not in place")
assert(rawequal(acc:index_add_(2, {2}, tensor{{1}, {2}, {3}}, 10), acc))
same(acc, {{0, 10}, {0, 20}, {0, 30}}, "index_add_ with alpha along dimension 2")
local at = tensor.zeros(2, 3)
at:t():index_add_(1, {3}, tensor{{1, 2}})
same(at, {{0, 0, 1}, {0, 0, 2}}, "index_add_ into a transposed view")

same(t:gather(2, tensor{{3, 1}, {2, 2}}), {{3, 1}, {5, 5}}, "gather(2)")
same(t:gather(1, tensor{{2, 1, 2}}), {{4, 2, 6}}, "gather(1)")
same(t:t():gather(1, tensor{{3, 3}}), {{3, 6}}, "gather from a transposed view")

same(tensor.zeros(2, 3):scatter(2, tensor{{3, 1}, {2, 2}}, tensor{{7, 8}, {9, 10}}),
     {{8, 0, 7}, {0, 10, 0}}, "scatter(2): the last write to a place wins")
same(tensor.zeros(2, 3):scatter(1, tensor{{2, 1, 2}}, 5), {{0, 5, 0}, {5, 0, 5}}, "scatter of a number")
local m = tensor.zeros(3, 2)
local mt = m:t()
assert(rawequal(mt:scatter_(2, tensor{{1}, {3}}, 4), mt))
same(m, {{4, 0}, {0, 0}, {0, 4}}, "scatter_ into a transposed view")
local idx = tensor{{3, 1}, {2, 2}}
assert(t:gather(2, idx):sum() == 14)
same(tensor.zeros(2, 3):scatter(2, idx, t:gather(2, idx)):gather(2, idx), {{3, 1}, {5, 5}}, "scatter undoes gather")

same(tensor.where(tensor{1, 0, 1}, tensor{1, 2, 3}, tensor{10, 20, 30}), {1, 20, 3}, "where")
same(tensor.where(tensor{{1}, {0}}, tensor{1, 2, 3}, 0), {{1, 2, 3}, {0, 0, 0}}, "where broadcasts all three")
same(tensor.where(t:gt(3), 1, -1), {{-1, -1, -1}, {1, 1, 1}}, "where of two numbers")
same(t:where(t:ge(5), 0), {{0, 0, 0}, {0, 5, 6}}, "x:where(cond, y) keeps x where cond")
same(t:t():where(tensor{1, 0}, 9), {{1, 9}, {2, 9}, {3, 9}}, "where of a view")

same(t:masked_select(t:gt(2)), {3, 4, 5, 6}, "masked_select")
same(t:masked_select(tensor{1, 0, 1}), {1, 3, 4, 6}, "masked_select with a broadcast mask")
same(t:masked_select(t:gt(9)), {}, "masked_select of nothing")
same(t:t():masked_select(t:t():gt(4)), {5, 6}, "masked_select of a transposed view, in its row order")
same(t:masked_fill(t:lt(3), 0), {{0, 0, 3}, {4, 5, 6}}, "masked_fill")
same(t:masked_fill(tensor{{1}, {0}}, -1), {{-1, -1, -1}, {4, 5, 6}}, "masked_fill with a broadcast mask")
local f = t:clone()
assert(rawequal(f:masked_fill_(f:eq(5), 50), f))
same(f, {{1, 2, 3}, {4, 50, 6}}, "masked_fill_")

fails(function() return t:index(3, {1}) end, "t:index: dimension 3 is out of range (dimensions are 1..2, or -2..-1 from the end)")
fails(function() return t:index(1, {1, "x"}) end, "t:index: index \"x\" (position 2) is not an integer")
fails(function() return t:index(1, tensor{{1}}) end, "t:index: the indices must be a list, got a tensor of shape [1, 1]")
fails(function() return t:gather(2, tensor{{4}, {1}}) end, "t:gather: index 4 is out of range for dimension 2 of size 3 (indices are 1..3)")
fails(function() return t:gather(2, tensor{{1.5}, {1}}) end, "t:gather: index 1.5 is not an integer")
fails(function() return t:gather(2, tensor{1, 2}) end, "t:gather: the index of shape [2] does not fit the tensor of shape [2, 3]")
fails(function() return t:scatter(1, tensor{{1, 1, 1, 1}}, tensor.ones(1, 4)) end,
      "t:scatter: the index of shape [1, 4] does not fit the tensor of shape [2, 3] and the source of shape [1, 4]")
fails(function() return t:scatter(1, tensor{{0}}, 1) end, "t:scatter: index 0 is out of range")
fails(function() return tensor.zeros(3, 2):index_add(1, {1}, tensor.ones(2, 2)) end,
      "t:index_add: the source has shape [2, 2]; 1 indices into dimension 1 of [3, 2] need [1, 2]")
fails(function() return t:masked_fill(tensor{1, 0}, 0) end,
      "t:masked_fill: the mask of shape [2] does not broadcast to the tensor's shape [2, 3]")
fails(function() return t:t():expand(2, 3, 2):masked_fill_(tensor{1, 0}, 0) end, "is an expanded view")
fails(function() return tensor.where(t, tensor{1, 2}, 0) end, "tensor.where: shapes [2, 3] and [2] do not match")
print("tensor select ok")
