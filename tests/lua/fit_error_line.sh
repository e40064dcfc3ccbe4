#!/bin/sh
# fit_error_line.sh NEURITE_RUN DIR CASE EXPECTED: runs DIR/fit_error_line.lua
# CASE from DIR and checks that neurite-run's message (its first line on
# stderr) starts with EXPECTED: the user's file and line, then the error.
run=$1; dir=$2; case=$3; expected=$4
out=$(cd "$dir" && "$run" --no-runs fit_error_line.lua "$case" 2>&1 >/dev/null)
status=$?
printf '%s\n' "$out"
first=$(printf '%s\n' "$out" | head -n 1)
if [ "$status" -ne 1 ]; then
    echo "fit_error_line.sh: exit code $status, expected 1" >&2
    exit 1
fi
case $first in
"$expected"*) ;;
*) echo "fit_error_line.sh: the message starts '$first', expected '$expected...'" >&2; exit 1 ;;
esac
# The library's frames are still in the traceback, below the message.
printf '%s\n' "$out" | grep -q "train.lua:[0-9]*: in " || { echo "fit_error_line.sh: no train.lua frame" >&2; exit 1; }
exit 0
