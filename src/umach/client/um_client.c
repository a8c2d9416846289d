/*
 * um_client.c — the client front end's connections (docs/world.md, "The client front end").
 *
 * At library start, UMACH_WORLD set: the process connects to the world's socket and says
 * hello; that connection (the control connection, close-on-exec) is its task, and its
 * hang-up (exit, crash, kill, exec) ends the task. Each thread that makes a call opens a
 * thread connection of its own on first use and joins the task with the secret from the
 * hello (the daemon also checks, with SO_PEERCRED, that it comes from the same process). A
 * call is one request and its reply on the thread's connection, so a thread blocked in
 * mach_msg is only a reply that has not come yet, and other threads go on. A thread's
 * connection is closed when the thread exits (a TLS destructor): the daemon cancels whatever
 * it waited for.
 *
 * If the world goes away, every call fails (never hangs, never SIGPIPE): the caller turns
 * that into MACH_SEND_INVALID_DEST or MACH_RCV_PORT_DIED.
 *
 * fork: the child never uses its parent's connections. A pthread_atfork child handler closes
 * them all (without a word on them: the parent's task is the parent's) and joins the world as
 * a new task at once. As on Darwin the child inherits its parent's special-port slots
 * (TASK_BOOTSTRAP_PORT and the others), as they were when fork() was called: the prepare
 * handler asks the daemon to keep them (UM_WIRE_FORK, a token), and the child's hello
 * presents the token; the daemon hands them over only if the kernel says the new peer is the
 * parent's child (tools/umachd/d_fork.c). exec needs nothing here: the control connection is
 * close-on-exec, and the daemon passes the slots on to the new image's hello. posix_spawn and
 * vfork run no fork handlers: um_client_spawn.c passes the token through the child's
 * environment, which um_client_init takes before anything else.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "um_client.h"
#include "../embedded/um_embedded.h"
#include "../embedded/um_exc.h"
#include "../embedded/um_suspend.h"
#include "../api/um_api.h"
#include "../api/um_mig.h"
#include "um_client_conn.h"
#include "../um_env.h"
#include "../wire/um_ring.h"
#include "../um_backoff.h"

#include <mach/mach_init.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int um_client_world;

enum cl_state { CL_NEED_JOIN = 0, CL_JOINED, CL_GONE };

/* A thread's connection. On the list of all of them, so that a forked child can close them. */
typedef struct cl_thread {
    int fd;         /* -1: not connected */
    um_ring ring;   /* the connection's shared-memory mailbox (base NULL: the socket only) */
    uint64_t next_id;
    struct cl_thread *next, *prev;
    um_wire_buf buf; /* where replies are received */
} cl_thread;

static pthread_mutex_t cl_lock = PTHREAD_MUTEX_INITIALIZER; /* guards everything below */
static struct sockaddr_un cl_addr;
static int cl_state;
static int cl_ctl = -1;          /* the control connection */
static uint64_t cl_secret[2];
static uint32_t cl_generation;   /* advanced when the task changes (fork): older thread
                                    connections are not this task's */
static cl_thread *cl_threads;
static pthread_key_t cl_key;
static uint64_t cl_fork_token[2]; /* from UM_WIRE_FORK in the prepare handler */
static bool cl_fork_pending;      /* a forked child that is to present cl_fork_token */

static _Thread_local cl_thread *cl_me;
static _Thread_local uint32_t cl_me_generation;

/*
 * Signal handlers (docs/world.md, "Signal handlers"). A thread's ring and its connection serve
 * one thing at a time, so a Mach call made by a signal handler must not touch what the
 * interrupted code of the same thread is in the middle of. Two thread-local marks say what
 * that is, set and cleared with plain stores (no system call on the way of a message):
 *   cl_in_ring  a post into the post ring or a claim from the receive window is under way;
 *   cl_calls    calls of this thread whose request or reply is in use: from the first
 *               call's start (its connection opened under cl_lock, its request in the
 *               mailbox or on the socket) until its caller freed the reply
 *               (um_client_reply_free).
 * A call made while either is set (by a handler) neither posts nor claims, and goes to umachd
 * on a connection of its own, opened for that call alone (cl_nested_roundtrip): the thread's
 * own connection may have a request outstanding, and a request on it could change the window
 * under a claim. Handlers nest strictly (the interrupted code resumes only when the handler
 * returns), so a count and a stack of buffers are enough.
 */
