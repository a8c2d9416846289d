/*
 * bench_world.c — Mach IPC between two processes of a umach world (issue 13, docs/world.md)
 * next to what a Linux program would otherwise use between two processes, every ratio
 * measured in the same run, with both processes on one CPU ("same_cpu") and on two
 * ("cross_cpu").
 *
 *   rpc   64-byte request/reply round trips: a SOCK_SEQPACKET ping-pong; a D-Bus method call
 *         through a private dbus-daemon; mach_msg between two tasks of a world (the client
 *         sends and receives in one call with a MAKE_SEND_ONCE reply right, the server replies
 *         MOVE_SEND_ONCE and receives the next request in the same call, as a MIG server).
 *         Targets: world / SEQPACKET <= 2.0 on one CPU and <= 1.0 across CPUs; world / D-Bus
 *         <= 0.25.
 *   tput  one-way throughput of 64-byte payloads: a SOCK_SEQPACKET stream against mach_msg
 *         to a port with queue limit 1024 in the other process. Target: world / SEQPACKET
 *         >= 0.5.
 *   ool   16 MiB from one process to the other: one memcpy into freshly mapped pages (the
 *         reference), a sealed memfd passed over SCM_RIGHTS and mapped by the receiver, and an
 *         out-of-line move (vm_allocate'd memory, deallocate = TRUE) between two tasks of a
 *         world. Target: world move / memcpy <= 0.05.
 *
 * Who runs where. The baselines are this process (client, sender) and a forked child
 * (server, receiver), each pinned; a daemon (dbus-daemon) is pinned with them on one CPU and
 * left free on the two CPUs across. The world rows run `umach-run -- <this program>
 * --world-role ...`, pinned the same way (umachd inherits the pinning): that process is the
 * server task; it checks a service in with the world's bootstrap server and forks the client,
 * a new task that looks the service up. Results come back over a pipe.
 *
 * The world rows are tried, never assumed: while the world cannot serve them (the client
 * front end or out-of-line memory between processes not built yet, umach-run missing), the
 * row says "not available yet: <reason>" and the ratios that need it say so instead of OK or
 * MISS. The D-Bus row needs dbus-daemon and libdbus-1.so.3 (opened with dlopen, so no
 * development headers are needed); without them it is skipped with a note.
 *
 * The D-Bus row times dbus_connection_send_with_reply_and_block only (the messages are built
 * and the reply parsed outside the timing), so it is the cheapest a libdbus client can be.
 * Each rpc row also gives the CPU time per round trip of every process involved, so a
 * latency won by polling shows what it costs: the client and the server each read their own
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID) over their measured round trips, the server's
 * figure comes back to the client, and a daemon's (umachd, dbus-daemon) is read from
 * /proc/PID/task/TID/schedstat at both ends once all its threads sleep (daemon_cpu_ns).
 *
 * BENCH_QUICK=1 cuts the counts (the smoke run of `make check`; timings are not judged there);
 * BENCH_ONLY=rpc,tput,ool runs only the named sections. A missed target is reported as MISS and
 * does not change the exit code; a wrong message, a failed baseline or an error of the world
 * after it once served a row exits 1.
 */
#include "bench.h"

#include <servers/bootstrap.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PAYLOAD = 64, TPUT_QLIMIT = 1024, TPUT_REPS = 3 };
#define OOL_SIZE ((size_t)16 * 1024 * 1024)

/* The world's first answer must come within this; then it is working, or it is not there. */
enum { WORLD_HELLO_MS = 2000 };
/* Neither side of a world run may wait longer than this for the other (a hang is a failure). */
enum { WORLD_WAIT_MS = 60000, WORLD_WATCHDOG_S = 240 };

static size_t rpc_warm(void) { return iters(2000, 100); }
static size_t rpc_count(void) { return iters(20000, 1000); }
static size_t dbus_warm(void) { return iters(500, 50); }
static size_t dbus_count(void) { return iters(5000, 300); }
static size_t tput_count(void) { return iters(50000, 5000); }
static size_t ool_count(void) { return iters(30, 4); }

static cpu_set_t bench_allowed; /* the CPUs the program was started on */

static void unpin_self(void)
{
    if (sched_setaffinity(0, sizeof bench_allowed, &bench_allowed) != 0)
        fail_errno("sched_setaffinity");
}

/* ---- plumbing ------------------------------------------------------------------------------ */

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_errno("write");
        p += n;
        len -= (size_t)n;
    }
}

/* Reads exactly len bytes; false at end of file before the first byte. */
static bool read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_errno("read");
        if (n == 0) {
            if (got == 0)
                return false;
            fail("read: short record");
        }
        got += (size_t)n;
    }
    return true;
}

/* One SEQPACKET record of exactly len bytes. */
static void seq_send(int fd, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = send(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        fail_errno("send (SEQPACKET)");
}

static void seq_recv(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        fail(n < 0 ? "recv (SEQPACKET) failed" : "recv (SEQPACKET): wrong length");
}

static pid_t fork_pinned(int cpu)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_errno("fork");
    if (pid == 0 && cpu >= 0)
        pin_self(cpu);
    return pid;
}

/* One look at a process's threads: their CPU time so far (schedstat), and whether none of
 * them was running or runnable when looked at. */
typedef struct proc_look {
    uint64_t ns;
    bool asleep;
} proc_look;

static proc_look proc_look_at(pid_t pid)
{
    proc_look l = {0, true};
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return l;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[128], line[512];
        unsigned long long ns = 0;
        snprintf(path, sizeof path, "%s/%.20s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%llu", &ns) == 1)
                l.ns += ns;
            fclose(f);
        }
        /* The state follows the command's closing parenthesis (the command may hold one). */
        snprintf(path, sizeof path, "%s/%.20s/stat", dir, e->d_name);
        f = fopen(path, "r");
        if (f) {
            size_t len = fread(line, 1, sizeof line - 1, f);
            line[len] = '\0';
            const char *close = strrchr(line, ')');
            if (close && close[1] == ' ' && close[2] == 'R')
                l.asleep = false;
            fclose(f);
        }
    }
    closedir(d);
    return l;
}

/*
 * The CPU time so far of every thread of a daemon we cannot ask (umachd, dbus-daemon), in ns;
 * 0 for no pid. A thread's schedstat is brought up to date when it stops running and only at
 * a scheduler tick (~4 ms) while it runs, so it is exact only for a sleeping thread: this
 * waits (1 ms at a time, up to 2 s) until two looks 1 ms apart find every thread asleep and
 * the sum unchanged, which a thread that was still running at the first look cannot give.
 * A daemon that never rests for that long gives its last figure, said on stderr.
 */
static uint64_t daemon_cpu_ns(pid_t pid, const char *who)
{
    if (pid <= 0)
        return 0;
    proc_look a = proc_look_at(pid);
    for (int waited = 0; waited < 2000; waited++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
        proc_look b = proc_look_at(pid);
        if (a.asleep && b.asleep && a.ns == b.ns)
            return b.ns;
        a = b;
    }
    fprintf(stderr, "%s: %s never slept 1 ms in 2 s; its CPU time may lack a tick's worth\n",
            program_invocation_short_name, who);
    return a.ns;
}

/* Waits for a child the baselines forked; it must have exited 0. */
static void reap(pid_t pid, const char *who)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_errno("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: %s ended with status 0x%x\n", program_invocation_short_name, who,
                (unsigned)status);
        exit(1);
    }
}

