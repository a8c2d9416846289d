/*
 * um_copy.c — the copy of a message buffer that may fault, as a kernel's copyin does it: a
 * routine in assembly whose loads and stores all lie between two labels, so that the
 * SIGSEGV/SIGBUS handler (um_memory.c) recognises a fault inside it by the program counter
 * alone and resumes the thread at the routine's recovery point, which returns false. No
 * frame is saved per copy (a setjmp per copy cost about 30 instructions, twice a message).
 *
 * x86-64 and aarch64 Linux. Elsewhere UM_COPY_ASM is 0 and um_memory.c keeps its copy
 * behind a jump buffer. The routine uses no stack and calls nothing: at the recovery point
 * the stack pointer, and on aarch64 the link register, are what they were at its entry.
 * Sizes up to 128 bytes (the common small message and its trailer) take two to eight
 * overlapping loads, then as many stores; larger ones a 64-byte loop and the last 64 bytes
 * again; from 2 KiB on, `rep movsb` on x86-64. Source and destination never overlap (a kmsg
 * and a task's buffer).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* REG_RIP */
#endif
#include "um_copy.h"

#if UM_COPY_ASM

#include <signal.h>
#include <stdint.h>
#include <ucontext.h>

/* Where the faulting loads and stores start and end, and where a fault resumes. */
extern const char um_copy_fault[] __attribute__((visibility("hidden")));

#if defined(__x86_64__)

#if defined(__CET__) && (__CET__ & 1)
#define UM_COPY_ENTRY "endbr64\n"
#else
#define UM_COPY_ENTRY ""
#endif

