/* <mach/port.h> — umach (Darwin ABI): port names, rights, types and port attributes. */
#ifndef _MACH_PORT_H_
#define _MACH_PORT_H_

#include <stdint.h>
#include <mach/boolean.h>
#include <mach/vm_types.h>

typedef natural_t mach_port_name_t;
typedef mach_port_name_t *mach_port_name_array_t;
typedef __umach_port_t mach_port_t;
typedef mach_port_t *mach_port_array_t;

#define MACH_PORT_NULL 0
#define MACH_PORT_DEAD ((mach_port_name_t)~0)
#define MACH_PORT_VALID(name) (((name) != MACH_PORT_NULL) && ((name) != MACH_PORT_DEAD))

#define MACH_PORT_INDEX(name) ((name) >> 8)
#define MACH_PORT_GEN(name) (((name) & 0xff) << 24)
#define MACH_PORT_MAKE(index, gen) (((index) << 8) | (gen) >> 24)

typedef natural_t mach_port_right_t;

#define MACH_PORT_RIGHT_SEND ((mach_port_right_t)0)
#define MACH_PORT_RIGHT_RECEIVE ((mach_port_right_t)1)
#define MACH_PORT_RIGHT_SEND_ONCE ((mach_port_right_t)2)
#define MACH_PORT_RIGHT_PORT_SET ((mach_port_right_t)3)
#define MACH_PORT_RIGHT_DEAD_NAME ((mach_port_right_t)4)
#define MACH_PORT_RIGHT_LABELH ((mach_port_right_t)5)
#define MACH_PORT_RIGHT_NUMBER ((mach_port_right_t)6)

typedef natural_t mach_port_type_t;
typedef mach_port_type_t *mach_port_type_array_t;

#define MACH_PORT_TYPE(right) ((mach_port_type_t)(((mach_port_type_t)1) << ((right) + ((mach_port_right_t)16))))
#define MACH_PORT_TYPE_NONE ((mach_port_type_t)0L)
#define MACH_PORT_TYPE_SEND MACH_PORT_TYPE(MACH_PORT_RIGHT_SEND)
#define MACH_PORT_TYPE_RECEIVE MACH_PORT_TYPE(MACH_PORT_RIGHT_RECEIVE)
#define MACH_PORT_TYPE_SEND_ONCE MACH_PORT_TYPE(MACH_PORT_RIGHT_SEND_ONCE)
#define MACH_PORT_TYPE_PORT_SET MACH_PORT_TYPE(MACH_PORT_RIGHT_PORT_SET)
#define MACH_PORT_TYPE_DEAD_NAME MACH_PORT_TYPE(MACH_PORT_RIGHT_DEAD_NAME)
#define MACH_PORT_TYPE_LABELH MACH_PORT_TYPE(MACH_PORT_RIGHT_LABELH)

#define MACH_PORT_TYPE_DNREQUEST 0x80000000
#define MACH_PORT_TYPE_SPREQUEST 0x40000000
#define MACH_PORT_TYPE_SPREQUEST_DELAYED 0x20000000

#define MACH_PORT_TYPE_SEND_RECEIVE (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE)
#define MACH_PORT_TYPE_SEND_RIGHTS (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)
#define MACH_PORT_TYPE_PORT_RIGHTS (MACH_PORT_TYPE_SEND_RIGHTS | MACH_PORT_TYPE_RECEIVE)
#define MACH_PORT_TYPE_PORT_OR_DEAD (MACH_PORT_TYPE_PORT_RIGHTS | MACH_PORT_TYPE_DEAD_NAME)
#define MACH_PORT_TYPE_ALL_RIGHTS (MACH_PORT_TYPE_PORT_OR_DEAD | MACH_PORT_TYPE_PORT_SET)

typedef natural_t mach_port_urefs_t;
typedef integer_t mach_port_delta_t;
typedef natural_t mach_port_seqno_t;
typedef natural_t mach_port_mscount_t;
typedef natural_t mach_port_msgcount_t;
typedef natural_t mach_port_rights_t;

#define MACH_PORT_SRIGHTS_NONE 0
#define MACH_PORT_SRIGHTS_PRESENT 1

typedef unsigned int mach_port_srights_t;

