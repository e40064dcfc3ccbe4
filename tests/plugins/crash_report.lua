-- A loss plugin that dereferences null on a batch of 4 (the registry fixture
-- FixtureNullLoss). The crash cannot be survived in-process, but it must be
-- named: neurite-run writes which plugin, entry and call crashed, and the
-- lines printed before it reach stdout even when stdout is not a terminal.
assert(nn.FixtureNullLoss, "the crashing fixture is not loaded; is NEURITE_PLUGIN_PATH set?")
print("printed before the crash")
local loss = nn.FixtureNullLoss()
print("batch 1 gives " .. loss:forward(tensor{{0.2, 0.8}}, tensor{{0, 1}}))
loss:forward(tensor.zeros(4, 2), tensor.zeros(4, 2))
print("never printed: the forward on a batch of 4 crashes")
