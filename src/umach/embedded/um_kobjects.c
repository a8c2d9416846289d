/*
 * um_kobjects.c — the embedded front end of kernel objects (kern/um_kobject_ports.h): each thread's
 * port, the host port, semaphore waits and the timer service.
 *
 * - A thread's port is made the first time the thread asks for it (mach_thread_self) and
 *   destroyed when the thread exits, so send rights to it become dead names.
 * - The host port is made once per task and lives as long as the task.
 * - A semaphore wait sleeps on a futex word of the waiting thread, with the world unlocked,
 *   holding a reference on the semaphore's port; a signal handler ends it with KERN_ABORTED.
 * - Armed timers are kept in a list (each holding a port reference); one service thread,
 *   started by mk_timer_arm, sleeps until the earliest deadline and then asks the core to
 *   fire what is due (um_timer_expire queues the timer's message); it ends when no timer is
 *   armed.
 *
 * In a world (src/umach/client/) all of these are the daemon's (tools/umachd/d_kobjects.c):
 * each public function hands over to the client front end first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../api/um_api.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"
#include "../client/um_client.h"
#include "../dispatch/um_forward.h"
#include "../vm/um_usage.h"
#include "um_embedded.h"
#include "um_suspend.h"

#include <mach/mach.h>
#include <mach/mach_time.h>
#include <mach/mk_timer.h>
#include <mach/semaphore.h>

#include <errno.h>
#include <signal.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- thread ports ----------------------------------------------------------------------- */

static pthread_key_t thread_port_key;
static bool thread_port_key_made;
static pthread_once_t thread_port_once = PTHREAD_ONCE_INIT;
/*
 * Every thread port of the task by its thread, which task_threads looks up (world lock): the
 * record of each thread whose own port is registered for its exit (the thread's thread_self,
 * listed until its exit destroys the port), and those task_threads made for threads that had
 * no port (allocated, `made`), kept until the thread is found gone (um_embedded_thread_gone,
 * the next task_threads) or takes its port (its first mach_thread_self).
 */
struct um_thread_rec {
    struct um_thread_rec *next;
    um_port *port;  /* the kernel's receive-right reference, or NULL */
    pid_t tid;
    uint64_t start; /* made: the thread's start time (um_thread_id) */
    bool made;
    bool listed;
};
static struct um_thread_rec *thread_recs;
/* This thread's record: its port, or NULL. */
static _Thread_local struct um_thread_rec thread_self;
/* The port was made for an exception raised from a signal handler, whose thread could not
 * register it for its exit there (thread_port_adopt_safe): its next mach_thread_self does. */
static _Thread_local bool thread_port_unadopted;

um_port *um_embedded_thread_port(void)
{
    return thread_self.port;
}

/* Conditions: world locked. */
static void rec_link(struct um_thread_rec *r)
{
    if (r->listed)
        return;
    r->next = thread_recs;
    thread_recs = r;
    r->listed = true;
}

