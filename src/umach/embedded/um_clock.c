/*
 * um_clock.c — the clock services (<mach/clock.h>, host_get_clock_service): MIG routines on
 * Darwin, sent here as the MIG stubs send them (dispatch/um_forward.h) to whatever port the
 * call names. The kernel-object server answers a host or clock port (api/kobject_server.c:
 * this process's core in embedded mode, umachd's in a world) and gives a port of another
 * kind XNU's answer for a null object; an ordinary port's receiver gets the request, and a
 * name that is no send right is MACH_SEND_INVALID_DEST.
 *
 * clock_get_time and clock_get_attributes on a clock port of an embedded world skip the
 * message: the name is looked up under the world lock, then the clock (the kernel's, never
 * freed, never changed once made) is read after the lock is left and answered as its server
 * would.
 */
#include "../api/um_api.h"
#include "../client/um_client.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"
#include "um_embedded.h"

#include <mach/clock.h>
#include <mach/mach.h>

/* The clock `name` is a send right to in an embedded world, or NULL (a world's client, or a
 * port that is no clock: the request goes out). */
static const um_clock *embedded_clock(clock_serv_t name)
{
    if (um_client_active())
        return NULL;
    um_task *self = um_embedded_enter();
    um_port *port;
    const um_clock *clock = NULL;
    if (um_kobject_translate_send(self->space, name, UM_KOT_CLOCK, &port) == KERN_SUCCESS)
        clock = um_rare(port)->kobject; /* the kernel's own: it lives as long as the world */
    um_embedded_leave();
    return clock;
}

UM_EXPORT kern_return_t host_get_clock_service(host_t host, clock_id_t clock_id,
                                               clock_serv_t *clock_serv)
{
    UM_CALL_SCOPE;
    const um_fw_in in[] = {UM_FW32(clock_id)};
    return um_forward_port_out(host, UM_MIG_HOST_GET_CLOCK_SERVICE, NULL, in, 1,
                               MACH_MSG_TYPE_PORT_SEND, clock_serv, NULL);
}

UM_EXPORT kern_return_t clock_get_time(clock_serv_t clock_serv, mach_timespec_t *cur_time)
{
    UM_CALL_SCOPE;
    const um_clock *clock = embedded_clock(clock_serv);
    if (clock)
        return um_api_clock_get_time(clock, cur_time);
    /* MIG's reply: the two integers of a mach_timespec_t after RetCode. */
    const um_fw_out out[] = {UM_FWOUT(&cur_time->tv_sec), UM_FWOUT(&cur_time->tv_nsec)};
    return um_forward_simple(clock_serv, UM_MIG_CLOCK_GET_TIME, NULL, NULL, 0, out, 2);
}

UM_EXPORT kern_return_t clock_get_attributes(clock_serv_t clock_serv, clock_flavor_t flavor,
                                             clock_attr_t clock_attr,
                                             mach_msg_type_number_t *clock_attrCnt)
{
    UM_CALL_SCOPE;
    const um_clock *clock = embedded_clock(clock_serv);
    if (clock)
        return um_api_clock_get_attributes(clock, flavor, clock_attr, clock_attrCnt);
    const um_fw_in in[] = {UM_FW32(flavor)};
    const um_fw_array array = {clock_attr, sizeof *clock_attr, clock_attrCnt, 1};
    return um_forward_array_out(clock_serv, UM_MIG_CLOCK_GET_ATTRIBUTES, in, 1, NULL, NULL, 0,
                                &array);
}
