/* <mach/boolean.h> — umach (Darwin ABI): boolean_t and TRUE/FALSE. */
#ifndef _MACH_BOOLEAN_H_
#define _MACH_BOOLEAN_H_

/* Darwin: unsigned int on x86 (64-bit), int on arm64. */
#if defined(__x86_64__)
typedef unsigned int boolean_t;
#else
typedef int boolean_t;
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#endif