/* Conditions: world locked. */
static void rec_unlink(struct um_thread_rec *r)
{
    for (struct um_thread_rec **pp = &thread_recs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->listed = false;
}

/* The thread `port` stands for has ended: the port dies and names for it become dead names.
 * Consumes the kernel's receive-right reference. Conditions: world locked. */
static void thread_port_end(um_port *port)
{
    um_thread_exc_terminate(port);
    um_port_destroy(port);
}

/* A thread exits: its port dies and names for it become dead names. */
static void thread_port_exit(void *v)
{
    um_port *port = v;
    um_embedded_enter();
    if (port == thread_self.port) {
        thread_self.port = NULL;
        rec_unlink(&thread_self);
    }
    thread_port_end(port);
    um_embedded_leave();
}

/*
 * The port task_threads made for the live thread `tid` before it had one, taken out of the
 * list for the thread to own (the kernel's reference, now the caller's), or NULL. A made
 * record of an earlier thread with that id is dropped, its port ended. Conditions: world
 * locked; thread `tid` lives (it is the caller, or waits for it).
 */
static um_port *rec_take_made(pid_t tid)
{
    struct um_thread_rec *r = thread_recs;
    while (r && !(r->made && r->tid == tid))
        r = r->next;
    if (!r)
        return NULL; /* the usual case: no /proc read */
    uint64_t start = 0;
    bool alive = um_proc_thread_read(0, tid, &start);
    um_port *mine = NULL;
    for (struct um_thread_rec **pp = &thread_recs; *pp;) {
        r = *pp;
        if (!r->made || r->tid != tid) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (alive && r->start == start && !mine)
            mine = r->port;
        else
            thread_port_end(r->port);
        free(r);
    }
    return mine;
}

void um_embedded_thread_ports(const um_thread_id *ids, size_t n, um_port **ports)
{
    /* Made ports of threads that are no longer there die as their own would have. */
    for (struct um_thread_rec **pp = &thread_recs; *pp;) {
        struct um_thread_rec *r = *pp;
        size_t i = 0;
        while (r->made && i < n && !(ids[i].tid == r->tid && ids[i].start == r->start))
            i++;
        if (r->made && i == n) {
            *pp = r->next;
            thread_port_end(r->port);
            free(r);
        } else {
            pp = &r->next;
        }
    }
    for (size_t i = 0; i < n; i++) {
        /* A listed own record is a live thread's (its exit unlists it first). */
        struct um_thread_rec *r = thread_recs;
        while (r && !(r->tid == ids[i].tid && (!r->made || r->start == ids[i].start)))
            r = r->next;
        if (!r && (r = calloc(1, sizeof *r)) != NULL) {
            r->port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
            if (!r->port) {
                free(r);
                r = NULL;
            } else {
                r->tid = ids[i].tid;
                r->start = ids[i].start;
                r->made = true;
                rec_link(r);
            }
        }
        ports[i] = r ? r->port : NULL;
    }
}

bool um_embedded_thread_who(um_port *port, pid_t *tid, uint64_t *start, bool *made)
{
    for (struct um_thread_rec *r = thread_recs; r; r = r->next) {
        if (r->port == port) {
            *tid = r->tid;
            *start = r->start;
            *made = r->made;
            return true;
        }
    }
    return false;
}

kern_return_t um_embedded_threads_hook(um_task *task, um_port ***portsp, uint32_t *countp)
{
    (void)task; /* the process's one task */
    size_t n = 0;
    um_thread_id *ids = um_proc_threads(0, SIZE_MAX, &n);
    if (!ids)
        return KERN_RESOURCE_SHORTAGE;
    um_port **ports = n && n <= UINT32_MAX ? malloc(n * sizeof *ports) : NULL;
    if (!ports) {
        free(ids);
        return n ? KERN_RESOURCE_SHORTAGE : KERN_FAILURE;
    }
    um_embedded_thread_ports(ids, n, ports);
    free(ids);
    for (size_t i = 0; i < n; i++) {
        if (!ports[i]) {
            for (size_t j = 0; j < i; j++)
                um_right_release(ports[j], MACH_MSG_TYPE_PORT_SEND);
            free(ports);
            return KERN_RESOURCE_SHORTAGE;
        }
        um_port_make_send(ports[i]);
    }
    *portsp = ports;
    *countp = (uint32_t)n;
    return KERN_SUCCESS;
}

void um_embedded_thread_gone(pid_t tid, uint64_t start)
{
    for (struct um_thread_rec **pp = &thread_recs; *pp; pp = &(*pp)->next) {
        struct um_thread_rec *r = *pp;
        if (r->made && r->tid == tid && r->start == start) {
            *pp = r->next;
            thread_port_end(r->port);
            free(r);
            return;
        }
    }
}

/* In a forked child the thread and host ports belong to the abandoned parent task. */
static void kobjects_atfork_child(void);

/*
 * The key is made when the library is loaded, before the program's own: glibc keeps a thread's
 * values of keys 0-31 in the thread itself and allocates a block for higher ones at the first
 * value a thread gives one, which a signal handler must not do (um_embedded_thread_port_adopt).
 * If every key was taken then, thread_port_key_ready tries again.
 */
__attribute__((constructor)) static void thread_port_key_init(void)
{
    if (pthread_key_create(&thread_port_key, thread_port_exit) == 0)
        __atomic_store_n(&thread_port_key_made, true, __ATOMIC_RELEASE);
}

/*
 * Is there a key to register a thread's port for its exit with? Made now if the library's
 * load could not make it (the process had used every key, PTHREAD_KEYS_MAX). Without it no
 * thread port is made: nothing could destroy it when its thread exits. Not in a signal
 * handler. Conditions: world locked (one thread makes it).
 */
static bool thread_port_key_ready(void)
{
    if (__atomic_load_n(&thread_port_key_made, __ATOMIC_ACQUIRE))
        return true;
    if (pthread_key_create(&thread_port_key, thread_port_exit) != 0)
        return false;
    __atomic_store_n(&thread_port_key_made, true, __ATOMIC_RELEASE);
    return true;
}

static void thread_port_init(void)
{
    (void)pthread_atfork(NULL, NULL, kobjects_atfork_child);
}

/* At load, while the process has one thread (as um_threads.c's: no fork before the handler). */
__attribute__((constructor)) static void thread_port_init_at_load(void)
{
    pthread_once(&thread_port_once, thread_port_init);
}

/* Can this thread give the key a value inside a signal handler (nothing allocated)? */
static bool thread_port_adopt_safe(void)
{
    if (!__atomic_load_n(&thread_port_key_made, __ATOMIC_ACQUIRE))
        return false;
#if defined(__GLIBC__)
    return (unsigned long)thread_port_key < 32;
#else
    return true; /* musl: every key's value is in the thread itself */
#endif
}

UM_EXPORT mach_port_t mach_thread_self(void)
{
    UM_CALL_SCOPE;
    if (um_client_active()) {
        mach_port_t name = um_client_thread_self();
        um_thread_note(name);
        return name;
    }
    pthread_once(&thread_port_once, thread_port_init);
    um_task *self = um_embedded_enter();
    if (!thread_self.port) {
        pid_t tid = (pid_t)syscall(SYS_gettid);
        if (thread_port_key_ready()) {
            /* The port task_threads gave out for this thread, if it did: it becomes ours. */
            thread_self.port = rec_take_made(tid);
            if (!thread_self.port)
                thread_self.port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
        }
        if (thread_self.port && pthread_setspecific(thread_port_key, thread_self.port) != 0) {
            thread_port_end(thread_self.port); /* no memory for the key's value: no port */
            thread_self.port = NULL;
        }
        if (thread_self.port) {
            thread_self.tid = tid;
            rec_link(&thread_self);
        }
    } else if (thread_port_unadopted) {
        if (pthread_setspecific(thread_port_key, thread_self.port) == 0)
            rec_link(&thread_self);
    }
    thread_port_unadopted = false;
    mach_port_name_t name = MACH_PORT_NULL;
    if (thread_self.port &&
        um_kobject_copyout_send(self->space, thread_self.port, &name) != KERN_SUCCESS)
        name = MACH_PORT_NULL;
    um_embedded_leave();
    um_thread_note(name);
    return name;
}

struct um_thread_rec *um_embedded_thread_port_slot(void)
{
    return &thread_self;
}

mach_port_t um_embedded_thread_name_of(struct um_thread_rec *slot, pid_t tid, bool *made)
{
    pthread_once(&thread_port_once, thread_port_init);
    um_task *self = um_embedded_enter();
    if (!slot->port && thread_port_key_ready()) {
        /* Its first need of it: the thread registers it for its exit (um_embedded_thread_port_adopt). */
        slot->port = rec_take_made(tid);
        if (!slot->port)
            slot->port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
        *made = slot->port != NULL;
        /* Listed now when the thread's handler can register it for its exit (it waits for
         * this answer, so it cannot exit before); else by its next mach_thread_self. */
        if (*made) {
            slot->tid = tid;
            if (thread_port_adopt_safe())
                rec_link(slot);
        }
    }
    mach_port_name_t name = MACH_PORT_NULL;
    if (slot->port && um_kobject_copyout_send(self->space, slot->port, &name) != KERN_SUCCESS)
        name = MACH_PORT_NULL;
    um_embedded_leave();
    return name;
}

void um_embedded_thread_port_adopt(void)
{
    /* In a signal handler: a key whose value lives in the thread itself is stored, nothing
     * allocated. Past glibc's first 32 keys (the program made many before the library was
     * loaded) the thread's next mach_thread_self registers it; a thread that never calls it
     * again keeps its port after it exits (docs/umach-internals.md). */
    if (!thread_self.port)
        return;
    if (thread_port_adopt_safe())
        (void)pthread_setspecific(thread_port_key, thread_self.port);
    else
        thread_port_unadopted = true;
}

UM_EXPORT mach_port_t thread_self_trap(void)
{
    UM_CALL_SCOPE;
    return mach_thread_self();
}

UM_EXPORT mach_port_t mach_host_self(void)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_host_self();
    pthread_once(&thread_port_once, thread_port_init);
    um_task *self = um_embedded_enter();
    um_port *host = um_host_port(self->kernel);
    mach_port_name_t name = MACH_PORT_NULL;
    if (host && um_kobject_copyout_send(self->space, host, &name) != KERN_SUCCESS)
        name = MACH_PORT_NULL;
    um_embedded_leave();
    return name;
}

