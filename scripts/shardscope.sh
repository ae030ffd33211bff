#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
# ShardScope's one entry point for set-up: installs what is missing (Debian 12 packages),
# configures and builds into build/, then runs the GUI, the tests or the benchmark.
#
#   scripts/shardscope.sh run [DIR]   build, then open DIR (or the built-in demo) in the GUI
#   scripts/shardscope.sh test        build, then run every test suite with ctest
#   scripts/shardscope.sh bench       build, then run the consolidation benchmark
#   scripts/shardscope.sh build       install and build only
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SHARDSCOPE_BUILD_DIR:-$root/build}"
packages=(cmake g++ ninja-build qt6-base-dev nlohmann-json3-dev libcli11-dev fontconfig fonts-dejavu-core)

install_missing() {
    local missing=()
    for p in "${packages[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build_all() {
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" --parallel "$(nproc)"
}

cmd="${1:-run}"
shift || true
case "$cmd" in
build)
    install_missing
    build_all
    ;;
run)
    install_missing
    build_all
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        echo "No display: starting under Xvfb (set DISPLAY to use your desktop)." >&2
        install_missing xvfb xauth
        exec xvfb-run -a -s "-screen 0 1440x900x24" "$build/bin/shardscope" "$@"
    fi
    exec "$build/bin/shardscope" "$@"
    ;;
test)
    install_missing
    build_all
    export QT_QPA_PLATFORM=offscreen
    cd "$build"
    ctest --output-on-failure --timeout 900 -j "$(nproc)"
    ;;
bench)
    install_missing
    build_all
    exec "$build/bin/shardscope-bench" "$@"
    ;;
*)
    echo "usage: $0 run [DIR] | test | bench [options] | build" >&2
    exit 2
    ;;
esac
