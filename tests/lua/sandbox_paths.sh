#!/bin/sh
# sandbox_paths.sh RUNNER SCRIPT
# A working directory whose symbolic links lead outside it (a file, a
# dangling link, a folder), and files outside it: the sandboxed script must
# neither write nor read through them, and --allow-read opens the outside
# folder for reading (not for writing).
runner=$1; script=$2
top=$(mktemp -d); trap 'rm -rf "$top"' EXIT
work=$top/work; outside=$top/outside
mkdir -p "$work" "$outside/images/cat"
printf 'x,label\n1,secret-class\n2,other\n' > "$outside/secret.csv"
echo "an old checkpoint" > "$outside/existing.nrt"
# A 1x1 PNG.
echo iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII= |
    base64 -d > "$outside/images/cat/a.png"
ln -s "$outside/existing.nrt" "$work/link_to_file.nrt"
ln -s "$outside/new.nrt" "$work/dangling.nrt"
ln -s "$outside" "$work/linkdir"
ln -s "$outside/secret.csv" "$work/secret_link.csv"
printf 'x,label\n1,a\n2,b\n' > "$work/inside.csv"
cd "$work" || exit 1
"$runner" --sandbox "$script" "$outside" || exit 1
"$runner" --sandbox --allow-read "$outside" "$script" "$outside" allowed || exit 1
for f in new.nrt m.nrt ck.nrt; do
    if [ -e "$outside/$f" ]; then echo "sandbox_paths.sh: $outside/$f was written"; exit 1; fi
done
if [ "$(cat "$outside/existing.nrt")" != "an old checkpoint" ]; then
    echo "sandbox_paths.sh: the file behind the link was overwritten"; exit 1
fi
echo "sandbox_paths.sh: nothing left the working directory"
