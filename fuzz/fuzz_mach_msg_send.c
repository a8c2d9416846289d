/*
 * fuzz_mach_msg_send.c — libFuzzer target: arbitrary bytes, sizes and options sent with
 * mach_msg in a task that holds a few rights of every kind.
 *
 * Oracle: umach never crashes or hangs (every send has a zero timeout), ASan/UBSan see no bad
 * access, and after each input — queues drained and destroyed, every name torn down — the
 * space holds exactly the task's own name again: a right that a failed send forgot to
 * release or released twice shows up as a stray name (abort) or as an error from the kernel.
 *
 * Input layout (little endian):
 *   [0]      flags: 0x01 SEND_INTERRUPT, 0x02 SEND_NOTIFY, 0x04 also receive (RPC),
 *            0x08 RCV_LARGE, 0x10 request a trailer, 0x20 OR the raw option word,
 *            0x40 substitute names and addresses, 0x80 use the raw send size
 *   [1..4]   raw option word
 *   [5..8]   raw send size
 *   [9..10]  receive size
 *   [11]     receive port (index into the rights below)
 *   [12..]   the message (at most 8 KiB)
 * With 0x40 set, 32-bit words 0xF0F0F0Fk become the k-th right's name and 64-bit words
 * 0xA5A5A5A5_0000xxxx become addresses inside a scratch area (whose offset 0x8000 holds the
 * rights' names, for OOL ports arrays), so the fuzzer can reach valid rights and memory
 * without knowing this process's names or addresses. One port's queue starts full.
 *
 * Guard violations that would kill a task on Darwin (a guarded descriptor with a wrong flag,
 * say) are the sender's mistake, not umach's: the target runs itself again with
 * UMACH_GUARD_NONFATAL=1 so that they return their error code like the others.
 *
 * Out-of-line descriptors that ask the kernel to deallocate memory outside the scratch area
 * have that flag cleared first (unmapping arbitrary memory of the fuzzing process would be a
 * crash of the harness, not of umach), and their size is bounded (ASan's shadow is mapped and
 * readable, so a 4 GiB copy from it would exhaust RAM rather than test anything).
 */
#define _GNU_SOURCE
#include <mach/mach.h>
#include <mach/notify.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CAP 8192u
#define NRIGHTS 8
#define SCRATCH_SIZE (64u * 1024u)
#define SCRATCH_AT ((void *)0x300000000000ull) /* app memory under ASan, far below mmap(NULL) */
#define SCRATCH_NAMES 0x8000u /* where the rights' names are copied in the scratch area */
#define TASK mach_task_self()

static uint8_t *scratch;
static mach_port_name_t rights[NRIGHTS];
static mach_port_name_t receivers[4];

static void die(const char *what, kern_return_t kr)
{
    fprintf(stderr, "fuzz_mach_msg_send: %s: %#x\n", what, (unsigned)kr);
    abort();
}

static void check(kern_return_t kr, const char *what)
{
    if (kr != KERN_SUCCESS)
        die(what, kr);
}

static mach_port_name_t new_receive(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    check(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), "allocate");
    return p;
}

static mach_port_name_t new_send_once(mach_port_name_t port)
{
    mach_port_name_t so = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    check(mach_port_extract_right(TASK, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t),
          "extract send-once");
    return so;
}

/* A small task: ports with and without send rights, send-once rights, a dead name, a set. */
static void setup_rights(void)
{
    mach_port_name_t a = new_receive(), b = new_receive(), c = new_receive(), d = new_receive();
    check(mach_port_insert_right(TASK, a, a, MACH_MSG_TYPE_MAKE_SEND), "insert a");
    check(mach_port_insert_right(TASK, c, c, MACH_MSG_TYPE_MAKE_SEND), "insert c");
    check(mach_port_insert_right(TASK, d, d, MACH_MSG_TYPE_MAKE_SEND), "insert d");
    mach_port_limits_t lim = {.mpl_qlimit = 1};
    check(mach_port_set_attributes(TASK, c, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          "qlimit");
    mach_port_name_t dead = MACH_PORT_NULL, set = MACH_PORT_NULL;
    check(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), "dead name");
    check(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), "set");
    check(mach_port_insert_member(TASK, b, set), "member");
    /* d's last send right going away notifies b. */
    mach_port_name_t prev = MACH_PORT_NULL;
    check(mach_port_request_notification(TASK, d, MACH_NOTIFY_NO_SENDERS, 0, b,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          "no-senders request");
    rights[0] = a;
    rights[1] = b;
    rights[2] = new_send_once(a);
    rights[3] = dead;
    rights[4] = set;
    rights[5] = c;
    rights[6] = new_send_once(c);
    rights[7] = d;
    /* c's queue (limit 1) is full, so sends to it time out and exercise pseudo-receive. */
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
        .msgh_size = sizeof h,
        .msgh_remote_port = c,
        .msgh_id = 1,
    };
    check(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          "fill c");
    /* An OOL ports array can point here to reach real names. */
    memcpy(scratch + SCRATCH_NAMES, rights, sizeof rights);
    receivers[0] = a;
    receivers[1] = b;
    receivers[2] = c;
    receivers[3] = d;
}

