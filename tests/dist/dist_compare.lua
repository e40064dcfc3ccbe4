-- dist_compare.lua ONE TWO: the curve of dist_curve.lua written by one
-- process (ONE) and by two ranks (TWO) are the same: every per-step loss
-- within 1e-4 relative, the epoch's loss and the validation loss too, and the
-- validation and test accuracies within 0.5 percentage points.
local function read(path)
  local f = assert(io.open(path, "r"))
  local r = {losses = {}}
  r.ranks = tonumber(f:read("l"):match("^ranks (%d+)$"))
  r.accuracy = tonumber(f:read("l"):match("^accuracy (%S+)$"))
  r.epoch_loss = tonumber(f:read("l"):match("^epoch_loss (%S+)$"))
  r.val_loss = tonumber(f:read("l"):match("^val_loss (%S+)$"))
  r.val_accuracy = tonumber(f:read("l"):match("^val_accuracy (%S+)$"))
  for line in f:lines() do r.losses[#r.losses + 1] = tonumber(line) end
  f:close()
  return r
end
local one, two = read(arg[1]), read(arg[2])
assert(one.ranks == 1 and two.ranks == 2, string.format("ranks %d and %d, expected 1 and 2", one.ranks, two.ranks))
assert(#one.losses == 100 and #two.losses == 100, "100 losses each")
local worst, at = 0, 0
for i = 1, 100 do
  local a, b = one.losses[i], two.losses[i]
  local rel = math.abs(a - b) / math.max(math.abs(a), 1e-12)
  if rel > worst then worst, at = rel, i end
end
-- The curve descends, so equal curves mean training happened.
assert(one.losses[100] < 0.6 * one.losses[1], string.format("the loss fell from %.4f to %.4f only",
                                                            one.losses[1], one.losses[100]))
assert(worst <= 1e-4, string.format("step %d: loss %.9g with one process, %.9g with two ranks (%.2e relative)",
                                    at, one.losses[at], two.losses[at], worst))
local epoch_rel = math.abs(one.epoch_loss - two.epoch_loss) / one.epoch_loss
assert(epoch_rel <= 1e-4, string.format("epoch loss %.9g vs %.9g", one.epoch_loss, two.epoch_loss))
-- Validation, split between the ranks and combined.
assert(math.abs(one.val_loss - two.val_loss) / one.val_loss <= 1e-4,
       string.format("validation loss %.9g vs %.9g", one.val_loss, two.val_loss))
assert(math.abs(one.val_accuracy - two.val_accuracy) <= 0.005,
       string.format("validation accuracy %.4f vs %.4f", one.val_accuracy, two.val_accuracy))
assert(math.abs(one.accuracy - two.accuracy) <= 0.005,
       string.format("test accuracy %.4f with one process, %.4f with two ranks", one.accuracy, two.accuracy))
print(string.format("same curve: largest relative difference %.2e (step %d), accuracy %.4f vs %.4f",
                    worst, at, one.accuracy, two.accuracy))