enum { CL_NESTED_MAX = 4 }; /* handlers interrupting handlers' calls, deeper ones fail */
static _Thread_local volatile sig_atomic_t cl_in_ring;
static _Thread_local volatile sig_atomic_t cl_calls;
static _Thread_local um_wire_buf *cl_nested_buf[CL_NESTED_MAX]; /* [k]: call k+1's, if its own */

/*
 * A new connection to the world. connect() waits while the world's backlog is full (a busy,
 * slow or stopped umachd) and fails with EINTR when a signal handler without SA_RESTART runs
 * meanwhile, the connection not made: it is tried again on a fresh socket, as a restarted
 * call would be (a thread's first call failed with MACH_SEND_INVALID_DEST).
 */
static int cl_connect(void)
{
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&cl_addr, sizeof cl_addr) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != EINTR) {
            errno = e;
            return -1;
        }
    }
}

/*
 * One request and its reply on a fresh connection (the hello, a join): `call` with `nargs`
 * arguments, the reply read into `rep` through `buf` (inline), with up to `max_fds`
 * descriptors beside it into `fds` (*nfds of them). Allocates nothing (a signal handler's
 * join comes here). Returns KERN_SUCCESS with the reply in *rep (um_wire_pkt_free it) and its
 * descriptors the caller's; else the daemon's error, or KERN_FAILURE when no reply to `call`
 * came, with nothing left to free or close.
 */