typedef struct mach_port_status {
    mach_port_rights_t mps_pset;
    mach_port_seqno_t mps_seqno;
    mach_port_mscount_t mps_mscount;
    mach_port_msgcount_t mps_qlimit;
    mach_port_msgcount_t mps_msgcount;
    mach_port_rights_t mps_sorights;
    boolean_t mps_srights;
    boolean_t mps_pdrequest;
    boolean_t mps_nsrequest;
    natural_t mps_flags;
} mach_port_status_t;

#define MACH_PORT_QLIMIT_ZERO (0)
#define MACH_PORT_QLIMIT_BASIC (5)
#define MACH_PORT_QLIMIT_SMALL (16)
#define MACH_PORT_QLIMIT_LARGE (1024)
#define MACH_PORT_QLIMIT_KERNEL (65534)
#define MACH_PORT_QLIMIT_MIN MACH_PORT_QLIMIT_ZERO
#define MACH_PORT_QLIMIT_DEFAULT MACH_PORT_QLIMIT_BASIC
#define MACH_PORT_QLIMIT_MAX MACH_PORT_QLIMIT_LARGE

typedef struct mach_port_limits {
    mach_port_msgcount_t mpl_qlimit;
} mach_port_limits_t;

#define MACH_PORT_STATUS_FLAG_TEMPOWNER 0x01
#define MACH_PORT_STATUS_FLAG_GUARDED 0x02
#define MACH_PORT_STATUS_FLAG_STRICT_GUARD 0x04
#define MACH_PORT_STATUS_FLAG_IMP_DONATION 0x08
#define MACH_PORT_STATUS_FLAG_REVIVE 0x10
#define MACH_PORT_STATUS_FLAG_TASKPTR 0x20
#define MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE 0x40
#define MACH_PORT_STATUS_FLAG_NO_GRANT 0x80

typedef struct mach_port_info_ext {
    mach_port_status_t mpie_status;
    mach_port_msgcount_t mpie_boost_cnt;
    uint32_t reserved[6];
} mach_port_info_ext_t;

typedef struct mach_port_guard_info {
    uint64_t mpgi_guard;
} mach_port_guard_info_t;

typedef integer_t *mach_port_info_t;
typedef int mach_port_flavor_t;

#define MACH_PORT_LIMITS_INFO 1
#define MACH_PORT_RECEIVE_STATUS 2
#define MACH_PORT_DNREQUESTS_SIZE 3
#define MACH_PORT_TEMPOWNER 4
#define MACH_PORT_IMPORTANCE_RECEIVER 5
#define MACH_PORT_DENAP_RECEIVER 6
#define MACH_PORT_INFO_EXT 7
#define MACH_PORT_GUARD_INFO 8
#define MACH_PORT_SERVICE_THROTTLED 9

#define MACH_PORT_LIMITS_INFO_COUNT ((natural_t)(sizeof(mach_port_limits_t) / sizeof(natural_t)))
#define MACH_PORT_RECEIVE_STATUS_COUNT ((natural_t)(sizeof(mach_port_status_t) / sizeof(natural_t)))
#define MACH_PORT_DNREQUESTS_SIZE_COUNT 1
#define MACH_PORT_INFO_EXT_COUNT ((natural_t)(sizeof(mach_port_info_ext_t) / sizeof(natural_t)))
#define MACH_PORT_GUARD_INFO_COUNT ((natural_t)(sizeof(mach_port_guard_info_t) / sizeof(natural_t)))
#define MACH_PORT_SERVICE_THROTTLED_COUNT 1

typedef struct mach_port_qos {
    unsigned int name : 1;
    unsigned int prealloc : 1;
    boolean_t pad1 : 30;
    natural_t len;
} mach_port_qos_t;

#define MACH_SERVICE_PORT_INFO_STRING_NAME_MAX_BUF_LEN 255

typedef struct mach_service_port_info {
    char mspi_string_name[MACH_SERVICE_PORT_INFO_STRING_NAME_MAX_BUF_LEN];
    uint8_t mspi_domain_type;
} mach_service_port_info_data_t;
typedef struct mach_service_port_info *mach_service_port_info_t;

