/*
 * um_threads.c — what a thread port of this process stands for on Linux, and the thread calls
 * that read it: thread_info (THREAD_BASIC_INFO, THREAD_IDENTIFIER_INFO, THREAD_EXTENDED_INFO)
 * and thread_switch.
 *
 * A thread port names a thread once the thread asked for it (mach_thread_self: every
 * thread port name of the task comes from there, or from a message carrying one): that call
 * notes the name with the thread's Linux id here, and the note goes when the thread exits.
 * A name with no note (a thread of another task in a world) gets KERN_INVALID_ARGUMENT, as a
 * port that converts to no thread does.
 *
 * What the fields are made of (docs/porting.md): the CPU time from the thread's CPU clock,
 * split by /proc's user and system ticks; the run state from /proc's state letter; the policy
 * from the Linux scheduling class; the priority Darwin's default user priority (31) less the
 * nice value; the name from /proc's comm; the id the Linux thread id. Linux keeps no decayed
 * CPU usage, suspend count or dispatch queue: those are 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../api/um_api.h"
#include "../client/um_client.h"
#include "../dispatch/um_calls.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_suspend.h"

#include <mach/mach.h>
#include <mach/thread_info.h>
#include <mach/thread_switch.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Darwin's private options (XNU's PRIVATE part of <mach/thread_switch.h>): a wait counted in
 * microseconds, and the lock-owner variants of depress and wait. */
#define UM_SWITCH_OPTION_DISPATCH_CONTENTION 3
#define UM_SWITCH_OPTION_OSLOCK_DEPRESS 4
#define UM_SWITCH_OPTION_OSLOCK_WAIT 5

/* ---- the notes: thread port name -> Linux thread ----------------------------------------- */

typedef struct th_note {
    mach_port_name_t name;
    pid_t tid;
    pthread_t pthread; /* 0 for a port task_threads made (the thread never said it) */
    uint64_t start;    /* made: the thread's start time, which tells it from a later one */
    bool made;         /* a port task_threads made: its thread's liveness is checked at use */
} th_note;

static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static th_note *th_notes; /* th_lock */
static size_t th_count, th_cap;
static pthread_key_t th_key;
static bool th_key_made; /* else a thread's notes stay after it exits */
static pthread_once_t th_once = PTHREAD_ONCE_INIT;
/* The name this thread noted last: noting it again (each mach_thread_self, the exception
 * raise's from a signal handler included) takes no lock and allocates nothing. */
static _Thread_local mach_port_name_t th_noted;

/* The notes' lock: a thread holding it is not stopped by thread_suspend there (the suspender
 * reads the notes). */
static void th_lock_take(void)
{
    um_suspend_hold();
    pthread_mutex_lock(&th_lock);
}

static void th_lock_give(void)
{
    pthread_mutex_unlock(&th_lock);
    um_suspend_unhold();
}

/* A thread exits: forget its notes, then its thread_policy_set settings. */
static void th_exit(void *v)
{
    pid_t tid = (pid_t)(intptr_t)v;
    th_lock_take();
    for (size_t i = 0; i < th_count;) {
        if (th_notes[i].tid == tid)
            th_notes[i] = th_notes[--th_count];
        else
            i++;
    }
    th_lock_give();
    um_thread_policy_forget_tid(tid);
}

/* A forked child is a new task: the parent's names and threads are not its. */
static void th_atfork_child(void)
{
    pthread_mutex_init(&th_lock, NULL);
    th_count = 0;
    th_noted = MACH_PORT_NULL;
}

static void th_init(void)
{
    th_key_made = pthread_key_create(&th_key, th_exit) == 0;
    (void)pthread_atfork(NULL, NULL, th_atfork_child);
}

/* At load, while the process has one thread: no fork can come before the fork handler is
 * registered, or while another thread registers it (a child then inherited the lock held). */
__attribute__((constructor)) static void th_init_at_load(void)
{
    pthread_once(&th_once, th_init);
}