/* An executable named `name` on PATH (or the path itself when it has a slash), into out. */
static bool find_program(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0) {
            snprintf(out, outlen, "%.*s/%s", (int)len, path, name);
            if (access(out, X_OK) == 0)
                return true;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    return false;
}

/* A row's outcome: measured, or why not. */
typedef struct row {
    bool have;
    lat_stats lat; /* rpc, ool */
    double rate;   /* tput, messages per second */
    char why[240]; /* when !have */
} row;

static void row_unavailable(row *r, const char *fmt, const char *arg)
{
    r->have = false;
    snprintf(r->why, sizeof r->why, fmt, arg);
}

/* ---- SEQPACKET baselines ----------------------------------------------------------------- */

typedef struct seq_msg {
    uint64_t seq;
    uint8_t pad[PAYLOAD - sizeof(uint64_t)];
} seq_msg;

static row seqpacket_rpc(int cpu_client, int cpu_server)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        fail_errno("socketpair");
    size_t warm = rpc_warm(), n = rpc_count(), total = warm + n;
    pid_t pid = fork_pinned(cpu_server);
    if (pid == 0) {
        close(sv[0]);
        seq_msg m;
        uint64_t s0 = 0;
        for (size_t i = 0; i < total; i++) {
            if (i == warm)
                s0 = cpu_ns();
            seq_recv(sv[1], &m, sizeof m);
            if (m.seq != i)
                fail("SEQPACKET ping-pong: wrong request");
            seq_send(sv[1], &m, sizeof m);
        }
        /* Its CPU time over the measured round trips, for the client to add. */
        m.seq = cpu_ns() - s0;
        seq_send(sv[1], &m, sizeof m);
        _exit(0);
    }
    close(sv[1]);
    pin_self(cpu_client);
    uint64_t *lat = xcalloc(n, sizeof *lat);
    seq_msg m;
    memset(&m, 0, sizeof m);
    uint64_t c0 = 0;
    for (size_t i = 0; i < total; i++) {
        if (i == warm)
            c0 = cpu_ns();
        m.seq = i;
        uint64_t t0 = now_ns();
        seq_send(sv[0], &m, sizeof m);
        seq_recv(sv[0], &m, sizeof m);
        uint64_t t1 = now_ns();
        if (m.seq != i)
            fail("SEQPACKET ping-pong: wrong reply");
        if (i >= warm)
            lat[i - warm] = t1 - t0;
    }
    uint64_t client_ns = cpu_ns() - c0;
    seq_recv(sv[0], &m, sizeof m);
    uint64_t server_ns = m.seq;
    unpin_self();
    close(sv[0]);
    reap(pid, "the SEQPACKET server");
    row r = {.have = true, .lat = stats_of(lat, n)};
    r.lat.cpu_us = (double)(client_ns + server_ns) / 1e3 / (double)n;
    free(lat);
    return r;
}

/* Messages per second of `n` one-way 64-byte records; the median of TPUT_REPS runs. */
static row seqpacket_tput(int cpu_sender, int cpu_receiver)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        fail_errno("socketpair");
    size_t n = tput_count();
    pid_t pid = fork_pinned(cpu_receiver);
    if (pid == 0) {
        close(sv[0]);
        for (int rep = 0; rep < TPUT_REPS; rep++) {
            seq_msg m;
            for (size_t i = 0; i < n; i++) {
                seq_recv(sv[1], &m, sizeof m);
                if (m.seq != i)
                    fail("SEQPACKET stream: wrong record");
            }
            uint64_t t_end = now_ns();
            seq_send(sv[1], &t_end, sizeof t_end);
        }
        _exit(0);
    }
    close(sv[1]);
    pin_self(cpu_sender);
    double rates[TPUT_REPS];
    for (int rep = 0; rep < TPUT_REPS; rep++) {
        seq_msg m;
        memset(&m, 0, sizeof m);
        uint64_t t_start = now_ns();
        for (size_t i = 0; i < n; i++) {
            m.seq = i;
            seq_send(sv[0], &m, sizeof m);
        }
        uint64_t t_end = 0;
        seq_recv(sv[0], &t_end, sizeof t_end);
        rates[rep] = (double)n / ((double)(t_end - t_start) / 1e9);
    }
    unpin_self();
    close(sv[0]);
    reap(pid, "the SEQPACKET receiver");
    return (row){.have = true, .rate = median(rates, TPUT_REPS)};
}

/* ---- 16 MiB: a copy into fresh pages, a sealed memfd --------------------------------------- */

static void fill_pages(uint8_t *p, size_t size, uint8_t v)
{
    for (size_t off = 0; off < size; off += 4096)
        p[off] = v;
    p[size - 1] = v;
}

static row memcpy_16mib(int cpu)
{
    size_t n = ool_count();
    uint8_t *src = mmap(NULL, OOL_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (src == MAP_FAILED)
        fail_errno("mmap");
    memset(src, 0x5a, OOL_SIZE);
    pin_self(cpu);
    uint64_t *lat = xcalloc(n, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        uint8_t tag = (uint8_t)(i + 1);
        src[0] = tag;
        uint64_t t0 = now_ns();
        uint8_t *dst =
            mmap(NULL, OOL_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (dst == MAP_FAILED)
            fail_errno("mmap");
        memcpy(dst, src, OOL_SIZE);
        lat[i] = now_ns() - t0;
        if (dst[0] != tag || dst[OOL_SIZE - 1] != 0x5a)
            fail("memcpy: wrong data");
        munmap(dst, OOL_SIZE);
    }
    unpin_self();
    munmap(src, OOL_SIZE);
    row r = {.have = true, .lat = stats_of(lat, n)};
    free(lat);
    return r;
}

static void send_fd(int sock, int fd)
{
    char byte = 'm';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sock, &mh, 0) != 1)
        fail_errno("sendmsg (SCM_RIGHTS)");
}

