-- xor.lua: XOR is not linearly separable (lecture notes, seed 001/002).
--
-- 1. One layer (a perceptron with a sigmoid) cannot learn it: at best 3 of 4.
-- 2. Built by hand from gates it works: XOR(a, b) = AND(NAND(a, b), OR(a, b)).
-- 3. Two layers learn it: 2 inputs, 4 hidden sigmoid neurons, 1 output.
--
-- Run: neurite-run scripts/xor.lua     (add --plot xor.png to see the curves)

local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}

local function report(title, model)
  local out = train.predict(model, x)
  local correct = train.correct(out, y)
  print(string.format("%-28s outputs %s  -> %d/4 correct", title,
                      table.concat((function()
                        local s = {}
                        for i = 1, 4 do s[i] = string.format("%.3f", out:get(i, 1)) end
                        return s
                      end)(), " "), correct))
  return correct
end

-- 1. One layer.
local single = nn.Sequential{nn.Dense{inputs = 2, outputs = 1, activation = "sigmoid"}}
train.fit{model = single, loss = nn.MSELoss(), optimizer = optim.SGD(single, {lr = 1.0, momentum = 0.9}),
          data = {x = x, y = y}, epochs = 2000, batch_size = 4, verbose = 0, name = "one layer"}
report("one layer (fails)", single)

-- 2. Hand-built: hidden neuron 1 is NAND, hidden neuron 2 is OR, the output is AND.
local step = nn.BinaryStep()
local hand = nn.Sequential{nn.Dense(2, 2), nn.BinaryStep(), nn.Dense(2, 1), step}
hand[1].weight:copy{{-2, -2}, {2, 2}}
hand[1].bias:copy{3, -1}
hand[3].weight:copy{{1, 1}}
hand[3].bias:copy{-1.5}
assert(report("NAND, OR -> AND (by hand)", hand) == 4)

-- 3. Two layers, learned.
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4, activation = "sigmoid"},
                            nn.Dense{inputs = 4, outputs = 1, activation = "sigmoid"}}
local history = train.fit{
  model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 2.0, momentum = 0.9}),
  data = {x = x, y = y}, epochs = 5000, batch_size = 4, metrics = {"accuracy"}, verbose = 0,
  name = "two layers",
  -- The seeds' stopping rule: until the error is small enough, or the maximum of iterations.
  callbacks = {train.early_stopping{monitor = "loss", target = 0.005, patience = 5000}},
}
print(string.format("two layers: loss %.4f after %d epochs", history.loss[#history.loss], #history.loss))
assert(report("two layers (learned)", model) == 4)
