-- data.csv's target column by number counts from 1, and from the end when
-- negative (-1 is the last), as docs/lua-api.md says; 0 and fractions are
-- errors naming the value.
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write("a,b,c\n1,10,100\n2,20,200\n3,30,300\n")
f:close()

local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "message was: " .. tostring(err))
end

local opts = {target_kind = "values", header = true}
local function target_of(target)
  opts.target = target
  local ds = data.csv(path, opts)
  return ds:targets():reshape{#ds}:totable(), ds.feature_names
end

local first, names = target_of(1)
assert(first[1] == 1 and first[3] == 3, "target = 1 is column a")
assert(names[1] == "b" and names[2] == "c", "the other columns are the features")
local last = target_of(-1)
assert(last[1] == 100 and last[2] == 200, "target = -1 is the last column")
local middle = target_of(-2)
assert(middle[1] == 10, "target = -2 is the one before")
assert(target_of(3)[3] == 300 and target_of("b")[2] == 20)
assert(target_of(nil)[1] == 100, "the default is the last column")

fails(function() target_of(0) end, "data.csv: target = 0 is not a column; columns count from 1 (-1 is the last)")
fails(function() target_of(1.5) end, "data.csv: target is 1.5; it must be an integer")
fails(function() target_of(4) end, "outside the 3 columns")
os.remove(path)
print("csv target ok")
