/*
 * um_kern.h — umach's kernel core: ports, port sets, the name space and rights.
 *
 * The core is a state machine over one kernel (um_kernel) and its tasks (um_task). Every
 * function here runs with the world lock held (the front end's: the core has no lock) unless
 * its comment says otherwise, reads no global, and never sleeps: an operation that cannot
 * complete registers a waiter and the front end decides how to wait.
 *
 * Reference counting: an object (port or port set) is freed when its reference count drops
 * to zero. References are held by name-table entries (one per entry naming the object), by
 * naked rights in flight (one per right carried by a message or held by a function between
 * copyin and copyout), by notification requests, and by port-set membership links.
 *
 * Rights accounting follows XNU: `srights` counts send rights (one per entry that holds a
 * send right, however many user references it has, plus one per naked send right), and
 * `sorights` counts send-once rights (every send-once right is its own entry or naked right).
 */
#ifndef UM_KERN_H
#define UM_KERN_H

#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/port.h>
#include <mach/kern_return.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The functions of one simple message's path (mach_msg to um_msg_send and um_msg_receive and
 * what they call per message) are inlined into the front end's mach_msg: their files are
 * compiled as one translation unit (the library's `hot` unity group, CMakeLists.txt), and
 * UM_HOT on a definition there inlines it into its callers of that unit, whatever the
 * compiler's size heuristics say (it still has one external copy for the other files). On
 * static inline helpers of the same path UM_HOT_STATIC does the same. The calls were about a
 * sixth of a message's instructions (docs/umach-internals.md "Performance").
 */
#if defined(__clang__)
/* clang takes the attribute alone (with `inline` it objects to the statics the bodies use) */
#define UM_HOT __attribute__((always_inline))
#else
/* gcc wants `inline` with it; the header's declaration keeps the definition external */
#define UM_HOT __attribute__((always_inline)) inline
#endif
#define UM_HOT_STATIC static inline __attribute__((always_inline))

#define UM_UREFS_MAX 0xFFFFu

/*
 * Default and hard bounds of a space's name table (indices; index 0 is reserved). A name is
 * (index << 8) | generation and a generation can be 0xFF, so index 0xFFFFFF would one day form
 * MACH_PORT_DEAD: as XNU keeps its table too small to reach it, the last index is 0xFFFFFE.
 */
#define UM_TABLE_DEFAULT_MAX (1u << 21)
#define UM_TABLE_HARD_MAX ((1u << 24) - 2)

typedef struct um_port um_port;
typedef struct um_pset um_pset;
typedef struct um_space um_space;
typedef struct um_kmsg um_kmsg;
typedef struct um_waiter um_waiter;
typedef struct um_kernel um_kernel;
typedef struct um_task um_task;
/* Out-of-line memory in flight (XNU's vm_map_copy_t): defined by the front end. */
typedef struct um_vm_copy um_vm_copy;

enum um_otype { UM_OT_PORT = 1, UM_OT_PSET = 2 };

/* What a kernel-object port stands for (its receive right belongs to the kernel). */
enum um_kotype {
    UM_KOT_NONE = 0,
    UM_KOT_TASK = 1,
    UM_KOT_BOOTSTRAP = 2,
    UM_KOT_THREAD = 3,    /* kobject: its exception actions once set (um_exception.c), else
                           * NULL; the front end keeps its thread's port */
    UM_KOT_HOST = 4,
    UM_KOT_SEMAPHORE = 5, /* kobject: um_semaphore (um_kobject_ports.h) */
    UM_KOT_TIMER = 6,     /* kobject: um_timer; the receive right is the task's, its queue is
                             an ordinary one (no kernel server) */
    UM_KOT_MEMORY_ENTRY = 7, /* kobject: um_mem_entry (um_kobject_ports.h) */
    UM_KOT_CLOCK = 8,        /* kobject: one of its kernel's um_clock (um_clock_port) */
    UM_KOT_TASK_RESUME = 9,  /* kobject: the um_task whose task_suspend holds it stands for
                                (um_task_hold): its last send right gone releases them */
};

/* The part shared by ports and port sets; always the first member. */
typedef struct um_object {
    uint32_t otype;
    uint32_t refs;
} um_object;

/*
 * A thread blocked in the core (receive on an empty queue, send to a full one). The front end
 * owns the memory; the core links it into one wait queue while it waits and unlinks it when
 * it wakes it (woken, result) or when the front end cancels the wait (um_waiter_cancel).
 */
struct um_waiter {
    um_waiter *next, *prev;
    struct um_waitq *queue;  /* the queue it is linked into, or NULL */
    void *owner;             /* port or set the waiter is queued on */
    int result;              /* set by the core when it wakes the waiter */
    bool woken;
    /*
     * Set by the core before it wakes the waiter when the waiter's call is complete (a
     * handoff: see um_msg_rcv_state.handed): its thread needs no world lock to finish, so a
     * front end may let it run before the waker releases the lock. Cleared when it is queued.
     */
    bool final;
    void (*wake)(um_waiter *w); /* front end hook, called with the world lock held */
    void *fe;                /* front end's own data */
};

typedef struct um_waitq {
    um_waiter *head, *tail;
} um_waitq;

/*
 * The parts of a port that most ports never use: set membership, notification requests, the
 * kernel object and the core's watches. Allocated the first time one of them is set
 * (um_port_rare_get) and freed with the port, so that an idle port is 120 bytes (a 128-byte
 * malloc chunk; XNU's ipc_port is about 150 bytes on arm64). Read through um_rare(), which
 * gives an empty one when the port has none.
 */
typedef struct um_port_rare {
    /* port sets this port belongs to */
    um_pset **sets;
    uint32_t nsets, capsets;

    /* notification requests (see um_notify.c) */
    um_port *nsrequest;      /* naked send-once right for no-senders, or NULL */
    um_kmsg *nsreserve;      /* the message reserved for it (see um_notify_reserve) */
    um_port *pdrequest;      /* naked send-once right for port-destroyed, or NULL */
    um_kmsg *pdreserve;
    mach_port_mscount_t nssync;
    uint32_t caprequests;
    struct um_request *requests; /* dead-name / send-possible requests, index 0 unused */

    void *kobject;           /* what a kernel-object port stands for (um_kobject.h) */
    struct um_port_watch *watchers; /* the core's own watches on this port's death */
    /* While active: one send-once notification per send-once right and, when a used right
     * left it, one spare for the next right made (linked by next; um_port_make_send_once) */
    um_kmsg *soreserves;
    uint32_t nsoreserves;    /* how many: at most sorights + 1 while active, then 0 */
    um_port *watch_next;     /* the thread's list of dead ports to fire watches of (um_kobject.c) */
    /* A front end's observer of this port's changes (um_port_observe; port->observed). */
    void (*change_hook)(void *arg, um_port *port, um_space *space, int what); /* enum um_port_change */
    void *change_arg;
} um_port_rare;

/* Hot fields first: a send touches the first cache line, a receive the first two. */
struct um_port {
    um_object obj;
    um_space *receiver;      /* space holding the receive right; NULL in transit or kernel */
    um_kmsg *msg_head, *msg_tail; /* message queue (FIFO) */
    mach_port_name_t receiver_name;
    mach_port_msgcount_t msgcount;
    mach_port_msgcount_t qlimit;
    mach_port_seqno_t seqno;
    uint32_t srights;
    uint32_t sorights;
    mach_port_mscount_t mscount;
    uint8_t kotype;
    bool active : 1;
    bool guarded : 1;
    bool strict_guard : 1;
    bool immovable_receive : 1;
    bool pinned : 1;         /* in its task's own space, the last send uref stays (task self) */
    bool tempowner : 1;
    bool impdonation : 1;
    bool observed : 1;       /* a front end observes its changes (um_port_observe) */
    uint16_t reserved;       /* queue room promised to posted sends in flight (um_post.c):
                                counted as queued by um_mqueue_full */
    um_waitq receivers;      /* threads receiving directly on this port */
    um_waitq senders;        /* threads blocked because the queue is full */
    uint64_t context;
    um_port *destination;    /* in transit: the port whose queue carries this receive right */
    um_port_rare *rare;      /* NULL until needed */
};

/* A dead-name or send-possible request registered on a port for one name of one space. */
typedef struct um_request {
    um_space *space;         /* NULL: slot free */
    mach_port_name_t name;
    um_port *notify;         /* naked send-once right */
    um_kmsg *reserve;        /* the message reserved for its notification */
    bool send_possible;
    bool sp_armed;
    bool dead_name;
} um_request;

struct um_pset {
    um_object obj;
    bool active;
    um_space *space;
    mach_port_name_t name;
    um_port **members;
    uint32_t nmembers, capmembers;
    um_waitq receivers;
};

/*
 * One slot of a space's name table: 24 bytes, as XNU's ipc_entry. A free slot (type 0) keeps
 * its free-list links where a slot in use keeps its object.
 */
typedef struct um_entry {
    union {
        um_object *object;   /* port or set; NULL for a dead name (type != 0) */
        struct {
            uint32_t next_free, prev_free; /* free slot (type == 0) */
        };
    };
    mach_port_type_t type;   /* MACH_PORT_TYPE_* right bits; 0 = free */
    uint16_t urefs;          /* user references of the send right / dead name */
    uint8_t gen;             /* generation byte of the current (or next) name */
    uint8_t roll;            /* generations before the counter restarts */
    uint32_t request;        /* index in the port's request table, 0 = none */
} um_entry;

/*
 * A task's message ledger: what its sent messages hold while they are queued (inline bytes
 * plus the out-of-line bytes they carry), against a cap (UMACH_QUEUED_BYTES_MAX), and how many
 * messages it sent and received (TASK_EVENTS_INFO). Referenced by its space and by every kmsg
 * charged to it, so a queued message may outlive the task that sent it. `total` is the
 * kernel's ledger of every task's queued bytes (um_kernel.queued_total), charged and checked
 * with it; it is the front end's and outlives every task ledger (never counted).
 * A space's ledger is one cache line of its own: every send charges it, so the counts that
 * share its line cost a message no line it did not already write.
 */
typedef struct um_ledger {
    uint32_t refs;
    uint64_t queued;
    uint64_t max;
    struct um_ledger *total; /* or NULL: no cap on all tasks together */
    uint64_t sent;           /* messages the task sent (um_msg_send) */
    uint64_t received;       /* messages its receives took from a queue (um_msg_receive) */
} um_ledger;

enum { UM_LEDGER_LINE = 64 }; /* a space's ledger's size and alignment (um_space_create) */

typedef struct um_hslot {
    um_port *port;           /* NULL: empty; UM_HASH_TOMB: deleted */
    uint32_t index;
} um_hslot;

struct um_space {
    bool active;
    um_entry *table;
    uint32_t count;          /* slots allocated (index 0 included) */
    uint32_t limit;          /* largest index allowed + 1 */
    uint32_t free_head;      /* 0 = none */
    uint32_t nfree;
    uint32_t inuse;
    uint32_t roll_seed;
    um_hslot *hash;          /* reverse lookup: port -> index of its send/receive entry */
    uint32_t hash_cap, hash_used, hash_tombs;
    um_task *task;           /* the task this space belongs to */
    um_task *guest;          /* another task whose mach_port_* call acts on it now, or NULL */
    um_ledger *ledger;       /* queued message bytes of this task (one reference) */
};

/* ---- kernel and tasks (um_task.c) -------------------------------------------------------- */

/*
 * Kernel-wide operations a front end supplies. A kernel region is memory the core owns and
 * hands to a task (an out-of-line ports array at receive, a MIG reply's array): page-aligned,
 * readable and writable by the core. Embedded mode: anonymous mappings of the process.
 * Out-of-line memory travels as the front end's copy objects (um_task_memops.copyin).
 */
/* The machine's numbers host_info reports (um_kernel_ops.machine). */
typedef struct um_machine {
    uint32_t cpus_max;   /* processors configured (0: unknown) */
    uint32_t cpus_avail; /* processors online (0: unknown) */
    uint64_t memory;     /* bytes of physical memory (0: unknown) */
} um_machine;

typedef struct um_kernel_ops {
    /* A fresh zero-filled region of `len` bytes (a multiple of the page size), or NULL. */
    void *(*region_alloc)(um_kernel *kernel, size_t len);
    /* Free a region that region_alloc returned. */
    void (*region_free)(um_kernel *kernel, void *region, size_t len);
    /* Destroy out-of-line memory a message carried and did not deliver (never NULL). */
    void (*copy_discard)(um_kernel *kernel, um_vm_copy *copy);
    /*
     * Out-of-line memory the kernel makes (a MIG reply's array, XNU's vm_map_copyin of kernel
     * memory): the first `size` bytes of `region` (`len` bytes from region_alloc) as a copy
     * object. Consumes the region in every case; NULL when out of memory.
     */
    um_vm_copy *(*copy_region)(um_kernel *kernel, void *region, size_t len, uint64_t size);
    /*
     * Read the first `len` bytes of a copy's data into `dst` (a MIG request's out-of-line
     * argument, which the kernel reads); the copy is left as it was. false: unreadable.
     */
    bool (*copy_read)(um_kernel *kernel, const um_vm_copy *copy, void *dst, size_t len);
    /* The machine's numbers (the host port's host_info). NULL: all unknown. */
    void (*machine)(um_kernel *kernel, um_machine *out);
    /*
     * Clock `clock_id`'s time now (clock_get_time): UM_CLOCK_SYSTEM the time since boot on
     * mach_absolute_time's base, UM_CLOCK_CALENDAR the time since the epoch. NULL: the world
     * has no clocks (host_get_clock_service answers KERN_FAILURE, as XNU's for a clock without
     * operations).
     */
    void (*clock_read)(um_kernel *kernel, int clock_id, mach_timespec_t *now);
} um_kernel_ops;

/* The clocks a world serves (XNU's clock_list): ids SYSTEM_CLOCK and CALENDAR_CLOCK. */
enum { UM_CLOCK_SYSTEM = 0, UM_CLOCK_CALENDAR = 1, UM_CLOCK_COUNT = 2 };

/* One clock of a kernel: the kobject of its port, which names the kernel and the clock. */
typedef struct um_clock {
    um_kernel *kernel;
    int id;
    um_port *port; /* made on first use (um_clock_port), its reference the receive right's */
} um_clock;

/*
 * The kernel: state shared by every task of one world. It has no lock of its own: the front
 * end serialises every call into the core (embedded mode: one mutex).
 */
struct um_kernel {
    const um_kernel_ops *ops;
    size_t page_size;
    uint32_t table_limit; /* a new space's largest index + 1 (UM_TABLE_DEFAULT_MAX) */
    uint64_t queued_limit; /* a new task's cap on queued message bytes (0: none) */
    um_ledger *queued_total; /* every task's queued bytes against one cap (NULL: none; the
                                front end's, e.g. umachd --queued-max) */
    void *fe;             /* the front end's own data */
    struct um_bootstrap *bootstrap; /* the root bootstrap registry (um_bootstrap.h) */
    um_port *host_port;   /* the world's host port, made on first use (um_host_port) */
    um_clock clocks[UM_CLOCK_COUNT]; /* the clock services' ports (um_clock_port) */
    /*
     * The kernel-object server's reserved error reply (um_kobject.c): a mig_reply_error_t
     * made before a routine runs, sent when the routine's own reply cannot be allocated.
     * NULL until the first request, or while memory was short; freed by
     * um_kobject_reserve_free.
     */
    struct um_kmsg *reply_reserve;
    /* Tests only: the next this many allocations of a kernel object's reply fail. */
    uint32_t test_reply_alloc_failures;
};

/*
 * A task's memory, as the front end reaches it. Addresses are the task's. No operation
 * crashes: a range that cannot be reached is reported as such.
 */
typedef struct um_task_memops {
    /*
     * Copy `len` bytes at task address `src` into `dst` (an out-of-line ports array). false:
     * unreadable. May be called with the world lock held, so it must not fault.
     */
    bool (*read)(um_task *task, void *dst, uint64_t src, size_t len);
    /*
     * Copy the message buffer itself in (`msg_read`) or out (`msg_write`). Called without
     * the world lock, on every message: as cheap as a copy can be. false: unreadable /
     * unwritable.
     */
    bool (*msg_read)(um_task *task, void *dst, uint64_t src, size_t len);
    bool (*msg_write)(um_task *task, uint64_t dst, const void *src, size_t len);
    /* Remove [addr, addr + len) (page-aligned) from the task's memory. */
    void (*unmap)(um_task *task, uint64_t addr, size_t len);
    /*
     * Give a kernel region to the task: it becomes task memory the task frees with
     * vm_deallocate. Returns its task address, or 0 (the region is still the kernel's).
     */
    uint64_t (*attach)(um_task *task, void *region, size_t len);
    /*
     * Out-of-line memory (XNU's vm_map_copyin): take `size` (> 0) bytes at task address
     * `addr` as a copy object: a snapshot at this moment, or with `dealloc` a move (the
     * page-rounded range leaves the task). `physical` copies and regions of at most 32 KiB
     * arrive page-aligned, larger virtual copies and moves keep their offset in the page.
     * Returns MACH_MSG_SUCCESS, MACH_SEND_INVALID_MEMORY (unreadable: nothing changed) or
     * MACH_MSG_VM_KERNEL (no memory for the copy).
     */
    mach_msg_return_t (*copyin)(um_task *task, uint64_t addr, uint64_t size, bool physical,
                                bool dealloc, um_vm_copy **copyp);
    /*
     * Make a copy object new task memory the task frees with vm_deallocate (XNU's
     * vm_map_copyout); consumes the copy in every case. *addrp gets the data's address.
     * KERN_NO_SPACE when it cannot be mapped (the copy is destroyed).
     */
    kern_return_t (*copyout)(um_task *task, um_vm_copy *copy, uint64_t *addrp);
} um_task_memops;

/* What task_info reports of a task's process (um_task_hooks.usage). */
typedef struct um_task_usage {
    uint64_t virtual_size;      /* bytes of its address space */
    uint64_t resident_size;     /* bytes resident now */
    uint64_t resident_size_max; /* the most bytes ever resident */
    uint64_t live_user_us, live_system_us;   /* CPU times of its live threads */
    uint64_t ended_user_us, ended_system_us; /* of the threads that ended */
    /* UM_USAGE_VM (TASK_VM_INFO), else 0: */
    uint64_t anon_resident; /* anonymous bytes resident, private or shared (memfd, tmpfs) */
    uint64_t file_resident; /* bytes of mapped files resident */
    uint64_t swapped;       /* anonymous bytes in swap */
    uint64_t regions;       /* mappings in its address space */
    uint64_t min_address, max_address; /* the range it may map */
    /* UM_USAGE_EVENTS (TASK_EVENTS_INFO), else 0: */
    uint64_t minor_faults, major_faults; /* of all its threads, ended ones too */
    uint64_t context_switches;           /* voluntary and involuntary */
} um_task_usage;

/* What um_task_hooks.usage reads beyond the basic figures, which it always reads. */
enum { UM_USAGE_VM = 1u << 0, UM_USAGE_EVENTS = 1u << 1 };

/* Per-task policy hooks. */
struct um_vm_mig_call;

typedef struct um_task_hooks {
    /*
     * A Mach-port guard violation (um_guard_exception). `fatal`: XNU kills the task for it.
     * The hook may not return (embedded mode aborts the process); when it returns, the call
     * returns its error code and the front end may end the task (um_task_terminate) once the
     * call is over. Conditions: world locked.
     */
    void (*guard)(um_task *task, mach_port_name_t name, uint64_t payload, uint32_t flavor,
                  bool fatal);
    /*
     * Fill `out` with what the task's process uses (task_info's memory and time flavours),
     * and the groups of `more` (UM_USAGE_*: dearer to read): false when it cannot be read
     * (the process has gone). Conditions: world locked.
     */
    bool (*usage)(um_task *task, unsigned more, um_task_usage *out);
    /*
     * The task's Mach-port guard policy (task_get/set_exc_guard_behavior): do its fatal guard
     * exceptions end it? `set` -1 only reads; 0 or 1 sets it first. Returns the policy.
     * NULL: always fatal, never changed. Conditions: world locked.
     */
    bool (*guard_fatal)(um_task *task, int set);
    /*
     * A mach_vm routine sent by hand to the task's port (api/kobject_server.c), on the task's
     * memory: the routine's result, its results in `call` (api/um_mig.h). NULL: the front end
     * cannot act on that memory (umachd: another process's). Conditions: world locked.
     */
    kern_return_t (*vm_call)(um_task *task, struct um_vm_mig_call *call);
    /*
     * task_threads sent by hand to the task's port (api/kobject_server.c): a naked send right
     * to the port of each of the task's threads, in a malloc'd array (*ports, *count), the
     * caller's. An error: nothing made. NULL: the front end cannot list the task's threads
     * (KERN_NOT_SUPPORTED). Conditions: world locked.
     */
    kern_return_t (*threads)(um_task *task, um_port ***ports, uint32_t *count);
    /*
     * task_suspend's first hold on the task (`held` true: its threads stop; the hook returns
     * once they have, or soon after) or its last one released (false: they run again). The
     * calling thread may be one of them (a task suspending itself): it stops too. NULL: the
     * front end cannot stop the task (task_suspend: KERN_NOT_SUPPORTED). Conditions: world
     * locked.
     */
    void (*hold)(um_task *task, bool held);
} um_task_hooks;

/*
 * What an exception port slot holds (XNU's struct exception_action): a naked send right (NULL
 * when none, UM_PORT_DEAD when set to MACH_PORT_DEAD), the behaviour and the state flavour.
 */
typedef struct um_exc_action {
    um_port *port;
    int behavior;
    int flavor;
} um_exc_action;

/* The slots by exception number, EXC_TYPES_COUNT of them (0 is never used). */
#define UM_EXC_TYPES 14

/* A task: its IPC space, its task port and what the front end attached to it. */
struct um_task {
    um_kernel *kernel;
    um_space *space;
    um_port *task_port; /* kernel-held receive right; the space names a send right */
    mach_port_name_t task_name;
    security_token_t sec; /* stamped on every message the task sends */
    audit_token_t audit;
    const um_task_memops *mem;
    const um_task_hooks *hooks;
    void *fe; /* the front end's own data */
    um_port *special_ports[12]; /* TASK_*_PORT slots by number: naked send rights or NULL */
    um_exc_action exc_actions[UM_EXC_TYPES]; /* task_set_exception_ports (um_exception.c) */
    /* While the kernel serves a MIG request another task sent to this task's port: that
     * task, whose guard exceptions the routine raises (um_space_enter). NULL otherwise. */
    um_task *served_for;
    /* task_suspend (XNU's user_stop_count and legacy_stop_count) and the resume port each
     * suspender holds a send right to (a reference of the task's, NULL until the first). */
    uint32_t user_stop_count, legacy_stop_count;
    um_port *resume_port;
};

/*
 * Create a task of `kernel`: a new space holding a send right to the task's own port under
 * task->task_name. The caller fills in tokens. Returns NULL when out of memory.
 * Conditions: world locked.
 */
um_task *um_task_create(um_kernel *kernel, const um_task_memops *mem, const um_task_hooks *hooks,
                        void *fe);

/*
 * End a task (its process exited, crashed or was killed; a fatal guard in a world): the task
 * port dies, the special-port slots are released, and every right in its space is destroyed
 * as XNU's ipc_space_terminate does (um_space_destroy; MACH_FACTS §2.16). Other tasks learn
 * of it through their notifications; their threads blocked on its ports are woken. The front
 * end must first cancel the waits of the task's own threads (um_msg_*_cancel). Frees the
 * task. Conditions: world locked.
 */
void um_task_terminate(um_task *task);

/*
 * task_suspend's holds, as XNU's place_task_hold / release_task_hold in their legacy modes:
 * um_task_hold adds one (the front end's hold hook stops the task at the first) and gives
 * `space` a send right to the task's resume port, whose last send right gone releases every
 * legacy hold left (a suspender that ended without resuming); um_task_unhold takes one back
 * (KERN_FAILURE when none is left) and the caller's send right to the resume port with it (all
 * of them when none was left). KERN_NOT_SUPPORTED: the front end cannot stop tasks.
 * Conditions: world locked.
 */
kern_return_t um_task_hold(um_task *task, um_space *space);
kern_return_t um_task_unhold(um_task *task, um_space *space);
/*
 * task_suspend2's hold (XNU's TASK_HOLD_NORMAL): one more, and a naked send-once right to the
 * resume port in *sonce (the suspension token). The hold ends with um_task_unhold_once: when
 * task_resume2 arrives through that right, or when the right is destroyed unused (its send-once
 * notification to the resume port). Conditions: world locked.
 */
kern_return_t um_task_hold_once(um_task *task, um_port **sonce);
kern_return_t um_task_unhold_once(um_task *task);
/* The resume port `port` has no send right left (um_notify_no_senders_check). */
void um_task_resume_port_unused(um_port *port);

/*
 * Resolve the `task` argument of a Mach call made by `self` to its space.
 * Conditions: world locked. Returns NULL when the name is not a send right to self's task
 * port (the caller then returns MACH_SEND_INVALID_DEST, as XNU's trap and MIG stub do).
 */
um_space *um_task_space(um_task *self, mach_port_name_t task);
/*
 * The space a mach_port_* call by `self` acts on: self's own (the name is a send right to
 * self's task port), or another live task's when the name is a send right to that task's
 * port (XNU serves the call on the task the port names). NULL otherwise.
 * Conditions: world locked.
 */
um_space *um_task_target_space(um_task *self, mach_port_name_t task);
/*
 * The task a call by `self` acts on: self (the name is a send right to self's task port), or
 * another live task whose task port the name holds a send right to; NULL otherwise (the
 * caller returns MACH_SEND_INVALID_DEST). Borrows. Conditions: world locked.
 */
um_task *um_task_target(um_task *self, mach_port_name_t task);
/*
 * A call of `self` on `space` begins (um_space_enter) or ends (um_space_leave, which returns
 * `kr`): while `self` acts on another task's space, the guard exceptions the call raises are
 * self's, as XNU raises them on the calling thread; so are those of a MIG request another
 * task sent to self's port (self->served_for). Conditions: world locked.
 */
void um_space_enter(um_space *space, um_task *self);
kern_return_t um_space_leave(um_space *space, kern_return_t kr);

/*
 * A kernel region with room for `bytes` (whole pages; *lenp gets its length) to fill and then
 * give to a task, or NULL.
 */
void *um_region_alloc(um_kernel *kernel, size_t bytes, size_t *lenp);
/*
 * Give a filled kernel region to `task` as memory it frees with vm_deallocate (a MIG
 * out-of-line array, a received region). Consumes the region. Returns its task address, or 0
 * when the task cannot take it (the region is freed).
 */
uint64_t um_task_give_region(um_task *task, void *region, size_t len);

/* ---- guard exceptions (um_guard.c) ---------------------------------------------------- */

/*
 * Record a Mach-port guard violation of `flavor` (kGUARD_EXC_*) on `name` by the task that
 * owns `space`, or by the task whose call acts on it (um_space_enter): its guard hook
 * decides (fatal flavours are those up to
 * kGUARD_EXC_MSG_FILTERED). Returns only if the hook does. Conditions: world locked.
 */
void um_guard_exception(um_space *space, mach_port_name_t name, uint64_t payload, uint32_t flavor);
/* One line naming a guard flavour and the mistake it stands for (for front ends' messages). */
const char *um_guard_flavor_name(uint32_t flavor);

/* ---- exception ports (um_exception.c; XNU: ipc_tt.c) ------------------------------------ */

/*
 * The checks XNU's set_exception_ports_validation makes of a new action: mask bits beyond the
 * exceptions, a behaviour that is none of XNU's (looked at only for a valid port), a flavour
 * the machine does not have, an identity-protected behaviour or a backtrace without
 * MACH_EXCEPTION_CODES are KERN_INVALID_ARGUMENT.
 */
kern_return_t um_exc_validate(uint32_t mask, um_port *new_port, int behavior, int flavor);
/*
 * Set every slot of `actions` in `mask` to a copy of `new_port` (naked send right, NULL or
 * UM_PORT_DEAD; borrowed), `behavior` and `flavor`; the old rights are released. With `max`
 * not NULL (swap), the old actions are first returned as get does, and the walk stops once *max
 * entries are filled, leaving the later slots as they were (XNU's loop bound). Conditions:
 * world locked, arguments validated.
 */
void um_exc_set(um_exc_action *actions, uint32_t mask, um_port *new_port, int behavior, int flavor,
                uint32_t *masks, unsigned *max, um_port **ports, int *behaviors, int *flavors);
/*
 * The actions of `actions` in `mask`, merged by identical port, behaviour and flavour, at most
 * *max of them (later identical ones still merge into an entry already returned): each port
 * is a new naked send right (or NULL / UM_PORT_DEAD). *max gets the count.
 */
void um_exc_get(const um_exc_action *actions, uint32_t mask, uint32_t *masks, unsigned *max,
                um_port **ports, int *behaviors, int *flavors);
/* Release every slot (the task or thread has ended). */
void um_exc_release_all(um_exc_action *actions);
/*
 * A new task's slots from its parent's at fork (XNU's ipc_task_init): each behaviour and
 * flavour, and a new send right to each port (UM_PORT_DEAD for one that died, and for every
 * port when `reachable` is false: the parent's ports are out of the child's reach, as in an
 * embedded child). Conditions: `to` holds nothing.
 */
void um_exc_inherit(um_exc_action *to, const um_exc_action *from, bool reachable);
/*
 * The exception actions of the thread whose port is `thread_port`: NULL when none were ever
 * set, or (with `create`) when out of memory. Borrows.
 */
um_exc_action *um_thread_exc_actions(um_port *thread_port, bool create);
/*
 * Is a live port set for `exception` in the slots of the thread whose port is `thread_port`
 * (NULL: none) or of `task`? (Whether raising it can find a handler.) Conditions: world locked.
 */
bool um_exc_port_set(um_task *task, um_port *thread_port, int exception);
/* The thread of `thread_port` ended: its exception ports are released (before its port dies). */
void um_thread_exc_terminate(um_port *thread_port);

/* ---- objects (um_port.c) --------------------------------------------------------------- */

/* A new active port with one reference, no rights counted. */
um_port *um_port_alloc(void);
/* The port's rarely used part, allocated on first use; NULL when out of memory. */
um_port_rare *um_port_rare_get(um_port *port);
/* For reading: the port's rarely used part, or an empty one (never written). */
extern const um_port_rare um_port_rare_none;
static inline const um_port_rare *um_rare(const um_port *port)
{
    return port->rare ? port->rare : &um_port_rare_none;
}
/*
 * What is about to change of a port a front end observes (um_port_observe, kern/um_post.h):
 * the rights and state that a promise made ahead of the core (umachd's posting grants and
 * receive windows) stands on. `space` is the space whose rights change (SEND, RECEIVE), else
 * the receiver's or NULL.
 */
enum um_port_change {
    UM_PORT_CHANGE_SEND = 1, /* `space` is about to lose send rights to it, or move them out */
    UM_PORT_CHANGE_RECEIVE,  /* `space` is about to move out or destroy its receive right */
    UM_PORT_CHANGE_DEATH,    /* it dies, or leaves its receiver (a port-destroyed request) */
    UM_PORT_CHANGE_QLIMIT,   /* its queue limit changes */
    UM_PORT_CHANGE_SEQNO,    /* its sequence number is set */
    UM_PORT_CHANGE_CONTEXT,  /* its context is set */
    UM_PORT_CHANGE_SETS,     /* it joins a port set (leaving one calls nothing: receive
                                windows exist only on ports in no set) */
};
/* Call the observer of `port` (kern/um_post.c); see um_port_changing. */
void um_port_changing_observed(um_port *port, um_space *space, enum um_port_change what);
/*
 * Every core function that changes one of the above calls this first, before it changes
 * anything: one bit test for a port nobody observes.
 */
static inline void um_port_changing(um_port *port, um_space *space, enum um_port_change what)
{
    if (port->observed)
        um_port_changing_observed(port, space, what);
}
/* A new active port set with one reference. */
um_pset *um_pset_alloc(void);
/* Taking and dropping references are inline: a message takes and drops several. */
static inline void um_object_ref(um_object *o)
{
    o->refs++;
}
/* Free an object whose last reference went (um_object_release). */
void um_object_free(um_object *o);
/* Drop a reference; frees the object at zero. */
UM_HOT_STATIC void um_object_release(um_object *o)
{
    if (--o->refs == 0)
        um_object_free(o);
}
#define um_port_ref(p) um_object_ref(&(p)->obj)
#define um_port_release(p) um_object_release(&(p)->obj)

/*
 * Destroy a port whose receive right is being destroyed (not in a space any more):
 * marks it dead, removes it from its sets, destroys queued messages, wakes waiters,
 * fires requests. Consumes the reference that the receive right held. A port-destroyed
 * request turns this into a transfer of the receive right instead. Bounded stack whatever
 * the queued messages carry: nested destruction goes through the thread's destroy list
 * (um_kmsg_destroy), drained by the outermost caller before it returns.
 */
void um_port_destroy(um_port *port);

/* Take the port out of every set it belongs to. */
void um_port_unlink_all_sets(um_port *port);
/* Add to / remove from one set. */
kern_return_t um_pset_add(um_pset *set, um_port *port);
kern_return_t um_pset_remove(um_pset *set, um_port *port);
bool um_port_in_set(const um_port *port, const um_pset *set);
/* Destroy a port set (its entry is gone); consumes the entry's reference. */
void um_pset_destroy(um_pset *set);

/* Clear the receiver of a receive right leaving a space (move in a message). */
void um_port_clear_receiver(um_port *port);
/*
 * A receive right in transit is being carried to `dest`. Returns true if that would make a
 * loop (dest is the port itself, or travels inside a message that leads back to it); else
 * records `dest` as the port's destination (taking a reference) and returns false.
 */
bool um_port_check_circularity(um_port *port, um_port *dest);
/* The receive right arrived somewhere or died: forget its destination. */
void um_port_clear_destination(um_port *port);

/* Wake every waiter of a queue with `result`. */
void um_waitq_wake_all(um_waitq *q, int result);
void um_waitq_append(um_waitq *q, um_waiter *w);
void um_waitq_remove(um_waitq *q, um_waiter *w);
um_waiter *um_waitq_pop(um_waitq *q);
/* Take a waiter out of the queue it waits on, if any (timeout, interrupt, task death). */
void um_waiter_cancel(um_waiter *w);

/* ---- naked rights (um_port.c) ----------------------------------------------------------- */

/* Make a naked send right from a port (mscount++ when `make`). Takes a port reference. */
void um_port_make_send(um_port *port);
UM_HOT_STATIC void um_port_copy_send(um_port *port)
{
    port->srights++;
    um_port_ref(port);
}
/*
 * Make a naked send-once right. Every send-once right to an active port has its
 * MACH_NOTIFY_SEND_ONCE message reserved on the port (um_port_rare.soreserves), so that
 * destroying it unused never loses the notification (XNU's cannot fail). false: out of memory
 * (nothing made).
 */
bool um_port_make_send_once(um_port *port) __attribute__((warn_unused_result));
/*
 * A send-once right to `port` is used up or turned into a message: take its reserved
 * notification (NULL when the port is dead: the reserves went with it). The caller uses it or
 * frees it with um_kmsg_reserve_free.
 */
um_kmsg *um_port_so_reserve_take(um_port *port);
/*
 * A send-once right to `port` was used by the message that carried it: its reserve is not
 * needed. An active port keeps one such reserve for the next send-once right made (a reply
 * port makes one per request: no allocation per round trip); the rest are freed.
 */
void um_port_so_reserve_used(um_port *port);
/* Release a naked right of type PORT_SEND / PORT_SEND_ONCE / PORT_RECEIVE. Consumes it. */
void um_right_release(um_port *port, mach_msg_type_name_t type);
void um_port_release_send(um_port *port);
void um_port_release_send_once(um_port *port);
void um_port_release_receive(um_port *port);

/* ---- spaces and entries (um_space.c) ---------------------------------------------------- */

/* A new empty space whose indices stay below `limit` (index 0 reserved); NULL: no memory. */
um_space *um_space_create(uint32_t limit);
/*
 * Tear down a space (task death): every right it holds is destroyed, receive rights first,
 * as XNU's ipc_space_terminate. Frees the space.
 */
void um_space_destroy(um_space *space);

/* Drop a reference to a ledger; frees it at zero. */
void um_ledger_free(um_ledger *ledger);
UM_HOT_STATIC void um_ledger_release(um_ledger *ledger)
{
    if (ledger && --ledger->refs == 0)
        um_ledger_free(ledger);
}

/*
 * Look up a name; NULL if it does not denote an entry (bad gen, free, out of range). Inline:
 * every message looks up two or three names. Index 0 needs no test of its own: slot 0 is
 * never claimed (names start at index 1), so its type stays 0 like any free slot's.
 */
UM_HOT_STATIC um_entry *um_entry_lookup(um_space *space, mach_port_name_t name)
{
    uint32_t index = MACH_PORT_INDEX(name);
    if (index >= space->count)
        return NULL;
    um_entry *e = &space->table[index];
    if (e->type == 0 || e->gen != (uint8_t)(name & 0xFF))
        return NULL;
    return e;
}
/* Take a fresh name. KERN_NO_SPACE when the table is at its limit. */
kern_return_t um_entry_claim(um_space *space, mach_port_name_t *namep, um_entry **entryp);
/* A fresh entry (um_entry_claim) names a send-once right to `port`: takes over its reference. */
static inline void um_entry_set_send_once(um_entry *e, um_port *port)
{
    e->object = &port->obj;
    e->type = MACH_PORT_TYPE_SEND_ONCE;
    e->urefs = 1;
}
/*
 * Get the entry for a caller-chosen name, allocating it if free (returned with type 0).
 * KERN_NO_SPACE (index beyond the limit), KERN_INVALID_VALUE (generation bits),
 * KERN_FAILURE (index 0, or in use under another generation).
 */
kern_return_t um_entry_alloc_name(um_space *space, mach_port_name_t name, um_entry **entryp);
/*
 * A fresh name for a send-once right to `port` (takes over a reference): um_entry_claim and
 * um_entry_set_send_once in one. Conditions: the free list is not empty (space->free_head).
 */
mach_port_name_t um_entry_claim_send_once(um_space *space, um_port *port);
/* Free an entry (its object reference has been dealt with by the caller). */
void um_entry_dealloc(um_space *space, mach_port_name_t name, um_entry *entry);
/* The same for the entry at `index` of the table (MACH_PORT_INDEX of its name). */
void um_entry_dealloc_index(um_space *space, uint32_t index, um_entry *entry);
/* Number of entries in use. */
uint32_t um_space_inuse(const um_space *space);
/*
 * Tests only, so that they reach the last slots of a table without filling 16M slots (400 MB):
 * the space's table becomes `table`, `count` slots (at most its limit) into which the current
 * slots are copied as far as both reach. Grown, only the new last slot goes on the free list,
 * first, as um_space_grow would put it (the slots between stay zero and out of use); shrunk,
 * the old last slot, which must be free, leaves the free list (swapping the old table back).
 * Returns the table replaced, the caller's to free.
 */
um_entry *um_space_swap_table(um_space *space, um_entry *table, uint32_t count);
static inline mach_port_name_t um_entry_name(const um_space *space, const um_entry *entry)
{
    uint32_t index = (uint32_t)(entry - space->table);
    return (index << 8) | entry->gen;
}

/*
 * Reverse lookup of the entry holding send/receive rights of `port` in `space`. The hash
 * holds only entries with send rights and no receive right: an entry that gains the receive
 * right leaves it (um_hash_delete), one that loses the receive right but keeps send rights
 * joins it (um_hash_insert). Deleting a port that is not there is a no-op.
 */
um_entry *um_space_reverse(um_space *space, um_port *port);
void um_hash_insert(um_space *space, um_port *port, uint32_t index);
void um_hash_delete(um_space *space, um_port *port);

/* ---- rights in a space (um_right.c) -------------------------------------------------------- */

/*
 * If the entry holds send / send-once rights to a port that died, turn it into a dead name
 * now (XNU converts lazily; so do we). Returns true when it converted.
 */
bool um_right_check_dead(um_space *space, mach_port_name_t name, um_entry *entry);
static inline bool um_right_check(um_space *space, mach_port_name_t name, um_entry *entry)
{
    /* Inline the common answer (a live port, or a name with a receive right): no. */
    if (!(entry->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)) ||
        (entry->type & MACH_PORT_TYPE_RECEIVE) || ((um_port *)entry->object)->active)
        return false;
    return um_right_check_dead(space, name, entry);
}

