-- fit_error_line.lua CASE: an error raised inside train.fit (in train.lua,
-- callbacks.lua or a binding they call) is reported at the innermost line of
-- this file, the user's, not at the library's (issue 17 §4). Run by
-- fit_error_line.sh, which checks neurite-run's first line on stderr.
local case = arg[1]
local y = tensor{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}
local model = nn.Sequential{nn.Dense{inputs = 2, outputs = 4}, nn.Dense{inputs = 4, outputs = 2}}
local function fit(options)
  options.model, options.loss, options.optimizer = model, options.loss or nn.CrossEntropyLoss(), optim.SGD(model, {lr = 0.1})
  options.epochs, options.batch_size, options.verbose = 1, 4, 0
  local history = train.fit(options) -- line 11: the innermost line of the user's code
  return history
end
if case == "checkpoint" then
  fit{data = {x = tensor.randn{16, 2}, y = y}, callbacks = {train.checkpoint{path = "/nonexistent/dir/model.nrt"}}}
elseif case == "shape" then
  fit{data = {x = tensor.randn{16, 3}, y = y}}
elseif case == "loss" then
  fit{data = {x = tensor.randn{16, 2}, y = tensor.randn{16, 3}}, loss = nn.MSELoss()}
end
print("fit_error_line.lua: no error for case " .. tostring(case))
