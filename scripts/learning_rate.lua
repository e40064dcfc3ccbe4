-- learning_rate.lua: seed 002's "learning rate and the Hessian". One linear
-- neuron (2 inputs, 1 output, a bias) on 100 samples of two Gaussian clouds,
-- targets -1 and +1, mean squared error. Near a minimum the loss is about
-- quadratic; along its most curved direction, with curvature lambda_max (the
-- Hessian's largest eigenvalue), full-batch gradient descent converges
-- fastest at lr_opt = 1 / lambda_max and diverges above lr_max = 2 / lambda_max.
-- train.curvature measures lambda_max from gradients alone; the runs below
-- check the rule. Each is a monitor run, so --plot draws their curves.
--
-- Run: neurite-run --plot lr.png scripts/learning_rate.lua

local clouds = data.gaussians{count = 100, separation = 2, stddev = 1, seed = 1}
local x = clouds:inputs()
local y = clouds:targets():sub(1.5):mul(2):reshape{#clouds, 1} -- class 1 -> -1, class 2 -> +1

tensor.seed(3)
local model = nn.Sequential{nn.Dense(2, 1)}
local start_w, start_b = model[1].weight:clone(), model[1].bias:clone()
local c = train.curvature{model = model, loss = nn.MSELoss(), data = {x = x, y = y}}
print(string.format("Hessian largest eigenvalue  lambda_max = %.3f", c.eigenvalue))
print(string.format("optimal learning rate       lr_opt = 1/lambda_max = %.3f", c.lr_optimal))
print(string.format("maximum learning rate       lr_max = 2/lambda_max = %.3f", c.lr_max))
print()

for _, k in ipairs{0.25, 1.0, 1.9, 2.1} do
  local lr = k * c.lr_optimal
  model[1].weight:copy(start_w)
  model[1].bias:copy(start_b)
  local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = lr}),
                            data = {x = x, y = y}, epochs = 30, batch_size = #clouds, shuffle = false,
                            verbose = 0, name = string.format("lr %.2f lr_opt", k)}
  local loss = history.loss
  print(string.format("lr = %.2f x lr_opt = %.3f: loss %.4f, after 3 steps %-9.4g after 30 %-9.4g %s", k, lr,
                      loss[1], loss[3], loss[30], loss[30] > loss[1] and "diverges" or "converges"))
end
