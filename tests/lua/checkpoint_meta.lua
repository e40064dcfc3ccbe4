-- A checkpoint's metadata is data: resuming never runs it as code. The
-- metadata is JSON (neurite.json) that round-trips every Lua value a
-- checkpoint holds exactly, integers and floats, NaN and infinities
-- included; tensors go to a section of the file, not into the text.
local neurite = require "neurite"
local json = neurite.json

local function fails(fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  err = tostring(err)
  for _, text in ipairs{...} do
    assert(err:find(text, 1, true), "expected '" .. text .. "' in: " .. err)
  end
  return err
end

local function fit(model, resume)
  return train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                   data = {x = tensor{{1, 2}, {3, 4}}, y = tensor{{1}, {2}}}, epochs = 1, verbose = 0,
                   resume = resume}
end

-- A checkpoint written before the metadata became JSON holds a Lua
-- expression. Crafted, that expression would run when resumed; now it is
-- refused, with a message that says why and what still works.
local model = nn.Sequential{nn.Dense(2, 1)}
-- (Run, this one fails with "attempt to index a nil value (field 'crafted_metadata_ran')".)
model:save("crafted.nrt", {meta = "{epoch = (function() return ({}).crafted_metadata_ran.x end)()}"})
local err = fails(function() fit(model, "crafted.nrt") end,
                  "crafted.nrt", "older Neurite", "m:load")
assert(not err:find("crafted_metadata_ran", 1, true), "the metadata was run: " .. err)
assert(err:find("checkpoint_meta.lua:%d+: train.fit: checkpoint 'crafted.nrt'"), "at the script's line: " .. err)
-- Nor does anything in the JSON run: a string stays a string, and fields of
-- the wrong type are refused by name.
model:save("crafted.nrt", {["meta.json"] = '{"epoch": "os.exit(3)"}'})
fails(function() fit(model, "crafted.nrt") end, "crafted.nrt", "'epoch' must be a whole number", "got a string")
model:save("crafted.nrt", {["meta.json"] = '{"epoch": 1, "rng": {"$tensor": 4}}'})
fails(function() fit(model, "crafted.nrt") end, "crafted.nrt", "tensor 4", "holds 0")
model:save("crafted.nrt", {["meta.json"] = '{"epoch": 1, "history": {"loss": "x"}}'})
fails(function() fit(model, "crafted.nrt") end, "crafted.nrt", "'loss' must be a table, got a string")
model:save("crafted.nrt", {["meta.json"] = '{"epoch": 1,'})
fails(function() fit(model, "crafted.nrt") end, "crafted.nrt", "not valid JSON")

-- Round trips: the type of every number is kept, and so are NaN, the
-- infinities, -0.0, large integers, binary strings, sparse and mixed
-- tables, keys that look like the encoding's own tags, and tensors.
local value = {
  int = 3, float = 3.0, third = 1 / 3, tiny = 5e-324, big = 2 ^ 53 + 1 | 0, huge = 1e300,
  min = math.mininteger, nan = 0 / 0, inf = math.huge, ninf = -math.huge, nzero = -0.0,
  list = {1, 2.5, "three", true, false}, sparse = {[1] = "a", [3] = "c"}, mixed = {10, 20, name = "x"},
  keys = {[2.5] = "float key", [true] = "bool key", ["$float"] = "tag-like key"},
  bytes = "\0\1\255 not UTF-8 \192", text = "héllo \"quoted\"\n", empty = {},
  nested = {{{{"deep"}}}}, weights = {tensor{{1, 2}, {3, 4}}, tensor{0.5}},
}
local text, tensors = json.encode(value)
assert(type(text) == "string" and #tensors == 2, "two tensors set aside")
assert(not text:find("0.5", 1, true) or text:find("2.5", 1, true), "tensor values are not in the text")
local back = json.decode(text, tensors)
local function same(a, b, path)
  assert(type(a) == type(b), path .. ": " .. type(a) .. " became " .. type(b))
  if type(a) == "number" then
    assert(math.type(a) == math.type(b), path .. ": " .. math.type(a) .. " became " .. math.type(b))
    if a ~= a then assert(b ~= b, path .. ": NaN") return end
    assert(a == b and 1 / a == 1 / b, string.format("%s: %.17g became %.17g", path, a, b))
  elseif type(a) == "table" then
    for k, v in pairs(a) do same(v, b[k], path .. "." .. tostring(k)) end
    for k in pairs(b) do assert(a[k] ~= nil, path .. ": extra key " .. tostring(k)) end
  elseif tensor.is_tensor(a) then
    assert(a:equal(b), path .. ": tensor")
  else
    assert(a == b, path .. ": " .. tostring(a) .. " became " .. tostring(b))
  end
end
same(value, back, "value")
fails(function() json.decode(text) end, "tensor 1", "holds 0")
fails(function() json.encode{f = print} end, "json.encode: cannot store a function", "f")
local loop = {}
loop.self = loop
fails(function() json.encode(loop) end, "json.encode: ", "refers to itself")
fails(function() json.decode('{"$what": 1}') end, "unknown tag '$what'")
fails(function() json.decode("[1, 2") end, "json.decode: not valid JSON")
assert(json.decode("[]") and next(json.decode("{}")) == nil)

-- What train.checkpoint writes reads back with the same tools.
model = nn.Sequential{nn.Dense(2, 1)}
os.remove("meta_fit.nrt")
local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                          data = {x = tensor{{1, 2}, {3, 4}}, y = tensor{{1}, {2}}}, epochs = 2, verbose = 0,
                          callbacks = {train.checkpoint{path = "meta_fit.nrt", monitor = "loss"}}}
local extras = model:load("meta_fit.nrt")
local meta = json.decode(extras["meta.json"], extras["meta.tensors"])
assert(meta.epoch == 2 and math.type(meta.epoch) == "integer" and #meta.history.loss == 2)
assert(meta.history.loss[2] == history.loss[2], "losses are stored exactly")
print("checkpoint meta ok")
