#!/usr/bin/env python3
"""dist_scaling.py: docs/cluster.md's scaling model, computed.

    python3 bench/dist_scaling.py STEP_MS [ALLREDUCE_MS_2_RANKS [SMALL_ALLREDUCE_US [FIXED_MS [GATHER_MS
                                  [CNN_STEP_MS]]]]]

STEP_MS is the measured time of one training step of the global batch on
one rank (bench/dist_bench.sh, 1 rank x 1 thread); ALLREDUCE_MS_2_RANKS the
measured allreduce of the MLP's gradients between 2 ranks on one node, and
SMALL_ALLREDUCE_US that of a few numbers (its latency): the model's row for
this node's shared memory.

FIXED_MS is the part of a step that does not shrink with a rank's share of
the batch (every rank steps the optimizer over the whole model, and a step
has its fixed overheads), from bench/dist_phases.lua at two batch sizes;
GATHER_MS the gathering of a rank's part of a batch, which one process does
on a spare core but each of N ranks on a core that also computes (0 on a
cluster node whose ranks leave cores free). Both default to 0. CNN_STEP_MS
is the CNN's step of the global batch on one core, when measured; without
it, it is estimated from the multiply-adds at the MLP's rate.

Per-step time on N ranks: t(N) = (t_c - f) / N + f + g / N + 2 (N - 1) / N * S / B + 4 (N - 1) a
(a ring allreduce: 2 (N - 1) messages of S / N bytes each, latency a each;
a step makes two allreduces, the gradients and a few bytes of sums).
Efficiency E(N) = t_c / (N t(N)); the table gives the largest N with
E(N) >= 0.8 for each model and network.
"""
import sys

MLP_PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
# Issue 13's CNN on 28x28x1: conv 3x3 1->32 (26x26), pool (13x13),
# conv 3x3 32->64 (11x11), pool (5x5), Dense 1600->128, Dense 128->10.
CNN_PARAMS = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (1600 * 128 + 128) + (128 * 10 + 10)
# Multiply-adds per sample, forward; a training step costs about 3 times that.
MLP_MACS = 784 * 256 + 256 * 128 + 128 * 10
CNN_MACS = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 32 * 9 + 1600 * 128 + 128 * 10

NETWORKS = [  # name, bytes per second, latency per message (s)
    ("10 Gb/s Ethernet (TCP)", 10e9 / 8, 30e-6),
    ("100 Gb/s InfiniBand", 100e9 / 8, 2e-6),
]


FIXED = 0.0  # seconds of a step that every rank spends whatever its share (FIXED_MS)
GATHER = 0.0  # seconds to gather a whole batch, on the compute core once there are ranks (GATHER_MS)


def step_time(t_c, n, size_bytes, bandwidth, latency):
    # Two allreduces a step (the gradients, then the step's loss and counts),
    # each 2 (N - 1) messages; the second is a few bytes, only its latency counts.
    if n == 1:
        return t_c
    compute = (t_c - FIXED) / n + FIXED + GATHER / n if t_c > 0 else 0.0
    return compute + 2 * (n - 1) / n * size_bytes / bandwidth + 2 * 2 * (n - 1) * latency


def largest_n(t_c, size_bytes, bandwidth, latency, target=0.8):
    best = 1
    for n in range(2, 1 << 16):
        if t_c / (n * step_time(t_c, n, size_bytes, bandwidth, latency)) >= target:
            best = n
        else:
            break
    return best


def main():
    global FIXED, GATHER
    step_ms = float(sys.argv[1])
    if len(sys.argv) > 4:
        FIXED = float(sys.argv[4]) / 1000
    if len(sys.argv) > 5:
        GATHER = float(sys.argv[5]) / 1000
    t_mlp = step_ms / 1000
    t_cnn = t_mlp * CNN_MACS / MLP_MACS  # the same multiply-add rate
    cnn_measured = len(sys.argv) > 6
    if cnn_measured:
        t_cnn = float(sys.argv[6]) / 1000
    print(f"MLP: {MLP_PARAMS} parameters, {4 * MLP_PARAMS} bytes of gradients, step {t_mlp * 1000:.2f} ms (measured)")
    how = "given" if cnn_measured else f"estimated: {CNN_MACS / MLP_MACS:.1f} x the MLP's multiply-adds"
    print(f"CNN: {CNN_PARAMS} parameters, {4 * CNN_PARAMS} bytes of gradients, step {t_cnn * 1000:.1f} ms ({how})")
    if len(sys.argv) > 2:
        measured = float(sys.argv[2]) / 1000
        print(f"measured allreduce of the MLP's gradients, 2 ranks on one node: {measured * 1000:.3f} ms "
              f"= {4 * MLP_PARAMS / measured / 1e9:.2f} GB/s effective")
        predicted = step_time(t_mlp, 2, 0, 1, 0) + measured
        print(f"model for 2 ranks on this node ({FIXED * 1000:.2f} ms fixed, {GATHER * 1000:.2f} ms gather): "
              f"{predicted * 1000:.2f} ms a step, speed-up "
              f"{t_mlp / predicted:.2f}x (efficiency {t_mlp / (2 * predicted):.0%})")
    networks = list(NETWORKS)
    if len(sys.argv) > 3:  # this node's shared memory, as measured (a ring of 2: S / t)
        networks.insert(0, ("shared memory, measured here", 4 * MLP_PARAMS / measured, float(sys.argv[3]) * 1e-6))
    print("| network | model | allreduce at N=2 | allreduce at N=16 | E(16) | largest N at 80% |")
    print("|---|---|---|---|---|---|")
    for name, bandwidth, latency in networks:
        for model, params, t_c in (("MLP", MLP_PARAMS, t_mlp), ("CNN", CNN_PARAMS, t_cnn)):
            size = 4 * params
            ar2 = step_time(0, 2, size, bandwidth, latency)
            ar16 = step_time(0, 16, size, bandwidth, latency)
            e16 = t_c / (16 * step_time(t_c, 16, size, bandwidth, latency))
            n = largest_n(t_c, size, bandwidth, latency)
            print(f"| {name} | {model} | {ar2 * 1000:.2f} ms | {ar16 * 1000:.2f} ms | {e16:.0%} | {n} |")


if __name__ == "__main__":
    main()
