/*
 * Long chains of ports, each receive right queued in a message on the port before it:
 * destroying the first destroys them all, whatever the depth, on any thread's stack; and
 * port cycles made through a port-destroyed notification are destroyed, not leaked.
 */
#include "notify_util.h"

#include <pthread.h>

/* valgrind is ~50x slower: the deep chains keep their full depth everywhere else. */
static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

#define DEEP_MAIN 100000u
#define DEEP_THREAD 3000u
#define SMALL_STACK (256u * 1024)

static unsigned chain_depth(unsigned full)
{
    return under_valgrind() ? full / 20 : full;
}

/* Move the receive right `name` in a message to `dest`, named by a send right. */
static mach_msg_return_t send_receive_right(mach_port_name_t dest, mach_port_name_t name)
{
    nu_carry_msg m;
    nu_carry_fill(&m, dest, MACH_MSG_TYPE_COPY_SEND, name, MACH_MSG_TYPE_MOVE_RECEIVE);
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* How the first port of a chain is destroyed. */
enum how {
    BY_MOD_REFS,   /* mach_port_mod_refs(RECEIVE, -1) */
    BY_DESTROY,    /* mach_port_destroy */
    BY_DESTRUCT,   /* mach_port_destruct with its guard */
    BY_CIRCULAR,   /* sending the first receive right to the last port of its own chain */
    BY_QUEUED,     /* the chain itself sits in a message queued on a port that is destroyed */
};

/*
 * Build P0 <- P1 <- ... <- Pn (Pi's receive right queued on P(i-1)), destroy P0 `how`, and
 * check that every port died: each one's send right, kept under its own name, is a dead name
 * afterwards. Returns the number of failed checks (0 = all died).
 */
static int chain_dies(unsigned n, enum how how)
{
    int bad = 0;
    mach_port_name_t *names = calloc(n + 1, sizeof *names);
    if (!names)
        return 1;
    mach_port_name_t outer = MACH_PORT_NULL;
    if (how == BY_QUEUED && (outer = nu_port()) == MACH_PORT_NULL)
        bad++;
    for (unsigned i = 0; i <= n && !bad; i++) {
        if (i == 0 && how == BY_DESTRUCT) {
            mach_port_options_t o = {.flags = MPO_CONTEXT_AS_GUARD};
            if (mach_port_construct(TASK, &o, 0x6a6a, &names[0]) != KERN_SUCCESS)
                bad++;
            if (mach_port_insert_right(TASK, names[0], names[0], MACH_MSG_TYPE_MAKE_SEND))
                bad++;
            continue;
        }
        names[i] = nu_port_with_send();
        if (!names[i])
            bad++;
    }
    /* From the far end: Pn goes into P(n-1)'s queue, then P(n-1) (carrying it) into P(n-2)... */
    for (unsigned i = n; i >= 1 && !bad; i--)
        if (nu_carry(names[i - 1], names[i], MACH_MSG_TYPE_MOVE_RECEIVE) != MACH_MSG_SUCCESS)
            bad++;
    if (!bad) {
        /* While P0 lives, every other port is alive and in transit. */
        for (unsigned i = 1; i <= n; i++)
            if (nu_type(names[i]) != MACH_PORT_TYPE_SEND)
                bad++;
    }
    if (bad) {
        free(names);
        return bad;
    }
    switch (how) {
    case BY_MOD_REFS:
        bad += mach_port_mod_refs(TASK, names[0], MACH_PORT_RIGHT_RECEIVE, -1) != KERN_SUCCESS;
        break;
    case BY_DESTROY:
        bad += mach_port_destroy(TASK, names[0]) != KERN_SUCCESS;
        names[0] = MACH_PORT_NULL;
        break;
    case BY_DESTRUCT:
        bad += mach_port_destruct(TASK, names[0], 0, 0x6a6a) != KERN_SUCCESS;
        break;
    case BY_CIRCULAR:
        /* Pn is inside the chain that P0 heads: the message would hold P0 forever. */
        bad += send_receive_right(names[n], names[0]) != MACH_MSG_SUCCESS;
        break;
    case BY_QUEUED:
        bad += nu_carry(outer, names[0], MACH_MSG_TYPE_MOVE_RECEIVE) != MACH_MSG_SUCCESS;
        bad += mach_port_mod_refs(TASK, outer, MACH_PORT_RIGHT_RECEIVE, -1) != KERN_SUCCESS;
        break;
    }
    /* Every port died: the send rights are dead names now (one uref each). */
    for (unsigned i = 0; i <= n; i++) {
        if (names[i] == MACH_PORT_NULL)
            continue;
        if (nu_type(names[i]) != MACH_PORT_TYPE_DEAD_NAME) {
            if (bad++ < 4)
                fprintf(stderr, "  port %u of %u (0x%x) is 0x%x, not a dead name\n", i, n,
                        names[i], nu_type(names[i]));
        }
        (void)mach_port_deallocate(TASK, names[i]);
    }
    free(names);
    return bad;
}

/*
 * A 100,000-port chain is about 500,000 calls (allocate, make a send right, send, look at,
 * release each port): 13 s each in a world under AddressSanitizer at load 7, so the default
 * limit there (40 s) is only three times that on a shared machine. These two get 60 s.
 */
#define DEEP_LIMIT_S 60

MT_TEST_TIMEOUT(destroying_the_head_of_a_100000_port_chain_destroys_every_port_on_the_main_thread,
                DEEP_LIMIT_S)
{
    NU_BEGIN();
    MT_EQ(chain_dies(chain_depth(DEEP_MAIN), BY_MOD_REFS), 0);
    NU_END();
}

MT_TEST_TIMEOUT(a_100000_port_chain_queued_on_a_destroyed_port_dies_with_it, DEEP_LIMIT_S)
{
    NU_BEGIN();
    MT_EQ(chain_dies(chain_depth(DEEP_MAIN), BY_QUEUED), 0);
    NU_END();
}

typedef struct chain_job {
    enum how how;
    unsigned n;
    int bad;
} chain_job;

static void *chain_thread(void *arg)
{
    chain_job *j = arg;
    j->bad = chain_dies(j->n, j->how);
    return NULL;
}

/* Run chain_dies on a thread whose whole stack is 256 KiB. */
static int chain_dies_on_small_stack(enum how how)
{
    chain_job j = {how, chain_depth(DEEP_THREAD), -1};
    pthread_attr_t a;
    pthread_t t;
    if (pthread_attr_init(&a) != 0 || pthread_attr_setstacksize(&a, SMALL_STACK) != 0)
        return -1;
    if (pthread_create(&t, &a, chain_thread, &j) != 0)
        return -1;
    pthread_attr_destroy(&a);
    pthread_join(t, NULL);
    return j.bad;
}

MT_TEST(mod_refs_destroys_a_3000_port_chain_on_a_256k_stack)
{
    NU_BEGIN();
    MT_EQ(chain_dies_on_small_stack(BY_MOD_REFS), 0);
    NU_END();
}

MT_TEST(mach_port_destroy_destroys_a_3000_port_chain_on_a_256k_stack)
{
    NU_BEGIN();
    MT_EQ(chain_dies_on_small_stack(BY_DESTROY), 0);
    NU_END();
}

MT_TEST(mach_port_destruct_destroys_a_3000_port_chain_on_a_256k_stack)
{
    NU_BEGIN();
    MT_EQ(chain_dies_on_small_stack(BY_DESTRUCT), 0);
    NU_END();
}

MT_TEST(a_circular_message_destroys_a_3000_port_chain_on_a_256k_stack)
{
    NU_BEGIN();
    MT_EQ(chain_dies_on_small_stack(BY_CIRCULAR), 0);
    NU_END();
}

MT_TEST(destroying_a_port_queuing_a_3000_port_chain_on_a_256k_stack_destroys_the_chain)
{
    NU_BEGIN();
    MT_EQ(chain_dies_on_small_stack(BY_QUEUED), 0);
    NU_END();
}

/* ---- cycles through a port-destroyed notification ------------------------------------------ */

/*
 * P has a port-destroyed request whose notify port is N, and N's receive right is queued on
 * P. Destroying P would put P's receive right into N's queue while N travels inside P's
 * queue: a loop nobody can reach. The kernel checks the notification for circularity like
 * any message and destroys it, so P dies and N with it.
 */
static int cycle_through_port_destroyed(void)
{
    int bad = 0;
    mach_port_name_t p = nu_port_with_send(), n = nu_port_with_send(), prev = 9;
    if (!p || !n)
        return 1;
    bad += mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, n,
                                          MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev) != KERN_SUCCESS;
    bad += prev != MACH_PORT_NULL;
    bad += nu_carry(p, n, MACH_MSG_TYPE_MOVE_RECEIVE) != MACH_MSG_SUCCESS;
    bad += nu_type(n) != MACH_PORT_TYPE_SEND;
    bad += mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) != KERN_SUCCESS;
    /* Both ports died: nothing is left holding either of them. */
    bad += nu_type(p) != MACH_PORT_TYPE_DEAD_NAME;
    bad += nu_type(n) != MACH_PORT_TYPE_DEAD_NAME;
    bad += mach_port_deallocate(TASK, p) != KERN_SUCCESS;
    bad += mach_port_deallocate(TASK, n) != KERN_SUCCESS;
    return bad;
}

