-- autograd.grad against central differences on every differentiable tensor
-- operation, broadcasting, views, a backward-less nn.define layer trained by
-- train.fit, and the errors. Tensors are f32: the differences use h = 1e-2
-- on smooth functions, and agree within 2e-3 of max(1, |gradient|) (f32
-- rounding over h is about 1e-5 here; the worst case seen is 1.4e-4).
tensor.seed(4)

local H, TOL = 1e-2, 2e-3
local checked, worst = 0, 0

-- f(inputs...) -> a tensor (or a number); its gradients for random output
-- weights w, by autograd and by differences, element by element.
local function gradcheck(name, f, inputs)
  local out = f(table.unpack(inputs))
  local w = type(out) == "number" and tensor.randn({}) or tensor.randn(out:shape())
  local grads = autograd.grad(f, inputs, {grad_outputs = w})
  local function weighted()
    local y = f(table.unpack(inputs))
    return type(y) == "number" and y * w:item() or (y * w):sum()
  end
  for i, x in ipairs(inputs) do
    assert(tensor.is_tensor(grads[i]), name .. ": no gradient for input " .. i)
    assert(table.concat(grads[i]:shape(), ",") == table.concat(x:shape(), ","),
           name .. ": gradient " .. i .. " has the wrong shape")
    local flat, g = x:reshape{-1}, grads[i]:reshape{-1}
    for j = 1, x:numel() do
      local v = flat[j]
      flat[j] = v + H
      local up = weighted()
      flat[j] = v - H
      local down = weighted()
      flat[j] = v
      local numeric = (up - down) / (2 * H)
      local err = math.abs(numeric - g[j]) / math.max(1, math.abs(numeric))
      worst = math.max(worst, err)
      if err > TOL then
        error(string.format("%s: d/d input %d [%d]: autograd %.6f, numeric %.6f", name, i, j, g[j], numeric))
      end
    end
  end
  checked = checked + 1
end

local function randn(...) return tensor.randn(...) end
local function positive(...) return tensor.rand(...) + 0.5 end

-- Elementwise, with broadcasting both ways and numbers.
gradcheck("add", function(a, b) return a + b end, {randn(2, 3), randn(3)})
gradcheck("add alpha", function(a, b) return a:add(b, 2.5) end, {randn(2, 3), randn(2, 1)})
gradcheck("sub", function(a, b) return a - b end, {randn(1, 3), randn(2, 1)})
gradcheck("sub alpha", function(a, b) return a:sub(b, 0.5) end, {randn(4), randn(4)})
gradcheck("mul", function(a, b) return a * b end, {randn(2, 1, 3), randn(4, 1)})
gradcheck("div", function(a, b) return a / b end, {randn(2, 3), positive(3)})
gradcheck("number - t", function(a) return 2 - a * 3 end, {randn(3)})
gradcheck("number / t", function(a) return 1 / a end, {positive(3)})
gradcheck("pow number", function(a) return a ^ 3 end, {randn(2, 2)})
gradcheck("pow tensor", function(a, b) return a:pow(b) end, {positive(2, 3), randn(3)})
gradcheck("number ^ t", function(b) return 2 ^ b end, {randn(3)})
gradcheck("neg", function(a) return -a end, {randn(3)})
for _, op in ipairs{"exp", "sin", "cos", "tanh", "sigmoid"} do
  gradcheck(op, function(a) return a[op](a) end, {randn(2, 3)})
end
gradcheck("log", function(a) return a:log() end, {positive(2, 3)})
gradcheck("sqrt", function(a) return a:sqrt() end, {positive(2, 3)})
-- Away from the kinks at 0, where the difference straddles them.
local away = randn(3, 3)
away = away + away:sign() * 0.1
gradcheck("abs", function(a) return a:abs() end, {away:clone()})
gradcheck("relu", function(a) return a:relu() end, {away:clone()})
gradcheck("clamp", function(a) return a:clamp(-0.5, 0.5) end, {tensor{-1, -0.3, 0.2, 0.9}})
gradcheck("maximum", function(a, b) return a:maximum(b) end, {tensor{1, -2, 3}, tensor{0, 0, 0}})
gradcheck("minimum", function(a, b) return a:minimum(b) end, {tensor{1, -2, 3}, tensor{{0.5}, {2.5}}})

