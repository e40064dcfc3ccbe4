-- Trains with the out-of-tree RBF layer (loaded through NEURITE_PLUGIN_PATH):
-- the loss on the two moons must fall well below where it started.
assert(nn.RBF, "the RBF plugin is not loaded; is NEURITE_PLUGIN_PATH set?")
local moons = data.moons{count = 200, noise = 0.1, seed = 3}
local model = nn.Sequential{
  nn.RBF{inputs = 2, units = 8, gamma = 2.0},
  nn.Dense{inputs = 8, outputs = 2},
}
local history = train.fit{model = model, loss = nn.CrossEntropyLoss(),
                          optimizer = optim.Adam(model, {lr = 0.05}),
                          data = moons, epochs = 40, batch_size = 20, verbose = 0}
local first, last = history.loss[1], history.loss[#history.loss]
print(string.format("rbf moons: loss %.4f -> %.4f", first, last))
assert(last < 0.6 * first, string.format("the loss went from %.4f to %.4f only", first, last))
