-- api_fuzz.lua: random calls with random arguments to every function of
-- the Lua API and every method of the objects they return (issue 11).
-- Run under --sandbox (random paths must not escape the working directory)
-- with a memory limit; every call is protected, so only a crash, a hang or
-- a sanitizer report can fail it. In the ASan+UBSan build (make
-- check-sanitize) this is the API fuzzer; in the normal build a shorter run.
--
--   neurite-run --sandbox --max-memory 1G api_fuzz.lua CALLS SEED [method names...]
--
-- Method names come from the reference (CMake extracts every `:name(` of
-- docs/lua-api.md and passes them), plus the libraries' own functions.

local calls, seed = tonumber(arg[1]) or 2000, tonumber(arg[2]) or 1
-- A negative count prints each call before it is made (to find a crash).
local trace = calls < 0
calls = math.abs(calls)
local rng_state = seed
-- A generator of its own (xorshift), so that the API's tensor.seed calls
-- cannot change which calls the fuzzer makes.
local function random(n)
  rng_state = rng_state ~ (rng_state << 13)
  rng_state = rng_state ~ (rng_state >> 7)
  rng_state = rng_state ~ (rng_state << 17)
  return (rng_state & 0x7fffffff) % n + 1
end
local function pick(list) return list[random(#list)] end

local LIBRARIES = {tensor = tensor, nn = nn, optim = optim, data = data, train = train, monitor = monitor}
-- Registry entries (nn.Dense, optim.SGD, ...) are looked up by name.
local ENTRIES = {"Dense", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "GELU", "PReLU", "LeakyReLU", "ELU",
                 "Add", "Multiply", "Concat", "MSELoss", "CrossEntropyLoss", "BCELoss", "L1Loss", "HuberLoss",
                 "Identity", "Softplus", "Swish"}
local OPTIMIZERS = {"SGD", "Adam", "RMSprop", "Adagrad"}
-- Never called: they end the run or wait for time to pass by design
-- (monitor.request_stop asks the run to stop, as Ctrl-C does).
local SKIP = {["monitor.cooperative"] = true, ["monitor.request_stop"] = true, ["train.fit"] = false}

local NUMBERS = {0, 1, -1, 2, 3, 4, 0.5, -0.5, 1.5, 10, 64, 1e9, -1e9, 2 ^ 31, 2 ^ 53, 2 ^ 62, math.maxinteger,
                 math.mininteger, 0 / 0, math.huge, -math.huge, 1e-300, 16777217}
local STRINGS = {"", "x", "relu", "sum", "mean", "max", "accuracy", "val_loss", "a/b.nrt", "../escape.nrt",
                 "/etc/passwd", "fuzz.nrt", "fuzz.csv", "\0", string.rep("long", 300), "train", "test", "same"}
local KEYS = {"inputs", "outputs", "lr", "momentum", "size", "shape", "dim", "epochs", "batch_size", "model", "loss",
              "data", "optimizer", "path", "x", "y", "split", "p", "seed", "monitor", "mode", "patience", "axis",
              "features", "classes", "n", "noise", "shuffle", "activation", "bias", "name", "steps"}

local pool = {} -- objects returned by earlier calls: tensors, layers, datasets, ...
local function remember(v)
  local t = type(v)
  if t == "userdata" or (t == "table" and v ~= _G) then
    if #pool < 64 then pool[#pool + 1] = v else pool[random(#pool)] = v end
  end
end

local value
local function small_tensor()
  local ok, t = pcall(tensor.randn, random(4), random(4))
  return ok and t or nil
end

local function option_table(depth)
  local t = {}
  for _ = 1, random(4) - 1 do
    local key = pick(KEYS)
    -- epochs and steps stay small: a long but valid run is not a fault.
    t[key] = (key == "epochs" or key == "steps") and random(2) or value(depth + 1)
  end
  return t
end

function value(depth)
  local kind = random(depth > 2 and 6 or 10)
  if kind <= 3 then return pick(NUMBERS) end
  if kind == 4 then return random(5) end
  if kind == 5 then return pick(STRINGS) end
  if kind == 6 then return (#pool > 0 and pool[random(#pool)]) or small_tensor() end
  if kind == 7 then return small_tensor() end
  if kind == 8 then return option_table(depth) end
  if kind == 9 then
    local list = {}
    for i = 1, random(4) - 1 do list[i] = value(depth + 1) end
    return list
  end
  return pick{nil, true, false}
end

local function arguments()
  local args = {}
  local n = random(5) - 1
  for i = 1, n do args[i] = value(0) end
  return args, n
end

local stats = {calls = 0, errors = 0}
local function text_of(v)
  local ok, text = pcall(tostring, v) -- a freed object's __tostring raises
  return ok and text or type(v)
end
local function describe(v)
  if type(v) == "string" then return string.format("%q", #v > 20 and v:sub(1, 20) .. "..." or v) end
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do
      if #parts == 6 then parts[#parts + 1] = "..." break end
      parts[#parts + 1] = tostring(k) .. "=" .. (type(x) == "table" and "{...}" or text_of(x))
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return text_of(v)
end
local function call(name, fn, ...)
  stats.calls = stats.calls + 1
  if trace then
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = describe((select(i, ...))) end
    print(string.format("call %d: %s(%s)", stats.calls, name, table.concat(parts, ", ")))
  end
  local results = table.pack(pcall(fn, ...))
  if not results[1] then
    stats.errors = stats.errors + 1
    -- An error must be a message: a crash would not get here, and an error
    -- object that is not a string means a binding raised something odd.
    assert(type(results[2]) == "string" or type(results[2]) == "table",
           "an error that is not a message: " .. type(results[2]))
    return
  end
  for i = 2, results.n do remember(results[i]) end
end

-- Callables: the libraries' functions and registry entries.
local functions = {}
for lib_name, lib in pairs(LIBRARIES) do
  for name, f in pairs(lib) do
    local full = lib_name .. "." .. name
    if type(f) == "function" and not SKIP[full] then functions[#functions + 1] = {full, f} end
  end
end
for _, name in ipairs(ENTRIES) do
  local ok, f = pcall(function() return nn[name] end)
  if ok and f then functions[#functions + 1] = {"nn." .. name, f} end
end
for _, name in ipairs(OPTIMIZERS) do
  local ok, f = pcall(function() return optim[name] end)
  if ok and f then functions[#functions + 1] = {"optim." .. name, f} end
end
table.sort(functions, function(a, b) return a[1] < b[1] end)

local method_names = {}
for i = 3, #arg do method_names[#method_names + 1] = arg[i] end
for _, name in ipairs{"forward", "backward", "parameters", "zero_grad", "step", "save", "load", "size", "sum",
                      "add", "mul", "reshape", "narrow", "index", "clone", "fill", "get", "set", "batches",
                      "summary", "train", "eval", "type", "params", "state", "load_state", "split", "shuffle",
                      "__gc", "__len", "__tostring", "__add", "__sub", "__mul", "__div", "__unm", "__eq", "__call"} do
  method_names[#method_names + 1] = name
end

-- A method of obj by name (metamethods from its metatable), or nil.
local function method(obj, name)
  if name:sub(1, 2) == "__" then
    local mt = getmetatable(obj)
    return type(mt) == "table" and rawget(mt, name) or nil
  end
  local ok, f = pcall(function() return obj[name] end)
  return ok and type(f) == "function" and f or nil
end

-- Some real objects first, so that methods get exercised from the start.
for _, make in ipairs{function() return nn.Sequential{nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)} end,
                      function() return tensor.randn(4, 2) end, function() return data.xor() end,
                      function() return nn.MSELoss() end} do
  local ok, v = pcall(make)
  if ok then remember(v) end
end

for i = 1, calls do
  if random(2) == 1 or #pool == 0 then
    local f = pick(functions)
    local args, n = arguments()
    call(f[1], f[2], table.unpack(args, 1, n))
  else
    local obj = pool[random(#pool)]
    local name = pick(method_names)
    local f = method(obj, name)
    if f then
      local args, n = arguments()
      call(trace and describe(obj) .. ":" .. name or name, f, obj, table.unpack(args, 1, n))
    end
  end
  if i % 500 == 0 then collectgarbage() end
end
collectgarbage()
print(string.format("api fuzz: %d calls (%d raised an error) ran clean, seed %d, %d functions, %d method names",
                    stats.calls, stats.errors, seed, #functions, #method_names))