-- Matrix products: 2-D, vectors, batched with broadcasting.
gradcheck("matmul", function(a, b) return a:matmul(b) end, {randn(2, 3), randn(3, 4)})
gradcheck("matmul vec", function(a, b) return a:matmul(b) end, {randn(3), randn(3, 2)})
gradcheck("matmul mat vec", function(a, b) return a:matmul(b) end, {randn(2, 3), randn(3)})
gradcheck("dot product matmul", function(a, b) return a:matmul(b) end, {randn(3), randn(3)})
gradcheck("matmul batched", function(a, b) return a:matmul(b) end, {randn(2, 2, 3), randn(2, 3, 2)})
gradcheck("matmul batch broadcast", function(a, b) return a:matmul(b) end, {randn(2, 1, 2, 3), randn(3, 3, 2)})
gradcheck("matmul transposed", function(a, b) return a:matmul(b:t()) end, {randn(2, 3), randn(4, 3)})
gradcheck("dot", function(a, b) return a:dot(b) end, {randn(4), randn(2, 2)})

-- Reductions: over all (a 0-d tensor while recording), on a dimension, keepdim.
for _, op in ipairs{"sum", "mean", "logsumexp", "var", "std"} do
  gradcheck(op, function(a) return a[op](a) end, {randn(2, 3)})
  gradcheck(op .. "(2)", function(a) return a[op](a, 2) end, {randn(2, 3)})
  gradcheck(op .. "(1, keepdim)", function(a) return a[op](a, 1, true) end, {randn(2, 3)})
  gradcheck(op .. "{dim = -1, keepdim}", function(a) return a[op](a, {dim = -1, keepdim = true}) end, {randn(3, 2)})
end
gradcheck("var unbiased = false", function(a) return a:var(2, {unbiased = false}) end, {randn(2, 4)})
gradcheck("prod", function(a) return a:prod() end, {positive(2, 3)})
gradcheck("prod(2)", function(a) return a:prod(2) end, {positive(2, 3)})
gradcheck("norm", function(a) return a:norm() end, {randn(2, 3)})
gradcheck("norm(1, 2)", function(a) return a:norm(1, 2) end, {away:clone()})
gradcheck("norm(3, 1, keepdim)", function(a) return a:norm(3, 1, true) end, {away:clone()})
gradcheck("norm{p = inf, dim = 2}", function(a) return a:norm{p = math.huge, dim = 2} end, {randn(2, 3)})
gradcheck("max", function(a) return a:max() end, {randn(2, 3)})
gradcheck("max(2)", function(a) return a:max(2) end, {randn(2, 3)})
gradcheck("min(1, keepdim)", function(a) return a:min(1, true) end, {randn(3, 2)})
gradcheck("cumsum", function(a) return a:cumsum(2) end, {randn(2, 4)})
gradcheck("softmax", function(a) return a:softmax(2) end, {randn(2, 4)})
gradcheck("softmax(1)", function(a) return a:softmax(1) end, {randn(3, 2)})
gradcheck("log_softmax", function(a) return a:log_softmax(-1) end, {randn(2, 4)})

-- Shapes and views.
gradcheck("reshape", function(a) return a:reshape{3, 2} * tensor{1, 2} end, {randn(2, 3)})
gradcheck("view", function(a) return a:view{6} end, {randn(2, 3)})
gradcheck("transpose", function(a) return a:transpose(1, 3) end, {randn(2, 3, 2)})
gradcheck("t", function(a) return a:t():matmul(a) end, {randn(3, 2)})
gradcheck("permute", function(a) return a:permute(3, 1, 2) * tensor.arange(3) end, {randn(2, 3, 2)})
gradcheck("permute table", function(a) return a:permute{2, 3, 1} end, {randn(2, 3, 2)})
gradcheck("narrow", function(a) return a:narrow(2, 2, 2) end, {randn(2, 4)})
gradcheck("select", function(a) return a:select(2, 3) end, {randn(2, 4)})
gradcheck("narrow whole, negative", function(a) return a:narrow(-1, 1, 4) + a:narrow(1, -1, 1) end, {randn(2, 4)})
gradcheck("select of a vector, -1", function(a) return a:select(1, -1) * a:select(-1, 1) end, {randn(3)})
gradcheck("t[i]", function(a) return a[2] * a[1] end, {randn(3, 2)})
gradcheck("squeeze, unsqueeze", function(a) return a:unsqueeze(1):squeeze(3) end, {randn(2, 1)})
gradcheck("expand", function(a) return a:expand(3, 2) * tensor{{1, 2}, {3, 4}, {5, 6}} end, {randn(1, 2)})
gradcheck("expand_as", function(a, b) return a:expand_as(b) * b end, {randn(2, 1), randn(2, 3)})
gradcheck("contiguous, clone", function(a) return a:t():contiguous():clone() end, {randn(2, 3)})
gradcheck("tensor(t)", function(a) return tensor(a) * a end, {randn(3)})
gradcheck("cat", function(a, b) return tensor.cat({a, b, a}, 2) end, {randn(2, 1), randn(2, 3)})
gradcheck("cat -1", function(a, b) return tensor.cat({a, b}, -1) end, {randn(2), randn(3)})
gradcheck("stack", function(a, b) return tensor.stack({a, b}, 2) end, {randn(2, 3), randn(2, 3)})

