-- worked_example.lua: seed 002's backpropagation example by hand-set weights.
-- A 3-3-2 network of sigmoid neurons without bias; input (0.5, 0.9, -0.3);
-- the error E = 1/2 sum (t - a)^2 with target 0.9 on output O1.
-- Prints the hidden and output activations and dE/dw for the weight O1 <- H1
-- (the notes: .13 * (.35 - .9) * .35 * (1 - .35) = -0.0163).

local net = nn.Sequential{
  nn.Dense{inputs = 3, outputs = 3, bias = false, activation = "sigmoid"},  -- H1..H3
  nn.Dense{inputs = 3, outputs = 2, bias = false, activation = "sigmoid"},  -- O1, O2
}
net[1].weight:copy{{1, -2, 2}, {2, 1, -4}, {1, -1, 0}}   -- row i: weights into H_i
net[2].weight:copy{{-3, 1, -3}, {0, 1, 2}}               -- row k: weights into O_k

local x = tensor{{0.5, 0.9, -0.3}}
local hidden = net[1]:forward(x)
local out = net:forward(x)
print(string.format("hidden  H = (%.3f, %.3f, %.3f)", hidden:get(1, 1), hidden:get(1, 2), hidden:get(1, 3)))
print(string.format("output  O = (%.3f, %.3f)", out:get(1, 1), out:get(1, 2)))

local loss = nn.MSELoss{reduction = "half_sum"}
local target = tensor{{0.9, out:get(1, 2)}}   -- only O1 has an error
print(string.format("error   E = %.5f", loss:forward(out, target)))

net:zero_grad()
net:backward(x, loss:backward(out, target))
local dw = net[2].weight.grad:get(1, 1)
print(string.format("dE/dw(O1 <- H1) = %.5f", dw))
print("all gradients of the output layer:")
print(net[2].weight.grad)
