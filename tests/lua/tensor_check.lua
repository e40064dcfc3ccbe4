-- Helpers shared by the tensor tests (loaded with dofile beside them).
local check = {}

-- Asserts fn raises an error whose message contains `pattern` (plain text).
function check.fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "message was: " .. tostring(err))
end

local function flatten(v, out)
  if type(v) == "table" then
    for _, x in ipairs(v) do flatten(x, out) end
  else
    out[#out + 1] = v
  end
  return out
end

-- Asserts t has the shape and (within tol, default exact) the values of the
-- nested table `expected`; the shape is given when expected cannot tell it.
function check.same(t, expected, what, tol, shape)
  what = what or "tensor"
  assert(tensor.is_tensor(t), what .. ": not a tensor but " .. type(t))
  if not shape then
    shape = {}
    local v = expected
    while type(v) == "table" do
      shape[#shape + 1] = #v
      v = v[1]
    end
  end
  local got = t:shape()
  assert(#got == #shape, string.format("%s: %d dimensions, expected %d", what, #got, #shape))
  for i = 1, #shape do
    assert(got[i] == shape[i], string.format("%s: dimension %d is %d, expected %d", what, i, got[i], shape[i]))
  end
  local want = flatten(expected, {})
  local have = t:dim() == 0 and {t:item()} or flatten(t:totable(), {})
  assert(#have == #want, string.format("%s: %d values, expected %d", what, #have, #want))
  for i = 1, #want do
    local a, b = have[i], want[i]
    local ok = (a ~= a and b ~= b) or a == b or (tol and math.abs(a - b) <= tol)
    assert(ok, string.format("%s: value %d is %.9g, expected %.9g", what, i, a, b))
  end
end

function check.near(a, b, tol, what)
  assert(math.abs(a - b) <= (tol or 1e-6), string.format("%s: %.9g, expected %.9g", what or "value", a, b))
end

-- Makes garbage and collects it, so memory nothing keeps alive is reused.
function check.churn()
  for _ = 1, 3 do collectgarbage() end
  local junk = {}
  for i = 1, 200 do junk[i] = tensor.full({50, 50}, -1e30) end
end

return check
