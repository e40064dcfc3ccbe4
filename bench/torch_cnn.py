#!/usr/bin/python3
"""PyTorch's side of neurite-bench's CNN (`neurite-bench --net cnn`).

The same network, data and training as neurite-bench's cnn cases:
Fashion-MNIST from the Debian package's IDX files (pixels / 255) as
[N, 1, 28, 28]; conv 1->32 3x3, ReLU, max-pool 2; conv 32->64 3x3, ReLU,
max-pool 2; flatten; Linear 1600->128, ReLU; Linear 128->10; cross-entropy on
logits; SGD lr 0.02 momentum 0.9; shuffled batches with the last partial
batch dropped; two threads (--threads), as neurite-bench runs with
OMP_NUM_THREADS=2. The loop, the timing and the options are torch_mlp.py's;
each line reads

  torch_cnn_b64 samples_per_s=... test_acc=... loss=... epochs=5 threads=2 ...

PyTorch 1.13 computes these convolutions with oneDNN (mkldnn). Run with
Debian's python3-torch: /usr/bin/python3 bench/torch_cnn.py [--batch 64]
"""

import os
import sys

from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mlp  # noqa: E402  (the shared loop)


def make_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


if __name__ == "__main__":
    torch_mlp.main("PyTorch's side of neurite-bench's CNN.", make_cnn, "torch_cnn", 0.02, (1, 28, 28))
