#!/usr/bin/env bash
# Installs the Debian packages tailor needs (only those missing), then configures and builds into
# build/ (or $TAILOR_BUILD_DIR). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ libdnnl-dev doctest-dev nlohmann-json3-dev libstb-dev zlib1g-dev libjpeg62-turbo-dev
          dataset-fashion-mnist xz-utils libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir="${TAILOR_BUILD_DIR:-build}"
mkdir -p "$build_dir"
if ! cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${TAILOR_CMAKE_ARGS:-} >"$build_dir/configure.log"; then
  cat "$build_dir/configure.log"
  exit 1
fi
grep -E "^-- (CUDA|MPI|NCCL) backend" "$build_dir/configure.log" || true  # on (found) or off, and why
# the main job needs only the program; scripts/test.sh builds everything (TAILOR_BUILD_TARGET=all)
cmake --build "$build_dir" -j "$(nproc)" --target "${TAILOR_BUILD_TARGET:-tailor}"
