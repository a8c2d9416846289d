/*
 * um_thread_policy.c — thread_policy_set and thread_policy_get (<mach/thread_policy.h>) for the
 * threads of this process, with XNU's checks and answers (osfmk/kern/thread_policy.c, macOS).
 *
 * XNU's policies are scheduling hints; here each thread's settings are kept in a table by its
 * Linux id and start time and reported back as XNU reports them, and nothing is asked of
 * Linux: a nice value an unprivileged thread lowers cannot be raised again (XNU restores a
 * precedence at will), real time needs CAP_SYS_NICE, and Linux has no cache-sharing tags or
 * QoS tiers (docs/porting.md). A thread's settings go when it exits (um_threads.c's exit hook
 * calls um_thread_policy_forget_tid) and in a forked child, whose thread is a new one. A thread
 * whose port task_threads made has no exit hook: its settings stay until a lookup finds the
 * thread gone (um_threads.c) or until its id is looked up for a later thread, whose start time
 * differs (Linux reuses thread ids, never an id and start time together), so a later thread
 * given the id never takes over an ended one's settings.
 *
 * The calls are MIG routines on Darwin, so the stub's own rules hold too: set refuses more
 * than 16 words with MIG_ARRAY_TOO_LARGE before anything is sent, and get asks for at most
 * 16, gets back as many words as it asked for (the ones the flavour does not fill are 0: the
 * kernel's reply is zeroed) and that count. A name that is a send right to an ordinary port
 * gets the MIG request, as thread_info's does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../dispatch/um_forward.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_suspend.h"

#include <mach/mach.h>
#include <mach/mach_time.h>
#include <mach/thread_policy.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* thread_policy_t: MIG's array[*:16] of integer_t. */
#define TP_WORDS 16u

/* The scheduling modes the flavours choose between (XNU's TH_MODE_*). */
enum { TP_TIMESHARE, TP_FIXED, TP_REALTIME };

/* What one thread was told. A thread with no entry has the defaults: timeshare, importance
 * 0, no tag, no tiers. */
typedef struct tp_thread {
    um_thread_id id;
    int mode;
    /* The last real-time setting: kept while another mode rules, reported only in real time. */
    thread_time_constraint_policy_data_t rt;
    integer_t importance;
    integer_t affinity_tag;
    uint32_t latency, throughput; /* a tier's rank (its low byte), 0 when unspecified */
} tp_thread;

static pthread_mutex_t tp_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_thread *tp_table; /* tp_lock */
static size_t tp_count, tp_cap;
static pthread_once_t tp_once = PTHREAD_ONCE_INIT;

static void tp_atfork_child(void)
{
    pthread_mutex_init(&tp_lock, NULL);
    tp_count = 0;
}

static void tp_init(void)
{
    (void)pthread_atfork(NULL, NULL, tp_atfork_child);
}

/* At load, while the process has one thread: no fork can come before the fork handler is
 * registered, or while another thread registers it (a child then inherited the lock held). */
__attribute__((constructor)) static void tp_init_at_load(void)
{
    pthread_once(&tp_once, tp_init);
}

/* Take tp_lock, the fork handler that resets it in a child made first: a child forked while
 * another thread reads or forgets settings (any noted thread's exit does) must not inherit
 * the lock held, even in a process that never set a policy. */
static void tp_lock_take(void)
{
    pthread_once(&tp_once, tp_init);
    um_suspend_lock(&tp_lock);
}

static const tp_thread tp_defaults = {.mode = TP_TIMESHARE};

/* Thread `tid`'s identity (its id and start time): false when it is gone (or /proc cannot
 * tell), and then it has the defaults and keeps nothing. */
static bool tp_identity(pid_t tid, um_thread_id *id)
{
    id->tid = tid;
    id->start = 0;
    return um_proc_thread_read(0, tid, &id->start);
}

/* The entry of thread `id`, or NULL. An entry with its thread id and an earlier start time is
 * an ended thread's (`id` was given the id after it): it goes. Conditions: tp_lock held. */
