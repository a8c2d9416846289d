/*
 * um_memory.c — the embedded front end's memory: the kernel's regions are anonymous mappings
 * of this process, and the task's memory is this process's own address space.
 *
 * Sender memory under the world lock is read with process_vm_readv (the kernel checks the
 * range: EFAULT, not SIGSEGV); the message buffer itself, outside the lock, with copies that
 * turn a fault into an error (see embedded_msg_read). Either way a bad buffer is an error
 * code instead of a crash. A kernel region becomes task memory as it is: both live in
 * one address space. Out-of-line memory and vm_allocate'd regions are src/umach/vm/'s
 * (memfd-backed regions shared copy-on-write, moved by moving their mapping).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* process_vm_readv */
#endif
#include "um_embedded.h"
#include "../vm/um_regions.h"
#include "um_copy.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *embedded_region_alloc(um_kernel *kernel, size_t len)
{
    (void)kernel;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void embedded_region_free(um_kernel *kernel, void *region, size_t len)
{
    (void)kernel;
    munmap(region, len);
}

static void embedded_copy_discard(um_kernel *kernel, um_vm_copy *copy)
{
    (void)kernel;
    um_vm_copy_discard(copy);
}

static um_vm_copy *embedded_copy_region(um_kernel *kernel, void *region, size_t len,
                                        uint64_t size)
{
    (void)kernel;
    return um_vm_copy_of_region(region, len, size);
}

static bool embedded_copy_read(um_kernel *kernel, const um_vm_copy *copy, void *dst, size_t len)
{
    (void)kernel;
    return um_vm_copy_read(copy, dst, len);
}

static void embedded_machine(um_kernel *kernel, um_machine *out)
{
    (void)kernel;
    um_machine_read(out);
}

const um_kernel_ops um_embedded_kernel_ops = {
    .region_alloc = embedded_region_alloc,
    .region_free = embedded_region_free,
    .copy_discard = embedded_copy_discard,
    .copy_region = embedded_copy_region,
    .copy_read = embedded_copy_read,
    .machine = embedded_machine,
    .clock_read = um_embedded_clock_read,
};

/*
 * The message buffer is copied with copies that may fault: a SIGSEGV or SIGBUS raised while
 * the calling thread copies in embedded_msg_read or embedded_msg_write ends that copy, which
 * returns false, instead of the process. Faults anywhere else go to whatever handler was
 * installed before ours (or the default action), so a program's own handler and a
 * sanitizer's still see their faults. Costs no system call per copy, which keeps mach_msg as
 * fast as a plain memcpy of the message.
 *
 * On x86-64 and aarch64 Linux the copy is um_copy (um_copy.c): the handler sees the fault's
 * program counter inside it and moves it to the copy's recovery point, as a kernel's
 * exception table does for copyin; nothing is saved before a copy. Elsewhere, and under
 * ThreadSanitizer (see um_copy.h), it is a memcpy behind a jump buffer that the handler
 * jumps back to; under AddressSanitizer, for a range the sanitizer would report (memory it
 * poisoned: a heap overflow, a freed block), so that its report stays.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FE_ASAN 1
#endif
#endif
#if defined(FE_ASAN) || defined(UM_COPY_TSAN)
#define UM_SANITIZED 1
#endif
#ifdef FE_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if !UM_COPY_ASM || defined(FE_ASAN)
#define FE_JMP_COPY 1
#endif

#ifdef FE_JMP_COPY
/*
 * The jump back into the copy. Outside the sanitizers it is GCC's and clang's builtin
 * setjmp (it saves only the frame and stack pointers: a few instructions, where sigsetjmp
 * costs a call and a mask check per copy); under AddressSanitizer and ThreadSanitizer,
 * siglongjmp, whose interceptors unpoison the stack the jump skips and see the handler end.
 */
#ifdef UM_SANITIZED
typedef sigjmp_buf fe_jmp_buf;
#define FE_SETJMP(b) sigsetjmp((b), 1) /* a sanitizer may block the signal in the handler */
#define FE_LONGJMP(b) siglongjmp((b), 1)
#else
typedef void *fe_jmp_buf[5];
#define FE_SETJMP(b) __builtin_setjmp(b)
#define FE_LONGJMP(b) __builtin_longjmp((b), 1)
#endif

static _Thread_local fe_jmp_buf *volatile fe_fault_jmp;
#endif
static struct sigaction fe_old_segv, fe_old_bus;

bool um_embedded_copy_fault(void *uc)
{
#if UM_COPY_ASM
    if (um_copy_fixup(uc))
        return true; /* the copy returns false */
#endif
#ifdef FE_JMP_COPY
    fe_jmp_buf *jmp = fe_fault_jmp;
    if (jmp) {
        fe_fault_jmp = NULL;
        FE_LONGJMP(*jmp);
    }
#endif
    (void)uc;
    return false;
}

static void fe_fault_handler(int sig, siginfo_t *info, void *uc)
{
    /* A write to memory a memory entry is being made of: it waited, now it runs again. */
    if (info && um_vm_convert_fault(sig, info->si_code, (uint64_t)(uintptr_t)info->si_addr))
        return;
    if (um_embedded_copy_fault(uc))
        return;
    const struct sigaction *old = sig == SIGSEGV ? &fe_old_segv : &fe_old_bus;
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        /* Not ours: put the old disposition back; the fault happens again and takes it. */
        sigaction(sig, old, NULL);
    }
}

