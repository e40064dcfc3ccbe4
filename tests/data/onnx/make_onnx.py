#!/usr/bin/python3
"""Writes the PyTorch-made ONNX files of tests/lua/onnx.lua, with the inputs
and PyTorch's outputs as .npy, so the test needs no PyTorch: Neurite's
import must reproduce PyTorch's outputs (within 1e-5).
Run with Debian's python3 (python3-torch 1.13, python3-onnx 1.12):
    cd tests/data/onnx && /usr/bin/python3 make_onnx.py
"""
import numpy as np
import onnx
import torch
from torch import nn

torch.manual_seed(14)


class Atan(nn.Module):
    def forward(self, x):
        return torch.atan(x)


class Residual(nn.Module):
    """x -> relu(fc1 x) + x -> gated by sigmoid(fc2 .) -> concatenated with the sum -> fc3"""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 6)
        self.fc2 = nn.Linear(6, 6)
        self.fc3 = nn.Linear(12, 3)

    def forward(self, x):
        r = torch.relu(self.fc1(x)) + x
        gated = r * torch.sigmoid(self.fc2(r))
        return self.fc3(torch.cat([r, gated], dim=1))


class Unsupported(nn.Module):
    """Two operators Neurite has no layer for (Sin, Cos), reported together."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sin(self.fc(x)) * torch.cos(x)


class DynamicReshape(nn.Module):
    """A reshape whose target shape the graph computes from the batch size."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        h = self.fc(x)
        return h.reshape(h.shape[0], 2, 2)


class SmallCnn(nn.Module):
    """The layers of the convolutional issue, as tests/lua/onnx_cnn.lua imports them."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
            nn.ConvTranspose2d(6, 3, 2, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Linear(3, 5), nn.LayerNorm(5))

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


MODELS = {
    "mlp": (nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4),
                          nn.Softmax(dim=1)), 8),
    "activations": (nn.Sequential(nn.Linear(6, 10), nn.LeakyReLU(0.1), nn.Linear(10, 10), nn.ELU(0.7),
                                  nn.Linear(10, 10), nn.Softplus(), nn.Linear(10, 10), nn.GELU(),
                                  nn.Linear(10, 10), nn.SiLU(), nn.Linear(10, 10), nn.PReLU(10),
                                  nn.Linear(10, 10), nn.GELU(approximate="tanh"), nn.Linear(10, 10), Atan(),
                                  nn.Linear(10, 10), nn.Sigmoid(), nn.Linear(10, 5), nn.LogSoftmax(dim=1)), 6),
    "residual": (Residual(), 6),
    "unsupported": (Unsupported(), 4),
    "cnn": (SmallCnn(), (1, 8, 8)),
    "dynamic_reshape": (DynamicReshape(), 4),
}

for name, (model, features) in MODELS.items():
    if name == "cnn":  # running statistics that are not the initial 0 and 1
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(torch.randn(16, 1, 8, 8))
    model.eval()
    if name == "activations":  # a learned-looking PReLU slope, not the uniform 0.25
        with torch.no_grad():
            model[11].weight.copy_(torch.linspace(0.05, 0.5, 10))
    x = torch.randn(5, *features) if isinstance(features, tuple) else torch.randn(5, features)
    path = name + ".onnx"
    torch.onnx.export(model, x, path, opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path))
    if name not in ("unsupported", "dynamic_reshape"):
        np.save(name + "_x.npy", x.numpy().astype(np.float32))
        with torch.no_grad():
            np.save(name + "_y.npy", model(x).numpy().astype(np.float32))

# An opset newer than ONNX 1.12's (and Neurite's) 17.
too_new = onnx.load("mlp.onnx")
too_new.opset_import[0].version = 18
onnx.save(too_new, "too_new.onnx")

# A corrupt graph: a node reads a value that nothing defines.
dangling = onnx.helper.make_graph(
    [onnx.helper.make_node("Relu", ["x"], ["h"], name="first"),
     onnx.helper.make_node("Relu", ["nowhere"], ["y"], name="second")],
    "dangling", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
    [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])])
onnx.save(onnx.helper.make_model(dangling, opset_imports=[onnx.helper.make_opsetid("", 17)]), "dangling.onnx")
