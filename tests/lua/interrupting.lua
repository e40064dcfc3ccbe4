-- For the tests that interrupt a run and resume it (loaded with dofile).
local interrupting = {}

-- The callbacks of a run, plus one that raises the flag Ctrl-C raises when
-- the run reaches opts.stop_step.
function interrupting.callbacks(opts)
  local callbacks = {}
  for i, cb in ipairs(opts.callbacks or {}) do callbacks[i] = cb end
  if opts.stop_step then
    callbacks[#callbacks + 1] = {on_batch_end = function(_, _, fit)
      if fit.step == opts.stop_step then fit.interrupted = true end
    end}
  end
  return callbacks
end

-- Asserts that two histories of five epochs hold the same values, bit for
-- bit, under each of `keys`.
function interrupting.same_curves(a, b, keys, what)
  for _, key in ipairs(keys) do
    assert(#a[key] == 5 and #b[key] == 5, what .. ": five epochs of " .. key)
    for i = 1, 5 do
      assert(a[key][i] == b[key][i], string.format("%s: epoch %d %s resumed %.17g, uninterrupted %.17g",
                                                   what, i, key, a[key][i], b[key][i]))
    end
  end
end

return interrupting
