-- export_onnx.lua: take a model out of Neurite and bring it back. Trains a
-- small residual MLP on Fashion-MNIST, exports it to ONNX (checked by the
-- ONNX checker), imports the file as a new Neurite model, and shows that
-- both give the same predictions; the weights also go out as NumPy files
-- (state_dict keys as PyTorch names them, one .npy per parameter in an .npz).
--
-- Run: neurite-run scripts/export_onnx.lua [epochs] [train_samples]
-- Then, for example, in Python:
--   import onnxruntime as ort; ort.InferenceSession("fashion_residual.onnx")
--   import numpy as np; np.load("fashion_residual.npz")["0.weight"]

local epochs = tonumber(arg and arg[1]) or 2
local samples = tonumber(arg and arg[2])

local train_ds, test_ds = data.fashion_mnist()   -- pixels scaled to [0, 1]
if samples then train_ds, test_ds = train_ds:slice(1, samples), test_ds:slice(1, math.max(samples // 6, 1)) end

local x = nn.Input{784}
local h = nn.Dense{inputs = 784, outputs = 128, activation = "relu"}(x)
local f = nn.Dense{inputs = 128, outputs = 128, activation = "gelu"}(h)
h = nn.Add()(h, nn.Dense{inputs = 128, outputs = 128}(f))
local model = nn.Model{inputs = x, outputs = nn.Dense{inputs = 128, outputs = 10}(h)}   -- logits

train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model, {lr = 1e-3}),
          data = train_ds, validation = test_ds, epochs = epochs, batch_size = 64, metrics = {"accuracy"}}

model:eval()
nn.export_onnx(model, "fashion_residual.onnx", {opset = 17})
nn.save_npz(model, "fashion_residual.npz")
print("wrote fashion_residual.onnx and fashion_residual.npz")

local imported = nn.import_onnx("fashion_residual.onnx")
print(imported:summary())

local count = math.min(256, #test_ds)
local images = test_ds:inputs():narrow(1, 1, count):reshape(count, 784)
local ours, theirs = model:forward(images):clone(), imported:forward(images)
local diff = (ours - theirs):abs():max() / ours:abs():max()
local agree = ours:argmax(2):eq(theirs:argmax(2)):sum()
print(string.format("largest relative difference %.2g; the same class for %d of %d images", diff,
                    agree, images:size(1)))
assert(diff <= 1e-6, "the imported model must compute what the exported one does")
