-- custom_layer.lua: a layer written in Lua with nn.define, used next to the
-- C++ plugins. "Scale" multiplies each feature by a learnable factor; its
-- backward adds to the factor's gradient and returns the input gradient.
-- Once defined it is nn.Scale, listed by nn.plugins() with origin "lua",
-- saved and loaded by name.

nn.define{
  kind = "layer", name = "Scale",
  summary = "y = x * s with one learnable factor s per feature.",
  params = {{name = "features", type = "int", min = 1, doc = "Number of features."},
            {name = "init", default = 1.0, doc = "Initial factor."}},
  parameters = {"s"},
  init = function(self) self.s = tensor.full({self.features}, self.init) end,
  forward = function(self, x) return x * self.s end,
  backward = function(self, x, grad_out)
    self.grads.s:add_((grad_out * x):sum(1))   -- gradients accumulate until zero_grad
    return grad_out * self.s
  end,
}
print(nn.help("Scale"))

-- Learn y = 3 x1 - 2 x2 with a Scale layer before a Dense layer: each
-- factor times its Dense weight must come to the coefficient.
local x = tensor.randn{256, 2}
local y = (x * tensor{3, -2}):sum(2):reshape{256, 1}
local model = nn.Sequential{nn.Scale{features = 2, init = 0.5}, nn.Dense{inputs = 2, outputs = 1, bias = false}}
model[2].weight:copy{{1, 1}}
local history = train.fit{model = model, loss = nn.MSELoss(), optimizer = optim.SGD(model, {lr = 0.1}),
                          data = {x = x, y = y}, epochs = 50, batch_size = 32, verbose = 0}
local s, w = model[1].s, model[2].weight
print(string.format("learned s * w = (%.3f, %.3f), loss %.2g", s:get(1) * w:get(1, 1), s:get(2) * w:get(1, 2),
                    history.loss[#history.loss]))

model:save("custom_layer.nrt")
local loaded = nn.load("custom_layer.nrt")
print("reloaded:", loaded, loaded:forward(x):equal(model:forward(x)) and "identical outputs" or "DIFFERENT")
os.remove("custom_layer.nrt")