UM_EXPORT mach_port_t host_self_trap(void)
{
    UM_CALL_SCOPE;
    return mach_host_self();
}

UM_EXPORT mach_port_t task_self_trap(void)
{
    UM_CALL_SCOPE;
    return mach_task_self();
}

UM_EXPORT mach_port_name_t mach_reply_port(void)
{
    UM_CALL_SCOPE;
    mach_port_name_t name = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return name;
}

UM_EXPORT kern_return_t thread_get_special_port(thread_inspect_t thread, int which_port,
                                                mach_port_t *special_port)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_thread_get_special_port(thread, which_port, special_port);
    um_task *self = um_embedded_enter();
    um_port *port;
    kern_return_t kr = um_kobject_translate_send(self->space, thread, UM_KOT_THREAD, &port);
    if (kr != KERN_SUCCESS) {
        /* What the MIG stub's send to a name that is not a thread port reports. */
        um_embedded_leave();
        return MACH_SEND_INVALID_DEST;
    }
    if (which_port != THREAD_KERNEL_PORT) {
        /* umach has no inspect or read ports (docs/umach-internals.md). */
        um_embedded_leave();
        return KERN_INVALID_ARGUMENT;
    }
    kr = um_kobject_copyout_send(self->space, port, special_port);
    um_embedded_leave();
    return kr;
}