-- Selecting.
gradcheck("index", function(a) return a:index(1, {3, 1, 3}) end, {randn(3, 2)})
gradcheck("index_add", function(a, b) return a:index_add(2, tensor{1, 1}, b, 2) end, {randn(2, 3), randn(2, 2)})
gradcheck("gather", function(a) return a:gather(2, tensor{{1, 1, 3}, {2, 3, 2}}) end, {randn(2, 3)})
gradcheck("gather dim 1", function(a) return a:gather(1, tensor{{2, 1}, {2, 2}}) end, {randn(3, 2)})
gradcheck("scatter", function(a, b) return a:scatter(2, tensor{{3}, {1}}, b) end, {randn(2, 3), randn(2, 1)})
gradcheck("where", function(a, b) return tensor.where(tensor{1, 0, 1}, a, b) end, {randn(2, 3), randn(3)})
gradcheck("t:where", function(a, b) return a:where(tensor{{0}, {1}}, b) end, {randn(2, 3), randn(2, 3)})
gradcheck("masked_fill", function(a) return a:masked_fill(tensor{0, 1, 0}, 5) end, {randn(2, 3)})
gradcheck("masked_select", function(a) return a:masked_select(tensor{{1, 0, 1}, {0, 1, 1}}) end, {randn(2, 3)})

-- Compositions: a tensor used twice, a mask (no gradient) on the way.
gradcheck("x * x + sin x", function(a) return a * a + a:sin() end, {randn(4)})
gradcheck("relu mask", function(a) return a * a:gt(0) end, {away:clone()})
gradcheck("mlp", function(x, w1, w2)
  return x:matmul(w1):tanh():matmul(w2):log_softmax(2)
end, {randn(3, 4), randn(4, 5), randn(5, 2)})
print(string.format("gradient checks: %d operations and cases, worst relative error %.2e", checked, worst))

-- An autograd.grad inside another's f: the outer one records the inner
-- forward and backward, so it differentiates the gradient (second order).
do
  local x = tensor{1, 2, 3}
  local outer = autograd.grad(function(t)
    local g = autograd.grad(function(y) return (y * y * y):sum() end, t) -- 3 t^2
    return (g * t):sum()                                                   -- 3 t^3
  end, x)
  assert(outer:equal(tensor{9, 36, 81}), "d/dt sum(3 t^3) = 9 t^2: " .. tostring(outer))
  -- A Hessian-vector product against differences of the gradient.
  local w, v = tensor.randn(4, 3), tensor.randn(4)
  local function f(y) return y:matmul(w):tanh():pow(2):sum() + y:narrow(1, 2, 2):exp():sum() + y:select(1, 1) * y:select(1, 4) end
  local function gradient(y) return autograd.grad(f, y) end
  local p = tensor.randn(4)
  local hv = autograd.grad(function(y) return (gradient(y) * v):sum() end, p)
  local h = 3e-3 -- the third derivatives here are large enough to show at 1e-2
  local numeric = (gradient(p + v * h) - gradient(p - v * h)) / (2 * h)
  local err = (hv - numeric):abs():max() / math.max(1, numeric:abs():max())
  print(string.format("Hessian-vector product: relative error %.2e against differences of the gradient", err))
  assert(err < 2e-3, "Hv = " .. tostring(hv) .. ", numeric " .. tostring(numeric))
end

-- One input gives one gradient; the output comes second.
do
  local x = tensor{1, 2, 3}
  local g, y = autograd.grad(function(t) return (t * t):sum() end, x)
  assert(g:equal(tensor{2, 4, 6}), "d sum x^2 = 2x")
  assert(tensor.is_tensor(y) and y:dim() == 0 and y:item() == 14, "the output is a 0-d tensor")
  -- An input the output does not depend on gets zeros.
  local grads = autograd.grad(function(a, b) return a:sum() end, {x, tensor{5, 6}})
  assert(grads[2]:equal(tensor{0, 0}), "an unused input's gradient is 0")
  -- Recording ends with autograd.grad: the same expression is a number again.
  assert(type((x * x):sum()) == "number", "t:sum() is a number outside recording")
end

