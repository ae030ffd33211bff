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
#   scripts/shardscope.sh sanitize    build with clang's ASan+UBSan (build-asan/) and TSan
#                                     (build-tsan/), then run the Qt-free suites and tst_cli
#   scripts/shardscope.sh fuzz [SECONDS]
#                                     build the libFuzzer targets (build-fuzz/), write the seeds,
#                                     fuzz each target for SECONDS (default 1800); non-zero exit
#                                     on any finding. SHARDSCOPE_FUZZ_JOBS=2 runs two at a time;
#                                     SHARDSCOPE_FUZZ_BINARIES=build-asan reuses sanitize's tree.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SHARDSCOPE_BUILD_DIR:-$root/build}"
# libzstd decodes zstd DCP items; python3 and zstd write the DCP test fixtures (tests/dcp);
# zlib gives the benchmark's DCP archives their CRCs; libre2 runs the export rules' regular
# expressions (--rename, --include, --exclude, --cast-keep) fast enough for 100,000 names;
# libmimalloc is the programs' allocator (millions of small allocations when scanning headers);
# Open MPI runs `consolidate --distributed` (mpirun, and the library the CLI links).
packages=(cmake g++ ninja-build pkg-config qt6-base-dev nlohmann-json3-dev libcli11-dev libzstd-dev
          libre2-dev libmimalloc-dev zlib1g-dev python3 zstd fontconfig fonts-dejavu-core
          libopenmpi-dev openmpi-bin)
# fuzz and sanitize build with clang (libFuzzer and the sanitizer runtimes).
clang_packages=(clang libclang-rt-14-dev)

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

# The Qt-free suites and the process-level CLI suites (their shardscope-cli children are
# sanitized too): the ones that run under the sanitizers.
sanitizer_flags="-O2 -gline-tables-only -DNDEBUG"
# Script tests that drive the sanitized shardscope-cli (no target of their own to build):
# checkpoints written by PyTorch itself (two sets, written independently), and wide-dtype values.
sanitized_scripts=(tst_dcp_pytorch tst_dcp_torch tst_wide_values)
sanitized_tests=(tst_safetensors_reader tst_pickle tst_checkpoint tst_plan tst_files tst_engine tst_output_set tst_cli tst_faults tst_zip_reader tst_dcp_core tst_value_stats tst_hf_folder tst_values_cli tst_dtype_cast tst_export_rules tst_export_engine)