/* ---- the host ----------------------------------------------------------------------------- */

UM_EXPORT kern_return_t host_page_size(host_t host, vm_size_t *out_page_size)
{
    UM_CALL_SCOPE;
    (void)host; /* Darwin's libsystem answers without asking the kernel */
    *out_page_size = vm_kernel_page_size;
    return KERN_SUCCESS;
}

void um_machine_read(um_machine *out)
{
    long conf = sysconf(_SC_NPROCESSORS_CONF), onln = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    out->cpus_max = conf > 0 ? (uint32_t)conf : 0;
    out->cpus_avail = onln > 0 ? (uint32_t)onln : 0;
    out->memory = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

bool um_forward_ordinary(mach_port_t name)
{
    if (!um_forward_wanted(name))
        return false;
    kern_return_t kr;
    if (um_client_active()) {
        kr = um_client_kobject_check(name, UM_KOT_NONE);
    } else {
        um_task *self = um_embedded_enter();
        um_port *port;
        kr = um_kobject_translate_send(self->space, name, UM_KOT_NONE, &port);
        um_embedded_leave();
    }
    return kr == KERN_SUCCESS;
}

kern_return_t um_embedded_host_check(host_t host)
{
    if (um_client_active())
        return um_client_kobject_check(host, UM_KOT_HOST);
    um_task *self = um_embedded_enter();
    um_port *port;
    kern_return_t kr = um_kobject_translate_send(self->space, host, UM_KOT_HOST, &port);
    um_embedded_leave();
    return kr;
}

UM_EXPORT kern_return_t host_info(host_t host, host_flavor_t flavor, host_info_t host_info_out,
                                  mach_msg_type_number_t *host_info_outCnt)
{
    UM_CALL_SCOPE;
    kern_return_t kr = um_embedded_host_check(host);
    if (kr == KERN_INVALID_CAPABILITY && um_forward_ordinary(host)) {
        /* Another port: the MIG request, to its receiver (dispatch/um_forward.h). */
        const um_fw_in in[] = {UM_FW32(flavor)};
        const um_fw_array array = {host_info_out, sizeof *host_info_out, host_info_outCnt,
                                   UM_FW_HOST_INFO_MAX};
        return um_forward_array_out(host, UM_MIG_HOST_INFO, in, 1, NULL, NULL, 0, &array);
    }
    if (kr == KERN_INVALID_CAPABILITY)
        return KERN_INVALID_ARGUMENT; /* a port, but not a host: the server sees HOST_NULL */
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_DEST;
    um_machine machine;
    um_machine_read(&machine);
    return um_api_host_info(&machine, flavor, host_info_out, host_info_outCnt);
}

/* ---- semaphores ------------------------------------------------------------------------------ */

UM_EXPORT kern_return_t semaphore_create(task_t task, semaphore_t *semaphore, int policy, int value)
{
    UM_CALL_SCOPE;
    kern_return_t kr;
    if (um_client_active()) {
        kr = um_client_semaphore_create(task, semaphore, policy, value);
    } else {
        um_task *self = um_embedded_enter();
        if (!um_task_space(self, task))
            kr = MACH_SEND_INVALID_DEST;
        else
            kr = um_semaphore_create(self->space, policy, value, semaphore);
        um_embedded_leave();
    }
    if (kr == MACH_SEND_INVALID_DEST && um_forward_wanted(task)) {
        /* Another port: the MIG request (dispatch/um_forward.h). */
        const um_fw_in in[] = {UM_FW32(policy), UM_FW32(value)};
        kr = um_forward_port_out(task, UM_MIG_SEMAPHORE_CREATE, NULL, in, 2, MACH_MSG_TYPE_PORT_SEND,
                                 semaphore, NULL);
    }
    return kr;
}

UM_EXPORT kern_return_t semaphore_destroy(task_t task, semaphore_t semaphore)
{
    UM_CALL_SCOPE;
    kern_return_t kr;
    if (um_client_active()) {
        kr = um_client_semaphore_destroy(task, semaphore);
    } else {
        um_task *self = um_embedded_enter();
        if (!um_task_space(self, task))
            kr = MACH_SEND_INVALID_DEST;
        else
            kr = um_semaphore_destroy(self->space, semaphore);
        um_embedded_leave();
    }
    if (kr == MACH_SEND_INVALID_DEST && um_forward_wanted(task)) {
        /* The request takes the caller's send right to the semaphore, as MIG's does. */
        const um_fw_port sem = {semaphore, MACH_MSG_TYPE_MOVE_SEND};
        kr = um_forward_simple(task, UM_MIG_SEMAPHORE_DESTROY, &sem, NULL, 0, NULL, 0);
    }
    return kr;
}

/* Conditions: world locked. A trap's semaphore argument, as port_name_to_semaphore sees it. */
static kern_return_t semaphore_lookup(um_task *self, semaphore_t name, um_port **portp)
{
    return um_kobject_translate_send(self->space, name, UM_KOT_SEMAPHORE, portp);
}

static kern_return_t signal_common(semaphore_t semaphore, bool all)
{
    um_task *self = um_embedded_enter();
    um_port *port;
    kern_return_t kr = semaphore_lookup(self, semaphore, &port);
    if (kr == KERN_SUCCESS)
        kr = um_semaphore_signal(port, all);
    um_embedded_leave();
    return kr;
}

UM_EXPORT kern_return_t semaphore_signal(semaphore_t semaphore)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_semaphore_signal(semaphore, false);
    return signal_common(semaphore, false);
}

