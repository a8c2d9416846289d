/*
 * ring_switches.c — runs inside a world (ctest: umach-run -- world_ring_switches): the
 * switches of docs/world.md, "Switching them off". UMACH_WORLD_POST=0 leaves a process
 * neither posted sends nor receive windows, UMACH_WORLD_WINDOWS=0 windows alone; each holds
 * from the process's first message, a receive included. Each case is a fresh process (this
 * program run again with the variable set: a switch is read once per process), which sends
 * itself a stream of one-way messages and receives them; the daemon's counts of posts taken
 * and of receives through windows (UM_WIRE_STATS) show which way they went.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK mach_task_self()

enum { RS_N = 64, RS_WAIT_MS = 10000, RS_WIN_RECEIVED = 5 };

typedef struct {
    mach_msg_header_t h;
    uint32_t seq;
} rs_msg;

static const char *rs_self; /* this program, run again for each case */

/*
 * A child's case: `role` "stream" sends RS_N simple one-way COPY_SENDs (the sends that may be
 * posted), "receive-only" the same messages with MAKE_SEND (never posted: the process's
 * first sends and receives say nothing of posting); then receives them one by one (receives
 * alone, the kind a window serves). 0 when all came in order.
 */
static int rs_role(const char *role)
{
    bool stream = strcmp(role, "stream") == 0;
    if (!stream && strcmp(role, "receive-only") != 0)
        return 2;
    mach_port_t port = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &port) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return 3;
    mach_port_limits_t lim = {.mpl_qlimit = 2 * RS_N};
    if (mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return 4;
    for (uint32_t i = 0; i < RS_N; i++) {
        rs_msg m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits =
            MACH_MSGH_BITS(stream ? MACH_MSG_TYPE_COPY_SEND : MACH_MSG_TYPE_MAKE_SEND, 0);
        m.h.msgh_size = sizeof m;
        m.h.msgh_remote_port = port;
        m.seq = i;
        if (mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
            MACH_MSG_SUCCESS)
            return 5;
    }
    for (uint32_t i = 0; i < RS_N; i++) {
        struct {
            rs_msg m;
            mach_msg_trailer_t t;
        } b;
        memset(&b, 0, sizeof b);
        if (mach_msg(&b.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, port, RS_WAIT_MS,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
            b.m.seq != i)
            return 6;
    }
    return mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS &&
                   mach_port_deallocate(TASK, port) == KERN_SUCCESS
               ? 0
               : 7;
}

/*
 * Run case `role` in a new process with `var` set to "0" (NULL: no switch); its exit status,
 * and how many posts and window receives the world counted meanwhile.
 */
static int rs_case(const char *role, const char *var, uint64_t *posts, uint64_t *wins)
{
    uint64_t p0 = w_stat(W_STAT_POSTS_TAKEN), w0 = w_stat(RS_WIN_RECEIVED);
    pid_t kid = fork();
    if (kid == 0) {
        unsetenv("UMACH_WORLD_POST");
        unsetenv("UMACH_WORLD_WINDOWS");
        if (var)
            setenv(var, "0", 1);
        const char *argv[] = {rs_self, "--role", role, NULL};
        execv(rs_self, (char *const *)argv);
        _exit(127);
    }
    int st = kid > 0 ? w_wait_status(kid) : -1;
    uint64_t p1 = w_stat(W_STAT_POSTS_TAKEN), w1 = w_stat(RS_WIN_RECEIVED);
    if (p0 == UINT64_MAX || w0 == UINT64_MAX || p1 == UINT64_MAX || w1 == UINT64_MAX)
        return -1;
    *posts = p1 - p0;
    *wins = w1 - w0;
    return st;
}

MT_TEST(without_a_switch_one_way_sends_are_posted_and_receives_come_from_a_window)
{
    uint64_t posts = 0, wins = 0;
    MT_EQ(rs_case("stream", NULL, &posts, &wins), 0);
    MT_CHECK(posts > 0);
    MT_CHECK(wins > 0);
    MT_EQ(rs_case("receive-only", NULL, &posts, &wins), 0);
    MT_EQ(posts, 0u);
    MT_CHECK(wins > 0);
}

MT_TEST(umach_world_windows_0_keeps_posted_sends_and_serves_no_receive_from_a_window)
{
    uint64_t posts = 0, wins = 0;
    MT_EQ(rs_case("stream", "UMACH_WORLD_WINDOWS", &posts, &wins), 0);
    MT_CHECK(posts > 0);
    MT_EQ(wins, 0u);
}

MT_TEST(umach_world_post_0_sends_and_receives_everything_through_the_daemon)
{
    uint64_t posts = 0, wins = 0;
    MT_EQ(rs_case("stream", "UMACH_WORLD_POST", &posts, &wins), 0);
    MT_EQ(posts, 0u);
    MT_EQ(wins, 0u);
}

MT_TEST(umach_world_post_0_holds_for_a_process_whose_first_messages_are_not_posts)
{
    /* Its sends could never be posted, so only its receives can read the switch. */
    uint64_t posts = 0, wins = 0;
    MT_EQ(rs_case("receive-only", "UMACH_WORLD_POST", &posts, &wins), 0);
    MT_EQ(posts, 0u);
    MT_EQ(wins, 0u);
}

int main(int argc, char **argv)
{
    rs_self = argv[0];
    if (argc == 3 && strcmp(argv[1], "--role") == 0)
        return rs_role(argv[2]);
    return mt_run_all(argv[0]);
}