void um_thread_note(mach_port_name_t name)
{
    if (!MACH_PORT_VALID(name) || name == th_noted)
        return;
    pthread_once(&th_once, th_init);
    pid_t tid = (pid_t)syscall(SYS_gettid);
    /* The key's value is the thread id, so that its destructor runs at exit. */
    if (th_key_made)
        (void)pthread_setspecific(th_key, (void *)(intptr_t)tid);
    th_lock_take();
    size_t i;
    for (i = 0; i < th_count && th_notes[i].name != name; i++)
        ;
    if (i == th_count) {
        if (th_count == th_cap) {
            size_t cap = th_cap ? 2 * th_cap : 16;
            th_note *n = realloc(th_notes, cap * sizeof *n);
            if (!n) {
                th_lock_give();
                return; /* thread_info on that name answers KERN_INVALID_ARGUMENT */
            }
            th_notes = n;
            th_cap = cap;
        }
        th_count++;
    }
    th_notes[i] = (th_note){name, tid, pthread_self(), 0, false};
    th_lock_give();
    th_noted = name;
}

/*
 * task_threads gave out `name` for thread `id`: a note with the thread's id and start time,
 * unless the thread noted that name itself. Out of memory: no note (thread_info on the name
 * then answers KERN_INVALID_ARGUMENT).
 */
static void th_note_made(mach_port_name_t name, um_thread_id id)
{
    if (!MACH_PORT_VALID(name))
        return;
    pthread_once(&th_once, th_init);
    th_lock_take();
    size_t i;
    for (i = 0; i < th_count && th_notes[i].name != name; i++)
        ;
    if (i < th_count && th_notes[i].tid == id.tid && !th_notes[i].made) {
        th_lock_give();
        return;
    }
    if (i == th_count) {
        if (th_count == th_cap) {
            size_t cap = th_cap ? 2 * th_cap : 16;
            th_note *n = realloc(th_notes, cap * sizeof *n);
            if (!n) {
                th_lock_give();
                return;
            }
            th_notes = n;
            th_cap = cap;
        }
        th_count++;
    }
    th_notes[i] = (th_note){name, id.tid, 0, id.start, true};
    th_lock_give();
}

/* Forget the notes of made ports whose thread is not among `ids` (it has ended). */
static void th_forget_ended(const um_thread_id *ids, size_t n)
{
    pthread_once(&th_once, th_init);
    th_lock_take();
    for (size_t i = 0; i < th_count;) {
        size_t j = 0;
        while (th_notes[i].made && j < n &&
               !(ids[j].tid == th_notes[i].tid && ids[j].start == th_notes[i].start))
            j++;
        if (th_notes[i].made && j == n)
            th_notes[i] = th_notes[--th_count];
        else
            i++;
    }
    th_lock_give();
}

/* Forget the note of `name`. */
static void th_forget(mach_port_name_t name)
{
    th_lock_take();
    for (size_t i = 0; i < th_count; i++) {
        if (th_notes[i].name == name) {
            th_notes[i] = th_notes[--th_count];
            break;
        }
    }
    th_lock_give();
}

/*
 * The thread `name` stands for: KERN_SUCCESS with its ids, MACH_SEND_INVALID_DEST when the
 * name is no send right (the MIG request would have nowhere to go), KERN_INVALID_ARGUMENT for
 * a right that is not to a thread of this process.
 */
static kern_return_t th_lookup(mach_port_name_t name, th_note *out)
{
    kern_return_t kr;
    /* What the front end knows of the port's thread, for a name with no note (one that came
     * in a message, such as task_threads' reply to a request sent by hand). */
    th_note who = {name, 0, 0, 0, false};
    bool known = false;
    if (um_client_active()) {
        kr = um_client_kobject_check(name, UM_KOT_THREAD);
    } else {
        um_task *self = um_embedded_enter();
        um_port *port;
        kr = um_kobject_translate_send(self->space, name, UM_KOT_THREAD, &port);
        if (kr == KERN_SUCCESS)
            known = um_embedded_thread_who(port, &who.tid, &who.start, &who.made);
        um_embedded_leave();
    }
    if (kr == KERN_INVALID_CAPABILITY)
        return KERN_INVALID_ARGUMENT;
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_DEST;
    kr = KERN_INVALID_ARGUMENT;
    th_lock_take();
    for (size_t i = 0; i < th_count; i++) {
        if (th_notes[i].name == name) {
            *out = th_notes[i];
            kr = KERN_SUCCESS;
            break;
        }
    }
    th_lock_give();
    if (kr != KERN_SUCCESS && um_client_active())
        known = um_client_thread_who(name, &who.tid, &who.start, &who.made) == KERN_SUCCESS;
    if (kr != KERN_SUCCESS && known) {
        *out = who;
        kr = KERN_SUCCESS;
    }
    uint64_t start = 0;
    bool alive = kr == KERN_SUCCESS && out->made && um_proc_thread_read(0, out->tid, &start);
    if (kr == KERN_SUCCESS && out->made && !(alive && start == out->start)) {
        /*
         * A thread that never made its port has ended (or its id is another thread's now):
         * nothing destroyed the port at its exit, so it goes now, and the call gets what a
         * thread's own port gives once its thread has ended, a dead name's answer. Its
         * thread_policy_set settings go too (kept by id and start time: a live thread that
         * has its id now keeps its own).
         */
        th_forget(name);
        um_thread_policy_forget((um_thread_id){out->tid, out->start});
        if (um_client_active()) {
            um_client_thread_gone(out->tid, out->start);
        } else {
            um_embedded_enter();
            um_embedded_thread_gone(out->tid, out->start);
            um_embedded_leave();
        }
        return MACH_SEND_INVALID_DEST;
    }
    return kr;
}

