/* <mach/mach.h> — umach (Darwin ABI): the Mach interface for user programs. */
#ifndef _MACH_H_
#define _MACH_H_

#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/mach_interface.h>
#include <mach/mach_port.h>
#include <mach/mach_init.h>
#include <mach/message.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/mach_error.h>

#ifdef __cplusplus
extern "C" {
#endif

extern void mach_msg_destroy(mach_msg_header_t *msg);
extern mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg);
extern mach_msg_return_t mach_msg_send(mach_msg_header_t *msg);

#ifdef __cplusplus
}
#endif

#endif
