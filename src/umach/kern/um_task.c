/*
 * um_task.c — tasks: a space, the task's own port, and the front end's operations and hooks.
 *
 * The kernel core knows a task only through this object: which space a call acts on, how its
 * memory is reached (um_task_memops) and what its policy is (um_task_hooks). The front end
 * creates tasks (embedded mode: one per process) and says which task makes each call.
 */
#include "um_kern.h"
#include "um_kobject_ports.h"

#include <stdlib.h>

um_task *um_task_create(um_kernel *kernel, const um_task_memops *mem, const um_task_hooks *hooks,
                        void *fe)
{
    um_task *task = calloc(1, sizeof *task);
    if (!task)
        return NULL;
    task->kernel = kernel;
    task->mem = mem;
    task->hooks = hooks;
    task->fe = fe;
    task->space = um_space_create(kernel->table_limit);
    task->task_port = um_port_alloc();
    if (!task->space || !task->task_port)
        goto fail;
    /* The task port's kernel object is the task (lsmp names whose task port a name holds);
     * um_task_terminate clears it before the port dies. */
    um_port_rare *rare = um_port_rare_get(task->task_port);
    if (!rare)
        goto fail;
    rare->kobject = task;
    task->space->task = task;
    if (kernel->queued_limit)
        task->space->ledger->max = kernel->queued_limit;
    task->space->ledger->total = kernel->queued_total;
    task->task_port->kotype = UM_KOT_TASK;
    task->task_port->pinned = true;
    /* The kernel holds the receive right; the task holds a send right to itself. */
    um_port_make_send(task->task_port);
    if (um_right_copyout(task->space, task->task_port, MACH_MSG_TYPE_PORT_SEND, &task->task_name) !=
        KERN_SUCCESS)
        goto fail;
    return task;
fail:
    if (task->space)
        um_space_destroy(task->space);
    if (task->task_port)
        um_port_release(task->task_port);
    free(task);
    return NULL;
}

um_space *um_task_space(um_task *self, mach_port_name_t task)
{
    if (!MACH_PORT_VALID(task) || !self->space)
        return NULL;
    um_entry *e = um_entry_lookup(self->space, task);
    if (!e || !(e->type & MACH_PORT_TYPE_SEND) || e->object != &self->task_port->obj)
        return NULL;
    return self->space;
}

um_task *um_task_target(um_task *self, mach_port_name_t task)
{
    if (um_task_space(self, task))
        return self;
    if (!MACH_PORT_VALID(task) || !self->space)
        return NULL;
    um_port *port;
    if (um_kobject_translate_send(self->space, task, UM_KOT_TASK, &port) != KERN_SUCCESS)
        return NULL;
    um_task *target = um_rare(port)->kobject; /* NULL once the task has ended */
    return target && target->space ? target : NULL;
}

um_space *um_task_target_space(um_task *self, mach_port_name_t task)
{
    um_task *target = um_task_target(self, task);
    return target ? target->space : NULL;
}

void um_space_enter(um_space *space, um_task *self)
{
    space->guest = space->task == self ? self->served_for : self;
}

kern_return_t um_space_leave(um_space *space, kern_return_t kr)
{
    space->guest = NULL;
    return kr;
}

void *um_region_alloc(um_kernel *kernel, size_t bytes, size_t *lenp)
{
    size_t page = kernel->page_size;
    size_t len = (bytes + page - 1) & ~(page - 1);
    *lenp = len;
    return len ? kernel->ops->region_alloc(kernel, len) : NULL;
}

uint64_t um_task_give_region(um_task *task, void *region, size_t len)
{
    uint64_t addr = task->mem->attach(task, region, len);
    if (!addr)
        task->kernel->ops->region_free(task->kernel, region, len);
    return addr;
}

/* ---- task_suspend's holds --------------------------------------------------------------- */

/* The task's resume port, made on first use (NULL when out of memory). */
static um_port *resume_port(um_task *task)
{
    if (!task->resume_port)
        task->resume_port = um_kobject_port_alloc(UM_KOT_TASK_RESUME, task);
    return task->resume_port;
}

/* Can one more hold be placed on `task`? Then *portp is its resume port. */
static kern_return_t hold_check(um_task *task, um_port **portp)
{
    if (!task->space)
        return KERN_FAILURE; /* XNU: a task that is no longer active */
    if (!task->hooks || !task->hooks->hold)
        return KERN_NOT_SUPPORTED;
    if (task->user_stop_count == UINT32_MAX || !(*portp = resume_port(task)))
        return KERN_RESOURCE_SHORTAGE;
    return KERN_SUCCESS;
}