kern_return_t um_thread_tid(mach_port_name_t name, pid_t *tid)
{
    th_note t;
    kern_return_t kr = th_lookup(name, &t);
    if (kr == KERN_SUCCESS)
        *tid = t.tid;
    return kr;
}

kern_return_t um_thread_lookup(mach_port_name_t name, pid_t *tid)
{
    th_note t;
    kern_return_t kr = th_lookup(name, &t);
    if (kr == KERN_SUCCESS)
        *tid = t.tid;
    return kr;
}

/* ---- task_threads ------------------------------------------------------------------------ */

/*
 * The ports of this process's threads `ids`, as send rights named in `names`: KERN_SUCCESS,
 * or an error with no right given. Embedded mode.
 */
static kern_return_t th_embedded_ports(const um_thread_id *ids, size_t n, mach_port_name_t *names)
{
    um_port **ports = malloc(n * sizeof *ports);
    if (!ports)
        return KERN_RESOURCE_SHORTAGE;
    um_task *self = um_embedded_enter();
    um_embedded_thread_ports(ids, n, ports);
    kern_return_t kr = KERN_SUCCESS;
    size_t i;
    for (i = 0; i < n && kr == KERN_SUCCESS; i++) {
        if (!ports[i])
            kr = KERN_RESOURCE_SHORTAGE;
        else
            kr = um_kobject_copyout_send(self->space, ports[i], &names[i]);
    }
    if (kr != KERN_SUCCESS) {
        /* All or nothing: the rights given so far go back. */
        for (size_t j = 0; j + 1 < i; j++)
            (void)um_api_mach_port_deallocate(self, self->task_name, names[j]);
        kr = KERN_RESOURCE_SHORTAGE;
    }
    um_embedded_leave();
    free(ports);
    return kr;
}

/*
 * task_threads on this task's own port: every live thread of the process (/proc/self/task),
 * those that never called Mach included, each a send right to its one port, the array in
 * memory from vm_allocate (page-rounded, as XNU's copyout of the reply's port array).
 */
