/*
 * thread_port_key.c — a thread's port is registered for its exit with a thread-specific key
 * the library makes when it is loaded. In a process that had taken every key by then
 * (PTHREAD_KEYS_MAX), the library has none: mach_thread_self gives no port (MACH_PORT_NULL)
 * rather than one nothing destroys when its thread exits, or one registered with a key that is
 * another's; once a key is free, the next call makes the key, and a thread's port dies with it.
 *
 * This program takes every key before the library is loaded (a constructor of a higher
 * priority than the library's, both in this executable).
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>

#define TASK mach_task_self()

#ifndef PTHREAD_KEYS_MAX
#define PTHREAD_KEYS_MAX 1024
#endif

static pthread_key_t tk_keys[PTHREAD_KEYS_MAX];
static size_t tk_count;
static int tk_last_error;

/* Each key's value is a flag its destructor clears: a key given another's value shows. */
static void tk_destructor(void *v)
{
    *(volatile int *)v = 0;
}

__attribute__((constructor(101))) static void tk_take_every_key(void)
{
    int err = 0;
    while (tk_count < PTHREAD_KEYS_MAX &&
           (err = pthread_key_create(&tk_keys[tk_count], tk_destructor)) == 0)
        tk_count++;
    if (err == 0) {
        pthread_key_t more;
        if ((err = pthread_key_create(&more, tk_destructor)) == 0)
            (void)pthread_key_delete(more); /* more keys than PTHREAD_KEYS_MAX says */
    }
    tk_last_error = err;
}

static void *tk_self(void *arg)
{
    mach_port_t *name = arg;
    *name = mach_thread_self();
    return NULL;
}

MT_TEST(with_no_key_left_a_thread_gets_no_port_and_with_one_freed_its_port_dies_with_it)
{
    MT_EQ(tk_last_error, EAGAIN); /* every key taken, the library's attempt included */
    MT_REQUIRE(tk_count > 0);
    int mine = 1;
    for (size_t i = 0; i < tk_count; i++)
        MT_EQ(pthread_setspecific(tk_keys[i], &mine), 0);

    /* No key: no port, and no key of this program's given a value by the library. */
    MT_EQ(mach_thread_self(), MACH_PORT_NULL);
    mach_port_t other = 1;
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, tk_self, &other) == 0);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    MT_EQ(other, MACH_PORT_NULL);
    for (size_t i = 0; i < tk_count; i++)
        MT_CHECK(pthread_getspecific(tk_keys[i]) == &mine);

    /* A key freed: the next call makes the library's; a thread's port dies when it exits. */
    MT_EQ(pthread_key_delete(tk_keys[--tk_count]), 0);
    other = MACH_PORT_NULL;
    MT_REQUIRE(pthread_create(&t, NULL, tk_self, &other) == 0);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    MT_CHECK(MACH_PORT_VALID(other));
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, other, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, other), KERN_SUCCESS);

    mach_port_t self = mach_thread_self();
    MT_CHECK(MACH_PORT_VALID(self));
    MT_KR(mach_port_type(TASK, self, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    for (size_t i = 0; i < tk_count; i++)
        MT_EQ(pthread_key_delete(tk_keys[i]), 0);
    tk_count = 0;
}

MT_MAIN()
