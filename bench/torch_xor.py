#!/usr/bin/python3
"""PyTorch's side of bench/xor_loop.lua: the XOR 2-4-1 network trained from
a plain Python loop, for the side-by-side comparison of issue 16 item 3.

The same network, data and loop: nn.Sequential(Linear(2, 4), Sigmoid(),
Linear(4, 1), Sigmoid()), MSE, SGD lr 2.0 momentum 0.9, full batch of the
four XOR rows; each step is zero_grad, forward, loss, backward, step. Each
repeat trains a fresh network `steps` steps; it prints the median time per
step in xor_loop.lua's format:

  torch_xor us_per_step=... min=... max=... cpu_us_per_step=... final_loss=... steps=10000 repeats=7 threads=1

cpu_us_per_step is the process's CPU time (time.process_time), a proxy for
a quiet machine's wall time when others load this one.

Run with Debian's python3-torch 1.13: /usr/bin/python3 bench/torch_xor.py.
Threads: 1 by default (the fastest for four rows; --threads to change).
"""

import argparse
import statistics
import time

import torch
from torch import nn


def build():
    return nn.Sequential(nn.Linear(2, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())


def train(model, x, y, steps):
    loss_fn = nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    value = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        value = loss
    return float(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repeats", type=int, nargs="?", default=7)
    parser.add_argument("steps", type=int, nargs="?", default=10000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    train(build(), x, y, 200)  # warm-up, as xor_loop.lua
    times, cpu, last = [], [], None
    for _ in range(args.repeats):
        model = build()
        started, cpu_started = time.perf_counter(), time.process_time()
        last = train(model, x, y, args.steps)
        times.append((time.perf_counter() - started) / args.steps * 1e6)
        cpu.append((time.process_time() - cpu_started) / args.steps * 1e6)
    times.sort()
    print(f"torch_xor us_per_step={statistics.median(times):.2f} min={times[0]:.2f} max={times[-1]:.2f} "
          f"cpu_us_per_step={statistics.median(cpu):.2f} "
          f"final_loss={last:.5f} steps={args.steps} repeats={args.repeats} threads={args.threads} "
          f"torch={torch.__version__}")


if __name__ == "__main__":
    main()