/* Type bits of a name as mach_port_type reports them (request bits included). */
mach_port_type_t um_right_info(um_space *space, mach_port_name_t name, um_entry *entry);

kern_return_t um_right_dealloc(um_space *space, mach_port_name_t name, um_entry *entry);
kern_return_t um_right_delta(um_space *space, mach_port_name_t name, um_entry *entry,
                             mach_port_right_t right, mach_port_delta_t delta);
kern_return_t um_right_destroy(um_space *space, mach_port_name_t name, um_entry *entry,
                               bool check_guard, uint64_t guard);
kern_return_t um_right_destruct(um_space *space, mach_port_name_t name, um_entry *entry,
                                mach_port_delta_t srdelta, uint64_t guard);

/* Flags for um_right_copyin. */
#define UM_COPYIN_DEADOK 0x1u         /* copying a dead name gives MACH_PORT_DEAD */
#define UM_COPYIN_ALLOW_IMMOVABLE 0x2u
#define UM_COPYIN_ALLOW_DEAD_SEND_ONCE 0x4u /* a send-once right to a dead port copies in as is */

/*
 * Take a right out of a space according to `msgt_name` (a MACH_MSG_TYPE_MOVE/COPY/MAKE_*
 * disposition) as a naked right. On success *portp is the port (carrying the naked right's
 * reference) or MACH_PORT_DEAD cast (UM_PORT_DEAD) for a dead name when DEADOK.
 * Returns KERN_INVALID_NAME (no such name), KERN_INVALID_RIGHT, KERN_INVALID_CAPABILITY.
 */
