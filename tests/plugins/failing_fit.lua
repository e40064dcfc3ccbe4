-- A plugin layer whose forward fails (the registry fixture FixtureFailing,
-- loaded through NEURITE_PLUGIN_PATH) stops train.fit with the plugin's own
-- message and the layer's name; the runtime goes on and trains another model.
local x = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local y = tensor{{0}, {1}, {1}, {0}}
assert(nn.FixtureFailing, "the failing fixture is not loaded; is NEURITE_PLUGIN_PATH set?")

local broken = nn.Sequential{nn.Dense{inputs = 2, outputs = 1}, nn.FixtureFailing()}
local ok, err = pcall(train.fit, {model = broken, loss = nn.MSELoss(),
                                  optimizer = optim.SGD(broken, {lr = 0.1}),
                                  data = {x = x, y = y}, epochs = 5, batch_size = 2, verbose = 0})
assert(not ok, "train.fit went on past a failing layer")
err = tostring(err)
for _, part in ipairs{"deliberate failure in forward", "FixtureFailing", "layer 2"} do
  assert(err:find(part, 1, true), "the error lacks '" .. part .. "': " .. err)
end
print("train.fit stopped: " .. err)

-- Failures whose status the host once dropped: an optimizer refusing its
-- parameters says what kind of failure it was, and a layer whose zero_grad
-- clears nothing (zero_grad returns no status) stops the run at its second step.
local function fails(fn, parts)
  local ok, message = pcall(fn)
  assert(not ok, "no error; expected: " .. parts[1])
  for _, part in ipairs(parts) do
    assert(tostring(message):find(part, 1, true), "the error lacks '" .. part .. "': " .. tostring(message))
  end
end
fails(function() optim.FixtureRefusing(nn.Dense(2, 1)) end,
      {"FixtureRefusing: attach failed (shape error): FixtureRefusing takes matrices only"})
local leaky = nn.Sequential{nn.Dense{inputs = 2, outputs = 1}, nn.FixtureNoClear()}
local steps = 0
fails(function()
  train.fit{model = leaky, loss = nn.MSELoss(), optimizer = optim.SGD(leaky, {lr = 0.1}),
            data = {x = x, y = y}, epochs = 5, batch_size = 2, verbose = 0,
            callbacks = {{on_batch_end = function() steps = steps + 1 end}}}
end, {"layer 2 (FixtureNoClear): zero_grad left the gradient of 'weight' [1]"})
assert(steps == 1, "the run stopped at its second step, after " .. steps)

-- The same runtime keeps working: a healthy model trains to the end.
local model = nn.Sequential{nn.Dense(2, 8, {activation = "tanh"}), nn.Dense(8, 1, {activation = "sigmoid"})}
local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.Adam(model, {lr = 0.05}),
                          data = {x = x, y = y}, epochs = 300, batch_size = 4, verbose = 0}
assert(#history.loss == 300 and history.loss[300] < history.loss[1], "the second run trained")
print(string.format("afterwards: loss %.4f -> %.4f", history.loss[1], history.loss[300]))
