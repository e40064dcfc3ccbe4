#!/bin/sh
# dist_bench.sh [BUILD] [EPOCHS]: issue 15's speed table. The Fashion-MNIST
# MLP at a global batch of 256 with 1 rank x 1 thread, 2 ranks x 1 thread
# (mpirun -np 2, each rank bound to a core) and 1 rank x 2 threads, and the
# speed-up of 2 ranks over 1. Each line is bench/dist_bench.lua's.
build=${1:-build}
epochs=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
run=$build/bin/neurite-run
root=""
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
one=$("$run" -q --threads 1 "$here/dist_bench.lua" "$epochs") || exit 1
two=$(mpirun -np 2 --bind-to core $root "$run" -q "$here/dist_bench.lua" "$epochs") || exit 1
threads=$("$run" -q --threads 2 "$here/dist_bench.lua" "$epochs") || exit 1
echo "1 rank  x 1 thread:  $one"
echo "2 ranks x 1 thread:  $two"
echo "1 rank  x 2 threads: $threads"
rate() { echo "$1" | sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p'; }
awk -v a="$(rate "$one")" -v b="$(rate "$two")" -v c="$(rate "$threads")" 'BEGIN {
    printf "speed-up: 2 ranks %.2fx (efficiency %.0f%%), 2 threads %.2fx\n", b / a, 50 * b / a, c / a }'
