/*
 * fork_exec.c — fork and exec in a world, as on Darwin (docs/world.md, "fork and exec";
 * MACH_FACTS §2.16): a forked child is a new task whose space holds only its task port and
 * the special ports it inherits (TASK_BOOTSTRAP_PORT among them, as the slot was when fork()
 * was called); after exec the process is a new task with the same inherited slots and none of
 * its old rights; a subset bootstrap port set before fork is what the child looks names up
 * in; a child of posix_spawn, posix_spawnp, vfork + exec, system() or popen() inherits as a
 * forked one does, and so do the commands the shell of system() or popen() forks (through a
 * process that is not a task, as every process is one on Darwin) and those of a shell a task
 * exec'd (still that task on Darwin); the daemon gives a fork's
 * slots only to a process the kernel says is the parent's child, and a spawn's also to its
 * descendants through non-tasks, never through a task or from another branch.
 */
#define _GNU_SOURCE
#include "space_names.h"
#include "world_roles.h"
#include "world_util.h"

#include <mach/task_special_ports.h>

#include <spawn.h>

extern char **environ;

static mach_port_t new_port_with_send(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_return_t send_id(mach_port_t dest, mach_msg_id_t id)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = dest;
    h.msgh_id = id;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 5000,
                    MACH_PORT_NULL);
}

static mach_msg_id_t recv_id(mach_port_t port, mach_msg_timeout_t ms)
{
    b_msg m;
    memset(&m, 0, sizeof m);
    if (mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, ms, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
        return -1;
    mach_msg_destroy(&m.h);
    return m.h.msgh_id;
}

/* ---- roles ---------------------------------------------------------------------------------- */

/* A role's precondition: say why and end the role. */
#define ROLE_REQUIRE(cond)                                                                     \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            say("required: %s", #cond);                                                        \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

/* A new task's space holds two names: its task port and a send right, its bootstrap port
 * (what task_get_bootstrap_port says, too). */
static void expect_inherited_space(void)
{
    MT_EQ(tc_name_count(), 2u);
    mach_port_t bp = MACH_PORT_NULL;
    MT_KR(task_get_bootstrap_port(mach_task_self(), &bp), KERN_SUCCESS);
    MT_EQ(bp, bootstrap_port);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(mach_task_self(), bootstrap_port, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);
}

/* Put `p` in our bootstrap slot; the right that was there (to be put back). */
static mach_port_t bootstrap_swap(mach_port_t p)
{
    mach_port_t old = MACH_PORT_NULL;
    MT_KR(task_get_bootstrap_port(mach_task_self(), &old), KERN_SUCCESS);
    MT_KR(task_set_bootstrap_port(mach_task_self(), p), KERN_SUCCESS);
    return old;
}

/* A wait status as a number: the exit status, or 128 + the signal that ended it. */
static int status_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The shell command that runs `spawned` twice, `sep` (";" or "|") between. */
static void spawned_twice(char *cmd, size_t size, const char *sep)
{
    snprintf(cmd, size, "'%s' --role spawned - %s '%s' --role spawned -", b_self, sep, b_self);
}

/*
 * fork: with our own port P in TASK_BOOTSTRAP_PORT and another receive right X, fork, then
 * put the old bootstrap port back at once. The child must hold exactly its task port and a
 * send right to P, and nothing of X; it says so with a message to its bootstrap port.
 */
static int role_fork(void)
{
    mach_port_t p = new_port_with_send(), x = new_port_with_send();
    ROLE_REQUIRE(p && x);
    mach_port_t old = bootstrap_swap(p);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: a new task. */
        expect_inherited_space(); /* its task port and its bootstrap port */
        mach_port_type_t type = 0;
        MT_NE(mach_port_type(mach_task_self(), x, &type) == KERN_SUCCESS &&
                  (type & MACH_PORT_TYPE_RECEIVE),
              1);
        MT_KR(send_id(bootstrap_port, mt_current_failed ? 41 : 42), MACH_MSG_SUCCESS);
        _exit(mt_current_failed ? 1 : 0);
    }
    ROLE_REQUIRE(pid > 0);
    MT_KR(task_set_bootstrap_port(mach_task_self(), old), KERN_SUCCESS);
    say("child said %d", recv_id(p, 10000));
    int st = 0;
    MT_EQ(waitpid(pid, &st, 0), pid);
    say("child status %d", status_code(st));
    return mt_current_failed ? 1 : 0;
}