/* The hold is placed: the first one stops the task. */
static void hold_place(um_task *task)
{
    if (task->user_stop_count++ == 0)
        task->hooks->hold(task, true);
}

kern_return_t um_task_hold(um_task *task, um_space *space)
{
    um_port *port;
    kern_return_t kr = hold_check(task, &port);
    if (kr != KERN_SUCCESS)
        return kr;
    /* The suspender's token: it will not know it is there; task_resume takes it back. */
    mach_port_name_t name;
    kr = um_kobject_copyout_send(space, port, &name);
    if (kr != KERN_SUCCESS)
        return kr;
    task->legacy_stop_count++;
    hold_place(task);
    return KERN_SUCCESS;
}

/* XNU's hold modes: task_suspend2's, task_suspend's, and all of task_suspend's at once. */
enum { TASK_HOLD_NORMAL, TASK_HOLD_LEGACY, TASK_HOLD_LEGACY_ALL };

/* Take back a hold of `mode`: XNU's release_task_hold. */
static kern_return_t task_release(um_task *task, int mode)
{
    if (task->user_stop_count == 0)
        return KERN_FAILURE;
    if (mode == TASK_HOLD_LEGACY_ALL) {
        uint32_t n = task->legacy_stop_count < task->user_stop_count ? task->legacy_stop_count
                                                                     : task->user_stop_count;
        task->user_stop_count -= n;
        task->legacy_stop_count = 0;
    } else {
        if (mode == TASK_HOLD_LEGACY && task->legacy_stop_count > 0)
            task->legacy_stop_count--;
        task->user_stop_count--;
    }
    if (task->user_stop_count == 0 && task->hooks && task->hooks->hold)
        task->hooks->hold(task, false);
    return KERN_SUCCESS;
}

kern_return_t um_task_unhold(um_task *task, um_space *space)
{
    if (!task->space)
        return KERN_FAILURE;
    kern_return_t kr = task_release(task, TASK_HOLD_LEGACY);
    um_port *port = task->resume_port;
    um_entry *e = port ? um_space_reverse(space, port) : NULL;
    if (e) {
        /* One token back; a resume that found no hold drops them all (someone else resumed
         * the task, or it has gone), as XNU does. */
        mach_port_name_t name = um_entry_name(space, e);
        if (kr == KERN_SUCCESS)
            (void)um_right_dealloc(space, name, e);
        else
            (void)um_right_destroy(space, name, e, false, 0);
    }
    return kr;
}

void um_task_resume_port_unused(um_port *port)
{
    um_task *task = port->rare ? port->rare->kobject : NULL;
    if (task)
        (void)task_release(task, TASK_HOLD_LEGACY_ALL);
}

kern_return_t um_task_hold_once(um_task *task, um_port **sonce)
{
    *sonce = NULL;
    um_port *port;
    kern_return_t kr = hold_check(task, &port);
    if (kr != KERN_SUCCESS)
        return kr;
    if (!um_port_make_send_once(port))
        return KERN_RESOURCE_SHORTAGE;
    *sonce = port;
    hold_place(task);
    return KERN_SUCCESS;
}

kern_return_t um_task_unhold_once(um_task *task)
{
    return task->space ? task_release(task, TASK_HOLD_NORMAL) : KERN_FAILURE;
}

void um_task_terminate(um_task *task)
{
    um_space *space = task->space;
    task->space = NULL; /* calls still running for the task find no space */
    if (task->resume_port) {
        /* Suspenders' tokens become dead names; no hold is left to release. */
        um_port *rp = task->resume_port;
        task->resume_port = NULL;
        rp->rare->kobject = NULL;
        um_port_destroy(rp);
    }
    /* The task port dies first: the task's own pinned send right goes with it. */
    if (task->task_port) {
        um_port *tp = task->task_port;
        task->task_port = NULL;
        tp->rare->kobject = NULL; /* names of it elsewhere outlive the task */
        um_port_destroy(tp);
    }
    for (size_t i = 0; i < sizeof task->special_ports / sizeof task->special_ports[0]; i++) {
        um_port *p = task->special_ports[i];
        task->special_ports[i] = NULL;
        if (UM_PORT_VALID(p))
            um_port_release_send(p);
    }
    um_exc_release_all(task->exc_actions);
    if (space)
        um_space_destroy(space);
    free(task);
}
