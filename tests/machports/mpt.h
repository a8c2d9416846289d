/*
 * mpt.h — helpers for the machports tests (on top of tests/common/mt.h).
 *
 * MPT_TEST(name) is MT_TEST(name) plus a check that the task's port space holds exactly
 * the names (with the same rights and send references) after the test as before it.
 */
#ifndef MPT_H
#define MPT_H

#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* fork, tmpfile, pthread under -std=c11 */
#endif
#include "mt.h"

#include <machports/machports.h>

#include <stdlib.h>
#include <string.h>

typedef struct mpt_space {
    mach_port_name_t *names;
    mach_port_type_t *types;
    mach_port_urefs_t *srefs;
    mach_msg_type_number_t n;
} mpt_space;

static inline void mpt_snapshot(mpt_space *s)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;

    memset(s, 0, sizeof *s);
    if (mach_port_names(mach_task_self(), &names, &nn, &types, &nt) != KERN_SUCCESS) {
        s->n = (mach_msg_type_number_t)-1;
        return;
    }
    s->n = nn;
    s->names = calloc(nn + 1, sizeof *s->names);
    s->types = calloc(nn + 1, sizeof *s->types);
    s->srefs = calloc(nn + 1, sizeof *s->srefs);
    for (mach_msg_type_number_t i = 0; i < nn; i++) {
        s->names[i] = names[i];
        s->types[i] = types[i];
        if (types[i] & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DEAD_NAME))
            (void)mach_port_get_refs(mach_task_self(), names[i],
                                     (types[i] & MACH_PORT_TYPE_SEND) ? MACH_PORT_RIGHT_SEND
                                                                      : MACH_PORT_RIGHT_DEAD_NAME,
                                     &s->srefs[i]);
    }
    if (names)
        vm_deallocate(mach_task_self(), (vm_address_t)names, nn * sizeof *names);
    if (types)
        vm_deallocate(mach_task_self(), (vm_address_t)types, nt * sizeof *types);
}

static inline void mpt_free(mpt_space *s)
{
    free(s->names);
    free(s->types);
    free(s->srefs);
    memset(s, 0, sizeof *s);
}

static inline int mpt_find(const mpt_space *s, mach_port_name_t n)
{
    for (mach_msg_type_number_t i = 0; i < s->n; i++)
        if (s->names[i] == n)
            return (int)i;
    return -1;
}

/* Report every difference between two snapshots; returns the number found. */
static inline int mpt_compare(const mpt_space *before, const mpt_space *after, const char *file,
                              int line)
{
    int diffs = 0;
    char msg[200];
    for (mach_msg_type_number_t i = 0; i < after->n; i++) {
        int j = mpt_find(before, after->names[i]);
        if (j < 0) {
            snprintf(msg, sizeof msg, "port space: name 0x%x (type 0x%x, %u send refs) leaked",
                     after->names[i], after->types[i], after->srefs[i]);
            mt_fail_at(file, line, msg);
            diffs++;
        } else if (before->types[j] != after->types[i] || before->srefs[j] != after->srefs[i]) {
            snprintf(msg, sizeof msg,
                     "port space: name 0x%x changed: type 0x%x -> 0x%x, send refs %u -> %u",
                     after->names[i], before->types[j], after->types[i], before->srefs[j],
                     after->srefs[i]);
            mt_fail_at(file, line, msg);
            diffs++;
        }
    }
    for (mach_msg_type_number_t i = 0; i < before->n; i++) {
        if (mpt_find(after, before->names[i]) < 0) {
            snprintf(msg, sizeof msg, "port space: name 0x%x (type 0x%x) released",
                     before->names[i], before->types[i]);
            mt_fail_at(file, line, msg);
            diffs++;
        }
    }
    return diffs;
}

#define MPT_TEST(name)                                                                             \
    static void mpt_body_##name(void);                                                             \
    MT_TEST(name)                                                                                  \
    {                                                                                              \
        mpt_space mpt_before_, mpt_after_;                                                         \
        mpt_snapshot(&mpt_before_);                                                                \
        mpt_body_##name();                                                                         \
        mpt_snapshot(&mpt_after_);                                                                 \
        mt_checks++;                                                                               \
        mpt_compare(&mpt_before_, &mpt_after_, __FILE__, __LINE__);                                \
        mpt_free(&mpt_before_);                                                                    \
        mpt_free(&mpt_after_);                                                                     \
    }                                                                                              \
    static void mpt_body_##name(void)

/* The type bits of a name now (0 when it does not exist). */
static inline mach_port_type_t mpt_type(mach_port_name_t n)
{
    mach_port_type_t t = 0;
    if (mach_port_type(mach_task_self(), n, &t) != KERN_SUCCESS)
        return 0;
    return t;
}

/* User references of `right` under a name (0 when none). */
static inline mach_port_urefs_t mpt_refs(mach_port_name_t n, mach_port_right_t right)
{
    mach_port_urefs_t r = 0;
    if (mach_port_get_refs(mach_task_self(), n, right, &r) != KERN_SUCCESS)
        return 0;
    return r;
}

/* Messages queued on a receive right. */
static inline mach_port_msgcount_t mpt_queued(mp_recv_right r)
{
    mp_port_status st;
    if (mp_recv_right_status(r, &st) != KERN_SUCCESS)
        return (mach_port_msgcount_t)-1;
    return st.msgcount;
}

#endif