/* exec NAME: make NAME's server our bootstrap port and exec ourselves as `after-exec`. */
static int role_exec(const char *name)
{
    mach_port_t server = MACH_PORT_NULL, mine = new_port_with_send();
    MT_KR(bootstrap_look_up(bootstrap_port, name, &server), KERN_SUCCESS);
    MT_KR(task_set_bootstrap_port(mach_task_self(), server), KERN_SUCCESS);
    say("before exec: %u names", tc_name_count());
    (void)mine; /* a receive right the new image must not have */
    const char *argv[] = {b_self, "--role", "after-exec", name, NULL};
    execv(b_self, (char *const *)argv);
    say("exec failed: %s", strerror(errno));
    return 1;
}

/* after-exec NAME: a new task with the inherited bootstrap port (NAME's server) only. */
static int role_after_exec(void)
{
    say("after exec: %u names", tc_name_count());
    mach_port_t reply = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    b_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_size = sizeof m.h;
    m.h.msgh_remote_port = bootstrap_port;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 8;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                    sizeof m.h, sizeof m, reply, 10000, MACH_PORT_NULL);
    /* The server's answer is a bare header (the world's bootstrap server would send 36 bytes). */
    say("rpc through bootstrap_port %d %d %u", mr, mr == MACH_MSG_SUCCESS ? m.h.msgh_id : 0,
        mr == MACH_MSG_SUCCESS ? m.h.msgh_size : 0);
    return 0;
}

/*
 * subset-fork NAME: a subset of our bootstrap port holds NAME.sub; with it as our bootstrap
 * port, fork, and put the old one back. The child finds NAME.sub and, through the subset's
 * parent, NAME; we (in the root) do not find NAME.sub.
 */
static int role_subset_fork(const char *name)
{
    char sub[BOOTSTRAP_MAX_NAME_LEN];
    snprintf(sub, sizeof sub, "%s.sub", name);
    mach_port_t requestor = new_port_with_send(), subset = MACH_PORT_NULL, svc = new_port_with_send();
    mach_port_t old = bootstrap_port, found = MACH_PORT_NULL;
    ROLE_REQUIRE(requestor && svc);
    MT_KR(bootstrap_subset(bootstrap_port, requestor, &subset), KERN_SUCCESS);
    MT_KR(b_register(subset, sub, svc), KERN_SUCCESS);
    MT_KR(task_set_bootstrap_port(mach_task_self(), subset), KERN_SUCCESS);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        MT_EQ(tc_name_count(), 2u);
        MT_KR(bootstrap_look_up(bootstrap_port, sub, &found), KERN_SUCCESS);
        MT_KR(send_id(found, 44), MACH_MSG_SUCCESS);
        MT_KR(bootstrap_look_up(bootstrap_port, name, &found), KERN_SUCCESS); /* the parent's */
        _exit(mt_current_failed ? 1 : 0);
    }
    ROLE_REQUIRE(pid > 0);
    MT_KR(task_set_bootstrap_port(mach_task_self(), old), KERN_SUCCESS);
    say("child sent %d", recv_id(svc, 10000));
    int st = 0;
    MT_EQ(waitpid(pid, &st, 0), pid);
    say("child status %d", status_code(st));
    MT_KR(bootstrap_look_up(bootstrap_port, sub, &found), BOOTSTRAP_UNKNOWN_SERVICE);
    say("root look-up of the subset's name %s", mt_current_failed ? "failed" : "unknown");
    return mt_current_failed ? 1 : 0;
}

/*
 * spawn HOW (posix_spawn, posix_spawnp, vfork, system, popen, popen-w, system-list,
 * popen-pipe): with our own port P in TASK_BOOTSTRAP_PORT and another receive right X, start
 * `spawned` without fork handlers (by system() and popen() through `sh -c 'exec ...'`; two of
 * them, which the shell forks, through `sh -c 'a; a'` and `sh -c 'a | a'`), then put the old
 * bootstrap port back at once. Each child says on P what it found.
 */