static kern_return_t th_task_threads(thread_act_array_t *act_list,
                                     mach_msg_type_number_t *act_listCnt)
{
    size_t n = 0;
    um_thread_id *ids = um_proc_threads(0, SIZE_MAX, &n);
    if (!ids)
        return KERN_RESOURCE_SHORTAGE;
    /* /proc/self/task always lists the caller; an empty list means /proc lied. */
    if (n == 0 || n > UINT32_MAX / sizeof(mach_port_t)) {
        free(ids);
        return KERN_FAILURE;
    }
    vm_address_t addr = 0;
    vm_size_t size = (n * sizeof(mach_port_t) + vm_page_size - 1) & ~(vm_size_t)(vm_page_size - 1);
    if (vm_allocate(mach_task_self(), &addr, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS) {
        free(ids);
        return KERN_RESOURCE_SHORTAGE;
    }
    mach_port_name_t *names = (mach_port_name_t *)addr;
    kern_return_t kr = um_client_active() ? um_client_thread_ports(ids, n, names)
                                          : th_embedded_ports(ids, n, names);
    if (kr != KERN_SUCCESS) {
        (void)vm_deallocate(mach_task_self(), addr, size);
        free(ids);
        return kr;
    }
    th_forget_ended(ids, n);
    for (size_t i = 0; i < n; i++)
        th_note_made(names[i], ids[i]);
    free(ids);
    *act_list = names;
    *act_listCnt = (mach_msg_type_number_t)n;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t task_threads(task_inspect_t target_task, thread_act_array_t *act_list,
                                     mach_msg_type_number_t *act_listCnt)
{
    UM_CALL_SCOPE;
    if (um_call_task_check(target_task))
        return th_task_threads(act_list, act_listCnt);
    if (um_call_kobject_is(target_task, UM_KOT_TASK))
        return KERN_NOT_SUPPORTED; /* another task's (a world): its threads are its process's */
    if (!um_forward_wanted(target_task))
        return MACH_SEND_INVALID_DEST;
    /* Another port: the MIG request, to its receiver (dispatch/um_forward.h). */
    return um_forward_ool_ports_out(target_task, UM_MIG_TASK_THREADS, act_list, act_listCnt);
}

/* ---- reading the thread ------------------------------------------------------------------ */

typedef struct th_state {
    uint64_t user_ns, system_ns;
    char state;
    int nice;
    int policy;
    char name[MAXTHREADNAMESIZE];
} th_state;

/* /proc/self/task/TID/stat and comm, and the thread's CPU clock; false when it is gone. */
static bool th_read(const th_note *t, th_state *s)
{
    memset(s, 0, sizeof *s);
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)t->tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* After the name in parentheses (which may hold anything): state, then fields 4 on. */
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    long nice = 0;
    unsigned policy = 0;
    if (!p || sscanf(p + 2,
                     "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %ld %*d %*d "
                     "%*u %*u %*d %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*u %*d %*d %*u "
                     "%u",
                     &s->state, &utime, &stime, &nice, &policy) != 5)
        return false;
    s->nice = (int)nice;
    s->policy = (int)policy;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t tick_ns = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull;
    /* The CPU clock is exact; /proc's ticks say how it splits between user and system. */
    uint64_t total = (utime + stime) * tick_ns;
    /* Linux's CPU clock of a thread by its id (what pthread_getcpuclockid makes, without
     * touching a pthread_t that may have exited meanwhile): fails once the thread is gone. */
    clockid_t clk = (clockid_t)((~(unsigned)t->tid << 3) | 6u);
    struct timespec ts;
    if (clock_gettime(clk, &ts) == 0)
        total = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t sys = stime * tick_ns;
    s->system_ns = sys < total ? sys : total;
    s->user_ns = total - s->system_ns;
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)t->tid);
    f = fopen(path, "re");
    if (f) {
        if (fgets(s->name, sizeof s->name, f))
            s->name[strcspn(s->name, "\n")] = '\0';
        fclose(f);
    }
    return true;
}

static integer_t th_run_state(char c)
{
    switch (c) {
    case 'R':
        return TH_STATE_RUNNING;
    case 'D':
        return TH_STATE_UNINTERRUPTIBLE;
    case 'T':
    case 't':
        return TH_STATE_STOPPED;
    case 'Z':
    case 'X':
        return TH_STATE_HALTED;
    default: /* S, I, W, P */
        return TH_STATE_WAITING;
    }
}

static policy_t th_policy(int linux_policy)
{
    if (linux_policy == SCHED_FIFO)
        return POLICY_FIFO;
    if (linux_policy == SCHED_RR)
        return POLICY_RR;
    return POLICY_TIMESHARE;
}

static time_value_t th_time_value(uint64_t ns)
{
    time_value_t v = {(integer_t)(ns / 1000000000ull), (integer_t)(ns % 1000000000ull / 1000)};
    return v;
}

/* Darwin's default user priority, and the highest a user thread gets. */
#define TH_BASEPRI_DEFAULT 31
#define TH_MAXPRI_USER 63

