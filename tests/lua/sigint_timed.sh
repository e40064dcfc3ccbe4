#!/bin/sh
# sigint_timed.sh RUNNER SCRIPT MAX_MS PATTERN
# Starts the script, waits until it prints "ready" (then it is inside its
# long C-level work), sends one SIGINT and checks that the run ends with
# 130 within MAX_MS milliseconds, says PATTERN, and did not crash.
runner=$1; script=$2; max_ms=$3; pattern=$4
. "$(dirname "$0")/wait_ready.sh"
out=$(mktemp)
"$runner" "$script" >"$out" 2>&1 &
pid=$!
wait_ready "$out" "$pid"
sleep 0.3
start=$(date +%s%N)
kill -INT "$pid"
# A run that ignores the first SIGINT is killed after 10 s, and fails.
(exec >/dev/null 2>&1; sleep 10; kill -9 "$pid") &
watchdog=$!
wait "$pid"
status=$?
end=$(date +%s%N)
kill "$watchdog" 2>/dev/null
elapsed=$(( (end - start) / 1000000 ))
cat "$out"
echo "sigint_timed.sh: exit $status after $elapsed ms"
if [ "$status" -ne 130 ]; then echo "sigint_timed.sh: exit code $status, expected 130"; rm -f "$out"; exit 1; fi
if [ "$elapsed" -gt "$max_ms" ]; then echo "sigint_timed.sh: took more than $max_ms ms"; rm -f "$out"; exit 1; fi
if ! grep -qF -- "$pattern" "$out"; then echo "sigint_timed.sh: the output lacks: $pattern"; rm -f "$out"; exit 1; fi
if grep -qE "crashed|corrupted" "$out"; then echo "sigint_timed.sh: the run crashed"; rm -f "$out"; exit 1; fi
rm -f "$out"
