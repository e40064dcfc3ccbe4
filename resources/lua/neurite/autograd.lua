-- neurite/autograd.lua: reverse-mode automatic differentiation of tensor
-- code.
--   local g = autograd.grad(function(x) return (x * x):sum() end, x)  -- 2x
-- While f runs, the tensor bindings put every operation on a recorded
-- tensor on a tape (autograd_binding.cpp); the backward pass below walks
-- the tape from the end, each operation giving the gradients of its
-- arguments from its output's (its vector-Jacobian product, written with
-- tensor operations, so each is a few vectorised calls). nn.define's layers
-- without a backward get one from here: their forward is recorded in
-- training mode and backward replays it.

local neurite, core = ...
local tensor = neurite.tensor
local check_options = neurite.check_options
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local is_tensor = tensor.is_tensor

local autograd = {}

local function shape_text(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- g summed down to `shape`, undoing broadcasting: leading dimensions summed
-- away, and dimensions where `shape` has 1 summed with keepdim.
local function sum_to(g, shape)
  if same_shape(g:shape(), shape) then return g end
  while g:dim() > #shape do g = g:sum(1) end
  for d = 1, #shape do
    if shape[d] == 1 and g:size(d) ~= 1 then g = g:sum(d, true) end
  end
  return g
end

-- ---- options of reductions, as the bindings read them

-- {dim =, keepdim =, unbiased =, p =} from t:op(dim, keepdim | {...}) or t:op{...}.
local function reduce_options(args, at)
  local o, v = {unbiased = true}, args[at]
  local function from(tbl)
    if tbl.dim ~= nil then o.dim = tbl.dim end
    o.keepdim = tbl.keepdim and true or false
    if tbl.unbiased ~= nil then o.unbiased = tbl.unbiased end
    if tbl.p ~= nil then o.p = tbl.p end
  end
  if type(v) == "table" then from(v) return o end
  o.dim = v
  local w = args[at + 1]
  if type(w) == "table" then from(w) else o.keepdim = w and true or false end
  return o
end

-- The 1-based dimension d of a tensor of `ndim` dimensions (-1 the last).
local function positive_dim(d, ndim)
  if d < 0 then return d + ndim + 1 end
  return d
end

-- For a reduction of x with options o: a function giving a tensor of the
-- output's values in a shape that broadcasts against x (keepdim's), the
-- dimension (nil for all), and how many elements each output reduced.
local function reduction_frame(x, o)
  if o.dim == nil or x:dim() == 0 then
    return function(t) return t end, nil, x:numel()
  end
  local d = positive_dim(o.dim, x:dim())
  local keep = function(t) if o.keepdim then return t end return t:unsqueeze(d) end
  return keep, d, x:size(d)
end

-- The zeros of x's shape with g added at the places the contiguous flat
-- index tensor `flat` (0-based, shaped as g) names; repeats add up.
local function add_at_flat(shape, flat, g)
  local numel = 1
  for _, s in ipairs(shape) do numel = numel * s end
  local z = tensor.zeros(numel)
  if g:numel() == 0 then return z:reshape(shape) end
  return z:index_add(1, (flat + 1):reshape{-1}, g:contiguous():reshape{-1}):reshape(shape)
end

-- The gradient of x:gather(d, index): g added at the places index names.
local function scatter_add(shape, d, index, g)
  local strides, s = {}, 1
  for e = #shape, 1, -1 do strides[e] = s; s = s * shape[e] end
  local flat = (index - 1) * strides[d]
  local ishape = index:shape()
  for e = 1, #ishape do
    if e ~= d then
      local along = {}
      for k = 1, #ishape do along[k] = (k == e) and ishape[e] or 1 end
      flat = flat + tensor.arange(ishape[e]):reshape(along) * strides[e]
    end
  end
  return add_at_flat(shape, flat, g)
end

