/*
 * um_client_kobjects.c — kernel objects in a world (tools/umachd/d_kobjects.c): thread and
 * host ports, semaphores and timers are the daemon's; each call is one request. A semaphore
 * wait that blocks waits for its reply; a signal handler that runs meanwhile cancels it
 * (KERN_ABORTED, as embedded mode). No world: the calls fail as on a dead port
 * (MACH_SEND_INVALID_DEST; the port-returning ones MACH_PORT_NULL); a thread the world has no
 * room for (umachd --task-threads-max): KERN_RESOURCE_SHORTAGE (MACH_PORT_NULL).
 */
#include "../kern/um_kern.h"
#include "um_client.h"
#include "um_client_conn.h"

#include <string.h>

/* One call; its result, with up to one out-argument in *out (on success). */
static kern_return_t ck_call(uint16_t call, const uint64_t *args, uint32_t nargs, uint64_t *out,
                             bool interruptible)
{
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip(call, args, nargs, NULL, 0, &rep, interruptible);
    if (rt != CL_RT_OK)
        return rt == CL_RT_NO_THREAD ? KERN_RESOURCE_SHORTAGE : MACH_SEND_INVALID_DEST;
    kern_return_t kr = rep.h.kr;
    if (out) {
        if (rep.h.nargs >= 1)
            *out = rep.args[0];
        else
            kr = MACH_SEND_INVALID_DEST;
    }
    um_client_reply_free(&rep);
    return kr;
}

mach_port_t um_client_thread_self(void)
{
    uint64_t name = MACH_PORT_NULL;
    if (ck_call(UM_WIRE_THREAD_SELF, NULL, 0, &name, false) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return (mach_port_t)name;
}

mach_port_t um_client_host_self(void)
{
    uint64_t name = MACH_PORT_NULL;
    if (ck_call(UM_WIRE_HOST_SELF, NULL, 0, &name, false) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return (mach_port_t)name;
}

kern_return_t um_client_thread_get_special_port(thread_inspect_t thread, int which_port,
                                                mach_port_t *special_port)
{
    uint64_t args[2] = {thread, (uint32_t)which_port}, name = 0;
    kern_return_t kr = ck_call(UM_WIRE_THREAD_GET_SPECIAL_PORT, args, 2, &name, false);
    if (kr == KERN_SUCCESS)
        *special_port = (mach_port_t)name;
    return kr;
}

kern_return_t um_client_kobject_check(mach_port_name_t name, unsigned kotype)
{
    uint64_t args[2] = {name, kotype};
    return ck_call(UM_WIRE_KOBJECT_CHECK, args, 2, NULL, false);
}

kern_return_t um_client_semaphore_create(task_t task, semaphore_t *semaphore, int policy,
                                         int value)
{
    uint64_t args[3] = {task, (uint32_t)policy, (uint32_t)value}, name = 0;
    kern_return_t kr = ck_call(UM_WIRE_SEMAPHORE_CREATE, args, 3, &name, false);
    if (kr != MACH_SEND_INVALID_DEST)
        *semaphore = (semaphore_t)name; /* MACH_PORT_NULL on failure, as XNU writes it */
    return kr;
}

kern_return_t um_client_semaphore_destroy(task_t task, semaphore_t semaphore)
{
    uint64_t args[2] = {task, semaphore};
    return ck_call(UM_WIRE_SEMAPHORE_DESTROY, args, 2, NULL, false);
}

kern_return_t um_client_semaphore_signal(semaphore_t semaphore, bool all)
{
    uint64_t args[2] = {semaphore, all};
    return ck_call(UM_WIRE_SEMAPHORE_SIGNAL, args, 2, NULL, false);
}

kern_return_t um_client_semaphore_wait(semaphore_t wait, semaphore_t signal, uint64_t timeout_ns)
{
    uint64_t args[3] = {wait, signal, timeout_ns};
    return ck_call(UM_WIRE_SEMAPHORE_WAIT, args, 3, NULL, true);
}

mach_port_name_t um_client_mk_timer_create(void)
{
    uint64_t name = MACH_PORT_NULL;
    if (ck_call(UM_WIRE_TIMER_CREATE, NULL, 0, &name, false) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return (mach_port_name_t)name;
}

kern_return_t um_client_mk_timer_destroy(mach_port_name_t name)
{
    uint64_t args[1] = {name};
    return ck_call(UM_WIRE_TIMER_DESTROY, args, 1, NULL, false);
}

kern_return_t um_client_mk_timer_arm(mach_port_name_t name, uint64_t expire_time)
{
    uint64_t args[2] = {name, expire_time};
    return ck_call(UM_WIRE_TIMER_ARM, args, 2, NULL, false);
}

kern_return_t um_client_mk_timer_cancel(mach_port_name_t name, uint64_t *result_time)
{
    uint64_t args[1] = {name}, armed = 0;
    kern_return_t kr = ck_call(UM_WIRE_TIMER_CANCEL, args, 1, &armed, false);
    if (kr == KERN_SUCCESS && result_time)
        *result_time = armed;
    return kr;
}