static int role_spawn(const char *how)
{
    bool list = strcmp(how, "system-list") == 0, pipeline = strcmp(how, "popen-pipe") == 0;
    mach_port_t p = new_port_with_send(), x = new_port_with_send();
    ROLE_REQUIRE(p && x);
    mach_port_t old = bootstrap_swap(p);
    fflush(stdout);
    char *argv[] = {(char *)b_self, "--role", "spawned", "-", NULL};
    pid_t pid = -1;
    int rc = 0, st = 0;
    if (strcmp(how, "posix_spawn") == 0) {
        rc = posix_spawn(&pid, b_self, NULL, NULL, argv, environ);
    } else if (strcmp(how, "posix_spawnp") == 0) {
        rc = posix_spawnp(&pid, b_self, NULL, NULL, argv, environ);
    } else if (strcmp(how, "vfork") == 0) {
        pid = vfork();
        if (pid == 0) {
            execv(b_self, argv);
            _exit(127);
        }
    } else {
        /* system, popen: the shell execs the child, which is then the shell's process; or
         * forks the two (the second may be exec'd: the shell's last command) */
        char cmd[4096];
        if (list || pipeline)
            spawned_twice(cmd, sizeof cmd, list ? ";" : "|");
        else
            snprintf(cmd, sizeof cmd, "exec '%s' --role spawned -", b_self);
        if (strncmp(how, "system", 6) == 0) {
            st = system(cmd); /* the children have sent their messages when this returns */
        } else {
            FILE *f = popen(cmd, how[5] == '-' && how[6] == 'w' ? "w" : "r");
            ROLE_REQUIRE(f != NULL);
            if (how[5] == 0 || pipeline)
                while (fgetc(f) != EOF) /* what the child says on stdout */
                    ;
            st = pclose(f);
        }
        pid = 0;
    }
    MT_KR(task_set_bootstrap_port(mach_task_self(), old), KERN_SUCCESS);
    ROLE_REQUIRE(rc == 0 && pid >= 0 && st != -1);
    for (int k = list || pipeline ? 2 : 1; k > 0; k--)
        say("child said %d", recv_id(p, 10000));
    if (pid > 0)
        MT_EQ(waitpid(pid, &st, 0), pid);
    say("child status %d", status_code(st));
    /* Our own rights are untouched: P and X are still our receive rights. */
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(mach_task_self(), x, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
    return mt_current_failed ? 1 : 0;
}

/*
 * spawned: started by posix_spawn, vfork + exec, system or popen from a task that had P in its bootstrap
 * slot. Its space holds its task port and a send right to P, nothing else; the token that
 * brought it is out of its environment; it sends 43 on P (41 when something was wrong).
 */
static int role_spawned(void)
{
    expect_inherited_space();
    MT_CHECK(getenv("UMACH_SPAWN_TOKEN") == NULL);
    /* A look-up in the world's registry would answer; P is not a bootstrap server. */
    MT_KR(send_id(bootstrap_port, mt_current_failed ? 41 : 43), MACH_MSG_SUCCESS);
    return mt_current_failed ? 1 : 0;
}

/*
 * spawn-mid: with our own port P in TASK_BOOTSTRAP_PORT, system() runs `mid` (exec'd by the
 * shell: a task). The first message on P is what mid says.
 */
static int role_spawn_mid(void)
{
    mach_port_t p = new_port_with_send();
    ROLE_REQUIRE(p);
    mach_port_t old = bootstrap_swap(p);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec '%s' --role mid -", b_self);
    int st = system(cmd);
    MT_KR(task_set_bootstrap_port(mach_task_self(), old), KERN_SUCCESS);
    say("first on P %d", recv_id(p, 10000));
    say("mid status %d", status_code(st));
    return mt_current_failed ? 1 : 0;
}

/*
 * mid: a task with P (its parent's) as its bootstrap port puts its own port Q in the slot and
 * runs `sh -c 'spawned; spawned'`: the commands the shell forks are its descendants and must
 * hold Q, not P (both send their word on the port they hold). Says 45 on P when both were
 * heard on Q, 41 otherwise.
 */
static int role_mid(void)
{
    mach_port_t p = bootstrap_port, q = new_port_with_send();
    ROLE_REQUIRE(p && q);
    MT_KR(task_set_bootstrap_port(mach_task_self(), q), KERN_SUCCESS);
    char cmd[4096];
    spawned_twice(cmd, sizeof cmd, ";");
    int st = system(cmd);
    MT_EQ(st, 0);
    MT_EQ(recv_id(q, 5000), 43); /* sent before system() returned */
    MT_EQ(recv_id(q, 5000), 43); /* sent before system() returned */
    MT_KR(send_id(p, mt_current_failed ? 41 : 45), MACH_MSG_SUCCESS);
    return mt_current_failed ? 1 : 0;
}

/*
 * fork-exec-sh: with our own port P in TASK_BOOTSTRAP_PORT, fork; the child (a task holding P)
 * execs `sh -c 'spawned; spawned'` itself, as a hand-written system() does: the shell is no
 * task, the first command is its child (the second may be exec'd). Both say 43 on P.
 */
static int role_fork_exec_sh(void)
{
    mach_port_t p = new_port_with_send();
    ROLE_REQUIRE(p);
    mach_port_t old = bootstrap_swap(p);
    char cmd[4096];
    spawned_twice(cmd, sizeof cmd, ";");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    MT_KR(task_set_bootstrap_port(mach_task_self(), old), KERN_SUCCESS);
    ROLE_REQUIRE(pid > 0);
    int st = 0;
    MT_EQ(waitpid(pid, &st, 0), pid);
    say("child said %d", recv_id(p, 5000)); /* sent before the shell ended */
    say("child said %d", recv_id(p, 5000));
    say("shell status %d", status_code(st));
    return mt_current_failed ? 1 : 0;
}

static int b_role_main(int argc, char **argv)
{
    const char *role = argv[0], *a1 = argc > 1 ? argv[1] : NULL, *a2 = argc > 2 ? argv[2] : NULL;
    if (strcmp(role, "fork") == 0)
        return role_fork();
    if (!a1)
        return 2;
    int rc = b_common_role(role, a1, a2);
    if (rc >= 0)
        return rc;
    if (strcmp(role, "exec") == 0)
        return role_exec(a1);
    if (strcmp(role, "after-exec") == 0)
        return role_after_exec();
    if (strcmp(role, "subset-fork") == 0)
        return role_subset_fork(a1);
    if (strcmp(role, "spawn") == 0)
        return role_spawn(a1);
    if (strcmp(role, "spawned") == 0)
        return role_spawned();
    if (strcmp(role, "spawn-mid") == 0)
        return role_spawn_mid();
    if (strcmp(role, "mid") == 0)
        return role_mid();
    if (strcmp(role, "fork-exec-sh") == 0)
        return role_fork_exec_sh();
    return 2;
}

/* ---- tests ---------------------------------------------------------------------------------- */

MT_TEST(a_forked_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had_at_fork)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role r = b_role_start("fork", "-", NULL);
    MT_CHECK(b_expect(&r, "child said 42"));
    MT_CHECK(b_expect(&r, "child status 0"));
    MT_EQ(b_role_end(&r), 0);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(after_exec_the_process_is_a_new_task_with_only_its_inherited_special_ports)
{
    char name[128];
    b_name(name, sizeof name, "exec");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_server_start(name);
    b_role r = b_role_start("exec", name, NULL);
    /* task port, bootstrap port (its own name for the server now), server, mine, MIG reply */
    char line[128];
    MT_CHECK(b_line(&r, line, sizeof line, 10) && strncmp(line, "before exec: ", 13) == 0);
    MT_CHECK(b_expect(&r, "after exec: 2 names"));
    MT_CHECK(b_expect(&r, "rpc through bootstrap_port 0 108 24"));
    MT_EQ(b_role_end(&r), 0);
    b_kill_and_stop(&server);
}

MT_TEST(a_subset_bootstrap_port_set_before_fork_is_the_childs)
{
    char name[128];
    b_name(name, sizeof name, "subset");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_server_start(name);
    b_role r = b_role_start("subset-fork", name, NULL);
    MT_CHECK(b_expect(&r, "child sent 44"));
    MT_CHECK(b_expect(&r, "child status 0"));
    MT_CHECK(b_expect(&r, "root look-up of the subset's name unknown"));
    MT_EQ(b_role_end(&r), 0);
    b_kill_and_stop(&server);
}

/* `kids` children started by `how` from a task get the task's bootstrap port and nothing
 * else. */
static void spawned_children_inherit(const char *how, int kids)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role r = b_role_start("spawn", how, NULL);
    for (int k = 0; k < kids; k++)
        MT_CHECK(b_expect(&r, "child said 43"));
    MT_CHECK(b_expect(&r, "child status 0"));
    MT_EQ(b_role_end(&r), 0);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(a_posix_spawned_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("posix_spawn", 1);
}

MT_TEST(a_posix_spawnp_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("posix_spawnp", 1);
}

MT_TEST(a_vforked_and_execd_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("vfork", 1);
}

MT_TEST(a_system_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("system", 1);
}

MT_TEST(a_popen_r_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("popen", 1);
}

MT_TEST(a_popen_w_child_holds_its_task_port_and_the_bootstrap_port_its_parent_had)
{
    spawned_children_inherit("popen-w", 1);
}

MT_TEST(both_commands_a_system_shell_runs_in_turn_hold_the_bootstrap_port_of_its_caller)
{
    spawned_children_inherit("system-list", 2);
}

MT_TEST(both_commands_of_a_popen_pipeline_hold_the_bootstrap_port_of_its_caller)
{
    spawned_children_inherit("popen-pipe", 2);
}

MT_TEST(commands_a_task_started_by_a_shell_runs_through_its_own_shell_hold_that_tasks_port)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role r = b_role_start("spawn-mid", "-", NULL);
    MT_CHECK(b_expect(&r, "first on P 45"));
    MT_CHECK(b_expect(&r, "mid status 0"));
    MT_EQ(b_role_end(&r), 0);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(both_commands_of_a_shell_a_forked_child_execs_hold_the_bootstrap_port_it_inherited)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role r = b_role_start("fork-exec-sh", "-", NULL);
    MT_CHECK(b_expect(&r, "child said 43"));
    MT_CHECK(b_expect(&r, "child said 43"));
    MT_CHECK(b_expect(&r, "shell status 0"));
    MT_EQ(b_role_end(&r), 0);
    MT_EQ(b_world_stop(), 0);
}

