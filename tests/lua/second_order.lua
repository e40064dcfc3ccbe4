-- optim.LBFGS and optim.Newton reach the minimum of f(θ) = θ1² + θ2²
-- (Newton in one step), train a small network, and refuse a model too
-- large for a dense Hessian; tensor.cholesky and cholesky_solve on values.

-- ---------------------------------------------------------------- Cholesky
local a = tensor{{4, 2}, {2, 3}}
local l = tensor.cholesky(a)
-- 4 = l11², 2 = l21 l11, 3 = l21² + l22²
assert(math.abs(l:get(1, 1) - 2) < 1e-6 and math.abs(l:get(2, 1) - 1) < 1e-6 and
       math.abs(l:get(2, 2) - math.sqrt(2)) < 1e-6 and l:get(1, 2) == 0, "L of [[4, 2], [2, 3]]: " .. tostring(l))
local x = tensor.cholesky_solve(tensor{2, 1}, l) -- [[4, 2], [2, 3]] x = [2, 1] -> x = [0.5, 0]
assert(math.abs(x:get(1) - 0.5) < 1e-6 and math.abs(x:get(2)) < 1e-6, "solved: " .. tostring(x))
local xs = tensor.cholesky_solve(tensor{{2, 4}, {1, 2}}, l)
assert(xs:shape()[2] == 2 and math.abs(xs:get(1, 2) - 1) < 1e-6, "two right-hand sides")
local ok, err = pcall(tensor.cholesky, tensor{{1, 2}, {2, 1}})
assert(not ok and err:find("tensor.cholesky: the matrix is not positive definite (its leading minor of order 2", 1,
                           true), err)
ok, err = pcall(tensor.cholesky, tensor{{1, 2, 3}})
assert(not ok and err:find("expects a square matrix, got a tensor of shape [1, 3]", 1, true), err)
ok, err = pcall(tensor.cholesky_solve, tensor{1, 2, 3}, l)
assert(not ok and err:find("B of shape [3] does not fit L of shape [2, 2]", 1, true), err)

-- ---------------------------------------------------------------- the quadratic
-- θ lives in a layer without bias; the closure computes f and writes its gradient 2θ.
local function quadratic(start)
  local layer = nn.Dense{inputs = 2, outputs = 1, bias = false}
  local theta = layer.weight
  theta:copy(tensor{start})
  local calls = 0
  local function closure()
    calls = calls + 1
    theta.grad:copy(theta * 2)
    return theta:dot(theta)
  end
  return layer, theta, closure, function() return calls end
end

do -- Newton: one step to the minimum, from anywhere
  local layer, theta, closure = quadratic{3, -4}
  local opt = optim.Newton(layer, {damping = 0})
  local first = opt:step(closure)
  assert(first == 25, "step returns the loss before the step: " .. first)
  assert(theta:abs():max() < 1e-6, "one Newton step reaches the minimum: " .. tostring(theta))
  assert(opt.loss < 1e-12 and opt.steps == 1, "loss after the step: " .. opt.loss)
  assert(opt.evaluations == 2 + 2 * 2, "2n + 2 closure calls: " .. opt.evaluations)
end

do -- Damping shortens the step: θ ← θ - (H + λI)⁻¹ g = θ (1 - 2 / (2 + λ)), λ = 2 halves θ
  local layer, theta, closure = quadratic{3, -4}
  local opt = optim.Newton(layer, {damping = 2, adaptive = false})
  opt:step(closure)
  assert(math.abs(theta:get(1, 1) - 1.5) < 1e-5 and math.abs(theta:get(1, 2) + 2) < 1e-5, tostring(theta))
end

