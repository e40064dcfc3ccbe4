-- loss_comparison.lua: seed 003's two models on three images (pig, dog, cat).
-- Both get two of three right, so the classification error cannot tell them
-- apart; the squared error and the cross-entropy both prefer model 2, and the
-- cross-entropy punishes model 1's confident mistake hardest.

local truth = tensor{{0, 0, 1}, {0, 1, 0}, {1, 0, 0}}              -- one-hot: pig, dog, cat
local model1 = tensor{{0.3, 0.3, 0.4}, {0.3, 0.4, 0.3}, {0.1, 0.2, 0.7}}
local model2 = tensor{{0.1, 0.2, 0.7}, {0.1, 0.7, 0.2}, {0.3, 0.4, 0.3}}

local mse = nn.MSELoss{reduction = "batch_mean"}                      -- sum over classes, mean over images
local ce = nn.CategoricalCrossEntropyLoss()                           -- mean over images of -sum t log y

for i, pred in ipairs{model1, model2} do
  local wrong = 3 - train.correct(pred, truth)
  print(string.format("model %d: classification error %d/3   squared error %.3f   cross-entropy %.3f",
                      i, wrong, mse:forward(pred, truth), ce:forward(pred, truth)))
end
-- The notes: cross-entropy M1 ~ 1.38, M2 ~ 0.64.
