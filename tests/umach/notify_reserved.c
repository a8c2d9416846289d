/*
 * notify_reserved.c — a registered notification is delivered even when memory has run out by
 * the time it fires (Linux only). The kernel reserves what each notification needs when the
 * request is registered (docs/umach-internals.md, "Notifications").
 *
 * The test caps the address space (RLIMIT_AS) at what is mapped, fills what the heap has left
 * until malloc fails, and only then makes four registered notifications fire. Under a
 * sanitizer or valgrind, whose allocators do not run out this way, the same notifications fire
 * with memory available: that still checks that every reserve is used or freed exactly once.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/mach.h>
#include <mach/notify.h>

#define TASK mach_task_self()

/* ---- the test ------------------------------------------------------------------------------ */

static mach_port_name_t new_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* A `disposition` right to `port` (MAKE_SEND coalesces on the port's name, MAKE_SEND_ONCE not). */
static mach_port_name_t make_right(mach_port_name_t port, mach_msg_type_name_t disposition)
{
    mach_port_name_t s = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    if (mach_port_extract_right(TASK, port, disposition, &s, &t) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return s;
}

static kern_return_t request(mach_port_name_t name, mach_msg_id_t id, mach_port_name_t notify)
{
    mach_port_name_t prev = 1;
    kern_return_t kr = mach_port_request_notification(TASK, name, id, 0, notify,
                                                      MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
    return kr == KERN_SUCCESS && prev != MACH_PORT_NULL ? KERN_FAILURE : kr;
}

MT_TEST(registered_notifications_are_delivered_when_memory_has_run_out)
{
    mach_msg_type_number_t names_before = tc_name_count();
    mach_port_name_t notify = new_port();
    mach_port_name_t dying = new_port(), unsent = new_port(), handed = new_port();
    mach_port_name_t watched = new_port();
    MT_REQUIRE(notify && dying && unsent && handed && watched);
    /* dying: send + receive under one name; watched_so: a send-once right, a name of its own */
    mach_port_name_t dying_send = make_right(dying, MACH_MSG_TYPE_MAKE_SEND);
    mach_port_name_t watched_so = make_right(watched, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_REQUIRE(dying_send == dying && watched_so);
    MT_KR(mach_port_insert_right(TASK, unsent, unsent, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(request(dying_send, MACH_NOTIFY_DEAD_NAME, notify), KERN_SUCCESS);
    MT_KR(request(unsent, MACH_NOTIFY_NO_SENDERS, notify), KERN_SUCCESS);
    MT_KR(request(handed, MACH_NOTIFY_PORT_DESTROYED, notify), KERN_SUCCESS);
    MT_KR(request(watched_so, MACH_NOTIFY_DEAD_NAME, notify), KERN_SUCCESS);

    int starved = !UT_SANITIZED && !ut_under_valgrind();
    if (starved)
        MT_REQUIRE(ut_exhaust_memory() == 0); /* else nothing would be tested */
    /* Dead-name, no-senders, port-destroyed and port-deleted, all with no memory to spare. */
    kern_return_t k1 = mach_port_mod_refs(TASK, dying, MACH_PORT_RIGHT_RECEIVE, -1);
    kern_return_t k2 = mach_port_deallocate(TASK, unsent);
    kern_return_t k3 = mach_port_mod_refs(TASK, handed, MACH_PORT_RIGHT_RECEIVE, -1);
    kern_return_t k4 = mach_port_deallocate(TASK, watched_so);
    if (starved)
        ut_restore_memory();
    MT_KR(k1, KERN_SUCCESS);
    MT_KR(k2, KERN_SUCCESS);
    MT_KR(k3, KERN_SUCCESS);
    MT_KR(k4, KERN_SUCCESS);

    int seen_dead = 0, seen_ns = 0, seen_pd = 0, seen_deleted = 0;
    for (int i = 0; i < 4; i++) {
        union {
            mach_msg_header_t h;
            mach_dead_name_notification_t dn;
            mach_port_deleted_notification_t pdel;
            mach_port_destroyed_notification_t pd;
            uint8_t bytes[256];
        } m;
        memset(&m, 0, sizeof m);
        MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, notify, 1000,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        switch (m.h.msgh_id) {
        case MACH_NOTIFY_DEAD_NAME:
            seen_dead++;
            MT_EQ(m.dn.not_port, dying_send);
            break;
        case MACH_NOTIFY_NO_SENDERS:
            seen_ns++;
            break;
        case MACH_NOTIFY_PORT_DESTROYED:
            seen_pd++;
            /* the receive right comes back (its old name went when it was destroyed) */
            MT_EQ(m.pd.not_port.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
            MT_KR(mach_port_mod_refs(TASK, m.pd.not_port.name, MACH_PORT_RIGHT_RECEIVE, -1),
                  KERN_SUCCESS);
            break;
        case MACH_NOTIFY_PORT_DELETED:
            seen_deleted++;
            MT_EQ(m.pdel.not_port, watched_so);
            break;
        default:
            MT_EQ(m.h.msgh_id, 0); /* an unexpected message */
            break;
        }
    }
    MT_EQ(seen_dead, 1);
    MT_EQ(seen_ns, 1);
    MT_EQ(seen_pd, 1);
    MT_EQ(seen_deleted, 1);

    /* The dead name carries one more uref for the notification that named it. */
    MT_KR(mach_port_mod_refs(TASK, dying_send, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, unsent, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    /* the send-once right went unused: its port may hold the send-once notification */
    MT_KR(mach_port_mod_refs(TASK, watched, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(tc_name_count(), names_before); /* the space is back to its first state */
}

/* Send a message to `dest` (a send right) with `reply` as a MAKE_SEND_ONCE reply right and, in
 * a port descriptor, one more MAKE_SEND_ONCE right to `reply`. */
static mach_msg_return_t send_with_send_once_rights(mach_port_name_t dest, mach_port_name_t reply)
{
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t port;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_COMPLEX |
                    MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.body.msgh_descriptor_count = 1;
    m.port.name = reply;
    m.port.disposition = MACH_MSG_TYPE_MAKE_SEND_ONCE;
    m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/*
 * An unregistered send-once right destroyed unused (its name deallocated; a queued message
 * carrying it as the reply right or in a descriptor destroyed with its port) sends its
 * MACH_NOTIFY_SEND_ONCE with no memory to spare: the message was reserved when the right was
 * made, as XNU's notification cannot be lost.
 */
MT_TEST(unused_send_once_rights_send_their_notifications_when_memory_has_run_out)
{
    mach_msg_type_number_t names_before = tc_name_count();
    mach_port_name_t target = new_port(), queue = new_port();
    MT_REQUIRE(target && queue);
    mach_port_name_t so = make_right(target, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_REQUIRE(so);
    MT_KR(mach_port_insert_right(TASK, queue, queue, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(send_with_send_once_rights(queue, target), MACH_MSG_SUCCESS);

    int starved = !UT_SANITIZED && !ut_under_valgrind();
    if (starved)
        MT_REQUIRE(ut_exhaust_memory() == 0); /* else nothing would be tested */
    kern_return_t k1 = mach_port_deallocate(TASK, so);
    kern_return_t k2 = mach_port_mod_refs(TASK, queue, MACH_PORT_RIGHT_RECEIVE, -1);
    if (starved)
        ut_restore_memory();
    MT_KR(k1, KERN_SUCCESS);
    MT_KR(k2, KERN_SUCCESS);

    int seen = 0;
    for (;;) {
        union {
            mach_msg_header_t h;
            uint8_t bytes[256];
        } m;
        memset(&m, 0, sizeof m);
        if (mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, target, 0,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            break;
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        seen++;
    }
    MT_EQ(seen, 3); /* the name's, the reply right's, the descriptor's */
    MT_KR(mach_port_deallocate(TASK, queue), KERN_SUCCESS); /* the dead name left by the send right */
    MT_KR(mach_port_mod_refs(TASK, target, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(tc_name_count(), names_before);
}

MT_TEST(replacing_or_cancelling_requests_releases_their_reserves)
{
    mach_msg_type_number_t names_before = tc_name_count();
    /* Leak checkers (LSan, valgrind) see a reserve that a handed-back right kept. */
    mach_port_name_t port = new_port(), notify = new_port();
    MT_REQUIRE(port && notify);
    mach_port_name_t send = make_right(port, MACH_MSG_TYPE_MAKE_SEND);
    MT_REQUIRE(send);
    for (int i = 0; i < 3; i++) {
        mach_port_name_t prev = MACH_PORT_NULL;
        MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 5, notify,
                                             MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
              KERN_SUCCESS);
        if (prev != MACH_PORT_NULL)
            MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
        prev = MACH_PORT_NULL;
        MT_KR(mach_port_request_notification(TASK, send, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                             MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
              KERN_SUCCESS);
        if (prev != MACH_PORT_NULL)
            MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    }
    /* Cancel both: the rights come back, the reserves go. */
    mach_port_name_t prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_CHECK(prev != MACH_PORT_NULL);
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, send, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_CHECK(prev != MACH_PORT_NULL);
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    /* Every handed-back right was destroyed unused: one send-once notification each (2 + 2 replaced, 2 cancelled). */
    for (int i = 0; i < 6; i++) {
        union {
            mach_msg_header_t h;
            uint8_t bytes[256];
        } m;
        MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, notify, 1000,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    }
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(tc_name_count(), names_before);
}

/* A header-only message to `dest` with these dispositions for it and for `reply`. */
static mach_msg_return_t send_header(mach_port_name_t dest, mach_msg_type_name_t dest_type,
                                     mach_port_name_t reply, mach_msg_type_name_t reply_type)
{
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(dest_type, reply_type),
        .msgh_size = sizeof h,
        .msgh_remote_port = dest,
        .msgh_local_port = reply,
        .msgh_id = 77,
    };
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static mach_msg_return_t receive_header(mach_port_name_t port, mach_msg_header_t *out)
{
    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } m;
    memset(&m, 0, sizeof m);
    mach_msg_return_t mr = mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, 0,
                                    MACH_PORT_NULL);
    *out = m.h;
    return mr;
}

static mach_port_status_t port_status(mach_port_name_t port)
{
    mach_port_status_t st;
    memset(&st, 0xff, sizeof st);
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    (void)mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &cnt);
    return st;
}

/*
 * A message that makes a send-once right (its reply right, or its destination) must reserve
 * that right's notification; with no memory for it the send fails with MACH_SEND_NO_BUFFER and
 * takes nothing: no send-once right made, nothing queued, the destination's send right kept.
 * Freed messages are recycled, so the message itself needs no memory when one freed just before
 * waits for it: every recycled message is taken first (ten thousand queued), then exactly one
 * is sent and received, and only then does memory run out.
 */
MT_TEST(making_a_send_once_right_with_no_memory_for_its_notification_is_no_buffer)
{
    mach_msg_type_number_t names_before = tc_name_count();
    mach_port_name_t dest = new_port(), reply = new_port();
    MT_REQUIRE(dest && reply);
    MT_KR(mach_port_insert_right(TASK, dest, dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    /* reply has made (and lost) a send-once right before: only the reserve needs memory now */
    mach_msg_header_t got;
    MT_KR(mach_port_deallocate(TASK, make_right(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE)),
          KERN_SUCCESS);
    MT_KR(receive_header(reply, &got), MACH_MSG_SUCCESS);
    MT_EQ(got.msgh_id, MACH_NOTIFY_SEND_ONCE);

    enum { SINKS = 10, PER_SINK = 1024 };
    mach_port_name_t sinks[SINKS];
    for (int i = 0; i < SINKS; i++) {
        sinks[i] = new_port();
        MT_REQUIRE(sinks[i]);
        mach_port_limits_t lim = {.mpl_qlimit = PER_SINK};
        MT_KR(mach_port_set_attributes(TASK, sinks[i], MACH_PORT_LIMITS_INFO,
                                       (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
              KERN_SUCCESS);
        for (int j = 0; j < PER_SINK; j++)
            MT_KR(send_header(sinks[i], MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0),
                  MACH_MSG_SUCCESS);
    }
    MT_KR(send_header(dest, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0), MACH_MSG_SUCCESS);
    MT_KR(receive_header(dest, &got), MACH_MSG_SUCCESS);

    int starved = !UT_SANITIZED && !ut_under_valgrind();
    if (starved) {
        MT_REQUIRE(ut_exhaust_memory() == 0); /* else nothing would be tested */
        mach_msg_return_t as_reply = send_header(dest, MACH_MSG_TYPE_COPY_SEND, reply,
                                                 MACH_MSG_TYPE_MAKE_SEND_ONCE);
        mach_msg_return_t as_dest = send_header(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                                MACH_PORT_NULL, 0);
        ut_restore_memory();
        MT_EQ(as_reply, MACH_SEND_NO_BUFFER);
        MT_EQ(as_dest, MACH_SEND_NO_BUFFER);
        mach_port_status_t st = port_status(reply);
        MT_EQ(st.mps_sorights, 0);
        MT_EQ(st.mps_msgcount, 0);
        MT_EQ(port_status(dest).mps_msgcount, 0);
        mach_port_urefs_t refs = 0;
        MT_KR(mach_port_get_refs(TASK, dest, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
        MT_EQ(refs, 1);
        MT_EQ(tc_name_count(), names_before + 2 + SINKS);
    }
    for (int i = 0; i < SINKS; i++)
        MT_KR(mach_port_mod_refs(TASK, sinks[i], MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);

    /* With memory, both sends go, and each send-once right is there to be used. */
    MT_KR(send_header(dest, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE),
          MACH_MSG_SUCCESS);
    MT_KR(send_header(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_PORT_NULL, 0), MACH_MSG_SUCCESS);
    MT_EQ(port_status(reply).mps_sorights, 2); /* one in each message */
    MT_KR(receive_header(dest, &got), MACH_MSG_SUCCESS);
    MT_EQ(MACH_MSGH_BITS_REMOTE(got.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE); /* the reply */
    MT_KR(send_header(got.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0),
          MACH_MSG_SUCCESS);
    MT_KR(receive_header(reply, &got), MACH_MSG_SUCCESS);
    MT_EQ(got.msgh_id, 77);
    MT_KR(receive_header(reply, &got), MACH_MSG_SUCCESS);
    MT_EQ(got.msgh_id, 77);
    MT_EQ(port_status(reply).mps_sorights, 0);
    MT_KR(mach_port_deallocate(TASK, dest), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dest, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(tc_name_count(), names_before);
}

MT_MAIN()