/* rsi = dst, rdx = src, rcx = len (rdi: the unused first argument); eax = 1 copied, 0 faulted. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl um_copy_in\n"
        ".hidden um_copy_in\n"
        ".type um_copy_in, @function\n"
        ".globl um_copy_out\n"
        ".hidden um_copy_out\n"
        ".type um_copy_out, @function\n"
        "um_copy_in:\n"
        "um_copy_out:\n" UM_COPY_ENTRY
        "cmp $64, %rcx\n"
        "ja 64f\n"
        "cmp $16, %rcx\n"
        "ja 16f\n"
        "cmp $8, %rcx\n"
        "jb 4f\n"
        "mov (%rdx), %rax\n" /* 8..16 */
        "mov -8(%rdx,%rcx), %r8\n"
        "mov %rax, (%rsi)\n"
        "mov %r8, -8(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "4:\n"
        "cmp $4, %rcx\n"
        "jb 2f\n"
        "mov (%rdx), %eax\n" /* 4..7 */
        "mov -4(%rdx,%rcx), %r8d\n"
        "mov %eax, (%rsi)\n"
        "mov %r8d, -4(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "2:\n"
        "cmp $2, %rcx\n"
        "jb 1f\n"
        "movzwl (%rdx), %eax\n" /* 2..3 */
        "movzwl -2(%rdx,%rcx), %r8d\n"
        "mov %ax, (%rsi)\n"
        "mov %r8w, -2(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "1:\n"
        "test %rcx, %rcx\n"
        "je 0f\n"
        "movzbl (%rdx), %eax\n" /* 1 */
        "mov %al, (%rsi)\n"
        "0:\n"
        "mov $1, %eax\n"
        "ret\n"
        "16:\n"
        "cmp $32, %rcx\n"
        "ja 32f\n"
        "movdqu (%rdx), %xmm0\n" /* 17..32 */
        "movdqu -16(%rdx,%rcx), %xmm1\n"
        "movdqu %xmm0, (%rsi)\n"
        "movdqu %xmm1, -16(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "32:\n"
        "movdqu (%rdx), %xmm0\n" /* 33..64 */
        "movdqu 16(%rdx), %xmm1\n"
        "movdqu -32(%rdx,%rcx), %xmm2\n"
        "movdqu -16(%rdx,%rcx), %xmm3\n"
        "movdqu %xmm0, (%rsi)\n"
        "movdqu %xmm1, 16(%rsi)\n"
        "movdqu %xmm2, -32(%rsi,%rcx)\n"
        "movdqu %xmm3, -16(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "64:\n"
        "cmp $128, %rcx\n"
        "ja 128f\n"
        "movdqu (%rdx), %xmm0\n" /* 65..128 */
        "movdqu 16(%rdx), %xmm1\n"
        "movdqu 32(%rdx), %xmm2\n"
        "movdqu 48(%rdx), %xmm3\n"
        "movdqu -64(%rdx,%rcx), %xmm4\n"
        "movdqu -48(%rdx,%rcx), %xmm5\n"
        "movdqu -32(%rdx,%rcx), %xmm6\n"
        "movdqu -16(%rdx,%rcx), %xmm7\n"
        "movdqu %xmm0, (%rsi)\n"
        "movdqu %xmm1, 16(%rsi)\n"
        "movdqu %xmm2, 32(%rsi)\n"
        "movdqu %xmm3, 48(%rsi)\n"
        "movdqu %xmm4, -64(%rsi,%rcx)\n"
        "movdqu %xmm5, -48(%rsi,%rcx)\n"
        "movdqu %xmm6, -32(%rsi,%rcx)\n"
        "movdqu %xmm7, -16(%rsi,%rcx)\n"
        "mov $1, %eax\n"
        "ret\n"
        "128:\n"
        "cmp $2048, %rcx\n"
        "jae 99f\n"
        "lea -64(%rcx), %r8\n" /* 129..2047: the offset of the last 64 bytes */
        "xor %eax, %eax\n"
        "65:\n"
        "movdqu (%rdx,%rax), %xmm0\n"
        "movdqu 16(%rdx,%rax), %xmm1\n"
        "movdqu 32(%rdx,%rax), %xmm2\n"
        "movdqu 48(%rdx,%rax), %xmm3\n"
        "movdqu %xmm0, (%rsi,%rax)\n"
        "movdqu %xmm1, 16(%rsi,%rax)\n"
        "movdqu %xmm2, 32(%rsi,%rax)\n"
        "movdqu %xmm3, 48(%rsi,%rax)\n"
        "add $64, %rax\n"
        "cmp %r8, %rax\n"
        "jb 65b\n"
        "movdqu (%rdx,%r8), %xmm0\n"
        "movdqu 16(%rdx,%r8), %xmm1\n"
        "movdqu 32(%rdx,%r8), %xmm2\n"
        "movdqu 48(%rdx,%r8), %xmm3\n"
        "movdqu %xmm0, (%rsi,%r8)\n"
        "movdqu %xmm1, 16(%rsi,%r8)\n"
        "movdqu %xmm2, 32(%rsi,%r8)\n"
        "movdqu %xmm3, 48(%rsi,%r8)\n"
        "mov $1, %eax\n"
        "ret\n"
        "99:\n"
        "mov %rsi, %rdi\n" /* 2 KiB and more */
        "mov %rdx, %rsi\n"
        "rep movsb\n"
        "mov $1, %eax\n"
        "ret\n"
        ".globl um_copy_fault\n"
        ".hidden um_copy_fault\n"
        "um_copy_fault:\n"
        "xor %eax, %eax\n"
        "ret\n"
        ".size um_copy_in, . - um_copy_in\n"
        ".size um_copy_out, . - um_copy_out\n");

