#!/bin/sh
# expect.sh CODE [PATTERN...] -- COMMAND [ARGS...]
# Runs COMMAND and checks its exit code, and that its output (stdout and
# stderr together) contains every PATTERN as a fixed string; a PATTERN
# written !TEXT checks that TEXT does not appear.
code=$1; shift
patterns=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    patterns="$patterns$1
"
    shift
done
shift
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne "$code" ]; then
    echo "expect.sh: exit code $status, expected $code" >&2
    exit 1
fi
printf '%s' "$patterns" | while IFS= read -r p; do
    [ -z "$p" ] && continue
    case $p in
    !*)
        if printf '%s\n' "$out" | grep -qF -- "${p#!}"; then
            echo "expect.sh: output has: ${p#!}" >&2
            exit 1
        fi ;;
    *)
        if ! printf '%s\n' "$out" | grep -qF -- "$p"; then
            echo "expect.sh: output lacks: $p" >&2
            exit 1
        fi ;;
    esac
done || exit 1
exit 0
