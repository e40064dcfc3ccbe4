-- Every options table of the Lua API refuses a key it does not know, with
-- the nearest known name and the script's line: one case per function of
-- data, nn, optim, train and monitor that takes options (issue 17 §4).
local here = arg[0]:match("^(.*[/\\])") or ""
local files = dofile(here .. "file_helpers.lua")

local x, y = tensor.randn(8, 2), tensor{1, 2, 1, 2, 1, 2, 1, 2}
local ds = data.tensors(x, y)
local model = nn.Sequential{nn.Dense(2, 2)}
local opt = optim.SGD(model, {lr = 0.1})

-- (No tail calls in the cases: a tail call leaves no line to name.)
-- fn must fail at this file's line with "unknown ... 'typo' (did you mean
-- 'near'?)", or with the list of options when no name is near: near "(options: ...)".
local checked = 0
local function refuses(typo, near, fn)
  local line = debug.getinfo(2, "l").currentline
  local expected = near:sub(1, 1) == "(" and "'" .. typo .. "' " .. near or "'" .. typo .. "' (did you mean '" .. near .. "'?)"
  local err = files.fails(expected, fn)
  assert(err:find("unknown %a+ '" .. typo .. "'"), err) -- "unknown option", or a plugin's "unknown parameter"
  local at = tonumber(err:match("option_keys%.lua:(%d+):"))
  assert(at and math.abs(at - line) <= 3, "the error names the script's line (near " .. line .. "): " .. err)
  checked = checked + 1
end

-- data
refuses("n", "(options: count, noise, seed)", function() local _ = data.moons{n = 400} end) -- the quick form's old mistake
refuses("cont", "count", function() local _ = data.moons{cont = 400} end)
refuses("nosie", "noise", function() local _ = data.xor{nosie = 0.1} end)
refuses("arm", "arms", function() local _ = data.spirals{arm = 3} end)
refuses("stdev", "stddev", function() local _ = data.gaussians{stdev = 1} end)
refuses("frequncy", "frequency", function() local _ = data.sine{frequncy = 2} end)
refuses("splt", "split", function() local _ = data.fashion_mnist{splt = "test"} end)
refuses("knd", "kind", function() local _ = data.tensors(x, y, {knd = "classes"}) end)
refuses("delimter", "delimiter", function() local _ = data.csv("none.csv", {delimter = ";"}) end)
refuses("scal", "scale", function() local _ = data.npy("x.npy", nil, {scal = true}) end)
refuses("grayscal", "grayscale", function() local _ = data.images(".", {grayscal = true}) end)
refuses("scael", "scale", function() local _ = data.idx("i", "l", {scael = true}) end)
refuses("sed", "seed", function() local _ = ds:split(0.5, {sed = 1}) end)
refuses("trian", "train", function() local _ = ds:split{trian = 0.5} end)
refuses("sise", "size", function() local _ = ds:batches{sise = 2} end)
-- nn
refuses("bais", "bias", function() local _ = nn.Dense{inputs = 2, outputs = 2, bais = false} end)
refuses("activaton", "activation", function() local _ = nn.Dense(2, 2, {activaton = "relu"}) end)
refuses("shap", "shape", function() local _ = nn.Input{shap = {2}} end)
refuses("input", "inputs", function()
  local i = nn.Input{2}
  local _ = nn.Model{input = i, outputs = i}
end)
refuses("sdt", "std", function() local _ = nn.Normalize{sdt = 1} end)
-- optim
refuses("momentom", "momentum", function() local _ = optim.SGD(model, {lr = 0.1, momentom = 0.9}) end)
refuses("betas2", "betas", function() local _ = optim.Adam(model, {betas2 = 0.9}) end)
refuses("histroy_size", "history_size", function() local _ = optim.LBFGS(model, {histroy_size = 5}) end)
refuses("gama", "gamma", function() local _ = optim.lr_scheduler.StepLR(opt, {step_size = 2, gama = 0.5}) end)
refuses("norm_typ", "norm_type", function() local _ = optim.clip_grad_norm(model:parameters(), 1, {norm_typ = 2}) end)
refuses("factr", "factor", function() local _ = optim.lr_scheduler.ReduceLROnPlateau(opt, {factr = 0.5}) end)
-- train
refuses("epoch", "epochs", function()
  local _ = train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = opt, data = ds, epoch = 1}
end)
refuses("batchsize", "batch_size", function() local _ = train.evaluate{model = model, data = ds, batchsize = 4} end)
refuses("patiance", "patience", function() local _ = train.early_stopping{patiance = 2} end)
refuses("pth", "path", function() local _ = train.checkpoint{pth = "x.nrt"} end)
refuses("gama", "gamma", function() local _ = train.lr_schedule{kind = "step", gama = 0.5} end)
refuses("epsilion", "epsilon", function() local _ = train.gradient_check{model = model, epsilion = 1} end)
refuses("iteration", "iterations", function() local _ = train.curvature{model = model, iteration = 1} end)
refuses("clases", "classes", function() local _ = train.confusion{model = model, data = ds, clases = 2} end)
refuses("metrc", "metric", function() local _ = train.sweep{grid = {}, run = print, metrc = "loss"} end)
-- monitor: its options are names of its own (hyperparameters), but its
-- functions with fixed arguments refuse a table where a name belongs.
files.fails("monitor.hparams: hyperparameters are given by name", function() monitor.hparams{1, 2} end)

print(string.format("option keys ok: %d functions refuse an unknown key", checked))