UM_EXPORT kern_return_t semaphore_signal_all(semaphore_t semaphore)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_semaphore_signal(semaphore, true);
    return signal_common(semaphore, true);
}

/* The futex word is the thread's own or a spare (um_embedded_wait_word): it outlives the wait. */
typedef struct sema_waiter {
    um_waiter w;
    uint32_t *word;
} sema_waiter;

static void sema_wake(um_waiter *w)
{
    sema_waiter *sw = (sema_waiter *)w;
    __atomic_store_n(sw->word, 1, __ATOMIC_RELEASE);
    um_embedded_defer_wake(sw->word);
}

/*
 * Wait on `wait_name` (after signalling `signal_name` unless null) until signalled, the
 * deadline (CLOCK_MONOTONIC, NULL: none) passes, or a signal handler runs.
 */
static kern_return_t wait_common(semaphore_t wait_name, semaphore_t signal_name,
                                 const struct timespec *deadline, bool noblock)
{
    um_task *self = um_embedded_enter();
    um_port *wport, *sport = NULL;
    kern_return_t kr = semaphore_lookup(self, wait_name, &wport);
    if (kr == KERN_SUCCESS && signal_name != MACH_PORT_NULL)
        kr = semaphore_lookup(self, signal_name, &sport);
    if (kr != KERN_SUCCESS) {
        um_embedded_leave();
        return kr;
    }
    sema_waiter sw;
    memset(&sw, 0, sizeof sw);
    sw.w.wake = sema_wake;
    sw.word = um_embedded_wait_word();
    if (!sw.word) {
        um_embedded_leave();
        return KERN_RESOURCE_SHORTAGE;
    }
    kr = um_semaphore_wait_begin(wport, &sw.w, noblock);
    if (sport) {
        /* XNU signals after queueing the waiter; a destroyed signal semaphore ends the wait. */
        if (um_semaphore_signal(sport, false) == KERN_TERMINATED) {
            if (kr == UM_SEMAPHORE_WAITING)
                um_semaphore_wait_cancel(wport, &sw.w);
            kr = KERN_TERMINATED;
        }
    }
    if (kr != UM_SEMAPHORE_WAITING) {
        um_embedded_wait_word_done(sw.word);
        um_embedded_leave();
        return kr;
    }
    um_port_ref(wport); /* the semaphore stays while this thread sleeps on it */
    int err = 0;
    while (!sw.w.woken) {
        um_embedded_leave();
        sig_atomic_t mark = um_suspend_runs;
        long rc = syscall(SYS_futex, sw.word, FUTEX_WAIT_BITSET_PRIVATE, 0, deadline, NULL,
                          FUTEX_BITSET_MATCH_ANY);
        err = rc < 0 ? errno : 0;
        if (err == EINTR)
            um_suspend_signal_point();
        if (err == EINTR && um_suspend_interrupted_only(mark))
            err = 0; /* a suspension ends no wait */
        um_embedded_enter();
        if (err == ETIMEDOUT || err == EINTR)
            break;
        /*
         * Not woken: the word may hold a late store for an earlier mach_msg wait of this
         * thread (um_embedded_defer_post); clear it, or the next futex call returns at once.
         */
        if (!sw.w.woken)
            __atomic_store_n(sw.word, 0, __ATOMIC_RELAXED);
    }
    if (sw.w.woken) {
        kr = sw.w.result;
    } else {
        um_semaphore_wait_cancel(wport, &sw.w);
        kr = err == EINTR ? KERN_ABORTED : KERN_OPERATION_TIMED_OUT;
    }
    um_port_release(wport);
    um_embedded_wait_word_done(sw.word);
    um_embedded_leave();
    return kr;
}

