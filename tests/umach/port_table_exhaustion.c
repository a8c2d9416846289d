/*
 * port_table_exhaustion.c — running out of names gives KERN_NO_SPACE (or XNU's receive-side
 * MACH_MSG_IPC_SPACE error), never a crash, and nothing changes in the space.
 *
 * UMACH_PORT_TABLE_MAX is read when a task's space is created; a forked child is a new task,
 * so each test sets the limit and forks: the child runs the checks in a small space and exits
 * with the number of failed checks.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/mach.h>
#include <mach/notify.h>

#define TASK mach_task_self()
#define LIMIT 1000

/* Run fn in a forked child whose space holds at most `limit` names. */
static void in_small_space(unsigned limit, void (*fn)(void))
{
    char v[32];
    snprintf(v, sizeof v, "%u", limit);
    MT_EQ(ut_in_child("UMACH_PORT_TABLE_MAX", v, fn, 0), 0);
}

/* A new task's space names its own task port and its bootstrap port (bootstrap_port). */
#define START_NAMES 2u

/* Allocate receive rights until the table is full; returns how many were made. */
static unsigned fill(mach_port_name_t *names, unsigned cap)
{
    unsigned n = 0;
    while (n < cap) {
        kern_return_t kr = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &names[n]);
        if (kr != KERN_SUCCESS) {
            UT_CK(kr == KERN_NO_SPACE);
            break;
        }
        n++;
    }
    return n;
}

static void release_all(mach_port_name_t *names, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        UT_CK(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
}

static mach_port_name_t names_buf[LIMIT + 16];

static void child_allocations_stop_at_the_limit(void)
{
    unsigned before = tc_name_count();
    UT_CK(before == START_NAMES);
    unsigned n = fill(names_buf, LIMIT + 16);
    UT_CK(n == LIMIT - before);
    UT_CK(tc_name_count() == LIMIT);

    mach_port_name_t name = 0xdead;
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &name) == KERN_NO_SPACE);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &name) == KERN_NO_SPACE);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &name) == KERN_NO_SPACE);
    mach_port_options_t opts = {.flags = MPO_INSERT_SEND_RIGHT};
    UT_CK(mach_port_construct(TASK, &opts, 0, &name) == KERN_NO_SPACE);
    UT_CK(tc_name_count() == LIMIT);

    /* Rights under existing names need no new entry. */
    UT_CK(mach_port_insert_right(TASK, names_buf[0], names_buf[0], MACH_MSG_TYPE_MAKE_SEND) ==
       KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, names_buf[0]) == KERN_SUCCESS);

    /*
     * A send-once right always needs a new name. extract_right hands the right back in a MIG
     * reply; with no name for it the reply's body fails to copy out, the right is destroyed
     * (a send-once notification) and the stub returns the receive error.
     */
    mach_port_name_t so = MACH_PORT_NULL;
    mach_msg_type_name_t acquired = 0;
    UT_CK(mach_port_extract_right(TASK, names_buf[1], MACH_MSG_TYPE_MAKE_SEND_ONCE, &so,
                               &acquired) == (MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE));
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    UT_CK(mach_port_get_attributes(TASK, names_buf[1], MACH_PORT_RECEIVE_STATUS,
                                (mach_port_info_t)&st, &cnt) == KERN_SUCCESS);
    UT_CK(st.mps_sorights == 1); /* the notification travels on the send-once right */
    UT_CK(st.mps_msgcount == 1);
    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } r;
    UT_CK(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, names_buf[1], 0,
                MACH_PORT_NULL) == MACH_MSG_SUCCESS);
    UT_CK(r.h.msgh_id == MACH_NOTIFY_SEND_ONCE);
    UT_CK(mach_port_get_attributes(TASK, names_buf[1], MACH_PORT_RECEIVE_STATUS,
                                (mach_port_info_t)&st, &cnt) == KERN_SUCCESS);
    UT_CK(st.mps_sorights == 0);
    UT_CK(tc_name_count() == LIMIT);

    /* One name freed is one name available, and only one. */
    UT_CK(mach_port_mod_refs(TASK, names_buf[n - 1], MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &names_buf[n - 1]) == KERN_SUCCESS);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &name) == KERN_NO_SPACE);
    UT_CK(mach_port_mod_refs(TASK, names_buf[n - 1], MACH_PORT_RIGHT_DEAD_NAME, -1) ==
       KERN_SUCCESS);
    release_all(names_buf, n - 1);
    UT_CK(tc_name_count() == START_NAMES);

    /* The table works normally again afterwards. */
    unsigned again = fill(names_buf, LIMIT + 16);
    UT_CK(again == n);
    release_all(names_buf, again);
}

MT_TEST(allocations_stop_at_the_table_limit_with_no_space_and_change_nothing)
{
    in_small_space(LIMIT, child_allocations_stop_at_the_limit);
}

