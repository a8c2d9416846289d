/*
 * exc_msgs.h — the exception messages a handler in these tests receives and answers, laid out
 * as MIG lays out exc.defs and mach_exc.defs (4-byte packing): exception_raise (2401, 32-bit
 * codes) and mach_exception_raise (2405, MACH_EXCEPTION_CODES), and the reply of either.
 */
#ifndef EXC_MSGS_H
#define EXC_MSGS_H

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

/* exception_raise's request: the codes cut to 32 bits. */
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    integer_t code[2];
} exc_small_req;

/* Either routine's reply. */
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} exc_reply;
#pragma pack(pop)

#endif
