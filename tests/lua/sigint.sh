#!/bin/sh
# sigint.sh RUNNER SCRIPT [CHECKPOINT]
# Starts the script, waits until it prints "ready" and runs a moment, sends
# SIGINT as a user's Ctrl-C would, and checks exit code 130 (and that the
# checkpoint callback wrote CHECKPOINT, when given).
runner=$1; script=$2; checkpoint=$3
. "$(dirname "$0")/wait_ready.sh"
out=$(mktemp)
[ -n "$checkpoint" ] && rm -f "$checkpoint"
"$runner" "$script" $checkpoint >"$out" 2>&1 &
pid=$!
wait_ready "$out" "$pid"
sleep 0.5
kill -INT "$pid"
wait "$pid"
status=$?
cat "$out"; rm -f "$out"
if [ "$status" -ne 130 ]; then
    echo "sigint.sh: exit code $status, expected 130"; exit 1
fi
if [ -n "$checkpoint" ] && [ ! -s "$checkpoint" ]; then
    echo "sigint.sh: no checkpoint was written to $checkpoint"; exit 1
fi
echo "sigint.sh: stopped with 130${checkpoint:+ and wrote $checkpoint}"