/* The deadline `t` from now on CLOCK_MONOTONIC. */
static struct timespec deadline_in(mach_timespec_t t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_sec += (time_t)t.tv_sec;
    now.tv_nsec += t.tv_nsec;
    if (now.tv_nsec >= 1000000000L) {
        now.tv_sec++;
        now.tv_nsec -= 1000000000L;
    }
    return now;
}

UM_EXPORT kern_return_t semaphore_wait(semaphore_t semaphore)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_semaphore_wait(semaphore, MACH_PORT_NULL, UINT64_MAX);
    return wait_common(semaphore, MACH_PORT_NULL, NULL, false);
}

UM_EXPORT kern_return_t semaphore_wait_signal(semaphore_t wait_semaphore,
                                              semaphore_t signal_semaphore)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_semaphore_wait(wait_semaphore, signal_semaphore, UINT64_MAX);
    return wait_common(wait_semaphore, signal_semaphore, NULL, false);
}

UM_EXPORT kern_return_t semaphore_timedwait(semaphore_t semaphore, mach_timespec_t wait_time)
{
    UM_CALL_SCOPE;
    if (BAD_MACH_TIMESPEC(&wait_time))
        return KERN_INVALID_VALUE;
    if (um_client_active())
        return um_client_semaphore_wait(semaphore, MACH_PORT_NULL,
                                        (uint64_t)wait_time.tv_sec * 1000000000u +
                                            (uint64_t)wait_time.tv_nsec);
    struct timespec d = deadline_in(wait_time);
    return wait_common(semaphore, MACH_PORT_NULL, &d, wait_time.tv_sec == 0 && wait_time.tv_nsec == 0);
}