static kern_return_t cl_setup_call(int fd, uint16_t call, const uint64_t *args, uint32_t nargs,
                                   um_wire_buf *buf, um_wire_pkt *rep, int *fds,
                                   unsigned max_fds, unsigned *nfds)
{
    *nfds = 0;
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = call;
    h.nargs = nargs;
    if (um_wire_send(fd, &h, args, NULL) != 0 ||
        um_wire_recv_fds(fd, buf, rep, fds, max_fds, nfds) != 1)
        return KERN_FAILURE;
    kern_return_t kr = rep->h.call == call ? rep->h.kr : KERN_FAILURE;
    if (kr != KERN_SUCCESS) {
        for (unsigned i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        um_wire_pkt_free(rep);
    }
    return kr;
}

/* The world refused us a task (umachd --uid-tasks-max): said once, here. */
static bool cl_refused;

static void cl_say_refused(void)
{
    char line[256 + sizeof cl_addr.sun_path];
    int n = snprintf(line, sizeof line,
                     "umach: the world at %s refused this process a task: its uid has as many "
                     "tasks as the world allows (umachd --uid-tasks-max); Mach calls will fail\n",
                     cl_addr.sun_path);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/*
 * cl_lock around code that reaches a cancellation point (connect, recvmsg, close): a thread
 * cancelled there would unwind with the lock held, and its exit handler (cl_thread_exit) and
 * every other thread's first call would then wait for it forever. Cancellation is held off
 * for the section and acted on at the caller's next cancellation point.
 */
/*
 * The calling thread holds cl_lock: a fault it takes meanwhile is not raised as an exception
 * (the exception worker may need the lock for its connection), see um_exc_signal.c.
 */
static _Thread_local volatile sig_atomic_t cl_lock_held;

bool um_client_lock_mine(void)
{
    return cl_lock_held != 0;
}

static void cl_mutex_lock(void)
{
    cl_lock_held = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_lock(&cl_lock);
}

/* Released before the mark is cleared, as the world lock (um_world.c): a suspension taken
 * in between is owed, and paid once the mark is gone. */
static void cl_mutex_unlock(void)
{
    pthread_mutex_unlock(&cl_lock);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cl_lock_held = 0;
    if (um_suspend_owed)
        um_suspend_stop_owed();
}

static int cl_lock_nocancel(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    cl_mutex_lock();
    return old;
}

static void cl_unlock_nocancel(int old)
{
    cl_mutex_unlock();
    (void)pthread_setcancelstate(old, NULL);
}

/*
 * Become a new task of the world (at start, and in a forked child at once): the hello names
 * the task's port and its bootstrap port. A forked or spawned child presents its parent's
 * fork token (cl_fork_pending), so that the daemon gives it the parent's special ports.
 * Conditions: cl_lock held.
 */
static bool cl_join_world(void)
{
    static um_wire_buf buf; /* guarded by cl_lock */
    int fd = cl_connect();
    if (fd < 0)
        return false;
    uint64_t args[5] = {
        (um_env_flag("UMACH_GUARD_NONFATAL") ? UM_WIRE_HELLO_GUARD_NONFATAL : 0) |
            (um_env_flag("UMACH_GUARD_LOG") ? UM_WIRE_HELLO_GUARD_LOG : 0) |
            (cl_fork_pending ? UM_WIRE_HELLO_FORKED : 0),
        um_env_number("UMACH_PORT_TABLE_MAX", false),
        um_env_number("UMACH_QUEUED_BYTES_MAX", true), cl_fork_token[0], cl_fork_token[1]};
    uint32_t nargs = cl_fork_pending ? 5 : 3;
    cl_fork_pending = false; /* one try: the token is the daemon's for one child */
    um_wire_pkt rep;
    unsigned nfds;
    kern_return_t kr = cl_setup_call(fd, UM_WIRE_HELLO, args, nargs, &buf, &rep, NULL, 0, &nfds);
    if (kr != KERN_SUCCESS) {
        close(fd);
        if (kr == KERN_RESOURCE_SHORTAGE && !cl_refused) {
            cl_refused = true;
            cl_say_refused();
        }
        return false;
    }
    bool ok = rep.h.nargs >= 6 && rep.args[0] == UM_WIRE_VERSION;
    if (ok) {
        mach_task_self_ = (mach_port_t)rep.args[1];
        cl_secret[0] = rep.args[3];
        cl_secret[1] = rep.args[4];
        bootstrap_port = (mach_port_t)rep.args[5];
        cl_ctl = fd;
    } else {
        close(fd);
    }
    um_wire_pkt_free(&rep);
    return ok;
}

/*
 * The thread exits: say so and wait for the answer (its thread port is dead before
 * pthread_join returns, as in embedded mode; whatever it waited for is dropped), then close.
 */
static void cl_thread_exit(void *p)
{
    cl_thread *t = p;
    if (t->fd >= 0) {
        um_wire_hdr h;
        memset(&h, 0, sizeof h);
        h.call = UM_WIRE_BYE;
        h.id = ++t->next_id;
        if (um_wire_send(t->fd, &h, NULL, NULL) == 0) {
            um_wire_pkt rep;
            for (;;) { /* a reply to a cancelled wait may come first */
                int rc = um_wire_recv(t->fd, &t->buf, &rep, UM_WIRE_BLOB_MAX, 0);
                if (rc == -EINTR)
                    continue;
                if (rc != 1)
                    break;
                bool bye = rep.h.call == UM_WIRE_BYE && rep.h.id == h.id;
                um_wire_pkt_free(&rep);
                if (bye)
                    break;
            }
        }
    }
    int cancel_state = cl_lock_nocancel();
    um_ring_unmap(&t->ring);
    if (t->fd >= 0)
        close(t->fd); /* the daemon cancels what the thread waited for */
    if (t->prev)
        t->prev->next = t->next;
    else if (cl_threads == t)
        cl_threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    cl_unlock_nocancel(cancel_state);
    if (cl_me == t)
        cl_me = NULL;
    free(t);
}

bool um_client_fork_token(uint64_t token[2], bool spawn)
{
    cl_mutex_lock();
    bool joined = cl_state == CL_JOINED;
    cl_mutex_unlock();
    bool have = false;
    if (joined) {
        um_wire_pkt rep;
        uint64_t flags = UM_WIRE_FORK_SPAWN;
        if (um_client_roundtrip(UM_WIRE_FORK, spawn ? &flags : NULL, spawn ? 1 : 0, NULL, 0, &rep,
                                false) == CL_RT_OK) {
            have = rep.h.kr == KERN_SUCCESS && rep.h.nargs == 2;
            if (have) {
                token[0] = rep.args[0];
                token[1] = rep.args[1];
            }
            um_client_reply_free(&rep);
        }
    }
    return have;
}

/*
 * Before fork(): ask the daemon to keep this task's special-port slots for the child, as they
 * are now (without a world, or if that fails, the child joins as a task of its own).
 */
static void cl_atfork_prepare(void)
{
    uint64_t token[2] = {0, 0};
    bool have = um_client_fork_token(token, false);
    cl_mutex_lock();
    cl_fork_token[0] = token[0];
    cl_fork_token[1] = token[1];
    cl_fork_pending = have;
}

static void cl_atfork_parent(void)
{
    cl_fork_pending = false;
    cl_mutex_unlock();
}

/* The child is a new task: none of the parent's connections is used, and none is told. */
static void cl_atfork_child(void)
{
    for (cl_thread *t = cl_threads, *next; t; t = next) {
        next = t->next;
        um_ring_unmap(&t->ring); /* the parent's ring: never written by the child */
        if (t->fd >= 0)
            close(t->fd);
        t->fd = -1;
        if (t != cl_me)
            free(t); /* its thread does not exist in the child */
    }
    cl_threads = cl_me;
    if (cl_me)
        cl_me->next = cl_me->prev = NULL;
    if (cl_ctl >= 0)
        close(cl_ctl);
    cl_ctl = -1;
    if (cl_state == CL_JOINED)
        cl_state = CL_NEED_JOIN;
    cl_generation++;
    /* A new task now, with the slots the parent kept for it (a later call would be too late:
     * the parent may be gone, and then the daemon cannot tell that we are its child). */
    if (cl_state == CL_NEED_JOIN && cl_fork_pending)
        cl_state = cl_join_world() ? CL_JOINED : CL_NEED_JOIN;
    cl_mutex_unlock();
    um_mig_fork_child();
}

bool um_client_init(void)
{
    const char *path = getenv("UMACH_WORLD");
    if (!path || !*path)
        return false;
    um_client_world = 1;
    um_embedded_memory_init(); /* the fault-safe copies of message buffers */
    cl_addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof cl_addr.sun_path) {
        fprintf(stderr, "umach: UMACH_WORLD=%s: socket path too long; Mach calls will fail\n",
                path);
        cl_state = CL_GONE;
        return true;
    }
    strcpy(cl_addr.sun_path, path);
    if (pthread_key_create(&cl_key, cl_thread_exit) != 0) {
        /* Without it no thread could say at its exit that its connection ends. */
        fprintf(stderr, "umach: UMACH_WORLD=%s: no thread-specific key left; Mach calls will "
                        "fail\n", path);
        cl_state = CL_GONE;
        return true;
    }
    pthread_atfork(cl_atfork_prepare, cl_atfork_parent, cl_atfork_child);
    cl_mutex_lock();
    /* Started by posix_spawn (or vfork) from a task: present the token it left us. */
    cl_fork_pending = um_spawn_token_take(cl_fork_token);
    if (!cl_join_world()) {
        cl_state = CL_GONE;
        if (!cl_refused)
            fprintf(stderr, "umach: cannot join the world at %s: %s; Mach calls will fail\n",
                    path, strerror(errno));
    } else {
        cl_state = CL_JOINED;
    }
    cl_mutex_unlock();
    return true;
}

/*
 * Join connection `fd` to the task, its replies read into `buf`. `ring_out`, when not NULL, asks
 * for a ring there (UMACH_WORLD_RING=0: the socket only); a daemon that gives none leaves the
 * connection on the socket alone. NULL (a signal handler's connection, cl_nested_roundtrip)
 * asks for none and reads no environment. The daemon's answer: KERN_SUCCESS,
 * KERN_RESOURCE_SHORTAGE (the task has as many thread connections as the world allows), or
 * KERN_FAILURE when there is none.
 */
static kern_return_t cl_conn_join(int fd, um_wire_buf *buf, um_ring *ring_out)
{
    bool want_ring = false;
    if (ring_out) {
        want_ring = !um_env_off("UMACH_WORLD_RING");
    }
    /* A thread's own connection says which thread it is (its port for an exception raised
     * on its behalf, um_client_thread_of); a signal handler's connection does not. */
    uint64_t args[4] = {cl_secret[0], cl_secret[1], want_ring ? UM_WIRE_JOIN_RING : 0,
                        ring_out ? (uint64_t)syscall(SYS_gettid) : 0};
    um_wire_pkt rep;
    int fds[UM_WIRE_MAX_FDS];
    unsigned nfds;
    kern_return_t kr =
        cl_setup_call(fd, UM_WIRE_JOIN, args, ring_out ? 4 : 3, buf, &rep, fds, UM_WIRE_MAX_FDS, &nfds);
    if (kr != KERN_SUCCESS)
        return kr == KERN_RESOURCE_SHORTAGE ? kr : KERN_FAILURE;
    if (want_ring && (rep.h.flags & UM_WIRE_F_RING) && nfds == 2) {
        if (um_ring_attach(ring_out, fds[0], fds[1]) != 0)
            *ring_out = (um_ring){.base = NULL, .evfd = -1}; /* both closed: the socket alone */
    } else {
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]);
    }
    um_wire_pkt_free(&rep);
    return KERN_SUCCESS;
}

