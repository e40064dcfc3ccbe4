#!/bin/sh
# plot_formats.sh RUNNER SCRIPT ARGS_SCRIPT: --plot writes the image format
# its suffix names, --plot-log too, and a suffix Qt cannot write is refused
# before the run (ARGS_SCRIPT prints "args:" when it runs).
runner=$1; script=$2; args_script=$3
rm -f plot.jpg plot.JPEG plot.bmp plot_log.png plot.xyz plot
magic() { head -c "$2" "$1" | od -An -tx1 | tr -d ' \n'; }
"$runner" --quiet --plot plot.jpg "$script" || exit 1
[ "$(magic plot.jpg 3)" = "ffd8ff" ] || { echo "plot.jpg is not a JPEG: $(magic plot.jpg 8)"; exit 1; }
"$runner" --quiet --plot plot.JPEG "$script" || exit 1
[ "$(magic plot.JPEG 3)" = "ffd8ff" ] || { echo "plot.JPEG is not a JPEG: $(magic plot.JPEG 8)"; exit 1; }
"$runner" --quiet --plot plot.bmp "$script" || exit 1
[ "$(magic plot.bmp 2)" = "424d" ] || { echo "plot.bmp is not a BMP: $(magic plot.bmp 8)"; exit 1; }
"$runner" --quiet --plot-log --plot plot_log.png "$script" || exit 1
[ "$(magic plot_log.png 8)" = "89504e470d0a1a0a" ] || { echo "plot_log.png is not a PNG"; exit 1; }
for bad in plot.xyz plot; do
    out=$("$runner" --plot "$bad" "$args_script" 2>&1); status=$?
    [ "$status" -eq 2 ] || { echo "--plot $bad: exit $status, expected 2 (usage)"; exit 1; }
    printf '%s\n' "$out" | grep -qF -- "--plot $bad:" || { echo "--plot $bad: no message naming it: $out"; exit 1; }
    printf '%s\n' "$out" | grep -qF -- ".png" || { echo "--plot $bad: the message lists no format: $out"; exit 1; }
    printf '%s\n' "$out" | grep -q "args:" && { echo "--plot $bad: the script ran before the refusal"; exit 1; }
    [ ! -e "$bad" ] || { echo "--plot $bad: a file was written"; exit 1; }
done
"$runner" --plot-log "$args_script" >/dev/null 2>&1; status=$?
[ "$status" -eq 2 ] || { echo "--plot-log without --plot: exit $status, expected 2"; exit 1; }
echo "plot formats ok: jpg $(wc -c < plot.jpg) bytes, bmp $(wc -c < plot.bmp), log png $(wc -c < plot_log.png)"
