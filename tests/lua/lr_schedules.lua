-- optim.lr_scheduler.*: each schedule's learning rate at chosen steps
-- against its formula, from a plain loop and from train.fit; the errors of
-- bad options; gradient clipping by global norm and by value, on values.
local S = optim.lr_scheduler

local function close(a, b, what)
  assert(math.abs(a - b) <= 1e-9 * math.max(1, math.abs(b)), string.format("%s: %.12g, expected %.12g", what, a, b))
end

local function fresh(lr)
  tensor.seed(1)
  local model = nn.Sequential{nn.Dense(2, 1)}
  return optim.SGD(model, {lr = lr}), model
end

-- Steps a schedule to each of `steps` in turn and compares opt.lr with formula(t).
local function check(name, sched, opt, steps, formula)
  local t = 0
  for _, target in ipairs(steps) do
    while t < target do sched:step(); t = t + 1 end
    close(opt.lr, formula(t), name .. " at step " .. t)
    close(sched:get_last_lr(), formula(t), name .. " get_last_lr at step " .. t)
    close(sched:lr_at(t), formula(t), name .. " lr_at(" .. t .. ")")
  end
end

local base = 0.1
local steps = {0, 1, 2, 5, 9, 10, 11, 30, 100}

do -- linear warm-up
  local opt = fresh(base)
  local s = S.LinearLR(opt, {start_factor = 0.25, end_factor = 1, total_iters = 10})
  check("LinearLR", s, opt, steps, function(t) return base * (0.25 + 0.75 * math.min(t, 10) / 10) end)
  close(s:lr_at(4), 0.1 * (0.25 + 0.75 * 0.4), "LinearLR at 4 by hand") -- 0.055
  close(s:lr_at(4), 0.055, "LinearLR 0.055")
end

do -- cosine, held at eta_min after t_max
  local opt = fresh(base)
  local s = S.CosineAnnealingLR(opt, {t_max = 20, eta_min = 0.001})
  check("CosineAnnealingLR", s, opt, steps, function(t)
    return 0.001 + (base - 0.001) * (1 + math.cos(math.pi * math.min(t, 20) / 20)) / 2
  end)
  close(s:lr_at(10), 0.001 + 0.099 / 2, "cosine half way") -- cos(pi/2) = 0
  close(s:lr_at(20), 0.001, "cosine at t_max")
end

