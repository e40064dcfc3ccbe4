-- A layer plugin that dereferences null in forward on a batch of 4 (the
-- registry fixture FixtureNullForward), inside a model: the crash report
-- names the plugin, the entry, the call and the batch.
assert(nn.FixtureNullForward, "the crashing fixture is not loaded; is NEURITE_PLUGIN_PATH set?")
local model = nn.Sequential{nn.Dense(2, 3), nn.FixtureNullForward()}
print("one sample: " .. #model:forward(tensor{{1, 2}}))
model:forward(tensor.zeros(4, 2))
print("never printed: the forward on a batch of 4 crashes")
