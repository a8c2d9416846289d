/*
 * bootstrap_subsets.c — the bootstrap server with many subsets and many names (Linux only):
 * a chain of subsets, each one's requestor being the previous subset's port, dies whole when
 * the first requestor dies, whatever its length and on a small stack (port watches fire from
 * a per-thread list, not nested); 100,000 sibling subsets and 100,000 names in one registry
 * are made and destroyed in linear time (the watchdog is the bound, not a benchmark).
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include <pthread.h>
#include <stdbool.h>

#define TASK mach_task_self()

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* bootstrap_register */

/* valgrind is ~50x slower: everything keeps its full size everywhere else. */
static unsigned scaled(unsigned full)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL ? full / 50 : full;
}

#define DEEP_MAIN 100000u
#define DEEP_THREAD 3000u
#define SIBLINGS 100000u
#define NAMES 100000u
#define SMALL_STACK (256u * 1024)

static mach_port_name_t new_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_port_type_t type_of(mach_port_name_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return (mach_port_type_t)-1;
    return t;
}

/* Drop the one send right made by new_port, then the receive right. */
static bool kill_port(mach_port_name_t p)
{
    return mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1) == KERN_SUCCESS &&
           mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS;
}

/*
 * Make a chain of n subsets of the bootstrap port, subset i's requestor being subset i-1's
 * port (subset 0's: a port of ours), kill that first requestor, and check that every subset
 * died. Returns the number of failures (0: all well), without MT_ macros so that it can run
 * on a helper thread.
 */
static unsigned subset_chain_dies(unsigned n)
{
    unsigned bad = 0;
    mach_port_t *sub = calloc(n, sizeof *sub);
    mach_port_name_t first = new_port();
    if (!sub || !MACH_PORT_VALID(first)) {
        free(sub);
        return 1;
    }
    unsigned made = 0;
    for (; made < n; made++) {
        mach_port_t requestor = made ? sub[made - 1] : first;
        if (bootstrap_subset(bootstrap_port, requestor, &sub[made]) != BOOTSTRAP_SUCCESS) {
            bad++;
            break;
        }
    }
    if (!kill_port(first))
        bad++;
    for (unsigned i = 0; i < made; i++) {
        if (type_of(sub[i]) != MACH_PORT_TYPE_DEAD_NAME)
            bad++;
        if (mach_port_deallocate(TASK, sub[i]) != KERN_SUCCESS)
            bad++;
    }
    free(sub);
    return bad;
}

MT_TEST_TIMEOUT(killing_the_first_requestor_of_a_100000_subset_chain_kills_every_subset, 40)
{
    MT_EQ(subset_chain_dies(scaled(DEEP_MAIN)), 0u);
}

static void *chain_thread(void *arg)
{
    unsigned *bad = arg;
    *bad = subset_chain_dies(scaled(DEEP_THREAD));
    return NULL;
}

MT_TEST(killing_the_first_requestor_of_a_3000_subset_chain_on_a_256k_stack_kills_every_subset)
{
    unsigned bad = 1;
    pthread_attr_t a;
    pthread_t t;
    MT_REQUIRE(pthread_attr_init(&a) == 0);
    MT_REQUIRE(pthread_attr_setstacksize(&a, SMALL_STACK) == 0);
    MT_REQUIRE(pthread_create(&t, &a, chain_thread, &bad) == 0);
    pthread_attr_destroy(&a);
    pthread_join(t, NULL);
    MT_EQ(bad, 0u);
}

/* Each sibling has its own requestor; they die oldest first (the worst order for a list). */
MT_TEST(a_100000_sibling_subsets_are_made_and_destroyed_within_the_watchdog)
{
    unsigned n = scaled(SIBLINGS);
    mach_port_name_t *req = calloc(n, sizeof *req);
    mach_port_t *sub = calloc(n, sizeof *sub);
    MT_REQUIRE(req && sub);
    unsigned bad = 0;
    for (unsigned i = 0; i < n; i++) {
        req[i] = new_port();
        if (bootstrap_subset(bootstrap_port, req[i], &sub[i]) != BOOTSTRAP_SUCCESS)
            bad++;
    }
    MT_EQ(bad, 0u);
    for (unsigned i = 0; i < n; i++) {
        if (!kill_port(req[i]) || type_of(sub[i]) != MACH_PORT_TYPE_DEAD_NAME ||
            mach_port_deallocate(TASK, sub[i]) != KERN_SUCCESS)
            bad++;
    }
    MT_EQ(bad, 0u);
    free(req);
    free(sub);
}

/* Siblings sharing one requestor all die with it. */
MT_TEST(a_100000_sibling_subsets_of_one_requestor_die_with_it_within_the_watchdog)
{
    unsigned n = scaled(SIBLINGS);
    mach_port_t *sub = calloc(n, sizeof *sub);
    mach_port_name_t req = new_port();
    MT_REQUIRE(sub && MACH_PORT_VALID(req));
    unsigned bad = 0;
    for (unsigned i = 0; i < n; i++)
        if (bootstrap_subset(bootstrap_port, req, &sub[i]) != BOOTSTRAP_SUCCESS)
            bad++;
    MT_EQ(bad, 0u);
    MT_CHECK(kill_port(req));
    for (unsigned i = 0; i < n; i++)
        if (type_of(sub[i]) != MACH_PORT_TYPE_DEAD_NAME ||
            mach_port_deallocate(TASK, sub[i]) != KERN_SUCCESS)
            bad++;
    MT_EQ(bad, 0u);
    free(sub);
}

/*
 * 100,000 names bound to one port in one subset: registration and look-up do not scan the
 * names, and the port's death frees them all (each name's watch leaves the port's list at
 * once).
 */
MT_TEST(a_registry_of_100000_names_registers_looks_up_and_frees_them_within_the_watchdog)
{
    unsigned n = scaled(NAMES);
    mach_port_name_t req = new_port(), service = new_port();
    mach_port_t sub = MACH_PORT_NULL, found = MACH_PORT_NULL;
    MT_REQUIRE(MACH_PORT_VALID(req) && MACH_PORT_VALID(service));
    MT_KR(bootstrap_subset(bootstrap_port, req, &sub), BOOTSTRAP_SUCCESS);
    char name[64];
    unsigned bad = 0;
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "org.machports.test.many.%u", i);
        if (bootstrap_register(sub, name, service) != BOOTSTRAP_SUCCESS)
            bad++;
    }
    MT_EQ(bad, 0u);
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "org.machports.test.many.%u", i);
        if (bootstrap_look_up(sub, name, &found) != BOOTSTRAP_SUCCESS || found != service ||
            mach_port_deallocate(TASK, found) != KERN_SUCCESS)
            bad++;
    }
    MT_EQ(bad, 0u);
    MT_KR(bootstrap_register(sub, "org.machports.test.many.0", service), BOOTSTRAP_NAME_IN_USE);
    MT_CHECK(kill_port(service));
    for (unsigned i = 0; i < n; i += n / 100 ? n / 100 : 1) {
        snprintf(name, sizeof name, "org.machports.test.many.%u", i);
        if (bootstrap_look_up(sub, name, &found) != BOOTSTRAP_UNKNOWN_SERVICE)
            bad++;
    }
    MT_EQ(bad, 0u);
    MT_CHECK(kill_port(req));
    MT_EQ(type_of(sub), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, sub), KERN_SUCCESS);
}

MT_MAIN()
