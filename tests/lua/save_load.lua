-- m:save / nn.load round trip: bitwise-equal outputs, optimizer state and
-- extras, a Lua-defined layer saved by name, and clear errors for a missing
-- definition and for damaged files.
nn.define{kind = "activation", name = "Cube",
          forward = function(self, x) return x * x * x end,
          backward = function(self, x, g) return g * x * x * 3 end}

local x = tensor.randn{5, 4}
local model = nn.Sequential{nn.Dense(4, 6, {activation = "relu"}), nn.Cube(), nn.Dense(6, 3),
                            nn.PReLU{channels = 3}}
local opt = optim.Adam(model, {lr = 0.01})
local y = tensor.randn{5, 3}
local loss = nn.MSELoss()
for _ = 1, 5 do
  opt:zero_grad()
  local pred = model:forward(x)
  loss:forward(pred, y)
  model:backward(x, loss:backward(pred, y), false)
  opt:step()
end
local expected = model:forward(x):clone() -- a view of the output buffer: kept past the next forward
model:save("save_load.nrt", {optimizer = opt, note = "hello"})

local loaded, extras = nn.load("save_load.nrt")
assert(#loaded == 4, "four layers come back")
assert(loaded:forward(x):equal(expected), "outputs are bitwise equal after loading")
assert(extras.note == "hello" and extras["optimizer.name"] == "Adam")
local opt2 = optim.Adam(loaded, {lr = 0.01})
opt2:load_state(extras.optimizer)
assert(opt2:state() == opt:state(), "the optimizer state round-trips")
-- One more identical step on both keeps them identical.
for _, pair in ipairs{{model, opt}, {loaded, opt2}} do
  local m, o = pair[1], pair[2]
  o:zero_grad()
  local pred = m:forward(x)
  m:backward(x, loss:backward(pred, y), false)
  o:step()
end
assert(loaded:forward(x):equal(model:forward(x)), "training continues identically")

-- m:load into a model of the same layers.
local same = nn.Sequential{nn.Dense(4, 6, {activation = "relu"}), nn.Cube(), nn.Dense(6, 3),
                           nn.PReLU{channels = 3}}
same:load("save_load.nrt")
assert(same:forward(x):equal(expected))
local other = nn.Sequential{nn.Dense(4, 7)}
local ok, err = pcall(other.load, other, "save_load.nrt")
assert(not ok and err:find("has 4 layers but the model has 1", 1, true), err)

-- Damaged files: an error that names the file and the byte, never a crash.
local f = assert(io.open("save_load.nrt", "rb")); local bytes = f:read("a"); f:close()
local function write(name, data) local g = assert(io.open(name, "wb")); g:write(data); g:close() end
write("truncated.nrt", bytes:sub(1, 100))
ok, err = pcall(nn.load, "truncated.nrt")
assert(not ok and err:find("checkpoint 'truncated.nrt' is truncated", 1, true) and err:find("byte"), err)
write("corrupt.nrt", bytes:sub(1, 60) .. string.char((bytes:byte(61) + 1) % 256) .. bytes:sub(62))
ok, err = pcall(nn.load, "corrupt.nrt")
assert(not ok and err:find("is corrupt: the checksum", 1, true), err)
write("version.nrt", bytes:sub(1, 8) .. "\7\0\0\0" .. bytes:sub(13))
ok, err = pcall(nn.load, "version.nrt")
assert(not ok and err:find("has format version 7 (byte 8) but this Neurite reads versions 1 to 2", 1, true), err)
write("notone.nrt", "hello world, this is not a checkpoint at all")
ok, err = pcall(nn.load, "notone.nrt")
assert(not ok and err:find("is not a Neurite checkpoint", 1, true), err)
ok, err = pcall(nn.load, "does-not-exist.nrt")
assert(not ok and err:find("cannot open checkpoint 'does-not-exist.nrt'", 1, true), err)
for cut = 0, #bytes - 1, 97 do -- every prefix length class fails cleanly
  write("cut.nrt", bytes:sub(1, cut))
  assert(not pcall(nn.load, "cut.nrt"))
end
-- Entries by registry name and library name, never by the path of a plugin
-- file (docs/model-format.md), so the file loads on another machine.
assert(bytes:find('"entry":"Dense"', 1, true) and bytes:find('"library":"neurite-dense"', 1, true),
       "nodes are named by entry and library")
assert(not bytes:find(".so", 1, true) and not bytes:find("/plugins", 1, true), "no plugin path is stored")
print("save/load ok")
