#!/usr/bin/env bash
# Compile every C example of the documentation (```c blocks of README.md and docs/*.md)
# with -Wall -Wextra -Werror, and run each one that is a complete program (has main).
# A block without main must compile on its own at file scope after #include
# <machports/machports.h> (declarations, helper functions).
#
#   scripts/doc-examples.sh LIBMACHPORTS_A [LIBUMACH_A]
#
# CC (default cc) and CFLAGS (extra flags, e.g. the sanitizers of the libraries' build) are
# taken from the environment. Run by ctest as machports_doc_examples.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ $# -ge 1 ] || { echo "usage: $0 LIBMACHPORTS_A [LIBUMACH_A]" >&2; exit 2; }
libs=("$1")
[ $# -ge 2 ] && [ -n "$2" ] && libs+=("$2")
CC=${CC:-cc}
# shellcheck disable=SC2206
extra=(${CFLAGS:-})
if [ "$(uname -s)" = Darwin ]; then
    incs=(-idirafter "$root/include")
else
    incs=(-I "$root/include")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/doc-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Split the blocks out: one file per block, named after its page and line.
for md in README.md docs/*.md; do
    awk -v out="$work" -v page="$(basename "$md" .md)" '
        /^```c[[:space:]]*$/ { inblk = 1; n++; file = sprintf("%s/%s_%d.c", out, page, NR); next }
        /^```/ && inblk { inblk = 0; close(file); next }
        inblk { print > file }
    ' "$md"
done

total=0 ran=0 failed=0
for src in "$work"/*.c; do
    [ -e "$src" ] || continue
    total=$((total + 1))
    name=$(basename "$src" .c)
    if grep -q 'int main' "$src"; then
        if ! "$CC" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "${incs[@]}" "$src" \
                "${libs[@]}" -lpthread -o "$work/$name" 2>"$work/$name.log"; then
            echo "doc example $name does not build:" >&2
            cat "$work/$name.log" >&2
            failed=$((failed + 1))
            continue
        fi
        if ! timeout 60 "$work/$name" >"$work/$name.out" 2>&1; then
            echo "doc example $name failed when run:" >&2
            cat "$work/$name.out" >&2
            failed=$((failed + 1))
            continue
        fi
        ran=$((ran + 1))
    else
        { echo '#include <machports/machports.h>'; cat "$src"; } >"$work/$name.frag.c"
        if ! "$CC" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "${incs[@]}" -fsyntax-only \
                "$work/$name.frag.c" 2>"$work/$name.log"; then
            echo "doc fragment $name does not compile:" >&2
            cat "$work/$name.log" >&2
            failed=$((failed + 1))
        fi
    fi
done
echo "doc examples: $total blocks, $ran programs run, $failed failed"
[ "$total" -gt 0 ] || { echo "no C block found" >&2; exit 1; }
[ "$failed" -eq 0 ]