const struct sigaction *um_embedded_fault_behind(int sig, const struct sigaction *sa)
{
    if ((sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == fe_fault_handler &&
        (sig == SIGSEGV || sig == SIGBUS))
        return sig == SIGSEGV ? &fe_old_segv : &fe_old_bus;
    return sa;
}

void um_embedded_memory_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fe_fault_handler;
    /* SA_NODEFER: leaving the handler by siglongjmp must not leave the signal blocked. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &fe_old_segv);
    sigaction(SIGBUS, &sa, &fe_old_bus);
}

#ifdef FE_JMP_COPY
/* A copy that returns false instead of faulting. Kept out of line: it must own its frame. */
static __attribute__((noinline)) bool fe_jmp_copy(void *dst, const void *src, size_t len)
{
    fe_jmp_buf jmp;
    if (FE_SETJMP(jmp)) {
        fe_fault_jmp = NULL;
        return false;
    }
    fe_fault_jmp = &jmp;
    memcpy(dst, src, len);
    fe_fault_jmp = NULL;
    return true;
}

#if defined(FE_ASAN) && UM_COPY_ASM
#define FE_ASAN_ASM 1
static bool fe_asan_clean(const void *a, const void *b, size_t len)
{
    return !__asan_region_is_poisoned((void *)(uintptr_t)a, len) &&
           !__asan_region_is_poisoned((void *)(uintptr_t)b, len);
}
#endif

static bool embedded_msg_read(um_task *task, void *dst, uint64_t src, size_t len)
{
#ifdef FE_ASAN_ASM
    if (fe_asan_clean(dst, (const void *)(uintptr_t)src, len))
        return um_copy_in(task, dst, src, len);
#endif
    (void)task;
    return fe_jmp_copy(dst, (const void *)(uintptr_t)src, len);
}

static bool embedded_msg_write(um_task *task, uint64_t dst, const void *src, size_t len)
{
#ifdef FE_ASAN_ASM
    if (fe_asan_clean((const void *)(uintptr_t)dst, src, len))
        return um_copy_out(task, dst, src, len);
#endif
    (void)task;
    return fe_jmp_copy((void *)(uintptr_t)dst, src, len);
}
#else
/* The routine is both operations as they are: no call in between. */
#define embedded_msg_read um_copy_in
#define embedded_msg_write um_copy_out
#endif

static bool embedded_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    (void)task;
    return um_vm_read_process((uint32_t)getpid(), dst, src, len);
}

static void embedded_unmap(um_task *task, uint64_t addr, size_t len)
{
    (void)task;
    um_vm_remove(addr, len); /* regions from vm_allocate leave the registry too */
}

static uint64_t embedded_attach(um_task *task, void *region, size_t len)
{
    (void)task;
    (void)len;
    return (uint64_t)(uintptr_t)region;
}

static mach_msg_return_t embedded_copyin(um_task *task, uint64_t addr, uint64_t size,
                                         bool physical, bool dealloc, um_vm_copy **copyp)
{
    (void)task;
    return um_vm_copyin(addr, size, physical, dealloc, copyp);
}

static kern_return_t embedded_copyout(um_task *task, um_vm_copy *copy, uint64_t *addrp)
{
    (void)task;
    return um_vm_copyout(copy, addrp);
}

const um_task_memops um_embedded_memops = {
    .read = embedded_read,
    .msg_read = embedded_msg_read,
    .msg_write = embedded_msg_write,
    .unmap = embedded_unmap,
    .attach = embedded_attach,
    .copyin = embedded_copyin,
    .copyout = embedded_copyout,
};
