/*
 * <mach/thread_status.h> — umach (Darwin ABI): the generic thread-state types that MIG
 * output for exc.defs and mach_exc.defs names, the flavours' numbers, and the layouts of the
 * general-register flavours thread_get_state answers (x86_THREAD_STATE64 and x86_THREAD_STATE,
 * ARM_THREAD_STATE64) and the exception state behaviours carry.
 */
#ifndef _MACH_THREAD_STATUS_H_
#define _MACH_THREAD_STATUS_H_

#include <mach/vm_types.h>

#include <stdint.h>

typedef natural_t *thread_state_t;
#define THREAD_STATE_MAX (1296)
typedef natural_t thread_state_data_t[THREAD_STATE_MAX];

#define THREAD_STATE_FLAVOR_LIST 0
#define THREAD_STATE_FLAVOR_LIST_NEW 128
#define THREAD_STATE_FLAVOR_LIST_10_9 129
#define THREAD_STATE_FLAVOR_LIST_10_13 130
#define THREAD_STATE_FLAVOR_LIST_10_15 131

#if defined(__x86_64__)
#define x86_THREAD_STATE32 1
#define x86_FLOAT_STATE32 2
#define x86_EXCEPTION_STATE32 3
#define x86_THREAD_STATE64 4
#define x86_FLOAT_STATE64 5
#define x86_EXCEPTION_STATE64 6
#define x86_THREAD_STATE 7
#define x86_FLOAT_STATE 8
#define x86_EXCEPTION_STATE 9
#define x86_DEBUG_STATE32 10
#define x86_DEBUG_STATE64 11
#define x86_DEBUG_STATE 12
#define THREAD_STATE_NONE 13
#define x86_AVX_STATE32 16
#define x86_AVX_STATE64 17
#define x86_AVX_STATE 18
#define x86_AVX512_STATE32 19
#define x86_AVX512_STATE64 20
#define x86_AVX512_STATE 21
#define x86_PAGEIN_STATE 22
#define x86_THREAD_FULL_STATE64 23
#define x86_INSTRUCTION_STATE 24
#define x86_LAST_BRANCH_STATE 25

/* x86_THREAD_STATE64's layout (<mach/i386/_structs.h>). */
typedef struct __darwin_x86_thread_state64 {
    uint64_t __rax, __rbx, __rcx, __rdx, __rdi, __rsi, __rbp, __rsp;
    uint64_t __r8, __r9, __r10, __r11, __r12, __r13, __r14, __r15;
    uint64_t __rip, __rflags, __cs, __fs, __gs;
} x86_thread_state64_t;
#define x86_THREAD_STATE64_COUNT                                                                   \
    ((mach_msg_type_number_t)(sizeof(x86_thread_state64_t) / sizeof(int)))

/* x86_THREAD_STATE32's layout, and x86_THREAD_STATE's: a header saying which of the two
 * follows (<mach/i386/thread_status.h>). */
typedef struct __darwin_i386_thread_state {
    unsigned int __eax, __ebx, __ecx, __edx, __edi, __esi, __ebp, __esp;
    unsigned int __ss, __eflags, __eip, __cs, __ds, __es, __fs, __gs;
} i386_thread_state_t;
typedef i386_thread_state_t x86_thread_state32_t;
#define x86_THREAD_STATE32_COUNT                                                                   \
    ((mach_msg_type_number_t)(sizeof(x86_thread_state32_t) / sizeof(int)))

struct x86_state_hdr {
    uint32_t flavor;
    uint32_t count;
};
typedef struct x86_state_hdr x86_state_hdr_t;

struct x86_thread_state {
    x86_state_hdr_t tsh;
    union {
        x86_thread_state32_t ts32;
        x86_thread_state64_t ts64;
    } uts;
};
typedef struct x86_thread_state x86_thread_state_t;
#define x86_THREAD_STATE_COUNT                                                                     \
    ((mach_msg_type_number_t)(sizeof(x86_thread_state_t) / sizeof(int)))
#elif defined(__aarch64__)
#define ARM_THREAD_STATE 1
#define ARM_UNIFIED_THREAD_STATE ARM_THREAD_STATE
#define ARM_VFP_STATE 2
#define ARM_EXCEPTION_STATE 3
#define ARM_DEBUG_STATE 4
#define THREAD_STATE_NONE 5
#define ARM_THREAD_STATE64 6
#define ARM_EXCEPTION_STATE64 7
#define ARM_THREAD_STATE32 9
#define ARM_EXCEPTION_STATE64_V2 10
#define ARM_DEBUG_STATE32 14
#define ARM_DEBUG_STATE64 15
#define ARM_NEON_STATE 16
#define ARM_NEON_STATE64 17
#define ARM_PAGEIN_STATE 27

/* ARM_THREAD_STATE64's layout (<mach/arm/_structs.h>, without pointer authentication). */
typedef struct __darwin_arm_thread_state64 {
    uint64_t __x[29];
    uint64_t __fp, __lr, __sp, __pc;
    uint32_t __cpsr;
    uint32_t __pad;
} arm_thread_state64_t;
#define ARM_THREAD_STATE64_COUNT                                                                   \
    ((mach_msg_type_number_t)(sizeof(arm_thread_state64_t) / sizeof(uint32_t)))
#endif

typedef int thread_state_flavor_t;
typedef thread_state_flavor_t *thread_state_flavor_array_t;

#endif
