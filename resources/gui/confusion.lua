-- The window runs this after a script ends: which classes the last fitted
-- model mixes up, on its validation data (or on up to 10,000 training
-- samples), for class data only. The window sets the globals below and
-- __neurite_show, which draws the matrix in the Model panel.
local model, target, validation, show = __neurite_model, __neurite_data, __neurite_validation, __neurite_show
__neurite_model, __neurite_data, __neurite_validation, __neurite_show = nil, nil, nil, nil
-- The rule train.evaluate uses too: a dataset's kind, a table's kind, else y's values.
if data.target_kind(target) ~= "classes" then return end
local limit, what = 10000, validation and "validation" or "training"
if not validation and type(target) == "userdata" and #target > limit then
  target, what = target:slice(1, limit), string.format("the first %d training", limit)
elseif not validation and type(target) == "table" and #(target.x or target[1]) > limit then
  local y = target.y or target[2]
  target = {x = (target.x or target[1]):narrow(1, 1, limit), y = y:narrow(1, 1, limit)}
  what = string.format("the first %d training", limit)
end
local ok, c = pcall(train.confusion, {model = model, data = target})
if ok and c.classes >= 2 and c.classes <= 20 then
  show(c.matrix, type(target) == "userdata" and target.classes or nil,
       string.format("%s samples: accuracy %.4f over %d", what, c.accuracy, c.samples))
end
