/*
 * umachd.h — the world daemon's own interface between its files (docs/world.md):
 *
 *   umachd.c   options, the world's directory and socket, main
 *   d_kernel.c the kernel's operations (regions, out-of-line memory discarded)
 *   d_loop.c   the epoll loop: connections, hello and join, task birth and death, the ready
 *              list of woken waiters, deadlines, replies
 *   d_calls.c  the kernel calls: each request checked against its call, um_api_* run for the
 *              connection's task, the out-arguments (and MIG arrays) in the reply
 *   d_lsmp.c   UM_WIRE_LSMP: tasks' port spaces as lsmp text (umach-lsmp, umach_lsmp())
 *   d_kobjects.c  thread and host ports, semaphores, timers (kernel objects in a world)
 *   d_entries.c   memory entries: their memfds, passed in and out
 *   d_msg.c    mach_msg: the per-call context that serves the task's memory operations from
 *              the request, the send and receive, waits as deferred replies, cancels
 *   d_fork.c   what fork and exec pass on: the special-port slots, held in heir records
 *
 * The daemon is one thread; the kernel core's "world lock" is that there is only one.
 */
#ifndef UMACHD_H
#define UMACHD_H

#include "kern/um_kern.h"
#include "kern/um_kmsg.h"
#include "um_backoff.h"
#include "vm/um_xmem.h"
#include "wire/um_ring.h"
#include "wire/um_wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

typedef struct d_daemon d_daemon;
typedef struct d_task d_task;
typedef struct d_conn d_conn;
typedef struct d_msg_call d_msg_call;
typedef struct d_heir d_heir;

/* A thread's receive window, as the daemon keeps it (docs/world.md, "Receive windows"). */
typedef struct d_rwin {
    um_port *port;        /* a reference while active, else NULL */
    mach_port_name_t name;
    mach_msg_option_t option; /* without MACH_RCV_TIMEOUT / MACH_RCV_INTERRUPT */
    mach_msg_size_t rcv_size;
    uint32_t rendered;    /* slots rendered, ever */
    uint32_t applied;     /* claims dequeued, ever */
    uint64_t hash[UM_RING_WIN_SLOTS]; /* of each slot's image as rendered */
} d_rwin;

/*
 * One grant slot of a ring, as the daemon keeps it (the client's copy in the ring is only the
 * client's): credits given and not yet seen come back as posts or by revocation.
 */
typedef struct d_grant {
    um_port *port;        /* a reference while anything is outstanding, else NULL */
    uint32_t name;        /* the client's name for it (a send right when granted) */
    uint32_t outstanding; /* credits given whose posts the daemon has not taken: each one
                             room promised in the port's queue */
    uint32_t rights;      /* of those, how many hold a send right already (made when the
                             grant was revoked, while the client's name still held one) */
    uint32_t target;      /* credits the daemon keeps the client at while the grant lives */
    um_ledger *ledger;    /* the task's queued bytes each credit holds UM_RING_POST_MSG_MAX
                             of (um_post_reserve; a reference while the slot is used) */
    bool active;          /* may be topped up; false: revoked, waiting for posts in flight */
} d_grant;

enum d_conn_kind { D_CONN_NEW = 1, D_CONN_CONTROL, D_CONN_THREAD };

/* A connection: new (its first request decides), a task's control connection, or a thread's. */
struct d_conn {
    int kind;
    int fd;
    pid_t pid; /* SO_PEERCRED at accept */
    uid_t uid;
    gid_t gid;
    bool dead;          /* hung up or ended: closed, freed after the loop's round */
    d_task *task;       /* control: the task it made; thread: the task it joined */
    d_conn *tnext;      /* the task's thread connections */
    d_conn *all_next;   /* every connection (the daemon's list) */
    d_msg_call *pending; /* the mach_msg that waits for a wake or a deadline, or NULL */
    bool ready;         /* on the ready list */
    d_conn *ready_next;
    um_port *thread_port; /* the thread's port (mach_thread_self), or NULL; dies with it */
    uint64_t tid;         /* the thread's kernel thread id its JOIN said (0: none said) */
    /* A guard exception its call raised, for the client to raise to a handler (its reply's
     * UM_WIRE_F_RAISE_GUARD; the first of the call). */
    bool raise;
    bool raise_fatal;
    uint32_t raise_flavor, raise_name;
    uint64_t raise_payload;
    um_ring ring;       /* thread connection: its shared-memory mailbox (base NULL: none) */
    bool ring_reply;    /* the request being served came through the ring: so does its reply */
    bool looking;       /* on the daemon's list of rings to look at before it sleeps */
    d_conn *look_next;
    /* Posted sends (d_post.c): the daemon's own books of the ring's grant slots. */
    d_grant grants[UM_RING_GRANTS];
    d_rwin win;         /* receive window (d_post.c) */
    bool poster;        /* on the daemon's list of rings whose posts (and window) it serves */
    bool post_broken;   /* a post that did not check: nothing more is taken from this ring */
};

