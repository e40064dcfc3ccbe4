#!/bin/sh
# A plugin that crashes the window (SIGSEGV in the run) is named on stderr,
# and the window's scripts are left in its autosave, under a lock whose
# process is gone: what the next window offers back (tst_autosave).
#   window_crash.sh NEURITE SCRIPT
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "window_crash.sh: $*"; cat "$tmp/out.txt"; exit 1; }

XDG_DATA_HOME="$tmp" QT_QPA_PLATFORM=offscreen "$1" --quit-after-run "$2" >"$tmp/out.txt" 2>&1
status=$?
[ "$status" -eq 139 ] || fail "exit status $status, expected 139 (SIGSEGV)"
grep -q "neurite: crashed with SIGSEGV in plugin crashing.so, entry FixtureNullLoss, forward (batch 4)" "$tmp/out.txt" ||
    fail "no line naming the plugin"
session=$(find "$tmp" -name session.json | head -n 1)
[ -n "$session" ] || fail "no autosave left behind"
grep -q "$(basename "$2")" "$session" || fail "the autosave does not list the script: $(cat "$session")"
pid=$(head -n 1 "$(dirname "$session")/lock")
if kill -0 "$pid" 2>/dev/null; then fail "the lock names a live process $pid"; fi
echo "window_crash.sh: ok (autosave $session)"
