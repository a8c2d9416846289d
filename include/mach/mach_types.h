/* <mach/mach_types.h> — umach (Darwin ABI): the port types of Mach's kernel objects. */
#ifndef _MACH_MACH_TYPES_H_
#define _MACH_MACH_TYPES_H_

#include <mach/std_types.h>
#include <mach/message.h>
#include <mach/port.h>
#include <mach/vm_types.h>
#include <mach/vm_attributes.h>
#include <mach/vm_prot.h>
#include <mach/vm_inherit.h>
#include <mach/vm_statistics.h>
#include <mach/vm_behavior.h>
#include <mach/vm_purgable.h>
#include <mach/vm_sync.h>
#include <mach/vm_region.h>
#include <mach/memory_object_types.h>
#include <mach/clock_types.h>
#include <mach/exception_types.h>
#include <mach/host_info.h>
#include <mach/machine.h>
#include <mach/task_info.h>
#include <mach/task_policy.h>
#include <mach/task_special_ports.h>
#include <mach/thread_info.h>
#include <mach/thread_policy.h>
#include <mach/thread_special_ports.h>
#include <mach/thread_status.h>
#include <mach/time_value.h>

typedef mach_port_t task_t;
typedef mach_port_t task_name_t;
typedef mach_port_t task_policy_set_t;
typedef mach_port_t task_policy_get_t;
typedef mach_port_t task_inspect_t;
typedef mach_port_t task_read_t;
typedef mach_port_t task_suspension_token_t;
typedef mach_port_t thread_t;
typedef mach_port_t thread_act_t;
typedef mach_port_t thread_inspect_t;
typedef mach_port_t thread_read_t;
typedef mach_port_t ipc_space_t;
typedef mach_port_t ipc_space_read_t;
typedef mach_port_t ipc_space_inspect_t;
typedef mach_port_t coalition_t;
typedef mach_port_t host_t;
typedef mach_port_t host_priv_t;
typedef mach_port_t host_security_t;
typedef mach_port_t processor_t;
typedef mach_port_t processor_set_t;
typedef mach_port_t processor_set_control_t;
typedef mach_port_t semaphore_t;
typedef mach_port_t lock_set_t;
typedef mach_port_t ledger_t;
typedef mach_port_t alarm_t;
typedef mach_port_t clock_serv_t;
typedef mach_port_t clock_ctrl_t;
typedef mach_port_t arcade_register_t;
typedef mach_port_t ipc_eventlink_t;
typedef mach_port_t eventlink_port_pair_t[2];
typedef mach_port_t task_id_token_t;
typedef mach_port_t kcdata_object_t;
typedef mach_port_t processor_set_name_t;
typedef mach_port_t mem_entry_name_port_t;
typedef mach_port_t exception_handler_t;
typedef mach_port_t io_main_t;
typedef mach_port_t UNDServerRef;
typedef mach_port_t mach_eventlink_t;
typedef mach_port_t mach_voucher_t;
typedef mach_port_t mach_voucher_name_t;
typedef mach_port_t ipc_voucher_t;

typedef task_t *task_array_t;
typedef thread_t *thread_array_t;
typedef processor_set_t *processor_set_array_t;
typedef processor_set_t *processor_set_name_array_t;
typedef processor_t *processor_array_t;
typedef thread_act_t *thread_act_array_t;
typedef ledger_t *ledger_array_t;

typedef exception_handler_t *exception_handler_array_t;
typedef natural_t ledger_item_t;
typedef int64_t ledger_amount_t;
typedef char *user_subsystem_t;
typedef char *labelstr_t;
typedef natural_t vm_task_entry_t;

#define TASK_NULL ((task_t)0)
#define TASK_NAME_NULL ((task_name_t)0)
#define THREAD_NULL ((thread_t)0)
#define IPC_SPACE_NULL ((ipc_space_t)0)
#define HOST_NULL ((host_t)0)
#define SEMAPHORE_NULL ((semaphore_t)0)
#define MACH_VOUCHER_NULL ((mach_voucher_t)0)

#endif