UM_EXPORT kern_return_t semaphore_timedwait_signal(semaphore_t wait_semaphore,
                                                   semaphore_t signal_semaphore,
                                                   mach_timespec_t wait_time)
{
    UM_CALL_SCOPE;
    if (BAD_MACH_TIMESPEC(&wait_time))
        return KERN_INVALID_VALUE;
    if (um_client_active())
        return um_client_semaphore_wait(wait_semaphore, signal_semaphore,
                                        (uint64_t)wait_time.tv_sec * 1000000000u +
                                            (uint64_t)wait_time.tv_nsec);
    struct timespec d = deadline_in(wait_time);
    return wait_common(wait_semaphore, signal_semaphore, &d,
                       wait_time.tv_sec == 0 && wait_time.tv_nsec == 0);
}

/* ---- timers ----------------------------------------------------------------------------------- */

typedef struct armed_timer {
    struct armed_timer *next;
    um_port *port; /* a reference */
} armed_timer;

static armed_timer *armed_list; /* world lock */
static uint32_t timer_word;     /* bumped (and woken) when the earliest deadline may move */
static bool timer_thread_running;

static void timer_kick(void)
{
    __atomic_add_fetch(&timer_word, 1, __ATOMIC_RELEASE);
    (void)syscall(SYS_futex, &timer_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Forget `port` from the armed list. Conditions: world locked. */
static void timer_unlist(um_port *port)
{
    for (armed_timer **pp = &armed_list; *pp; pp = &(*pp)->next) {
        if ((*pp)->port == port) {
            armed_timer *a = *pp;
            *pp = a->next;
            um_port_release(a->port);
            free(a);
            return;
        }
    }
}

static void *timer_service(void *arg)
{
    (void)arg;
    um_own_thread_name(UM_OWN_THREAD_PREFIX "timer"); /* no thread of the task: XNU's kernel */
    for (;;) {
        uint32_t seen = __atomic_load_n(&timer_word, __ATOMIC_ACQUIRE);
        um_embedded_enter();
        uint64_t now = mach_absolute_time(), next = 0;
        for (armed_timer **pp = &armed_list; *pp;) {
            armed_timer *a = *pp;
            uint64_t still = um_timer_expire(a->port, now);
            if (still == 0) {
                *pp = a->next;
                um_port_release(a->port);
                free(a);
                continue;
            }
            if (next == 0 || still < next)
                next = still;
            pp = &a->next;
        }
        if (!armed_list) {
            /* Nothing armed: the service ends (the next mk_timer_arm starts it again). */
            timer_thread_running = false;
            um_embedded_leave();
            return NULL;
        }
        um_embedded_leave();
        struct timespec d = {.tv_sec = (time_t)(next / 1000000000u),
                             .tv_nsec = (long)(next % 1000000000u)};
        (void)syscall(SYS_futex, &timer_word, FUTEX_WAIT_BITSET_PRIVATE, seen, next ? &d : NULL,
                      NULL, FUTEX_BITSET_MATCH_ANY);
    }
    return NULL;
}

/* Conditions: world locked. */
static bool timer_thread_start(void)
{
    if (timer_thread_running)
        return true;
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0)
        return false;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The service thread must not take signals meant for the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, timer_service, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    timer_thread_running = rc == 0;
    return timer_thread_running;
}

UM_EXPORT mach_port_name_t mk_timer_create(void)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_mk_timer_create();
    pthread_once(&thread_port_once, thread_port_init);
    um_task *self = um_embedded_enter();
    mach_port_name_t name;
    if (um_timer_create(self->space, &name) != KERN_SUCCESS)
        name = MACH_PORT_NULL;
    um_embedded_leave();
    return name;
}

