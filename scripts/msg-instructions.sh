#!/bin/sh
# msg-instructions.sh — instructions per message of mach_msg (docs/umach-internals.md
# "Performance"), counted by valgrind --tool=callgrind, so the figure does not depend on the
# machine's load. Builds scripts/msg-instructions.c against a Release build's libumach.so and
# runs each driver for N and for 3N messages: (I(3N) - I(N)) / 2N leaves start-up out.
#
# Usage: scripts/msg-instructions.sh [BUILD_DIR [N]]
#   BUILD_DIR  a build of this tree (default build-bench, what `make bench` makes: Release)
#   N          messages of the short run (default 20000)
# MSG_INSTR_ONLY="self oneway" runs only the named drivers (self, rpc, oneway), or rpc2: two
# threads doing the bench's cross-CPU RPC, run with UMACH_SPIN_US=0 so that each wait is a futex
# wait (valgrind runs one thread at a time: a spinning waiter would only burn its slice). Its
# total is not steady (1500-3000 per round trip from one run to the next: how often a receive
# finds its message already there depends on when valgrind switches threads), so it is not run
# by default; its callgrind output (MSG_INSTR_KEEP) shows what each step of a handoff costs.
# MSG_INSTR_KEEP=DIR keeps the callgrind output of the long runs there (callgrind_annotate
# DIR/oneway.out shows where the instructions go).
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-bench}
n=${2:-20000}
case $build in /*) ;; *) build=$root/$build ;; esac
lib=$build/libumach.so
[ -f "$lib" ] || { echo "msg-instructions: $lib missing (make bench, or cmake --build $build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -o "$tmp/drv" "$root/scripts/msg-instructions.c" \
    -L"$build" -Wl,-rpath,"$build" -lumach -pthread
count() { # driver messages -> total instructions
    (
        [ "$1" = rpc2 ] && export UMACH_SPIN_US=0
        exec valgrind --tool=callgrind --callgrind-out-file="$tmp/$1.$2.out" "$tmp/drv" "$1" "$2"
    ) 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
    sed -n 's/^summary: *//p' "$tmp/$1.$2.out"
}
for d in ${MSG_INSTR_ONLY:-self rpc oneway}; do
    a=$(count "$d" "$n")
    b=$(count "$d" $((3 * n)))
    echo "$d: $(( (b - a) / (2 * n) )) instructions per message ($n and $((3 * n)) messages)"
    if [ -n "$MSG_INSTR_KEEP" ]; then
        mkdir -p "$MSG_INSTR_KEEP" && cp "$tmp/$d.$((3 * n)).out" "$MSG_INSTR_KEEP/$d.out"
    fi
done
