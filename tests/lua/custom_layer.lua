-- A Lua-defined layer with a learnable parameter passes a numeric gradient
-- check (central differences), alone and inside a Sequential with plugins.
nn.define{
  kind = "layer", name = "Affine",
  params = {{name = "n", type = "int", min = 1, doc = "Features in and out."},
            {name = "scale", default = 0.5, doc = "Initial weight scale."}},
  parameters = {"weight", "shift"},
  init = function(self)
    self.weight = tensor.randn{self.n, self.n} * self.scale
    self.shift = tensor.randn{self.n} * 0.1
  end,
  -- y = tanh(x W^T + shift)
  forward = function(self, x)
    return (x:matmul(self.weight:t()) + self.shift):tanh()
  end,
  backward = function(self, x, grad_out, y)
    local dz = grad_out * (1 - y * y)
    self.grads.weight:add_(dz:t():matmul(x))
    self.grads.shift:add_(dz:sum(1))
    return dz:matmul(self.weight)
  end,
}
local found = false
for _, p in ipairs(nn.plugins("layer")) do
  if p.name == "Affine" then found = p.origin == "lua" end
end
assert(found, "Affine is registered with origin lua")

local function gradcheck(model, x)
  local w = tensor.randn(model:forward(x):shape())
  local function objective() return (model:forward(x) * w):sum() end
  model:zero_grad()
  model:forward(x)
  local dx = model:backward(x, w)
  local worst = 0
  local function compare(t, analytic, what)
    for i = 1, t:numel() do
      local flat = t:reshape{t:numel()}
      local saved = flat:get(i)
      local eps = 1e-2
      flat:set(i, saved + eps); local up = objective()
      flat:set(i, saved - eps); local down = objective()
      flat:set(i, saved)
      local numeric = (up - down) / (2 * eps)
      local a = analytic:reshape{analytic:numel()}:get(i)
      local rel = math.abs(a - numeric) / math.max(1e-2, math.abs(a) + math.abs(numeric))
      assert(rel < 2e-2, string.format("%s[%d]: analytic %.6f numeric %.6f", what, i, a, numeric))
      worst = math.max(worst, rel)
    end
  end
  compare(x, dx, "input")
  for _, p in ipairs(model:parameters()) do compare(p, p.grad:clone(), p.name) end
  return worst
end

local x = tensor.randn{4, 3}
local alone = nn.Affine(3)
local w1 = gradcheck(nn.Sequential{alone}, x)
local mixed = nn.Sequential{nn.Dense(3, 5, {activation = "tanh"}), nn.Affine{n = 5, scale = 0.3}, nn.Dense(5, 2)}
local w2 = gradcheck(mixed, x)
print(string.format("custom layer gradcheck ok (worst relative error %.2g, %.2g)", w1, w2))
