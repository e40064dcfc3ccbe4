-- early_stopping{restore_best = true} keeps the best weights in its
-- checkpointed state: a run resumed after the best epoch still restores
-- them at the end, as the same run without a restart does.
-- The validation targets are the training targets negated, so the
-- validation loss is lowest after epoch 1 and grows from there on.
local function setup()
  tensor.seed(5)
  local x, w = tensor.randn{40, 3}, tensor{{1}, {-2}, {0.5}}
  local xv = tensor.randn{20, 3}
  local model = nn.Sequential{nn.Dense(3, 1)}
  return model, {x = x, y = x:matmul(w)}, {x = xv, y = -xv:matmul(w)}
end

local function fit(model, train_set, validation, epochs, resume, watch)
  -- The checkpoint comes first: it must still save early stopping's state
  -- as it is after this epoch, not as it was after the one before.
  return train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.05}),
                   data = train_set, validation = validation, epochs = epochs, batch_size = 10,
                   shuffle = false, verbose = 0, resume = resume,
                   callbacks = {train.checkpoint{path = "early.nrt", monitor = "val_loss"},
                                train.early_stopping{monitor = "val_loss", patience = 100, restore_best = true},
                                watch}}
end

local model, train_set, validation = setup()
local after_epoch = {}
local watch = {on_epoch_end = function(_, _, f) after_epoch[f.epoch] = f.model:forward(validation.x):clone() end}
local full = fit(model, train_set, validation, 6, nil, watch)
for i = 2, 6 do
  assert(full.val_loss[i] > full.val_loss[i - 1], "the validation loss grows after epoch 1")
end
local restored = model:forward(validation.x)
assert(restored:equal(after_epoch[1]), "the uninterrupted run restores the weights of epoch 1")
assert(not restored:equal(after_epoch[6]), "and they differ from the last epoch's")

os.remove("early.nrt")
local m2, t2, v2 = setup()
fit(m2, t2, v2, 3)
local m3 = setup()
tensor.seed(77)
local resumed = fit(m3, t2, v2, 6, "early.nrt")
assert(#resumed.val_loss == 6 and resumed.val_loss[6] == full.val_loss[6], "the resumed run continued to epoch 6")
assert(m3:forward(validation.x):equal(restored),
       "the resumed run restored the weights of epoch 1, which only the checkpoint held")
print("early stopping resume ok")