static int recv_fd(int sock)
{
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
        fail_errno("recvmsg (SCM_RIGHTS)");
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        fail("recvmsg: no descriptor");
    int fd = -1;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/*
 * The sender fills a memfd through a shared mapping and drops the mapping (a writable mapping
 * forbids F_SEAL_WRITE); then, timed: it seals the memfd (no write, grow, shrink or further
 * seals) and passes it; the receiver maps it, reads its first and last byte, and answers with
 * one byte. The receiver's munmap and close are not timed, as a Mach receiver's vm_deallocate
 * is not (and the next transfer starts after them). `with_unmap` gets the same plus the sender's munmap before the seal, which a move
 * of mapped memory must pay too.
 */
static row memfd_16mib(int cpu_sender, int cpu_receiver, row *with_unmap)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        fail_errno("socketpair");
    size_t n = ool_count();
    pid_t pid = fork_pinned(cpu_receiver);
    if (pid == 0) {
        close(sv[0]);
        for (size_t i = 0; i < n; i++) {
            int fd = recv_fd(sv[1]);
            uint8_t *p = mmap(NULL, OOL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED)
                fail_errno("mmap (memfd)");
            uint8_t tag = (uint8_t)(i + 1);
            char ok = p[0] == tag && p[OOL_SIZE - 1] == tag ? 'y' : 'n';
            seq_send(sv[1], &ok, 1);
            munmap(p, OOL_SIZE);
            close(fd);
            seq_send(sv[1], "d", 1); /* done: the next transfer does not wait behind this one */
        }
        _exit(0);
    }
    close(sv[1]);
    pin_self(cpu_sender);
    uint64_t *lat = xcalloc(n, sizeof *lat), *lat_unmap = xcalloc(n, sizeof *lat_unmap);
    for (size_t i = 0; i < n; i++) {
        int fd = memfd_create("bench_world", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            fail_errno("memfd_create");
        if (ftruncate(fd, (off_t)OOL_SIZE) != 0)
            fail_errno("ftruncate");
        uint8_t *p = mmap(NULL, OOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            fail_errno("mmap (memfd)");
        uint8_t tag = (uint8_t)(i + 1);
        fill_pages(p, OOL_SIZE, tag);
        uint64_t t_unmap = now_ns();
        munmap(p, OOL_SIZE);
        uint64_t t0 = now_ns();
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
            fail_errno("fcntl (F_ADD_SEALS)");
        send_fd(sv[0], fd);
        char ok = 0;
        seq_recv(sv[0], &ok, 1);
        uint64_t t1 = now_ns();
        lat[i] = t1 - t0;
        lat_unmap[i] = t1 - t_unmap;
        close(fd);
        if (ok != 'y')
            fail("memfd: wrong data");
        seq_recv(sv[0], &ok, 1);
    }
    unpin_self();
    close(sv[0]);
    reap(pid, "the memfd receiver");
    row r = {.have = true, .lat = stats_of(lat, n)};
    *with_unmap = (row){.have = true, .lat = stats_of(lat_unmap, n)};
    free(lat);
    free(lat_unmap);
    return r;
}

/* ---- D-Bus through a private dbus-daemon ------------------------------------------------- */

/*
 * The part of libdbus's stable C ABI that the row uses, opened with dlopen so that the
 * bench needs neither libdbus-1-dev nor a link to libdbus. Objects are opaque pointers;
 * every DBusError argument is NULL (allowed throughout libdbus).
 */
typedef struct dbus_api {
    void *(*open_private)(const char *address, void *error);
    uint32_t (*bus_register)(void *conn, void *error);
    int (*request_name)(void *conn, const char *name, unsigned flags, void *error);
    void *(*new_method_call)(const char *dest, const char *path, const char *iface,
                             const char *method);
    void *(*new_method_return)(void *call);
    uint32_t (*append_args)(void *msg, int first_type, ...);
    uint32_t (*get_args)(void *msg, void *error, int first_type, ...);
    void *(*call_and_block)(void *conn, void *msg, int timeout_ms, void *error);
    uint32_t (*read_write)(void *conn, int timeout_ms);
    void *(*pop_message)(void *conn);
    uint32_t (*send)(void *conn, void *msg, uint32_t *serial);
    void (*flush)(void *conn);
    uint32_t (*is_method_call)(void *msg, const char *iface, const char *method);
    void (*message_unref)(void *msg);
    void (*close)(void *conn);
    void (*connection_unref)(void *conn);
} dbus_api;

enum {
    DBUS_T_INVALID = 0,
    DBUS_T_BYTE = 'y',
    DBUS_T_ARRAY = 'a',
    DBUS_NAME_DO_NOT_QUEUE = 4,
    DBUS_NAME_PRIMARY_OWNER = 1,
};

#define BENCH_DBUS_NAME "org.umach.BenchWorld"
#define BENCH_DBUS_PATH "/org/umach/BenchWorld"

/* Fills api from libdbus-1.so.3; false (and why) when it is not there. */
static bool dbus_load(dbus_api *api, char *why, size_t whylen)
{
    void *lib = dlopen("libdbus-1.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, whylen, "libdbus-1.so.3 not found (%s)", dlerror());
        return false;
    }
    static const char *const names[] = {
        "dbus_connection_open_private", "dbus_bus_register",
        "dbus_bus_request_name", "dbus_message_new_method_call",
        "dbus_message_new_method_return", "dbus_message_append_args",
        "dbus_message_get_args", "dbus_connection_send_with_reply_and_block",
        "dbus_connection_read_write", "dbus_connection_pop_message",
        "dbus_connection_send", "dbus_connection_flush",
        "dbus_message_is_method_call", "dbus_message_unref",
        "dbus_connection_close", "dbus_connection_unref",
    };
    void *syms[sizeof names / sizeof names[0]];
    _Static_assert(sizeof syms == sizeof(dbus_api), "one symbol per dbus_api member");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        syms[i] = dlsym(lib, names[i]);
        if (!syms[i]) {
            snprintf(why, whylen, "libdbus-1.so.3 has no %s", names[i]);
            dlclose(lib);
            return false;
        }
    }
    /* POSIX: a data pointer from dlsym converts to the function's type. */
    memcpy(api, syms, sizeof *api);
    return true;
}

/* NULL when the private bus cannot be joined. */
static void *dbus_connect(const dbus_api *api, const char *address)
{
    void *conn = api->open_private(address, NULL);
    if (conn && !api->bus_register(conn, NULL)) {
        api->close(conn);
        api->connection_unref(conn);
        conn = NULL;
    }
    return conn;
}

static void dbus_disconnect(const dbus_api *api, void *conn)
{
    api->close(conn);
    api->connection_unref(conn);
}

/*
 * Answers `warm` + `n` Echo calls (a 64-byte array back), then returns. Writes "r" to
 * `ready_fd` once it owns its name, and at the end its thread's CPU time over the last `n`
 * calls (a uint64_t, ns).
 */
static void dbus_server(const dbus_api *api, const char *address, size_t warm, size_t n,
                        int ready_fd)
{
    void *conn = dbus_connect(api, address);
    if (!conn)
        fail("D-Bus: the server cannot connect to the private dbus-daemon");
    if (api->request_name(conn, BENCH_DBUS_NAME, DBUS_NAME_DO_NOT_QUEUE, NULL) !=
        DBUS_NAME_PRIMARY_OWNER)
        fail("D-Bus: cannot own " BENCH_DBUS_NAME);
    write_all(ready_fd, "r", 1);
    size_t served = 0, total = warm + n;
    uint64_t s0 = 0;
    bool marked = false;
    while (served < total) {
        if (served == warm && !marked) {
            s0 = cpu_ns();
            marked = true;
        }
        if (!api->read_write(conn, -1))
            fail("D-Bus: the connection closed");
        void *msg;
        while ((msg = api->pop_message(conn)) != NULL) {
            if (api->is_method_call(msg, BENCH_DBUS_NAME, "Echo")) {
                const uint8_t *data = NULL;
                int len = 0;
                if (!api->get_args(msg, NULL, DBUS_T_ARRAY, DBUS_T_BYTE, &data, &len,
                                   DBUS_T_INVALID) ||
                    len != PAYLOAD)
                    fail("D-Bus: wrong call");
                void *reply = api->new_method_return(msg);
                if (!reply ||
                    !api->append_args(reply, DBUS_T_ARRAY, DBUS_T_BYTE, &data, len,
                                      DBUS_T_INVALID) ||
                    !api->send(conn, reply, NULL))
                    fail("D-Bus: cannot reply");
                api->flush(conn);
                api->message_unref(reply);
                served++;
            }
            api->message_unref(msg);
        }
    }
    uint64_t ns = cpu_ns() - s0;
    write_all(ready_fd, &ns, sizeof ns);
    close(ready_fd);
    dbus_disconnect(api, conn);
}

/*
 * The client's round trips; NULL, or what went wrong (the row is then skipped). *used_ns gets
 * the CPU time of this thread and of the bus daemon `daemon` over the measured ones.
 */
static const char *dbus_client(const dbus_api *api, const char *address, size_t warm, size_t n,
                               uint64_t *lat, pid_t daemon, uint64_t *used_ns)
{
    uint64_t c0 = 0, d0 = 0;
    void *conn = dbus_connect(api, address);
    if (!conn)
        return "the client cannot connect to the private dbus-daemon";
    const char *err = NULL;
    uint8_t payload[PAYLOAD];
    for (size_t i = 0; i < warm + n && !err; i++) {
        if (i == warm) {
            d0 = daemon_cpu_ns(daemon, "dbus-daemon");
            c0 = cpu_ns();
        }
        memset(payload, (int)(i & 0xff), sizeof payload);
        const uint8_t *p = payload;
        void *call =
            api->new_method_call(BENCH_DBUS_NAME, BENCH_DBUS_PATH, BENCH_DBUS_NAME, "Echo");
        if (!call ||
            !api->append_args(call, DBUS_T_ARRAY, DBUS_T_BYTE, &p, PAYLOAD, DBUS_T_INVALID)) {
            err = "cannot build a call";
            if (call)
                api->message_unref(call);
            break;
        }
        uint64_t t0 = now_ns();
        void *reply = api->call_and_block(conn, call, 10000, NULL);
        uint64_t t1 = now_ns();
        const uint8_t *data = NULL;
        int len = 0;
        if (!reply)
            err = "a call failed";
        else if (!api->get_args(reply, NULL, DBUS_T_ARRAY, DBUS_T_BYTE, &data, &len,
                                DBUS_T_INVALID) ||
                 len != PAYLOAD || data[0] != (uint8_t)(i & 0xff))
            err = "a wrong reply";
        if (reply)
            api->message_unref(reply);
        api->message_unref(call);
        if (i >= warm)
            lat[i - warm] = t1 - t0;
    }
    if (!err) {
        uint64_t client_ns = cpu_ns() - c0;
        *used_ns = client_ns + (daemon_cpu_ns(daemon, "dbus-daemon") - d0);
    }
    dbus_disconnect(api, conn);
    return err;
}

/* A private bus: a generated configuration in a fresh directory, the daemon's address. */
typedef struct dbus_bus {
    char dir[64];
    char conf[96];
    char address[512];
    pid_t daemon;
} dbus_bus;

static bool dbus_bus_start(dbus_bus *bus, const char *daemon_path, int cpu, char *why,
                           size_t whylen)
{
    snprintf(bus->dir, sizeof bus->dir, "/tmp/bench_world.XXXXXX");
    if (!mkdtemp(bus->dir))
        fail_errno("mkdtemp");
    snprintf(bus->conf, sizeof bus->conf, "%s/bus.conf", bus->dir);
    FILE *f = fopen(bus->conf, "w");
    if (!f)
        fail_errno("fopen (bus.conf)");
    fprintf(f,
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
            " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
            "<busconfig>\n"
            "  <type>session</type>\n"
            "  <listen>unix:path=%s/bus</listen>\n"
            "  <auth>EXTERNAL</auth>\n"
            "  <policy context=\"default\">\n"
            "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
            "    <allow eavesdrop=\"true\"/>\n"
            "    <allow own=\"*\"/>\n"
            "  </policy>\n"
            "</busconfig>\n",
            bus->dir);
    if (fclose(f) != 0)
        fail_errno("fclose (bus.conf)");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        fail_errno("pipe2");
    pid_t pid = fork_pinned(cpu);
    if (pid == 0) {
        char conf_arg[128], fd_arg[32];
        snprintf(conf_arg, sizeof conf_arg, "--config-file=%s", bus->conf);
        snprintf(fd_arg, sizeof fd_arg, "--print-address=%d", p[1]);
        int fl = fcntl(p[1], F_GETFD);
        fcntl(p[1], F_SETFD, fl & ~FD_CLOEXEC);
        /* Its complaints (e.g. that it may not raise its fd limit) go to a log, shown if
         * it does not start. */
        char log[128];
        snprintf(log, sizeof log, "%s/daemon.log", bus->dir);
        int devnull = open("/dev/null", O_RDWR);
        int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (devnull >= 0 && logfd >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(logfd, STDERR_FILENO);
        }
        execl(daemon_path, daemon_path, conf_arg, "--nofork", "--nopidfile", fd_arg,
              (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    bus->daemon = pid;
    size_t len = 0;
    while (len + 1 < sizeof bus->address) {
        ssize_t k = read(p[0], bus->address + len, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || bus->address[len] == '\n')
            break;
        len++;
    }
    bus->address[len] = '\0';
    close(p[0]);
    char log[128];
    snprintf(log, sizeof log, "%s/daemon.log", bus->dir);
    if (len == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        char first[120] = "";
        FILE *lf = fopen(log, "r");
        if (lf) {
            if (!fgets(first, sizeof first, lf))
                first[0] = '\0';
            first[strcspn(first, "\n")] = '\0';
            fclose(lf);
        }
        snprintf(why, whylen, "dbus-daemon did not start (status 0x%x) %s", (unsigned)status,
                 first);
        unlink(log);
        unlink(bus->conf);
        rmdir(bus->dir);
        return false;
    }
    return true;
}

static void dbus_bus_stop(dbus_bus *bus)
{
    kill(bus->daemon, SIGTERM);
    int status = 0;
    while (waitpid(bus->daemon, &status, 0) < 0 && errno == EINTR)
        ;
    char path[128];
    snprintf(path, sizeof path, "%s/bus", bus->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/daemon.log", bus->dir);
    unlink(path);
    unlink(bus->conf);
    rmdir(bus->dir);
}

static row dbus_rpc(int cpu_client, int cpu_server, bool both_cpus)
{
    row r = {0};
    char daemon_path[512];
    if (!find_program("dbus-daemon", daemon_path, sizeof daemon_path)) {
        row_unavailable(&r, "skipped: %s", "dbus-daemon is not installed");
        return r;
    }
    dbus_api api;
    char why[200];
    if (!dbus_load(&api, why, sizeof why)) {
        row_unavailable(&r, "skipped: %s", why);
        return r;
    }
    dbus_bus bus;
    if (!dbus_bus_start(&bus, daemon_path, both_cpus ? -1 : cpu_client, why, sizeof why)) {
        row_unavailable(&r, "skipped: %s", why);
        return r;
    }
    size_t warm = dbus_warm(), n = dbus_count();
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        fail_errno("pipe2");
    pid_t pid = fork_pinned(cpu_server);
    if (pid == 0) {
        close(ready[0]);
        dbus_server(&api, bus.address, warm, n, ready[1]);
        _exit(0);
    }
    close(ready[1]);
    /* D-Bus is a baseline: when it does not work here, the row is skipped, never failed. */
    char byte;
    bool started = read_all(ready[0], &byte, 1);
    const char *err = "the server did not start (see above)";
    uint64_t client_daemon_ns = 0, server_ns = 0;
    uint64_t *lat = xcalloc(n, sizeof *lat);
    if (started) {
        pin_self(cpu_client);
        err = dbus_client(&api, bus.address, warm, n, lat, bus.daemon, &client_daemon_ns);
        unpin_self();
    }
    if (!err && !read_all(ready[0], &server_ns, sizeof server_ns))
        err = "the server did not report its CPU time";
    close(ready[0]);
    if (err)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_errno("waitpid");
    dbus_bus_stop(&bus);
    if (!err && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        err = "the server failed (see above)";
    if (err) {
        row_unavailable(&r, "skipped: D-Bus: %s", err);
    } else {
        r.have = true;
        r.lat = stats_of(lat, n);
        r.lat.cpu_us = (double)(client_daemon_ns + server_ns) / 1e3 / (double)n;
    }
    free(lat);
    return r;
}

/* ---- the world: two tasks of one umachd ------------------------------------------------------ */

enum {
    W_HELLO = 5000,
    W_RPC = 5001,
    W_TPUT = 5002,
    W_OOL = 5003,
    W_DONE = 5004,
    W_CPU = 5005, /* after the RPCs: the reply's seq is the server's CPU time over them (ns) */
    W_REPLY = 100, /* a reply's id is its request's + W_REPLY */
};

typedef struct w_msg {
    mach_msg_header_t h;
    uint64_t seq;
    uint64_t stamp; /* tput: CLOCK_MONOTONIC when the batch began (the clock is system-wide) */
    uint8_t pad[PAYLOAD - 2 * sizeof(uint64_t)];
} w_msg;

typedef struct w_ool_msg {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t d;
    uint64_t seq;
} w_ool_msg;

typedef union w_buf {
    w_msg m;
    w_ool_msg o;
    uint8_t space[sizeof(w_ool_msg) + sizeof(w_msg) + sizeof(mach_msg_max_trailer_t)];
} w_buf;

/* What a world run reports over its pipe, one fixed-size record each (atomic: < PIPE_BUF). */
enum { REC_HELLO, REC_RPC, REC_TPUT, REC_OOL, REC_KINDS };
enum { REC_MEASURED = 1, REC_UNAVAILABLE = 0, REC_FAILED = -1 };

typedef struct w_record {
    int32_t kind;
    int32_t status;
    double median_us, p99_us, cpu_us, rate;
    char why[200];
} w_record;

static int world_fd = -1;
static char world_service[64]; /* the service's bootstrap name, set before the fork */
static pid_t world_daemon;      /* umachd (umach-run's other child), 0 if not found */

/* umachd's pid: the child of our parent (umach-run) that is not us. */
static pid_t find_world_daemon(void)
{
    char path[96];
    pid_t parent = getppid();
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int pid = 0, found = 0;
    while (fscanf(f, "%d", &pid) == 1)
        if (pid != (int)getpid())
            found = pid;
    fclose(f);
    return (pid_t)found;
}

/* A row the world cannot serve (or a failure): `what`, and the Mach error unless kr is 0. */
static void w_report(int kind, int status, const char *what, kern_return_t kr)
{
    w_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = kind;
    rec.status = status;
    if (kr != KERN_SUCCESS)
        snprintf(rec.why, sizeof rec.why, "%s: 0x%x %s", what, (unsigned)kr,
                 mach_error_string(kr));
    else
        snprintf(rec.why, sizeof rec.why, "%s", what);
    write_all(world_fd, &rec, sizeof rec);
}

/* A measured row: latencies (rpc, ool) or a rate (tput). */
static void w_measured(int kind, lat_stats s, double rate)
{
    w_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = kind;
    rec.status = REC_MEASURED;
    rec.median_us = s.median_us;
    rec.p99_us = s.p99_us;
    rec.cpu_us = s.cpu_us;
    rec.rate = rate;
    write_all(world_fd, &rec, sizeof rec);
}

/* A failure after the world served: reported, and the run ends with status 1. */
static _Noreturn void w_fail(int kind, const char *what, kern_return_t kr)
{
    w_report(kind, REC_FAILED, what, kr);
    _exit(1);
}

static void w_header(mach_msg_header_t *h, mach_port_t dest, mach_msg_type_name_t dtype,
                     mach_port_t reply, mach_msg_type_name_t rtype, mach_msg_size_t size,
                     mach_msg_id_t id)
{
    h->msgh_bits = MACH_MSGH_BITS(dtype, rtype);
    h->msgh_size = size;
    h->msgh_remote_port = dest;
    h->msgh_local_port = reply;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_id = id;
}

/*
 * The client's request `id` (an empty w_msg) to the server through `service`, and its reply
 * into `b` through `reply`, waiting at most WORLD_WAIT_MS: true when the reply answers it
 * (*kr: mach_msg's result).
 */
static bool w_ask(mach_port_t service, mach_port_t reply, w_buf *b, mach_msg_id_t id,
                  kern_return_t *kr)
{
    memset(&b->m, 0, sizeof b->m);
    w_header(&b->m.h, service, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
             sizeof b->m, id);
    *kr = mach_msg(&b->m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof b->m,
                   sizeof *b, reply, WORLD_WAIT_MS, MACH_PORT_NULL);
    return *kr == KERN_SUCCESS && b->m.h.msgh_id == id + W_REPLY;
}

/*
 * The client task (a forked child of the server task): looks the service up with its
 * bootstrap server, says hello, then runs each enabled section, and ends with W_DONE. A
 * section whose first message the world refuses is reported unavailable; an error after that
 * is a failure.
 */
static void world_client(int cpu)
{
    alarm(WORLD_WATCHDOG_S); /* an alarm is not inherited by fork */
    pin_self(cpu);
    mach_port_t service = MACH_PORT_NULL, reply = MACH_PORT_NULL;
    /* The first call makes the forked child a task (in a world, it joins it). */
    kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply);
    if (kr != KERN_SUCCESS) {
        w_report(REC_HELLO, REC_UNAVAILABLE, "mach_port_allocate in a forked child", kr);
        _exit(0);
    }
    kr = bootstrap_look_up(bootstrap_port, world_service, &service);
    if (kr != KERN_SUCCESS) {
        w_report(REC_HELLO, REC_UNAVAILABLE, "bootstrap_look_up of the server's service in a forked child", kr);
        _exit(0);
    }
    w_buf b;
    memset(&b, 0, sizeof b);
    w_header(&b.m.h, service, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE,
             sizeof b.m, W_HELLO);
    kr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_SEND_TIMEOUT | MACH_RCV_TIMEOUT,
                  sizeof b.m, sizeof b, reply, WORLD_HELLO_MS, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS) {
        /* A world that refuses says why; silence (a timeout) is the server's to report. */
        if (kr != MACH_RCV_TIMED_OUT && kr != MACH_SEND_TIMED_OUT)
            w_report(REC_HELLO, REC_UNAVAILABLE, "the forked client's hello", kr);
        _exit(0);
    }
    if (b.m.h.msgh_id != W_HELLO + W_REPLY) {
        w_report(REC_HELLO, REC_UNAVAILABLE, "the forked client's hello got an answer that is not the server's", 0);
        _exit(0);
    }

    if (section_enabled("rpc")) {
        size_t warm = rpc_warm(), n = rpc_count();
        uint64_t *lat = xcalloc(n, sizeof *lat);
        bool ok = true;
        uint64_t c0 = 0, d0 = 0;
        for (size_t i = 0; i < warm + n; i++) {
            if (i == warm) {
                d0 = daemon_cpu_ns(world_daemon, "umachd");
                c0 = cpu_ns();
            }
            memset(&b.m, 0, sizeof b.m);
            w_header(&b.m.h, service, MACH_MSG_TYPE_COPY_SEND, reply,
                     MACH_MSG_TYPE_MAKE_SEND_ONCE, sizeof b.m, W_RPC);
            b.m.seq = i;
            uint64_t t0 = now_ns();
            kr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof b.m,
                          sizeof b, reply, WORLD_WAIT_MS, MACH_PORT_NULL);
            uint64_t t1 = now_ns();
            if (kr != KERN_SUCCESS && i == 0) {
                w_report(REC_RPC, REC_UNAVAILABLE, "mach_msg RPC", kr);
                ok = false;
                break;
            }
            if (kr != KERN_SUCCESS)
                w_fail(REC_RPC, "mach_msg RPC", kr);
            if (b.m.h.msgh_id != W_RPC + W_REPLY || b.m.seq != i ||
                b.m.h.msgh_size != sizeof b.m)
                w_fail(REC_RPC, "RPC: wrong reply", 0);
            if (i >= warm)
                lat[i - warm] = t1 - t0;
        }
        if (ok) {
            uint64_t client_ns = cpu_ns() - c0;
            uint64_t daemon_ns = daemon_cpu_ns(world_daemon, "umachd") - d0;
            if (!w_ask(service, reply, &b, W_CPU, &kr))
                w_fail(REC_RPC, "the server's CPU time", kr);
            lat_stats s = stats_of(lat, n);
            s.cpu_us = (double)(client_ns + b.m.seq + daemon_ns) / 1e3 / (double)n;
            w_measured(REC_RPC, s, 0);
        }
        free(lat);
    }

    if (section_enabled("tput")) {
        size_t n = tput_count();
        bool ok = true;
        for (int rep = 0; rep < TPUT_REPS && ok; rep++) {
            uint64_t t_start = now_ns();
            for (size_t i = 0; i < n; i++) {
                w_msg m;
                memset(&m, 0, sizeof m);
                w_header(&m.h, service, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, sizeof m,
                         W_TPUT);
                m.seq = i;
                m.stamp = t_start;
                kr = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0,
                              MACH_PORT_NULL, WORLD_WAIT_MS, MACH_PORT_NULL);
                if (kr != KERN_SUCCESS && rep == 0 && i == 0) {
                    w_report(REC_TPUT, REC_UNAVAILABLE, "mach_msg one-way send",
                             kr);
                    ok = false;
                    break;
                }
                if (kr != KERN_SUCCESS)
                    w_fail(REC_TPUT, "mach_msg one-way send", kr);
            }
        }
    }

    if (section_enabled("ool")) {
        size_t n = ool_count();
        uint64_t *lat = xcalloc(n, sizeof *lat);
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
            vm_address_t a = 0;
            kr = vm_allocate(mach_task_self(), &a, OOL_SIZE, VM_FLAGS_ANYWHERE);
            if (kr != KERN_SUCCESS && i == 0) {
                w_report(REC_OOL, REC_UNAVAILABLE, "vm_allocate (16 MiB)", kr);
                ok = false;
                break;
            }
            if (kr != KERN_SUCCESS)
                w_fail(REC_OOL, "vm_allocate (16 MiB)", kr);
            uint8_t tag = (uint8_t)(i + 1);
            fill_pages((uint8_t *)a, OOL_SIZE, tag);
            memset(&b, 0, sizeof b);
            w_header(&b.o.h, service, MACH_MSG_TYPE_COPY_SEND, reply,
                     MACH_MSG_TYPE_MAKE_SEND_ONCE, sizeof b.o, W_OOL);
            b.o.h.msgh_bits |= MACH_MSGH_BITS_COMPLEX;
            b.o.body.msgh_descriptor_count = 1;
            b.o.d.address = (void *)a;
            b.o.d.size = (mach_msg_size_t)OOL_SIZE;
            b.o.d.deallocate = TRUE;
            b.o.d.copy = MACH_MSG_VIRTUAL_COPY;
            b.o.d.type = MACH_MSG_OOL_DESCRIPTOR;
            b.o.seq = i;
            uint64_t t0 = now_ns();
            kr = mach_msg(&b.o.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof b.o,
                          sizeof b, reply, WORLD_WAIT_MS, MACH_PORT_NULL);
            uint64_t t1 = now_ns();
            if (kr != KERN_SUCCESS && i == 0) {
                /* A refused send leaves the region where it was (XNU deallocates only on
                 * success); whatever the world did, it is not needed any more. */
                (void)vm_deallocate(mach_task_self(), a, OOL_SIZE);
                w_report(REC_OOL, REC_UNAVAILABLE, "mach_msg with a 16 MiB out-of-line move", kr);
                ok = false;
                break;
            }
            if (kr != KERN_SUCCESS)
                w_fail(REC_OOL, "mach_msg with a 16 MiB out-of-line move", kr);
            if (b.m.h.msgh_id != W_OOL + W_REPLY || b.m.seq != 1)
                w_fail(REC_OOL, "out-of-line move: the server saw wrong data", 0);
            lat[i] = t1 - t0;
            /* The server deallocates after its reply; the next transfer starts when it has
             * (a hello is answered in order, after the deallocation). */
            if (!w_ask(service, reply, &b, W_HELLO, &kr))
                w_fail(REC_OOL, "the pause between two out-of-line moves", kr);
        }
        if (ok) {
            w_measured(REC_OOL, stats_of(lat, n), 0);
        }
        free(lat);
    }

    w_msg m;
    memset(&m, 0, sizeof m);
    w_header(&m.h, service, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, sizeof m, W_DONE);
    kr = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL,
                  WORLD_WAIT_MS, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS)
        w_fail(REC_HELLO, "mach_msg (done)", kr);
    _exit(0);
}

