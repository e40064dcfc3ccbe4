-- neurite/schedules.lua: per-step learning-rate schedules
-- (optim.lr_scheduler.*, named as in torch.optim.lr_scheduler) and
-- gradient clipping (optim.clip_grad_norm, optim.clip_grad_value).
--
-- Shipped readable beside train.lua: the runtime runs it with the neurite
-- modules and the train table. It uses nothing but the public Lua API.
--
-- A schedule sets opt.lr. Made, it sets the rate of step 0; each
-- s:step() counts one optimizer step and sets the rate of the next, so a
-- plain loop reads as in PyTorch:
--   local s = optim.lr_scheduler.CosineAnnealingLR(opt, {t_max = 1000})
--   for i = 1, 1000 do ...; opt:step(); s:step() end
-- A schedule is also a train.fit callback: callbacks = {s} steps it after
-- every batch (ReduceLROnPlateau after every epoch, on its monitor), and a
-- checkpoint keeps its position (state/load_state).
-- Every schedule but ReduceLROnPlateau has a closed form: s:lr_at(t) is
-- the rate after t steps, and SequentialLR chains them (a warm-up, then
-- a decay).

local neurite, train = ...
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local tensor, check_options, check_choice = neurite.tensor, neurite.check_options, neurite.check_choice
local optim = neurite.optim

local schedulers = {}
optim.lr_scheduler = schedulers

-- The rate each optimizer had before its first schedule changed it: the
-- base of every schedule made for it later (a warm-up and the decay after it).
local initial_lr = setmetatable({}, {__mode = "k"})

local function describe(v)
  if v == nil then return "nothing" end
  if type(v) == "number" then return tostring(v) end
  return "a " .. type(v)
end

-- opts[key] as a number (default when nil) that passes `ok`; `level` as error()'s.
local function number(opts, key, default, fn, rule, ok, level)
  local v = opts[key]
  if v == nil then v = default end
  if type(v) ~= "number" or v ~= v or not ok(v) then
    error(string.format("%s: %s must be %s, got %s", fn, key, rule, describe(v)), level + 1)
  end
  return v
end

neurite._number_option = number -- optimizers.lua checks its options the same way

local function positive(v) return v > 0 end
local function non_negative(v) return v >= 0 end
local function whole_positive(v) return v >= 1 and v % 1 == 0 end
local function whole_non_negative(v) return v >= 0 and v % 1 == 0 end

local function check_optimizer(opt, fn, level)
  local ok = (type(opt) == "userdata" or type(opt) == "table") and type(opt.step) == "function"
  if not ok or type(opt.lr) ~= "number" then
    error(string.format("%s: the first argument must be an optimizer with an lr, such as " ..
                        "optim.SGD(model, {lr = 0.1}); got %s", fn, describe(opt)), level + 1)
  end
end

