-- docs/lua-api.md against the real Lua surface, enumerated at run time:
-- every function of the modules below and every method of the objects
-- they make must be documented, and every function or method the page
-- names must exist. A new function fails this test until its line is
-- written; a new module or object type is one line in MODULES or OBJECTS.
local here = arg[0]:match("^(.*[/\\])") or ""
local file = assert(io.open(here .. "../../docs/lua-api.md"))
local text = file:read("a")
file:close()
local neurite = require "neurite"

-- The text of "## <name>" up to the next "## " heading.
local function section(name)
  local body = text:match("\n## " .. name .. "\n(.-)\n## ") or text:match("\n## " .. name .. "\n(.*)$")
  return assert(body, "docs/lua-api.md has no '## " .. name .. "' section")
end

local function has_call(body, written)
  return body:find(written .. "(", 1, true) or body:find(written .. "{", 1, true)
end

local missing, unknown = {}, {}
local checked = 0 -- functions, entries and methods checked, for the last line

-- Modules: each function (names starting with '_' are internal) must be
-- written as `prefix.name(...)` or `prefix.name{...}` in its section.
local MODULES = {
  {prefix = "tensor", table = tensor, section = "tensor"},
  {prefix = "nn", table = nn, section = "nn"},
  {prefix = "optim", table = optim, section = "optim"},
  {prefix = "data", table = data, section = "data"},
  {prefix = "train", table = train, section = "train"},
  {prefix = "monitor", table = monitor, section = "monitor"},
  {prefix = "dist", table = dist, section = "dist"},
  {prefix = "autograd", table = autograd, section = "autograd"},
  {prefix = "json", table = neurite.json, section = "json and the neurite table"},
  {prefix = "neurite", table = neurite, section = "json and the neurite table"},
}
-- nn.<Name> and optim.<Name> are cached in their tables once used: the
-- registry's entries are checked below, by kind.
local entry_names = {}
for _, e in ipairs(nn.plugins()) do entry_names[e.name] = e.kind end
for _, m in ipairs(MODULES) do
  local body = section(m.section)
  for name, v in pairs(m.table) do
    local entry = (m.prefix == "nn" or m.prefix == "optim") and entry_names[name]
    if type(v) == "function" and not entry and not name:match("^_") then
      checked = checked + 1
      if not has_call(body, m.prefix .. "." .. name) then missing[#missing + 1] = m.prefix .. "." .. name end
    end
  end
end

-- A module added to the neurite table needs a section and a line above.
for name, v in pairs(neurite) do
  local known = false
  for _, m in ipairs(MODULES) do known = known or m.table == v end
  if type(v) == "table" and not known then missing[#missing + 1] = "the module " .. name end
end

-- The registry's entries: nn.<Name> for layers, activations and losses,
-- optim.<Name> for optimizers (Lua-defined ones are the script's own).
for _, e in ipairs(nn.plugins()) do
  if e.origin ~= "lua" then
    checked = checked + 1
    local prefix = e.kind == "optimizer" and "optim" or "nn"
    if not section(prefix):find("`" .. prefix .. "." .. e.name .. "`", 1, true)
       and not has_call(section(prefix), prefix .. "." .. e.name) then
      missing[#missing + 1] = prefix .. "." .. e.name .. " (" .. e.kind .. ")"
    end
  end
end

-- Objects: the methods table behind each type's __index (a table, or the
-- first upvalue of an __index function); each method must be written as
-- `receiver:name(...)` somewhere on the page.
local function methods_of(value)
  local index = getmetatable(value).__index
  if type(index) == "table" then return index end
  local _, methods = debug.getupvalue(index, 1)
  return assert(methods, "no methods table behind __index")
end
local ds = data.gates("xor")
local layer = nn.Dense(2, 2)
local OBJECTS = {
  {receiver = "layer", methods = methods_of(layer)},
  {receiver = "model", methods = methods_of(nn.Sequential{nn.Dense(2, 2)})},
  {receiver = "loss", methods = methods_of(nn.MSELoss())},
  {receiver = "opt", methods = methods_of(optim.SGD(layer, {lr = 0.1}))},
  {receiver = "ds", methods = methods_of(ds)},
  {receiver = "symbol", methods = methods_of(nn.Input{2})},
}
for _, o in ipairs(OBJECTS) do
  for name in pairs(o.methods) do
    checked = checked + 1
    if not has_call(text, o.receiver .. ":" .. name) then missing[#missing + 1] = o.receiver .. ":" .. name end
  end
end
-- Tensor methods: in the tensor section, as t:name(...) or x:name{...}.
local tensor_methods = methods_of(tensor.zeros(1))
local tensor_section = section("tensor")
for name in pairs(tensor_methods) do
  checked = checked + 1
  if not (tensor_section:find(":" .. name .. "(", 1, true) or tensor_section:find(":" .. name .. "{", 1, true)) then
    missing[#missing + 1] = "t:" .. name
  end
end

-- The other direction: what the page calls must exist. Names that the
-- page's own nn.define examples register are the examples' own.
local defined = {}
for name in text:gmatch('name = "(%u[%w_]*)"') do defined[name] = true end
local function exists(prefix, name)
  if prefix == "nn" or prefix == "optim" then
    if defined[name] then return true end
    if entry_names[name] then return (entry_names[name] == "optimizer") == (prefix == "optim") end
  end
  for _, m in ipairs(MODULES) do
    if m.prefix == prefix then return type(rawget(m.table, name)) == "function" end
  end
  return true -- not a module this test knows
end
for prefix, name in text:gmatch("%f[%w_.]([%a_]+)%.([%a_][%w_]*)[%({]") do
  if not exists(prefix, name) then unknown[#unknown + 1] = prefix .. "." .. name end
end
local receivers = {t = tensor_methods}
for _, o in ipairs(OBJECTS) do receivers[o.receiver] = o.methods end
for receiver, name in text:gmatch("%f[%w_]([%a_][%w_]*):([%a_][%w_]*)[%({]") do
  if receivers[receiver] and not receivers[receiver][name] then unknown[#unknown + 1] = receiver .. ":" .. name end
end
-- The dataset fields the page names (ds.classes, ds.kind, ...) exist.
for name in text:gmatch("%f[%w_]ds%.([%a_][%w_]*)") do
  if ds[name] == nil then unknown[#unknown + 1] = "ds." .. name end
end
-- In the tensor section any receiver but the other objects' is a tensor.
for receiver, name in tensor_section:gmatch("([%w_%)]+):([%a_][%w_]*)[%({]") do
  if not receivers[receiver] and not tensor_methods[name] then unknown[#unknown + 1] = "t:" .. name end
end

-- The examples: every ```lua block compiles, and each runs (in an
-- environment of its own) unless its fence says ```lua fragment (it uses
-- variables of another example, or trains for long).
local examples, ran = 0, 0
local has_fashion = pcall(data.fashion_mnist, {split = "test"}) -- Debian's dataset-fashion-mnist
for info, code in text:gmatch("\n```lua([^\n]*)\n(.-)\n```") do
  examples = examples + 1
  local chunk, err = load(code, "=docs/lua-api.md example " .. examples, "t",
                          setmetatable({print = function() end}, {__index = _G}))
  assert(chunk, err)
  if info == "" and (has_fashion or not code:find("fashion_mnist", 1, true)) then
    chunk()
    ran = ran + 1
  elseif info ~= "" then
    assert(info == " fragment", "example " .. examples .. ": unknown fence info '" .. info .. "'")
  end
end
assert(examples >= 15 and ran >= 10, "the examples were not found")
os.remove("mlp.nrt")

table.sort(missing)
table.sort(unknown)
assert(#missing == 0, "undocumented in docs/lua-api.md: " .. table.concat(missing, ", ") ..
       " (write each as it is called, e.g. `train.fit{...}`, `model:save(path)`, or an entry's table row " ..
       "`nn.Dense`, in the section of its module)")
assert(#unknown == 0, "documented in docs/lua-api.md but not in the code: " .. table.concat(unknown, ", "))
print(string.format("api docs ok: %d functions, entries and methods documented; %d examples, %d run",
                    checked, examples, ran))