static mach_msg_type_number_t space_names(mach_port_name_array_t *names)
{
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    check(mach_port_names(TASK, names, &nn, &types, &nt), "names");
    check(vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types), "free types");
    return nn;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Call fn on each whole descriptor of the message at m (len bytes), in order. */
static void each_desc(uint8_t *m, size_t len, void (*fn)(uint8_t *d, void *ctx), void *ctx)
{
    if (len < sizeof(mach_msg_base_t) || !(rd32(m) & MACH_MSGH_BITS_COMPLEX))
        return;
    uint32_t count = rd32(m + sizeof(mach_msg_header_t));
    size_t off = sizeof(mach_msg_base_t);
    for (uint32_t i = 0; i < count && off + 12 <= len; i++) {
        size_t size = m[off + 11] == MACH_MSG_PORT_DESCRIPTOR ? 12 : 16;
        if (off + size > len)
            return;
        fn(m + off, ctx);
        off += size;
    }
}

static bool is_ool_memory(uint8_t type)
{
    return type == MACH_MSG_OOL_DESCRIPTOR || type == MACH_MSG_OOL_VOLATILE_DESCRIPTOR;
}

static void own_memory(uint8_t *d, void *ctx)
{
    (void)ctx;
    if (is_ool_memory(d[11]))
        d[8] = 1;
}

/*
 * Destroy a received (or handed-back) message. Its out-of-line memory is always a fresh
 * mapping of ours, but a physical copy arrives with deallocate = 0 and mach_msg_destroy
 * would leave it mapped.
 */
static void destroy_received(mach_msg_header_t *h)
{
    each_desc((uint8_t *)h, h->msgh_size, own_memory, NULL);
    mach_msg_destroy(h);
}

/* Receive and destroy everything queued on our ports. */
static void drain(void)
{
    static union {
        mach_msg_header_t h;
        uint8_t bytes[CAP + 1024];
    } buf;
    for (unsigned i = 0; i < 4; i++) {
        for (;;) {
            mach_msg_return_t mr = mach_msg(&buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                                                        MACH_RCV_LARGE,
                                            0, sizeof buf, receivers[i], 0, MACH_PORT_NULL);
            if (mr == MACH_MSG_SUCCESS) {
                destroy_received(&buf.h);
                continue;
            }
            if (mr == MACH_RCV_TOO_LARGE) {
                mach_msg_size_t need = buf.h.msgh_size + MAX_TRAILER_SIZE;
                mach_msg_header_t *big = malloc(need);
                if (!big)
                    abort();
                mr = mach_msg(big, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, need, receivers[i], 0,
                              MACH_PORT_NULL);
                if (mr == MACH_MSG_SUCCESS)
                    destroy_received(big);
                free(big);
                if (mr == MACH_MSG_SUCCESS)
                    continue;
            }
            break; /* empty, or the port is gone */
        }
    }
}

/* Remove every name but the task's; the space must end exactly as it started. */
static void teardown(void)
{
    for (int pass = 0; pass < 8; pass++) {
        mach_port_name_array_t names = NULL;
        mach_msg_type_number_t n = space_names(&names);
        unsigned removed = 0;
        for (mach_msg_type_number_t i = 0; i < n; i++) {
            if (names[i] == TASK)
                continue;
            (void)mach_port_destroy(TASK, names[i]);
            removed++;
        }
        check(vm_deallocate(TASK, (vm_address_t)names, n * sizeof *names), "free names");
        if (removed == 0)
            return;
    }
    mach_port_name_array_t names = NULL;
    mach_msg_type_number_t n = space_names(&names);
    fprintf(stderr, "fuzz_mach_msg_send: %u names left after teardown\n", n);
    abort();
}

static void substitute(uint8_t *m, size_t len)
{
    for (size_t off = 0; off + 4 <= len; off += 4) {
        uint32_t w = rd32(m + off);
        if ((w & 0xFFFFFFF0u) == 0xF0F0F0F0u && (w & 0xF) < NRIGHTS) {
            memcpy(m + off, &rights[w & 0xF], 4);
        } else if (off + 8 <= len && w <= 0xFFFF && rd32(m + off + 4) == 0xA5A5A5A5u) {
            uint64_t addr = (uint64_t)(uintptr_t)scratch + (w % SCRATCH_SIZE);
            memcpy(m + off, &addr, 8);
            off += 4;
        }
    }
}

/*
 * Out-of-line descriptors that point outside the scratch area: clear their deallocate flag
 * (that memory is not ours to lose) and bound their size.
 */
