/*
 * <mach/exc.h> — umach (Darwin ABI): the exc subsystem (exc.defs, 2401-2403), as the header
 * MIG makes for Darwin's SDK declares it: the three user stubs that send an exception request
 * and wait for its reply, and the request and reply layouts (4-byte packing, the code array
 * of 32-bit integers, thread states of up to THREAD_STATE_MAX words).
 *
 * As on Darwin, libumach also exports the server side, which this header does not declare
 * (programs declare it themselves, as they do on macOS):
 *     boolean_t exc_server(mach_msg_header_t *request, mach_msg_header_t *reply);
 *     mig_routine_t exc_server_routine(mach_msg_header_t *request);
 * exc_server calls the program's catch_exception_raise, catch_exception_raise_state and
 * catch_exception_raise_state_identity, found when the request arrives. mach_exc.defs
 * (64-bit codes, 2405-2407) has no header in Darwin's SDK and none here either.
 */
#ifndef _exc_user_
#define _exc_user_

#include <mach/boolean.h>
#include <mach/exception_types.h>
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach/port.h>
#include <mach/std_types.h>
#include <mach/thread_status.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef exc_MSG_COUNT
#define exc_MSG_COUNT 3
#endif

/* exception_raise (2401): the exception with the faulting thread's and task's ports. */
kern_return_t exception_raise(mach_port_t exception_port, mach_port_t thread, mach_port_t task,
                              exception_type_t exception, exception_data_t code,
                              mach_msg_type_number_t codeCnt);

/* exception_raise_state (2402): the exception with a thread state; the reply carries the
 * state the thread resumes with. */
kern_return_t exception_raise_state(mach_port_t exception_port, exception_type_t exception,
                                    const exception_data_t code, mach_msg_type_number_t codeCnt,
                                    int *flavor, const thread_state_t old_state,
                                    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
                                    mach_msg_type_number_t *new_stateCnt);

/* exception_raise_state_identity (2403): both of the above. */
kern_return_t exception_raise_state_identity(
    mach_port_t exception_port, mach_port_t thread, mach_port_t task, exception_type_t exception,
    exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor, thread_state_t old_state,
    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
    mach_msg_type_number_t *new_stateCnt);

#ifdef __cplusplus
}
#endif

#ifndef __Request__exc_subsystem__defined
#define __Request__exc_subsystem__defined
#ifdef __MigPackStructs
#pragma pack(push, 4)
#endif
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    integer_t code[2];
} __Request__exception_raise_t __attribute__((unused));

/* codeCnt words of code are sent: the fields after code move back with a shorter array. */
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    integer_t code[2];
    int flavor;
    mach_msg_type_number_t old_stateCnt;
    natural_t old_state[THREAD_STATE_MAX];
} __Request__exception_raise_state_t __attribute__((unused));

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    integer_t code[2];
    int flavor;
    mach_msg_type_number_t old_stateCnt;
    natural_t old_state[THREAD_STATE_MAX];
} __Request__exception_raise_state_identity_t __attribute__((unused));
#ifdef __MigPackStructs
#pragma pack(pop)
#endif
#endif

#ifndef __RequestUnion__exc_subsystem__defined
#define __RequestUnion__exc_subsystem__defined
union __RequestUnion__exc_subsystem {
    __Request__exception_raise_t Request_exception_raise;
    __Request__exception_raise_state_t Request_exception_raise_state;
    __Request__exception_raise_state_identity_t Request_exception_raise_state_identity;
};
#endif

#ifndef __Reply__exc_subsystem__defined
#define __Reply__exc_subsystem__defined
#ifdef __MigPackStructs
#pragma pack(push, 4)
#endif
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} __Reply__exception_raise_t __attribute__((unused));

/* new_stateCnt words of new_state are sent. */
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    int flavor;
    mach_msg_type_number_t new_stateCnt;
    natural_t new_state[THREAD_STATE_MAX];
} __Reply__exception_raise_state_t __attribute__((unused));

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    int flavor;
    mach_msg_type_number_t new_stateCnt;
    natural_t new_state[THREAD_STATE_MAX];
} __Reply__exception_raise_state_identity_t __attribute__((unused));
#ifdef __MigPackStructs
#pragma pack(pop)
#endif
#endif

#ifndef __ReplyUnion__exc_subsystem__defined
#define __ReplyUnion__exc_subsystem__defined
union __ReplyUnion__exc_subsystem {
    __Reply__exception_raise_t Reply_exception_raise;
    __Reply__exception_raise_state_t Reply_exception_raise_state;
    __Reply__exception_raise_state_identity_t Reply_exception_raise_state_identity;
};
#endif

#ifndef subsystem_to_name_map_exc
#define subsystem_to_name_map_exc                                                              \
    {"exception_raise", 2401}, {"exception_raise_state", 2402},                                \
        {"exception_raise_state_identity", 2403}
#endif

#endif