/* ---- the daemon checks parenthood (the wire protocol by hand) ------------------------------- */

/* A hello on a fresh connection; the reply's 6 arguments (bootstrap name last). -1: none. */
static int w_hello_with(const uint64_t *args, uint32_t nargs, uint64_t out[6])
{
    int fd = b_join();
    if (fd < 0)
        return -1;
    if (w_request(fd, UM_WIRE_HELLO, args, nargs, out, 6) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Be a task by hand: a hello on *ctl (its reply's 6 arguments in out), its thread joined on
 * *thr, then its bootstrap slot emptied there. 0, or -1 (nothing left open).
 */
static int hand_task(int *ctl, int *thr, uint64_t out[6])
{
    uint64_t hello[3] = {0, 0, 0};
    *thr = -1;
    *ctl = w_hello_with(hello, 3, out);
    if (*ctl >= 0) {
        uint64_t join[2] = {out[3], out[4]};
        uint64_t set[3] = {out[1], TASK_BOOTSTRAP_PORT, MACH_PORT_NULL};
        *thr = b_join();
        if (*thr >= 0 && w_join_task(*thr, join) == 0 &&
            w_request(*thr, UM_WIRE_TASK_SET_SPECIAL_PORT, set, 3, NULL, 0) == 0)
            return 0;
    }
    if (*thr >= 0)
        close(*thr);
    if (*ctl >= 0)
        close(*ctl);
    return -1;
}

MT_TEST(a_fork_token_gives_the_slots_only_to_the_parents_child)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    /* We are task T (by hand): our bootstrap slot emptied, then a fork's token. */
    uint64_t out[6];
    int ctl, thr;
    MT_REQUIRE(hand_task(&ctl, &thr, out) == 0);
    MT_NE(out[5], 0); /* a new task's bootstrap port: the world's */
    uint64_t token[2];
    MT_EQ(w_request(thr, UM_WIRE_FORK, NULL, 0, token, 2), 0);

    /* We present the token ourselves: not our own child, so a task with the defaults. */
    uint64_t forged[5] = {UM_WIRE_HELLO_FORKED, 0, 0, token[0], token[1]};
    int fd = w_hello_with(forged, 5, out);
    MT_REQUIRE(fd >= 0);
    MT_NE(out[5], 0);
    close(fd);
    /* A wrong token from our real child: the defaults too. */
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t wrong[5] = {UM_WIRE_HELLO_FORKED, 0, 0, token[0] ^ 1, token[1]};
        uint64_t o[6];
        int f = w_hello_with(wrong, 5, o);
        _exit(f >= 0 && o[5] != 0 ? 0 : 1);
    }
    MT_EQ(b_status(pid), 0);
    /* Our child with the token: our slots as they were (an empty bootstrap slot). */
    pid = fork();
    if (pid == 0) {
        uint64_t o[6];
        int f = w_hello_with(forged, 5, o);
        _exit(f >= 0 && o[5] == 0 ? 0 : 1);
    }
    MT_EQ(b_status(pid), 0);
    /* A token is good once. */
    pid = fork();
    if (pid == 0) {
        uint64_t o[6];
        int f = w_hello_with(forged, 5, o);
        _exit(f >= 0 && o[5] != 0 ? 0 : 1);
    }
    MT_EQ(b_status(pid), 0);
    close(thr);
    close(ctl);
    MT_EQ(b_world_stop(), 0);
}

/* Say hello presenting `token` (NULL: none, a plain hello): 0 if we got the slots of the
 * by-hand task (an empty bootstrap slot), 1 if the world's defaults, 2 if no task at all. The
 * task lasts while *fd (when not NULL) stays open. */
static int hello_gets_slots(const uint64_t *token, int *fd)
{
    uint64_t args[5] = {token ? UM_WIRE_HELLO_FORKED : 0, 0, 0, token ? token[0] : 0,
                        token ? token[1] : 0},
             o[6];
    int f = w_hello_with(args, token ? 5 : 3, o);
    if (f < 0)
        return 2;
    if (fd)
        *fd = f;
    else
        close(f);
    return o[5] == 0 ? 0 : 1;
}

/* Fork a process that presents `token` and exits with hello_gets_slots's answer; its status. */
static int child_hello_status(const uint64_t token[2])
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(hello_gets_slots(token, NULL));
    return pid > 0 ? b_status(pid) : -1;
}

