-- Run with --sandbox: the interchange functions follow the sandbox's file
-- rules like m:save and nn.load (writes below the working directory, reads
-- below it or from allowed folders).
local function fails(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error containing: " .. pattern)
  assert(err:find(pattern, 1, true), "expected '" .. pattern .. "' in: " .. err)
end
local t = tensor{1, 2, 3}
local model = nn.Sequential{nn.Dense(3, 2)}
fails("t:save_npy: in sandbox mode files are written only below the working directory", t.save_npy, t,
      "/tmp/neurite_sandbox_escape.npy")
fails("nn.save_npz: in sandbox mode files are written only below the working directory", nn.save_npz, model,
      "../escape.npz")
fails("tensor.load_npy: '/etc/hostname' cannot be read", tensor.load_npy, "/etc/hostname")
fails("nn.load_npz: '/etc/hostname' cannot be read", nn.load_npz, "/etc/hostname")
fails("nn.export_onnx: in sandbox mode files are written only below the working directory", nn.export_onnx, model,
      "/tmp/neurite_sandbox_escape.onnx")
fails("nn.import_onnx: '/etc/hostname' cannot be read", nn.import_onnx, "/etc/hostname")
fails("nn.check_onnx: '/etc/hostname' cannot be read", nn.check_onnx, "/etc/hostname")
-- Inside the working directory all of them work.
t:save_npy("inside.npy")
assert(tensor.load_npy("inside.npy"):equal(t))
nn.save_npz(model, "inside.npz")
assert(nn.load_npz("inside.npz")["0.weight"]:equal(model:state_dict()["0.weight"]))
nn.export_onnx(model, "inside.onnx")
local x = tensor.randn{2, 3}
assert(nn.import_onnx("inside.onnx"):forward(x):equal(model:forward(x)))
-- data.save_images (issue 13) writes pictures by the same rule.
fails("data.save_images: in sandbox mode files are written only below the working directory", data.save_images,
      "/tmp/neurite_sandbox_escape.png", tensor.zeros{1, 2, 2})
local width, height = data.save_images("inside.png", tensor.zeros{1, 2, 2})
assert(width == 4 and height == 4)
print("interchange sandbox ok")
