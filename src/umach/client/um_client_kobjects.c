/*
 * um_client_kobjects.c — kernel objects in a world (tools/umachd/d_kobjects.c): thread and
 * host ports, semaphores and timers are the daemon's; each call is one request. A semaphore
 * wait that blocks waits for its reply; a signal handler that runs meanwhile cancels it
 * (KERN_ABORTED, as embedded mode). No world: the calls fail as on a dead port
 * (MACH_SEND_INVALID_DEST; the port-returning ones MACH_PORT_NULL); a thread the world has no
 * room for (umachd --task-threads-max): KERN_RESOURCE_SHORTAGE (MACH_PORT_NULL). Memory
 * entries are the daemon's too (tools/umachd/d_entries.c): their memfds travel as a memory
 * part's descriptors (to the daemon when one is made, back when one is mapped).
 */
#include "../kern/um_kern.h"
#include "../kern/um_kobject_ports.h"
#include "../vm/um_usage.h"
#include "../vm/um_xmem.h"
#include "um_client.h"
#include "um_client_conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

mach_port_t um_client_thread_of(long tid)
{
    uint64_t arg = (uint64_t)tid, name = MACH_PORT_NULL;
    if (ck_call(UM_WIRE_THREAD_SELF, &arg, 1, &name, false) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return (mach_port_t)name;
}

kern_return_t um_client_thread_ports(const um_thread_id *ids, size_t n, mach_port_name_t *names)
{
    if (n == 0 || n > UM_WIRE_BLOB_MAX / 16)
        return KERN_RESOURCE_SHORTAGE;
    uint64_t *blob = malloc(n * 16);
    if (!blob)
        return KERN_RESOURCE_SHORTAGE;
    for (size_t i = 0; i < n; i++) {
        blob[2 * i] = (uint64_t)ids[i].tid;
        blob[2 * i + 1] = ids[i].start;
    }
    um_wire_pkt rep;
    enum cl_rt rt =
        um_client_roundtrip(UM_WIRE_THREAD_PORTS, NULL, 0, blob, (uint32_t)(n * 16), &rep, false);
    free(blob);
    if (rt != CL_RT_OK)
        return rt == CL_RT_NO_THREAD ? KERN_RESOURCE_SHORTAGE : MACH_SEND_INVALID_DEST;
    kern_return_t kr = rep.h.kr;
    if (kr == KERN_SUCCESS && rep.h.blob_len != n * 4)
        kr = KERN_FAILURE; /* not this daemon's answer */
    if (kr == KERN_SUCCESS)
        memcpy(names, rep.blob, n * 4);
    um_client_reply_free(&rep);
    return kr;
}

void um_client_thread_gone(pid_t tid, uint64_t start)
{
    uint64_t args[2] = {(uint64_t)tid, start};
    (void)ck_call(UM_WIRE_THREAD_GONE, args, 2, NULL, false);
}

kern_return_t um_client_thread_who(mach_port_name_t name, pid_t *tid, uint64_t *start,
                                   bool *made)
{
    uint64_t arg = name;
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip(UM_WIRE_THREAD_WHO, &arg, 1, NULL, 0, &rep, false);
    if (rt != CL_RT_OK)
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = rep.h.kr;
    if (kr == KERN_SUCCESS && rep.h.nargs == 3) {
        *tid = (pid_t)rep.args[0];
        *start = rep.args[1];
        *made = rep.args[2] != 0;
    } else {
        kr = KERN_INVALID_ARGUMENT;
    }
    um_client_reply_free(&rep);
    return kr;
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

/* ---- memory entries --------------------------------------------------------------------- */

/* A memory part that is only `nfds` descriptors (no pieces), for the calls that pass one. */
static um_xmem_hdr fd_part(uint32_t nfds)
{
    um_xmem_hdr h = {UM_XMEM_MAGIC, 0, nfds, 0};
    return h;
}

kern_return_t um_client_mem_entry_create(const um_mem_entry_info *info, int fd,
                                         mach_port_t *namep)
{
    uint64_t args[5] = {info->offset, info->size, (uint32_t)info->prot, info->is_copy,
                        (uint32_t)info->purgable};
    um_xmem_hdr part = fd_part(1);
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip_xmem(UM_WIRE_MEM_ENTRY_CREATE, args, 5, &part,
                                             sizeof part, sizeof part, &fd, 1, &rep, false);
    close(fd);
    if (rt != CL_RT_OK)
        return rt == CL_RT_NO_THREAD ? KERN_RESOURCE_SHORTAGE : MACH_SEND_INVALID_DEST;
    kern_return_t kr = rep.h.kr;
    if (kr == KERN_SUCCESS && rep.h.nargs >= 1)
        *namep = (mach_port_t)rep.args[0];
    else if (kr == KERN_SUCCESS)
        kr = MACH_SEND_INVALID_DEST;
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mem_entry_get(mach_port_t name, um_mem_entry_info *info, int *fdp,
                                      bool *deadp)
{
    *fdp = -1;
    *deadp = false;
    uint64_t args[1] = {name};
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip(UM_WIRE_MEM_ENTRY_GET, args, 1, NULL, 0, &rep, false);
    if (rt != CL_RT_OK)
        return rt == CL_RT_NO_THREAD ? KERN_RESOURCE_SHORTAGE : MACH_SEND_INVALID_DEST;
    kern_return_t kr = rep.h.kr;
    if (rep.h.nargs < 6) {
        kr = MACH_SEND_INVALID_DEST;
    } else {
        *deadp = rep.args[5] != 0;
        if (kr == KERN_SUCCESS) {
            if (rep.nfds != 1) {
                kr = MACH_SEND_INVALID_DEST;
            } else {
                info->offset = rep.args[0];
                info->size = rep.args[1];
                info->prot = (int)rep.args[2];
                info->is_copy = rep.args[3] != 0;
                info->purgable = (int)rep.args[4];
                *fdp = rep.fds[0];
                rep.nfds = 0; /* ours now */
            }
        }
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mem_entry_purgable(mach_port_t name, int control, int *state)
{
    uint64_t args[3] = {name, (uint32_t)control, (uint32_t)*state}, out = 0;
    kern_return_t kr = ck_call(UM_WIRE_MEM_ENTRY_PURGABLE, args, 3, &out, false);
    if (kr == KERN_SUCCESS)
        *state = (int)out;
    return kr;
}