static tp_thread *tp_find(um_thread_id id)
{
    tp_thread *found = NULL;
    for (size_t i = 0; i < tp_count;) {
        if (tp_table[i].id.tid != id.tid || tp_table[i].id.start > id.start) {
            i++;
        } else if (tp_table[i].id.start == id.start) {
            found = &tp_table[i++];
        } else {
            tp_table[i] = tp_table[--tp_count];
            if (found == &tp_table[tp_count])
                found = &tp_table[i];
        }
    }
    return found;
}

/* Thread `id`'s settings (the defaults when it has none). */
static tp_thread tp_read(um_thread_id id)
{
    tp_lock_take();
    const tp_thread *t = tp_find(id);
    tp_thread copy = t ? *t : tp_defaults;
    um_suspend_unlock(&tp_lock);
    copy.id = id;
    return copy;
}

void um_thread_policy_forget(um_thread_id id)
{
    tp_lock_take();
    tp_thread *t = tp_find(id);
    if (t)
        *t = tp_table[--tp_count];
    um_suspend_unlock(&tp_lock);
}

void um_thread_policy_forget_tid(pid_t tid)
{
    tp_lock_take();
    for (size_t i = 0; i < tp_count;) {
        if (tp_table[i].id.tid == tid)
            tp_table[i] = tp_table[--tp_count];
        else
            i++;
    }
    um_suspend_unlock(&tp_lock);
}

/* `us` microseconds in absolute time units (XNU sets its real-time bounds this way). */
static uint32_t tp_abs_us(uint64_t us)
{
    mach_timebase_info_data_t tb = {1, 1};
    (void)mach_timebase_info(&tb);
    return (uint32_t)(us * 1000u * tb.denom / tb.numer);
}

/* XNU's real-time bounds on computation and the defaults reported outside real time (half a
 * 10 ms quantum, and the quantum). */
#define TP_MIN_RT_US 50u
#define TP_MAX_RT_US 50000u
#define TP_QUANTUM_US 10000u

/* Darwin's affinity sets exist where the kernel knows the machine's caches: Intel Macs. */
#if defined(__x86_64__) || defined(__i386__)
#define TP_AFFINITY 1
#else
#define TP_AFFINITY 0
#endif

/* A latency or throughput tier as XNU checks it: unspecified, or `kind`'s ranks 1 to 6. */
static bool tp_tier_ok(integer_t tier, uint32_t kind)
{
    return tier == 0 ||
           (tier >= (integer_t)((kind << 16) | 1) && tier <= (integer_t)((kind << 16) | 6));
}

/* A stored rank as the tier get reports (0 stays unspecified). */
static integer_t tp_tier(uint32_t rank, uint32_t kind)
{
    return rank == 0 ? 0 : (integer_t)((kind << 16) | rank);
}

