-- Seed 002's worked example through the Lua API: the 3-3-2 sigmoid network
-- without bias, its forward pass and one backpropagated weight gradient.
local function near(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: got %.6f, expected %.6f", what, a, b))
end

local net = nn.Sequential{
  nn.Dense{inputs = 3, outputs = 3, bias = false, activation = "sigmoid"},
  nn.Dense{inputs = 3, outputs = 2, bias = false, activation = "sigmoid"},
}
net[1].weight:copy{{1, -2, 2}, {2, 1, -4}, {1, -1, 0}}
net[2].weight:copy{{-3, 1, -3}, {0, 1, 2}}

local x = tensor{{0.5, 0.9, -0.3}}
local out = net:forward(x)
near(out:get(1, 1), 0.346, 5e-4, "O1")
near(out:get(1, 2), 0.853, 5e-4, "O2")
local hidden = net[1]:forward(x)
near(hidden:get(1, 1), 0.130, 5e-4, "H1")
near(hidden:get(1, 2), 0.957, 5e-4, "H2")
near(hidden:get(1, 3), 0.401, 5e-4, "H3")

-- E = 1/2 sum (t - a)^2, target 0.9 on O1 and O2's own output (no error there).
local mse = nn.MSELoss{reduction = "half_sum"}
local target = tensor{{0.9, out:get(1, 2)}}
near(mse:forward(out, target), 0.5 * (0.9 - out:get(1, 1)) ^ 2, 1e-7, "E")
net:zero_grad()
net:backward(x, mse:backward(out, target))
near(net[2].weight.grad:get(1, 1), -0.01631, 5e-5, "dE/dw(O1<-H1)")
local params = net:parameters()
assert(#params == 2 and params[2].name == "weight", "two weight tensors")
near(params[2].grad:get(1, 1), -0.01631, 5e-5, "the same gradient through parameters()")
print("seed002 ok")