/*
 * The calling thread's connection, opened and joined on first use; NULL with *why: no world
 * (CL_RT_SEND_FAILED), or the task has all the thread connections the world allows
 * (CL_RT_NO_THREAD: this thread's next call tries again).
 */
static cl_thread *cl_thread_conn(enum cl_rt *why)
{
    cl_thread *t = cl_me;
    if (t && t->fd >= 0 && cl_me_generation == __atomic_load_n(&cl_generation, __ATOMIC_ACQUIRE))
        return t;
    *why = CL_RT_SEND_FAILED;
    int cancel_state = cl_lock_nocancel();
    if (cl_state == CL_NEED_JOIN)
        cl_state = cl_join_world() ? CL_JOINED : CL_GONE;
    if (cl_state != CL_JOINED) {
        cl_unlock_nocancel(cancel_state);
        return NULL;
    }
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) {
            cl_unlock_nocancel(cancel_state);
            return NULL;
        }
        t->fd = -1;
        t->ring.evfd = -1;
        t->next = cl_threads;
        if (cl_threads)
            cl_threads->prev = t;
        cl_threads = t;
        cl_me = t;
        (void)pthread_setspecific(cl_key, t);
    }
    um_ring_unmap(&t->ring);
    if (t->fd >= 0)
        close(t->fd); /* a connection of an older task (before a fork) */
    t->fd = cl_connect();
    kern_return_t jr = t->fd >= 0 ? cl_conn_join(t->fd, &t->buf, &t->ring) : KERN_FAILURE;
    if (t->fd >= 0 && jr != KERN_SUCCESS) {
        um_ring_unmap(&t->ring);
        close(t->fd);
        t->fd = -1;
        if (jr == KERN_RESOURCE_SHORTAGE)
            *why = CL_RT_NO_THREAD;
    }
    cl_me_generation = cl_generation;
    cl_unlock_nocancel(cancel_state);
    return t->fd >= 0 ? t : NULL;
}

