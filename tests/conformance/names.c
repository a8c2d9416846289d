/* mach_port_names: every name of the space with its type, in out-of-line arrays. */
#include "notify_util.h"

#define NO_TYPE ((mach_port_type_t)-1)

/* The type mach_port_names reports for `name`, NO_TYPE if absent; *count = how often. */
static mach_port_type_t listed_type(const nu_space *s, mach_port_name_t name, int *count)
{
    mach_port_type_t t = NO_TYPE;
    *count = 0;
    for (mach_msg_type_number_t i = 0; i < s->n; i++)
        if (s->names[i] == name) {
            t = s->types[i];
            ++*count;
        }
    return t;
}

/* Names in `b` that are not in `a`. */
static unsigned count_added(const nu_space *a, const nu_space *b)
{
    unsigned n = 0;
    for (mach_msg_type_number_t i = 0; i < b->n; i++) {
        int c;
        if (listed_type(a, b->names[i], &c) == NO_TYPE)
            n++;
    }
    return n;
}

MT_TEST(names_returns_out_of_line_arrays_that_include_the_task_self_send_right)
{
    NU_BEGIN();
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    MT_KR(mach_port_names(TASK, &names, &nn, &types, &nt), KERN_SUCCESS);
    MT_REQUIRE(names != NULL && types != NULL);
    MT_EQ(nn, nt);
    MT_CHECK(nn >= 1);
    int self = 0;
    for (mach_msg_type_number_t i = 0; i < nn; i++) {
        MT_EQ(names[i] & 3, 3);
        MT_NE(names[i], MACH_PORT_NULL);
        MT_NE(names[i], MACH_PORT_DEAD);
        if (names[i] == TASK) {
            self++;
            MT_EQ(types[i], MACH_PORT_TYPE_SEND);
        }
        /* the listed type is what mach_port_type says (which hides send-possible bits) */
        MT_EQ(types[i] & ~(mach_port_type_t)(MACH_PORT_TYPE_SPREQUEST |
                                             MACH_PORT_TYPE_SPREQUEST_DELAYED),
              nu_type(names[i]));
    }
    MT_EQ(self, 1);
    MT_KR(vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types), KERN_SUCCESS);
    NU_END();
}

MT_TEST(names_lists_each_kind_of_right_once_with_its_exact_type)
{
    NU_BEGIN();
    mach_port_name_t rcv = nu_port(), sr = nu_port_with_send(), sonly = nu_port_with_send();
    mach_port_name_t carrier = nu_port(), notify = nu_port(), set, dead, prev;
    MT_REQUIRE(rcv && sr && sonly && carrier && notify);
    mach_port_name_t so = nu_send_once(rcv);
    MT_REQUIRE(so);
    MT_KR(nu_carry(carrier, sonly, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, sr, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    static nu_space s;
    nu_snapshot(&s);
    const mach_port_name_t n[] = {rcv, sr, sonly, so, set, dead, carrier, notify};
    const mach_port_type_t t[] = {MACH_PORT_TYPE_RECEIVE,
                                  MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST,
                                  MACH_PORT_TYPE_SEND,
                                  MACH_PORT_TYPE_SEND_ONCE,
                                  MACH_PORT_TYPE_PORT_SET,
                                  MACH_PORT_TYPE_DEAD_NAME,
                                  MACH_PORT_TYPE_RECEIVE,
                                  MACH_PORT_TYPE_RECEIVE};
    for (int i = 0; i < 8; i++) {
        int c;
        MT_EQ(listed_type(&s, n[i], &c), t[i]);
        MT_EQ(c, 1);
    }
    /* exactly these eight were added */
    MT_EQ(s.n, nu_before_.n + 8);
    MT_EQ(count_added(&nu_before_, &s), 8);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, rcv), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, sr), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, sonly), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, notify), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, dead), KERN_SUCCESS);
    NU_END();
}

MT_TEST(names_changes_by_exactly_the_names_allocated_and_deallocated)
{
    NU_BEGIN();
    mach_port_name_t a = nu_port(), b, c;
    MT_REQUIRE(a);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &b), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &c), KERN_SUCCESS);
    static nu_space s1, s2;
    nu_snapshot(&s1);
    MT_EQ(s1.n, nu_before_.n + 3);
    MT_EQ(count_added(&nu_before_, &s1), 3);
    /* names that were there before keep their types */
    for (mach_msg_type_number_t i = 0; i < nu_before_.n; i++) {
        int cnt;
        MT_EQ(listed_type(&s1, nu_before_.names[i], &cnt), nu_before_.types[i]);
    }
    MT_KR(mach_port_deallocate(TASK, c), KERN_SUCCESS);
    nu_snapshot(&s2);
    MT_EQ(s2.n, s1.n - 1);
    MT_EQ(count_added(&s1, &s2), 0);
    int cnt;
    MT_EQ(listed_type(&s2, c, &cnt), NO_TYPE);
    MT_EQ(listed_type(&s2, a, &cnt), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(listed_type(&s2, b, &cnt), MACH_PORT_TYPE_PORT_SET);
    /* gaining a send right changes the type of a name, not the number of names */
    MT_KR(mach_port_insert_right(TASK, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    nu_snapshot(&s2);
    MT_EQ(s2.n, s1.n - 1);
    MT_EQ(listed_type(&s2, a, &cnt), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_destroy(TASK, a), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, b), KERN_SUCCESS);
    NU_END();
}

MT_TEST(names_lists_hundreds_of_names_each_once)
{
    NU_BEGIN();
    enum { N = 700 };
    static mach_port_name_t made[N];
    for (int i = 0; i < N; i++)
        MT_KR(mach_port_allocate(TASK, i % 2 ? MACH_PORT_RIGHT_RECEIVE : MACH_PORT_RIGHT_DEAD_NAME,
                                 &made[i]),
              KERN_SUCCESS);
    static nu_space s;
    nu_snapshot(&s);
    MT_EQ(s.n, nu_before_.n + N);
    int missing = 0, wrong = 0;
    for (int i = 0; i < N; i++) {
        int c;
        mach_port_type_t t = listed_type(&s, made[i], &c);
        missing += c != 1;
        wrong += t != (i % 2 ? MACH_PORT_TYPE_RECEIVE : MACH_PORT_TYPE_DEAD_NAME);
    }
    MT_EQ(missing, 0);
    MT_EQ(wrong, 0);
    for (int i = 0; i < N; i++)
        MT_KR(mach_port_destroy(TASK, made[i]), KERN_SUCCESS);
    NU_END();
}

MT_TEST(names_shows_a_send_right_whose_port_died_elsewhere_as_a_dead_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    /* destroying the carrier destroys the queued receive right of p */
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    static nu_space s;
    nu_snapshot(&s);
    int c;
    MT_EQ(listed_type(&s, p, &c), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(c, 1);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    NU_END();
}

MT_TEST(names_in_a_null_or_dead_task_fails_with_invalid_dest)
{
    NU_BEGIN();
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 77, nt = 77;
    mach_port_name_t d;
    MT_KR(mach_port_names(MACH_PORT_NULL, &names, &nn, &types, &nt), MACH_SEND_INVALID_DEST);
    MT_EQ(nn, 77);
    MT_EQ(nt, 77);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_names(d, &names, &nn, &types, &nt), MACH_SEND_INVALID_DEST);
    MT_EQ(nn, 77);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
