#!/usr/bin/python3
"""Writes the .npy fixtures of tests/lua/npy.lua with NumPy itself, so the
test checks Neurite's reader and writer against NumPy's own files.
Run with Debian's python3 (python3-numpy, python3-torch): /usr/bin/python3 make_npy.py"""
import numpy as np

np.save("f32.npy", np.array([[1.5, -2.25, 3.0], [0.0, 1e-3, -7.0]], dtype=np.float32))
np.save("f64.npy", np.array([0.1, -2.5, 1e30], dtype=np.float64))
np.save("i64.npy", np.array([[-3, 0], [7, 123456]], dtype=np.int64))
np.save("u1.npy", np.array([[0, 1], [200, 255]], dtype=np.uint8))
np.save("scalar.npy", np.float32(4.5))
# Refused, each with a message naming the file and the field:
np.save("i4.npy", np.array([1, 2, 3], dtype=np.int32))
np.save("fortran.npy", np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save("big_f64.npy", np.array([1.0, 1e300], dtype=np.float64))

# A PyTorch network's state_dict as numpy.savez writes it, with an input and
# PyTorch's output: the same keys load into nn.Sequential{Dense, ReLU, Dense}.
import torch  # noqa: E402  (python3-torch; only this fixture needs it)

torch.manual_seed(14)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
np.savez("torch_mlp.npz", **{k: v.numpy() for k, v in net.state_dict().items()})
x = torch.randn(5, 4)
np.save("torch_mlp_x.npy", x.numpy())
with torch.no_grad():
    np.save("torch_mlp_y.npy", net(x).numpy())
