-- Bad input gives a clear message (with the script's line), never a crash.
local function fails(fn, pattern)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error matching: " .. pattern)
  assert(err:find(pattern, 1, true), "message was: " .. tostring(err))
end
fails(function() nn.Dense(3, 3):forward(tensor{{1, 2, 3, 4}}) end,
      "errors.lua:7: Dense: input [1, 4] does not fit: Dense expects 3 input features per sample, got 4")
fails(function() nn.Sequential{nn.Dense(3, 3), nn.Dense(4, 2)}:forward(tensor{{1, 2, 3}}) end,
      "layer 2 (Dense): input [1, 3] does not fit")
fails(function() return tensor{1, 2} + tensor{1, 2, 3} end,
      "tensor +: shapes [2] and [3] do not match")
fails(function() tensor{{1, 2}}:matmul(tensor{{1, 2}}) end,
      "t:matmul: shapes [1, 2] and [1, 2] do not fit (2 columns against 1 rows)")
fails(function() nn.Dense(3, 3):forward(5) end,
      "layer:forward: argument 1 must be a tensor or a table of tensors (the inputs), got a number")
fails(function() tensor{{1, 2}, {3}} end, "tensor: the table at [2] has 1 elements")
fails(function() nn.Dnse(3, 3) end, "unknown plugin 'Dnse' (did you mean 'Dense'?)")
fails(function() nn.Dense(3) end, "Dense: parameter 'outputs' is required")
fails(function() nn.Dense{inputs = 3, outputs = 3, activation = "sigmoidd"} end,
      "parameter 'activation' must be one of identity, relu")
fails(function() nn.Dense(3, 3, true, "relu", "he", "none", 7) end, "nn.Dense takes at most 6 parameters")
fails(function() optim.Adam(nn.Dense(2, 2), {betas = {0.9}}) end, "parameter 'betas' must have 2 numbers, got 1")
fails(function() nn.CrossEntropyLoss():forward(tensor{{1, 2}}, tensor{3}) end,
      "CrossEntropyLoss: the target of sample 1 is 3 but the prediction [1, 2] has classes 1 to 2")
fails(function() nn.MSELoss():forward(tensor{{1, 2}}, tensor{{1, 2, 3}}) end, "target [1, 3]")
fails(function() tensor{1, 2}:get(3) end, "t:get: index 3 is out of range for dimension 1 of size 2")
fails(function() nn.Sequential{nn.Dense(2, 2)}:forward(tensor{{0/0, 1}}) end, "NaN and Inf")
fails(function() nn.Adam() end, "'Adam' is an optimizer; use optim.Adam")
fails(function() nn.define{name = "Bad", forward = 1} end, "'forward' must be a function, got a number")
nn.define{name = "Broken", forward = function(self, x) return x.nope.x end, backward = function() end}
fails(function() nn.Broken():forward(tensor{1}) end, "Broken: input [1] does not fit (invalid argument): Lua layer 'Broken': forward on zeros")
fails(function() nn.Broken():forward(tensor{1}) end, "attempt to index a nil value (field 'nope')")
local opt = optim.SGD(nn.Dense(2, 2), {lr = 0.1})
fails(function() opt.lr = "fast" end, "SGD.lr must be a number, got a string")
fails(function() opt.lr = -1 end, "SGD: setting 'lr' failed")
-- A Lua layer that calls its own model is refused, not a crash.
local model
nn.define{name = "Recur", forward = function(self, x) return model:forward(x) end,
          backward = function(self, x, g) return g end}
model = nn.Sequential{nn.Dense(2, 2), nn.Recur()}
fails(function() model:forward(tensor{{1, 2}}) end, "Sequential: forward: the model is computing")
nn.define{name = "Grow", forward = function(self, x) model:add(nn.Dense(2, 2)); return x end,
          backward = function(self, x, g) return g end}
model = nn.Sequential{nn.Dense(2, 2), nn.Grow()}
fails(function() model:forward(tensor{{1, 2}}) end, "Sequential: changing the model: the model is computing")
nn.define{name = "Poke", forward = function(self, x) model[1]:forward(tensor{{1, 2, 3}}); return x end,
          backward = function(self, x, g) return g end}
model = nn.Sequential{nn.Dense(2, 2), nn.Poke()}
fails(function() model:forward(tensor{{1, 2}}) end, "layer 1 (Dense): forward: the model is computing")
fails(function() tensor.zeros{2 ^ 32, 2 ^ 32} end, "has more elements than fit in memory")
fails(function() tensor{}:reshape{2 ^ 32, 2 ^ 32, 16} end, "has more elements than fit in memory")
print("errors ok")
