#!/usr/bin/env bash
# Install the project into a temporary prefix and build programs outside the tree against it:
# an ordinary Mach program (hello_mach.c), a machports program (hello_machports.c) and the
# demo (examples/demo.c, which calls only mp_*), each with pkg-config exactly as README.md
# says for a non-system prefix, and with a CMake project using find_package; then run them
# with nothing in the environment pointing at the prefix (no LD_LIBRARY_PATH).
#
#   BUILD_DIR=build-gcc bash tests/install/check.sh   # install an existing build
#   bash tests/install/check.sh                       # configure and build build-install/ first
# CC (default cc) compiles the pkg-config programs.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/tests/install
CC=${CC:-cc}
JOBS=${JOBS:-2}

if [ -z "${BUILD_DIR:-}" ]; then
    BUILD_DIR=build-install
    cmake -S . -B "$BUILD_DIR" -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$BUILD_DIR" -j"$JOBS" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/machports-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "install check: FAIL: $*" >&2; exit 1; }
step() { echo "install check: $*"; }

cmake --install "$BUILD_DIR" --prefix "$prefix" >/dev/null
linux=1
[ "$(uname -s)" = Darwin ] && linux=0

pcdir=$(dirname "$(find "$prefix" -name machports.pc -print -quit)")
[ -f "$pcdir/machports.pc" ] || fail "machports.pc not installed"
libdir=$(dirname "$pcdir")
export PKG_CONFIG_PATH=$pcdir
# The programs must find the libraries by themselves, as they would on a user's machine.
unset LD_LIBRARY_PATH

# ---- the installed tree ----------------------------------------------------------------------
expect=(include/machports/machports.h "${libdir#"$prefix"/}/libmachports.a")
[ $linux = 1 ] && expect+=(include/umach/mach/mach.h include/umach/umach/lsmp.h "${libdir#"$prefix"/}/libumach.a"
                           "${libdir#"$prefix"/}/libumach.so" "${pcdir#"$prefix"/}/umach.pc"
                           "${libdir#"$prefix"/}/cmake/umach/umachConfig.cmake")
expect+=("${libdir#"$prefix"/}/cmake/machports/machportsConfig.cmake")
for f in "${expect[@]}"; do
    [ -e "$prefix/$f" ] || fail "$f not installed"
done
internal=$(find "$prefix/include" \( -name 'um_*' -o -name '*internal*' \) -print)
[ -z "$internal" ] || fail "internal headers installed: $internal"
step "installed tree ok ($(find "$prefix" -type f | wc -l) files)"

if [ $linux = 1 ]; then
    # libumach.so exports the Mach API and nothing of umach's internals.
    leaked=$(nm -D --defined-only "$libdir/libumach.so" | awk '{print $3}' | grep -E '^_*um_' || true)
    [ -z "$leaked" ] || fail "libumach.so exports internal symbols: $(echo "$leaked" | head -c 300)"
    step "libumach.so exports $(nm -D --defined-only "$libdir/libumach.so" | wc -l) symbols, none internal"

    # Every installed header compiles on its own.
    # The Mach headers are in include/umach/ (the directory umach.pc names), not include/.
    [ ! -e "$prefix/include/mach" ] || fail "Mach headers installed into include/mach"
    for h in $(cd "$prefix/include/umach" && find mach mach_debug servers -name '*.h' 2>/dev/null | sort) \
             $(cd "$prefix/include" && find machports -name '*.h' 2>/dev/null | sort); do
        printf '#include <%s>\n' "$h" >"$work/one.c"
        "$CC" -std=c11 -Wall -Wextra -Werror -I"$prefix/include" -I"$prefix/include/umach" -c "$work/one.c" \
            -o "$work/one.o" || fail "<$h> does not compile on its own"
    done
    step "every installed header compiles on its own"
fi

# ---- pkg-config, as README.md says -------------------------------------------------------
# README: cc app.c $(pkg-config --cflags --libs machports) -Wl,-rpath,PREFIX/lib
# Built twice: as the compiler links by default, and with --as-needed (the default of some
# distributions' gcc), which drops a library the program itself does not call: a program
# that calls only mp_* then has no DT_NEEDED on libumach, and libmachports.so must find it.
if [ $linux = 1 ]; then
    # libmachports.so really needs libumach.so and finds it next to itself.
    dyn=$(readelf -d "$libdir/libmachports.so")
    grep -q 'NEEDED.*libumach\.so' <<<"$dyn" || fail "libmachports.so has no DT_NEEDED on libumach"
    grep -q 'RUNPATH.*\$ORIGIN\|RPATH.*\$ORIGIN' <<<"$dyn" ||
        fail "libmachports.so has no \$ORIGIN run path"
    # shellcheck disable=SC2046
    "$CC" -Wall -Wextra -Werror "$here/hello_mach.c" -o "$work/hello_mach_pc" \
        $(pkg-config --cflags --libs umach) -Wl,-rpath,"$libdir" ||
        fail "hello_mach (pkg-config umach) does not build"
    "$work/hello_mach_pc" || fail "hello_mach (pkg-config) failed"
fi
as_needed=("")
[ $linux = 1 ] && as_needed+=("-Wl,--as-needed")
for extra in "${as_needed[@]}"; do
    for prog in "$here/hello_machports.c" "$root/examples/demo.c"; do
        name=$(basename "$prog" .c)
        # shellcheck disable=SC2046,SC2086
        "$CC" $extra "$prog" $(pkg-config --cflags --libs machports) -Wl,-rpath,"$libdir" \
            -o "$work/${name}_pc" || fail "$name (pkg-config machports ${extra}) does not build"
        "$work/${name}_pc" >"$work/${name}.out" 2>&1 ||
            { cat "$work/${name}.out" >&2; fail "$name (pkg-config machports ${extra}) failed"; }
    done
done
step "pkg-config programs ok (hello_machports and the demo, also with --as-needed)"

# ---- CMake find_package ---------------------------------------------------------------------
cmake -S "$here/project" -B "$work/project" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log" >&2; fail "find_package project does not configure"; }
cmake --build "$work/project" -j"$JOBS" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; fail "find_package project does not build"; }
progs=(hello_machports hello_machports_static)
[ $linux = 1 ] && progs+=(hello_mach hello_mach_static)
for p in "${progs[@]}"; do
    "$work/project/$p" || fail "$p (CMake) failed"
done
step "CMake programs ok (${progs[*]})"
echo "install check: passed"
