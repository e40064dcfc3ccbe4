#!/bin/sh
# log_plot.sh RUNNER SCRIPT: --log (.csv and .jsonl) and --plot write their files.
runner=$1; script=$2
rm -f run.csv run.jsonl run.png
"$runner" --quiet --log run.csv --plot run.png "$script" || exit 1
"$runner" --quiet --log run.jsonl "$script" || exit 1
head -1 run.csv | grep -qx 'run,step,epoch,name,value,time' || { echo "bad CSV header"; exit 1; }
grep -q ',loss,' run.csv || { echo "no loss rows in run.csv"; exit 1; }
grep -q '"name":"loss"' run.jsonl || { echo "no loss objects in run.jsonl"; exit 1; }
[ "$(head -c 8 run.png | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ] || { echo "run.png is not a PNG"; exit 1; }
echo "log and plot ok: $(wc -l < run.csv) CSV rows, $(wc -c < run.png) PNG bytes"