MT_TEST(a_port_destroyed_notification_that_would_make_a_cycle_destroys_both_ports)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), n = nu_port(), prev = 9;
    MT_REQUIRE(p && n);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    /* Send rights to watch both ports die. */
    mach_port_name_t sp = MACH_PORT_NULL, sn = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    MT_KR(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND, &sp, &t), KERN_SUCCESS);
    MT_KR(mach_port_extract_right(TASK, n, MACH_MSG_TYPE_MAKE_SEND, &sn, &t), KERN_SUCCESS);
    MT_KR(nu_carry(p, n, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(sp), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_type(sn), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, sp), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, sn), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_cycle_through_a_port_destroyed_notification_leaks_nothing_over_many_rounds)
{
    NU_BEGIN();
    unsigned rounds = under_valgrind() ? 200 : 5000;
    int bad = 0;
    for (unsigned i = 0; i < rounds && bad == 0; i++)
        bad = cycle_through_port_destroyed();
    MT_EQ(bad, 0);
    NU_END();
}

MT_TEST(a_port_destroyed_notification_through_a_longer_loop_destroys_every_port_in_it)
{
    /* N is not queued on P itself but two hops away: P <- Q <- N. */
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), q = nu_port_with_send(), n = nu_port_with_send();
    mach_port_name_t prev = 9;
    MT_REQUIRE(p && q && n);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(nu_carry(q, n, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(nu_carry(p, q, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_type(q), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_type(n), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, q), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, n), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_port_destroyed_notification_without_a_loop_still_delivers_the_receive_right)
{
    /* The loop check must not catch the ordinary case: N is in transit, but not inside P. */
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), n = nu_port(), holder = nu_port(), prev = 9;
    MT_REQUIRE(p && n && holder);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(nu_carry(holder, n, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND); /* P lives, in N's queue */
    n = nu_uncarry(holder);
    MT_REQUIRE(n != MACH_PORT_NULL);
    nu_msg m;
    MT_KR(nu_recv(n, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_PORT_DESTROYED);
    MT_EQ(m.port_destroyed.not_port.name, p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    nu_kill(p);
    MT_KR(mach_port_mod_refs(TASK, n, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, holder, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