-- Errors at the script's line, naming autograd.grad and what is wrong.
local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching " .. pattern)
  assert(err:find(pattern, 1, true), "the error was: " .. err)
  assert(err:find("autograd.lua:%d+:"), "the error names the script's line: " .. err)
end
local x = tensor.randn(2, 3)
fails(function() autograd.grad(function(t) return t * 2 end, x) end,
      "autograd.grad: f returned a tensor of shape [2, 3], not one number")
fails(function() autograd.grad(function(t) return t:sum() end, x, {grad_outputs = tensor.ones(3)}) end,
      "autograd.grad: grad_outputs has shape [3] but f returned shape []")
fails(function() autograd.grad(function(t) return t:sum():item() end, x) end, "autograd.grad: f returned a number")
fails(function() autograd.grad(function(t) return t:sum() end, {x, 3}) end, "autograd.grad: inputs[2] is a number")
fails(function() autograd.grad(function(t) return t:sum() end, nil) end, "autograd.grad: inputs must be a tensor")
fails(function() autograd.grad(42, x) end, "autograd.grad: f must be a function")
fails(function() autograd.grad(function(t) return tensor.ones(1) * 2 end, x) end,
      "autograd.grad: f's result does not depend on the inputs")
fails(function() autograd.grad(function(t) return nn.Dense(3, 1):forward(t):sum() end, x) end,
      "a layer's or model's output is not recorded")
fails(function() autograd.grad(function(t) return tensor.cholesky(t:matmul(t:t())):sum() end, x) end,
      "autograd.grad: tensor.cholesky has no gradient")
fails(function() autograd.grad(function(t) return t:sum() end, x, {grad_output = 1}) end, "unknown option")
fails(function() autograd.grad(function(t) t:add_(1) return t:sum() end, x) end,
      "autograd.grad: t:add_ changes a tensor in place")
fails(function() autograd.grad(function(t) return t:map(math.sin):sum() end, x) end,
      "autograd.grad: t:map has no gradient")
-- An error in f ends the recording too.
fails(function() autograd.grad(function(t) return t + tensor.ones(4) end, x) end, "do not match")
assert(type((x * x):sum()) == "number", "no tape records after an error in f")

-- nn.define without backward: forward recorded in training mode, backward
-- replays it. A layer y = x * s + b, fitted by train.fit to y = 3x - 1.
nn.define{
  name = "AutoAffine", params = {{name = "features", type = "int", min = 1}},
  parameters = {"s", "b"},
  init = function(self) self.s = tensor.ones(self.features); self.b = tensor.zeros(self.features) end,
  forward = function(self, x, training) return x * self.s + self.b end,
}
do
  -- Its gradients against differences, through layer:backward.
  local layer = nn.AutoAffine{features = 2}
  local xin = tensor{{1, 2}, {3, -1}}
  layer:forward(xin)
  local dx = layer:backward(xin, tensor{{1, 1}, {2, 1}})
  assert(dx:equal(tensor{{1, 1}, {2, 1}}), "dx = grad_out * s with s = 1")
  local params = layer:parameters()
  assert(params[1].grad:equal(tensor{7, 1}), "ds = sum(grad_out * x): " .. tostring(params[1].grad))
  assert(params[2].grad:equal(tensor{3, 2}), "db = sum(grad_out)")

  local xs = tensor.randn(64, 2)
  local ys = xs * 3 - 1
  local model = nn.Sequential{nn.AutoAffine{features = 2}}
  train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
            data = {x = xs, y = ys}, epochs = 60, batch_size = 16, verbose = 0}
  local p = model:parameters()
  print(string.format("AutoAffine fitted: s = {%.4f, %.4f}, b = {%.4f, %.4f}",
                      p[1][1], p[1][2], p[2][1], p[2][2]))
  for j = 1, 2 do
    assert(math.abs(p[1][j] - 3) < 1e-3 and math.abs(p[2][j] + 1) < 1e-3, "train.fit learned y = 3x - 1")
  end
