-- Bad input to the tensor functions: an error at the script's line that
-- names the function and the bad value, checked in an order that reports
-- the real problem.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails = check.fails
local t = tensor{{1, 2, 3}, {4, 5, 6}}

-- shapes (issue 11: {-1, 3} used to say "got a string (-1)")
fails(function() return tensor.zeros{-1, 3} end, "tensor_errors.lua:9: tensor.zeros: dimension 1 is -1; dimensions must be >= 0")
fails(function() return tensor.zeros(2, -3) end, "tensor.zeros: dimension 2 is -3; dimensions must be >= 0")
fails(function() return tensor.ones{2, 1.5} end, "tensor.ones: dimension 2 is 1.5; dimensions must be integers")
fails(function() return tensor.rand{2, "x"} end, "tensor.rand: dimension 2 is \"x\"; dimensions must be integers")
fails(function() return tensor.full({2, {}}, 1) end, "tensor.full: dimension 2 is a table; dimensions must be integers")
fails(function() return tensor.zeros{1, 1, 1, 1, 1, 1, 1, 1, 1} end, "tensor.zeros: a shape has 1 to 8 dimensions, got 9")
fails(function() return tensor.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "tensor.zeros: a shape has at most 8 dimensions, got 9")
fails(function() return t:reshape{-2, 3} end,
      "t:reshape: dimension 1 is -2; dimensions must be >= 0 (or -1 once, for the size inferred from the rest)")
fails(function() return t:reshape(-1, -1) end, "t:reshape: dimensions 1 and 2 are both -1; only one can be inferred")
fails(function() return t:reshape{4, 2} end, "t:reshape: cannot reshape 6 elements to [4, 2] (8 elements)")
fails(function() return t:reshape{-1, 4} end,
      "t:reshape: cannot infer dimension 1 (-1): 6 elements are not a multiple of 4, the product of the other dimensions")

-- dimensions out of range, 1-based with negatives from the end
fails(function() return t:sum(3) end, "t:sum: dimension 3 is out of range (dimensions are 1..2, or -2..-1 from the end)")
fails(function() return t:sum(0) end, "t:sum: dimension 0 is out of range")
fails(function() return t:softmax(-3) end, "t:softmax: dimension -3 is out of range")
fails(function() return t:transpose(1, 3) end, "t:transpose: dimension 3 is out of range")
fails(function() return t:narrow(3, 1, 1) end, "t:narrow: dimension 3 is out of range")
fails(function() return t:unsqueeze(4) end, "t:unsqueeze: dimension 4 is out of range (dimensions are 1..3")
fails(function() return t:size(5) end, "t:size: dimension 5 is out of range")
fails(function() return t:permute(1, 1) end, "t:permute: dimension 1 appears twice in the order")
fails(function() return t:permute(1) end, "t:permute: a tensor of shape [2, 3] needs 2 dimensions in the order, got 1")
fails(function() return tensor(1):sum(2) end, "t:sum: dimension 2 is out of range")
fails(function() return t:sum(1.5) end, "t:sum: the dimension is 1.5; it must be an integer")
-- scans keep the shape: an option such as keepdim is refused, not ignored
fails(function() return t:softmax(2, true) end,
      "t:softmax takes only a dimension, got also true (the result has the tensor's shape, so keepdim does not apply)")
fails(function() return t:cumsum(1, {keepdim = true}) end, "t:cumsum takes only a dimension, got also a table")

-- indices: integers, in range
fails(function() return t:get(1, 1.5) end, "t:get: an index is 1.5; it must be an integer")
fails(function() return t:get(3, 1) end, "t:get: index 3 is out of range for dimension 1 of size 2 (indices start at 1; -1 is the last)")
fails(function() return t:get(1) end, "t:get needs 2 indices for a tensor of shape [2, 3], got 1")
fails(function() return t:select(1, 0) end, "t:select: index 0 is out of range for dimension 1 of size 2")
fails(function() return t:narrow(2, 1.5, 1) end, "t:narrow: the start is 1.5; it must be an integer")
fails(function() return t:narrow(2, 2, 3) end, "t:narrow: length 3 from start 2 does not fit dimension 2 of size 3 (at most 2)")
fails(function() return t:index(2, {4}) end, "t:index: index 4 (position 1) is out of range for dimension 2 of size 3 (indices are 1..3)")
fails(function() return t:index(2, {2.5}) end, "t:index: index 2.5 (position 1) is not an integer")
fails(function() return t:index(2, tensor{2.5}) end, "t:index: index 2.5 is not an integer")

-- operands
fails(function() return t + "x" end, "tensor +: cannot combine a tensor with a string")
fails(function() return t:matmul(5) end, "t:matmul: argument 1 must be a tensor, got a number")
fails(function() return t.sum(5) end, "sum: argument 1 must be a tensor, got a number")
fails(function() return t:fill("x") end, "t:fill: the value must be a number, got a string")
fails(function() return t:clamp() end, "t:clamp needs a minimum, a maximum or both")
fails(function() return tensor.full({2}, "x") end, "tensor.full: the value must be a number, got a string")
fails(function() return tensor.seed(1.5) end, "tensor.seed: the seed is 1.5; it must be an integer")
fails(function() return tensor(true) end, "tensor: argument 1 must be a table of numbers")
fails(function() return tensor{{1, 2}, {3}} end, "tensor: the table at [2] has 1 elements")
fails(function() return tensor{{1, 2}, {3, "x"}} end, "tensor: [2][2] is a string, expected a number")
print("tensor errors ok")