static inline uintptr_t *copy_pc(void *uc)
{
    return (uintptr_t *)(void *)&((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
}

#elif defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define UM_COPY_ENTRY "hint #34\n" /* bti c */
#else
#define UM_COPY_ENTRY ""
#endif

/* x1 = dst, x2 = src, x3 = len (x0: the unused first argument); w0 = 1 copied, 0 faulted.
   x5/x6: the ends of src/dst. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl um_copy_in\n"
        ".hidden um_copy_in\n"
        ".type um_copy_in, %function\n"
        ".globl um_copy_out\n"
        ".hidden um_copy_out\n"
        ".type um_copy_out, %function\n"
        "um_copy_in:\n"
        "um_copy_out:\n" UM_COPY_ENTRY
        "add x5, x2, x3\n"
        "add x6, x1, x3\n"
        "cmp x3, #64\n"
        "b.hi 64f\n"
        "cmp x3, #16\n"
        "b.hi 16f\n"
        "cmp x3, #8\n"
        "b.lo 4f\n"
        "ldr x9, [x2]\n" /* 8..16 */
        "ldur x10, [x5, #-8]\n"
        "str x9, [x1]\n"
        "stur x10, [x6, #-8]\n"
        "mov w0, #1\n"
        "ret\n"
        "4:\n"
        "cmp x3, #4\n"
        "b.lo 2f\n"
        "ldr w9, [x2]\n" /* 4..7 */
        "ldur w10, [x5, #-4]\n"
        "str w9, [x1]\n"
        "stur w10, [x6, #-4]\n"
        "mov w0, #1\n"
        "ret\n"
        "2:\n"
        "cmp x3, #2\n"
        "b.lo 1f\n"
        "ldrh w9, [x2]\n" /* 2..3 */
        "ldurh w10, [x5, #-2]\n"
        "strh w9, [x1]\n"
        "sturh w10, [x6, #-2]\n"
        "mov w0, #1\n"
        "ret\n"
        "1:\n"
        "cbz x3, 0f\n"
        "ldrb w9, [x2]\n" /* 1 */
        "strb w9, [x1]\n"
        "0:\n"
        "mov w0, #1\n"
        "ret\n"
        "16:\n"
        "cmp x3, #32\n"
        "b.hi 32f\n"
        "ldr q0, [x2]\n" /* 17..32 */
        "ldur q1, [x5, #-16]\n"
        "str q0, [x1]\n"
        "stur q1, [x6, #-16]\n"
        "mov w0, #1\n"
        "ret\n"
        "32:\n"
        "ldp q0, q1, [x2]\n" /* 33..64 */
        "ldp q2, q3, [x5, #-32]\n"
        "stp q0, q1, [x1]\n"
        "stp q2, q3, [x6, #-32]\n"
        "mov w0, #1\n"
        "ret\n"
        "64:\n"
        "cmp x3, #128\n"
        "b.hi 128f\n"
        "ldp q0, q1, [x2]\n" /* 65..128 */
        "ldp q2, q3, [x2, #32]\n"
        "ldp q4, q5, [x5, #-64]\n"
        "ldp q6, q7, [x5, #-32]\n"
        "stp q0, q1, [x1]\n"
        "stp q2, q3, [x1, #32]\n"
        "stp q4, q5, [x6, #-64]\n"
        "stp q6, q7, [x6, #-32]\n"
        "mov w0, #1\n"
        "ret\n"
        "128:\n"
        "sub x7, x3, #64\n" /* 129 and more: the offset of the last 64 bytes */
        "mov x8, #0\n"
        "65:\n"
        "add x9, x2, x8\n"
        "add x10, x1, x8\n"
        "ldp q0, q1, [x9]\n"
        "ldp q2, q3, [x9, #32]\n"
        "stp q0, q1, [x10]\n"
        "stp q2, q3, [x10, #32]\n"
        "add x8, x8, #64\n"
        "cmp x8, x7\n"
        "b.lo 65b\n"
        "ldp q0, q1, [x5, #-64]\n"
        "ldp q2, q3, [x5, #-32]\n"
        "stp q0, q1, [x6, #-64]\n"
        "stp q2, q3, [x6, #-32]\n"
        "mov w0, #1\n"
        "ret\n"
        ".globl um_copy_fault\n"
        ".hidden um_copy_fault\n"
        "um_copy_fault:\n"
        "mov w0, #0\n"
        "ret\n"
        ".size um_copy_in, . - um_copy_in\n"
        ".size um_copy_out, . - um_copy_out\n");

static inline uintptr_t *copy_pc(void *uc)
{
    return (uintptr_t *)(void *)&((ucontext_t *)uc)->uc_mcontext.pc;
}

#endif

bool um_copy_fixup(void *uc)
{
    uintptr_t *pc = copy_pc(uc);
    if (*pc < (uintptr_t)um_copy_in || *pc >= (uintptr_t)um_copy_fault)
        return false;
    *pc = (uintptr_t)um_copy_fault;
    return true;
}

#else

/* ISO C wants a declaration in every translation unit. */
typedef int um_copy_unused;

#endif
