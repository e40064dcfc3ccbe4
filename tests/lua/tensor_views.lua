-- Views: t[i], select, narrow, transpose, permute, squeeze, unsqueeze,
-- expand, reshape and view share memory with their source and keep it
-- alive; contiguous() and clone() copy. Dimensions and indices count from 1.
local check = dofile((arg[0]:match("^(.*[/\\])") or "") .. "tensor_check.lua")
local fails, same = check.fails, check.same

-- t[i]: a row view (a number for a 1-D tensor); methods stay reachable.
local t = tensor{{1, 2, 3}, {4, 5, 6}}
same(t[2], {4, 5, 6}, "t[2]")
same(t[-1], {4, 5, 6}, "t[-1]")
assert(t[1][3] == 3 and t[2.0][1] == 4, "t[i][j] of a matrix is a number")
assert(t:sum() == 21 and t.sum == tensor.ones(1).sum, "methods stay reachable beside rows")
assert(t.grad == nil and t.nope == nil)
t[2]:set(1, 40)
assert(t:get(2, 1) == 40, "a row is a view")
t[2] = 0
same(t, {{1, 2, 3}, {0, 0, 0}}, "t[2] = 0")
t[2] = tensor{4, 5, 6}
t[1] = tensor{7}
same(t, {{7, 7, 7}, {4, 5, 6}}, "t[i] = tensor (broadcast)")
t[1] = tensor{1, 2, 3}
local v = tensor{1, 2, 3}
v[-1] = 30
same(v, {1, 2, 30}, "v[-1] = number")
fails(function() return t[0] end, "t[i]: index 0 is out of range for dimension 1 of size 2 (indices start at 1; -1 is the last)")
fails(function() return t[3] end, "t[i]: index 3 is out of range")
fails(function() return t[1.5] end, "t[i]: the index 1.5 is not an integer")
fails(function() return t[{1}] end, "a tensor is indexed by an integer (its rows) or a method name, got a table")
fails(function() t[1] = tensor{1, 2} end, "t[i] = v: a tensor of shape [2] does not fit row 1 of shape [3]")
fails(function() t.x = 1 end, "only rows can be assigned")
fails(function() return tensor(5)[1] end, "a 0-d tensor has no rows; t:item() reads its value")

-- select, narrow
same(t:select(2, 3), {3, 6}, "select(2, 3)")
same(t:select(-1, -1), {3, 6}, "select(-1, -1)")
same(t:select(1, 2):select(1, 2), 5, "select to 0-d")
same(t:narrow(2, 2, 2), {{2, 3}, {5, 6}}, "narrow(2, 2, 2)")
same(t:narrow(1, -1, 1), {{4, 5, 6}}, "narrow from the last row")
same(t:narrow(2, 4, 0), {{}, {}}, "an empty narrow", nil, {2, 0})
local c = tensor{{1, 2, 3}, {4, 5, 6}}
c:narrow(2, 2, 1):fill(0)
same(c, {{1, 0, 3}, {4, 0, 6}}, "a column narrow writes through")
c:select(2, 3):zero_()
same(c, {{1, 0, 0}, {4, 0, 0}}, "a column select writes through")

-- transpose, t(), permute, strides
local u = t:t()
same(u, {{1, 4}, {2, 5}, {3, 6}}, "t()")
assert(not u:is_contiguous() and u:stride(1) == 1 and u:stride(2) == 3)
same(t:transpose(1, 2), {{1, 4}, {2, 5}, {3, 6}}, "transpose(1, 2)")
same(t:transpose(-1, 1), {{1, 4}, {2, 5}, {3, 6}}, "transpose(-1, 1)")
assert(u:t():is_contiguous() and u:t():equal(t))
u:set(3, 1, 30)
assert(t:get(1, 3) == 30, "t() shares memory")
u:set(3, 1, 3)
local x = tensor.arange(24):reshape{2, 3, 4}
local p = x:permute(3, 1, 2)
same(tensor(p:shape()), {4, 2, 3}, "permute shape")
assert(p:get(4, 2, 3) == x:get(2, 3, 4) and p:get(2, 1, 3) == x:get(1, 3, 2))
assert(x:permute{3, 1, 2}:equal(p) and x:permute(-1, 1, 2):equal(p))
local st = x:stride()
assert(st[1] == 12 and st[2] == 4 and st[3] == 1)
same(tensor(p:stride()), {1, 12, 4}, "permuted strides")
same(tensor{5, 6}:t(), {5, 6}, "t() of a vector")

