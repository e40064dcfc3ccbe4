#!/bin/sh
# scripts/autoencoder.lua -- 1 --plot FILE --samples N: a quick run writes
# 8 test images beside their reconstructions, a PNG of 4 tiles (56 pixels,
# scale 2) by 4 rows with 1-pixel gaps: 229 x 229.
run=$1
script=$2
out=autoencoder_plot.png
rm -f "$out"
"$run" --quiet "$script" -- 1 --plot "$out" --samples 256 > autoencoder_plot.log 2>&1 || { cat autoencoder_plot.log; exit 1; }
cat autoencoder_plot.log
grep -q "reconstruction error (test MSE per pixel)" autoencoder_plot.log || { echo "no reconstruction error printed"; exit 1; }
grep -q "saved 8 test images beside their reconstructions to $out (229 x 229 pixels)" autoencoder_plot.log ||
    { echo "the script did not report the picture"; exit 1; }
# The PNG's own header: signature, then IHDR with width and height (big-endian).
magic=$(od -An -c -j1 -N3 "$out" | tr -d ' ')
[ "$magic" = "PNG" ] || { echo "$out is not a PNG ($magic)"; exit 1; }
size=$(od -An -tu1 -j16 -N8 "$out" | awk '{ print $1*16777216 + $2*65536 + $3*256 + $4 "x" $5*16777216 + $6*65536 + $7*256 + $8 }')
[ "$size" = "229x229" ] || { echo "$out is $size, expected 229x229"; exit 1; }
echo "ok: $out is a PNG of $size"
