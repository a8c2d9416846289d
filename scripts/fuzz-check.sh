#!/usr/bin/env bash
# Run every libFuzzer target of a build briefly: scripts/fuzz-check.sh <build-dir>
# (configured with clang and -DUMACH_FUZZ=ON; `make check` uses build-asan).
# FUZZ_SECONDS (default 60) per target. fuzz/corpus/<target>/, when present, seeds the run;
# new inputs go to a scratch corpus so the tree is never written. FUZZ_SEED (default 1) fixes
# libFuzzer's random seed so a CI run can be replayed.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
secs=${FUZZ_SECONDS:-60}

shopt -s nullglob
targets=("$build"/fuzz/*)
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no fuzz targets in $build/fuzz (fuzz/*.c, clang, -DUMACH_FUZZ=ON)"
    exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/machports-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
    name=$(basename "$t")
    mkdir -p "$scratch/$name"
    seeds=()
    [ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
    echo "fuzz: $name for ${secs}s"
    if ! "$t" -seed="${FUZZ_SEED:-1}" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$scratch/" \
           "$scratch/$name" "${seeds[@]}" >"$scratch/$name.log" 2>&1; then
        tail -n 60 "$scratch/$name.log" >&2
        for a in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-*; do
            echo "fuzz: $name failing input (base64): $(base64 -w0 "$a")" >&2
        done
        echo "fuzz: $name FAILED" >&2
        exit 1
    fi
    echo "fuzz: $name: $(grep -E "^Done [0-9]+ runs" "$scratch/$name.log" | tail -n 1)"
done
