-- neurite/optimizers.lua: optimizers that evaluate the loss again within
-- a step, given a closure as in PyTorch: optim.LBFGS and optim.Newton.
--
--   local opt = optim.LBFGS(model, {lr = 1, max_iter = 20})
--   local function closure()
--     opt:zero_grad()
--     local pred = model:forward(x)
--     local value = loss:forward(pred, y)
--     model:backward(x, loss:backward(pred, y), false)
--     return value
--   end
--   opt:step(closure)
--
-- Both see the parameters as one vector (their gradients gathered with
-- tensor.cat) and move them in place. Shipped readable beside train.lua;
-- the runtime runs it with the neurite modules. It uses nothing but the
-- public Lua API (tensor.cholesky and tensor.cholesky_solve are LAPACK's).

local neurite = ...
local tensor, check_options, check_choice = neurite.tensor, neurite.check_options, neurite.check_choice
local optim = neurite.optim

local function describe(v)
  if v == nil then return "nothing" end
  if type(v) == "number" then return tostring(v) end
  return "a " .. type(v)
end

-- opts[key] (or default) checked by ok(v), else "<fn>: <key> must be <rule>"
-- at `level` as error()'s (schedules.lua).
local number = neurite._number_option

local function positive(v) return v > 0 end
local function non_negative(v) return v >= 0 end
local function whole(v) return v >= 1 and v % 1 == 0 end

-- The trained parameters of a model, a layer or a list (buffers, which have
-- no gradient, are left out), with their sizes and offsets in the vector.
local function parameter_vector(params, fn)
  if type(params) == "userdata" and params.parameters then params = params:parameters() end
  if type(params) ~= "table" or tensor.is_tensor(params) then
    error(fn .. ": expects a model or a list of parameters (model:parameters()), got " .. describe(params), 4)
  end
  local list, total = {}, 0
  for i, p in ipairs(params) do
    if not tensor.is_tensor(p) then
      error(string.format("%s: element %d of the parameter list is %s, not a tensor", fn, i, describe(p)), 4)
    end
    if p.grad then
      list[#list + 1] = {tensor = p, offset = total + 1, count = p:numel()}
      total = total + p:numel()
    end
  end
  if total == 0 then error(fn .. ": there are no trained parameters to optimize", 4) end
  return list, total
end

local Base = {}
Base.__index = Base

-- The parameters' values or gradients as one vector of `size` elements.
function Base:gather(field)
  local parts = {}
  for i, s in ipairs(self.slots) do
    local t = field == "grad" and s.tensor.grad or s.tensor
    parts[i] = t:reshape{s.count}
  end
  return tensor.cat(parts, 1)
end

-- parameters += alpha * v, or = v when alpha is nil.
function Base:move(v, alpha)
  for _, s in ipairs(self.slots) do
    local part = v:narrow(1, s.offset, s.count):reshape(s.tensor:shape())
    if alpha then s.tensor:add_(part, alpha) else s.tensor:copy(part) end
  end
end

function Base:zero_grad()
  for _, s in ipairs(self.slots) do s.tensor.grad:zero_() end
end

function Base:params()
  local out = {}
  for i, s in ipairs(self.slots) do out[i] = s.tensor end
  return out
end

function Base:type() return self.name end

-- Whether every gradient is finite (train.fit stops before a step that
-- would spread inf or nan into the parameters).
function Base:grads_finite()
  local largest = self:gather("grad"):abs():max()
  return largest == largest and largest < math.huge
end

-- What a checkpoint keeps (numbers, tables and tensors: train.checkpoint
-- writes it as JSON), and its restoration into an optimizer of the same
-- parameters.
local STATE_FIELDS = {"steps", "evaluations", "t", "h_diag", "d", "previous_g", "s", "y", "rho", "lambda"}

function Base:state()
  local out = {optimizer = self.name, size = self.size}
  for _, key in ipairs(STATE_FIELDS) do out[key] = self[key] end
  return out
end

function Base:load_state(state)
  if type(state) ~= "table" or state.optimizer ~= self.name or state.size ~= self.size then
    error(string.format("%s: load_state needs the state of a %s of %d parameters, got %s", self.fn, self.name,
                        self.size, type(state) == "table" and string.format("that of a %s of %s", tostring(
                          state.optimizer), tostring(state.size)) or describe(state)), 2)
  end
  for _, key in ipairs(STATE_FIELDS) do self[key] = state[key] end
  self.s, self.y, self.rho = self.s or {}, self.y or {}, self.rho or {}
  if self.name == "Newton" then self.lambda = self.lambda or self.damping end
end

-- Runs the closure; its value must be a number (the loss).
function Base:evaluate(closure)
  local value = closure()
  if type(value) ~= "number" then
    error(string.format("%s: the closure returned %s; it must return the loss as a number", self.fn,
                        describe(value)), 3)
  end
  self.evaluations = self.evaluations + 1
  return value
end

local function check_closure(self, closure)
  if type(closure) ~= "function" then
    error(self.fn .. ":step needs a closure: a function that clears the gradients (opt:zero_grad()), computes " ..
          "the loss, runs backward and returns the loss", 3)
  end
end

-- A class of optimizer: its methods, then Base's.
local function class()
  local c = setmetatable({}, {__index = Base})
  c.__index = c
  return c
end

local LBFGS, Newton = class(), class()

local function new(cls, fn, name, params, opts, known)
  opts = opts or {}
  check_options(opts, fn, known, 3)
  local slots, size = parameter_vector(params, fn)
  -- needs_closure: train.fit and other callers can tell it from SGD and the like.
  return setmetatable({fn = fn, name = name, slots = slots, size = size, evaluations = 0, steps = 0,
                       needs_closure = true}, cls), opts
end

-- ---------------------------------------------------------------- L-BFGS

-- optim.LBFGS(params, {lr = 1, max_iter = 20, max_eval = max_iter * 5 / 4, tolerance_grad = 1e-7,
--                      tolerance_change = 1e-9, history_size = 100,
--                      line_search_fn = nil | "strong_wolfe" | "backtracking"})
-- opt:step(closure) runs up to max_iter iterations of limited-memory BFGS
-- (the two-loop recursion over the last history_size steps), evaluating the
-- closure once per iteration, and returns the loss the closure gave first.
-- Without a line search each iteration moves lr along the direction (the
-- first one scaled down to at most lr / |g|_1); "strong_wolfe" searches
-- for a step that meets the strong Wolfe conditions (as PyTorch's);
-- "backtracking" halves the step until the loss falls by at least
-- 1e-4 * t * |g·d| (Armijo). max_eval counts closure calls a step.
function optim.LBFGS(params, opts)
  local fn = "optim.LBFGS"
  local self
  self, opts = new(LBFGS, fn, "LBFGS", params, opts, {"lr", "max_iter", "max_eval", "tolerance_grad",
                                                      "tolerance_change", "history_size", "line_search_fn"})
  self.lr = number(opts, "lr", 1, fn, "a positive number", positive, 2)
  self.max_iter = number(opts, "max_iter", 20, fn, "a whole number >= 1", whole, 2)
  self.max_eval = number(opts, "max_eval", math.ceil(self.max_iter * 5 / 4), fn, "a whole number >= 1", whole, 2)
  self.tolerance_grad = number(opts, "tolerance_grad", 1e-7, fn, "a number >= 0", non_negative, 2)
  self.tolerance_change = number(opts, "tolerance_change", 1e-9, fn, "a number >= 0", non_negative, 2)
  self.history_size = number(opts, "history_size", 100, fn, "a whole number >= 1", whole, 2)
  if opts.line_search_fn ~= nil then
    self.line_search_fn = check_choice(opts.line_search_fn, fn, "line_search_fn", {"strong_wolfe", "backtracking"}, 2)
  end
  self.s, self.y, self.rho = {}, {}, {}
  return self
end

-- The direction -H g from the stored pairs (s, y): the two-loop recursion.
local function lbfgs_direction(self, g)
  local q = -g
  local alpha = {}
  for i = #self.s, 1, -1 do
    alpha[i] = self.rho[i] * self.s[i]:dot(q)
    q:add_(self.y[i], -alpha[i])
  end
  q:mul_(self.h_diag)
  for i = 1, #self.s do
    local beta = self.rho[i] * self.y[i]:dot(q)
    q:add_(self.s[i], alpha[i] - beta)
  end
  return q
end

-- Halves t until the Armijo condition holds; returns the new loss and t.
local function backtrack(self, closure, loss, d, t, gtd)
  for _ = 1, 30 do
    self:move(d, t)
    local value = self:evaluate(closure)
    if value <= loss + 1e-4 * t * gtd then return value, t end
    self:move(d, -t)
    t = t / 2
  end
  self:move(d, t)
  return self:evaluate(closure), t
end

-- The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, g2),
-- kept inside [low, high]; the middle when the cubic has none (Nocedal and
-- Wright, Numerical Optimization, eq. 3.59).
local function cubic_minimum(x1, f1, g1, x2, f2, g2, low, high)
  local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  local d2_square = d1 * d1 - g1 * g2
  if d2_square < 0 or x1 == x2 then return (low + high) / 2 end
  local d2 = math.sqrt(d2_square)
  local t
  if x1 <= x2 then t = x2 - (x2 - x1) * (g2 + d2 - d1) / (g2 - g1 + 2 * d2)
  else t = x1 - (x1 - x2) * (g1 + d2 - d1) / (g1 - g2 + 2 * d2) end
  if t ~= t then return (low + high) / 2 end
  return math.min(math.max(t, low), high)
end

-- A line search for a step t along d that meets the strong Wolfe
-- conditions: f(t) <= f(0) + 1e-4 t f'(0) and |f'(t)| <= 0.9 |f'(0)|
-- (Nocedal and Wright, algorithms 3.5 and 3.6: bracketing, then zooming
-- in by cubic interpolation). Leaves the parameters at the t it returns,
-- with the closure's gradient there; returns the loss and t.
local C1, C2, MAX_LINE_STEPS = 1e-4, 0.9, 25
local function strong_wolfe(self, closure, loss, d, t, gtd)
  local origin = self:gather("value")
  local function at(step)
    self:move(origin + d * step)
    local value = self:evaluate(closure)
    return value, self:gather("grad"):dot(d)
  end
  local previous = {t = 0, f = loss, g = gtd}
  local lo, hi
  for i = 1, MAX_LINE_STEPS do
    local f, g = at(t)
    local current = {t = t, f = f, g = g}
    if f > loss + C1 * t * gtd or (i > 1 and f >= previous.f) then lo, hi = previous, current; break end
    if math.abs(g) <= -C2 * gtd then return f, t end
    if g >= 0 then lo, hi = current, previous; break end
    local next_t = cubic_minimum(previous.t, previous.f, previous.g, t, f, g, t * 1.01, t * 10)
    previous, t = current, next_t
  end
  if lo == nil then return previous.f, previous.t end -- still descending after MAX_LINE_STEPS: take it
  local scale = d:abs():max()
  for _ = 1, MAX_LINE_STEPS do
    local width = math.abs(hi.t - lo.t)
    if width * scale < self.tolerance_change then break end
    local low, high = math.min(lo.t, hi.t), math.max(lo.t, hi.t)
    t = cubic_minimum(lo.t, lo.f, lo.g, hi.t, hi.f, hi.g, low + 0.1 * width, high - 0.1 * width)
    local f, g = at(t)
    local current = {t = t, f = f, g = g}
    if f > loss + C1 * t * gtd or f >= lo.f then
      hi = current
    else
      if math.abs(g) <= -C2 * gtd then return f, t end
      if g * (hi.t - lo.t) >= 0 then hi = lo end
      lo = current
    end
  end
  -- The best point bracketed: the parameters and gradient go back there.
  if t ~= lo.t then at(lo.t) end
  return lo.f, lo.t
end

function LBFGS:step(closure)
  check_closure(self, closure)
  local started = self.evaluations
  local first_loss = self:evaluate(closure)
  local loss, g = first_loss, self:gather("grad")
  if g:abs():max() <= self.tolerance_grad then return first_loss end
  for _ = 1, self.max_iter do
    self.steps = self.steps + 1
    if self.d == nil then
      self.d, self.h_diag = -g, 1
    else
      local y, s = g - self.previous_g, self.d * self.t
      local ys = y:dot(s)
      if ys > 1e-10 then
        if #self.s == self.history_size then
          table.remove(self.s, 1); table.remove(self.y, 1); table.remove(self.rho, 1)
        end
        self.s[#self.s + 1], self.y[#self.y + 1], self.rho[#self.rho + 1] = s, y, 1 / ys
        self.h_diag = ys / y:dot(y)
      end
      self.d = lbfgs_direction(self, g)
    end
    self.previous_g = g
    local previous_loss = loss
    self.t = self.steps == 1 and math.min(1, 1 / g:abs():sum()) * self.lr or self.lr
    local gtd = g:dot(self.d)
    if gtd > -self.tolerance_change then break end
    if self.line_search_fn == "strong_wolfe" then
      loss, self.t = strong_wolfe(self, closure, loss, self.d, self.t, gtd)
    elseif self.line_search_fn == "backtracking" then
      loss, self.t = backtrack(self, closure, loss, self.d, self.t, gtd)
    else
      self:move(self.d, self.t)
      loss = self:evaluate(closure)
    end
    g = self:gather("grad")
    if self.evaluations - started >= self.max_eval or g:abs():max() <= self.tolerance_grad then break end
    if self.d:abs():max() * self.t <= self.tolerance_change then break end
    if math.abs(loss - previous_loss) < self.tolerance_change then break end
  end
  self.loss = loss
  return first_loss
end

-- ---------------------------------------------------------------- Newton

local DEFAULT_MAX_PARAMETERS = 2000

-- optim.Newton(params, {damping = 0, lr = 1, epsilon = 1e-3, adaptive = true, factor = 10,
--                       max_parameters = 2000})
-- opt:step(closure): one Newton step θ ← θ - lr (H + λI)⁻¹ g. The Hessian
-- H is built column by column from Hessian-vector products with the unit
-- vectors, each a central difference of two gradients,
-- H e_i ≈ (g(θ + h e_i) - g(θ - h e_i)) / 2h with h = epsilon * max(1, |θ_i|)
-- as the parameter actually moved (exact for a quadratic loss), then
-- symmetrised. H + λI is factored by Cholesky (tensor.cholesky); when it is
-- not positive definite λ grows (Levenberg–Marquardt). With adaptive, a
-- step that raises the loss is undone and retried with λ * factor, and an
-- accepted one divides λ by factor (never below `damping`). 2n + 2
-- closure calls a step, and an n × n matrix: n is limited to max_parameters.
function optim.Newton(params, opts)
  local fn = "optim.Newton"
  local self
  self, opts = new(Newton, fn, "Newton", params, opts, {"damping", "lr", "epsilon", "adaptive", "factor",
                                                        "max_parameters"})
  self.damping = number(opts, "damping", 0, fn, "a number >= 0", non_negative, 2)
  self.lr = number(opts, "lr", 1, fn, "a positive number", positive, 2)
  self.epsilon = number(opts, "epsilon", 1e-3, fn, "a positive number", positive, 2)
  self.factor = number(opts, "factor", 10, fn, "a number > 1", function(v) return v > 1 end, 2)
  self.max_parameters = number(opts, "max_parameters", DEFAULT_MAX_PARAMETERS, fn, "a whole number >= 1", whole,
                               2)
  if opts.adaptive ~= nil and type(opts.adaptive) ~= "boolean" then
    error(fn .. ": adaptive must be true or false, got " .. describe(opts.adaptive), 2)
  end
  self.adaptive = opts.adaptive ~= false
  if self.size > self.max_parameters then
    error(string.format("%s: the model has %d trained parameters; a dense Hessian of %d x %d (%.1f MiB) is above " ..
                        "the limit of max_parameters = %d. Use optim.LBFGS for a model this size, or raise " ..
                        "max_parameters", fn, self.size, self.size, self.size, self.size * self.size * 4 / 2 ^ 20,
                        self.max_parameters), 2)
  end
  self.lambda = self.damping
  return self
end

-- The Hessian at the current parameters (which are put back), by central
-- differences of the closure's gradients.
local function hessian(self, closure)
  local n = self.size
  local theta = self:gather("value")
  local h = tensor.zeros{n, n}
  local values = theta:totable()
  for i = 1, n do
    local step = self.epsilon * math.max(1, math.abs(values[i]))
    local at = theta:clone()
    at:set(i, values[i] + step)
    self:move(at)
    local up_at = self:gather("value"):get(i) -- where the parameter really is, in float
    self:evaluate(closure)
    local up = self:gather("grad")
    at:set(i, values[i] - step)
    self:move(at)
    local down_at = self:gather("value"):get(i)
    self:evaluate(closure)
    local column = (up - self:gather("grad")):div(up_at - down_at)
    h:select(1, i):copy(column) -- row i; symmetrised below
  end
  self:move(theta)
  return h:add(h:t()):mul(0.5), theta
end

function Newton:step(closure)
  check_closure(self, closure)
  local loss = self:evaluate(closure)
  local g = self:gather("grad")
  local h, theta = hessian(self, closure)
  local scale = math.max(h:abs():max(), 1e-12)
  local eye = tensor.eye(self.size)
  for _ = 1, 60 do
    local ok, lower = pcall(tensor.cholesky, h + eye * self.lambda)
    if ok then
      local d = tensor.cholesky_solve(g, lower)
      self:move(d, -self.lr)
      local new_loss = self:evaluate(closure)
      if not self.adaptive or new_loss <= loss then
        self.steps, self.loss = self.steps + 1, new_loss
        if self.adaptive then self.lambda = math.max(self.lambda / self.factor, self.damping) end
        return loss
      end
      self:move(theta)
    end
    self.lambda = math.max(self.lambda * self.factor, 1e-8 * scale)
  end
  error(string.format("%s: no step lowered the loss %.6g, even with damping %.3g", self.fn, loss, self.lambda), 2)
end
