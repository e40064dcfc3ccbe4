-- A class loss built against ABI 1.0 (the registry fixture FixturePickScore10,
-- loaded through NEURITE_PLUGIN_PATH) declares nothing about its target; the
-- host keeps the 1.0 rule for it, so Lua's 1-based classes still reach it
-- 0-based, and a bad class is named in Lua's terms.
assert(nn.FixturePickScore10, "the ABI 1.0 fixture is not loaded; is NEURITE_PLUGIN_PATH set?")
local loss = nn.FixturePickScore10()
local pred = tensor{{1, 2, 3}, {4, 5, 6}}
-- loss = -mean of each sample's class score: classes 3 and 1 pick 3 and 4.
assert(loss:forward(pred, tensor{3, 1}) == -3.5, "forward " .. loss:forward(pred, tensor{3, 1}))
local grad = loss:backward(pred, tensor{3, 1})
assert(grad:get(1, 3) == -0.5 and grad:get(2, 1) == -0.5 and grad:sum() == -1, "backward")
local ok, err = pcall(loss.forward, loss, pred, tensor{4, 1})
assert(not ok and tostring(err):find(
  "FixturePickScore10: the target of sample 1 is 4 but the prediction [2, 3] has classes 1 to 3", 1, true),
  tostring(err))
assert(nn.help("FixturePickScore10"):find("Target: not declared (an ABI 1.0 plugin)", 1, true))
print("abi_1_0_loss.lua: ok")
