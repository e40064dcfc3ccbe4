-- Whether data holds class labels is decided in one place, data.target_kind:
-- a dataset says it (ds.kind), a table may say it (kind = ...), otherwise
-- y's values decide, never y's shape alone. train.evaluate's default
-- metrics, train.correct, data.tensors and the window all ask it.
local function fails(fn, part)
  local ok, err = pcall(fn)
  assert(not ok, "no error; expected: " .. part)
  assert(tostring(err):find(part, 1, true), "the error lacks '" .. part .. "': " .. tostring(err))
end
local function kind(source)
  local k, encoding = data.target_kind(source)
  return encoding and (k .. " " .. encoding) or k
end

local x4 = tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local cases = {
  {{x = x4, y = tensor{1, 2, 2, 1}}, "classes index"},         -- class numbers from 1
  {{x = x4, y = tensor{{1}, {2}, {3}, {1}}}, "classes index"},  -- the same as a column
  {{x = x4, y = tensor{{0}, {1}, {1}, {0}}}, "classes index_column"}, -- 0/1 labels
  {{x = x4, y = tensor{0, 1, 1, 0}}, "classes index_column"},
  {{x = x4, y = tensor{{1, 0}, {0, 1}, {0, 1}, {1, 0}}}, "classes one_hot"},
  {{x = x4, y = tensor{0.4, 0.2, -1.0, 1.5}}, "values"},        -- regression, shape [N]
  {{x = x4, y = tensor{{0.2, 0.8}, {1, 0}, {0, 1}, {1, 0}}}, "values"}, -- soft labels
  {{x = x4, y = tensor{0, 1, 2, 1}}, "values"},                  -- 0-based: not Lua's classes
  {{x = x4, y = tensor{1, 2, 2, 1}, kind = "values"}, "values"},  -- declared
  {{x4, tensor{1, 2, 2, 1}}, "classes index"},                   -- {x, y} by position
  {{x = x4}, "none"},
  {data.xor(), "classes index"},
  {data.sine{count = 8}, "values"},
  {tensor{3, 1, 2}, "classes index"},                            -- targets alone
}
for i, case in ipairs(cases) do
  assert(kind(case[1]) == case[2], "case " .. i .. ": " .. kind(case[1]) .. ", expected " .. case[2])
end
fails(function() data.target_kind(5) end, "data.target_kind: argument 1 must be a dataset")
fails(function() data.target_kind{x = x4, y = tensor{1, 2, 2, 1}, kind = "labels"} end,
      "a table's kind must be \"classes\" or \"values\", got \"labels\"")
fails(function() data.target_kind{x = x4, y = tensor{0.5, 1, 1, 1}, kind = "classes"} end,
      "the table says kind = \"classes\" but its y [4] holds no class labels")

-- train.evaluate reports accuracy by default for class data only.
local regression = nn.Sequential{nn.Dense(2, 1)}
local r = train.evaluate{model = regression, data = {x = x4, y = tensor{0.4, 0.2, -1.0, 1.5}}, loss = nn.MSELoss()}
assert(r.loss and r.accuracy == nil, "no accuracy for a regression target [N]")
local classifier = nn.Sequential{nn.Dense(2, 2), nn.Softmax()}
for _, y in ipairs{tensor{1, 2, 2, 1}, tensor{{1, 0}, {0, 1}, {0, 1}, {1, 0}}} do
  local c = train.evaluate{model = classifier, data = {x = x4, y = y}}
  assert(c.accuracy and c.accuracy >= 0 and c.accuracy <= 1, "accuracy for class labels")
end
assert(train.evaluate{model = classifier, data = {x = x4, y = tensor{1, 2, 2, 1}, kind = "values"}}.accuracy == nil,
       "a table that declares values gets no accuracy")

-- train.correct: argmax against class numbers or one-hot rows, a threshold
-- for one output; labels it cannot read are an error, not a wrong count.
local pred = tensor{{0.9, 0.1}, {0.2, 0.8}, {0.7, 0.3}, {0.4, 0.6}}
assert(train.correct(pred, tensor{1, 2, 2, 2}) == 3)
assert(train.correct(pred, tensor{{1, 0}, {0, 1}, {0, 1}, {0, 1}}) == 3)
assert(train.correct(tensor{{0.9}, {0.2}, {0.7}, {0.4}}, tensor{1, 0, 0, 0}) == 3)
fails(function() train.correct(pred, tensor{0, 1, 1, 1}) end,
      "train.correct: y [4] holds neither class indices from 1 nor rows shaped as the prediction [4, 2]")

-- data.tensors takes classes by the same rule: real values [N] are values.
local ds = data.tensors(x4, tensor{0.4, 0.2, -1.0, 1.5})
assert(ds.kind == "values", ds.kind)
assert(data.tensors(x4, tensor{1, 2, 2, 1}).kind == "classes")
print("class_data.lua: ok")
