-- Fashion-MNIST through data.fashion_mnist: sizes, class names, and a short
-- training run on a subset that clearly learns. Skips when the Debian
-- package dataset-fashion-mnist is not installed.
local ok, train_ds, test_ds = pcall(data.fashion_mnist)
if not ok then
  print("skipped: " .. tostring(train_ds))
  return
end
assert(#train_ds == 60000 and #test_ds == 10000)
assert(train_ds.classes[1] == "T-shirt/top" and #train_ds.classes == 10)
local counts = test_ds.class_counts
for i = 1, 10 do assert(counts[i] == 1000) end
local small = train_ds:subset(tensor.randperm(60000):narrow(1, 1, 6000))
local model = nn.Sequential{nn.Dense(784, 64, {activation = "relu"}), nn.Dense(64, 10)}
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.05, momentum = 0.9}),
          data = small, epochs = 3, batch_size = 64, verbose = 0}
local result = train.evaluate{model = model, data = test_ds:slice(1, 2000)}
assert(result.accuracy > 0.7, "a small MLP learns Fashion-MNIST: " .. result.accuracy)
print(string.format("fashion smoke ok: accuracy %.3f", result.accuracy))
