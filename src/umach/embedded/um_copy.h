/*
 * um_copy.h — a copy of a task's buffer that returns false instead of faulting, resolved by
 * the program counter (um_copy.c), where the architecture allows it.
 */
#ifndef UM_COPY_H
#define UM_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct um_task;

/*
 * ThreadSanitizer sees a buffer's accesses only through its memcpy interceptor, and reports
 * a race on a message buffer from there: under it, um_memory.c's copy behind a jump buffer
 * (memcpy) stays. AddressSanitizer's checks are kept by um_memory.c (a range it would report
 * takes that copy too).
 */
#if defined(__SANITIZE_THREAD__)
#define UM_COPY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UM_COPY_TSAN 1
#endif
#endif

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) && !defined(UM_COPY_TSAN)
#define UM_COPY_ASM 1

/*
 * Copy `len` bytes from `src` to `dst` (not overlapping) in this process; `task` is not read
 * (the two are a task's msg_read and msg_write as they are, one routine). true: copied;
 * false: a load or a store faulted (SIGSEGV or SIGBUS), and the bytes before it in the copy's
 * order may have been written. Only with um_memory.c's handler installed
 * (um_embedded_memory_init).
 */
__attribute__((visibility("hidden"))) bool um_copy_in(struct um_task *task, void *dst,
                                                      uint64_t src, size_t len);
__attribute__((visibility("hidden"))) bool um_copy_out(struct um_task *task, uint64_t dst,
                                                       const void *src, size_t len);

/*
 * From a SIGSEGV or SIGBUS handler, with its ucontext: when the fault is um_copy's, resume
 * the thread at um_copy's recovery point (it returns false) and return true.
 */
__attribute__((visibility("hidden"))) bool um_copy_fixup(void *uc);
#else
#define UM_COPY_ASM 0
#endif

#endif
