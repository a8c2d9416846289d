#!/bin/sh
# rpc-ab.sh — compare libumach builds on the cross-CPU RPC of bench_mach_msg, alternating
# them run by run so that a loaded machine's changing mode falls on all of them alike
# (docs/umach-internals.md "Performance", eighth round). Builds scripts/rpc-timing.c once and
# runs it against each build's libumach.so in turn, ROUNDS times; per build and per mode of the
# machine (fast or slow, told by the plain spinning ping-pong run beside each: see the fourth
# look) it prints how many runs fell in it and their medians of the round trip (the mean of
# each run's middle 80%), of the CPU time per round trip and of the plain ping-pong's round
# trip, all in microseconds; then `uptime`.
#
# Usage: scripts/rpc-ab.sh ROUNDS BUILD_DIR...
#   BUILD_DIR  a build of some tree (Release: `make bench` makes build-bench), holding
#              libumach.so; copy one aside (cp -L BUILD/libumach.so.0 DIR/) to keep a version
# Two copies of one library show the noise (a few percent on the loaded 2-CPU VM).
set -e
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BUILD_DIR..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in "$@"; do
    [ -f "$b/libumach.so.0" ] || { echo "rpc-ab: $b/libumach.so.0 missing" >&2; exit 1; }
    dirs="$dirs $(cd "$b" && pwd)"
done
# Linked against the first; each run loads the build's own library.
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -I"$root/include" -o "$tmp/drv" "$root/scripts/rpc-timing.c" \
    "$(echo $dirs | cut -d' ' -f1)/libumach.so.0" -pthread
r=0
while [ $r -lt "$rounds" ]; do
    k=0
    for d in $dirs; do
        k=$((k + 1))
        LD_LIBRARY_PATH=$d "$tmp/drv" 1 | sed "s|^|$k |" >>"$tmp/runs"
    done
    r=$((r + 1))
done
# Fields: index, then "mach med M tmean T cpu C spin med M tmean T cpu C". Each run is filed
# under the machine's mode by its own plain spin round trip (fast below 0.18 us, as in the
# seventh round), since the mode comes and goes between runs of one binary.
med() { # the median of the numbers on stdin, or "-"
    sort -n | awk '{v[NR] = $1} END {if (NR) printf "%.4f", v[int((NR + 1) / 2)]; else printf "-"}'
}
k=0
for d in $dirs; do
    k=$((k + 1))
    line="$d:"
    for mode in fast slow; do
        f=0
        [ $mode = fast ] && f=1
        pick() { awk -v k=$k -v f=$f '$1 == k && ($13 < 0.18) == f' "$tmp/runs"; }
        n=$(pick | wc -l)
        rt=$(pick | awk '{print $6}' | med)
        cpu=$(pick | awk '{print $8}' | med)
        spin=$(pick | awk '{print $13}' | med)
        line="$line  $mode: $n runs, round trip $rt, cpu $cpu, plain spin $spin;"
    done
    echo "$line"
done
uptime
