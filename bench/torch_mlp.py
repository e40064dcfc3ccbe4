#!/usr/bin/python3
"""PyTorch's side of neurite-bench's MLP, for a side-by-side comparison.

The same model and data as `neurite-bench`: Fashion-MNIST from the IDX files
of the Debian package (pixels / 255, no other normalization), the MLP
784-256-128-10 with ReLU, cross-entropy on logits, SGD lr 0.05 momentum 0.9,
shuffled batches with the last partial batch dropped. It prints one line per
batch size in neurite-bench's format:

  torch_mlp_b64 samples_per_s=... test_acc=... loss=... epochs=5 threads=2
      with_data_samples_per_s=... flush_denormals=0 blas=openblas

samples_per_s counts the time of the model's steps (zero_grad, forward, loss,
backward, step), with_data_samples_per_s also the gathering of each batch
(indexing one float tensor of the whole set, as fast as data can come in
PyTorch); both are medians over the epochs after the first. --phases adds the
median time of each part of a step, as neurite-bench --phases does.

PyTorch computes with subnormal floats unless told otherwise;
--flush-denormal calls torch.set_flush_denormal(True) (FTZ/DAZ, Neurite's
default). --autocast bf16 runs forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed precision
(f32 weights, bf16 matmuls), and names the cases torch_mlp_b64_bf16, ...
Run with Debian's python3-torch 1.13: /usr/bin/python3. Its BLAS is
whatever libblas.so.3 resolves to (Debian's default is the slow reference
BLAS); the `blas` field says which was loaded. With OpenBLAS from the package
libopenblas0-pthread, installed or unpacked:
  LD_LIBRARY_PATH=<dir of its libblas.so.3> /usr/bin/python3 bench/torch_mlp.py
"""

import argparse
import gzip
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
PHASES = ("data", "zero_grad", "forward", "loss", "backward", "step")


def read_idx(path):
    """An IDX file (.gz) as a numpy array of its shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"torch_mlp.py: {path} is not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{ndims}I", raw[4:4 + 4 * ndims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def load(directory, split):
    images = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def blas_in_use():
    """Which libblas this process loaded, from its memory map."""
    with open("/proc/self/maps") as maps:
        text = maps.read()
    if "openblas" in text:
        return "openblas"
    if "libmkl" in text:
        return "mkl"
    if "/blas/libblas.so" in text:
        return "reference"
    return "unknown"


def accuracy(model, x, y):
    """In chunks of 1000, which keeps a CNN's activations small."""
    with torch.no_grad():
        correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                      for i in range(0, len(x), 1000))
    return correct / len(x)


def make_mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def run_case(train, test, batch, epochs, phases, flush, make_model=make_mlp, name="torch_mlp", lr=0.05,
             autocast=False):
    torch.manual_seed(1234)
    model = make_model()
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x_all, y_all = train
    generator = torch.Generator().manual_seed(42)
    rates, wall_rates = [], []
    phase_us = {p: [] for p in PHASES}
    last_loss = 0.0
    clock = time.perf_counter
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=generator)
        compute = wall = 0.0
        samples = 0
        for first in range(0, len(order) - batch + 1, batch):
            t0 = clock()
            rows = order[first:first + batch]
            x, y = x_all.index_select(0, rows), y_all.index_select(0, rows)
            t1 = clock()
            opt.zero_grad(set_to_none=True)
            t2 = clock()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(x)
                t3 = clock()
                loss = loss_fn(logits, y)
            t4 = clock()
            loss.backward()
            t5 = clock()
            opt.step()
            t6 = clock()
            last_loss = loss.item()
            compute += t6 - t1
            wall += t6 - t0
            samples += batch
            marks = (t0, t1, t2, t3, t4, t5, t6)
            for i, p in enumerate(PHASES):
                phase_us[p].append((marks[i + 1] - marks[i]) * 1e6)
        rates.append(samples / compute)
        wall_rates.append(samples / wall)
    skip = 1 if len(rates) > 1 else 0
    model.eval()
    suffix = "_bf16" if autocast else ""
    print(f"{name}_b{batch}{suffix} samples_per_s={statistics.median(rates[skip:]):.0f} "
          f"test_acc={accuracy(model, *test):.4f} loss={last_loss:.4f} epochs={epochs} "
          f"threads={torch.get_num_threads()} "
          f"with_data_samples_per_s={statistics.median(wall_rates[skip:]):.0f} "
          f"flush_denormals={int(flush)} blas={blas_in_use()}")
    if phases:
        print("  median per step:" + "".join(
            f" {p}={statistics.median(phase_us[p]):.1f}us" for p in PHASES))
    sys.stdout.flush()


def main(description="PyTorch's side of neurite-bench's MLP.", make_model=make_mlp, name="torch_mlp",
         lr=0.05, sample_shape=(784,)):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, action="append",
                        help="batch size (repeatable; default 64 and 256)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=FASHION_MNIST_DIR)
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True), as Neurite does by default")
    parser.add_argument("--autocast", choices=("off", "bf16"), default="off",
                        help="bf16: forward and loss under torch.autocast (CPU, bfloat16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("torch_mlp.py: this CPU cannot flush denormals")
    train, test = [(x.view(-1, *sample_shape), y) for x, y in (load(args.data, "train"), load(args.data, "t10k"))]
    for batch in args.batch or [64, 256]:
        run_case(train, test, batch, max(1, args.epochs), args.phases, args.flush_denormal, make_model, name, lr,
                 args.autocast == "bf16")


if __name__ == "__main__":
    main()