static void child_receive_without_room_for_the_reply(void)
{
    mach_port_name_t a = MACH_PORT_NULL, b = MACH_PORT_NULL;
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &a) == KERN_SUCCESS);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &b) == KERN_SUCCESS);
    unsigned n = fill(names_buf, LIMIT + 16);
    UT_CK(n > 0);

    /* The send needs no new name: the send-once right travels in the message. */
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        .msgh_size = sizeof h,
        .msgh_remote_port = a,
        .msgh_local_port = b,
        .msgh_id = 4242,
    };
    UT_CK(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) ==
       MACH_MSG_SUCCESS);

    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } r;
    memset(&r, 0xA5, sizeof r);
    mach_msg_return_t mr = mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, a, 0,
                                    MACH_PORT_NULL);
    UT_CK(mr == (MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE));
    /* XNU hands back a bare header: the reply right destroyed, the destination named. */
    UT_CK(r.h.msgh_size == sizeof(mach_msg_header_t));
    UT_CK(r.h.msgh_local_port == a);
    UT_CK(r.h.msgh_remote_port == MACH_PORT_NULL);
    UT_CK(r.h.msgh_id == 4242);
    UT_CK(MACH_MSGH_BITS_REMOTE(r.h.msgh_bits) == MACH_MSG_TYPE_PORT_SEND_ONCE);
    UT_CK(MACH_MSGH_BITS_LOCAL(r.h.msgh_bits) == MACH_MSG_TYPE_PORT_SEND);
    UT_CK(tc_name_count() == LIMIT);

    /* The destroyed send-once right became a send-once notification on b. */
    memset(&r, 0xA5, sizeof r);
    mr = mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, b, 0, MACH_PORT_NULL);
    UT_CK(mr == MACH_MSG_SUCCESS);
    UT_CK(r.h.msgh_id == MACH_NOTIFY_SEND_ONCE);
    UT_CK(r.h.msgh_local_port == b);
    /* Exactly one notification, and nothing left queued on a. */
    UT_CK(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, b, 0, MACH_PORT_NULL) ==
       MACH_RCV_TIMED_OUT);
    UT_CK(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, a, 0, MACH_PORT_NULL) ==
       MACH_RCV_TIMED_OUT);

    release_all(names_buf, n);
    UT_CK(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_mod_refs(TASK, b, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(tc_name_count() == START_NAMES);
}

MT_TEST(receive_with_no_room_for_the_reply_right_is_a_header_error_and_destroys_it)
{
    in_small_space(LIMIT, child_receive_without_room_for_the_reply);
}

/* The default table must hold at least a million names (dead names: no port behind them). */
static void child_a_million_names(void)
{
    enum { MILLION = 1000000 };
    mach_port_name_t *names = calloc(MILLION, sizeof *names);
    UT_CK(names != NULL);
    if (!names)
        return;
    unsigned made = 0;
    for (; made < MILLION; made++) {
        if (mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &names[made]) != KERN_SUCCESS)
            break;
    }
    UT_CK(made == MILLION);
    UT_CK(tc_name_count() == MILLION + START_NAMES);
    for (unsigned i = 0; i < made; i++)
        UT_CK(mach_port_deallocate(TASK, names[i]) == KERN_SUCCESS);
    UT_CK(tc_name_count() == START_NAMES);
    free(names);
}

MT_TEST(default_table_holds_a_million_names)
{
    /* No limit in the environment: the child gets the default table. */
    MT_EQ(ut_in_child(NULL, NULL, child_a_million_names, 0), 0);
}

/* Receive rights until 64 are made or the table says no; all released after. */
static void child_sixty_four_receive_rights(void)
{
    mach_port_name_t n[64];
    unsigned got = 0;
    while (got < 64 && mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &n[got]) == KERN_SUCCESS)
        got++;
    for (unsigned j = 0; j < got; j++)
        mach_port_mod_refs(TASK, n[j], MACH_PORT_RIGHT_RECEIVE, -1);
    UT_CK(got == 64);
}

MT_TEST(a_limit_below_two_or_malformed_is_ignored)
{
    /* "1" and "12abc" fall back to the default, so a small fill does not run out. */
    static const char *bad[] = {"1", "12abc", ""};
    for (unsigned i = 0; i < 3; i++)
        MT_EQ(ut_in_child("UMACH_PORT_TABLE_MAX", bad[i], child_sixty_four_receive_rights, 0), 0);
}

static void child_no_index_of_the_largest_table_forms_mach_port_dead(void)
{
    /*
     * Index 0xFFFFFF would name MACH_PORT_DEAD in its generation 0xFF, so the largest table
     * stops below it, as XNU's never reaches it: that index is beyond the table.
     */
    UT_CK(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, 0xFFFFFF03) == KERN_NO_SPACE);
    UT_CK(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, 0xFFFFFFFB) == KERN_NO_SPACE);
    UT_CK(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_DEAD) ==
          KERN_INVALID_VALUE);
    mach_port_name_t p = MACH_PORT_NULL;
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) == KERN_SUCCESS);
    UT_CK(mach_port_insert_right(TASK, 0xFFFFFF03, p, MACH_MSG_TYPE_MAKE_SEND) == KERN_NO_SPACE);
    UT_CK(mach_port_insert_right(TASK, MACH_PORT_DEAD, p, MACH_MSG_TYPE_MAKE_SEND) ==
          KERN_INVALID_VALUE);
    UT_CK(tc_name_count() == START_NAMES + 1);
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
}

MT_TEST(the_largest_limit_stops_the_table_below_mach_port_deads_index)
{
    static const char *top[] = {"16777215", "0xFFFFFFFF"};
    for (unsigned i = 0; i < 2; i++)
        MT_EQ(ut_in_child("UMACH_PORT_TABLE_MAX", top[i],
                          child_no_index_of_the_largest_table_forms_mach_port_dead, 0),
              0);
}

MT_MAIN()