#define MACH_SERVICE_PORT_INFO_COUNT ((char)(sizeof(struct mach_service_port_info) / sizeof(char)))

#define MPO_CONTEXT_AS_GUARD 0x01
#define MPO_QLIMIT 0x02
#define MPO_TEMPOWNER 0x04
#define MPO_IMPORTANCE_RECEIVER 0x08
#define MPO_INSERT_SEND_RIGHT 0x10
#define MPO_STRICT 0x20
#define MPO_DENAP_RECEIVER 0x40
#define MPO_IMMOVABLE_RECEIVE 0x80
#define MPO_FILTER_MSG 0x100
#define MPO_TG_BLOCK_TRACKING 0x200
#define MPO_SERVICE_PORT 0x400
#define MPO_CONNECTION_PORT 0x800
#define MPO_REPLY_PORT 0x1000
#define MPO_ENFORCE_REPLY_PORT_SEMANTICS 0x2000
#define MPO_PROVISIONAL_REPLY_PORT 0x4000
#define MPO_EXCEPTION_PORT 0x8000

typedef struct mach_port_options {
    uint32_t flags;
    mach_port_limits_t mpl;
    union {
        uint64_t reserved[2];
        mach_port_name_t work_interval_port;
        mach_service_port_info_t service_port_info;
        mach_port_name_t service_port_name;
    };
} mach_port_options_t;

typedef mach_port_options_t *mach_port_options_ptr_t;

#define GUARD_TYPE_MACH_PORT 0x1

enum mach_port_guard_exception_codes {
    kGUARD_EXC_DESTROY = 1,
    kGUARD_EXC_MOD_REFS = 2,
    kGUARD_EXC_INVALID_OPTIONS = 3,
    kGUARD_EXC_SET_CONTEXT = 4,
    kGUARD_EXC_THREAD_SET_STATE = 5,
    kGUARD_EXC_EXCEPTION_BEHAVIOR_ENFORCE = 6,
    kGUARD_EXC_SERVICE_PORT_VIOLATION_FATAL = 7,
    kGUARD_EXC_UNGUARDED = 8,
    kGUARD_EXC_INCORRECT_GUARD = 16,
    kGUARD_EXC_IMMOVABLE = 32,
    kGUARD_EXC_STRICT_REPLY = 64,
    kGUARD_EXC_MSG_FILTERED = 128,
    kGUARD_EXC_INVALID_RIGHT = 256,
    kGUARD_EXC_INVALID_NAME = 512,
    kGUARD_EXC_INVALID_VALUE = 1u << 10,
    kGUARD_EXC_INVALID_ARGUMENT = 1u << 11,
    kGUARD_EXC_RIGHT_EXISTS = 1u << 12,
    kGUARD_EXC_KERN_NO_SPACE = 1u << 13,
    kGUARD_EXC_KERN_FAILURE = 1u << 14,
    kGUARD_EXC_KERN_RESOURCE = 1u << 15,
    kGUARD_EXC_SEND_INVALID_REPLY = 1u << 16,
    kGUARD_EXC_SEND_INVALID_VOUCHER = 1u << 17,
    kGUARD_EXC_SEND_INVALID_RIGHT = 1u << 18,
    kGUARD_EXC_RCV_INVALID_NAME = 1u << 19,
    kGUARD_EXC_RCV_GUARDED_DESC = 0x00100000,
    kGUARD_EXC_SERVICE_PORT_VIOLATION_NON_FATAL = 0x00100001,
    kGUARD_EXC_PROVISIONAL_REPLY_PORT = 0x00100002,
    kGUARD_EXC_MOD_REFS_NON_FATAL = 1u << 21,
    kGUARD_EXC_IMMOVABLE_NON_FATAL = 1u << 22,
    kGUARD_EXC_REQUIRE_REPLY_PORT_SEMANTICS = 1u << 23,
};

#define MAX_FATAL_kGUARD_EXC_CODE kGUARD_EXC_MSG_FILTERED
#define MAX_OPTIONAL_kGUARD_EXC_CODE kGUARD_EXC_RCV_INVALID_NAME

#define MPG_FLAGS_NONE (0x00ull)
#define MPG_STRICT 0x01
#define MPG_IMMOVABLE_RECEIVE 0x02

#endif