-- ---- vector-Jacobian products: vjp[name](g, args, out, results) returns
-- the gradients by argument position (a list for tensor.cat's list).

local vjp = {}

local function mask_of(a, b, op) -- a op b as a mask, either side a number
  if is_tensor(a) then return a[op](a, b) end
  local flipped = {ge = "le", le = "ge", gt = "lt", lt = "gt"}
  return b[flipped[op]](b, a)
end

vjp.add = function(g, a) local alpha = a[3] or 1 return {g, alpha == 1 and g or g * alpha} end
vjp.sub = function(g, a) local alpha = a[3] or 1 return {g, -g * alpha} end
vjp.mul = function(g, a) return {g * a[2], g * a[1]} end
vjp.div = function(g, a) return {g / a[2], -g * a[1] / (a[2] * a[2])} end
vjp.pow = function(g, a, out) -- x ^ p, either a number
  local x, p = a[1], a[2]
  local gx = is_tensor(x) and g * p * x:pow(p - 1) or nil
  local gp = is_tensor(p) and g * out * (is_tensor(x) and x:log() or math.log(x)) or nil
  return {gx, gp}
end
vjp.neg = function(g) return {-g} end
vjp.exp = function(g, _, out) return {g * out} end
vjp.log = function(g, a) return {g / a[1]} end
vjp.sqrt = function(g, _, out) return {g / (out * 2)} end
vjp.abs = function(g, a) return {g * a[1]:sign()} end
vjp.tanh = function(g, _, out) return {g * (1 - out * out)} end
vjp.sigmoid = function(g, _, out) return {g * out * (1 - out)} end
vjp.relu = function(g, a) return {g * a[1]:gt(0)} end
vjp.sin = function(g, a) return {g * a[1]:cos()} end
vjp.cos = function(g, a) return {-g * a[1]:sin()} end
-- Ties give the gradient to the first operand, as PyTorch's max does half
-- to each; either is a subgradient.
vjp.maximum = function(g, a)
  local first = mask_of(a[1], a[2], "ge")
  return {g * first, g * (1 - first)}
end
vjp.minimum = function(g, a)
  local first = mask_of(a[1], a[2], "le")
  return {g * first, g * (1 - first)}
end
vjp.clamp = function(g, a)
  local x, inside = a[1], g
  if a[2] ~= nil then inside = inside * x:ge(a[2]) end
  if a[3] ~= nil then inside = inside * x:le(a[3]) end
  return {inside}
end

-- PyTorch's matmul rules: a 1-D left operand is a row, a 1-D right one a
-- column, leading dimensions are batches that broadcast (sum_to undoes it).
vjp.matmul = function(g, a)
  local x, y = a[1], a[2]
  local xm = x:dim() == 1 and x:unsqueeze(1) or x
  local ym = y:dim() == 1 and y:unsqueeze(2) or y
  local gm = g
  if x:dim() == 1 and y:dim() == 1 then gm = g:reshape{1, 1}
  elseif x:dim() == 1 then gm = g:unsqueeze(g:dim())
  elseif y:dim() == 1 then gm = g:unsqueeze(g:dim() + 1) end
  local gx = gm:matmul(ym:transpose(ym:dim() - 1, ym:dim()))
  local gy = xm:transpose(xm:dim() - 1, xm:dim()):matmul(gm)
  if x:dim() == 1 then gx = gx:select(gx:dim() - 1, 1) end
  if y:dim() == 1 then gy = gy:select(gy:dim(), 1) end
  return {gx, gy}
end
vjp.dot = function(g, a) return {a[2]:reshape(a[1]:shape()) * g, a[1]:reshape(a[2]:shape()) * g} end

-- ---- reductions

vjp.sum = function(g, a)
  local x = a[1]
  local keep = reduction_frame(x, reduce_options(a, 2))
  return {keep(g):expand(x:shape())}
end
vjp.mean = function(g, a)
  local x = a[1]
  local keep, _, n = reduction_frame(x, reduce_options(a, 2))
  return {(keep(g) / n):expand(x:shape())}
end
vjp.prod = function(g, a, out) -- out / x: undefined where x is 0
  local keep = reduction_frame(a[1], reduce_options(a, 2))
  return {keep(g) * keep(out) / a[1]}
end
local function centred(x, d)
  if d == nil then return x - x:mean() end
  return x - x:mean(d, true)
end
vjp.var = function(g, a)
  local x, o = a[1], reduce_options(a, 2)
  local keep, d, n = reduction_frame(x, o)
  return {keep(g) * centred(x, d) * (2 / (o.unbiased and n - 1 or n))}
end
vjp.std = function(g, a, out)
  local x, o = a[1], reduce_options(a, 2)
  local keep, d, n = reduction_frame(x, o)
  return {keep(g) * centred(x, d) / (keep(out) * (o.unbiased and n - 1 or n))}
end
vjp.norm = function(g, a, out) -- t:norm(p, dim, keepdim) or t:norm{p =, dim =, keepdim =}
  local x, o = a[1], nil
  if type(a[2]) == "table" then o = reduce_options(a, 2) else o = reduce_options(a, 3); o.p = a[2] end
  local p = o.p or 2
  local keep, d = reduction_frame(x, o)
  local gk, nk = keep(g), keep(out)
  if p == 0 then return {} end -- a count of nonzeros
  if p == 1 then return {gk * x:sign()} end
  if p == 2 then return {gk * x / nk} end
  if p == math.huge then -- shared by the places of the largest magnitude
    local at = x:abs():eq(nk)
    return {gk * x:sign() * at / (d and at:sum(d, true) or at:sum())}
  end
  return {gk * x:sign() * x:abs():pow(p - 1) / nk:pow(p - 1)}
end
vjp.logsumexp = function(g, a, out)
  local keep = reduction_frame(a[1], reduce_options(a, 2))
  return {keep(g) * (a[1] - keep(out)):exp()}
end
-- max and min: all of the gradient to the place the index names (along a
-- dimension), or shared by the places holding the extreme (over all).
local function extreme(g, a, out, results)
  local x, o = a[1], reduce_options(a, 2)
  local keep, d = reduction_frame(x, o)
  if d == nil then
    local at = x:eq(out)
    return {g * at / at:sum()}
  end
  return {scatter_add(x:shape(), d, keep(results[2]), keep(g))}
end
vjp.max, vjp.min = extreme, extreme
vjp.cumsum = function(g, a)
  local d = a[2]
  return {g:sum(d, true) - g:cumsum(d) + g}
end
vjp.softmax = function(g, a, out) return {out * (g - (g * out):sum(a[2], true))} end
vjp.log_softmax = function(g, a, out) return {g - out:exp() * g:sum(a[2], true)} end

-- ---- shapes and views

local function as_input(g, a) return {g:reshape(a[1]:shape())} end
vjp.reshape, vjp.view, vjp.squeeze, vjp.unsqueeze = as_input, as_input, as_input, as_input
vjp.clone = function(g) return {g} end
vjp.contiguous = vjp.clone
vjp.expand = vjp.clone -- sum_to adds the repeats back up
vjp.expand_as = vjp.clone
vjp["tensor.__call"] = function(g) return {nil, g} end -- tensor(t), a copy
-- g (shaped as `shape` but for `len` in dimension d) placed at start..
-- start + len - 1 of d, zeros elsewhere; joined by tensor.cat rather than
-- written in place, so an outer autograd.grad can record it.
local function placed(g, shape, d, start, len)
  local pieces = {}
  local function zeros(size)
    local s = {table.unpack(shape)}
    s[d] = size
    pieces[#pieces + 1] = tensor.zeros(s)
  end
  if start > 1 then zeros(start - 1) end
  pieces[#pieces + 1] = g
  if start + len - 1 < shape[d] then zeros(shape[d] - start - len + 1) end
  return #pieces == 1 and g or tensor.cat(pieces, d)
end
local function index_in(i, size) return i < 0 and i + size + 1 or i end
vjp.narrow = function(g, a)
  local x = a[1]
  local d = positive_dim(a[2], x:dim())
  return {placed(g, x:shape(), d, index_in(a[3], x:size(d)), a[4])}
end
vjp.select = function(g, a)
  local x = a[1]
  local d = positive_dim(a[2], x:dim())
  return {placed(g:unsqueeze(d), x:shape(), d, index_in(a[3], x:size(d)), 1)}
end
vjp.__index = function(g, a) return vjp.select(g, {a[1], 1, a[2]}) end
vjp.transpose = function(g, a) return {g:transpose(a[2], a[3])} end
vjp.t = function(g) return {g:t()} end
vjp.permute = function(g, a)
  local order = type(a[2]) == "table" and a[2] or {table.unpack(a, 2, a.n)}
  local inverse = {}
  for i, d in ipairs(order) do inverse[positive_dim(d, #order)] = i end
  return {g:permute(inverse)}
end

-- ---- selecting

vjp.index = function(g, a) return {tensor.zeros(a[1]:shape()):index_add(a[2], a[3], g)} end
vjp.index_add = function(g, a)
  local alpha = a[5] or 1
  return {g, nil, nil, g:index(a[2], a[3]) * alpha}
end
vjp.gather = function(g, a)
  local x = a[1]
  return {scatter_add(x:shape(), positive_dim(a[2], x:dim()), a[3], g)}
end
vjp.scatter = function(g, a) -- the last write wins, so with repeats src's gradient is approximate
  return {g:scatter(a[2], a[3], 0), nil, nil, is_tensor(a[4]) and g:gather(a[2], a[3]) or nil}
end
vjp.where = function(g, a) -- t:where(cond, y)
  local keep = a[2]:ne(0)
  return {g * keep, nil, g * (1 - keep)}
end
vjp["tensor.where"] = function(g, a)
  local keep = a[1]:ne(0)
  return {nil, g * keep, g * (1 - keep)}
end
vjp.masked_fill = function(g, a) return {g:masked_fill(a[2], 0)} end
vjp.masked_select = function(g, a)
  local x, mask = a[1], a[2]
  local shape = (x + mask * 0):shape() -- the broadcast shape
  local numel = 1
  for _, s in ipairs(shape) do numel = numel * s end
  local places = tensor.arange(numel):reshape(shape):masked_select(mask)
  return {add_at_flat(shape, places, g)}
end

local function cat_dim(a, out) return positive_dim(a[2] or 1, out:dim()) end
vjp["tensor.cat"] = function(g, a, out)
  local d, grads, at = cat_dim(a, out), {}, 1
  for i, t in ipairs(a[1]) do
    if not (t:dim() == 1 and t:numel() == 0) then -- cat skips empty vectors
      grads[i] = g:narrow(d, at, t:size(d))
      at = at + t:size(d)
    end
  end
  return {grads}
end
vjp["tensor.stack"] = function(g, a, out)
  local d, grads = cat_dim(a, out), {}
  for i = 1, #a[1] do grads[i] = g:select(d, i) end
  return {grads}
end

-- Operations that give no gradient (masks, indices, shapes, numbers):
-- their results are not recorded. Any other operation without a vjp on a
-- recorded tensor is an error (in place ones too).
local constant = {}
for _, name in ipairs{"shape", "size", "stride", "dim", "numel", "is_contiguous", "get", "item",
                      "totable", "eq", "ne", "gt", "ge", "lt", "le", "sign", "floor", "ceil", "round",
                      "argmax", "argmin", "equal", "__tostring", "__len", "__gc", "save_npy",
                      "tensor.zeros_like", "tensor.ones_like", "tensor.full_like", "tensor.rand_like",
                      "tensor.randn_like", "tensor.is_tensor"} do
  constant[name] = true
end

-- ---- recording and the backward pass

local function new_tape(inputs)
  local tape = {tracked = {}, nodes = {}, vjp = vjp, constant = constant}
  for _, x in ipairs(inputs) do tape.tracked[x] = true end
  return tape
end

-- Runs fn(...) recording on `tape`; the recording ends also when fn fails.
local function record(tape, fn, ...)
  core._begin(tape)
  local results = table.pack(pcall(fn, ...))
  core._finish(tape)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- The gradients of `output` (seeded with `seed`) for each tensor of `inputs`
-- (nil where it does not depend on it), walking the tape from its end.
local function backward(tape, output, seed, inputs)
  local grads, tracked = {[output] = seed}, tape.tracked
  local wanted = {}
  for _, x in ipairs(inputs) do wanted[x] = true end
  local function add(t, g)
    if g == nil or not tracked[t] then return end
    g = sum_to(g, t:shape())
    local before = grads[t]
    grads[t] = before and before + g or g
  end
  for i = #tape.nodes, 1, -1 do
    local node = tape.nodes[i]
    local g = grads[node.out]
    if g ~= nil then
      if not wanted[node.out] then grads[node.out] = nil end -- no longer needed
      local parts = vjp[node.name](g, node.args, node.out, node.results)
      for at, part in pairs(parts) do
        local arg = node.args[at]
        if type(arg) == "table" then
          for j, pj in pairs(part) do add(arg[j], pj) end
        else
          add(arg, part)
        end
      end
    end
  end
  local out = {}
  for i, x in ipairs(inputs) do
    out[i] = grads[x] and grads[x]:contiguous():clone() or tensor.zeros(x:shape())
  end
  return out
end

local function describe(v)
  if is_tensor(v) then return "a tensor" end
  return v == nil and "nothing" or ("a " .. type(v))
end

-- The list of inputs and whether one tensor was given.
local function input_list(inputs)
  if is_tensor(inputs) then return {inputs}, true end
  if type(inputs) ~= "table" or #inputs == 0 then
    error("autograd.grad: inputs must be a tensor or a list of tensors, got " .. describe(inputs), 3)
  end
  for i, x in ipairs(inputs) do
    if not is_tensor(x) then
      error(string.format("autograd.grad: inputs[%d] is %s; each input must be a tensor", i, describe(x)), 3)
    end
  end
  return inputs, false
end

-- The gradient that starts the backward pass: ones for a one-element
-- output, else grad_outputs, which must have the output's shape.
local function seed_of(out, opts)
  local given = opts and opts.grad_outputs
  if given == nil then
    if out:numel() ~= 1 then
      error(string.format("autograd.grad: f returned a tensor of shape %s, not one number; give " ..
                          "{grad_outputs = <a tensor of shape %s>} for a non-scalar output",
                          shape_text(out), shape_text(out)), 3)
    end
    return tensor.ones(out:shape())
  end
  if not is_tensor(given) then
    error("autograd.grad: grad_outputs must be a tensor, got " .. describe(given), 3)
  end
  if not same_shape(given:shape(), out:shape()) then
    error(string.format("autograd.grad: grad_outputs has shape %s but f returned shape %s",
                        shape_text(given), shape_text(out)), 3)
  end
  return given
end

-- autograd.grad(f, inputs [, {grad_outputs = g}]) -> the gradients (a tensor
-- for one input, else a list), and f's output.
function autograd.grad(f, inputs, opts)
  if type(f) ~= "function" then
    error("autograd.grad: f must be a function, got " .. describe(f), 2)
  end
  local list, single = input_list(inputs)
  if opts ~= nil then check_options(opts, "autograd.grad", {"grad_outputs"}, 2) end
  local tape = new_tape(list)
  local out = record(tape, f, table.unpack(list))
  if type(out) == "number" then
    error("autograd.grad: f returned a number; it must return a tensor computed from the inputs " ..
          "(a number read with t:item() or t[i] has left the tape, and a layer's or model's output " ..
          "is not recorded, so its t:sum() is a plain number)", 2)
  end
  if not is_tensor(out) then error("autograd.grad: f must return a tensor, got " .. describe(out), 2) end
  local seed = seed_of(out, opts)
  if not tape.tracked[out] then
    error("autograd.grad: f's result does not depend on the inputs through tensor operations " ..
          "(layers and models are not recorded, nor numbers read with t:item() or t:get)", 2)
  end
  local grads = backward(tape, out, seed, list)
  if single then return grads[1], out end
  return grads, out
end

-- ---- nn.define's layers without a backward

-- The layer's inputs and learnable tensors, in that order, and how many inputs.
local function layer_tensors(def, self, xs)
  local all = {table.unpack(xs)}
  for _, name in ipairs(def.parameters or {}) do all[#all + 1] = self[name] end
  return all
end

local function recorded_forward(def, self, xs, training)
  local tape = new_tape(layer_tensors(def, self, xs))
  local k = #xs
  local args = {table.unpack(xs, 1, k)}
  args[k + 1] = training
  local y = record(tape, def.forward, self, table.unpack(args, 1, k + 1))
  return {tape = tape, xs = xs, y = y}
end

-- A loss's backward: its forward recorded for the prediction, whose
-- result (a 0-d tensor while recording) is differentiated.
local function loss_backward(def)
  return function(self, pred, target)
    local tape = new_tape({pred})
    local value = record(tape, def.forward, self, pred, target)
    if not is_tensor(value) then
      error(string.format("nn.define{name=%q}: without a backward, the loss's forward must compute its " ..
                          "value with tensor operations on the prediction; it returned %s that does not " ..
                          "depend on it (a number read with t:item() has left autograd's tape)",
                          tostring(def.name), describe(value)), 0)
    end
    if value:numel() ~= 1 then
      error(string.format("nn.define{name=%q}: the loss's forward returned a tensor of shape %s, not one number",
                          tostring(def.name), shape_text(value)), 0)
    end
    if not tape.tracked[value] then return tensor.zeros(pred:shape()) end
    return backward(tape, value, tensor.ones(value:shape()), {pred})[1]
  end
end

-- A copy of the definition whose forward records in training mode and
-- whose backward replays the recording (or records one more forward, when
-- backward follows a forward in evaluation mode).
local function with_autograd_backward(def)
  local k = def.inputs or 1
  local copy = {}
  for key, v in pairs(def) do copy[key] = v end
  if def.kind == "loss" then
    copy.backward = loss_backward(def)
    return copy
  end
  copy.forward = function(self, ...)
    local xs, training = {...}, select(k + 1, ...)
    xs[k + 1] = nil
    if not training then
      self._autograd = nil
      return def.forward(self, ...)
    end
    self._autograd = recorded_forward(def, self, xs, training)
    return self._autograd.y
  end
  copy.backward = function(self, ...)
    local xs = {...}
    local grad_out = xs[k + 1]
    local rec = self._autograd
    if rec == nil then
      xs[k + 1], xs[k + 2] = nil, nil
      rec = recorded_forward(def, self, xs, true)
    end
    self._autograd = nil
    local wanted = layer_tensors(def, self, rec.xs)
    local grads
    if rec.tape.tracked[rec.y] then
      grads = backward(rec.tape, rec.y, grad_out, wanted)
    else
      grads = {}
      for i, t in ipairs(wanted) do grads[i] = tensor.zeros(t:shape()) end
    end
    for i, name in ipairs(def.parameters or {}) do self.grads[name]:add_(grads[k + i]) end
    return table.unpack(grads, 1, k)
  end
  return copy
end

-- nn.define (lua_entry.cpp) calls it for an entry defined without a backward.
core._provide_backward(with_autograd_backward)

return autograd
