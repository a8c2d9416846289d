#!/usr/bin/env bash
# Install what `make check` needs on a Debian 12 machine, only what is missing, and nothing
# (not even `apt-get update`) when everything is there. Needs root or sudo only to install.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

need=()
for tool in cmake make gcc clang pkg-config valgrind file python3; do
    have "$tool" || need+=("$tool")
done
# clang's AddressSanitizer/UBSan and libFuzzer runtimes are a separate package on Debian.
rt_ok=0
if have clang; then
    rt=$(clang -print-resource-dir 2>/dev/null)/lib/linux
    if ls "$rt"/libclang_rt.asan-*.a "$rt"/libclang_rt.ubsan_standalone-*.a \
          "$rt"/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
        rt_ok=1
    fi
fi
[ $rt_ok = 1 ] || need+=(libclang-rt-14-dev)

[ ${#need[@]} -eq 0 ] && exit 0

if ! have apt-get; then
    echo "ensure-deps: missing ${need[*]}; install them (no apt-get here)" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    have sudo || { echo "ensure-deps: missing ${need[*]}; run as root to install" >&2; exit 1; }
    sudo=(sudo -n)
fi
echo "ensure-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq </dev/null >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
