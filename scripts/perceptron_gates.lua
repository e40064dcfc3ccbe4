-- perceptron_gates.lua: one perceptron y = step(w . x + b) computes AND, OR
-- and NAND with weights set by hand (seed 001), then learns them: a single
-- sigmoid neuron trained on each truth table.

local x = tensor{{0, 0}, {1, 0}, {0, 1}, {1, 1}}

local function perceptron(w1, w2, b)
  local m = nn.Sequential{nn.Dense(2, 1), nn.BinaryStep()}
  m[1].weight:copy{{w1, w2}}
  m[1].bias:copy{b}
  return m
end

local function row(out)
  local s = {}
  for i = 1, 4 do s[i] = string.format("%.0f", out:get(i, 1)) end
  return table.concat(s, " ")
end

print("by hand (inputs 00 10 01 11):")
print("  AND  w = (1, 1),   b = -1.5  ->  " .. row(perceptron(1, 1, -1.5):forward(x)))
print("  OR   w = (1, 1),   b = -0.5  ->  " .. row(perceptron(1, 1, -0.5):forward(x)))
print("  NAND w = (-1, -1), b = 1.5   ->  " .. row(perceptron(-1, -1, 1.5):forward(x)))

print("learned by one sigmoid neuron:")
for _, gate in ipairs{"and", "or", "nand"} do
  local ds = data.gates(gate):with_targets("index_column")       -- targets 0/1 in a column
  local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 1, activation = "sigmoid"}}
  train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 2, momentum = 0.9}),
            data = ds, epochs = 500, batch_size = 4, verbose = 0, name = gate}
  local out = train.predict(model, ds:inputs())
  local w = model[1].weight
  print(string.format("  %-4s w = (%.2f, %.2f), b = %.2f  ->  %s", gate:upper(), w:get(1, 1), w:get(1, 2),
                      model[1].bias:get(1), row(out:gt(0.5))))
end
