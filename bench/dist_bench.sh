#!/bin/sh
# dist_bench.sh [BUILD] [EPOCHS]: issue 15's speed table. The Fashion-MNIST
# MLP at a global batch of 256 with 1 rank x 1 thread, 2 ranks x 1 thread
# (mpirun -np 2, each rank bound to a core) and 1 rank x 2 threads, and the
# speed-up of 2 ranks over 1. Each line is bench/dist_bench.lua's.
# Also: 1 rank x 1 thread confined to one core (taskset -c 0), which gathers
# its batches on the compute core as each of 2 ranks must (a free rank
# gathers them on the idle core, bench "prefetch"); the gradient allreduce
# alone (bench/dist_allreduce.c) with neurite-run's default and Open MPI's
# (CMA single copy), and as two buckets overlapping backward would; and the CPU time of each phase of a step
# (bench/dist_phases.lua), which a loaded machine changes little.
# Run it when `uptime` shows a load under 2: the ranks wait for each other.
build=${1:-build}
epochs=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
run=$build/bin/neurite-run
root=""
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
one=$("$run" -q --threads 1 "$here/dist_bench.lua" "$epochs") || exit 1
pinned=$(taskset -c 0 "$run" -q --threads 1 "$here/dist_bench.lua" "$epochs") || exit 1
two=$(mpirun -np 2 --bind-to core $root "$run" -q "$here/dist_bench.lua" "$epochs") || exit 1
# Side by side: every rank stepping the whole model (one allreduce a step).
whole=$(mpirun -np 2 --bind-to core $root "$run" -q "$here/dist_bench.lua" "$epochs" 256 whole) || exit 1
threads=$("$run" -q --threads 2 "$here/dist_bench.lua" "$epochs") || exit 1
echo "1 rank  x 1 thread:  $one"
echo "1 rank  x 1 thread, one core: $pinned"
echo "2 ranks x 1 thread, sharded step: $two"
echo "2 ranks x 1 thread, whole step:   $whole"
echo "1 rank  x 2 threads: $threads"
rate() { echo "$1" | sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p'; }
awk -v a="$(rate "$one")" -v p="$(rate "$pinned")" -v b="$(rate "$two")" -v w="$(rate "$whole")" \
    -v c="$(rate "$threads")" 'BEGIN {
    printf "speed-up: 2 ranks %.2fx sharded (efficiency %.0f%%; %.2fx over one core), %.2fx whole; 2 threads %.2fx\n",
           b / a, 50 * b / a, b / p, w / a, c / a }'
if [ -x "$build/bin/dist_allreduce" ]; then
    echo "allreduce alone, neurite-run's default (copy through shared memory): $(OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun -np 2 --bind-to core $root "$build/bin/dist_allreduce")"
    echo "allreduce alone, Open MPI's default (CMA single copy):               $(OMPI_MCA_btl_vader_single_copy_mechanism=cma mpirun -np 2 --bind-to core $root "$build/bin/dist_allreduce")"
    echo "two buckets overlapping 0.4 ms of compute (MPI_Iallreduce):          $(OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun -np 2 --bind-to core $root "$build/bin/dist_allreduce" 940608 200 overlap)"
    for mechanism in none cma; do
        for mode in blocking sharded; do
            echo "$mode, $mechanism, the block written before each: $(OMPI_MCA_btl_vader_single_copy_mechanism=$mechanism mpirun -np 2 --bind-to core $root "$build/bin/dist_allreduce" 940608 200 $mode touch)"
        done
    done
fi
taskset -c 0 "$run" -q --threads 1 "$here/dist_phases.lua" 256 2>&1
taskset -c 0 "$run" -q --threads 1 "$here/dist_phases.lua" 128 2>&1
mpirun -np 2 --bind-to core $root "$run" -q "$here/dist_phases.lua" 256 2>&1
mpirun -np 2 --bind-to core $root "$run" -q "$here/dist_phases.lua" 256 400 sharded 2>&1
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