end
-- A nonlinear backward-less layer with a weight matrix, inside a model:
-- train.gradient_check compares the whole model's backward with differences.
nn.define{
  name = "AutoGate", params = {{name = "features", type = "int", min = 1}},
  parameters = {"w"},
  init = function(self) self.w = tensor.randn(self.features, self.features) * 0.5 end,
  forward = function(self, x, training) return x:matmul(self.w):tanh() * x:sigmoid() end,
}
do
  local clouds = data.gaussians{count = 32, separation = 2, stddev = 1, seed = 3}
  local model = nn.Sequential{nn.Dense(2, 3), nn.AutoGate{features = 3}, nn.Dense(3, 2)}
  local check = train.gradient_check{model = model, loss = nn.CrossEntropyLoss(), data = clouds}
  print(string.format("AutoGate in a model: %d elements, worst relative error %.2g (%s)", check.checked,
                      check.max_relative_error, check.worst))
  assert(check.max_relative_error < 1e-2, check.worst)
  -- The same layer in evaluation mode then backward: the forward is recorded again.
  local gate = nn.AutoGate{features = 2}
  local xin = tensor{{0.5, -1}}
  gate:eval()
  gate:forward(xin)
  local dx = gate:backward(xin, tensor{{1, 0}})
  local expected = autograd.grad(function(x) return (x:matmul(gate:parameters()[1]):tanh() * x:sigmoid()):select(2, 1):sum() end, xin)
  assert((dx - expected):abs():max() < 1e-6, "backward after an eval forward")
end

-- Two inputs: backward returns one gradient per input.
nn.define{
  name = "AutoBlend", inputs = 2,
  forward = function(self, a, b, training) return a * b + a:sin() end,
}
do
  local blend = nn.AutoBlend()
  local a, b = tensor{{2, 0}}, tensor{{5, 1}}
  blend:forward{a, b}
  local grads = blend:backward({a, b}, tensor{{1, 1}})
  assert(math.abs(grads[1]:get(1, 1) - (5 + math.cos(2))) < 1e-6 and grads[1]:get(1, 2) == 2, "d/da = b + cos a")
  assert(grads[2]:equal(a), "d/db = a")
end

-- A loss without a backward: its forward recorded for the prediction.
nn.define{
  name = "AutoHuber", kind = "loss",
  forward = function(self, pred, target)
    local r = (pred - target):abs()
    return tensor.where(r:le(1), r * r * 0.5, r - 0.5):mean()
  end,
}
do
  local huber = nn.AutoHuber()
  local pred, target = tensor{{0.5, 3}, {-2, 1}}, tensor{{0, 0}, {0, 1.5}}
  assert(math.abs(huber:forward(pred, target) - (0.125 + 2.5 + 1.5 + 0.125) / 4) < 1e-6, "the forward is a number")
  local g = huber:backward(pred, target)
  -- d/dpred: (pred - target) inside 1, its sign outside; divided by 4 for the mean.
  assert((g - tensor{{0.5, 1}, {-1, -0.5}} / 4):abs():max() < 1e-7, "Huber's gradient: " .. tostring(g))
  local xs = tensor.randn(64, 2)
  local ys = xs:matmul(tensor{{2}, {-1}}) + 0.5
  local model = nn.Sequential{nn.Dense(2, 1)}
  train.fit{model = model, loss = huber, optimizer = optim.SGD(model, {lr = 0.2}),
            data = {x = xs, y = ys}, epochs = 150, batch_size = 16, verbose = 0}
  local w, b = model[1].weight, model[1].bias
  print(string.format("Dense fitted with AutoHuber: w = {%.4f, %.4f}, b = %.4f", w:get(1, 1), w:get(1, 2), b:get(1)))
  assert(math.abs(w:get(1, 1) - 2) < 1e-2 and math.abs(w:get(1, 2) + 1) < 1e-2 and math.abs(b:get(1) - 0.5) < 1e-2,
         "train.fit with a backward-less loss learned y = 2 x1 - x2 + 0.5")
  -- With class targets: negative log-likelihood of log_softmax is cross-entropy.
  nn.define{name = "AutoNLL", kind = "loss", target = "class",
            forward = function(self, pred, target)
              return -pred:log_softmax(2):gather(2, target:reshape{-1, 1}):mean()
            end}
  local logits, classes = tensor.randn(4, 3), tensor{1, 3, 2, 3}
  local nll, ce = nn.AutoNLL(), nn.CrossEntropyLoss()
  assert(math.abs(nll:forward(logits, classes) - ce:forward(logits, classes)) < 1e-6, "AutoNLL = cross-entropy")
  assert((nll:backward(logits, classes) - ce:backward(logits, classes)):abs():max() < 1e-6,
         "AutoNLL's derived backward = cross-entropy's (softmax - onehot) / n")
  -- A loss whose value leaves the tape cannot be differentiated.
  nn.define{name = "ItemLoss", kind = "loss", forward = function(self, pred) return pred:sum():item() end}
  local ok, err = pcall(function() return nn.ItemLoss():backward(pred, target) end)
  assert(not ok and err:find("without a backward, the loss's forward must compute its value", 1, true), err)
end

print("autograd: all checks passed")
