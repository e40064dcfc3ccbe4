#!/bin/sh
# Installs ONNX Runtime's Node.js binding (npm's onnxruntime-node, whose
# Linux x64 libraries ship inside the package) into .cache/onnxruntime, a
# gitignored folder, for the test that runs Neurite's exported models under
# an independent runtime (ctest -R onnx_runtime). Without it that test is
# reported as skipped.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.cache/onnxruntime"
cd "$root/.cache/onnxruntime"
npm install --ignore-scripts --no-audit --no-fund onnxruntime-node