sanitize() {
    local asan="$root/build-asan" tsan="$root/build-tsan" supp="$root/tests/sanitizers"
    echo "== ASan+UBSan: $asan"
    # The same tree also holds the fuzz targets (coverage instrumentation costs the tests little),
    # so `SHARDSCOPE_FUZZ_BINARIES=build-asan scripts/shardscope.sh fuzz` needs no second build.
    # Line tables only (-gline-tables-only): reports still name file and line, and the two
    # sanitizer builds compile in a good part less time than with full debug information.
    CC=clang CXX=clang++ cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$sanitizer_flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$sanitizer_flags" \
        -DSHARDSCOPE_BUILD_GUI=OFF -DSHARDSCOPE_BUILD_TESTS=ON -DSHARDSCOPE_FUZZ=ON \
        -DSHARDSCOPE_SANITIZERS=address,undefined >/dev/null
    cmake --build "$asan" --parallel "$(nproc)" --target shardscope-cli "${sanitized_tests[@]}" \
        shardscope_fuzz
    local regex
    regex="^($(IFS='|'; echo "${sanitized_tests[*]} ${sanitized_scripts[*]}" | tr ' ' '|'))\$"
    # Reports go to files as well as failing the process (exit code 86), so a report in a
    # shardscope-cli child of tst_cli fails the run even if the test only looks at its output.
    local reports="$asan/sanitizer-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    local rc=0
    (
        export QT_QPA_PLATFORM=offscreen
        export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:exitcode=86:detect_stack_use_after_return=1:strict_init_order=1:log_path=$reports/asan"
        export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=$reports/ubsan"
        export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
        cd "$asan"
        ctest --output-on-failure --timeout 900 -j "$(nproc)" -R "$regex"
    ) || rc=$?
    sanitizer_reports "$reports" || rc=1
    [ "$rc" -eq 0 ] || return "$rc"
    # tst_dcp_core: the DCP scan reads items on a second thread while .metadata is parsed.
    # tst_value_stats: the statistics threads fold windows into shared per-tensor tables.
    # tst_checkpoint: shard headers parsed on every thread, merged in file order through a
    # turnstile, tuples interned from every thread into the shared shape pool.
    # tst_distributed_engine: the distributed export with its ranks as threads (votes, a failure
    # on one rank stopping the others' writers).
    # tst_export_engine (cast windows share one reader, lost values summed under a lock) passed
    # under TSan when the cast path was written; it stays out here so CI keeps under 15 minutes.
    echo "== TSan: $tsan (tst_engine, tst_dcp_core, tst_value_stats, tst_checkpoint, tst_distributed_engine)"
    CC=clang CXX=clang++ cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$sanitizer_flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$sanitizer_flags" \
        -DSHARDSCOPE_BUILD_GUI=OFF -DSHARDSCOPE_BUILD_TESTS=ON \
        -DSHARDSCOPE_SANITIZERS=thread >/dev/null
    cmake --build "$tsan" --parallel "$(nproc)" --target tst_engine tst_dcp_core tst_value_stats \
        tst_checkpoint tst_distributed_engine
    reports="$tsan/sanitizer-reports"
    rm -rf "$reports" && mkdir -p "$reports"
    (
        export QT_QPA_PLATFORM=offscreen
        export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:exitcode=86:suppressions=$supp/tsan.supp:log_path=$reports/tsan"
        cd "$tsan"
        ctest --output-on-failure --timeout 900 -R "^(tst_engine|tst_dcp_core|tst_value_stats|tst_checkpoint|tst_distributed_engine)$"
    ) || rc=$?
    sanitizer_reports "$reports" || rc=1
    return "$rc"
}

