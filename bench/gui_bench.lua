-- The same Fashion-MNIST training for the window and for neurite-run:
-- gui_bench runs it in both and compares the throughput it prints.
local epochs = 3
local train_ds = data.fashion_mnist{split = "train"}
local model = nn.Sequential{
  nn.Dense{inputs = 784, outputs = 256, activation = "relu"},
  nn.Dense{inputs = 256, outputs = 128, activation = "relu"},
  nn.Dense{inputs = 128, outputs = 10},
}
local optimizer = optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9})
local t0 = monitor.elapsed()
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optimizer,
          data = train_ds, epochs = epochs, batch_size = 64, verbose = 0}
local seconds = monitor.elapsed() - t0
print(string.format("BENCH samples_per_s=%.0f", epochs * #train_ds / seconds))
