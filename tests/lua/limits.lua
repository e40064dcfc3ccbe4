-- Run with --max-memory or --time-limit; arg[1] picks what passes the limit.
-- Each ends the run with an error at the line below that passed it.
local case = arg[1]
if case == "table" then
  local t = {}
  for i = 1, 1e9 do t[i] = {i} end -- line 6
elseif case == "tensors" then
  local keep = {}
  for i = 1, 1e6 do keep[i] = tensor.zeros(1000000) end -- line 9
elseif case == "huge_tensor" then
  local z = tensor.zeros{1e6, 1e6} -- line 11
elseif case == "forward" then
  local m = nn.Sequential{nn.Dense(100, 1000)}
  local y = m:forward(tensor.zeros(100000, 100)) -- line 14
elseif case == "caught" then
  -- A script that catches the error and goes on allocating meets it again.
  local ok, err = pcall(function() local t = {} for i = 1, 1e9 do t[i] = {i} end end)
  print("caught: " .. tostring(err))
  local t = {}
  for i = 1, 1e9 do t[i] = {i} end -- line 20
elseif case == "loop" then
  while true do end -- line 22
elseif case == "fit" then
  local x, y = tensor.randn(64, 4), tensor.randn(64, 1)
  local m = nn.Sequential{nn.Dense(4, 1)}
  train.fit{model = m, loss = nn.MSELoss(), optimizer = optim.SGD(m, {lr = 0.01}), data = {x = x, y = y},
            epochs = 1e9, batch_size = 8, verbose = 0,
            callbacks = {train.checkpoint{path = arg[2]}}} -- line 28
end
print("not reached")