do -- step by step_size
  local opt = fresh(base)
  local s = S.StepLR(opt, {step_size = 10, gamma = 0.5})
  check("StepLR", s, opt, steps, function(t) return base * 0.5 ^ (t // 10) end)
  close(s:lr_at(25), 0.025, "StepLR at 25")
end

do -- step at milestones
  local opt = fresh(base)
  local s = S.StepLR(opt, {milestones = {5, 11, 50}, gamma = 0.1})
  check("StepLR milestones", s, opt, steps, function(t)
    return base * 0.1 ^ ((t >= 5 and 1 or 0) + (t >= 11 and 1 or 0) + (t >= 50 and 1 or 0))
  end)
  close(s:lr_at(4), 0.1, "before the first milestone")
  close(s:lr_at(11), 0.001, "at the second milestone")
end

do -- exponential
  local opt = fresh(base)
  local s = S.ExponentialLR(opt, {gamma = 0.9})
  check("ExponentialLR", s, opt, steps, function(t) return base * 0.9 ^ t end)
end

do -- one-cycle, cosine: 100 steps, peak at step 29
  local opt = fresh(base)
  local s = S.OneCycleLR(opt, {max_lr = 1, total_steps = 100})
  local initial, final = 1 / 25, 1 / 25 / 1e4
  local function cos_anneal(from, to, pct) return to + (from - to) * (1 + math.cos(math.pi * pct)) / 2 end
  check("OneCycleLR", s, opt, {0, 1, 10, 29, 30, 60, 99, 120}, function(t)
    t = math.min(t, 99)
    if t <= 29 then return cos_anneal(initial, 1, t / 29) end
    return cos_anneal(1, final, (t - 29) / 70)
  end)
  close(s:lr_at(0), 0.04, "one-cycle starts at max_lr / 25")
  close(s:lr_at(29), 1, "one-cycle peaks at max_lr")
  close(s:lr_at(99), 4e-6, "one-cycle ends at max_lr / 25 / 1e4")
  local lin = S.OneCycleLR(fresh(base), {max_lr = 1, total_steps = 11, pct_start = 0.2, anneal_strategy = "linear"})
  -- peak at 0.2 * 11 - 1 = 1.2: step 1 is 1/1.2 of the way up, step 6 (6 - 1.2) / 8.8 of the way down
  close(lin:lr_at(1), 0.04 + 0.96 / 1.2, "linear one-cycle rising")
  close(lin:lr_at(6), 1 + (4e-6 - 1) * 4.8 / 8.8, "linear one-cycle falling")
end

do -- a Lua function of the step: a factor of the base rate
  local opt = fresh(base)
  local s = S.LambdaLR(opt, {lr_lambda = function(t) return 1 / (1 + t) end})
  check("LambdaLR", s, opt, steps, function(t) return base / (1 + t) end)
end

do -- warm-up then cosine: the base of both is the rate before the warm-up
  local opt = fresh(base)
  local warm = S.LinearLR(opt, {start_factor = 0.1, total_iters = 5})
  local decay = S.CosineAnnealingLR(opt, {t_max = 10})
  local s = S.SequentialLR(opt, {schedulers = {warm, decay}, milestones = {5}})
  check("SequentialLR", s, opt, {0, 2, 4, 5, 10, 15, 40}, function(t)
    if t < 5 then return base * (0.1 + 0.9 * t / 5) end
    return base * (1 + math.cos(math.pi * math.min(t - 5, 10) / 10)) / 2
  end)
end

do -- ReduceLROnPlateau, PyTorch's rules: more than `patience` bad calls, then cooldown
  local opt = fresh(1)
  local s = S.ReduceLROnPlateau(opt, {factor = 0.5, patience = 2, cooldown = 1, min_lr = 0.2})
  local values = {10, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
  local expected = {1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25}
  for i, v in ipairs(values) do close(s:step(v), expected[i], "plateau call " .. i) end
  for _ = 1, 8 do s:step(9) end
  close(opt.lr, 0.2, "plateau stops at min_lr")
  local up = S.ReduceLROnPlateau(fresh(1), {mode = "max", patience = 0, threshold = 0.1})
  close(up:step(1), 1, "max: first value is the best")
  close(up:step(1.05), 0.1, "max: within the relative threshold counts as no improvement")
  close(up:step(2), 0.1, "max: an improvement keeps the rate")
  assert(S.ReduceLROnPlateau((fresh(1)), {monitor = "val_accuracy"}).mode == "max", "mode from the monitor")
  assert(S.ReduceLROnPlateau((fresh(1))).mode == "min", "min for the loss")
end

-- The rate a plain loop trains with: set before each step.
do
  local opt, model = fresh(0.5)
  local s = S.StepLR(opt, {step_size = 2, gamma = 0.1})
  local x, y = tensor{{1, 2}}, tensor{{1}}
  local seen = {}
  for i = 1, 5 do
    opt:zero_grad()
    local pred = model:forward(x)
    model:backward(x, nn.MSELoss():backward(pred, y), false)
    seen[i] = opt.lr
    opt:step()
    s:step()
  end
  for i, lr in ipairs{0.5, 0.5, 0.05, 0.05, 0.005} do close(seen[i], lr, "loop step " .. i) end
end

-- train.fit: a schedule in callbacks steps once per batch; its position is in checkpoints.
do
  local opt, model = fresh(0.2)
  local s = S.ExponentialLR(opt, {gamma = 0.5})
  local x, y = tensor.randn{8, 2}, tensor.randn{8, 1}
  local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y},
                            epochs = 2, batch_size = 4, shuffle = false, verbose = 0, callbacks = {s}}
  assert(s.last_step == 4, "two epochs of two batches step four times, got " .. s.last_step)
  close(history.lr[1], 0.2 * 0.5 ^ 2, "lr logged after epoch 1")
  close(history.lr[2], 0.2 * 0.5 ^ 4, "lr logged after epoch 2")
  local again = S.ExponentialLR(fresh(0.2), {gamma = 0.5})
  again:load_state(s:state())
  close(again.optimizer.lr, 0.2 * 0.5 ^ 4, "load_state restores the position")
  -- ReduceLROnPlateau watches the epoch logs
  local opt2, model2 = fresh(0.1)
  local p = S.ReduceLROnPlateau(opt2, {monitor = "loss", patience = 0, factor = 0.5, threshold = 10})
  train.fit{model = model2, loss = nn.MSELoss(), optimizer = opt2, data = {x = x, y = y}, epochs = 3, verbose = 0,
            callbacks = {p}}
  close(opt2.lr, 0.025, "halved after epochs 2 and 3 (no 1000 % improvement)")
  local ok, err = pcall(train.fit, {model = model2, loss = nn.MSELoss(), optimizer = opt2, data = {x = x, y = y},
                                    epochs = 1, verbose = 0,
                                    callbacks = {S.ReduceLROnPlateau(opt2, {monitor = "val_loss"})}})
  assert(not ok and err:find("no 'val_loss' in the epoch logs", 1, true), err)
end

-- A checkpoint keeps the schedule's position: 2 epochs, then resumed to 4,
-- trains as 4 epochs in one go (the same rates, the same weights).
do
  local function run(epochs, resume)
    local opt, model = fresh(0.3)
    tensor.seed(9)
    local x = tensor.randn{12, 2}
    local y = x:matmul(tensor{{1}, {-1}})
    local s = S.CosineAnnealingLR(opt, {t_max = 10, eta_min = 0.01})
    local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y},
                              epochs = epochs, batch_size = 4, shuffle = false, verbose = 0, resume = resume,
                              callbacks = {s, train.checkpoint{path = "schedule.nrt"}}}
    return history, model, s
  end
  os.remove("schedule.nrt")
  local whole, model_whole, s_whole = run(4)
  os.remove("schedule.nrt")
  run(2)
  local resumed, model_resumed, s_resumed = run(4, "schedule.nrt")
  os.remove("schedule.nrt")
  assert(s_resumed.last_step == 12 and s_whole.last_step == 12, "3 batches an epoch, 4 epochs")
  for e = 1, 4 do close(resumed.lr[e], whole.lr[e], "lr after epoch " .. e) end
  close(whole.lr[4], 0.01, "t_max reached after 10 steps: eta_min")
  assert(model_resumed:forward(tensor{{1, 2}}):equal(model_whole:forward(tensor{{1, 2}})), "the same weights")