do -- L-BFGS: the first iteration is scaled gradient descent, the second lands on the minimum
  local layer, theta, closure, calls = quadratic{3, -4}
  local opt = optim.LBFGS(layer, {lr = 1, max_iter = 20})
  local first = opt:step(closure)
  assert(first == 25, "step returns the first loss")
  assert(theta:abs():max() < 1e-5, "L-BFGS reaches the minimum: " .. tostring(theta))
  assert(calls() <= 4, "within a few evaluations: " .. calls())
  local again = optim.LBFGS(quadratic{3, -4}, {line_search_fn = "backtracking"})
  local _, t2, c2 = quadratic{-1, 2}
  local opt2 = optim.LBFGS({t2}, {line_search_fn = "backtracking"})
  opt2:step(c2)
  assert(t2:abs():max() < 1e-5, "with backtracking too: " .. tostring(t2))
  assert(again:type() == "LBFGS" and #opt2:params() == 1, "type and parameters")
end

-- Rosenbrock's valley, f = (1 - a)² + 100 (b - a²)², from (-1.5, 2): the
-- strong Wolfe line search follows it to (1, 1) in a few dozen evaluations.
do
  local layer = nn.Dense{inputs = 2, outputs = 1, bias = false}
  local ab = layer.weight
  ab:copy(tensor{{-1.5, 2}})
  local function closure()
    local a, b = ab:get(1, 1), ab:get(1, 2)
    ab.grad:copy(tensor{{-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)}})
    return (1 - a) ^ 2 + 100 * (b - a * a) ^ 2
  end
  local opt = optim.LBFGS(layer, {max_iter = 200, max_eval = 400, line_search_fn = "strong_wolfe"})
  opt:step(closure)
  assert(math.abs(ab:get(1, 1) - 1) < 1e-4 and math.abs(ab:get(1, 2) - 1) < 1e-4, "at (1, 1): " .. tostring(ab))
  assert(opt.evaluations < 100, "in fewer than 100 evaluations: " .. opt.evaluations)
  local _, t3, c3 = quadratic{3, -4}
  local plain = optim.LBFGS({t3}, {line_search_fn = "strong_wolfe"})
  plain:step(c3)
  assert(t3:abs():max() < 1e-5, "the quadratic with strong Wolfe: " .. tostring(t3))
end

-- ---------------------------------------------------------------- a small network
do
  local x, y = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}, tensor{{0}, {1}, {1}, {0}}
  local loss = nn.MSELoss()
  local function run(make)
    tensor.seed(12)
    local model = nn.Sequential{nn.Dense(2, 4, {activation = "tanh"}), nn.Dense(4, 1)}
    local opt = make(model)
    local function closure()
      opt:zero_grad()
      local pred = model:forward(x)
      local value = loss:forward(pred, y)
      model:backward(x, loss:backward(pred, y), false)
      return value
    end
    local value
    for _ = 1, 30 do
      opt:step(closure)
      value = closure()
    end
    return value, model
  end
  local newton_loss = run(function(m) return optim.Newton(m, {damping = 1e-3}) end)
  local lbfgs_loss = run(function(m) return optim.LBFGS(m, {max_iter = 10, line_search_fn = "backtracking"}) end)
  local wolfe_loss = run(function(m) return optim.LBFGS(m, {max_iter = 10, line_search_fn = "strong_wolfe"}) end)
  assert(wolfe_loss < 1e-2, "L-BFGS with strong Wolfe fits XOR: loss " .. wolfe_loss)
  assert(newton_loss < 1e-3, "Newton fits XOR: loss " .. newton_loss)
  assert(lbfgs_loss < 1e-2, "L-BFGS fits XOR: loss " .. lbfgs_loss)
end

-- train.fit gives them a closure over each batch.
do
  tensor.seed(13)
  local x = tensor.randn{64, 3}
  local y = x:matmul(tensor{{1}, {-2}, {0.5}}) + 0.25
  local model = nn.Sequential{nn.Dense(3, 1)}
  local opt = optim.LBFGS(model, {max_iter = 5})
  local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y},
                            epochs = 3, batch_size = 64, verbose = 0, metrics = {"r2"}}
  assert(history.loss[3] < 1e-6, "L-BFGS solves a linear regression in train.fit: " .. history.loss[3])
  assert(opt.evaluations > 3, "the closure ran: " .. opt.evaluations)
  assert(history.r2[3] > 0.999999, "R^2 near 1")
  local m2 = nn.Sequential{nn.Dense(3, 1)}
  local newton = optim.Newton(m2)
  local h2 = train.fit{model = m2, loss = nn.MSELoss(), optimizer = newton, data = {x = x, y = y},
                       epochs = 2, batch_size = 64, verbose = 0}
  assert(h2.loss[2] < 1e-5 * h2.loss[1], "one Newton step solves least squares: " .. h2.loss[2])
  local ok2, err2 = pcall(train.fit, {model = m2, loss = nn.MSELoss(), optimizer = newton, data = {x = x, y = y},
                                      verbose = 0, clip_grad_norm = 1})
  assert(not ok2 and err2:find("clip_grad_norm and clip_grad_value apply to gradient-step optimizers, not to Newton",
                               1, true), err2)