#define UM_PORT_DEAD ((um_port *)(uintptr_t)-1)
#define UM_PORT_VALID(p) ((p) != NULL && (p) != UM_PORT_DEAD)
kern_return_t um_right_copyin(um_space *space, mach_port_name_t name,
                              mach_msg_type_name_t msgt_name, uint32_t flags, um_port **portp);
/* The PORT_* type a disposition turns into once copied in. */
UM_HOT_STATIC mach_msg_type_name_t um_copyin_type(mach_msg_type_name_t msgt_name)
{
    switch (msgt_name) {
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        return MACH_MSG_TYPE_PORT_RECEIVE;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
        return MACH_MSG_TYPE_PORT_SEND_ONCE;
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MAKE_SEND:
    case MACH_MSG_TYPE_COPY_SEND:
        return MACH_MSG_TYPE_PORT_SEND;
    default:
        return 0;
    }
}

/*
 * Give a naked right (type PORT_SEND / PORT_SEND_ONCE / PORT_RECEIVE) to a space under a
 * fresh or coalesced name. Consumes the naked right on success and on failure (a failure
 * destroys it). KERN_INVALID_CAPABILITY when the port is dead, KERN_NO_SPACE when the
 * table is full.
 */
kern_return_t um_right_copyout(um_space *space, um_port *port, mach_msg_type_name_t type,
                               mach_port_name_t *namep);
