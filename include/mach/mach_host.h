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

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t host_info(host_t host, host_flavor_t flavor, host_info_t host_info_out,
                        mach_msg_type_number_t *host_info_outCnt);

#ifdef __cplusplus
}
#endif

#endif
