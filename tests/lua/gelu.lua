-- GELU is the exact erf form by default, as in PyTorch and Keras, both as an
-- activation and fused into Dense; approximate = "tanh" chooses the tanh form.
--
-- The reference numbers were computed once with PyTorch 1.13 (float32):
--   x = torch.tensor([-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0], requires_grad=True)
--   y = torch.nn.functional.gelu(x, approximate=...)   # "none" or "tanh"
--   y.sum().backward()                                   # x.grad is the slope
-- The two forms differ by up to 5e-4 here, far above the tolerance below.
local x = tensor{-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0}
local torch = {
  none = {
    y = {-0.0040498674, -0.1002108604, -0.1542687863, 0.0, 0.1496765614, 0.8413447142, 1.9544999599, 3.9998731613},
    slope = {-0.0119456053, -0.1274691522, 0.1325049102, 0.5, 0.6953732967, 1.0833153725, 1.0852319002, 1.0005036592},
  },
  tanh = {
    y = {-3.6374330521e-03, -1.0042843223e-01, -1.5428599715e-01, 0.0, 1.4967535436e-01, 8.4119200706e-01,
         1.9545977116e+00, 3.9999299049e+00},
    slope = {-0.0115842968, -0.1277108192, 0.1326301098, 0.5, 0.6953541040, 1.0829640627, 1.0860992670,
             1.0003349781},
  },
}
local kTolerance = 2e-6

local function near(got, want, what)
  assert(got:numel() == #want, what .. ": " .. got:numel() .. " values")
  for i = 1, #want do
    local g = got:reshape{got:numel()}:get(i)
    assert(math.abs(g - want[i]) <= kTolerance,
           string.format("%s: element %d is %.9g, PyTorch gives %.9g", what, i, g, want[i]))
  end
end

-- The activation.
for _, form in ipairs{"none", "tanh"} do
  local gelu = form == "none" and nn.GELU() or nn.GELU{approximate = form}
  near(gelu:forward(x), torch[form].y, "GELU " .. form .. " forward")
  near(gelu:backward(x, tensor.ones{8}), torch[form].slope, "GELU " .. form .. " backward")
end
assert(nn.GELU():config().approximate == "none", "the default is the exact form")

-- Fused into Dense: one input, one output, weight 1 and bias 0, so the
-- layer's output is GELU(x) and its input gradient GELU'(x).
for _, form in ipairs{"none", "tanh"} do
  local dense = nn.Dense{inputs = 1, outputs = 1, activation = "gelu", approximate = form}
  dense.weight:fill(1)
  dense.bias:fill(0)
  local column = x:reshape{8, 1}
  near(dense:forward(column), torch[form].y, "Dense gelu " .. form .. " forward")
  near(dense:backward(column, tensor.ones{8, 1}), torch[form].slope, "Dense gelu " .. form .. " backward")
end

local ok, err = pcall(nn.Dense, {inputs = 2, outputs = 2, activation = "relu", approximate = "tanh"})
assert(not ok and err:find('approximate = "tanh" applies to activation = "gelu" only, not "relu"', 1, true),
       tostring(err))
ok, err = pcall(nn.GELU, {approximate = "erf"})
assert(not ok and err:find("'approximate' must be one of none, tanh", 1, true), tostring(err))
print("gelu.lua: ok")
