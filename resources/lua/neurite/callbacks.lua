-- neurite/callbacks.lua: the callbacks of train.fit (checkpoints, early
-- stopping, learning-rate schedules, stopping on NaN) and train.resume,
-- which continues a run from a checkpoint exactly where it was.
--
-- Shipped readable beside train.lua, which it extends: the runtime runs it
-- with the neurite modules and the train table, and it adds its functions
-- to that table. It uses nothing but the public Lua API.
--
-- A callback is a table with any of on_train_begin, on_epoch_begin,
-- on_batch_end, on_epoch_end, after_epoch_end, on_train_end and
-- on_interrupt (see train.lua), and optionally state()/load_state(s) so
-- that a checkpoint carries its position.

local neurite, train = ...
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp
local tensor, monitor, json = neurite.tensor, neurite.monitor, neurite.json
local check_options, check_choice, closest_name = neurite.check_options, neurite.check_choice, neurite.closest_name

-- The value a callback watches in the epoch logs. A missing key is a
-- mistake (a typo, or no validation set): the message lists the keys the
-- logs do have, and names the line that called train.fit (level 5 from
-- here: this, the callback, call(), train.fit, the script).
local function monitored(logs, key, fn)
  local value = logs[key]
  if value ~= nil then return value end
  local keys = {}
  for k in pairs(logs) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local near = closest_name(key, keys)
  local hint = key:find("^val_") and logs.val_loss == nil and "; give train.fit a validation set" or ""
  error(string.format("%s: no '%s' in the epoch logs (%sthey have: %s%s)", fn, key,
                      near and "did you mean '" .. near .. "'? " or "", table.concat(keys, ", "), hint), 5)
end

local function improved(mode, value, best, min_delta)
  if best == nil then return true end
  if mode == "max" then return value > best + min_delta end
  return value < best - min_delta
end

-- Accuracy, precision, recall, F1 and R² grow; losses and errors shrink.
local function mode_of(name)
  return train._metric_mode(name)
end

local MODES = {"min", "max"}

-- The monitor and mode options of a callback; errors at the script's line.
local function monitor_and_mode(opts, fn)
  local name = opts.monitor or "val_loss"
  if type(name) ~= "string" then
    error(string.format("%s: monitor must name an entry of the epoch logs, such as \"val_loss\", got a %s",
                        fn, type(name)), 3)
  end
  return name, check_choice(opts.mode or mode_of(name), fn, "mode", MODES, 3)
end


-- ---------------------------------------------------------------- checkpoints