/*
 * Per-call context: what the task's memory operations may use while the core runs for one
 * request (docs/world.md, "The per-call context"). The daemon never touches a client's
 * memory: what the core reads comes from ranges the client captured into the request, and
 * what the core gives the task goes into the reply. Out-of-line memory (issue 13 item 6)
 * extends it: captured ranges may carry memfds, and the reply's items may too.
 */
typedef struct d_range {
    uint64_t addr;        /* the client's address of the bytes */
    uint64_t len;
    const uint8_t *bytes; /* NULL: the client could not read it (a fault) */
    int fd;               /* a memfd behind the range, or -1 (out-of-line memory: future) */
} d_range;

enum { D_CTX_RANGES = 4, D_CTX_ITEMS = 4 };

/*
 * Memfds one task's out-of-line copies in flight may hold in the daemon (queued messages'
 * memory; the ledger counts their bytes). umachd raises its descriptor limit to the hard one.
 */
enum { D_TASK_MEMFDS_MAX = 1024 };

typedef struct d_item {
    void *region; /* a kernel region given to the task (attach), NULL once unmapped */
    size_t len;
    uint64_t token; /* the address the task got for it */
} d_item;

typedef struct d_callctx {
    d_range ranges[D_CTX_RANGES]; /* what the request captured of the client's memory */
    unsigned nranges;
    d_item items[D_CTX_ITEMS];    /* what the reply carries for the client to make its own */
    unsigned nitems;
    bool allow_attach;            /* kernel calls: MIG arrays come back in the reply */
    /*
     * mach_msg: the call's out-of-line memory (src/umach/vm/um_xmem.h): what the request's
     * memory part brought (copyin, read), what the reply's carries (copyout, attach, unmap).
     */
    um_xmem_call *xm;
} d_callctx;

/* The address a task gets for the reply's item i (page-aligned, never 0). */
#define D_ITEM_TOKEN(i) ((uint64_t)((i) + 1) << 12)

/* A port task_threads made for a thread of the task that has no connection (it never called
 * Mach): kept until the thread is found gone, or takes it at its first mach_thread_self. */
typedef struct d_made_thread {
    struct d_made_thread *next;
    um_port *port; /* the kernel's receive-right reference */
    uint64_t tid, start;
} d_made_thread;

struct d_task {
    um_task *task;
    d_daemon *d;
    d_conn *control;
    d_conn *threads;      /* its thread connections */
    d_task *next;
    uint64_t secret[2];   /* what a thread connection presents to join */
    unsigned nthreads;    /* thread connections joined (at most D_TASK_THREADS_MAX) */
    d_made_thread *made;  /* ports task_threads made for threads with no connection */
    unsigned nmade;       /* how many (at most task_threads_max too) */
    pid_t pid;
    uid_t uid;            /* its process's uid at hello (SO_PEERCRED): --uid-tasks-max */
    int pidfd;            /* the process, pinned at hello (d_task_pin), or -1 */
    uint32_t flags;       /* UM_WIRE_HELLO_* */
    uint32_t cred_gen;    /* the client's credential generation when last sampled */
    d_callctx *ctx;       /* the context of the call running for it, or NULL */
    d_conn *serving;      /* the thread connection whose request is being served, or NULL */
    bool doomed;          /* a fatal guard: ends once the call is over */
    bool lied;            /* its out-of-line memory did not match its message: ends too */
    um_xmem_owner *xm_owner; /* memfds its copies in flight hold in the daemon, capped */
    uint32_t guard_flavor, guard_name;
    uint64_t guard_payload;
};

/* Most thread connections one task may have (each one a descriptor in the daemon), unless
 * --task-threads-max says otherwise. */
#define D_TASK_THREADS_MAX 4096u

