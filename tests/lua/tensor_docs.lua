-- docs/lua-api.md's tensor section names every function of `tensor` and
-- every tensor method, and names none that does not exist.
local here = arg[0]:match("^(.*[/\\])") or ""
local file = assert(io.open(here .. "../../docs/lua-api.md"))
local text = file:read("a")
file:close()
local section = assert(text:match("\n## tensor\n(.-)\n## ") or text:match("\n## tensor\n(.*)$"),
                       "docs/lua-api.md has no '## tensor' section")

local functions = {}
for name, v in pairs(tensor) do
  if type(v) == "function" then functions[name] = true end
end
-- The methods table is the upvalue of the tensor metatable's __index.
local _, methods = debug.getupvalue(getmetatable(tensor.zeros(1)).__index, 1)
assert(type(methods) == "table" and methods.sum, "the tensor methods table")

local missing = {}
for name in pairs(functions) do
  if not section:find("tensor." .. name .. "(", 1, true) then missing[#missing + 1] = "tensor." .. name end
end
for name in pairs(methods) do
  -- t:name(...) or t:name{...}, or name in a list of the same family (ones_like(t)).
  if not (section:find(":" .. name .. "(", 1, true) or section:find(":" .. name .. "{", 1, true)) then
    missing[#missing + 1] = "t:" .. name
  end
end
table.sort(missing)
assert(#missing == 0, "undocumented in docs/lua-api.md: " .. table.concat(missing, ", "))

local unknown = {}
for name in section:gmatch("`tensor%.([%w_]+)%(") do
  if not functions[name] then unknown[#unknown + 1] = "tensor." .. name end
end
local not_tensors = {model = true, layer = true, opt = true, loss = true, ds = true}
for receiver, name in section:gmatch("([%w_%)]+):([%a_][%w_]*)[%({]") do
  if not methods[name] and not not_tensors[receiver] then unknown[#unknown + 1] = "t:" .. name end
end
table.sort(unknown)
assert(#unknown == 0, "documented but not in the code: " .. table.concat(unknown, ", "))
print("tensor docs ok")
