#!/bin/sh
# A plugin that crashes a run does not crash the window: the run's process
# dies, the window names the plugin and goes on. With --quit-after-run it then
# quits by itself with the run's code (139, 128 + SIGSEGV), the crash line of
# the run process passed on to its stderr, and closes cleanly: no autosave is
# left behind for the next window to offer (tst_autosave covers that case).
#   window_crash.sh NEURITE SCRIPT
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "window_crash.sh: $*"; cat "$tmp/out.txt"; exit 1; }

XDG_DATA_HOME="$tmp" QT_QPA_PLATFORM=offscreen "$1" --quit-after-run "$2" >"$tmp/out.txt" 2>&1
status=$?
[ "$status" -eq 139 ] || fail "exit status $status, expected 139 (the run's SIGSEGV)"
grep -q "neurite-run: crashed with SIGSEGV in plugin crashing.so, entry FixtureNullLoss, forward (batch 4)" "$tmp/out.txt" ||
    fail "no line naming the plugin"
if grep -q "^neurite: crashed" "$tmp/out.txt"; then fail "the window itself crashed"; fi
session=$(find "$tmp" -name session.json | head -n 1)
[ -z "$session" ] || fail "the window left an autosave behind as if it had crashed: $session"
echo "window_crash.sh: ok (the window survived the run's crash)"
