-- neurite/layers.lua: nn.Normalize, preprocessing that travels with the
-- model. The Normalize plugin (plugins/layer/normalize) computes
-- y = (x - mean) / std per element of a sample, its mean and std buffers
-- saved in the model's checkpoint; this file gives it the Lua face that
-- fills them from numbers or from the training data:
--   nn.Normalize{mean = {0.5, 2}, std = {0.25, 1}}   -- given statistics
--   nn.Normalize{data = train_ds}                     -- measured on a split
--   nn.Normalize{features = 784}                      -- identity until set
--   nn.Normalize{data = images, per_channel = true}   -- one mean and std a channel
-- Statistics of `features` values apply per element of a sample when a
-- sample has that many elements, else per channel (dimension 2) of an input
-- of three or more dimensions: {0.5, 0.5, 0.5} for [batch, 3, 32, 32], as
-- torchvision's Normalize.
-- A dataset, a tensor of samples (rows) or {x = tensor} is read in batches
-- of 1024 samples; std is the population standard deviation, and a
-- feature that never varies (std 0) gets std 1, so it is only centred.
-- nn.load(path) gives back the plugin layer with its statistics.

local neurite = ...
local nn, tensor, check_options = neurite.nn, neurite.tensor, neurite.check_options
local pcall = neurite._library_pcall -- Lua's own: see runtime.cpp

local function describe(v)
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

-- The statistic `key` (a tensor, a table of numbers or a number) as a flat
-- tensor, or nil.
local function statistic(opts, key, fn)
  local v = opts[key]
  if v == nil then return nil end
  if type(v) == "number" then v = {v} end
  if type(v) == "table" and not tensor.is_tensor(v) then
    local ok, t = pcall(tensor, v)
    if not ok then error(string.format("%s: %s must be a tensor or a list of numbers", fn, key), 4) end
    v = t
  end
  if not tensor.is_tensor(v) then
    error(string.format("%s: %s must be a tensor or a list of numbers, got %s", fn, key, describe(v)), 4)
  end
  return v:reshape{v:numel()}
end

-- Per-feature (or per-channel) sums of x and x² over the samples of
-- `data`, in Lua numbers (doubles), batch by batch; and how many values
-- each sum holds. Errors carry no position (the caller adds the script's).
local function feature_sums(data, fn, per_channel)
  local sums, squares, count, features = nil, nil, 0, nil
  local function add(x)
    local n = x:size(1)
    if n == 0 then return end
    if per_channel and x:dim() < 3 then
      error(string.format("%s: per_channel needs samples of two or more dimensions ({batch, channels, ...}), " ..
                          "got [%s]", fn, table.concat(x:shape(), ", ")), 0)
    end
    local width = per_channel and x:size(2) or x:numel() // n
    local rows = x:reshape{n, width, x:numel() // (n * width)}
    if features and width ~= features then
      error(string.format("%s: samples of %d and of %d features in the same data", fn, features, width), 0)
    end
    features = width
    local s, q = rows:sum(3):sum(1):totable(), (rows * rows):sum(3):sum(1):totable()
    sums, squares = sums or {}, squares or {}
    for j = 1, features do
      sums[j], squares[j] = (sums[j] or 0) + s[j], (squares[j] or 0) + q[j]
    end
    count = count + n * rows:size(3)
  end
  if type(data) == "table" and not tensor.is_tensor(data) then data = data.x or data[1] end
  if tensor.is_tensor(data) then
    local n = #data
    for first = 1, n, 1024 do add(data:narrow(1, first, math.min(1024, n - first + 1))) end
  elseif type(data) == "userdata" and data.batches then
    for x in data:batches{size = 1024, shuffle = false} do add(x) end
  else
    error(fn .. ": data must be a dataset, a tensor of samples or {x = tensor}, got " .. describe(data), 0)
  end
  if count == 0 then error(fn .. ": the data has no samples to measure", 0) end
  return sums, squares, count, features
end

local function measured(data, fn, per_channel)
  local sums, squares, count, features = feature_sums(data, fn, per_channel)
  local mean, std = {}, {}
  for j = 1, features do
    mean[j] = sums[j] / count
    local variance = math.max(squares[j] / count - mean[j] * mean[j], 0)
    std[j] = math.sqrt(variance)
    -- Constant up to float rounding of the sums: only centre it.
    if std[j] <= 1e-6 * math.max(math.abs(mean[j]), 1) then std[j] = 1 end
  end
  return tensor(mean), tensor(std)
end

local plugin -- the Normalize plugin's own constructor, found on first use
local wrapper

-- nn.Normalize{mean =, std =} | {data =} | {features =}, or nn.Normalize(features).
wrapper = function(opts)
  local fn = "nn.Normalize"
  if plugin == nil then
    plugin = getmetatable(nn).__index(nn, "Normalize") -- nn's lookup caches the plugin under the name:
    rawset(nn, "Normalize", wrapper)                   -- this face stays in front of it
  end
  if math.type(opts) == "integer" then opts = {features = opts} end
  if type(opts) ~= "table" then
    error(fn .. ": expects {mean =, std =}, {data =} or {features =}, got " .. describe(opts), 2)
  end
  check_options(opts, fn, {"mean", "std", "data", "features", "per_channel"})
  local mean, std = statistic(opts, "mean", fn), statistic(opts, "std", fn)
  if opts.data ~= nil then
    if mean or std then error(fn .. ": give data (to measure mean and std) or mean and std, not both", 2) end
    local ok, m, s = pcall(measured, opts.data, fn, opts.per_channel) -- its errors, at the script's line
    if not ok then error(m, type(m) == "string" and 2 or 0) end
    mean, std = m, s
  end
  local features = opts.features or (mean and mean:numel()) or (std and std:numel())
  if features == nil then
    error(fn .. ": give mean and std, data to measure them on, or features (the size of a sample)", 2)
  end
  for key, t in pairs{mean = mean, std = std} do
    if t:numel() ~= features and t:numel() ~= 1 then
      error(string.format("%s: %s has %d values for %d features", fn, key, t:numel(), features), 2)
    end
  end
  if std and std:le(0):sum() > 0 then error(fn .. ": every std must be positive", 2) end
  local ok, layer = pcall(plugin, {features = features})
  if not ok then error(layer, 2) end
  if mean then layer.mean = mean:numel() == 1 and tensor.full({features}, mean:get(1)) or mean end
  if std then layer.std = std:numel() == 1 and tensor.full({features}, std:get(1)) or std end
  return layer
end

rawset(nn, "Normalize", wrapper)