/* Rings that may hold grants at once (each is looked at before every request). */
#define D_POSTERS_MAX 64u
/* Credits one grant keeps its client at, at most. */
#define D_GRANT_MAX 256u

/* Most tasks of one uid at once, unless --uid-tasks-max says otherwise. */
#define D_UID_TASKS_MAX 32768u

struct d_daemon {
    um_kernel kernel;
    uint64_t queued_cap;  /* the most queued bytes any task may ask for (UMACH_QUEUED_BYTES_MAX);
                             --task-queued-max, else set by d_loop_init */
    /* Per-task limits (docs/world.md, "Bad input and limits"); a client may ask for less;
     * 0: the default (d_loop_init). */
    uint32_t task_names_max;   /* names in a task's space (KERN_NO_SPACE beyond) */
    uint32_t task_threads_max; /* thread connections of a task (a join beyond is refused) */
    uint32_t uid_tasks_max;    /* tasks of one uid at once (a hello beyond is refused) */
    um_ledger queued_world;    /* every task's queued bytes against --world-queued-max
                                  (kernel.queued_total; max 0 until d_loop_init) */
    bool accept_paused;        /* out of descriptors: the listening socket rests until one
                                  is freed */
    int listen_fd;
    int epoll_fd;
    d_conn *conns;
    d_task *tasks;
    uint32_t ntasks;
    uint32_t pid_version; /* the audit token's pid version: one per task made */
    uid_t allowed[16];
    unsigned nallowed;
    d_conn *ready_head, *ready_tail; /* connections whose waiter was woken */
    d_msg_call **heap;               /* waiting calls with a deadline, soonest first */
    struct d_timer *timers;          /* armed timers (d_kobjects.c) */
    size_t heap_len, heap_cap;
    um_wire_buf rbuf;                /* where packets are received */
    d_heir *heirs;                   /* special ports passed on by fork and exec (d_fork.c) */
    bool stopping;                   /* the world is stopping: tasks end without heirs */
    uint32_t cpu;                    /* the CPU the loop last woke up on (a hint for rings) */
    d_conn *look_head;               /* rings replied to this round: looked at before sleeping */
    uint64_t spin_ns;                /* how long it polls them when their clients run on
                                        another CPU (UMACH_SPIN_US); 0: never */
    um_backoff spin_backoff;         /* polls to skip after ones that found nothing */
    um_backoff yield_backoff;        /* yields to skip after ones that found nothing */
    d_conn *posters[D_POSTERS_MAX];  /* rings that hold or held grants (d_post.c) */
    unsigned nposters;
    uint32_t active_grants;          /* grants that may be topped up (checked at each reply) */
    uint64_t posts_taken;            /* posted sends taken, ever (UM_WIRE_STATS) */
    uint64_t win_received;           /* messages received through windows, ever (STATS) */
    uint64_t win_mismatch;           /* a claimed message whose receive did not give what the
                                        window showed: never (STATS, for the tests) */
    uint64_t revoked_late;           /* grants or windows found standing on a dead or moved
                                        port before a reply: never, the core's hook came
                                        first (STATS, for the tests) */
    uint64_t revoke_hooks;           /* calls of the core's hook on observed ports (STATS) */
};

/* ---- d_kernel.c ------------------------------------------------------------------------ */
/* The kernel's operations (regions, out-of-line memory discarded) and limits, into d->kernel. */
void d_kernel_init(d_daemon *d);

/* ---- d_loop.c -------------------------------------------------------------------------- */
void d_loop_init(d_daemon *d);
/* Serve until *stop; then end every task. */
void d_loop_run(d_daemon *d, volatile sig_atomic_t *stop, const void *waitmask);
void d_loop_shutdown(d_daemon *d);
/*
 * Serve one decoded request of `c` (consumes `p`): 1 served, -1 the connection is to end (a
 * malformed request, a reply that cannot be sent). What the loop does with each packet
 * um_wire_recv gives it; the fuzz target's way in.
 */
int d_serve(d_daemon *d, d_conn *c, um_wire_pkt *p);
/*
 * `c` sent what does not decode (or d_serve said -1): end it as the loop does, with its task
 * (a control connection's, and a thread connection's since a thread's garbage ends the whole
 * task). Freed at shutdown or after the loop's round.
 */