/* A fatal guard exception ended the task: die as embedded mode does (EXC_GUARD on Darwin). */
static _Noreturn void cl_fatal_guard(const um_wire_hdr *h)
{
    fprintf(stderr,
            "umach: fatal Mach port guard exception on port 0x%x: %s (flavor %u, "
            "payload 0x%llx); aborting like EXC_GUARD on Darwin "
            "(UMACH_GUARD_NONFATAL=1 returns the error instead)\n",
            h->guard_name, um_guard_flavor_name(h->guard_flavor), h->guard_flavor,
            (unsigned long long)h->guard_payload);
    fflush(stderr);
    abort();
}

/* The thread's connection failed: close it (the next call opens a new one, or finds none). */
static void cl_thread_drop(cl_thread *t)
{
    int cancel_state = cl_lock_nocancel();
    um_ring_unmap(&t->ring);
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    cl_unlock_nocancel(cancel_state);
}

/*
 * A reply (from the ring or the socket) to request `h`: CL_RT_OK, or CL_RT_REPLY_FAILED with
 * `rep` freed when it answers another request (the connection is out of step: the caller
 * drops it). A reply that says a fatal guard exception ended the task ends the process here.
 */
static enum cl_rt cl_reply_check(const um_wire_hdr *h, um_wire_pkt *rep)
{
    if (rep->h.id != h->id || rep->h.call != h->call) {
        um_wire_pkt_free(rep);
        return CL_RT_REPLY_FAILED;
    }
    if (rep->h.flags & UM_WIRE_F_FATAL_GUARD)
        cl_fatal_guard(&rep->h);
    if (rep->h.flags & UM_WIRE_F_RAISE_GUARD)
        um_exc_pend_guard(rep->h.guard_name, rep->h.guard_payload, rep->h.guard_flavor,
                          (rep->h.flags & UM_WIRE_F_RAISE_FATAL) != 0);
    return CL_RT_OK;
}