/* Block until one byte comes on `fd`; the byte, or -1. */
static int wait_byte(int fd)
{
    unsigned char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 ? c : -1;
}

MT_TEST(a_spawn_token_gives_the_slots_to_descendants_through_non_tasks_of_one_child_only)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    /* We are task T (by hand): our bootstrap slot emptied, then spawn tokens. */
    uint64_t out[6];
    int ctl, thr;
    MT_REQUIRE(hand_task(&ctl, &thr, out) == 0);
    uint64_t spawn = UM_WIRE_FORK_SPAWN, x[2], y[2], z[2];
    MT_EQ(w_request(thr, UM_WIRE_FORK, &spawn, 1, x, 2), 0);
    MT_EQ(w_request(thr, UM_WIRE_FORK, &spawn, 1, y, 2), 0);
    MT_EQ(w_request(thr, UM_WIRE_FORK, NULL, 0, z, 2), 0); /* fork's: no flag */

    /* A forger that is no descendant of ours (we ourselves): the defaults. */
    MT_EQ(hello_gets_slots(x, NULL), 1);

    /* C1, not a task, plays the shell: each command it forks gets the slots, and the heir is
     * bound to C1 from the first. */
    int ready[2], go[2];
    MT_REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
    fflush(stdout);
    pid_t c1 = fork();
    if (c1 == 0) {
        close(ready[0]);
        close(go[1]);
        unsigned char first = (unsigned char)child_hello_status(x);
        (void)!write(ready[1], &first, 1);
        if (wait_byte(go[0]) != 'g')
            _exit(10);
        int rc = child_hello_status(x) != 0 ? 11 : 0; /* a second command: the slots too */
        int mine = -1; /* `exec prog`: the child itself takes the heir, as a task */
        if (!rc && hello_gets_slots(x, &mine) != 0)
            rc = 12;
        if (!rc && child_hello_status(x) != 1) /* a task's child presenting the old token */
            rc = 13;
        if (mine >= 0)
            close(mine);
        _exit(rc);
    }
    MT_REQUIRE(c1 > 0);
    close(ready[1]);
    close(go[0]);
    MT_EQ(wait_byte(ready[0]), 0); /* C1's first command got the slots */

    /* C2, another child of ours and not a task: its commands go another way than C1's. */
    pid_t c2 = fork();
    if (c2 == 0)
        _exit(child_hello_status(x) == 1 ? 0 : 20);
    MT_EQ(b_status(c2), 0);
    MT_EQ(write(go[1], "g", 1), 1);
    MT_EQ(b_status(c1), 0);
    close(ready[0]);
    close(go[1]);

    /* C3 is a task: a process it forks must present C3's token, not ours. */
    pid_t c3 = fork();
    if (c3 == 0) {
        uint64_t h[3] = {0, 0, 0}, o[6];
        int f = w_hello_with(h, 3, o);
        int rc = f < 0 ? 30 : child_hello_status(y) == 1 ? 0 : 31;
        if (f >= 0)
            close(f);
        _exit(rc);
    }
    MT_EQ(b_status(c3), 0);

    /* A fork's token is the child's alone: its descendants get the defaults. */
    pid_t c4 = fork();
    if (c4 == 0)
        _exit(child_hello_status(z) == 1 && hello_gets_slots(z, NULL) == 0 ? 0 : 40);
    MT_EQ(b_status(c4), 0);
    close(thr);
    close(ctl);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(a_task_that_execd_a_non_task_gives_its_slots_to_what_that_process_forks_and_no_other)
{
    MT_REQUIRE(b_world_start(NULL) == 0);
    int ready[2], go[2];
    MT_REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
    fflush(stdout);
    /* C: a task with an empty bootstrap slot that hangs up and lives on (an exec'd shell, to
     * the daemon), then forks its commands; C's own next hello takes the slots back. */
    pid_t c = fork();
    if (c == 0) {
        close(ready[0]);
        close(go[1]);
        uint64_t out[6];
        int ctl, thr;
        if (hand_task(&ctl, &thr, out) != 0)
            _exit(50);
        close(thr);
        close(ctl);
        int rc = 0;
        pid_t g = fork();
        if (g == 0) { /* a command the shell forks, and one that command forks */
            int mine = hello_gets_slots(NULL, NULL);
            pid_t gg = fork();
            if (gg == 0)
                _exit(hello_gets_slots(NULL, NULL));
            _exit(mine != 0 ? 52 : b_status(gg) != 0 ? 53 : 0);
        }
        rc = b_status(g);
        unsigned char byte = (unsigned char)rc;
        (void)!write(ready[1], &byte, 1);
        if (wait_byte(go[0]) != 'g')
            _exit(54);
        if (!rc && child_hello_status((uint64_t[2]){0, 0}) != 1)
            rc = 56; /* with a token that is no one's: not a plain hello, the defaults */
        if (!rc && hello_gets_slots(NULL, NULL) != 0) /* C's next image: the slots, once */
            rc = 55;
        _exit(rc);
    }
    MT_REQUIRE(c > 0);
    close(ready[1]);
    close(go[0]);
    MT_EQ(wait_byte(ready[0]), 0);
    MT_EQ(hello_gets_slots(NULL, NULL), 1); /* we are not C's descendant: the defaults */
    pid_t other = fork(); /* nor is our other child */
    if (other == 0)
        _exit(hello_gets_slots(NULL, NULL));
    MT_EQ(b_status(other), 1);
    MT_EQ(write(go[1], "g", 1), 1);
    MT_EQ(b_status(c), 0);
    close(ready[0]);
    close(go[1]);
    MT_EQ(b_world_stop(), 0);
}

int main(int argc, char **argv)
{
    b_self = argv[0];
    if (argc > 2 && strcmp(argv[1], "--role") == 0)
        return b_role_main(argc - 2, argv + 2);
    return mt_run_all(argv[0]);
}