end

-- Bad options: clear errors at the script's line.
local function fails(f, text)
  local ok, err = pcall(f)
  assert(not ok, "expected an error: " .. text)
  assert(err:find(text, 1, true), "expected '" .. text .. "' in: " .. err)
  assert(err:find("lr_schedules.lua:%d+:"), "the error names the script's line: " .. err)
end
local opt = fresh(0.1)
fails(function() S.StepLR(opt, {step_size = 10, milestones = {5}}) end,
      "optim.lr_scheduler.StepLR: give step_size (decay every step_size steps) or milestones (decay at those steps), not both")
fails(function() S.StepLR(opt, {gamma = 0.5}) end, "give step_size = n")
fails(function() S.StepLR(opt, {milestones = {5, 3}}) end, "milestones must be increasing whole numbers >= 1; element 2 is 3")
fails(function() S.StepLR(opt, {step_sise = 3}) end, "unknown option 'step_sise' (did you mean 'step_size'?)")
fails(function() S.CosineAnnealingLR(opt, {}) end, "'t_max' is required")
fails(function() S.OneCycleLR(opt, {max_lr = 1, total_steps = 10, anneal_strategy = "cosine"}) end,
      "unknown anneal_strategy 'cosine'")
fails(function() S.LinearLR(opt, {start_factor = 0}) end, "start_factor must be a number in (0, 1], got 0")
fails(function() S.LambdaLR(opt, {lr_lambda = 3}) end, "lr_lambda must be a function")
fails(function() S.ExponentialLR({}, {gamma = 0.9}) end, "the first argument must be an optimizer")
fails(function() S.LambdaLR(opt, {lr_lambda = function() return "x" end}) end, "lr_lambda(0) returned a string")