-- The common part of every schedule: its optimizer, base rate and count.
local function new_schedule(opt, opts, fn, known, level)
  level = level + 1
  check_optimizer(opt, fn, level)
  opts = opts or {}
  known[#known + 1] = "base_lr"
  check_options(opts, fn, known, level)
  if initial_lr[opt] == nil then initial_lr[opt] = opt.lr end
  local s = {optimizer = opt, fn = fn, last_step = 0}
  s.base_lr = number(opts, "base_lr", initial_lr[opt], fn, "a positive number", positive, level)
  return s, opts
end

local Schedule = {}
Schedule.__index = Schedule

-- Counts one optimizer step and sets the rate of the next; returns it.
function Schedule:step()
  self.last_step = self.last_step + 1
  local lr = self:apply(2) -- not a tail call: errors name the caller of step()
  return lr
end

-- Sets opt.lr to the rate after last_step steps; errors at `level` as
-- error()'s, from the caller.
function Schedule:apply(level)
  local ok, lr = pcall(self.lr_at, self, self.last_step)
  if not ok then error(lr, type(lr) == "string" and level + 1 or 0) end
  if type(lr) ~= "number" or lr ~= lr or lr < 0 or lr == math.huge then
    error(string.format("%s: the learning rate at step %d is %s; it must be a finite number >= 0", self.fn,
                        self.last_step, describe(lr)), level + 1)
  end
  self.optimizer.lr = lr
  self.lr = lr
  return lr
end

function Schedule:get_last_lr() return self.lr end

-- As a train.fit callback: one step per batch.
function Schedule:on_batch_end() self:step() end

function Schedule:state() return {last_step = self.last_step} end

function Schedule:load_state(s)
  self.last_step = s.last_step or 0
  self:apply(2)
end

local function finish(s, lr_at)
  s.lr_at = lr_at
  setmetatable(s, Schedule)
  s:apply(3)
  return s
end

-- LinearLR(opt, {start_factor = 1/3, end_factor = 1, total_iters = 5}):
-- the linear warm-up. lr = base * (start + (end - start) * min(t, total) / total).
function schedulers.LinearLR(opt, opts)
  local fn = "optim.lr_scheduler.LinearLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"start_factor", "end_factor", "total_iters"}, 2)
  local from = number(opts, "start_factor", 1 / 3, fn, "a number in (0, 1]", function(v) return v > 0 and v <= 1 end, 2)
  local to = number(opts, "end_factor", 1, fn, "a number in [0, 1]", function(v) return v >= 0 and v <= 1 end, 2)
  local total = number(opts, "total_iters", 5, fn, "a whole number >= 1", whole_positive, 2)
  return (finish(s, function(self, t)
    return self.base_lr * (from + (to - from) * math.min(t, total) / total)
  end))
end

-- CosineAnnealingLR(opt, {t_max =, eta_min = 0}):
-- lr = eta_min + (base - eta_min) * (1 + cos(pi * min(t, t_max) / t_max)) / 2,
-- then eta_min from step t_max on (PyTorch's closed form climbs again).
function schedulers.CosineAnnealingLR(opt, opts)
  local fn = "optim.lr_scheduler.CosineAnnealingLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"t_max", "eta_min"}, 2)
  if opts.t_max == nil then error(fn .. ": 't_max' is required (the steps from base_lr down to eta_min)", 2) end
  local t_max = number(opts, "t_max", nil, fn, "a whole number >= 1", whole_positive, 2)
  local eta_min = number(opts, "eta_min", 0, fn, "a number >= 0", non_negative, 2)
  return (finish(s, function(self, t)
    return eta_min + (self.base_lr - eta_min) * (1 + math.cos(math.pi * math.min(t, t_max) / t_max)) / 2
  end))
end

-- The milestones option: a list of increasing whole numbers >= 1.
local function milestone_list(list, fn, level)
  if type(list) ~= "table" or #list == 0 then
    error(string.format("%s: milestones must be a list of steps such as {30, 80}, got %s", fn,
                        type(list) == "table" and "an empty table" or describe(list)), level + 1)
  end
  for i, m in ipairs(list) do
    if math.type(m) ~= "integer" or m < 1 or (i > 1 and m <= list[i - 1]) then
      error(string.format("%s: milestones must be increasing whole numbers >= 1; element %d is %s", fn, i,
                          describe(m)), level + 1)
    end
  end
  return list
end

-- StepLR(opt, {step_size =, gamma = 0.1}) or StepLR(opt, {milestones = {30, 80}, gamma = 0.1}):
-- lr = base * gamma ^ (t // step_size), or base * gamma ^ (milestones passed).
function schedulers.StepLR(opt, opts)
  local fn = "optim.lr_scheduler.StepLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"step_size", "milestones", "gamma"}, 2)
  if opts.step_size ~= nil and opts.milestones ~= nil then
    error(fn .. ": give step_size (decay every step_size steps) or milestones (decay at those steps), not both", 2)
  end
  if opts.step_size == nil and opts.milestones == nil then
    error(fn .. ": give step_size = n (decay every n steps) or milestones = {...} (decay at those steps)", 2)
  end
  local gamma = number(opts, "gamma", 0.1, fn, "a positive number", positive, 2)
  if opts.step_size ~= nil then
    local size = number(opts, "step_size", nil, fn, "a whole number >= 1", whole_positive, 2)
    return finish(s, function(self, t) return self.base_lr * gamma ^ (t // size) end)
  end
  local milestones = milestone_list(opts.milestones, fn, 2)
  return (finish(s, function(self, t)
    local passed = 0
    for _, m in ipairs(milestones) do
      if t >= m then passed = passed + 1 end
    end
    return self.base_lr * gamma ^ passed
  end))
end

-- ExponentialLR(opt, {gamma =}): lr = base * gamma ^ t.
function schedulers.ExponentialLR(opt, opts)
  local fn = "optim.lr_scheduler.ExponentialLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"gamma"}, 2)
  if opts.gamma == nil then error(fn .. ": 'gamma' is required (the factor per step, e.g. 0.999)", 2) end
  local gamma = number(opts, "gamma", nil, fn, "a positive number", positive, 2)
  return (finish(s, function(self, t) return self.base_lr * gamma ^ t end))
end

local function annealed(strategy, from, to, pct)
  if strategy == "linear" then return from + (to - from) * pct end
  return to + (from - to) * (1 + math.cos(math.pi * pct)) / 2
end

-- OneCycleLR(opt, {max_lr =, total_steps =, pct_start = 0.3, anneal_strategy = "cos",
--                  div_factor = 25, final_div_factor = 1e4}):
-- from max_lr / div_factor up to max_lr over the first pct_start of the
-- steps, then down to max_lr / div_factor / final_div_factor at step
-- total_steps - 1, where it stays.
function schedulers.OneCycleLR(opt, opts)
  local fn = "optim.lr_scheduler.OneCycleLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"max_lr", "total_steps", "pct_start", "anneal_strategy", "div_factor",
                                         "final_div_factor"}, 2)
  for _, key in ipairs{"max_lr", "total_steps"} do
    if opts[key] == nil then error(fn .. ": '" .. key .. "' is required", 2) end
  end
  local max_lr = number(opts, "max_lr", nil, fn, "a positive number", positive, 2)
  local total = number(opts, "total_steps", nil, fn, "a whole number >= 2",
                       function(v) return v >= 2 and v % 1 == 0 end, 2)
  local pct_start = number(opts, "pct_start", 0.3, fn, "a number in (0, 1)", function(v) return v > 0 and v < 1 end, 2)
  local div = number(opts, "div_factor", 25, fn, "a positive number", positive, 2)
  local final_div = number(opts, "final_div_factor", 1e4, fn, "a positive number", positive, 2)
  local strategy = check_choice(opts.anneal_strategy or "cos", fn, "anneal_strategy", {"cos", "linear"}, 2)
  local initial = max_lr / div
  local final = initial / final_div
  local peak = pct_start * total - 1 -- the step at max_lr, as PyTorch counts it
  return (finish(s, function(_, t)
    t = math.min(t, total - 1)
    if t <= peak then return annealed(strategy, initial, max_lr, peak > 0 and t / peak or 1) end
    return annealed(strategy, max_lr, final, (t - peak) / (total - 1 - peak))
  end))
end

-- LambdaLR(opt, {lr_lambda = function(t) return factor end}): lr = base * lr_lambda(t).
function schedulers.LambdaLR(opt, opts)
  local fn = "optim.lr_scheduler.LambdaLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"lr_lambda"}, 2)
  local f = opts.lr_lambda
  if type(f) ~= "function" then
    error(fn .. ": lr_lambda must be a function of the step returning a factor of base_lr, got " .. describe(f), 2)
  end
  return (finish(s, function(self, t)
    local factor = f(t)
    if type(factor) ~= "number" then
      error(string.format("%s: lr_lambda(%d) returned %s, not a number", fn, t, describe(factor)), 0)
    end
    return self.base_lr * factor
  end))
end

-- SequentialLR(opt, {schedulers = {warmup, decay}, milestones = {100}}):
-- schedulers[1] until step milestones[1], then schedulers[2] counted from
-- 0 again, and so on: a warm-up followed by a decay.
function schedulers.SequentialLR(opt, opts)
  local fn = "optim.lr_scheduler.SequentialLR"
  local s
  s, opts = new_schedule(opt, opts, fn, {"schedulers", "milestones"}, 2)
  local list = opts.schedulers
  if type(list) ~= "table" or #list < 2 then
    error(fn .. ": schedulers must be a list of two or more schedules of this optimizer", 2)
  end
  for i, part in ipairs(list) do
    if getmetatable(part) ~= Schedule or part.optimizer ~= opt then
      error(string.format("%s: schedulers[%d] is not a closed-form schedule of the same optimizer", fn, i), 2)
    end
  end
  local milestones = milestone_list(opts.milestones, fn, 2)
  if #milestones ~= #list - 1 then
    error(string.format("%s: %d schedulers need %d milestones, got %d", fn, #list, #list - 1, #milestones), 2)
  end
  return (finish(s, function(_, t)
    local k, start = 1, 0
    while k < #list and t >= milestones[k] do start, k = milestones[k], k + 1 end
    return list[k]:lr_at(t - start)
  end))
end

-- ReduceLROnPlateau(opt, {mode = "min", factor = 0.1, patience = 10, threshold = 1e-4,
--                         threshold_mode = "rel", cooldown = 0, min_lr = 0, eps = 1e-8,
--                         monitor = "val_loss"})
-- s:step(value) after each epoch: when value has not improved on the best
-- by more than the threshold for more than `patience` calls, lr becomes
-- max(lr * factor, min_lr), then `cooldown` calls pass unwatched. In
-- train.fit it reads logs[monitor] at each epoch's end. mode defaults to
-- the monitor's direction ("max" for val_accuracy, val_f1, ...).
function schedulers.ReduceLROnPlateau(opt, opts)
  local fn = "optim.lr_scheduler.ReduceLROnPlateau"
  check_optimizer(opt, fn, 2)
  opts = opts or {}
  check_options(opts, fn, {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps",
                           "monitor"})
  local s = {optimizer = opt, fn = fn, bad = 0, cooldown_left = 0, last_step = 0, lr = opt.lr,
             monitor = opts.monitor or "val_loss",
             mode = check_choice(opts.mode or train._metric_mode(opts.monitor or "loss"), fn, "mode",
                                 {"min", "max"}, 2),
             threshold_mode = check_choice(opts.threshold_mode or "rel", fn, "threshold_mode", {"rel", "abs"}, 2),
             factor = number(opts, "factor", 0.1, fn, "a number in (0, 1)", function(v) return v > 0 and v < 1 end, 2),
             patience = number(opts, "patience", 10, fn, "a whole number >= 0", whole_non_negative, 2),
             threshold = number(opts, "threshold", 1e-4, fn, "a number >= 0", non_negative, 2),
             cooldown = number(opts, "cooldown", 0, fn, "a whole number >= 0", whole_non_negative, 2),
             min_lr = number(opts, "min_lr", 0, fn, "a number >= 0", non_negative, 2),
             eps = number(opts, "eps", 1e-8, fn, "a number >= 0", non_negative, 2)}
  local function better(value, best)
    if best == nil then return true end
    local margin = s.threshold_mode == "rel" and s.threshold * math.abs(best) or s.threshold
    if s.mode == "min" then return value < best - margin end
    return value > best + margin
  end
  function s:step(value)
    if type(value) ~= "number" or value ~= value then
      error(string.format("%s: step(value) needs the watched number (e.g. the validation loss), got %s", fn,
                          describe(value)), 2)
    end
    self.last_step = self.last_step + 1
    if better(value, self.best) then self.best, self.bad = value, 0 else self.bad = self.bad + 1 end
    if self.cooldown_left > 0 then self.cooldown_left, self.bad = self.cooldown_left - 1, 0 end
    if self.bad > self.patience then
      local old = self.optimizer.lr
      local new = math.max(old * self.factor, self.min_lr)
      if old - new > self.eps then self.optimizer.lr = new end
      self.cooldown_left, self.bad = self.cooldown, 0
    end
    self.lr = self.optimizer.lr
    return self.lr
  end
  function s:get_last_lr() return self.lr end
  function s:on_epoch_end(logs)
    local value = logs[self.monitor]
    if value == nil then
      error(string.format("%s: no '%s' in the epoch logs; set monitor = (e.g. \"loss\") or give train.fit a " ..
                          "validation set", fn, self.monitor), 4)
    end
    self:step(value)
  end
  function s:state()
    return {best = self.best, bad = self.bad, cooldown_left = self.cooldown_left, last_step = self.last_step}
  end
  function s:load_state(st)
    self.best, self.bad, self.cooldown_left, self.last_step = st.best, st.bad or 0, st.cooldown_left or 0,
                                                               st.last_step or 0
    self.lr = self.optimizer.lr
  end
  return s
end

-- ---------------------------------------------------------------- gradient clipping

-- The gradients of a model, a layer or a list of parameters (buffers,
-- which have none, are left out).
local function gradients(params, fn, level)
  if type(params) == "userdata" and params.parameters then params = params:parameters() end
  if type(params) ~= "table" then
    error(fn .. ": expects a model or a list of parameters (model:parameters()), got " .. describe(params), level + 1)
  end
  local grads = {}
  for i, p in ipairs(params) do
    if not tensor.is_tensor(p) then
      error(string.format("%s: element %d of the parameter list is %s, not a tensor", fn, i, describe(p)), level + 1)
    end
    if p.grad then grads[#grads + 1] = p.grad end
  end
  return grads
end

-- optim.clip_grad_norm(params, max_norm, {norm_type = 2}) -> the total norm
-- before clipping. All gradients together are seen as one vector; when its
-- norm exceeds max_norm, every gradient is scaled by max_norm / (norm + 1e-6),
-- as torch.nn.utils.clip_grad_norm_ does. norm_type = math.huge: the largest |g|.
function optim.clip_grad_norm(params, max_norm, opts)
  local fn = "optim.clip_grad_norm"
  opts = opts or {}
  check_options(opts, fn, {"norm_type"})
  if type(max_norm) ~= "number" or not (max_norm > 0) then
    error(fn .. ": max_norm must be a positive number, got " .. describe(max_norm), 2)
  end
  local p = number(opts, "norm_type", 2, fn, "a number >= 1 or math.huge", function(v) return v >= 1 end, 2)
  local grads = gradients(params, fn, 2)
  local total = 0
  for _, g in ipairs(grads) do
    if p == math.huge then total = math.max(total, g:abs():max())
    elseif p == 2 then total = total + g:dot(g)
    else total = total + g:abs():pow(p):sum() end
  end
  if p ~= math.huge then total = total ^ (1 / p) end
  local scale = max_norm / (total + 1e-6)
  if scale < 1 then
    for _, g in ipairs(grads) do g:mul_(scale) end
  end
  return total
end

-- optim.clip_grad_value(params, clip_value): every gradient element into
-- [-clip_value, clip_value].
function optim.clip_grad_value(params, clip_value)
  local fn = "optim.clip_grad_value"
  if type(clip_value) ~= "number" or not (clip_value > 0) then
    error(fn .. ": clip_value must be a positive number, got " .. describe(clip_value), 2)
  end
  for _, g in ipairs(gradients(params, fn, 2)) do g:clamp_(-clip_value, clip_value) end
end

-- ---------------------------------------------------------------- in train.fit

-- train.fit's clip_grad_norm and clip_grad_value options, checked; `level`
-- as error()'s.
function train._clip_options(opts, optimizer, level)
  local clip = {}
  for _, key in ipairs{"clip_grad_norm", "clip_grad_value"} do
    local v = opts[key]
    if v ~= nil and (type(v) ~= "number" or not (v > 0)) then
      error(string.format("train.fit: %s must be a positive number, got %s", key, describe(v)), level + 1)
    end
    clip[key] = v
  end
  if optimizer.needs_closure and next(clip) then
    error("train.fit: clip_grad_norm and clip_grad_value apply to gradient-step optimizers, not to " ..
          optimizer:type() .. ", which evaluates the loss again within its step", level + 1)
  end
  return clip
end

-- One optimizer step of train.fit, once backward has run: the gradients
-- clipped as asked (fit.grad_norm: the norm before clipping), and for
-- optim.LBFGS and optim.Newton a closure that runs the same batch again.
function train._optimizer_step(fit, x, y)
  local optimizer, model, loss = fit.optimizer, fit.model, fit.loss
  if fit.clip.clip_grad_norm then fit.grad_norm = optim.clip_grad_norm(fit.params, fit.clip.clip_grad_norm) end
  if fit.clip.clip_grad_value then optim.clip_grad_value(fit.params, fit.clip.clip_grad_value) end
  if not optimizer.needs_closure then return optimizer:step() end
  optimizer:step(function()
    optimizer:zero_grad()
    local pred = model:forward(x)
    local value = loss:forward(pred, y)
    model:backward(x, loss:backward(pred, y), false)
    return value
  end)
end

return schedulers
