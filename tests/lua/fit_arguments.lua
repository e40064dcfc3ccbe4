-- train.fit's arguments of the wrong kind are errors at the script's line
-- that name the option and what it got (issue 11, "Messages"), never an
-- internal error inside train.lua.
local function fails(fn, expected)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error: " .. expected)
  assert(err:find("^.-fit_arguments%.lua:%d+: "), "not at the script's line: " .. err)
  assert(err:find(expected, 1, true), "message was: " .. err)
end

local m = nn.Sequential{nn.Dense(2, 1)}
local data = {x = tensor.zeros(4, 2), y = tensor.zeros(4, 1)}
local function fit(extra)
  local opts = {model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m:parameters(), {lr = 0.1}), data = data,
                verbose = 0}
  for k, v in pairs(extra) do opts[k] = v end
  train.fit(opts)
end

fails(function() train.fit(5) end, "train.fit: expects a table of options, got a number")
fails(function() fit{model = 5} end, "train.fit: model must be an nn.Sequential or nn.Model, got a number")
fails(function() fit{model = tensor.zeros(2)} end, "train.fit: model must be an nn.Sequential or nn.Model, got a userdata")
fails(function() fit{optimizer = 3} end, "train.fit: optimizer must be an optimizer such as optim.SGD")
fails(function() fit{epochs = "x"} end, "train.fit: epochs must be a whole number >= 0, got a string")
fails(function() fit{epochs = math.huge} end, "train.fit: epochs must be a whole number >= 0, got inf")
fails(function() fit{epochs = 2.5} end, "train.fit: epochs must be a whole number >= 0, got 2.5")
fails(function() fit{batch_size = 0} end, "train.fit: batch_size must be a whole number >= 1, got 0")
fails(function() fit{shuffle = 1} end, "train.fit: shuffle must be true or false, got a number")
fails(function() train.early_stopping{monitor = 5} end, "train.early_stopping: monitor must name an entry")
fails(function() train.checkpoint{} end, "train.checkpoint: 'path' is required")
fit{epochs = 1} -- and the right kinds still train
print("fit arguments ok")
