/*
 * ool_between_tasks.c — runs inside a world (ctest: umach-run -- world_ool_between_tasks):
 * out-of-line memory and out-of-line port arrays between two processes, each a task of one
 * umachd (docs/world.md, "Out-of-line memory between processes").
 *
 * The parent checks a service in with the world's bootstrap server; forked children (new
 * tasks) look it up and send to it. Checked: copies from 0 bytes to 64 MiB arrive byte-exact
 * and the sender's writes after the send never show; moves (deallocate = TRUE) of
 * vm_allocate'd memory take the range from the sender; stack and malloc memory; XNU's
 * alignment (small and physical copies start a page, large virtual copies and moves keep
 * their offset); the receiver frees what it got with vm_deallocate; port arrays of send
 * rights; a descriptor whose size runs past the sender's memory is MACH_SEND_INVALID_MEMORY
 * and takes nothing; a message carrying memory queued on the port of a task that is killed
 * leaves no descriptor behind in umachd.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "ool_pattern.h"

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()
#define PAGE 4096u

enum { ID_DATA = 1000, ID_PORTS = 2000, ID_DONE = 3000 };

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool;
    uint32_t seed;
    uint32_t offset; /* the data's offset in its page at the sender */
    uint32_t flags;  /* OB_* */
} ob_data;

enum { OB_MOVE = 1, OB_PHYSICAL = 2 };

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_ool_ports_descriptor_t ports;
    uint32_t count;
} ob_ports;

typedef union {
    ob_data data;
    ob_ports ports;
    uint8_t bytes[1024];
} ob_buf;

/* A complex message to `dest` with `id` and one descriptor, all else zero. */
static void ob_head(void *msg, mach_msg_size_t size, mach_port_t dest, mach_msg_id_t id)
{
    memset(msg, 0, size);
    mach_msg_header_t *h = msg;
    h->msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    h->msgh_size = size;
    h->msgh_remote_port = dest;
    h->msgh_id = id;
    ((mach_msg_body_t *)(h + 1))->msgh_descriptor_count = 1;
}

/* An ID_DATA message to `dest` carrying `size` bytes at `data`, moved or copied as `flags`. */
static void ob_data_init(ob_data *m, mach_port_t dest, void *data, mach_msg_size_t size,
                         uint32_t flags)
{
    ob_head(m, sizeof *m, dest, ID_DATA);
    m->ool.address = data;
    m->ool.size = size;
    m->ool.deallocate = (flags & OB_MOVE) != 0;
    m->ool.copy = (flags & OB_PHYSICAL) ? MACH_MSG_PHYSICAL_COPY : MACH_MSG_VIRTUAL_COPY;
    m->ool.type = MACH_MSG_OOL_DESCRIPTOR;
}

