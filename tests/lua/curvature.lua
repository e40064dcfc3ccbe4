-- train.curvature: the Hessian's largest eigenvalue by finite-difference
-- Hessian-vector products, checked against the closed form for a linear
-- neuron, and the step-size rule it gives (seed 002): gradient descent
-- converges below lr_max = 2 / lambda_max and diverges above it.
local function near(a, b, rel, what)
  assert(math.abs(a - b) <= rel * math.abs(b), string.format("%s: got %.6g, expected %.6g", what, a, b))
end

local ds = data.gaussians{count = 100, separation = 2, stddev = 1, seed = 1}
local x = ds:inputs()
local y = ds:targets():sub(1.5):mul(2):reshape{100, 1} -- classes 1, 2 -> targets -1, +1
local n = #x

-- The closed form: MSE over N samples of w.x + b has Hessian (2/N) sum of
-- [x, 1][x, 1]^T, a 3x3 matrix; its largest eigenvalue by plain power iteration.
local cols = {x:index(2, tensor{1}), x:index(2, tensor{2}), tensor.ones{n, 1}}
local H = {}
for i = 1, 3 do
  H[i] = {}
  for j = 1, 3 do H[i][j] = 2 / n * cols[i]:dot(cols[j]) end
end
local v, exact = {1, 1, 1}, 0
for _ = 1, 500 do
  local hv = {}
  for i = 1, 3 do hv[i] = H[i][1] * v[1] + H[i][2] * v[2] + H[i][3] * v[3] end
  local norm = math.sqrt(hv[1] ^ 2 + hv[2] ^ 2 + hv[3] ^ 2)
  exact = (v[1] * hv[1] + v[2] * hv[2] + v[3] * hv[3]) / (v[1] ^ 2 + v[2] ^ 2 + v[3] ^ 2)
  v = {hv[1] / norm, hv[2] / norm, hv[3] / norm}
end

tensor.seed(3)
local model = nn.Sequential{nn.Dense(2, 1)}
local w0, b0 = model[1].weight:clone(), model[1].bias:clone()
local c = train.curvature{model = model, loss = nn.MSELoss(), data = {x = x, y = y}}
print(string.format("lambda_max %.5f (closed form %.5f) in %d iterations; lr_optimal %.4f, lr_max %.4f",
                    c.eigenvalue, exact, c.iterations, c.lr_optimal, c.lr_max))
near(c.eigenvalue, exact, 1e-3, "lambda_max")
near(c.lr_max, 2 / exact, 1e-3, "lr_max")
near(c.lr_optimal, 1 / exact, 1e-3, "lr_optimal")
assert(c.samples == 100 and c.iterations < 100, "converged on all 100 samples")
assert(model[1].weight:equal(w0) and model[1].bias:equal(b0), "the weights are restored exactly")

-- Full-batch gradient descent from the same start, just below and just above lr_max.
local function final_loss(lr, steps)
  model[1].weight:copy(w0)
  model[1].bias:copy(b0)
  local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = lr}),
                            data = {x = x, y = y}, epochs = steps, batch_size = n, shuffle = false, verbose = 0}
  return history.loss[1], history.loss[#history.loss]
end
local first, below = final_loss(0.95 * c.lr_max, 200)
local _, above = final_loss(1.05 * c.lr_max, 200)
print(string.format("200 steps: loss %.4f -> %.4f at 0.95 lr_max, -> %.4g at 1.05 lr_max", first, below, above))
assert(below < first, "converges below lr_max")
assert(above > 100 * first, "diverges above lr_max")

-- The same measure works for any model: a hidden layer, at its start.
tensor.seed(5)
local mlp = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 1)}
local m = train.curvature{model = mlp, loss = nn.MSELoss(), data = {x = x, y = y}}
assert(m.eigenvalue > 0 and m.lr_max == 2 / m.eigenvalue, "a positive top curvature for the MLP")

-- Bad options say what is wrong.
local ok, err = pcall(train.curvature, {model = model, data = {x = x, y = y}})
assert(not ok and err:find("train.curvature: 'loss' is required", 1, true), err)
ok, err = pcall(train.curvature, {model = model, loss = nn.MSELoss(), data = {x = x, y = y}, iterations = 0})
assert(not ok and err:find("iterations must be a whole number", 1, true), err)
ok, err = pcall(function()
  local r = train.curvature{model = model, loss = nn.MSELoss(), data = {x = x, y = y}, epsilon = -1}
  return r
end)
assert(not ok and err:find("curvature.lua:%d+: train.curvature: epsilon must be a positive number"), err)
-- Data that does not fit the model: the layer's error, and nothing moved.
ok, err = pcall(train.curvature, {model = model, loss = nn.MSELoss(), data = {x = tensor.ones{100, 3}, y = y}})
assert(not ok and err:find("Dense", 1, true), err)
print("mismatched data: " .. err)
local before = model[1].weight:clone()
pcall(train.curvature, {model = model, loss = nn.MSELoss(), data = {x = tensor.ones{100, 3}, y = y}})
assert(model[1].weight:equal(before) and model:is_training(), "a failed measure restores weights and mode")
print("curvature ok")