/*
 * Same under the caller's chosen name (mach_port_insert_right). Does NOT consume the right
 * on failure: the caller destroys it.
 */
kern_return_t um_right_copyout_name(um_space *space, um_port *port, mach_msg_type_name_t type,
                                    mach_port_name_t name);

/* Translate a name to the port whose receive right it holds. */
kern_return_t um_translate_receive(um_space *space, mach_port_name_t name, um_port **portp);
/* Translate a name to the port set it holds. */
kern_return_t um_translate_pset(um_space *space, mach_port_name_t name, um_pset **psetp);

/* ---- notifications (um_notify.c) ---------------------------------------------------------- */

/* A send-once right is destroyed unused: deliver MACH_NOTIFY_SEND_ONCE through it. Consumes. */
void um_notify_send_once(um_port *port);
/*
 * A registered notification is never lost for want of memory: whoever registers a request
 * (no-senders, port-destroyed, dead-name, send-possible) first reserves the message any one
 * notification needs, and keeps it with the request's send-once right. Whatever that right
 * ends up carrying (the notification, a send-once notification when it is destroyed unused,
 * port-deleted when the request is cancelled) is built in the reserved message; a right
 * handed back to the user frees it. um_notify_reserve returns NULL when out of memory (the
 * registration then fails with KERN_RESOURCE_SHORTAGE); freeing NULL is a no-op.
 */
um_kmsg *um_notify_reserve(void);
void um_notify_reserve_free(um_kmsg *reserve);
/* A message big enough for a send-once notification (a recycled small kmsg), and its free. */
um_kmsg *um_kmsg_reserve_small(void);
void um_kmsg_reserve_free(um_kmsg *k);
/* um_notify_send_once for a request's right, built in its reserved message (consumed). */
void um_notify_send_once_reserved(um_port *port, um_kmsg *reserve);
/* The last send right of `port` went away. */
void um_notify_no_senders_check(um_port *port);
/* Cancel the request attached to an entry that loses its right; may send port-deleted. */
void um_request_cancel(um_space *space, mach_port_name_t name, um_entry *entry);
/*
 * MACH_PORT_TYPE_DNREQUEST / _SPREQUEST / _SPREQUEST_DELAYED for the entry's request, 0 if
 * none. A name whose port dies with any request on it gains one uref: the notification
 * about the death names it.
 */
mach_port_type_t um_request_type(um_space *space, mach_port_name_t name, um_entry *entry);
/* Fire every request of a dying port (dead-name notifications). */
void um_port_fire_requests(um_port *port);

#endif