void d_conn_failed(d_daemon *d, d_conn *c);
/* After a request outside the loop: resume woken waiters, end tasks a fatal guard doomed. */
void d_settle(d_daemon *d);
/* Reply on `c`; false: the client cannot be reached (the caller ends its task). */
bool d_reply(d_conn *c, uint16_t call, uint64_t id, int32_t kr, const uint64_t *args,
             uint32_t nargs, const void *blob, uint32_t blob_len);
/* The same with a memory part: the blob's last xmem_len bytes, and its descriptors. */
bool d_reply_xmem(d_conn *c, uint16_t call, uint64_t id, int32_t kr, const uint64_t *args,
                  uint32_t nargs, const void *blob, uint32_t blob_len, uint32_t xmem_len,
                  const int *fds, uint32_t nfds);
/* Put `c` on the ready list (a waiter of its pending call was woken). */
void d_ready(d_daemon *d, d_conn *c);
/* Deadlines of waiting calls (a binary heap). */
bool d_heap_add(d_daemon *d, d_msg_call *m);
void d_heap_remove(d_daemon *d, d_msg_call *m);

/* ---- d_calls.c ------------------------------------------------------------------------- */
/*
 * Serve one kernel call of `c`'s task (p->h.call is a kernel call). false: the request does
 * not decode (the task ends) or the reply cannot be sent.
 */
bool d_call(d_conn *c, const um_wire_pkt *p);
/* The daemon's memory operations for tasks (served from the current call's context). */
extern const um_task_memops d_memops;
/* Enter / leave the per-call context of `t` (memory operations see it meanwhile). */
void d_ctx_enter(d_task *t, d_callctx *ctx);
void d_ctx_leave(d_task *t, d_callctx *ctx);
/* Free the regions a context still holds (after they were sent, or on failure). */
void d_ctx_release(d_daemon *d, d_callctx *ctx);

/* ---- d_lsmp.c -------------------------------------------------------------------------- */
/* UM_WIRE_LSMP on any connection with a task. false: malformed, or the reply cannot be sent. */
bool d_lsmp(d_daemon *d, d_conn *c, const um_wire_pkt *p);
/* ---- d_kobjects.c ------------------------------------------------------------------------ */
/* Is `call` a kernel-object call (thread, host, semaphore, timer)? */
bool d_kobject_is_call(uint16_t call);
/* Serve one: false when malformed or the reply cannot be sent. */
bool d_kobject_call(d_conn *c, const um_wire_pkt *p);
/* The thread's connection ends: its thread port dies. */
void d_kobject_thread_end(d_conn *c);
/* The task ends: the ports task_threads made for its threads die. */
void d_kobject_task_end(d_task *t);
/* um_task_hooks.threads: task_threads sent by hand to a task's port (its process's threads,
 * /proc/PID/task). */
kern_return_t d_kobject_threads(um_task *task, um_port ***ports, uint32_t *count);
/* Fire the timers that are due; the earliest deadline still armed (0: none). */
uint64_t d_timers_expire(d_daemon *d, uint64_t now);
/* The world ends: its timers and host port go. */
void d_kobjects_shutdown(d_daemon *d);
/* The client's credential generation moved: sample its credentials again (d_loop.c). */
void d_task_recheck_creds(d_task *t, uint32_t gen);

/* ---- d_entries.c ------------------------------------------------------------------------ */
/* Is `call` a memory-entry call? */
bool d_entry_is_call(uint16_t call);
/* Serve one (takes the descriptors it uses out of `p`): false when malformed or the task lied
 * about its memfd, or the reply cannot be sent. */
bool d_entry_call(d_conn *c, um_wire_pkt *p);

/* ---- d_msg.c --------------------------------------------------------------------------- */
/* A mach_msg request. false: malformed (the task ends) or the reply cannot be sent. */
bool d_msg(d_conn *c, um_wire_pkt *p);
/* A woken waiter's call goes on. false: the reply cannot be sent. */
bool d_msg_resume(d_conn *c);
/* The deadline of a waiting call passed. */
bool d_msg_expire(d_conn *c);
/* UM_WIRE_CANCEL for request `id`: a waiting call ends as interrupted. */
bool d_msg_cancel(d_conn *c, uint64_t id);
/* The connection is going away: its waiting call is cancelled without a reply. */
void d_msg_drop(d_conn *c);
/*
 * semaphore_wait / _timedwait / _signal variants: take a signal of `wport` (signalling
 * `sport` first unless NULL), or wait as a deferred reply (d_kobjects.c decoded the call).
 */
