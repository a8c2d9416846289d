/*
 * typecheck.c — must NOT compile: a right of one kind passed where another belongs.
 * Built once per MPT_CASE_* by the test suite, which expects each build to fail.
 */
#include <machports/machports.h>

void mpt_typecheck(void);

void mpt_typecheck(void)
{
    mp_recv_right r = MP_RECV_RIGHT_NULL;
    mp_send_right s = MP_SEND_RIGHT_NULL;
    mp_send_once_right so = MP_SEND_ONCE_RIGHT_NULL;
    (void)r;
    (void)s;
    (void)so;
#if defined(MPT_CASE_send_as_recv)
    (void)mp_send_right_make(s, &s); /* a send right is not a receive right */
#elif defined(MPT_CASE_recv_as_send)
    (void)mp_send_right_drop(&r); /* a receive right is not a send right */
#elif defined(MPT_CASE_send_once_as_send)
    mp_send_right c;
    (void)mp_send_right_copy(so, &c); /* a send-once right cannot be cloned */
#endif
}