/* ---- posted sends ------------------------------------------------------------------------ */

/* The credential generation the daemon last heard from this thread (valid once set). */
static _Thread_local unsigned cl_post_gen;
static _Thread_local bool cl_post_gen_valid;

void um_client_note_cred_generation(unsigned gen)
{
    cl_post_gen = gen;
    cl_post_gen_valid = true;
}

/* The switches, for comparison (docs/world.md, "Switching them off"): -1 not read yet. */
static int cl_post_off = -1; /* UMACH_WORLD_POST=0: neither posted sends nor windows */
static int cl_win_off = -1;  /* UMACH_WORLD_WINDOWS=0: no windows */

/* um_env_off(name), read once into *cache. */
static bool cl_switched_off(int *cache, const char *name)
{
    int off = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (off < 0) {
        off = um_env_off(name);
        __atomic_store_n(cache, off, __ATOMIC_RELAXED);
    }
    return off > 0;
}

bool um_client_posts_on(void)
{
    return !cl_switched_off(&cl_post_off, "UMACH_WORLD_POST");
}

bool um_client_windows_on(void)
{
    return um_client_posts_on() && !cl_switched_off(&cl_win_off, "UMACH_WORLD_WINDOWS");
}

/*
 * The calling thread, when a post or a window claim may use its ring now: its connection is
 * open, has a ring and is of the current task, and no post, claim or call of this thread is
 * under way (a signal handler's, cl_in_ring / cl_calls, goes the usual way). NULL otherwise.
 */
static cl_thread *cl_ring_thread(void)
{
    cl_thread *t = cl_me;
    if (!t || t->fd < 0 || !t->ring.base ||
        cl_me_generation != __atomic_load_n(&cl_generation, __ATOMIC_ACQUIRE) || cl_in_ring ||
        cl_calls)
        return NULL;
    return t;
}

bool um_client_post(mach_port_name_t name, const void *msg, uint32_t len)
{
    if (!um_client_posts_on())
        return false;
    cl_thread *t = cl_ring_thread();
    if (!t)
        return false;
    /*
     * The daemon labels a post with the tokens it last read for the task, which it re-reads
     * only when a request says the generation moved. So a post is made only while no
     * credential change is under way and none happened since this thread's last request said
     * which generation it saw: otherwise the send goes to the daemon, and says so.
     */
    if (!cl_post_gen_valid || um_embedded_cred_changing() ||
        um_embedded_cred_generation() != cl_post_gen)
        return false;
    cl_in_ring = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    bool posted = um_ring_post_msg(&t->ring, name, msg, len);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cl_in_ring = 0;
    return posted;
}

static bool cl_win_write(uint64_t addr, const void *bytes, size_t len)
{
    return um_embedded_memops.msg_write(NULL, addr, bytes, len);
}

int um_client_win_receive(mach_port_name_t name, mach_msg_option_t option,
                          mach_msg_size_t rcv_size, uint64_t buf)
{
    if (!um_client_windows_on())
        return 0;
    cl_thread *t = cl_ring_thread();
    if (!t)
        return 0;
    cl_in_ring = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    int rc = um_ring_win_receive(&t->ring, name, (uint32_t)option, rcv_size, cl_win_write, buf);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cl_in_ring = 0;
    return rc;
}

/* ---- spinning before sleeping on the ring ------------------------------------------------- */

static _Thread_local um_backoff cl_spin_backoff; /* waits to skip, spins in a row without */

/*
 * Poll the ring for the reply before sleeping, only when the daemon last ran on another CPU
 * than this thread (on the daemon's CPU a spin only holds the daemon up: docs/world.md). A
 * spin that ends without the reply makes the thread skip the next 1, 3, 7 ... 255 spins, as
 * embedded mode's waiters do.
 */
static void cl_ring_spin(const um_ring *r)
{
    uint64_t budget = um_ring_spin_ns();
    if (budget == 0 || um_ring_has_reply(r))
        return;
    uint32_t dcpu = um_ring_daemon_cpu(r);
    int me = sched_getcpu();
    if (dcpu == UINT32_MAX || me < 0 || (uint32_t)me == dcpu)
        return;
    if (um_backoff_skips(&cl_spin_backoff))
        return;
    uint64_t until = um_now_ns() + budget;
    for (unsigned k = 1;; k++) {
        um_cpu_pause();
        if (um_ring_has_reply(r)) {
            um_backoff_found(&cl_spin_backoff, true);
            return;
        }
        if ((k & 31) == 0 && um_now_ns() >= until)
            break;
    }
    um_backoff_found(&cl_spin_backoff, false);
}

