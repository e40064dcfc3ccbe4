#!/bin/sh
# run.sh CASE MPIRUN RUNNER: the data-parallel tests, each comparing what
# `mpirun -np 2` does with what one process does (see CMakeLists.txt).
case=$1; mpirun=$2; runner=$3
here=$(cd "$(dirname "$0")" && pwd)
root=""
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
fail() { echo "run.sh $case: $*"; exit 1; }
# Under `make check-sanitize` the ranks skip LeakSanitizer (ASan itself stays
# on): Open MPI's components leave allocations behind at MPI_Finalize and are
# unloaded by then, so their leaks cannot even be named to be suppressed.
rank_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
two_ranks() { env ASAN_OPTIONS="$rank_asan" "$mpirun" -np 2 --oversubscribe $root "$@"; }

case $case in
ops)
    # OMP_NUM_THREADS=2 (ctest's): one process takes both threads; two ranks,
    # each bound to a core by mpirun, one each unless --threads says otherwise.
    "$runner" "$here/dist_ops.lua" 1 2 || fail "dist in one process"
    two_ranks "$runner" "$here/dist_ops.lua" 2 1 || fail "dist on two ranks"
    two_ranks "$runner" --threads 2 "$here/dist_ops.lua" 2 2 || fail "dist on two ranks with --threads 2"
    ;;
curve | curve_tensors)
    mode=""
    [ "$case" = curve_tensors ] && mode=tensors
    "$runner" "$here/dist_curve.lua" "one_$case.txt" $mode || fail "one process"
    two_ranks "$runner" "$here/dist_curve.lua" "two_$case.txt" $mode || fail "two ranks"
    "$runner" "$here/dist_compare.lua" "one_$case.txt" "two_$case.txt" || fail "the curves differ"
    ;;
run_store)
    # The run store under mpirun: rank 0 alone keeps the run.
    rm -rf dist_runs
    two_ranks "$runner" --runs dist_runs "$here/dist_curve.lua" two_run_store.txt || fail "two ranks"
    count=$(ls dist_runs | wc -l)
    [ "$count" = 1 ] || fail "rank 0 alone keeps the run: $count run folders in dist_runs"
    grep -q '"status": "finished"' dist_runs/*/run.json || fail "the run is not stored as finished"
    ;;
shard)
    "$runner" "$here/dist_shard.lua" || fail "one process"
    two_ranks "$runner" "$here/dist_shard.lua" || fail "two ranks"
    ;;
buffers)
    "$runner" "$here/dist_buffers.lua" || fail "buffers in one process"
    two_ranks "$runner" "$here/dist_buffers.lua" || fail "buffers on two ranks"
    ;;
resume)
    rm -f dist_resume.nrt
    two_ranks "$runner" "$here/dist_resume.lua" interrupt dist_resume.nrt || fail "two ranks"
    "$runner" "$here/dist_resume.lua" verify dist_resume.nrt || fail "resuming under one process"
    rm -f dist_chain.nrt
    two_ranks "$runner" "$here/dist_resume.lua" chain dist_chain.nrt || fail "a run resuming from the one before"
    ;;
fail_raise | fail_crash)
    mode=${case#fail_}
    marker=dist_fail_$mode.marker
    out=dist_fail_$mode.out
    rm -f "$marker"
    timeout 120 env ASAN_OPTIONS="$rank_asan" "$mpirun" -np 2 --oversubscribe $root "$runner" "$here/dist_fail.lua" "$mode" "$marker" >"$out" 2>&1
    status=$?
    ended=$(date +%s.%N)
    cat "$out"
    [ "$status" -ne 0 ] || fail "mpirun exited with 0"
    [ "$status" -ne 124 ] || fail "the ranks were still running after 120 s"
    [ -f "$marker" ] || fail "rank 1 never reached its failure"
    seconds=$(awk "BEGIN { print $ended - $(stat -c %.9Y "$marker") }")
    awk "BEGIN { exit !($seconds < 10) }" || fail "every rank exited only $seconds s after rank 1 failed"
    grep -q "rank 1 of 2" "$out" || fail "no message names rank 1"
    if [ "$mode" = raise ]; then
        grep -q "rank 1 of 2: .*deliberate failure on the second rank" "$out" || fail "rank 1's error is not shown"
    else
        grep -q "rank 1 of 2.*crashed with SIGSEGV" "$out" || fail "rank 1's crash is not reported"
    fi
    if grep -q "trained to the end" "$out"; then fail "a rank went on training"; fi
    echo "run.sh $case: every rank exited $seconds s after rank 1 failed (mpirun: exit code $status)"
    ;;
sigint)
    . "$here/../lua/wait_ready.sh"
    out=dist_sigint.out
    # The last run's output still says "ready": wait_ready would not wait.
    rm -f dist_sigint.nrt "$out"
    # env execs mpirun: $! is mpirun itself, which the signal must reach.
    env ASAN_OPTIONS="$rank_asan" "$mpirun" -np 2 --oversubscribe $root "$runner" "$here/dist_resume.lua" sigint \
        dist_sigint.nrt >"$out" 2>&1 &
    pid=$!
    wait_ready "$out" "$pid"
    sleep 1
    kill -INT "$pid" # Ctrl-C reaches mpirun alone: the ranks have process groups of their own
    wait "$pid"
    status=$?
    cat "$out"
    grep -q "train.fit: interrupted in epoch" "$out" || fail "rank 0 did not stop at a step boundary"
    [ -s dist_sigint.nrt ] || fail "rank 0 wrote no interrupt checkpoint"
    "$runner" "$here/dist_resume.lua" verify dist_sigint.nrt || fail "resuming under one process"
    echo "run.sh sigint: rank 0 wrote the interrupt checkpoint (mpirun: exit code $status)"
    ;;
sigterm_one_rank | sigterm_epoch_end)
    # A stop asked of rank 1 alone: the step's allreduce carries it, both
    # ranks stop after the same step, rank 0 writes the interrupt checkpoint
    # and both exit with 130 (which mpirun then returns). In the middle of
    # the steps; or while rank 1 waits 5 s in a collective for rank 0's end
    # of epoch 1, longer than a stop's grace period.
    . "$here/../lua/wait_ready.sh"
    out=dist_$case.out
    mode=sigint
    [ "$case" = sigterm_epoch_end ] && mode=slow_epoch_end
    # The last run's output still says "ready": wait_ready would not wait.
    rm -f dist_$case.nrt "$out"
    env ASAN_OPTIONS="$rank_asan" "$mpirun" -np 2 --oversubscribe $root "$runner" -q "$here/dist_resume.lua" $mode \
        dist_$case.nrt >"$out" 2>&1 &
    pid=$!
    wait_ready "$out" "$pid"
    [ "$case" = sigterm_one_rank ] && sleep 1
    for p in $(pgrep -P "$pid" -x neurite-run); do
        tr '\0' '\n' <"/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=1" && kill -TERM "$p"
    done
    wait "$pid"
    status=$?
    cat "$out"
    [ "$status" -eq 130 ] || fail "mpirun exited with $status, expected 130 from both ranks"
    grep -q "train.fit: interrupted in epoch" "$out" || fail "rank 0 did not stop at a step boundary"
    "$runner" "$here/dist_resume.lua" verify dist_$case.nrt || fail "resuming under one process"
    echo "run.sh $case: both ranks stopped, rank 0 wrote the checkpoint, exit code 130"
    ;;
*)
    fail "unknown case"
    ;;
esac
