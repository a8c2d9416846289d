/* <mach/thread_switch.h> — umach (Darwin ABI): thread_switch's public options (Darwin's
 * private 3-5 are accepted too: umach/embedded/um_threads.c). */
#ifndef _MACH_THREAD_SWITCH_H_
#define _MACH_THREAD_SWITCH_H_

#include <mach/kern_return.h>
#include <mach/mach_traps.h>
#include <mach/mach_types.h>
#include <mach/message.h>

#define SWITCH_OPTION_NONE 0
#define SWITCH_OPTION_DEPRESS 1
#define SWITCH_OPTION_WAIT 2

#define valid_switch_option(opt) (0 <= (opt) && (opt) <= 5)

#endif