/* umachd's pid: the world socket's peer (SO_PEERCRED of a fresh connection). */
static pid_t ob_daemon_pid(void)
{
    const char *path = getenv("UMACH_WORLD");
    if (!path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    struct ucred cred = {0};
    socklen_t len = sizeof cred;
    pid_t pid = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pid = cred.pid;
    if (fd >= 0)
        close(fd);
    return pid;
}

/*
 * Descriptors open in `pid` (/proc/PID/fd), or -1: with `memfds`, only memfds; else all but
 * pidfds (umachd keeps the pidfd of a process that hung up while still alive, an exec's
 * heir, until it next looks: docs/world.md, "fork and exec").
 */
static int ob_fd_count(pid_t pid, bool memfds)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char target[256];
        ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = 0;
        bool memfd = strncmp(target, "/memfd:", 7) == 0;
        if (memfds ? !memfd : strcmp(target, "anon_inode:[pidfd]") == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

static void ob_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * umachd's descriptors (memfds only, with `memfds`) once they stop changing (the daemon
 * serves the hang-ups of tasks that just ended in its own time): the count when it held for
 * 200 ms, waiting at most 5 s for it to reach `at_most` (-1: any).
 */
static int ob_fds_settle(pid_t pid, bool memfds, int at_most)
{
    int n = ob_fd_count(pid, memfds), same = 0;
    for (int i = 0; i < 500 && (same < 20 || (at_most >= 0 && n > at_most)); i++) {
        ob_sleep_ms(10);
        int now = ob_fd_count(pid, memfds);
        same = now == n ? same + 1 : 0;
        n = now;
    }
    return n;
}

static mach_port_t ob_service(const char *name)
{
    mach_port_t p = MACH_PORT_NULL;
    if (bootstrap_check_in(bootstrap_port, name, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_return_t ob_receive(mach_port_t port, ob_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0, sizeof *b);
    return mach_msg(&b->data.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

/* ---- the sender (a forked child: a task of its own) ------------------------------------------ */

typedef struct ob_send {
    uint64_t size;
    uint32_t offset;
    int memory; /* OB_REGION, OB_MALLOC, OB_STACK */
    uint32_t flags;
    uint32_t seed;
} ob_send;

enum { OB_REGION = 1, OB_MALLOC = 2, OB_STACK = 3 };

static void *volatile ob_keep; /* what the child never frees (it exits) */

/* One message of the case to `server`; 0 or the step that failed. */
static int ob_send_one(mach_port_t server, const ob_send *c)
{
    uint8_t stackbuf[16384];
    uint8_t *base;
    uint64_t span = ((c->offset + c->size + PAGE - 1) & ~(uint64_t)(PAGE - 1)) + PAGE;
    if (c->memory == OB_REGION) {
        vm_address_t a = 0;
        if (vm_allocate(TASK, &a, span, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
            return 20;
        base = (uint8_t *)a;
    } else if (c->memory == OB_MALLOC) {
        uint8_t *m = ob_keep = malloc(span + PAGE);
        if (!m)
            return 21;
        base = (uint8_t *)(((uintptr_t)m + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
    } else {
        if (c->offset + c->size > sizeof stackbuf)
            return 22;
        base = stackbuf;
    }
    uint8_t *data = base + c->offset;
    ool_fill(data, c->size, c->seed);
    ob_data m;
    ob_data_init(&m, server, data, (mach_msg_size_t)c->size, c->flags);
    m.seed = c->seed;
    m.offset = c->offset;
    m.flags = c->flags;
    if (mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 20000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return 23;
    if ((c->flags & OB_MOVE) && c->size && c->memory != OB_STACK) {
        /* The move took every page holding the data. */
        if (maps_hold((uint64_t)(uintptr_t)data) ||
            maps_hold((uint64_t)(uintptr_t)data + c->size - 1))
            return 24;
    } else if (c->size) {
        ool_fill(data, c->size, c->seed + 1000); /* never seen by the receiver */
    }
    if (c->memory == OB_REGION && !((c->flags & OB_MOVE) && c->size))
        (void)vm_deallocate(TASK, (vm_address_t)base, span);
    return 0;
}

static int ob_child(const char *service, const ob_send *cases, size_t n)
{
    mach_port_t server = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS)
        return 10;
    for (size_t i = 0; i < n; i++) {
        int rc = ob_send_one(server, &cases[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int ob_wait(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Receive and check one data message; MT checks. */
static void ob_check_data(mach_port_t port, const ob_send *c)
{
    ob_buf b;
    MT_KR(ob_receive(port, &b, 30000), MACH_MSG_SUCCESS);
    MT_EQ(b.data.h.msgh_id, ID_DATA);
    MT_EQ(b.data.ool.size, c->size);
    MT_EQ(b.data.seed, c->seed);
    if (!c->size) {
        MT_CHECK(b.data.ool.address == NULL);
        return;
    }
    uint64_t addr = (uint64_t)(uintptr_t)b.data.ool.address;
    MT_REQUIRE(addr != 0);
    bool aligned = c->size <= 32768 || ((c->flags & OB_PHYSICAL) && !(c->flags & OB_MOVE));
    MT_EQ(addr % PAGE, aligned ? 0 : c->offset);
    MT_CHECK(ool_verify(b.data.ool.address, c->size, c->seed));
    /* It is ours: writable, and freed with vm_deallocate. */
    memset(b.data.ool.address, 0x77, c->size < PAGE ? c->size : PAGE);
    MT_KR(vm_deallocate(TASK, (vm_address_t)addr, c->size), KERN_SUCCESS);
    MT_CHECK(!maps_hold(addr));
}

static void ob_run(const char *service, const ob_send *cases, size_t n)
{
    mach_port_t port = ob_service(service);
    MT_REQUIRE(MACH_PORT_VALID(port));
    pid_t pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(ob_child(service, cases, n));
    for (size_t i = 0; i < n; i++)
        ob_check_data(port, &cases[i]);
    MT_EQ(ob_wait(pid), 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST_TIMEOUT(copies_from_zero_bytes_to_64_mib_arrive_as_sent, 60)
{
    static const uint64_t sizes[] = {0, 1, 4095, 4096, 32768, 32769, 1u << 20,
                                     (1u << 20) + 4321, 64u << 20};
    ob_send cases[2 * sizeof sizes / sizeof sizes[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cases[n] = (ob_send){sizes[i], 0, OB_REGION, 0, (uint32_t)n + 1};
        n++;
        cases[n] = (ob_send){sizes[i], 123, OB_MALLOC, 0, (uint32_t)n + 1};
        n++;
    }
    ob_run("org.umach.test.ool.copies", cases, n);
}

MT_TEST_TIMEOUT(moves_take_the_memory_from_the_sender, 60)
{
    const ob_send cases[] = {
        {100000, 0, OB_REGION, OB_MOVE, 1},
        {100000, 1000, OB_REGION, OB_MOVE, 2},
        {100, 10, OB_REGION, OB_MOVE, 3},
        {70000, 77, OB_MALLOC, OB_MOVE, 4},
        {100000, 1000, OB_REGION, OB_MOVE | OB_PHYSICAL, 5},
        {16u << 20, 0, OB_REGION, OB_MOVE, 6},
        {64u << 20, 0, OB_REGION, OB_MOVE, 7},
    };
    ob_run("org.umach.test.ool.moves", cases, sizeof cases / sizeof cases[0]);
}

/* Mappings of umach's memfds in this process (/proc/self/maps). */
static int ob_memfd_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "/memfd:umach-") != NULL;
    fclose(f);
    return n;
}

/* A port of ours with a send right, room for `qlimit` messages. */
static mach_port_t ob_own_port(mach_port_msgcount_t qlimit)
{
    mach_port_t p = MACH_PORT_NULL;
    mach_port_limits_t l = {.mpl_qlimit = qlimit};
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS ||
        mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_return_t ob_send_msg(ob_data *m)
{
    return mach_msg(&m->h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof *m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(a_move_the_world_refuses_leaves_the_range_in_place_and_it_moves_later)
{
    const size_t size = 16u << 20;
    mach_port_t port = ob_own_port(4), gone = MACH_PORT_NULL;
    MT_REQUIRE(MACH_PORT_VALID(port));
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &gone), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, gone, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    ool_fill((void *)a, size, 31);
    /* Refused before the core takes the descriptor (a destination that is not ours). */
    ob_data m;
    ob_data_init(&m, gone, (void *)a, (mach_msg_size_t)size, OB_MOVE);
    MT_KR(ob_send_msg(&m), MACH_SEND_INVALID_DEST);
    MT_CHECK(maps_hold(a) && maps_hold(a + size - 1));
    MT_CHECK(ool_verify((void *)a, size, 31));
    ool_fill((void *)a, size, 32); /* ours and writable, as before */
    /* Refused after the core took it (a full queue, no wait): as XNU, the message comes back
     * in the send buffer (pseudo-receive), its memory ours at a new address. */
    ob_data fill;
    ob_data_init(&fill, port, NULL, 0, 0);
    for (int i = 0; i < 4; i++)
        MT_KR(ob_send_msg(&fill), MACH_MSG_SUCCESS);
    ob_data_init(&m, port, (void *)a, (mach_msg_size_t)size, OB_MOVE);
    MT_KR(ob_send_msg(&m), MACH_SEND_TIMED_OUT);
    MT_CHECK(!maps_hold(a));
    MT_EQ(m.ool.size, size);
    MT_CHECK(m.ool.address != NULL && ool_verify(m.ool.address, size, 32));
    a = (vm_address_t)m.ool.address;
    ob_buf b;
    for (int i = 0; i < 4; i++)
        MT_KR(ob_receive(port, &b, 10000), MACH_MSG_SUCCESS);
    /* Then it moves. */
    ob_data_init(&m, port, (void *)a, (mach_msg_size_t)size, OB_MOVE);
    MT_KR(ob_send_msg(&m), MACH_MSG_SUCCESS);
    MT_CHECK(!maps_hold(a) && !maps_hold(a + size - 1));
    MT_KR(ob_receive(port, &b, 10000), MACH_MSG_SUCCESS);
    MT_EQ(b.data.ool.size, size);
    MT_CHECK(b.data.ool.address != NULL && ool_verify(b.data.ool.address, size, 32));
    if (b.data.ool.address)
        MT_KR(vm_deallocate(TASK, (vm_address_t)b.data.ool.address, size), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

MT_TEST_TIMEOUT(moved_ranges_leave_no_mapping_behind_in_the_sender_or_its_child, 60)
{
    const size_t size = 4u << 20;
    mach_port_t port = ob_own_port(4);
    MT_REQUIRE(MACH_PORT_VALID(port));
    vm_address_t small = 0;
    MT_KR(vm_allocate(TASK, &small, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    int before = ob_memfd_mappings();
    MT_REQUIRE(before >= 0);
    /* Forty moves, each received and freed: what the sender kept of them is bounded. */
    for (uint32_t i = 0; i < 40; i++) {
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        ool_fill((void *)a, size, 40 + i);
        ob_data m;
        ob_data_init(&m, port, (void *)a, (mach_msg_size_t)size, OB_MOVE);
        MT_KR(ob_send_msg(&m), MACH_MSG_SUCCESS);
        ob_buf b;
        MT_KR(ob_receive(port, &b, 10000), MACH_MSG_SUCCESS);
        MT_CHECK(b.data.ool.address != NULL && ool_verify(b.data.ool.address, size, 40 + i));
        if (b.data.ool.address)
            MT_KR(vm_deallocate(TASK, (vm_address_t)b.data.ool.address, size), KERN_SUCCESS);
        MT_CHECK(ob_memfd_mappings() <= before + 16);
    }
    /* A child made now has none of them. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(ob_memfd_mappings() <= before ? 0 : 1);
    MT_REQUIRE(pid > 0);
    MT_EQ(ob_wait(pid), 0);
    /* The sender's next allocation lets them go. */
    MT_KR(vm_deallocate(TASK, small, PAGE), KERN_SUCCESS);
    MT_EQ(ob_memfd_mappings(), before);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

MT_TEST(physical_copies_start_a_page_and_stack_memory_is_copied)
{
    const ob_send cases[] = {
        {100000, 1000, OB_REGION, OB_PHYSICAL, 1},
        {100000, 1000, OB_MALLOC, OB_PHYSICAL, 2},
        {5000, 3, OB_STACK, 0, 3},
        {5000, 3, OB_STACK, OB_PHYSICAL, 4},
    };
    ob_run("org.umach.test.ool.physical", cases, sizeof cases / sizeof cases[0]);
}

/* ---- port arrays --------------------------------------------------------------------------- */

static int ob_ports_child(const char *service, uint32_t count)
{
    mach_port_t server = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS)
        return 10;
    mach_port_t mine = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS)
        return 11;
    vm_address_t a = 0;
    if (vm_allocate(TASK, &a, count * sizeof(mach_port_t), VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 12;
    mach_port_t *names = (mach_port_t *)a;
    for (uint32_t i = 0; i < count; i++)
        names[i] = i % 3 == 0 ? mine : i % 3 == 1 ? MACH_PORT_DEAD : MACH_PORT_NULL;
    ob_ports m;
    ob_head(&m, sizeof m, server, ID_PORTS);
    m.ports.address = names;
    m.ports.count = count;
    m.ports.deallocate = true;
    m.ports.copy = MACH_MSG_VIRTUAL_COPY;
    m.ports.disposition = MACH_MSG_TYPE_MAKE_SEND;
    m.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    m.count = count;
    if (mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
        return 13;
    if (maps_hold(a))
        return 14; /* deallocate: the array left the sender */
    /* The receiver's send rights reach our port: one message comes back on it. */
    ob_buf b;
    if (ob_receive(mine, &b, 30000) != MACH_MSG_SUCCESS || b.data.h.msgh_id != ID_DONE)
        return 15;
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    if (mach_port_get_attributes(TASK, mine, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                 &n) != KERN_SUCCESS || st.mps_mscount != (count + 2) / 3)
        return 16; /* one send right made per name in the array */
    return 0;
}

static void ob_run_ports(const char *service, uint32_t count)
{
    mach_port_t port = ob_service(service);
    MT_REQUIRE(MACH_PORT_VALID(port));
    pid_t pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(ob_ports_child(service, count));
    ob_buf b;
    MT_KR(ob_receive(port, &b, 30000), MACH_MSG_SUCCESS);
    MT_EQ(b.ports.h.msgh_id, ID_PORTS);
    MT_EQ(b.ports.ports.count, count);
    MT_EQ(b.ports.ports.disposition, MACH_MSG_TYPE_PORT_SEND);
    const mach_port_t *names = b.ports.ports.address;
    MT_REQUIRE(names != NULL);
    MT_EQ((uintptr_t)names % PAGE, 0);
    mach_port_t first = names[0];
    MT_REQUIRE(MACH_PORT_VALID(first));
    for (uint32_t i = 0; i < count; i++)
        MT_EQ(names[i], i % 3 == 0 ? first : i % 3 == 1 ? MACH_PORT_DEAD : MACH_PORT_NULL);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, first, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    MT_EQ(refs, (count + 2) / 3);
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = first;
    h.msgh_id = ID_DONE;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)names, count * sizeof *names), KERN_SUCCESS);
    MT_EQ(ob_wait(pid), 0);
    MT_KR(mach_port_deallocate(TASK, first), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(port_arrays_cross_as_rights_and_arrive_as_task_memory)
{
    ob_run_ports("org.umach.test.ool.ports.3", 3);
    ob_run_ports("org.umach.test.ool.ports.3000", 3000);
    ob_run_ports("org.umach.test.ool.ports.16383", 16383);
}

/* ---- bad sizes, and memory queued for a task that dies ---------------------------------------- */

MT_TEST(a_size_past_the_senders_memory_is_send_invalid_memory_and_takes_nothing)
{
    mach_port_t port = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    /* 64 KiB mapped, a descriptor of 1 MiB from it, moved: XNU refuses and takes nothing. */
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, 65536 + (1 << 20), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a + 65536, 1 << 20), KERN_SUCCESS); /* a hole after 64 KiB */
    MT_REQUIRE(!maps_hold(a + 65536));
    ob_data m;
    ob_data_init(&m, port, (void *)a, 1 << 20, OB_MOVE);
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_SEND_INVALID_MEMORY);
    MT_CHECK(maps_hold(a));
    /* Nothing was queued; the same memory with its true size goes. */
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 0);
    ool_fill((uint8_t *)a, 65536, 9);
    m.ool.size = 65536;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_CHECK(!maps_hold(a));
    ob_buf b;
    MT_KR(ob_receive(port, &b, 10000), MACH_MSG_SUCCESS);
    MT_CHECK(ool_verify(b.data.ool.address, 65536, 9));
    MT_KR(vm_deallocate(TASK, (vm_address_t)b.data.ool.address, 65536), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, port), KERN_SUCCESS);
}

/* The receiver: checks a port in, tells the parent it is ready, then never receives. */
static int ob_sleeper(const char *service, int ready)
{
    mach_port_t port = ob_service(service);
    if (!MACH_PORT_VALID(port))
        return 30;
    char c = 1;
    if (write(ready, &c, 1) != 1)
        return 31;
    for (;;)
        pause();
}

MT_TEST_TIMEOUT(memory_queued_for_a_task_that_is_killed_leaves_nothing_in_umachd, 60)
{
    pid_t d = ob_daemon_pid();
    MT_REQUIRE(d > 0);
    /* Tasks of the tests before may still be ending: their descriptors come and go. */
    int before = ob_fds_settle(d, false, -1);
    int memfds_before = ob_fds_settle(d, true, -1);
    MT_REQUIRE(before > 0);
    MT_EQ(memfds_before, 0); /* nothing queued anywhere */
    int p[2];
    MT_REQUIRE(pipe(p) == 0);
    const char *service = "org.umach.test.ool.sleeper";
    pid_t r = fork();
    MT_REQUIRE(r >= 0);
    if (r == 0)
        _exit(ob_sleeper(service, p[1]));
    char c = 0;
    MT_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    /* Three messages of 1 MiB (each a memfd in umachd) and one of 100 bytes wait for it. */
    const ob_send cases[] = {
        {1u << 20, 0, OB_REGION, 0, 1},
        {1u << 20, 5, OB_MALLOC, 0, 2},
        {1u << 20, 0, OB_REGION, OB_MOVE, 3},
        {100, 0, OB_MALLOC, 0, 4},
    };
    pid_t s = fork();
    MT_REQUIRE(s >= 0);
    if (s == 0)
        _exit(ob_child(service, cases, sizeof cases / sizeof cases[0]));
    MT_EQ(ob_wait(s), 0);
    /* The three large pieces are memfds umachd holds while their messages wait. */
    MT_EQ(ob_fds_settle(d, true, -1), 3);
    kill(r, SIGKILL);
    MT_EQ(ob_wait(r), 128 + SIGKILL);
    /* The receiver's task died, its queue with it: no memfd, no descriptor left. */
    MT_EQ(ob_fds_settle(d, true, 0), 0);
    MT_EQ(ob_fds_settle(d, false, before), before);
}

MT_MAIN()