# Prints every sanitizer report left in DIR; fails when there is one.
sanitizer_reports() {
    local f found=0
    for f in "$1"/*; do
        [ -s "$f" ] || continue
        echo "---- sanitizer report: $f" >&2
        cat "$f" >&2
        found=1
    done
    [ "$found" -eq 0 ]
}

fuzz_targets=(fuzz_header fuzz_scan fuzz_mapping fuzz_sharding_info fuzz_pickle fuzz_zip fuzz_byte_item)

# fuzz_one TARGET SECONDS BINDIR: one libFuzzer run; its summary goes to logs/TARGET.summary.
fuzz_one() {
    local t="$1" seconds="$2" fb="$root/build-fuzz" bin="$3"
    local dict="$root/tests/fuzz/safetensors.dict"
    case "$t" in
    fuzz_mapping) dict="$root/tests/fuzz/mapping.dict" ;;
    fuzz_sharding_info) dict="$root/tests/fuzz/sharding_info.dict" ;;
    fuzz_zip | fuzz_byte_item) dict="$root/tests/fuzz/zip.dict" ;;
    fuzz_pickle) dict="$root/tests/fuzz/pickle.dict" ;;
    esac
    local corpus="$fb/corpus/$t" findings="$fb/findings/$t" log="$fb/logs/$t.log"
    mkdir -p "$corpus" "$fb/logs"
    # Keep the findings of an earlier run instead of counting them again.
    if [ -d "$findings" ] && [ -n "$(ls -A "$findings")" ]; then
        mv "$findings" "$findings.$(date +%Y%m%d-%H%M%S)"
    fi
    mkdir -p "$findings"
    local start end rc=0
    start=$(date +%s)
    "$bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="$dict" -artifact_prefix="$findings/" -print_final_stats=1 \
        "$corpus" "$fb/seeds/$t" >"$log" 2>&1 || rc=$?
    end=$(date +%s)
    local runs found
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    found=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then
        found=1 # libFuzzer failed without leaving an input: still a finding, see the log
    fi
    printf '%-19s time %5ss  executions %10s  corpus %6s files %6s  findings %s\n' "$t" \
        "$((end - start))" "${runs:-?}" "$(find "$corpus" -type f | wc -l)" \
        "$(du -sh --apparent-size "$corpus" | cut -f1)" "$found" >"$fb/logs/$t.summary"
    return 0
}

fuzz() {
    local seconds="${1:-1800}" fb="$root/build-fuzz" jobs="${SHARDSCOPE_FUZZ_JOBS:-1}"
    # The binaries come from build-fuzz/ (Qt-free) unless SHARDSCOPE_FUZZ_BINARIES names another
    # tree configured with SHARDSCOPE_FUZZ=ON (CI reuses build-asan/); corpus, seeds, findings
    # and logs always live in build-fuzz/.
    local tree="$fb"
    if [ -n "${SHARDSCOPE_FUZZ_BINARIES:-}" ]; then
        tree="$(cd "$SHARDSCOPE_FUZZ_BINARIES" && pwd)"
        grep -q '^SHARDSCOPE_FUZZ:BOOL=ON' "$tree/CMakeCache.txt" || {
            echo "$tree is not configured with SHARDSCOPE_FUZZ=ON" >&2
            return 2
        }
    else
        CC=clang CXX=clang++ cmake -S "$root" -B "$fb" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DSHARDSCOPE_BUILD_GUI=OFF -DSHARDSCOPE_BUILD_TESTS=OFF -DSHARDSCOPE_FUZZ=ON >/dev/null
    fi
    cmake --build "$tree" --parallel "$(nproc)" --target shardscope_fuzz
    local bin="$tree/bin"
    mkdir -p "$fb"
    rm -rf "$fb/seeds"
    "$bin/make_seeds" "$fb/seeds"
    # Files written by PyTorch itself seed the pickle VM (.metadata) and the zip reader (one
    # torch.save archive per .distcp in a file-per-item checkpoint).
    local f name
    for f in "$root"/tests/dcp/pytorch/fixtures/*/.metadata "$root"/tests/dcp/torch/fixtures/*/ckpt/.metadata; do
        name=$(echo "${f#"$root"/tests/dcp/}" | tr '/' '-')
        mkdir -p "$fb/seeds/fuzz_pickle" && cp "$f" "$fb/seeds/fuzz_pickle/$name"
    done
    for f in "$root"/tests/dcp/pytorch/fixtures/*_file_per_item/*.distcp "$root"/tests/dcp/torch/fixtures/*_per_item/ckpt/*.distcp; do
        name=$(echo "${f#"$root"/tests/dcp/}" | tr '/' '-')
        mkdir -p "$fb/seeds/fuzz_zip" && cp "$f" "$fb/seeds/fuzz_zip/$name"
        mkdir -p "$fb/seeds/fuzz_byte_item" && cp "$f" "$fb/seeds/fuzz_byte_item/$name"
    done
    # fuzz_scan rewrites its shard files every run: keep them on tmpfs when there is one.
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        fuzz_scratch=$(mktemp -d /dev/shm/shardscope-fuzz.XXXXXX)
    else
        fuzz_scratch=$(mktemp -d)
    fi
    trap 'rm -rf "$fuzz_scratch"' EXIT
    export SHARDSCOPE_FUZZ_TMPDIR="$fuzz_scratch"
    local targets=() t
    for t in "${fuzz_targets[@]}"; do
        [ -x "$bin/$t" ] && targets+=("$t")
    done
    echo "Fuzzing ${targets[*]} for ${seconds}s each, $jobs at a time; logs in $fb/logs/"
    local running=0
    for t in "${targets[@]}"; do
        rm -f "$fb/logs/$t.summary"
        fuzz_one "$t" "$seconds" "$bin" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait
    local total=0 n
    for t in "${targets[@]}"; do
        cat "$fb/logs/$t.summary"
        n=$(awk '{print $NF}' "$fb/logs/$t.summary")
        total=$((total + n))
    done
    if [ "$total" -ne 0 ]; then
        echo "FUZZ FINDINGS: $total (inputs in $fb/findings/, logs in $fb/logs/)" >&2
        return 1
    fi
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
sanitize)
    install_missing "${clang_packages[@]}"
    sanitize
    ;;
fuzz)
    install_missing "${clang_packages[@]}"
    fuzz "$@"
    ;;
*)
    echo "usage: $0 run [DIR] | test | bench [options] | build | sanitize | fuzz [SECONDS]" >&2
    exit 2
    ;;
esac
