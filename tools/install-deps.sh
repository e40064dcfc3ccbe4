#!/bin/sh
# Installs the Debian 12 packages Neurite needs to build, test and run.
# Idempotent: a no-op (no apt-get at all) when everything is present.
set -eu

PACKAGES="cmake ninja-build ccache g++ make pkg-config zlib1g-dev \
qt6-base-dev qt6-base-dev-tools qt6-charts-dev libqt6opengl6-dev libgl-dev \
libdnnl-dev ocl-icd-opencl-dev liblua5.4-dev lua5.4 liblapack-dev dataset-fashion-mnist \
libzip-dev libonnx-dev libprotobuf-dev libopenmpi-dev openmpi-bin \
xvfb xauth"
# `install-deps.sh fuzz` (make check-fuzz): clang with libFuzzer's runtime.
if [ "${1:-}" = fuzz ]; then
    PACKAGES="$PACKAGES clang libclang-rt-14-dev"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "Installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
