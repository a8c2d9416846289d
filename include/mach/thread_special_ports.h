/* <mach/thread_special_ports.h> — umach (Darwin ABI): which special port of a thread. */
#ifndef _MACH_THREAD_SPECIAL_PORTS_H_
#define _MACH_THREAD_SPECIAL_PORTS_H_

#define THREAD_KERNEL_PORT 1
#define THREAD_INSPECT_PORT 2
#define THREAD_READ_PORT 3
#define THREAD_MAX_SPECIAL_PORT THREAD_READ_PORT

#endif