end

-- Their state round-trips: through state()/load_state(), and through a
-- train.checkpoint that train.fit{resume =} continues from exactly.
do
  local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
  local y = tensor{{0}, {1}, {1}, {0}}
  local function setup(make)
    tensor.seed(21)
    local model = nn.Sequential{nn.Dense(2, 3, {activation = "tanh"}), nn.Dense(3, 1)}
    return model, make(model)
  end
  local make = function(m) return optim.LBFGS(m, {max_iter = 3, line_search_fn = "strong_wolfe"}) end
  local function run(epochs, resume)
    local model, opt = setup(make)
    local h = train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y},
                        epochs = epochs, batch_size = 4, verbose = 0, resume = resume,
                        callbacks = {train.checkpoint{path = "lbfgs.nrt"}}}
    return h, model, opt
  end
  os.remove("lbfgs.nrt")
  local whole, model_whole, opt_whole = run(4)
  os.remove("lbfgs.nrt")
  run(2)
  local resumed, model_resumed, opt_resumed = run(4, "lbfgs.nrt")
  os.remove("lbfgs.nrt")
  assert(#opt_resumed.s > 0 and opt_resumed.evaluations == opt_whole.evaluations, "the history came back")
  assert(resumed.loss[4] == whole.loss[4], string.format("the resumed run ends as the whole one: %.9g vs %.9g",
                                                         resumed.loss[4], whole.loss[4]))
  assert(model_resumed:forward(x):equal(model_whole:forward(x)), "with the same weights")
  local m2, n2 = setup(function(m) return optim.Newton(m, {damping = 0.5}) end)
  n2.lambda = 0.125
  local n3 = optim.Newton(m2)
  n3:load_state(n2:state())
  assert(n3.lambda == 0.125, "Newton's damping is its state")
  local ok3, err3 = pcall(n3.load_state, n3, opt_whole:state())
  assert(not ok3 and err3:find("load_state needs the state of a Newton of 13 parameters, got that of a LBFGS of 13",
                               1, true), err3)
end

-- ---------------------------------------------------------------- errors
local function fails(f, text)
  local ok2, err2 = pcall(f)
  assert(not ok2 and err2:find(text, 1, true), "expected '" .. text .. "' in: " .. tostring(err2))
  assert(err2:find("second_order.lua:%d+:"), "the error names the script's line: " .. err2)
end
local big = nn.Sequential{nn.Dense(50, 50)}
fails(function() optim.Newton(big, {}) end,
      "optim.Newton: the model has 2550 trained parameters; a dense Hessian of 2550 x 2550 (24.8 MiB) is above " ..
      "the limit of max_parameters = 2000")
local layer = quadratic{1, 1}
fails(function() optim.LBFGS(layer, {lr = 1}):step() end, "optim.LBFGS:step needs a closure")
fails(function() optim.Newton(layer, {dampng = 1}) end, "unknown option 'dampng' (did you mean 'damping'?)")
fails(function() optim.Newton(layer, {damping = -1}) end, "damping must be a number >= 0, got -1")
fails(function() optim.LBFGS(layer, {line_search_fn = "strong_wolf"}) end,
      "unknown line_search_fn 'strong_wolf' (did you mean 'strong_wolfe'?)")
fails(function() optim.LBFGS(layer):step(function() return "x" end) end,
      "the closure returned a string; it must return the loss as a number")
fails(function() optim.LBFGS(42) end, "expects a model or a list of parameters")
print("second-order optimizers ok")
