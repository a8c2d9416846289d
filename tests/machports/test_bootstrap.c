/*
 * test_bootstrap.c — mp_bootstrap_look_up / check_in / register: typed rights in and out,
 * the caller's rights untouched on failure, names checked before anything is sent. On macOS
 * these reach launchd, so every name is unique to the run.
 */
#include "mpt.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void unique_name(char *out, size_t len, const char *what)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "org.machports.test.mp.%s.%ld.%u.%ld", what, (long)getpid(), counter++,
             (long)ts.tv_nsec);
}

/* A plain test first: a thread's first bootstrap call may make its MIG reply port. */
MT_TEST(bootstrap_port_is_the_tasks_and_an_unknown_name_gives_a_null_right)
{
    MT_CHECK(!mp_send_right_is_null(mp_bootstrap_port()));
    MT_EQ(mp_send_right_name(mp_bootstrap_port()), bootstrap_port);
    char name[MP_BOOTSTRAP_NAME_MAX + 1];
    unique_name(name, sizeof name, "unknown");
    mp_send_right s = mp_send_right_from_name(0x1234); /* overwritten, not released */
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &s), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_CHECK(mp_send_right_is_null(s));
}

MPT_TEST(check_in_gives_a_receive_right_and_look_up_a_send_right_to_it)
{
    char name[MP_BOOTSTRAP_NAME_MAX + 1];
    unique_name(name, sizeof name, "checkin");
    mp_recv_right server;
    mp_send_right client;
    MT_KR(mp_bootstrap_check_in(mp_bootstrap_port(), name, &server), KERN_SUCCESS);
    MT_EQ(mpt_type(server.name), MACH_PORT_TYPE_RECEIVE);
    mp_recv_right again;
    MT_KR(mp_bootstrap_check_in(mp_bootstrap_port(), name, &again), BOOTSTRAP_SERVICE_ACTIVE);
    MT_CHECK(mp_recv_right_is_null(again));

    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &client), KERN_SUCCESS);
    MT_EQ(client.name, server.name); /* one task: the rights share a name */
    MT_KR(mp_send_right_drop(&client), KERN_SUCCESS);

    /* The server's receive right dies with the drop, and the name with it. */
    MT_KR(mp_recv_right_drop(&server), KERN_SUCCESS);
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &client), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_CHECK(mp_send_right_is_null(client));
}

MPT_TEST(register_borrows_the_service_right_and_the_name_ends_with_its_port)
{
    char name[MP_BOOTSTRAP_NAME_MAX + 1];
    unique_name(name, sizeof name, "register");
    mp_recv_right recv;
    mp_send_right service, found;
    MT_KR(mp_recv_right_alloc(&recv), KERN_SUCCESS);
    MT_KR(mp_send_right_make(recv, &service), KERN_SUCCESS);
    MT_KR(mp_bootstrap_register(mp_bootstrap_port(), name, service), KERN_SUCCESS);
    MT_EQ(mpt_refs(service.name, MACH_PORT_RIGHT_SEND), 1); /* still exactly the caller's reference */

    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &found), KERN_SUCCESS);
    MT_EQ(found.name, service.name);
    MT_KR(mp_send_right_drop(&found), KERN_SUCCESS);

    kern_return_t kr = mp_bootstrap_register(mp_bootstrap_port(), name, service);
    MT_CHECK(kr == BOOTSTRAP_NAME_IN_USE || kr == BOOTSTRAP_SERVICE_ACTIVE);
    MT_EQ(mpt_refs(service.name, MACH_PORT_RIGHT_SEND), 1);

    MT_KR(mp_send_right_drop(&service), KERN_SUCCESS);
    MT_KR(mp_recv_right_drop(&recv), KERN_SUCCESS);
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &found), BOOTSTRAP_UNKNOWN_SERVICE);
}

MPT_TEST(names_are_checked_before_anything_is_sent)
{
    char name[MP_BOOTSTRAP_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[sizeof name - 1] = '\0'; /* one byte too many */
    mp_recv_right r = mp_recv_right_from_name(0x1234);
    mp_send_right s = mp_send_right_from_name(0x1234);
    MT_KR(mp_bootstrap_check_in(mp_bootstrap_port(), name, &r), BOOTSTRAP_BAD_COUNT);
    MT_CHECK(mp_recv_right_is_null(r));
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &s), BOOTSTRAP_BAD_COUNT);
    MT_CHECK(mp_send_right_is_null(s));
    MT_KR(mp_bootstrap_register(mp_bootstrap_port(), name, MP_SEND_RIGHT_NULL),
          BOOTSTRAP_BAD_COUNT);
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), NULL, &s), KERN_INVALID_ARGUMENT);
    MT_KR(mp_bootstrap_check_in(mp_bootstrap_port(), NULL, &r), KERN_INVALID_ARGUMENT);
    MT_KR(mp_bootstrap_register(mp_bootstrap_port(), NULL, MP_SEND_RIGHT_NULL),
          KERN_INVALID_ARGUMENT);

    /* Exactly MP_BOOTSTRAP_NAME_MAX bytes is a valid name. */
    unique_name(name, sizeof name, "max");
    size_t len = strlen(name);
    memset(name + len, 'm', MP_BOOTSTRAP_NAME_MAX - len);
    name[MP_BOOTSTRAP_NAME_MAX] = '\0';
    MT_KR(mp_bootstrap_check_in(mp_bootstrap_port(), name, &r), KERN_SUCCESS);
    MT_KR(mp_bootstrap_look_up(mp_bootstrap_port(), name, &s), KERN_SUCCESS);
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

MPT_TEST(a_null_bootstrap_port_is_an_invalid_destination)
{
    mp_send_right s;
    MT_KR(mp_bootstrap_look_up(MP_SEND_RIGHT_NULL, "org.machports.test.mp.nobp", &s),
          MACH_SEND_INVALID_DEST);
    MT_CHECK(mp_send_right_is_null(s));
}

MT_MAIN()
