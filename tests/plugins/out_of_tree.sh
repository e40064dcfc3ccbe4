#!/bin/sh
# out_of_tree.sh BUILD_DIR SOURCE_DIR
# A third party's view: install the build to a temporary prefix, build the
# template plugin out of tree against it, check it and train with it from
# Lua; then break its gradient and expect --check-plugin to say where.
set -eu
build=$1
source=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/neurite-plugins.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

step() { printf '== %s\n' "$*"; }
die() { printf 'out_of_tree.sh: %s\n' "$*" >&2; exit 1; }

step "install to $tmp/prefix"
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; die "cmake --install failed"; }
run="$tmp/prefix/bin/neurite-run"
[ -x "$run" ] || die "the install has no bin/neurite-run"

# build_plugin SOURCE BINARY: configure and build against the prefix alone.
build_plugin() {
    cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$2.log" 2>&1 &&
        cmake --build "$2" >>"$2.log" 2>&1 || { cat "$2.log"; die "building $1 failed"; }
}

step "build plugins/template out of tree"
build_plugin "$source/plugins/template" "$tmp/rbf"
so="$tmp/rbf/neurite_rbf.so"
[ -f "$so" ] || die "the template build made no neurite_rbf.so"

step "neurite-run --check-plugin (expect exit 0)"
status=0
"$run" --check-plugin "$so" >"$tmp/check.txt" 2>&1 || status=$?
cat "$tmp/check.txt"
[ "$status" -eq 0 ] || die "--check-plugin exited $status on the template, expected 0"
for check in "ABI negotiation" "RBF: schema" "RBF: gradient" "RBF: state round trip" \
             "RBF: determinism" "RBF: writes only its outputs"; do
    grep -q "^PASS  .*$check" "$tmp/check.txt" || die "no PASS line for '$check'"
done

step "train from Lua through NEURITE_PLUGIN_PATH"
mkdir -p "$tmp/onnx"
NEURITE_PLUGIN_PATH="$tmp/rbf" "$run" --quiet "$source/tests/plugins/rbf_train.lua" "$tmp/onnx" ||
    die "training with the RBF plugin (and exporting it to ONNX) failed"

# The template's ONNX form under an independent runtime, when ONNX Runtime's
# Node.js package is installed (tools/install-onnxruntime.sh).
if command -v node >/dev/null 2>&1 && [ -d "$source/.cache/onnxruntime/node_modules/onnxruntime-node" ]; then
    step "the RBF's ONNX form under ONNX Runtime"
    node "$source/tests/lua/ort_check.js" "$tmp/onnx" "$source/.cache/onnxruntime" ||
        die "ONNX Runtime disagrees with Neurite on the RBF's ONNX form"
else
    echo "(ONNX Runtime not installed: the RBF's ONNX form was checked, not run)"
fi

step "a wrong gradient (3 instead of 2 in d/dcentres) must FAIL"
cp -r "$source/plugins/template" "$tmp/broken"
sed -i 's/dc\[k\] += 2\.0f \* g \* t \* diff;/dc[k] += 3.0f * g * t * diff;/' "$tmp/broken/rbf.cpp"
grep -q 'dc\[k\] += 3.0f' "$tmp/broken/rbf.cpp" || die "the sed did not break the template"
build_plugin "$tmp/broken" "$tmp/broken-build"
status=0
"$run" --check-plugin "$tmp/broken-build/neurite_rbf.so" >"$tmp/broken.txt" 2>&1 || status=$?
cat "$tmp/broken.txt"
[ "$status" -eq 1 ] || die "--check-plugin exited $status on the broken variant, expected 1"
grep -q '^FAIL  RBF: gradient: maximum relative error [0-9.e+-]* in centers element' "$tmp/broken.txt" ||
    die "the FAIL line does not name RBF, the maximum error and the tensor"

step "a missing file is a usage error"
status=0
"$run" --check-plugin "$tmp/no-such.so" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || die "--check-plugin on a missing file exited $status, expected 2"
echo "out_of_tree.sh: ok"
