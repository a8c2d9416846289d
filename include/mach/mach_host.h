/* <mach/mach_host.h> — umach (Darwin ABI): the host calls umach answers. */
#ifndef _mach_host_user_
#define _mach_host_user_

/* What MIG-generated user headers include on Darwin. */
#include <string.h>
#include <Availability.h>
#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/notify.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/host_info.h>
#include <mach/processor_info.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t host_info(host_t host, host_flavor_t flavor, host_info_t host_info_out,
                        mach_msg_type_number_t *host_info_outCnt);

/* The machine's load, page and CPU-time counts, from Linux's /proc (docs/porting.md). */
kern_return_t host_statistics(host_t host_priv, host_flavor_t flavor, host_info_t host_info_out,
                              mach_msg_type_number_t *host_info_outCnt);
kern_return_t host_statistics64(host_t host_priv, host_flavor_t flavor,
                                host_info64_t host_info64_out,
                                mach_msg_type_number_t *host_info64_outCnt);

/* One record of `flavor` per processor, in memory the caller vm_deallocates. */
kern_return_t host_processor_info(host_t host, processor_flavor_t flavor,
                                  natural_t *out_processor_count,
                                  processor_info_array_t *out_processor_info,
                                  mach_msg_type_number_t *out_processor_infoCnt);

/* A send right to clock `clock_id`'s port (SYSTEM_CLOCK, CALENDAR_CLOCK; <mach/clock.h>):
 * the same port every time. */
kern_return_t host_get_clock_service(host_t host, clock_id_t clock_id, clock_serv_t *clock_serv);

#ifdef __cplusplus
}
#endif

#endif
