/*
 * exc_msgs.h — the exception messages a handler in these tests receives and answers:
 * exception_raise (2401, 32-bit codes) and its reply from <mach/exc.h>, and mach_exception_raise
 * (2405, MACH_EXCEPTION_CODES) laid out as MIG lays out mach_exc.defs (4-byte packing), which
 * has no header in Darwin's SDK.
 */
#ifndef EXC_MSGS_H
#define EXC_MSGS_H

#include <mach/exc.h>
#include <mach/mach.h>

#include <stdint.h>

#pragma pack(push, 4)
/* mach_exception_raise's request: 64-bit codes. */
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    int64_t code[2];
} exc_wide_req;
#pragma pack(pop)

/* exception_raise's request (the codes cut to 32 bits) and either routine's reply, as
 * <mach/exc.h> declares them. */
typedef __Request__exception_raise_t exc_small_req;
typedef __Reply__exception_raise_t exc_reply;

#endif