/* One round trip through the thread's ring (a non-interruptible call that fits in it). */
static enum cl_rt cl_ring_roundtrip(cl_thread *t, um_wire_hdr *h, const uint64_t *args,
                                    const void *blob, um_wire_pkt *rep)
{
    um_ring_put(um_ring_req_area(&t->ring), h, args, blob);
    if (!um_ring_post(&t->ring)) {
        cl_thread_drop(t);
        return CL_RT_SEND_FAILED;
    }
    cl_ring_spin(&t->ring);
    int how = um_ring_wait(&t->ring, t->fd);
    int rc;
    if (how == UM_RING_REP) {
        /* The daemon is trusted, but the reply is copied out all the same, as checked. */
        rc = um_ring_take(um_ring_rep_area(&t->ring), &t->buf, rep, UM_WIRE_BLOB_MAX);
    } else if (how == UM_RING_SOCK) {
        do
            rc = um_wire_recv(t->fd, &t->buf, rep, UM_WIRE_BLOB_MAX, 0);
        while (rc == -EINTR || rc == -EAGAIN);
    } else {
        rc = -EPIPE;
    }
    enum cl_rt rt = rc == 1 ? cl_reply_check(h, rep) : CL_RT_REPLY_FAILED;
    if (rt != CL_RT_OK)
        cl_thread_drop(t);
    return rt;
}

enum cl_rt um_client_roundtrip(uint16_t call, const uint64_t *args, uint32_t nargs,
                               const void *blob, uint32_t blob_len, um_wire_pkt *rep,
                               bool interruptible)
{
    return um_client_roundtrip_xmem(call, args, nargs, blob, blob_len, 0, NULL, 0, rep,
                                    interruptible);
}

/*
 * Send request `h` on socket `fd` and wait for its reply in `buf`. `interruptible`: a signal
 * handler that runs while waiting makes the request cancelled (UM_WIRE_CANCEL); the reply then
 * says how it ended. The caller drops the connection on anything but CL_RT_OK.
 */
static enum cl_rt cl_socket_roundtrip(int fd, um_wire_buf *buf, um_wire_hdr *h,
                                      const uint64_t *args, const void *blob, uint32_t xmem_len,
                                      const int *fds, uint32_t nfds, um_wire_pkt *rep,
                                      bool interruptible)
{
    if (um_wire_send_xmem(fd, h, args, blob, xmem_len, fds, nfds) != 0)
        return CL_RT_SEND_FAILED;
    bool cancelled = false;
    for (;;) {
        if (interruptible && !cancelled) {
            /* poll() returns EINTR after a handler ran, whatever SA_RESTART says. */
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            sig_atomic_t mark = um_suspend_runs;
            if (poll(&pfd, 1, -1) < 0) {
                if (errno != EINTR)
                    break;
                if (um_suspend_interrupted_only(mark))
                    continue; /* a suspension ends no wait */
                um_wire_hdr c;
                memset(&c, 0, sizeof c);
                c.call = UM_WIRE_CANCEL;
                c.id = h->id;
                if (um_wire_send(fd, &c, NULL, NULL) != 0)
                    break;
                cancelled = true;
                continue;
            }
        }
        int rc = um_wire_recv(fd, buf, rep, UM_WIRE_BLOB_MAX, 0);
        if (rc == -EINTR || rc == -EAGAIN)
            continue;
        if (rc == 1)
            return cl_reply_check(h, rep);
        break;
    }
    return CL_RT_REPLY_FAILED;
}

/* A call on the calling thread's own connection (through its ring when the call fits). */
static enum cl_rt cl_own_roundtrip(um_wire_hdr *h, const uint64_t *args, const void *blob,
                                   uint32_t xmem_len, const int *fds, uint32_t nfds,
                                   um_wire_pkt *rep, bool interruptible)
{
    enum cl_rt why = CL_RT_SEND_FAILED;
    cl_thread *t = cl_thread_conn(&why);
    if (!t)
        return why;
    h->id = ++t->next_id;
    /* Descriptors (a memory part's memfds) travel on the socket only. */
    if (t->ring.base && !interruptible && !nfds && um_ring_fits(h->nargs, h->blob_len))
        return cl_ring_roundtrip(t, h, args, blob, rep);
    enum cl_rt rt =
        cl_socket_roundtrip(t->fd, &t->buf, h, args, blob, xmem_len, fds, nfds, rep, interruptible);
    if (rt != CL_RT_OK)
        cl_thread_drop(t);
    return rt;
}

