-- What m:forward, m:backward, layer:forward, layer:backward and
-- loss:backward return: views of the module's buffers, valid until its next
-- call of the same kind (docs/lua-api.md, "Views of a module's buffers").

local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}
local x2 = tensor{{1, 1}, {1, 0}, {0, 1}, {0, 0}} -- the rows of x reversed

local function close(a, b) return (a - b):abs():max() < 1e-6 end

-- 1. A forward returns the same view each call: it shares the model's buffer.
local model = nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.Dense(4, 1), nn.Sigmoid()}
local out1 = model:forward(x)
local kept = out1:clone()
local out2 = model:forward(x2)
assert(rawequal(out1, out2), "the same userdata comes back: a view of the same buffer")
-- A view kept across a forward sees the new values; its clone does not.
for i = 1, 4 do
  assert(math.abs(out1[i][1] - kept[5 - i][1]) < 1e-6, "the kept view shows the second forward (rows reversed)")
end
assert(not close(out1, kept), "the clone keeps the first forward's values")
-- Writing through the view writes the model's buffer (it is a view, not a copy).
local out3 = model:forward(x)
out3:fill(7)
assert(model:forward(x)[1][1] ~= 7, "the next forward overwrites the buffer again")

-- 2. Views derived from a view (narrow, reshape, t[i]) share the buffer too.
local row = model:forward(x)[2]
local flat = model:forward(x):reshape(4)
model:forward(x2)
assert(math.abs(row[1] - flat[2]) < 1e-6, "row and reshape views show the same buffer")

-- 3. loss:backward writes into a buffer it reuses while the shape stays.
local mse = nn.MSELoss()
local pred = model:forward(x)
local g1 = mse:backward(pred, y)
local g1_copy = g1:clone()
local g2 = mse:backward(pred, tensor{{1}, {1}, {1}, {1}})
assert(rawequal(g1, g2), "the loss's gradient buffer is reused")
assert(not close(g1, g1_copy), "and holds the last backward's values")
assert(close(g2, (pred - tensor{{1}, {1}, {1}, {1}}) * (2 / 4)), "d mean (p - t)^2 / dp = 2 (p - t) / n")
local g3 = mse:backward(tensor.zeros{2, 1}, tensor.ones{2, 1})
assert(not rawequal(g3, g2) and g3:size(1) == 2, "another shape gets a buffer of its own")
assert(g2:size(1) == 4 and close(g2, g1), "the old one keeps its memory and values")

-- 4. m:backward's input gradient and a layer's forward/backward are views too.
local dx1 = model:backward(x, mse:backward(pred, y))
local dx_copy = dx1:clone()
model:forward(x2)
local dx2 = model:backward(x2, mse:backward(model:forward(x2), y))
assert(rawequal(dx1, dx2) and not close(dx1, dx_copy), "the input gradient buffer is reused")
local dense = nn.Dense(2, 3)
local h1 = dense:forward(x)
assert(rawequal(h1, dense:forward(x2)), "a layer's forward is a view as well")
assert(rawequal(dense:backward(x2, tensor.ones{4, 3}), dense:backward(x2, tensor.ones{4, 3})))

-- 5. Feeding a layer its own output reads a copy: h = layer:forward(h) works.
local square = nn.Dense(3, 3)
local h = tensor.rand{2, 3}
local w, b = square.weight, square.bias
local expected = h:matmul(w:t()) + b
h = square:forward(h)
assert(close(h, expected), "one step of h = layer:forward(h)")
expected = h:matmul(w:t()) + b
h = square:forward(h)
assert(close(h, expected), "the second step read the old output, not the one being written")

-- 6. A view outlives its model: it keeps the buffer (and the model) alive.
local survivor
do
  local temp = nn.Sequential{nn.Dense(2, 8), nn.Tanh()}
  survivor = temp:forward(x)
  -- Even with the model's __gc called by hand (the memory is the view's to keep).
  getmetatable(temp).__gc(temp)
  local ok, err = pcall(function() return temp:forward(x) end)
  assert(not ok and err:find("freed"), "the freed model refuses to run: " .. tostring(err))
end
collectgarbage()
collectgarbage()
for _ = 1, 10 do local garbage = tensor.rand{64, 64} end -- reuse freed memory, if any
collectgarbage()
assert(survivor:size(1) == 4 and survivor:size(2) == 8)
assert(survivor:abs():max() <= 1, "tanh outputs, still readable after the model is gone")
local before = survivor:clone()
survivor:add_(1) -- still writable memory of its own
assert(close(survivor - 1, before))

-- A model whose plan is dropped (another input shape, a new layer) leaves old views intact.
local grow = nn.Sequential{nn.Dense(2, 2)}
local v = grow:forward(x)
local v_copy = v:clone()
grow:add(nn.Sigmoid())
local after = grow:forward(x)
assert(not rawequal(v, after), "a new plan, new buffers")
assert(close(v, v_copy), "the old view keeps its memory and values")

-- 7. A training loop over views trains as the copies did.
local net = nn.Sequential{nn.Dense(2, 4), nn.Sigmoid(), nn.Dense(4, 1), nn.Sigmoid()}
local opt = optim.SGD(net:parameters(), {lr = 2.0, momentum = 0.9})
local first, last
for step = 1, 2000 do
  opt:zero_grad()
  local p = net:forward(x)
  local value = mse:forward(p, y)
  first = first or value
  last = value
  net:backward(x, mse:backward(p, y), false)
  opt:step()
end
assert(last < 0.01 and last < first, "XOR trained: loss " .. first .. " -> " .. last)

-- 8. train.predict returns copies (a result to keep).
local p1 = train.predict(net, x)
local p2 = train.predict(net, x2)
assert(not rawequal(p1, p2) and not close(p1, p2), "train.predict's results are independent")
-- 9. A Lua layer receives copies its next call of the same kind refills;
-- what forward received stays until backward; it may return inner views.
local seen = {}
nn.define{
  name = "ViewsProbe", parameters = {},
  init = function(self) self.inner = nn.Dense(2, 2) end,
  forward = function(self, x)
    seen[#seen + 1] = x
    self.x, self.x_copy = x, x:clone()
    return self.inner:forward(x)
  end,
  backward = function(self, x, grad_out)
    assert(self.x:equal(self.x_copy), "forward's input is intact in backward")
    return self.inner:backward(x, grad_out)
  end,
  output_shape = function(self, shape) return shape end,
}
local probe_net = nn.Sequential{nn.Dense(2, 2), nn.ViewsProbe()}
local o1 = probe_net:forward(x):clone()
probe_net:backward(x, tensor.ones{4, 2})
local o2 = probe_net:forward(x2):clone()
probe_net:backward(x2, tensor.ones{4, 2})
assert(#seen == 2 and rawequal(seen[1], seen[2]), "the input copy is reused from call to call")
assert(not o1:equal(o2), "and refilled with each call's input")
print("buffer views: ok")