UM_EXPORT kern_return_t mk_timer_destroy(mach_port_name_t name)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_mk_timer_destroy(name);
    um_task *self = um_embedded_enter();
    um_port *port = NULL;
    if (um_translate_receive(self->space, name, &port) == KERN_SUCCESS &&
        port->kotype == UM_KOT_TIMER)
        timer_unlist(port);
    kern_return_t kr = um_timer_destroy(self->space, name);
    um_embedded_leave();
    timer_kick(); /* the service may have nothing left to wait for */
    return kr;
}

UM_EXPORT kern_return_t mk_timer_arm_leeway(mach_port_name_t name, uint64_t mk_timer_flags,
                                            uint64_t mk_timer_expire_time, uint64_t mk_timer_leeway)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_mk_timer_arm(name, mk_timer_expire_time);
    (void)mk_timer_flags; /* MK_TIMER_CRITICAL and leeway only tune the scheduler's slack */
    (void)mk_timer_leeway;
    um_task *self = um_embedded_enter();
    um_port *port;
    kern_return_t kr = um_timer_arm(self->space, name, mk_timer_expire_time, &port);
    if (kr == KERN_SUCCESS) {
        bool listed = false;
        for (armed_timer *a = armed_list; a; a = a->next)
            listed |= a->port == port;
        if (!listed) {
            armed_timer *a = malloc(sizeof *a);
            if (!a || !timer_thread_start()) {
                free(a);
                uint64_t ignored;
                (void)um_timer_cancel(self->space, name, &ignored);
                um_embedded_leave();
                return KERN_RESOURCE_SHORTAGE;
            }
            um_port_ref(port);
            a->port = port;
            a->next = armed_list;
            armed_list = a;
        }
    }
    um_embedded_leave();
    if (kr == KERN_SUCCESS)
        timer_kick();
    return kr;
}

UM_EXPORT kern_return_t mk_timer_arm(mach_port_name_t name, uint64_t expire_time)
{
    UM_CALL_SCOPE;
    return mk_timer_arm_leeway(name, MK_TIMER_NORMAL, expire_time, 0);
}

UM_EXPORT kern_return_t mk_timer_cancel(mach_port_name_t name, uint64_t *result_time)
{
    UM_CALL_SCOPE;
    if (um_client_active())
        return um_client_mk_timer_cancel(name, result_time);
    um_task *self = um_embedded_enter();
    uint64_t armed = 0;
    kern_return_t kr = um_timer_cancel(self->space, name, &armed);
    um_port *port;
    if (kr == KERN_SUCCESS && um_translate_receive(self->space, name, &port) == KERN_SUCCESS)
        timer_unlist(port);
    um_embedded_leave();
    timer_kick();
    if (kr == KERN_SUCCESS && result_time)
        *result_time = armed;
    return kr;
}

static void kobjects_atfork_child(void)
{
    if (__atomic_load_n(&thread_port_key_made, __ATOMIC_ACQUIRE))
        (void)pthread_setspecific(thread_port_key, NULL);
    /* The parent's objects stay with its abandoned task; the child starts without them (the
     * host port is the world's, which the child's task belongs to as well). */
    thread_self.port = NULL;
    thread_self.listed = false;
    thread_port_unadopted = false;
    /* The records of the parent's threads: its ports stay with its task, the memory goes. */
    while (thread_recs) {
        struct um_thread_rec *r = thread_recs;
        thread_recs = r->next;
        if (r->made)
            free(r);
    }
    armed_list = NULL;
    timer_thread_running = false;
}
