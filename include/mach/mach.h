/* <mach/mach.h> — umach (Darwin ABI): the Mach interface for user programs. */
#ifndef _MACH_H_
#define _MACH_H_

#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/mach_interface.h>
#include <mach/mach_port.h>
#include <mach/mach_init.h>
#include <mach/mach_host.h>
#include <mach/message.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/mach_error.h>

#ifdef __cplusplus
extern "C" {
#endif

extern void mig_reply_setup(mach_msg_header_t *request, mach_msg_header_t *reply);
extern void mach_msg_destroy(mach_msg_header_t *msg);
extern mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg);
extern mach_msg_return_t mach_msg_send(mach_msg_header_t *msg);
extern mach_msg_return_t mach_msg_server_once(boolean_t (*demux)(mach_msg_header_t *,
                                                                 mach_msg_header_t *),
                                              mach_msg_size_t max_size, mach_port_t rcv_name,
                                              mach_msg_options_t options);
extern mach_msg_return_t mach_msg_server(boolean_t (*demux)(mach_msg_header_t *,
                                                            mach_msg_header_t *),
                                         mach_msg_size_t max_size, mach_port_t rcv_name,
                                         mach_msg_options_t options);
extern mach_msg_return_t mach_msg_server_importance(boolean_t (*demux)(mach_msg_header_t *,
                                                                       mach_msg_header_t *),
                                                    mach_msg_size_t max_size,
                                                    mach_port_t rcv_name,
                                                    mach_msg_options_t options);

#ifdef __cplusplus
}
#endif

#endif