static void tame_one(uint8_t *d, void *ctx)
{
    (void)ctx;
    uint8_t type = d[11];
    if (!is_ool_memory(type) && type != MACH_MSG_OOL_PORTS_DESCRIPTOR)
        return;
    uint64_t lo = (uint64_t)(uintptr_t)scratch, hi = lo + SCRATCH_SIZE;
    uint64_t addr = rd64(d);
    uint32_t n = rd32(d + 12);
    uint64_t bytes = type == MACH_MSG_OOL_PORTS_DESCRIPTOR ? (uint64_t)n * 4 : n;
    if (addr >= lo && addr <= hi && bytes <= hi - addr)
        return;
    d[8] = 0;
    /*
     * Elsewhere a long copy may read mapped memory that no real task has (ASan's shadow is
     * readable): gigabytes of it would only measure the machine's RAM.
     */
    uint32_t cap = type == MACH_MSG_OOL_PORTS_DESCRIPTOR ? 16384u : SCRATCH_SIZE;
    if (n > cap)
        memcpy(d + 12, &cap, 4);
}

static void tame_deallocate(uint8_t *m, size_t len)
{
    each_desc(m, len, tame_one, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    const char *v = getenv("UMACH_GUARD_NONFATAL");
    if (!v || strcmp(v, "1") != 0) {
        /* umach reads the variable when it starts, before this function runs. */
        setenv("UMACH_GUARD_NONFATAL", "1", 1);
        execv("/proc/self/exe", *argv);
        perror("fuzz_mach_msg_send: re-exec with UMACH_GUARD_NONFATAL=1");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *msg;
    if (!msg) {
        msg = aligned_alloc(16, CAP + 1024);
        if (!msg)
            abort();
    }
    if (size < 12)
        return 0;
    /* A fresh scratch area at a fixed place: an earlier input may have moved it away. */
    scratch = mmap(SCRATCH_AT, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (scratch == MAP_FAILED)
        abort();
    for (size_t i = 0; i < SCRATCH_SIZE; i += 64)
        scratch[i] = (uint8_t)i;

    uint8_t flags = data[0];
    uint32_t raw_opt = rd32(data + 1);
    uint32_t raw_size = rd32(data + 5);
    uint16_t rcv_size = (uint16_t)(data[9] | data[10] << 8);
    uint8_t rcv_index = data[11];
    size_t len = size - 12 > CAP ? CAP : size - 12;
    memset(msg, 0, CAP + 1024);
    memcpy(msg, data + 12, len);

    setup_rights();
    if (flags & 0x40)
        substitute(msg, len);
    tame_deallocate(msg, CAP);

    mach_msg_option_t opt = MACH_SEND_MSG | MACH_SEND_TIMEOUT;
    if (flags & 0x01)
        opt |= MACH_SEND_INTERRUPT;
    if (flags & 0x02)
        opt |= MACH_SEND_NOTIFY;
    if (flags & 0x20)
        opt |= raw_opt;
    /* Nothing may wait, and no guarded right may land in this space (its destruction would be
     * a fatal guard exception caused by the harness). */
    opt &= ~(mach_msg_option_t)(MACH_RCV_MSG | MACH_RCV_GUARDED_DESC | MACH_RCV_OVERWRITE |
                                MACH_RCV_SYNC_WAIT | MACH_SEND_SYNC_OVERRIDE);
    mach_port_name_t rcv_name = MACH_PORT_NULL;
    if (flags & 0x04) {
        opt |= MACH_RCV_MSG | MACH_RCV_TIMEOUT;
        rcv_name = rights[rcv_index % NRIGHTS];
        if (flags & 0x08)
            opt |= MACH_RCV_LARGE;
        if (flags & 0x10)
            opt |= MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                   MACH_RCV_TRAILER_ELEMENTS(rcv_index >> 5);
    }
    mach_msg_size_t send_size = (mach_msg_size_t)len;
    if (flags & 0x80)
        send_size = raw_size <= CAP || raw_size >= 0x10000000u ? raw_size : CAP;
    mach_msg_size_t rsize = rcv_size <= CAP + 1024 ? rcv_size : CAP + 1024;

    mach_msg_return_t mr = mach_msg((mach_msg_header_t *)msg, opt, send_size, rsize, rcv_name, 0,
                                    MACH_PORT_NULL);
    mach_msg_return_t kind = mr & ~MACH_MSG_MASK;
    if (kind == MACH_SEND_TIMED_OUT || kind == MACH_SEND_INTERRUPTED ||
        kind == MACH_SEND_NO_BUFFER) {
        /* Pseudo-receive: the message's rights and memory are back in our buffer. */
        destroy_received((mach_msg_header_t *)msg);
    } else if ((opt & MACH_RCV_MSG) && mr == MACH_MSG_SUCCESS) {
        destroy_received((mach_msg_header_t *)msg);
    }

    drain();
    teardown();
    return 0;
}
