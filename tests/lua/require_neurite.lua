-- require "neurite" from Debian's lua5.4 (a C build of Lua), not neurite-run:
--   lua5.4 -e 'package.cpath = "BUILD/lib/lua/5.4/?.so;" .. package.cpath' require_neurite.lua
-- Values cross between the interpreter and Neurite's own Lua state
-- (host/lua/src/embed_abi.h): checked here on known values, a training run,
-- the interpreter's functions called back from train.fit, and errors that
-- must come back as Lua errors at this script's lines.
assert(_VERSION == "Lua 5.4")
assert(not neurite_run, "run this with lua5.4, not neurite-run")
local neurite = require "neurite"
assert(require "neurite" == neurite, "require keeps the module")
for _, name in ipairs{"tensor", "nn", "optim", "data", "train", "monitor", "dist", "json"} do
  assert(neurite[name], "neurite." .. name .. " is missing")
end
local tensor, nn, optim, data, train = neurite.tensor, neurite.nn, neurite.optim, neurite.data, neurite.train

-- Tensors: values, metamethods, identity.
local a = tensor{{1, 2}, {3, 4}}
local b = tensor{{5, 6}, {7, 8}}
local c = a:matmul(b)
assert(c[1][1] == 19 and c[1][2] == 22 and c[2][1] == 43 and c[2][2] == 50, "matmul by hand: " .. tostring(c))
assert(#a == 2, "#t is the first dimension")
assert((a + b):sum() == 36 and (a * 2):sum() == 20 and (-a):sum() == -10 and (2 * a):sum() == 20)
assert(a:size(2) == 2 and a:dim() == 2)
local shape = a:shape()
assert(type(shape) == "table" and shape[1] == 2 and shape[2] == 2, "a shape comes back as a Lua table")
assert(tensor.is_tensor(a) and not tensor.is_tensor({}))
assert(type(a) == "userdata" and type(tensor.zeros) == "function")
assert(tostring(a):find("tensor %[2, 2%]"), tostring(a))
local names = {}
for name in pairs(nn) do names[name] = true end -- nn has a metatable: pairs goes through the proxy
assert(names.Sequential and names.define and names.Input, "pairs over nn")
local m = nn.Dense(3, 2)
assert(m == m and m:parameters() ~= nil)

-- A training run: y = 2x + 1 with one Dense, train.fit, and a callback of
-- this interpreter that train.fit (in Neurite's state) calls every epoch.
tensor.seed(7)
local x = tensor.linspace(-1, 1, 64):reshape(64, 1)
local y = x * 2 + 1
local model = nn.Sequential{nn.Dense(1, 1)}
local epochs_seen, last_loss = 0, nil
local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                          data = {x = x, y = y}, epochs = 200, batch_size = 16, verbose = 0,
                          callbacks = {{on_epoch_end = function(_, logs)
                            epochs_seen = epochs_seen + 1
                            last_loss = logs.loss
                          end}}}
assert(epochs_seen == 200, "the callback ran every epoch: " .. epochs_seen)
assert(#history.loss == 200 and history.loss[200] == last_loss, "the callback saw the logged loss")
assert(history.loss[200] < 1e-6 and history.loss[200] < history.loss[1] / 1000,
       "the loss falls: " .. history.loss[1] .. " -> " .. history.loss[200])
local pred = train.predict(model, tensor{{0}, {1}})
assert(math.abs(pred[1][1] - 1) < 1e-3 and math.abs(pred[2][1] - 3) < 1e-3,
       "the model learned 2x + 1: " .. tostring(pred))

-- A plain loop of forward, backward and step, as in neurite-run.
local loop = nn.Sequential{nn.Dense(1, 1)}
local loss, opt = nn.MSELoss(), optim.SGD(loop:parameters(), {lr = 0.1})
local first
for step = 1, 300 do
  opt:zero_grad()
  local out = loop:forward(x)
  local value = loss:forward(out, y)
  first = first or value
  loop:backward(x, loss:backward(out, y), false)
  opt:step()
  if step == 300 then assert(value < first / 100, "the loop trains: " .. first .. " -> " .. value) end
end

-- A stateless layer written in this interpreter, called back from the model.
local Double = nn.define{name = "Double", forward = function(_, v) return v * 2 end,
                         backward = function(_, _, g) return g * 2 end}
local doubled = nn.Sequential{nn.Dense(1, 1), Double()}
local plain = doubled:forward(x):clone()
assert(doubled:forward(x):sum() == plain:sum() and math.abs(plain:sum() - 2 * doubled[1]:forward(x):sum()) < 1e-4,
       "nn.define's forward ran in the model")

-- A layer with a learnable parameter and state kept from forward for backward:
-- its `self` (a table with a metatable) crosses as a proxy, so what init and
-- forward store in it stays.
nn.define{name = "Scale", params = {{name = "features", type = "int", min = 1}}, parameters = {"s"},
          init = function(self) self.s = tensor.full({self.features}, 0.5) end,
          forward = function(self, v) self.seen = v; return v * self.s end,
          backward = function(self, v, g)
            assert(self.seen, "forward's state reached backward")
            self.grads.s:add_((g * v):sum(1))
            return g * self.s
          end,
          output_shape = function(_, s) return s end}
local scaled = nn.Sequential{nn.Scale{features = 2}}
local input = tensor{{1, 2}, {3, 4}}
local out = scaled:forward(input)
assert(out[2][2] == 2, "0.5 x 4: " .. tostring(out))
scaled:backward(input, tensor.ones(2, 2), false)
local grad = scaled:parameters()[1].grad
assert(grad[1] == 4 and grad[2] == 6, "the gradient of s sums the inputs' columns: " .. tostring(grad))

-- Errors: a bad shape, a wrong argument and an error in a callback are Lua
-- errors at this script's line, and the interpreter goes on.
local ok, err = pcall(function() return nn.Dense(3, 2):forward(tensor.ones(4, 5)) end)
assert(not ok and err:find("require_neurite.lua:%d+:") and err:find("Dense") and err:find("5"),
       "a bad shape gives a Lua error naming the layer and the shape: " .. tostring(err))
ok, err = pcall(function() return tensor.zeros("three") end)
assert(not ok and err:find("require_neurite.lua:%d+: tensor.zeros: dimension 1 is \"three\""), tostring(err))
ok, err = pcall(train.fit, {model = loop, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y}, epochs = 2,
                            verbose = 0, callbacks = {{on_epoch_end = function() error("stop here") end}}})
assert(not ok and err:match("^[^:]*require_neurite.lua:%d+: stop here$"),
       "a callback's error reaches the script as it raised it: " .. tostring(err))
local raised = {reason = "a table"}
ok, err = pcall(train.fit, {model = loop, loss = nn.MSELoss(), optimizer = opt, data = {x = x, y = y}, epochs = 2,
                            verbose = 0, callbacks = {{on_epoch_end = function() error(raised) end}}})
assert(not ok and err == raised, "an error object comes back itself: " .. tostring(err))
ok, err = pcall(tensor.zeros, coroutine.create(function() end))
assert(not ok and err:find("cannot pass a thread"), tostring(err))

-- Many temporary tensors: the proxies are collected, and their tensors with them.
for _ = 1, 2000 do local _ = tensor.zeros(256, 256) end -- 512 MB if none were freed
collectgarbage()

-- data: a generated dataset, read through the module.
local ds = data.tensors(x, y)
assert(#ds == 64, "a dataset of 64 samples: " .. #ds)
print(string.format("require_neurite ok: final loss %.3g, prediction at 1: %.4f", history.loss[200], pred[2][1]))
