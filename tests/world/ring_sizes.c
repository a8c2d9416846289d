/*
 * ring_sizes.c — runs inside a world (ctest: umach-run -- world_ring_sizes): requests and
 * replies of every size cross a thread connection whether or not they fit its shared-memory
 * ring (src/umach/wire/um_ring.h): a message that fits travels in the ring, a larger one (or
 * a larger reply: a received message, a MIG array) goes on the socket, byte-exact either way,
 * from the main thread and from a second thread with a ring of its own.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "wire/um_ring.h"

#include <mach/mach.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Send a message of `size` bytes (a header and a patterned body) to `port`, receive it. */
static int ring_echo(mach_port_t port, mach_msg_size_t size, uint8_t seed)
{
    mach_msg_size_t room = size + (mach_msg_size_t)sizeof(mach_msg_max_trailer_t);
    uint8_t *out = calloc(1, size), *in = calloc(1, room);
    if (!out || !in) {
        free(out);
        free(in);
        return -1;
    }
    mach_msg_header_t *h = (mach_msg_header_t *)out;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    h->msgh_remote_port = port;
    h->msgh_size = size;
    h->msgh_id = (mach_msg_id_t)size;
    for (mach_msg_size_t i = sizeof *h; i < size; i++)
        out[i] = (uint8_t)(i * 7 + seed);
    int rc = 0;
    kern_return_t kr = mach_msg(h, MACH_SEND_MSG, size, 0, MACH_PORT_NULL,
                                MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS)
        rc = 1;
    mach_msg_header_t *r = (mach_msg_header_t *)in;
    if (!rc) {
        kr = mach_msg(r, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, room, port, 5000, MACH_PORT_NULL);
        if (kr != KERN_SUCCESS)
            rc = 2;
    }
    if (!rc && (r->msgh_size != size || r->msgh_id != (mach_msg_id_t)size ||
                memcmp(in + sizeof *r, out + sizeof *h, size - sizeof *h) != 0))
        rc = 3;
    free(out);
    free(in);
    return rc;
}

static const mach_msg_size_t ring_sizes[] = {
    sizeof(mach_msg_header_t), 64, 1024,
    /* around what fits in a ring's area, request and reply */
    UM_RING_AREA - 256, UM_RING_AREA - 132, UM_RING_AREA - 128, UM_RING_AREA - 120,
    UM_RING_AREA - 64, UM_RING_AREA - 48, UM_RING_AREA, UM_RING_AREA + 4,
    /* the socket's inline limit and past it (a memfd) */
    UM_WIRE_INLINE_MAX - 200, UM_WIRE_INLINE_MAX + 4, 256 * 1024};

static int ring_all_sizes(mach_port_t port, uint8_t seed)
{
    for (size_t i = 0; i < sizeof ring_sizes / sizeof ring_sizes[0]; i++) {
        mach_msg_size_t s = ring_sizes[i] & ~3u;
        int rc = ring_echo(port, s, (uint8_t)(seed + i));
        if (rc)
            return (int)(i * 10) + rc;
        /* a small call between big ones: the ring is still in step */
        rc = ring_echo(port, 64, seed);
        if (rc)
            return 1000 + (int)i;
    }
    return 0;
}

MT_TEST(messages_of_every_size_cross_whether_or_not_they_fit_the_ring)
{
    mach_port_t port = MACH_PORT_NULL;
    MT_REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port) ==
               KERN_SUCCESS);
    MT_EQ(ring_all_sizes(port, 1), 0);
    MT_EQ(ring_all_sizes(port, 2), 0); /* twice: a big reply leaves the ring usable */
    MT_EQ(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
}

static void *ring_thread(void *arg)
{
    mach_port_t port = (mach_port_t)(uintptr_t)arg;
    return (void *)(intptr_t)ring_all_sizes(port, 3);
}

MT_TEST(a_second_thread_has_a_ring_of_its_own_and_both_carry_every_size)
{
    mach_port_t a = MACH_PORT_NULL, b = MACH_PORT_NULL;
    MT_REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &a) ==
               KERN_SUCCESS);
    MT_REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &b) ==
               KERN_SUCCESS);
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, ring_thread, (void *)(uintptr_t)b) == 0);
    int mine = ring_all_sizes(a, 4);
    void *theirs = NULL;
    MT_REQUIRE(pthread_join(th, &theirs) == 0);
    MT_EQ(mine, 0);
    MT_EQ((int)(intptr_t)theirs, 0);
    MT_EQ(mach_port_mod_refs(mach_task_self(), a, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(mach_port_mod_refs(mach_task_self(), b, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_mig_array_larger_than_the_ring_comes_back_whole)
{
    /* mach_port_names of 3000 names: 24 KB of names and types, past one ring area. */
    enum { N = 3000 };
    mach_port_t *ports = calloc(N, sizeof *ports);
    MT_REQUIRE(ports != NULL);
    for (int i = 0; i < N; i++)
        MT_REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &ports[i]) ==
                   KERN_SUCCESS);
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    MT_EQ(mach_port_names(mach_task_self(), &names, &nn, &types, &nt), KERN_SUCCESS);
    MT_CHECK(nn >= N && nn == nt);
    size_t found = 0;
    for (mach_msg_type_number_t i = 0; i < nn; i++)
        for (int j = 0; j < N; j++)
            if (names[i] == ports[j] && types[i] == MACH_PORT_TYPE_RECEIVE) {
                found++;
                break;
            }
    MT_EQ(found, (size_t)N);
    MT_EQ(vm_deallocate(mach_task_self(), (vm_address_t)names, nn * sizeof *names),
          KERN_SUCCESS);
    MT_EQ(vm_deallocate(mach_task_self(), (vm_address_t)types, nt * sizeof *types),
          KERN_SUCCESS);
    for (int i = 0; i < N; i++)
        MT_EQ(mach_port_mod_refs(mach_task_self(), ports[i], MACH_PORT_RIGHT_RECEIVE, -1),
              KERN_SUCCESS);
    free(ports);
}

MT_MAIN()