-- Writes what train.fit{resume = path} needs: the model, the optimizer's
-- state, and the metadata as JSON (read back as data, never run), with the
-- tensors of callback states in a section of their own. `position` is the
-- place inside an epoch an interrupt stopped at (nil at an epoch's end).
local function save_checkpoint(path, fit, position)
  if fit.nonfinite_parameters then
    monitor.text("train.checkpoint: the parameters are inf or nan; " .. path .. " keeps the last finite state")
    return
  end
  -- In a data-parallel run every rank holds the same state: rank 0 writes
  -- it, and the others wait until it is written, so that no rank reading it
  -- next (a train.fit resuming from it) finds the one before. A sharded
  -- optimizer's parts are merged for it first, and split again after.
  local sharded = neurite.dist.unshard_optimizer(fit.optimizer)
  if neurite.dist.is_main() then
    local states = {}
    for i, cb in ipairs(fit.callbacks or {}) do
      if cb.state then states[i] = cb:state() end
    end
    -- optim.LBFGS and optim.Newton are Lua: their state goes in the metadata.
    local lua_optimizer = fit.optimizer.needs_closure
    local meta = {epoch = position and position.epoch - 1 or fit.epoch, step = fit.step, history = fit.history,
                  rng = tensor.rng_state(), lr = fit.optimizer.lr, callbacks = states, position = position,
                  optimizer_state = lua_optimizer and fit.optimizer:state() or nil}
    local text, tensors = json.encode(meta)
    fit.model:save(path, {optimizer = not lua_optimizer and fit.optimizer or nil, ["meta.json"] = text,
                          ["meta.tensors"] = tensors})
  end
  if sharded then neurite.dist.shard_optimizer(fit.model, fit.optimizer) end
  neurite.dist.barrier()
end

-- The metadata of a checkpoint, checked field by field: a damaged or
-- crafted file gives an error that names it, never a crash or a wrong
-- resume. Errors name the line that called train.fit: fail, read_meta (or
-- expect, then read_meta), train.resume, train.fit, the script.
local function read_meta(extras, path)
  local function fail(why, depth)
    error(string.format("train.fit: checkpoint '%s': %s", path, why), 5 + (depth or 0))
  end
  if extras["meta.json"] == nil then
    if extras.meta ~= nil then
      fail("it was written by an older Neurite, whose metadata is a Lua expression; such metadata is " ..
           "no longer run, since a crafted one could run code. Its weights still load with m:load(path), " ..
           "but train.fit cannot resume from it")
    end
    return {epoch = 0} -- saved by m:save alone: the weights, nothing to continue
  end
  local ok, meta = pcall(json.decode, extras["meta.json"], extras["meta.tensors"])
  if not ok then fail("the metadata is damaged: " .. tostring(meta)) end
  local function expect(t, key, kind, optional)
    local v = t[key]
    local fine = (optional and v == nil) or (kind == "whole number" and math.type(v) == "integer" and v >= 0) or
                 (kind == "number" and type(v) == "number") or (kind == type(v))
    if not fine then
      fail(string.format("'%s' must be a %s, got %s", key, kind, v == nil and "nothing" or "a " .. type(v)), 1)
    end
  end
  expect(meta, "epoch", "whole number")
  for _, f in ipairs{{"step", "whole number"}, {"lr", "number"}, {"rng", "string"}, {"history", "table"},
                     {"callbacks", "table"}, {"position", "table"}, {"optimizer_state", "table"}} do
    expect(meta, f[1], f[2], true)
  end
  for key in pairs(meta.history or {}) do expect(meta.history, key, "table") end
  local p = meta.position
  if p then
    for _, key in ipairs{"epoch", "batches", "seen"} do expect(p, key, "whole number") end
    for _, key in ipairs{"sum_loss", "correct", "seconds"} do expect(p, key, "number") end
    expect(p, "shuffle_rng", "string")
    expect(p, "outputs", "table", true)
    for _, o in ipairs(p.outputs or {}) do
      expect({output = o}, "output", "table")
      for _, key in ipairs{"loss", "correct"} do expect(o, key, "number") end
    end
    expect(meta, "rng", "string")
    if p.epoch ~= meta.epoch + 1 then fail("the position is in epoch " .. p.epoch .. " after epoch " .. meta.epoch) end
    p.rng = meta.rng
  end
  return meta
end

-- Restores model, optimizer, history, RNG and callback state from a
-- checkpoint written by train.checkpoint; returns the epoch to start at,
-- and the position inside it when an interrupt wrote the checkpoint.
-- A path with no file yet starts afresh (so a script can always pass it).
function train.resume(fit, path, callbacks)
  local ok, extras = pcall(fit.model.load, fit.model, path)
  if not ok then
    if tostring(extras):find("cannot open checkpoint", 1, true) then return 1 end
    error(extras, 3)
  end
  local meta = read_meta(extras, path)
  local sums = meta.position and #(meta.position.outputs or {}) or 0
  if meta.position and sums ~= (fit.outputs > 1 and fit.outputs or 0) then
    error(string.format("train.fit: checkpoint '%s' was interrupted in a run with %d output%s; this run has %d",
                        path, math.max(sums, 1), sums > 1 and "s" or "", fit.outputs), 3)
  end
  if extras.optimizer then fit.optimizer:load_state(extras.optimizer) end
  if meta.optimizer_state and fit.optimizer.needs_closure then fit.optimizer:load_state(meta.optimizer_state) end
  if meta.history then
    for k, v in pairs(meta.history) do fit.history[k] = v end
  end
  if meta.rng then tensor.set_rng_state(meta.rng) end
  if meta.lr then fit.optimizer.lr = meta.lr end
  fit.step = meta.step or 0
  for i, cb in ipairs(callbacks) do
    if cb.load_state and meta.callbacks and meta.callbacks[i] ~= nil then
      cb:load_state(meta.callbacks[i])
    end
  end
  return meta.epoch + 1, meta.position
end

-- ---------------------------------------------------------------- callbacks

-- "best.nrt" -> "best.interrupted.nrt"
local function interrupted_name(path)
  local stem = path:match("^(.*)%.nrt$")
  return stem and stem .. ".interrupted.nrt" or path .. ".interrupted"
end

-- train.checkpoint{path =, monitor = "val_loss", mode = (from monitor),
--                  best_only = false, interrupt_path = (see below)}
-- Saves model, optimizer state, epoch, history, RNG and callback state, so
-- that train.fit{resume = path} continues the curves exactly. Written
-- atomically after each epoch, once every callback's on_epoch_end has run
-- (so early stopping's and the schedules' states are this epoch's); with
-- best_only, only when the monitored value improved.
-- On an interrupt (Ctrl-C, the window's Stop) the checkpoint records the
-- position inside the epoch, and a resumed run continues exactly there.
-- A plain checkpoint writes it to `path`: its file is the run's latest
-- state. A best_only checkpoint never replaces its best weights with
-- unfinished ones: it writes the interrupted state beside them, to
-- interrupt_path, by default <path>.interrupted.nrt (best.nrt ->
-- best.interrupted.nrt); interrupt_path = false writes nothing.
function train.checkpoint(opts)
  local fn = "train.checkpoint"
  check_options(opts, fn, {"path", "monitor", "mode", "best_only", "interrupt_path"})
  if opts.path == nil then error(fn .. ": 'path' is required (where to write the checkpoint)", 2) end
  local cb = {path = opts.path, best_only = opts.best_only or false}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  cb.interrupt_path = opts.interrupt_path
  if cb.interrupt_path == nil then cb.interrupt_path = cb.best_only and interrupted_name(cb.path) or cb.path end
  -- Decides at the epoch's end, writes once every callback has updated its state.
  function cb:on_epoch_end(logs)
    self.due = true
    if self.best_only then
      local value = monitored(logs, self.monitor, fn)
      self.due = improved(self.mode, value, self.best, 0)
      if self.due then self.best = value end
    end
  end
  function cb:after_epoch_end(_, fit)
    if self.due then save_checkpoint(self.path, fit) end
    self.due = false
  end
  function cb:on_interrupt(_, fit)
    if not self.interrupt_path then return end
    save_checkpoint(self.interrupt_path, fit, fit.position)
    if self.interrupt_path ~= self.path then
      monitor.text(string.format("%s: interrupted; %s keeps the best epoch, the run's state went to %s " ..
                                 "(train.fit{resume = ...} continues from it)", fn, self.path, self.interrupt_path))
    end
  end
  function cb:state() return {best = self.best} end
  function cb:load_state(s) self.best = s.best end
  return cb
end

-- Stops when the monitored value stops improving for `patience` epochs, or
-- as soon as it reaches `target` (the seeds' "until the error is small
-- enough, or after the maximum number of iterations"). With restore_best,
-- the best epoch's weights are put back at the end; they are part of the
-- callback's state, so a checkpoint keeps them for a resumed run.
function train.early_stopping(opts)
  local fn = "train.early_stopping"
  if opts == nil then opts = {} end
  check_options(opts, fn, {"monitor", "patience", "min_delta", "target", "restore_best", "mode"})
  local cb = {patience = opts.patience or 5, min_delta = opts.min_delta or 0, target = opts.target,
              restore_best = opts.restore_best or false, wait = 0}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  function cb:on_epoch_end(logs, fit)
    local value = monitored(logs, self.monitor, fn)
    if improved(self.mode, value, self.best, self.min_delta) then
      self.best, self.wait, self.best_epoch = value, 0, fit.epoch
      if self.restore_best then
        self.saved = {}
        for i, p in ipairs(fit.model:parameters()) do self.saved[i] = p:clone() end
      end
    else
      self.wait = self.wait + 1
    end
    local reached = self.target and ((self.mode == "min" and value <= self.target) or
                                     (self.mode == "max" and value >= self.target))
    if reached or self.wait >= self.patience then
      fit.stop = true
      self.stopped_epoch = fit.epoch
    end
  end
  function cb:on_train_end(_, fit)
    if self.restore_best and self.saved then
      for i, p in ipairs(fit.model:parameters()) do p:copy(self.saved[i]) end
    end
  end
  function cb:state()
    return {best = self.best, wait = self.wait, best_epoch = self.best_epoch, weights = self.saved}
  end
  function cb:load_state(s)
    self.best, self.wait, self.best_epoch, self.saved = s.best, s.wait or 0, s.best_epoch, s.weights
  end
  return cb
end

-- kind = "step" {step_size, gamma}, "exponential" {gamma}, "cosine"
-- {t_max, eta_min}, or "plateau" {monitor, factor, patience, min_lr}.
function train.lr_schedule(opts)
  local fn = "train.lr_schedule"
  check_options(opts, fn, {"kind", "gamma", "step_size", "t_max", "eta_min", "monitor", "factor", "patience",
                           "min_lr"})
  local kind = check_choice(opts.kind or "step", fn, "kind", {"step", "exponential", "cosine", "plateau"})
  local cb = {kind = kind, gamma = opts.gamma or 0.1, step_size = opts.step_size or 10,
              t_max = opts.t_max, eta_min = opts.eta_min or 0, factor = opts.factor or 0.1,
              patience = opts.patience or 3, min_lr = opts.min_lr or 0, wait = 0}
  cb.monitor, cb.mode = monitor_and_mode(opts, fn)
  function cb:on_train_begin(_, fit)
    self.base = self.base or fit.optimizer.lr
    self.t_max = self.t_max or fit.epochs
  end
  function cb:on_epoch_begin(_, fit)
    local e = fit.epoch - 1 -- epochs completed
    local lr
    if self.kind == "step" then lr = self.base * self.gamma ^ (e // self.step_size)
    elseif self.kind == "exponential" then lr = self.base * self.gamma ^ e
    elseif self.kind == "cosine" then
      lr = self.eta_min + (self.base - self.eta_min) * (1 + math.cos(math.pi * math.min(e, self.t_max) / self.t_max)) / 2
    end
    if lr then fit.optimizer.lr = lr end
  end
  function cb:on_epoch_end(logs, fit)
    if self.kind ~= "plateau" then return end
    local value = monitored(logs, self.monitor, fn)
    if improved(self.mode, value, self.best, 0) then
      self.best, self.wait = value, 0
    else
      self.wait = self.wait + 1
      if self.wait >= self.patience then
        fit.optimizer.lr = math.max(fit.optimizer.lr * self.factor, self.min_lr)
        self.wait = 0
      end
    end
  end
  function cb:state() return {base = self.base, best = self.best, wait = self.wait} end
  function cb:load_state(s) self.base, self.best, self.wait = s.base, s.best, s.wait or 0 end
  return cb
end

function train.terminate_on_nan()
  return {on_batch_end = function(_, logs, fit)
    if logs.loss ~= logs.loss or logs.loss == math.huge or logs.loss == -math.huge then
      fit.stop = true
      -- train.fit stops on a non-finite loss by itself and says so.
      if fit.nonfinite then return end
      monitor.text(string.format("train: the loss is %s at step %d; training stopped", tostring(logs.loss), fit.step))
    end
  end}
end
