/*
 * mk_timer.c — Mach timers: a timer is a receive right; armed for a deadline in
 * mach_absolute_time units it receives one mk_timer_expire_msg_t, which can be taken from a
 * port set that also holds ordinary ports. Cancel reports the deadline it disarmed, a fired
 * timer whose message is still queued does not queue a second one, destroy removes the
 * receive right, and calls on names that are not timers get XNU's codes.
 */
#include "notify_util.h"

#include <mach/mach_time.h>
#include <mach/mk_timer.h>

/* 10 ms in mach_absolute_time units. */
static uint64_t ms_ticks(uint64_t ms)
{
    mach_timebase_info_data_t tb;
    (void)mach_timebase_info(&tb);
    return ms * 1000000u * tb.denom / tb.numer;
}

typedef union timer_buf {
    mach_msg_header_t h;
    mk_timer_expire_msg_t expire;
    uint8_t bytes[256];
} timer_buf;

static mach_msg_return_t take(mach_port_t port, timer_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0, sizeof *b);
    return mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

MT_TEST(a_timer_is_a_receive_right_that_destroy_removes)
{
    NU_BEGIN();
    mach_port_t t = mk_timer_create();
    MT_CHECK(MACH_PORT_VALID(t));
    MT_EQ(nu_type(t), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
    mach_port_type_t type;
    MT_KR(mach_port_type(TASK, t, &type), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(an_armed_timer_receives_one_expire_message_after_its_deadline)
{
    NU_BEGIN();
    mach_port_t t = mk_timer_create();
    uint64_t start = mach_absolute_time();
    MT_KR(mk_timer_arm(t, start + ms_ticks(20)), KERN_SUCCESS);
    timer_buf b;
    MT_KR(take(t, &b, 30000), MACH_MSG_SUCCESS);
    MT_CHECK(mach_absolute_time() >= start + ms_ticks(20));
    MT_EQ(b.h.msgh_size, sizeof(mk_timer_expire_msg_t));
    MT_EQ(b.h.msgh_local_port, t);
    MT_EQ(b.h.msgh_remote_port, MACH_PORT_NULL);
    MT_EQ(b.h.msgh_id, 0);
    MT_KR(take(t, &b, 50), MACH_RCV_TIMED_OUT);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_timer_fires_into_a_port_set_next_to_an_ordinary_port)
{
    NU_BEGIN();
    mach_port_t t = mk_timer_create(), other = nu_port(), set = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, other, set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, t, set), KERN_SUCCESS);
    MT_KR(mk_timer_arm(t, mach_absolute_time() + ms_ticks(10)), KERN_SUCCESS);
    timer_buf b;
    MT_KR(take(set, &b, 30000), MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_local_port, t);
    MT_EQ(b.h.msgh_size, sizeof(mk_timer_expire_msg_t));
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
    nu_kill(other);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_deadline_in_the_past_fires_at_once)
{
    mach_port_t t = mk_timer_create();
    MT_KR(mk_timer_arm(t, 0), KERN_SUCCESS);
    timer_buf b;
    MT_KR(take(t, &b, 30000), MACH_MSG_SUCCESS);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
}

MT_TEST(cancel_disarms_and_reports_the_armed_deadline)
{
    mach_port_t t = mk_timer_create();
    uint64_t deadline = mach_absolute_time() + ms_ticks(60000), armed = 1;
    MT_KR(mk_timer_arm(t, deadline), KERN_SUCCESS);
    MT_KR(mk_timer_cancel(t, &armed), KERN_SUCCESS);
    MT_EQ(armed, deadline);
    MT_KR(mk_timer_cancel(t, &armed), KERN_SUCCESS);
    MT_EQ(armed, 0);
    MT_KR(mk_timer_cancel(t, NULL), KERN_SUCCESS);
    timer_buf b;
    MT_KR(take(t, &b, 30), MACH_RCV_TIMED_OUT);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
}

MT_TEST(rearming_moves_the_deadline)
{
    mach_port_t t = mk_timer_create();
    MT_KR(mk_timer_arm(t, mach_absolute_time() + ms_ticks(60000)), KERN_SUCCESS);
    MT_KR(mk_timer_arm_leeway(t, MK_TIMER_NORMAL, mach_absolute_time() + ms_ticks(10), 0),
          KERN_SUCCESS);
    timer_buf b;
    MT_KR(take(t, &b, 30000), MACH_MSG_SUCCESS);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
}

MT_TEST(a_timer_whose_message_is_still_queued_does_not_queue_another)
{
    mach_port_t t = mk_timer_create();
    MT_KR(mk_timer_arm(t, 0), KERN_SUCCESS);
    mach_port_status_t st;
    for (int i = 0; i < 3000 && (st = nu_status(t)).mps_msgcount == 0; i++)
        (void)mach_wait_until(mach_absolute_time() + ms_ticks(10));
    MT_EQ(nu_status(t).mps_msgcount, 1);
    MT_KR(mk_timer_arm(t, 0), KERN_SUCCESS);
    /* The second expiry finds the first message queued; give it time to happen. */
    (void)mach_wait_until(mach_absolute_time() + ms_ticks(100));
    MT_EQ(nu_status(t).mps_msgcount, 1);
    uint64_t armed = 1;
    MT_KR(mk_timer_cancel(t, &armed), KERN_SUCCESS);
    MT_EQ(armed, 0);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
}

MT_TEST(destroying_an_armed_timer_sends_nothing)
{
    NU_BEGIN();
    mach_port_t t = mk_timer_create();
    MT_KR(mk_timer_arm(t, mach_absolute_time() + ms_ticks(20)), KERN_SUCCESS);
    MT_KR(mk_timer_destroy(t), KERN_SUCCESS);
    (void)mach_wait_until(mach_absolute_time() + ms_ticks(40));
    NU_END();
}

MT_TEST(calls_on_names_that_are_not_timers_fail_as_on_xnu)
{
    mach_port_t plain = nu_port_with_send();
    uint64_t armed;
    MT_KR(mk_timer_arm(plain, 0), KERN_INVALID_ARGUMENT);
    MT_KR(mk_timer_cancel(plain, &armed), KERN_INVALID_ARGUMENT);
    MT_KR(mk_timer_destroy(plain), KERN_INVALID_ARGUMENT);
    MT_KR(mk_timer_arm(0x12345603, 0), KERN_INVALID_NAME);
    MT_KR(mk_timer_destroy(0x12345603), KERN_INVALID_NAME);
    mach_port_t send_only = mach_host_self();
    MT_KR(mk_timer_arm(send_only, 0), KERN_INVALID_RIGHT);
    MT_KR(mk_timer_destroy(send_only), KERN_INVALID_RIGHT);
    MT_KR(mach_port_deallocate(TASK, send_only), KERN_SUCCESS);
    nu_kill(plain);
}

MT_MAIN()