-- squeeze, unsqueeze, expand
local z = tensor.zeros(1, 3, 1)
same(tensor(z:squeeze():shape()), {3}, "squeeze()")
same(tensor(z:squeeze(1):shape()), {3, 1}, "squeeze(1)")
same(tensor(z:squeeze(2):shape()), {1, 3, 1}, "squeeze of a size-3 dimension leaves it")
same(tensor(tensor{1, 2, 3}:unsqueeze(1):shape()), {1, 3}, "unsqueeze(1)")
same(tensor(tensor{1, 2, 3}:unsqueeze(2):shape()), {3, 1}, "unsqueeze(2)")
same(tensor(tensor{1, 2, 3}:unsqueeze(-1):shape()), {3, 1}, "unsqueeze(-1)")
same(tensor(5):unsqueeze(1), {5}, "unsqueeze of a 0-d tensor")
local e = tensor{1, 2, 3}:expand(2, 3)
same(e, {{1, 2, 3}, {1, 2, 3}}, "expand(2, 3)")
assert(e:stride(1) == 0)
same(tensor{{1}, {2}}:expand(-1, 3), {{1, 1, 1}, {2, 2, 2}}, "expand(-1, 3)")
same(tensor{{1}, {2}}:expand{2, 2, 3}:sum(1), {{2, 2, 2}, {4, 4, 4}}, "expand with a new dimension")
same(tensor{7}:expand_as(t), {{7, 7, 7}, {7, 7, 7}}, "expand_as")
fails(function() return e:add_(1) end, "t:add_: the tensor of shape [2, 3] is an expanded view")
fails(function() return e:set(1, 1, 5) end, "t:set: the tensor of shape [2, 3] is an expanded view")
same(e:contiguous():add_(1), {{2, 3, 4}, {2, 3, 4}}, "contiguous() of an expanded view is writable")
fails(function() return tensor{1, 2}:expand(2, 3) end,
      "t:expand: dimension 1 of shape [2] has size 2 and cannot expand to 3 (only dimensions of size 1 expand)")

-- reshape copies a strided view, view refuses it
local r = u:reshape{6}
same(r, {1, 4, 2, 5, 3, 6}, "reshape of a transposed view")
r:set(1, 100)
assert(t:get(1, 1) == 1, "reshape of a strided view is a copy")
local shared = t:reshape{6}
shared:set(1, 100)
assert(t:get(1, 1) == 100, "reshape of a contiguous tensor shares memory")
shared:set(1, 1)
fails(function() return u:view{6} end, "t:view: the tensor of shape [3, 2] is a strided view")
same(t:view(3, 2), {{1, 2}, {3, 4}, {5, 6}}, "view(3, 2)")
assert(u:contiguous():is_contiguous() and rawequal(t:contiguous(), t), "contiguous() of a contiguous tensor is itself")

-- copy into a strided view; operations read strided views
local m = tensor.zeros(2, 3)
m:t():copy(tensor{{1, 2}, {3, 4}, {5, 6}})
same(m, {{1, 3, 5}, {2, 4, 6}}, "copy into a transposed view")
same(u + 1, {{2, 5}, {3, 6}, {4, 7}}, "arithmetic on a strided view")
same(u:sum(1), {6, 15}, "a reduction of a strided view")
same(u:index(1, {3}), {{3, 6}}, "index of a strided view")
local layer = nn.Dense(2, 3)
assert(layer:forward(u):equal(layer:forward(u:contiguous())), "a layer takes a strided view")
assert(tostring(u):find("1 4", 1, true), "printing a strided view")
local labels = tensor{{1, 9}, {2, 9}, {1, 9}}:select(2, 1) -- {1, 2, 1}, stride 2
assert(not labels:is_contiguous() and select(2, data.target_kind(labels)) == "index",
       "data functions read a strided view through the embedding API")
assert(#data.tensors(u, labels) == 3, "data.tensors takes strided views")

-- element access with negative indices; item
assert(t:get(-1, -1) == 6 and t:get(1, -3) == 1)
assert(tensor{5}:item() == 5 and tensor(2.5):item() == 2.5)
fails(function() return t:item() end, "t:item: the tensor of shape [2, 3] has 6 elements; item() reads a tensor of one")

-- 0-d and empty tensors
local s = tensor(5)
assert(s:dim() == 0 and #s:shape() == 0 and s:numel() == 1 and s:totable() == 5)
assert(tostring(s):find("tensor []", 1, true))
same(s + tensor{1, 2}, {6, 7}, "a 0-d tensor broadcasts")
same(s * 2, 10, "0-d arithmetic stays 0-d")
local sel = tensor{1, 2, 3}
sel:select(1, 2):fill(9)
same(sel, {1, 9, 3}, "a 0-d view writes through")
local empty = tensor{}
same(empty, {}, "tensor{}")
same(tensor.zeros(0, 3):t(), {}, "an empty transpose", nil, {3, 0})
same(tensor.zeros(0, 3) + 1, {}, "empty arithmetic", nil, {0, 3})

-- Views outlive their source (and parameters' owners).
local ones_t = tensor.ones(100, 100):t()
local row = (tensor.ones(50, 4) * 2)[10]
local cols = tensor.arange(12):reshape{3, 4}:narrow(2, 2, 2):t()
local wt = nn.Dense(4, 4).weight:t()
local ex = tensor{3}:expand(4, 5)
check.churn()
assert(ones_t:sum() == 10000 and row:sum() == 8 and wt:numel() == 16 and ex:sum() == 60)
same(cols, {{1, 5, 9}, {2, 6, 10}}, "a narrow-transpose view after its source was collected")
print("tensor views ok")