bool d_sema_wait(d_conn *c, uint64_t id, um_port *wport, um_port *sport, uint64_t timeout_ns);

enum d_wait_kind { D_WAIT_MSG = 0, D_WAIT_SEMA };

/* ---- d_fork.c -------------------------------------------------------------------------- */
/* Pin the task's process (a pidfd), so that its exec can be told from its exit. */
void d_task_pin(d_task *t);
/* UM_WIRE_FORK on a thread connection: copy the task's slots for the child it is forking
 * (UM_WIRE_FORK_SPAWN: or spawning, its non-task descendants included). */
bool d_fork_prepare(d_conn *c, const um_wire_pkt *p);
/*
 * A new task (hello `p`) takes the slots its parent (fork), the task that spawned the shell
 * it descends from (a spawn), its process's old image (exec) or the task that exec'd the
 * shell it descends from passed on; false: none (the caller gives it the world's defaults).
 */
bool d_heir_claim(d_daemon *d, d_task *t, const um_wire_pkt *p);
/* The task ends: its fork heirs go; if its process lives on (exec), its slots are kept. */
void d_heir_task_end(d_daemon *d, d_task *t);
/* The world stops: every heir goes. */
void d_heirs_free(d_daemon *d);
/* Drop heirs whose process has exited (an heir's pidfd is in epoll, tagged D_EV_HEIR): an
 * exec heir's process, a spawn heir's bound child. */
void d_heirs_sweep(d_daemon *d);
#define D_EV_HEIR 2u /* epoll data: an heir's pidfd (a ring's eventfd is tagged 1) */

struct d_msg_call {
    d_conn *conn;
    uint64_t id;
    int kind;             /* D_WAIT_*: mach_msg, or a semaphore wait */
    um_port *sema_port;   /* D_WAIT_SEMA: the semaphore (a reference while waiting) */
    um_waiter sema_w;
    bool in_send;   /* waiting in the send phase (else the receive phase) */
    bool timed;
    bool no_window; /* UM_WIRE_MSG_NO_WINDOW: its receive opens no window */
    uint64_t deadline_ns;
    size_t heap_index;
    mach_msg_option_t option;
    mach_msg_timeout_t timeout;
    um_msg_send_state s;
    um_msg_rcv_state r;
    um_xmem_call xm; /* its out-of-line memory, both ways */
};

/* ---- d_post.c -------------------------------------------------------------------------- */
/*
 * Posted sends (docs/world.md, "Posted sends"). Take every posted send of every ring, in
 * each ring's order, before anything else is served: true if any was taken.
 */
bool d_post_drain_all(d_daemon *d);
/* Show every window what is queued after what it shows (after woken receivers ran). */
void d_win_fill_all(d_daemon *d);
/* Before the loop sleeps: tell every ring the next post must wake it. false: a post came
   meanwhile (do not sleep). */
bool d_post_may_sleep(d_daemon *d);
/* ... of the grants on `port` (a sender would otherwise find its queue full). */
void d_post_revoke_port(d_daemon *d, um_port *port);
/* Before any reply: grants of a queue kernel-made messages took past its limit are revoked;
   grants and windows standing on a dead or moved port too (never: counted, revoked_late). */
void d_post_check(d_daemon *d);
/* A connection ends: its posts are taken, its grants revoked and their books closed. */
void d_post_conn_end(d_daemon *d, d_conn *c);
/* After a successful simple COPY_SEND of `c` to `name` (`port`): grant credits for more. */
void d_post_grant(d_daemon *d, d_conn *c, mach_port_name_t name, um_port *port);
/* A synchronous send of `charge` bytes by the task of `ledger` is about to be checked against
   the caps: if it would not fit while posts hold promised bytes, the promises go back first. */
void d_post_make_room(d_daemon *d, const um_ledger *ledger, uint64_t charge);
/* Whether a message header (bits, local and voucher names) and size may be posted. */
bool d_post_eligible_header(const mach_msg_header_t *h, uint32_t size);
/* Before a receive of any connection on `port`: windows on it are taken back first. */
void d_win_revoke_port(d_daemon *d, um_port *port);
/* After `c`'s receive on `name` with `option` and `rcv_size` succeeded: open its window. */
void d_win_open(d_daemon *d, d_conn *c, mach_port_name_t name, mach_msg_option_t option,
                mach_msg_size_t rcv_size);

#endif