-- ---------------------------------------------------------------- clipping
do
  local model = nn.Sequential{nn.Dense(2, 2)}
  local w, b = model[1].weight, model[1].bias
  local function set_grads(gw, gb)
    model:zero_grad()
    local pred = model:forward(tensor{{0, 0}})
    model:backward(tensor{{0, 0}}, tensor{{0, 0}}, false) -- materialises the gradients
    w.grad:copy(tensor(gw))
    b.grad:copy(tensor(gb))
  end
  set_grads({{3, 0}, {0, 4}}, {0, 12}) -- global norm sqrt(9 + 16 + 144) = 13
  local norm = optim.clip_grad_norm(model, 6.5)
  close(norm, 13, "the norm before clipping")
  local k = 6.5 / (13 + 1e-6)
  assert(math.abs(w.grad:get(1, 1) - 3 * k) < 1e-6 and math.abs(w.grad:get(2, 2) - 4 * k) < 1e-6 and
         math.abs(b.grad:get(2) - 12 * k) < 1e-6, "scaled to norm 6.5")
  set_grads({{3, 0}, {0, 4}}, {0, 12})
  close(optim.clip_grad_norm(model:parameters(), 100), 13, "no clipping under the limit")
  assert(b.grad:get(2) == 12, "left alone under the limit")
  close(optim.clip_grad_norm(model, 100, {norm_type = math.huge}), 12, "infinity norm")
  close(optim.clip_grad_norm(model, 100, {norm_type = 1}), 19, "1-norm")
  set_grads({{3, -0.5}, {-7, 4}}, {0.25, 12})
  optim.clip_grad_value(model, 1)
  assert(w.grad:equal(tensor{{1, -0.5}, {-1, 1}}) and b.grad:equal(tensor{0.25, 1}), "clamped into [-1, 1]")
  fails(function() optim.clip_grad_norm(model, -1) end, "max_norm must be a positive number")
  fails(function() optim.clip_grad_value(model) end, "clip_value must be a positive number, got nothing")

  -- train.fit{clip_grad_norm =}: one full-batch SGD step of lr 1 moves the weights by at most the clip.
  tensor.seed(2)
  local m = nn.Sequential{nn.Dense(2, 1)}
  local before = {m[1].weight:clone(), m[1].bias:clone()}
  local x, y = tensor{{10, 10}, {-10, 20}}, tensor{{100}, {-50}}
  local _, fit = train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 1}), data = {x = x, y = y},
                           epochs = 1, batch_size = 2, verbose = 0, clip_grad_norm = 0.5}
  assert(fit.grad_norm > 0.5, "the gradient was larger than the clip: " .. fit.grad_norm)
  local dw, db = m[1].weight - before[1], m[1].bias - before[2]
  local moved = math.sqrt(dw:dot(dw) + db:dot(db))
  assert(math.abs(moved - 0.5) < 1e-4, "the step has the clipped norm 0.5, got " .. moved)
  m[1].weight:copy(before[1]); m[1].bias:copy(before[2])
  train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 1}), data = {x = x, y = y},
            epochs = 1, batch_size = 2, verbose = 0, clip_grad_value = 0.01}
  local dv = (m[1].weight - before[1]):abs():max()
  assert(math.abs(dv - 0.01) < 1e-6, "each element moved by at most 0.01, got " .. dv)
  fails(function() train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 1}),
                             data = {x = x, y = y}, verbose = 0, clip_grad_nrom = 1} end,
        "unknown option 'clip_grad_nrom' (did you mean 'clip_grad_norm'?)")
  fails(function() train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 1}),
                             data = {x = x, y = y}, verbose = 0, clip_grad_norm = 0} end,
        "train.fit: clip_grad_norm must be a positive number, got 0")
end
print("schedules and clipping ok")