/* The new settings `t` takes from `flavor`'s `count` words `w`, checked in XNU's order. */
static kern_return_t tp_apply(tp_thread *t, thread_policy_flavor_t flavor, const integer_t *w,
                              mach_msg_type_number_t count)
{
    switch (flavor) {
    case THREAD_EXTENDED_POLICY: { /* THREAD_STANDARD_POLICY too: no word, timeshare */
        boolean_t timeshare = count >= THREAD_EXTENDED_POLICY_COUNT ? (boolean_t)w[0] : TRUE;
        t->mode = timeshare == TRUE ? TP_TIMESHARE : TP_FIXED;
        return KERN_SUCCESS;
    }
    case THREAD_TIME_CONSTRAINT_POLICY: {
        if (count < THREAD_TIME_CONSTRAINT_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        thread_time_constraint_policy_data_t rt;
        memcpy(&rt, w, sizeof rt);
        const uint32_t max = tp_abs_us(TP_MAX_RT_US);
        if (rt.constraint < rt.computation || rt.computation > max ||
            rt.computation < tp_abs_us(TP_MIN_RT_US))
            return KERN_INVALID_ARGUMENT;
        if (rt.computation < rt.constraint / 2)
            rt.computation = rt.constraint / 2 > max ? max : rt.constraint / 2;
        t->rt = rt;
        t->mode = TP_REALTIME;
        return KERN_SUCCESS;
    }
    case THREAD_PRECEDENCE_POLICY:
        if (count < THREAD_PRECEDENCE_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        t->importance = w[0];
        return KERN_SUCCESS;
    case THREAD_AFFINITY_POLICY:
        if (!TP_AFFINITY)
            return KERN_NOT_SUPPORTED;
        if (count < THREAD_AFFINITY_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        t->affinity_tag = w[0];
        return KERN_SUCCESS;
    case THREAD_LATENCY_QOS_POLICY:
        if (count < THREAD_LATENCY_QOS_POLICY_COUNT || !tp_tier_ok(w[0], 0xFF))
            return KERN_INVALID_ARGUMENT;
        t->latency = (uint32_t)w[0] & 0xFF;
        return KERN_SUCCESS;
    case THREAD_THROUGHPUT_QOS_POLICY:
        if (count < THREAD_THROUGHPUT_QOS_POLICY_COUNT || !tp_tier_ok(w[0], 0xFE))
            return KERN_INVALID_ARGUMENT;
        t->throughput = (uint32_t)w[0] & 0xFF;
        return KERN_SUCCESS;
    default:
        /* THREAD_BACKGROUND_POLICY included: macOS's kernel takes it only on its other
         * platforms. Darwin's private flavours are not kept either. */
        return KERN_INVALID_ARGUMENT;
    }
}

/* `flavor`'s words applied to thread `id`'s settings, all under the lock so that two calls on
 * one thread lose neither; KERN_RESOURCE_SHORTAGE when there is no memory for a new entry. */
kern_return_t um_thread_policy_set_id(um_thread_id id, thread_policy_flavor_t flavor,
                                      const integer_t *w, mach_msg_type_number_t count)
{
    tp_lock_take();
    tp_thread *slot = tp_find(id);
    tp_thread t = slot ? *slot : tp_defaults;
    t.id = id;
    kern_return_t kr = tp_apply(&t, flavor, w, count);
    if (kr == KERN_SUCCESS && !slot) {
        if (tp_count == tp_cap) {
            size_t cap = tp_cap ? 2 * tp_cap : 8;
            tp_thread *n = realloc(tp_table, cap * sizeof *n);
            if (n) {
                tp_table = n;
                tp_cap = cap;
            }
        }
        if (tp_count < tp_cap)
            slot = &tp_table[tp_count++];
        else
            kr = KERN_RESOURCE_SHORTAGE;
    }
    if (kr == KERN_SUCCESS)
        *slot = t;
    um_suspend_unlock(&tp_lock);
    return kr;
}

static kern_return_t tp_get(const tp_thread *tp, thread_policy_flavor_t flavor,
                            thread_policy_t policy_info, mach_msg_type_number_t *policy_infoCnt,
                            boolean_t *get_default);

UM_EXPORT kern_return_t thread_policy_set(thread_act_t thread, thread_policy_flavor_t flavor,
                                          thread_policy_t policy_info,
                                          mach_msg_type_number_t policy_infoCnt)
{
    UM_CALL_SCOPE;
    if (policy_infoCnt > TP_WORDS)
        return MIG_ARRAY_TOO_LARGE; /* the stub's check, before anything is sent */
    integer_t w[TP_WORDS];
    memset(w, 0, sizeof w);
    if (policy_infoCnt)
        memcpy(w, policy_info, policy_infoCnt * sizeof *w);
    pid_t tid;
    kern_return_t kr = um_thread_lookup(thread, &tid);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(thread)) {
        um_fw_in in[2 + TP_WORDS];
        in[0] = UM_FW32(flavor);
        in[1] = UM_FW32(policy_infoCnt);
        for (mach_msg_type_number_t i = 0; i < policy_infoCnt; i++)
            in[2 + i] = UM_FW32(w[i]);
        return um_forward_simple(thread, UM_MIG_THREAD_POLICY_SET, NULL, in, 2 + policy_infoCnt,
                                 NULL, 0);
    }
    if (kr != KERN_SUCCESS)
        return kr;
    um_thread_id id;
    if (!tp_identity(tid, &id)) {
        /* Ended since the lookup: checked as ever, and nothing to keep. */
        tp_thread scratch = tp_defaults;
        return tp_apply(&scratch, flavor, w, policy_infoCnt);
    }
    if ((kr = um_thread_policy_set_id(id, flavor, w, policy_infoCnt)) != KERN_SUCCESS)
        return kr;
    /* The thread may have exited since the lookup, its exit hook done before the write: its
     * entry must not outlive it (a later thread given its id would not see it, but it would
     * stay until one is looked up). */
    pid_t again;
    if (um_thread_lookup(thread, &again) != KERN_SUCCESS || again != tid)
        um_thread_policy_forget(id);
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t thread_policy_get(thread_inspect_t thread, thread_policy_flavor_t flavor,
                                          thread_policy_t policy_info,
                                          mach_msg_type_number_t *policy_infoCnt,
                                          boolean_t *get_default)
{
    UM_CALL_SCOPE;
    pid_t tid;
    kern_return_t kr = um_thread_lookup(thread, &tid);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(thread))
        return um_forward_thread_policy_get(thread, flavor, policy_info, policy_infoCnt,
                                            get_default);
    if (kr != KERN_SUCCESS)
        return kr;
    um_thread_id id;
    if (!tp_identity(tid, &id))
        return tp_get(&tp_defaults, flavor, policy_info, policy_infoCnt, get_default);
    return um_thread_policy_get_id(id, flavor, policy_info, policy_infoCnt, get_default);
}

kern_return_t um_thread_policy_get_id(um_thread_id id, thread_policy_flavor_t flavor,
                                      thread_policy_t policy_info,
                                      mach_msg_type_number_t *policy_infoCnt,
                                      boolean_t *get_default)
{
    if (*get_default)
        return tp_get(&tp_defaults, flavor, policy_info, policy_infoCnt, get_default);
    const tp_thread t = tp_read(id);
    return tp_get(&t, flavor, policy_info, policy_infoCnt, get_default);
}

/* thread_policy_get's answer for a thread with settings `t`. */
static kern_return_t tp_get(const tp_thread *tp, thread_policy_flavor_t flavor,
                            thread_policy_t policy_info, mach_msg_type_number_t *policy_infoCnt,
                            boolean_t *get_default)
{
    const tp_thread t = *tp;
    const mach_msg_type_number_t n = *policy_infoCnt < TP_WORDS ? *policy_infoCnt : TP_WORDS;
    integer_t w[TP_WORDS];
    memset(w, 0, sizeof w);
    boolean_t dflt = *get_default;
    switch (flavor) {
    case THREAD_EXTENDED_POLICY: {
        /* A real-time thread has no timeshare setting: the default, and get_default says so. */
        boolean_t timeshare = TRUE;
        if (!dflt && t.mode == TP_REALTIME)
            dflt = TRUE;
        else if (!dflt)
            timeshare = t.mode == TP_TIMESHARE;
        if (n >= THREAD_EXTENDED_POLICY_COUNT)
            w[0] = (integer_t)timeshare;
        break;
    }
    case THREAD_TIME_CONSTRAINT_POLICY: {
        if (n < THREAD_TIME_CONSTRAINT_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        thread_time_constraint_policy_data_t rt = t.rt;
        if (t.mode != TP_REALTIME) {
            dflt = TRUE;
            rt.period = 0;
            rt.computation = tp_abs_us(TP_QUANTUM_US / 2);
            rt.constraint = tp_abs_us(TP_QUANTUM_US);
            rt.preemptible = TRUE;
        }
        memcpy(w, &rt, sizeof rt);
        break;
    }
    case THREAD_PRECEDENCE_POLICY:
        if (n < THREAD_PRECEDENCE_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        w[0] = t.importance;
        break;
    case THREAD_AFFINITY_POLICY:
        if (!TP_AFFINITY)
            return KERN_NOT_SUPPORTED;
        if (n < THREAD_AFFINITY_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        w[0] = t.affinity_tag;
        break;
    case THREAD_LATENCY_QOS_POLICY:
        if (n < THREAD_LATENCY_QOS_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        w[0] = tp_tier(t.latency, 0xFF);
        break;
    case THREAD_THROUGHPUT_QOS_POLICY:
        if (n < THREAD_THROUGHPUT_QOS_POLICY_COUNT)
            return KERN_INVALID_ARGUMENT;
        w[0] = tp_tier(t.throughput, 0xFE);
        break;
    default:
        /* THREAD_BACKGROUND_POLICY included: XNU's get has no such case. */
        return KERN_INVALID_ARGUMENT;
    }
    if (n)
        memcpy(policy_info, w, n * sizeof *w);
    *policy_infoCnt = n;
    *get_default = dflt;
    return KERN_SUCCESS;
}
