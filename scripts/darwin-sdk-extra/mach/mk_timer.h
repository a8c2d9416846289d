/*
 * Declarations of <mach/mk_timer.h> for the macOS cross-check only: the SDK copy that zig
 * ships leaves this header out. On a Mac the SDK's own header is used (this directory is
 * searched after the SDK's).
 */
#ifndef _MACH_MK_TIMER_H_
#define _MACH_MK_TIMER_H_

#include <mach/mach_time.h>
#include <mach/message.h>

mach_port_name_t mk_timer_create(void);
kern_return_t mk_timer_destroy(mach_port_name_t name);
kern_return_t mk_timer_arm(mach_port_name_t name, uint64_t expire_time);
kern_return_t mk_timer_arm_leeway(mach_port_name_t name, uint64_t mk_timer_flags,
                                  uint64_t mk_timer_expire_time, uint64_t mk_timer_leeway);
kern_return_t mk_timer_cancel(mach_port_name_t name, uint64_t *result_time);

#define MK_TIMER_NORMAL (0)
#define MK_TIMER_CRITICAL (1)

#pragma pack(push, 4)
struct mk_timer_expire_msg {
    mach_msg_header_t header;
    uint64_t unused[3];
};
#pragma pack(pop)
typedef struct mk_timer_expire_msg mk_timer_expire_msg_t;

#endif
