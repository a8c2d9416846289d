/*
 * um_exc_signal.c — synchronous signals as Mach exceptions. On Darwin a fault is a Mach
 * exception first (EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_ARITHMETIC, EXC_BREAKPOINT) and a
 * signal only when no handler took it; on Linux it is a signal. Once a program sets an
 * exception port for one of those exceptions, umach handles the matching signals (SIGSEGV and
 * SIGBUS, SIGILL, SIGFPE, SIGTRAP): a signal the kernel raised for the thread's own
 * instruction (si_code > 0; one sent with kill or raise is not an exception) is raised as the
 * exception on the faulting thread (um_exc_raise). A KERN_SUCCESS answer returns from the
 * handler, so the instruction runs again (the handler mended what faulted); anything else
 * hands the signal on to what was installed before umach's handler: the program's own handler,
 * or the default action (death). A fault inside umach's own guarded copies
 * (embedded/um_memory.c) is umach's, never an exception.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../um_export.h"
#include "../vm/um_regions.h"
#include "um_embedded.h"
#include "um_exc.h"

#include <mach/mach.h>
#include <mach/exception_types.h>

#include <signal.h>
#include <stdint.h>
#include <string.h>

/* The signals raised as exceptions, and what was installed before umach's handler. */
static const int um_exc_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
#define UM_EXC_NSIG (sizeof um_exc_signals / sizeof um_exc_signals[0])
static struct sigaction um_exc_old[UM_EXC_NSIG];
static int um_exc_installed[UM_EXC_NSIG];

/* The exception a signal stands for. */
static exception_type_t signal_exception(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
        return EXC_BAD_ACCESS;
    case SIGILL:
        return EXC_BAD_INSTRUCTION;
    case SIGFPE:
        return EXC_ARITHMETIC;
    default:
        return EXC_BREAKPOINT;
    }
}

/* XNU's machine codes (<mach/i386/exception.h>, <mach/arm/exception.h>). */
#if defined(__x86_64__)
#define UM_EXC_INVOP 1     /* EXC_I386_INVOP */
#define UM_EXC_DIV 1       /* EXC_I386_DIV */
#define UM_EXC_INTO 2      /* EXC_I386_INTO */
#define UM_EXC_FPERR 8     /* EXC_I386_SSEEXTERR */
#define UM_EXC_ALIGN 17    /* EXC_I386_ALIGNFLT */
#define UM_EXC_BPT 2       /* EXC_I386_BPT */
#define UM_EXC_SGL 1       /* EXC_I386_SGL */
#else
#define UM_EXC_INVOP 1     /* EXC_ARM_UNDEFINED */
#define UM_EXC_DIV 2       /* EXC_ARM_FP_DZ */
#define UM_EXC_INTO 3      /* EXC_ARM_FP_OF */
#define UM_EXC_FPERR 1     /* EXC_ARM_FP_IO */
#define UM_EXC_ALIGN 0x101 /* EXC_ARM_DA_ALIGN */
#define UM_EXC_BPT 1       /* EXC_ARM_BREAKPOINT */
#define UM_EXC_SGL 1       /* EXC_ARM_BREAKPOINT */
#endif

/* The exception's codes, as XNU's trap handlers fill them for the same fault. */
static void signal_codes(int sig, const siginfo_t *info, int64_t code[2])
{
    int64_t addr = (int64_t)(intptr_t)info->si_addr;
    code[1] = 0;
    switch (sig) {
    case SIGSEGV:
        code[0] = info->si_code == SEGV_ACCERR ? KERN_PROTECTION_FAILURE : KERN_INVALID_ADDRESS;
        code[1] = addr;
        break;
    case SIGBUS:
        code[0] = info->si_code == BUS_ADRALN ? UM_EXC_ALIGN : KERN_MEMORY_ERROR;
        code[1] = addr;
        break;
    case SIGILL:
        code[0] = UM_EXC_INVOP;
        break;
    case SIGFPE:
        code[0] = info->si_code == FPE_INTDIV   ? UM_EXC_DIV
                  : info->si_code == FPE_INTOVF ? UM_EXC_INTO
                                                : UM_EXC_FPERR;
        break;
    default:
        code[0] = info->si_code == TRAP_TRACE ? UM_EXC_SGL : UM_EXC_BPT;
        break;
    }
}

/* Hand the signal on to what was installed before (the program's handler, or the default). */
static void pass_on(unsigned i, int sig, siginfo_t *info, void *uc)
{
    const struct sigaction *old = &um_exc_old[i];
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        /* The default action: put it back; the instruction faults again and takes it. A
         * signal that does not come again (a trap that moved past itself) is raised now. */
        sigaction(sig, old, NULL);
        if (sig == SIGTRAP || info->si_code <= 0)
            raise(sig);
    }
}

static void um_exc_signal_handler(int sig, siginfo_t *info, void *uc)
{
    unsigned i = 0;
    while (i < UM_EXC_NSIG && um_exc_signals[i] != sig)
        i++;
    if (i == UM_EXC_NSIG)
        return;
    /* A write to memory a memory entry is being made of (vm/um_regions.c): it waited for
     * the entry's memfd, now it runs again; no exception. */
    if (info && um_vm_convert_fault(sig, info->si_code, (uint64_t)(uintptr_t)info->si_addr))
        return;
    /* umach's own guarded copy faulted: the copy returns false, nothing is raised. */
    if ((sig == SIGSEGV || sig == SIGBUS) && um_embedded_copy_fault(uc))
        return;
    if (info && info->si_code > 0) {
        int64_t code[2];
        signal_codes(sig, info, code);
        if (um_exc_raise(signal_exception(sig), code, uc) == KERN_SUCCESS)
            return; /* handled: run the instruction again */
    }
    pass_on(i, sig, info, uc);
}

void um_exc_signals_install(exception_mask_t mask)
{
    for (unsigned i = 0; i < UM_EXC_NSIG; i++) {
        if (!(mask & (1u << signal_exception(um_exc_signals[i]))))
            continue;
        if (__atomic_exchange_n(&um_exc_installed[i], 1, __ATOMIC_ACQ_REL))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = um_exc_signal_handler;
        /* SA_NODEFER: a handler that leaves by a long jump, or faults again, is not blocked. */
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(um_exc_signals[i], &sa, &um_exc_old[i]);
    }
}