/*
 * A call made while this thread is in the middle of another call, a post or a window claim
 * (a signal handler's: cl_calls, cl_in_ring): on a thread connection of its own, opened,
 * joined (cl_conn_join, without a ring) and closed for this call alone, with a buffer of its
 * own kept until um_client_reply_free. Nothing here takes a lock or allocates from the heap,
 * and the thread's own connection and ring are not touched.
 */
static enum cl_rt cl_nested_roundtrip(um_wire_hdr *h, const uint64_t *args, const void *blob,
                                      uint32_t xmem_len, const int *fds, uint32_t nfds,
                                      um_wire_pkt *rep, bool interruptible)
{
    int depth = cl_calls;
    if (depth >= CL_NESTED_MAX)
        return CL_RT_NO_THREAD; /* handlers of handlers' calls, too deep: a resource shortage */
    if (cl_state != CL_JOINED)
        return CL_RT_SEND_FAILED;
    void *mem = mmap(NULL, sizeof(um_wire_buf), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return CL_RT_NO_THREAD;
    um_wire_buf *buf = mem;
    enum cl_rt rt = CL_RT_SEND_FAILED;
    int fd = cl_connect();
    if (fd >= 0) {
        kern_return_t jr = cl_conn_join(fd, buf, NULL);
        h->id = 1;
        if (jr == KERN_SUCCESS)
            rt = cl_socket_roundtrip(fd, buf, h, args, blob, xmem_len, fds, nfds, rep,
                                     interruptible);
        else if (jr == KERN_RESOURCE_SHORTAGE)
            rt = CL_RT_NO_THREAD;
        close(fd); /* the daemon ends this connection; the reply is ours */
    }
    if (rt != CL_RT_OK) {
        munmap(mem, sizeof(um_wire_buf));
        return rt;
    }
    cl_nested_buf[depth] = buf;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cl_calls = depth + 1;
    return CL_RT_OK;
}

enum cl_rt um_client_roundtrip_xmem(uint16_t call, const uint64_t *args, uint32_t nargs,
                                    const void *blob, uint32_t blob_len, uint32_t xmem_len,
                                    const int *fds, uint32_t nfds, um_wire_pkt *rep,
                                    bool interruptible)
{
    /* Empty until a reply fills it: every ending may um_client_reply_free it. */
    memset(&rep->h, 0, sizeof rep->h);
    rep->blob = NULL;
    rep->blob_heap = false;
    rep->nfds = 0;
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = call;
    h.nargs = nargs;
    h.blob_len = blob_len;
    if (xmem_len) {
        h.flags |= UM_WIRE_F_XMEM; /* also for the ring (um_wire_send_xmem sets it too) */
        h.xmem_len = xmem_len;
    }
    enum cl_rt rt;
    if (cl_calls || cl_in_ring) {
        rt = cl_nested_roundtrip(&h, args, blob, xmem_len, fds, nfds, rep, interruptible);
    } else {
        cl_calls = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        rt = cl_own_roundtrip(&h, args, blob, xmem_len, fds, nfds, rep, interruptible);
        if (rt != CL_RT_OK) {
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            cl_calls = 0;
        }
    }
    if (rt != CL_RT_OK)
        rep->h.magic = 0; /* holds nothing: um_client_reply_free only frees */
    return rt;
}

void um_client_reply_free(um_wire_pkt *rep)
{
    bool held = rep->h.magic == UM_WIRE_MAGIC;
    rep->h.magic = 0;
    um_wire_pkt_free(rep);
    if (!held)
        return;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    int n = cl_calls;
    if (n > 0 && n <= CL_NESTED_MAX && cl_nested_buf[n - 1]) {
        munmap(cl_nested_buf[n - 1], sizeof(um_wire_buf));
        cl_nested_buf[n - 1] = NULL;
    }
    if (n > 0)
        cl_calls = n - 1;
}
