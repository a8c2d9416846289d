#!/bin/sh
# check-seam.sh — the kernel core (src/umach/kern/) and the api layer (src/umach/api/) stay
# front-end neutral: they include no header that sleeps or reaches process memory (pthread,
# futex, mman, uio, signals) and read no front-end global. Run by ctest (umach_seam_headers).
# Usage: check-seam.sh [SOURCE_DIR]
root=${1:-$(dirname "$0")/..}
status=0
for dir in "$root/src/umach/kern" "$root/src/umach/api"; do
    if [ ! -d "$dir" ]; then
        echo "check-seam: $dir missing" >&2
        exit 1
    fi
    hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(pthread\.h|semaphore\.h|signal\.h|setjmp\.h|sys/mman\.h|sys/uio\.h|sys/syscall\.h|linux/futex\.h|sys/socket\.h|unistd\.h)>' \
        "$dir"/*.c "$dir"/*.h 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "check-seam: a front-end header in $dir (move the code to a front end):" >&2
        echo "$hits" >&2
        status=1
    fi
    hits=$(grep -nE '\b(um_the_world|um_embedded_[a-z_]+|getpid|getenv|vm_page_size|mmap|munmap|mremap|process_vm_(readv|writev)|syscall)[[:space:]]*\(?' \
        "$dir"/*.c "$dir"/*.h 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//|#)')
    if [ -n "$hits" ]; then
        echo "check-seam: $dir reaches a process global or the process's memory directly:" >&2
        echo "$hits" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "check-seam: kern/ and api/ are front-end neutral"
exit $status
