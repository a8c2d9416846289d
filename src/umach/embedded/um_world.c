/*
 * um_world.c — the embedded front end: the process is one task and the kernel core lives
 * in it, behind one mutex. A thread that must wait (receive on an empty queue, send to a
 * full one) sleeps on its own condition variable; the core wakes it through um_waiter.wake.
 *
 * fork(): as on Darwin, the child is a new task. It gets a fresh IPC space holding only its
 * task port (under the same name as the parent's, so mach_task_self() stays valid); none of
 * the parent's rights are inherited.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../kern/um_kern.h"
#include "../um_export.h"

#include <mach/mach_init.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

um_world um_the_world = {.lock = PTHREAD_MUTEX_INITIALIZER};

UM_EXPORT mach_port_t mach_task_self_ = MACH_PORT_NULL;

static pthread_once_t um_world_once = PTHREAD_ONCE_INIT;

/* The parent's space in a forked child (see um_atfork_child). */
static um_space *volatile um_abandoned_space;

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/*
 * Sample the task's tokens from the process's credentials (um_task_tokens hands them out).
 * Conditions: world locked or single-threaded.
 */
static void um_task_tokens_sample(um_world *w)
{
    uid_t euid = geteuid();
    gid_t egid = getegid();
    w->sec.val[0] = euid;
    w->sec.val[1] = egid;
    memset(&w->audit, 0, sizeof w->audit);
    /* Darwin's layout: auid, euid, egid, ruid, rgid, pid, asid, pid version. */
    w->audit.val[0] = getuid();
    w->audit.val[1] = euid;
    w->audit.val[2] = egid;
    w->audit.val[3] = getuid();
    w->audit.val[4] = getgid();
    w->audit.val[5] = (unsigned)getpid();
    w->audit.val[6] = (unsigned)getpid();
    w->audit.val[7] = 0;
}

/* Build the task's space with its task port. Conditions: world locked or single-threaded. */
static void um_world_make_task(void)
{
    um_world *w = &um_the_world;
    w->space = um_space_create();
    w->task_port = um_port_alloc();
    if (!w->space || !w->task_port) {
        fprintf(stderr, "umach: out of memory while creating the task\n");
        abort();
    }
    w->space->audit_pid = (uint32_t)getpid();
    um_task_tokens_sample(w);
    w->task_port->kotype = UM_KOT_TASK;
    w->task_port->pinned = true;
    /* The kernel holds the receive right; the task holds a send right to itself. */
    um_port_make_send(w->task_port);
    mach_port_name_t name;
    kern_return_t kr = um_right_copyout(w->space, w->task_port, MACH_MSG_TYPE_PORT_SEND, &name);
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "umach: cannot name the task port (%d)\n", kr);
        abort();
    }
    w->task_name = name;
    mach_task_self_ = name;
}

static void um_atfork_prepare(void)
{
    pthread_mutex_lock(&um_the_world.lock);
}

static void um_atfork_parent(void)
{
    pthread_mutex_unlock(&um_the_world.lock);
}

static void um_atfork_child(void)
{
    /*
     * The parent's space is abandoned, not torn down: tearing it down would deliver
     * notifications for rights that the parent still holds. It stays referenced here so
     * that leak checkers in the child do not report the parent's objects as lost.
     */
    um_abandoned_space = um_the_world.space;
    um_the_world.space = NULL;
    um_the_world.npending = 0; /* wakes meant for the parent's threads */
    um_the_world.task_port = NULL;
    um_world_make_task();
    pthread_mutex_unlock(&um_the_world.lock);
}

static void um_world_init_once(void)
{
    um_world *w = &um_the_world;
    w->guard_nonfatal = env_flag("UMACH_GUARD_NONFATAL");
    w->guard_log = env_flag("UMACH_GUARD_LOG");
    pthread_mutex_lock(&w->lock);
    um_world_make_task();
    pthread_mutex_unlock(&w->lock);
    pthread_atfork(um_atfork_prepare, um_atfork_parent, um_atfork_child);
}

void um_world_init(void)
{
    pthread_once(&um_world_once, um_world_init_once);
}

__attribute__((constructor)) static void um_world_ctor(void)
{
    um_world_init();
}

void um_world_lock(void)
{
    um_world_init();
    pthread_mutex_lock(&um_the_world.lock);
}

static void um_futex_wake(uint32_t *word)
{
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void um_world_defer_wake(uint32_t *word)
{
    um_world *w = &um_the_world;
    if (w->npending < sizeof w->pending_wakes / sizeof w->pending_wakes[0])
        w->pending_wakes[w->npending++] = word;
    else
        um_futex_wake(word); /* a crowd of waiters: wake this one now */
}

void um_world_unlock(void)
{
    /*
     * A word may belong to a waiter that has already gone (it saw itself woken and left):
     * waking its address costs nothing and at worst wakes a later waiter that re-checks.
     */
    um_world *w = &um_the_world;
    uint32_t *wake[sizeof w->pending_wakes / sizeof w->pending_wakes[0]];
    unsigned n = w->npending;
    memcpy(wake, w->pending_wakes, n * sizeof wake[0]);
    w->npending = 0;
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < n; i++)
        um_futex_wake(wake[i]);
}

um_space *um_task_space(mach_port_name_t task)
{
    um_world *w = &um_the_world;
    if (!MACH_PORT_VALID(task))
        return NULL;
    um_entry *e = um_entry_lookup(w->space, task);
    if (!e || !(e->type & MACH_PORT_TYPE_SEND) || e->object != &w->task_port->obj)
        return NULL;
    return w->space;
}