/*
 * The server task: the process umach-run started. Serves the client until W_DONE; a reply
 * to an RPC goes out in the same call that receives the next request.
 */
static int world_server(int cpu_client, int cpu_server)
{
    pin_self(cpu_server);
    world_daemon = find_world_daemon();
    snprintf(world_service, sizeof world_service, "org.umach.bench_world.%d", (int)getpid());
    mach_port_t service = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_check_in(bootstrap_port, world_service, &service);
    if (kr != KERN_SUCCESS) {
        w_report(REC_HELLO, REC_UNAVAILABLE, "bootstrap_check_in", kr);
        return 0;
    }
    mach_port_limits_t lim = {.mpl_qlimit = TPUT_QLIMIT};
    kr = mach_port_set_attributes(mach_task_self(), service, MACH_PORT_LIMITS_INFO,
                                                (mach_port_info_t)&lim,
                                                MACH_PORT_LIMITS_INFO_COUNT);
    if (kr != KERN_SUCCESS) {
        w_report(REC_HELLO, REC_UNAVAILABLE, "mach_port_set_attributes (qlimit)",
                 kr);
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        fail_errno("fork");
    if (pid == 0)
        world_client(cpu_client);

    w_buf b;
    mach_msg_option_t rcv = MACH_RCV_MSG | MACH_RCV_TIMEOUT;
    kr = mach_msg(&b.m.h, rcv, 0, sizeof b, service, WORLD_HELLO_MS + 1000, MACH_PORT_NULL);
    if (kr == KERN_SUCCESS && b.m.h.msgh_id != W_HELLO)
        w_fail(REC_HELLO, "the first message is not the client's hello", 0);
    if (kr != KERN_SUCCESS) {
        w_report(REC_HELLO, REC_UNAVAILABLE, kr == MACH_RCV_TIMED_OUT
                     ? "no hello from a forked child within 3 s: the processes are not tasks "
                       "of umachd's world (the client front end, or fork in a world, is not "
                       "built)"
                     : "the server's first receive",
                 kr == MACH_RCV_TIMED_OUT ? KERN_SUCCESS : kr);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 0;
    }
    size_t tput_n = tput_count(), tput_seen = 0;
    uint64_t rpc_cpu0 = 0; /* this thread's CPU time at the first measured RPC */
    double rates[TPUT_REPS];
    int rep = 0;
    bool pending = true; /* the hello's reply goes out with the next receive */
    for (;;) {
        if (pending) {
            w_header(&b.m.h, b.m.h.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE,
                     MACH_PORT_NULL, 0, sizeof b.m, b.m.h.msgh_id + W_REPLY);
            kr = mach_msg(&b.m.h, MACH_SEND_MSG | rcv, sizeof b.m, sizeof b, service,
                          WORLD_WAIT_MS, MACH_PORT_NULL);
        } else {
            kr = mach_msg(&b.m.h, rcv, 0, sizeof b, service, WORLD_WAIT_MS, MACH_PORT_NULL);
        }
        pending = false;
        if (kr != KERN_SUCCESS)
            w_fail(REC_HELLO, "the server's mach_msg", kr);
        mach_msg_id_t id = b.m.h.msgh_id;
        if (id == W_DONE)
            break;
        if (id == W_RPC || id == W_HELLO || id == W_CPU) {
            if (MACH_MSGH_BITS_REMOTE(b.m.h.msgh_bits) != MACH_MSG_TYPE_PORT_SEND_ONCE)
                w_fail(REC_RPC, "RPC: the request has no send-once reply right", 0);
            if (id == W_RPC && b.m.seq == rpc_warm())
                rpc_cpu0 = cpu_ns();
            if (id == W_CPU)
                b.m.seq = cpu_ns() - rpc_cpu0;
            pending = true;
        } else if (id == W_TPUT) {
            if (b.m.seq != tput_seen)
                w_fail(REC_TPUT, "one-way: message out of order", 0);
            if (++tput_seen == tput_n) {
                rates[rep++] = (double)tput_n / ((double)(now_ns() - b.m.stamp) / 1e9);
                tput_seen = 0;
                if (rep == TPUT_REPS)
                    w_measured(REC_TPUT, (lat_stats){0, 0, 0}, median(rates, TPUT_REPS));
            }
        } else if (id == W_OOL) {
            if (!(b.o.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
                b.o.body.msgh_descriptor_count != 1 ||
                b.o.d.type != MACH_MSG_OOL_DESCRIPTOR || b.o.d.size != OOL_SIZE ||
                !b.o.d.address)
                w_fail(REC_OOL, "out-of-line move: wrong message", 0);
            uint8_t *p = b.o.d.address;
            uint8_t tag = (uint8_t)(b.o.seq + 1);
            bool good = p[0] == tag && p[OOL_SIZE - 1] == tag;
            mach_port_t reply = b.o.h.msgh_remote_port;
            w_msg r;
            memset(&r, 0, sizeof r);
            w_header(&r.h, reply, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0, sizeof r,
                     W_OOL + W_REPLY);
            r.seq = good;
            kr = mach_msg(&r.h, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL,
                          MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
            if (kr != KERN_SUCCESS)
                w_fail(REC_OOL, "out-of-line move: reply", kr);
            kr = vm_deallocate(mach_task_self(), (vm_address_t)p, OOL_SIZE);
            if (kr != KERN_SUCCESS)
                w_fail(REC_OOL, "vm_deallocate of the received region", kr);
        } else {
            w_fail(REC_HELLO, "the server got an unknown message", 0);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_errno("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        w_fail(REC_HELLO, "the client task did not exit 0", 0);
    check_kr(mach_port_mod_refs(mach_task_self(), service, MACH_PORT_RIGHT_RECEIVE, -1),
             "mach_port_mod_refs (the service)");
    return 0;
}

/* Where umach-run is: next to this build's benchmarks, else on PATH. */
static bool find_umach_run(char *out, size_t outlen)
{
#ifdef UMACH_RUN_PATH
    if (find_program(UMACH_RUN_PATH, out, outlen))
        return true;
#endif
    return find_program("umach-run", out, outlen);
}

typedef struct world_rows {
    row hello; /* !have: why no world row can be measured */
    row rpc, tput, ool;
} world_rows;

/*
 * Runs this program's --world-role under umach-run, pinned to cpu_client (and cpu_server
 * when it differs; umach-run and umachd may then run on either), and collects its records.
 */
static world_rows world_run(int cpu_client, int cpu_server)
{
    world_rows w;
    memset(&w, 0, sizeof w);
    w.hello.have = true;
    char umach_run[512], self[512];
    if (!find_umach_run(umach_run, sizeof umach_run)) {
        row_unavailable(&w.hello, "umach-run not found (%s)", "build the tools, or put it on PATH");
        return w;
    }
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        fail_errno("readlink /proc/self/exe");
    self[len] = '\0';
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        fail_errno("pipe2");
    pid_t pid = fork_pinned(cpu_client == cpu_server ? cpu_client : -1);
    if (pid == 0) {
        close(p[0]);
        int fl = fcntl(p[1], F_GETFD);
        fcntl(p[1], F_SETFD, fl & ~FD_CLOEXEC);
        char fd_s[16], a[16], s[16];
        snprintf(fd_s, sizeof fd_s, "%d", p[1]);
        snprintf(a, sizeof a, "%d", cpu_client);
        snprintf(s, sizeof s, "%d", cpu_server);
        setenv("BENCH_WORLD_FD", fd_s, 1);
        execl(umach_run, umach_run, "--", self, "--world-role", a, s, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    row *by_kind[REC_KINDS] = {&w.hello, &w.rpc, &w.tput, &w.ool};
    for (int k = 1; k < REC_KINDS; k++)
        row_unavailable(by_kind[k], "%s", "the world run reported nothing for this row");
    bool failed = false;
    w_record rec;
    while (read_all(p[0], &rec, sizeof rec)) {
        if (rec.kind < 0 || rec.kind >= REC_KINDS)
            fail("world run: a record of an unknown kind");
        rec.why[sizeof rec.why - 1] = '\0';
        row *r = by_kind[rec.kind];
        if (rec.status == REC_FAILED) {
            fprintf(stderr, "%s: the world failed: %s\n", program_invocation_short_name,
                    rec.why);
            failed = true;
        } else if (rec.status == REC_MEASURED) {
            r->have = true;
            r->lat = (lat_stats){rec.median_us, rec.p99_us, rec.cpu_us};
            r->rate = rec.rate;
        } else if (rec.kind != REC_HELLO || w.hello.have) {
            /* The first reason for the hello is the one to show (the client's, if it had one). */
            row_unavailable(r, "%s", rec.why);
        }
    }
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_errno("waitpid");
    if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: umach-run -- %s --world-role ended with status 0x%x\n",
                program_invocation_short_name, self, (unsigned)status);
        exit(1);
    }
    if (!w.hello.have)
        for (int k = 1; k < REC_KINDS; k++)
            *by_kind[k] = w.hello;
    return w;
}

static int world_role(int argc, char **argv)
{
    const char *fd_s = getenv("BENCH_WORLD_FD");
    if (argc != 4 || !fd_s)
        fail("--world-role CPU_CLIENT CPU_SERVER is for bench_world itself (BENCH_WORLD_FD)");
    world_fd = atoi(fd_s);
    alarm(WORLD_WATCHDOG_S); /* a hang ends the run (SIGALRM): the bench then fails */
    return world_server(atoi(argv[2]), atoi(argv[3]));
}

/* ---- printing ------------------------------------------------------------------------------ */

static void print_lat_row(const char *label, const row *r)
{
    if (r->have && r->lat.cpu_us > 0)
        printf("  %-16s %12.2f %12.2f %12.2f\n", label, r->lat.median_us, r->lat.p99_us,
               r->lat.cpu_us);
    else if (r->have)
        printf("  %-16s %12.2f %12.2f\n", label, r->lat.median_us, r->lat.p99_us);
    else
        printf("  %-16s %s\n", label, r->why);
}

/* A target line; when a side is missing, the reason instead of OK or MISS. */
static void print_target(const char *name, const char *what, const row *a, const row *b,
                         double va, double vb, const char *op, double target)
{
    if (a->have && b->have) {
        print_ratio(name, what, va / vb, op, target);
        return;
    }
    const row *missing = a->have ? b : a;
    if (op)
        printf("ratio %s %s - (target %s %.2f) %s\n", name, what, op, target, missing->why);
    else
        printf("ratio %s %s - (no target) %s\n", name, what, missing->why);
}

static const char *not_yet(row *r)
{
    /* "not available yet: " is the world's prefix; skipped baselines say "skipped: ". */
    if (!r->have && strncmp(r->why, "skipped: ", 9) != 0 &&
        strncmp(r->why, "not available yet: ", 19) != 0) {
        char tmp[sizeof r->why];
        snprintf(tmp, sizeof tmp, "%s", r->why);
        snprintf(r->why, sizeof r->why, "not available yet: %.200s", tmp);
    }
    return r->why;
}

static world_rows bench_pinning(const char *pin, int cpu_a, int cpu_b, const world_rows *prev)
{
    bool cross = cpu_a != cpu_b;
    world_rows w;
    if (prev && !prev->hello.have)
        w = *prev; /* the same program and world: it cannot serve across CPUs either */
    else
        w = world_run(cpu_a, cpu_b);
    not_yet(&w.rpc);
    not_yet(&w.tput);
    not_yet(&w.ool);
    char name[64];

    if (section_enabled("rpc")) {
        row seq = seqpacket_rpc(cpu_a, cpu_b);
        row dbus = dbus_rpc(cpu_a, cpu_b, cross);
        printf("\nrpc round trip, 64-byte messages, %s (client cpu %d, server cpu %d; "
               "daemons %s), %zu round trips after warm-up (D-Bus %zu)\n",
               pin, cpu_a, cpu_b, cross ? "on either" : "on the same CPU", rpc_count(),
               dbus_count());
        printf("  %-16s %12s %12s %12s\n", "", "median us", "p99 us", "cpu us/rt");
        print_lat_row("SEQPACKET", &seq);
        print_lat_row("D-Bus", &dbus);
        print_lat_row("world mach_msg", &w.rpc);
        snprintf(name, sizeof name, "world_rpc_%s", pin);
        print_target(name, "world/seqpacket", &w.rpc, &seq, w.rpc.lat.median_us,
                     seq.lat.median_us, "<=", cross ? 1.0 : 2.0);
        print_target(name, "world/dbus", &w.rpc, &dbus, w.rpc.lat.median_us, dbus.lat.median_us,
                     "<=", 0.25);
        print_target(name, "dbus/seqpacket", &dbus, &seq, dbus.lat.median_us, seq.lat.median_us,
                     NULL, 0);
        print_target(name, "cpu world/seqpacket", &w.rpc, &seq, w.rpc.lat.cpu_us,
                     seq.lat.cpu_us, NULL, 0);
    }
    if (section_enabled("tput")) {
        row seq = seqpacket_tput(cpu_a, cpu_b);
        printf("\none-way throughput, 64-byte payloads, %s (sender cpu %d, receiver cpu %d), "
               "%zu messages, median of %d runs\n",
               pin, cpu_a, cpu_b, tput_count(), TPUT_REPS);
        if (seq.have)
            printf("  %-16s %12.0f msg/s %8.3f us/msg\n", "SEQPACKET", seq.rate, 1e6 / seq.rate);
        if (w.tput.have)
            printf("  %-16s %12.0f msg/s %8.3f us/msg\n", "world mach_msg", w.tput.rate,
                   1e6 / w.tput.rate);
        else
            printf("  %-16s %s\n", "world mach_msg", w.tput.why);
        snprintf(name, sizeof name, "world_tput_%s", pin);
        print_target(name, "world/seqpacket", &w.tput, &seq, w.tput.rate, seq.rate, ">=", 0.5);
    }
    if (section_enabled("ool")) {
        row copy = memcpy_16mib(cpu_a);
        row memfd_unmap;
        row memfd = memfd_16mib(cpu_a, cpu_b, &memfd_unmap);
        printf("\n16 MiB to the other process, %s (sender cpu %d, receiver cpu %d), "
               "%zu transfers (receiver's unmap not timed)\n",
               pin, cpu_a, cpu_b, ool_count());
        printf("  %-16s %12s %12s\n", "", "median us", "p99 us");
        print_lat_row("memcpy (fresh)", &copy);
        print_lat_row("sealed memfd", &memfd);
        print_lat_row("  + unmap", &memfd_unmap);
        print_lat_row("world OOL move", &w.ool);
        snprintf(name, sizeof name, "world_ool_16MiB_%s", pin);
        print_target(name, "world_move/memcpy", &w.ool, &copy, w.ool.lat.median_us,
                     copy.lat.median_us, "<=", 0.05);
        print_target(name, "memfd/memcpy", &memfd, &copy, memfd.lat.median_us,
                     copy.lat.median_us, NULL, 0);
        print_target(name, "memfd_with_unmap/memcpy", &memfd_unmap, &copy,
                     memfd_unmap.lat.median_us, copy.lat.median_us, NULL, 0);
        print_target(name, "world_move/memfd_with_unmap", &w.ool, &memfd_unmap,
                     w.ool.lat.median_us, memfd_unmap.lat.median_us, NULL, 0);
    }
    return w;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "--world-role") == 0)
        return world_role(argc, argv);
    if (argc != 1) {
        fprintf(stderr, "usage: %s   (BENCH_QUICK=1, BENCH_ONLY=rpc,tput,ool)\n", argv[0]);
        return 2;
    }
    if (sched_getaffinity(0, sizeof bench_allowed, &bench_allowed) != 0)
        fail_errno("sched_getaffinity");
    int cpus[2];
    int navail = bench_cpus(cpus);
    uint64_t t0 = now_ns();
    printf("bench_world%s: %d CPUs available to the process\n",
           quick_mode() ? " (BENCH_QUICK)" : "", navail);

    world_rows same = bench_pinning("same_cpu", cpus[0], cpus[0], NULL);
    if (cpus[1] >= 0)
        bench_pinning("cross_cpu", cpus[0], cpus[1], &same);
    else
        printf("\ncross_cpu: skipped (one CPU)\n");
    printf("\ndone in %.1f s\n", (double)(now_ns() - t0) / 1e9);
    return 0;
}
