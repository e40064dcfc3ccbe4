#!/bin/sh
# The XOR loop side by side: Neurite from Lua (bench/xor_loop.lua) and
# PyTorch (bench/torch_xor.py), alternated `rounds` times in one run so that
# both see the same machine, then the medians and their ratio (issue 16
# item 3 asks for the Torch7 form to be at least 25x faster than PyTorch).
#   bench/xor_bench.sh [rounds = 3] [repeats per round = 5] [build dir = build]
# Measure on a quiet machine (`uptime` load below 2): the ratio moves with load.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-3}
repeats=${2:-5}
build=${3:-$here/../build}
threads=${OMP_NUM_THREADS:-2}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  OMP_NUM_THREADS=$threads"
i=1
while [ "$i" -le "$rounds" ]; do
    OMP_NUM_THREADS=$threads "$build/bin/neurite-run" "$here/xor_loop.lua" "$repeats" | tee -a "$out"
    /usr/bin/python3 "$here/torch_xor.py" "$repeats" | tee -a "$out"
    i=$((i + 1))
done
# The median of each form's per-round medians, and PyTorch's over Neurite's.
awk '
    { split($2, kv, "="); t[$1] = t[$1] " " kv[2]
      for (i = 3; i <= NF; i++) if ($i ~ /^cpu_us_per_step=/) { split($i, kv, "="); c[$1] = c[$1] " " kv[2] } }
    function median(list,   n, a, i, j, x) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        torch = median(t["torch_xor"])
        printf "median wall us/step: torch %.2f", torch
        for (k in t) if (k != "torch_xor") printf "  %s %.2f (%.1fx faster)", k, median(t[k]), torch / median(t[k])
        torch = median(c["torch_xor"])
        printf "\nmedian CPU us/step:  torch %.2f", torch
        for (k in c) if (k != "torch_xor") printf "  %s %.2f (%.1fx less)", k, median(c[k]), torch / median(c[k])
        printf "\n"
    }' "$out"