UM_EXPORT kern_return_t thread_info(thread_inspect_t target_act, thread_flavor_t flavor,
                                    thread_info_t thread_info_out,
                                    mach_msg_type_number_t *thread_info_outCnt)
{
    UM_CALL_SCOPE;
    th_note t;
    kern_return_t kr = th_lookup(target_act, &t);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(target_act)) {
        /* Another port: the MIG request, to its receiver (dispatch/um_forward.h). */
        const um_fw_in in[] = {UM_FW32(flavor)};
        const um_fw_array array = {thread_info_out, sizeof *thread_info_out, thread_info_outCnt,
                                   UM_FW_THREAD_INFO_MAX};
        return um_forward_array_out(target_act, UM_MIG_THREAD_INFO, in, 1, NULL, NULL, 0, &array);
    }
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_type_number_t need;
    switch (flavor) {
    case THREAD_BASIC_INFO:
        need = THREAD_BASIC_INFO_COUNT;
        break;
    case THREAD_IDENTIFIER_INFO:
        need = THREAD_IDENTIFIER_INFO_COUNT;
        break;
    case THREAD_EXTENDED_INFO:
        need = THREAD_EXTENDED_INFO_COUNT;
        break;
    default:
        /* The scheduling-policy flavours and the internal one included: what XNU does not
         * answer for a user thread (KERN_INVALID_POLICY needs a policy umach does not keep). */
        return KERN_INVALID_ARGUMENT;
    }
    if (*thread_info_outCnt < need)
        return KERN_INVALID_ARGUMENT;
    if (flavor == THREAD_IDENTIFIER_INFO) {
        thread_identifier_info_data_t id = {(uint64_t)t.tid, (uint64_t)t.pthread, 0};
        memcpy(thread_info_out, &id, sizeof id);
        return KERN_SUCCESS; /* XNU leaves the count as it was */
    }
    th_state s;
    if (!th_read(&t, &s))
        return KERN_INVALID_ARGUMENT; /* it exited after the lookup: a dead thread's port */
    integer_t pri = TH_BASEPRI_DEFAULT - s.nice;
    if (flavor == THREAD_BASIC_INFO) {
        thread_basic_info_data_t b;
        memset(&b, 0, sizeof b);
        b.user_time = th_time_value(s.user_ns);
        b.system_time = th_time_value(s.system_ns);
        b.policy = th_policy(s.policy);
        b.run_state = th_run_state(s.state);
        b.suspend_count = um_suspend_count(t.tid);
        memcpy(thread_info_out, &b, sizeof b);
    } else {
        thread_extended_info_data_t e;
        memset(&e, 0, sizeof e);
        e.pth_user_time = s.user_ns;
        e.pth_system_time = s.system_ns;
        e.pth_policy = th_policy(s.policy);
        e.pth_run_state = th_run_state(s.state);
        e.pth_curpri = pri;
        e.pth_priority = pri;
        e.pth_maxpriority = TH_MAXPRI_USER;
        memcpy(e.pth_name, s.name, sizeof e.pth_name);
        memcpy(thread_info_out, &e, sizeof e);
    }
    *thread_info_outCnt = need;
    return KERN_SUCCESS;
}

/*
 * thread_switch: the option checked as XNU's; a wait sleeps option_time (ms, or µs for
 * Darwin's private SWITCH_OPTION_DISPATCH_CONTENTION) and a signal ends it early, as XNU's
 * abort-safe wait; anything else yields. Linux cannot run a chosen thread next, so the hint
 * `thread_name` is not used (XNU ignores a name that is not a thread too), and cannot lower a
 * thread's priority for a while without privilege, so a depress is the yield alone.
 */
UM_EXPORT kern_return_t thread_switch(mach_port_name_t thread_name, int option,
                                      mach_msg_timeout_t option_time)
{
    UM_CALL_SCOPE;
    (void)thread_name;
    uint64_t unit_ns = 1000000;
    bool wait = false;
    switch (option) {
    case SWITCH_OPTION_NONE:
    case SWITCH_OPTION_DEPRESS:
    case UM_SWITCH_OPTION_OSLOCK_DEPRESS:
        break;
    case SWITCH_OPTION_WAIT:
    case UM_SWITCH_OPTION_OSLOCK_WAIT:
        wait = true;
        break;
    case UM_SWITCH_OPTION_DISPATCH_CONTENTION:
        wait = true;
        unit_ns = 1000;
        break;
    default:
        return KERN_INVALID_ARGUMENT;
    }
    if (!wait) {
        sched_yield();
        return KERN_SUCCESS;
    }
    uint64_t ns = (uint64_t)option_time * unit_ns;
    struct timespec d = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    (void)nanosleep(&d, NULL); /* EINTR: a signal ended the wait */
    return KERN_SUCCESS;
}
