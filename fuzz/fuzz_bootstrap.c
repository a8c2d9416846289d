/*
 * fuzz_bootstrap.c — libFuzzer target: arbitrary requests sent to the bootstrap port (the
 * kernel-object server and its name registries, docs/bootstrap.md).
 *
 * Oracle: the server never crashes or blocks, ASan/UBSan see no bad access, it still answers
 * a look-up after every input, and once the input's rights are torn down the space holds
 * exactly the task's name and its bootstrap port again (a right the server kept or released
 * twice shows up as a stray name, an error, or a leak at exit).
 *
 * Input layout: [0] flags: 0x01 reply through a send-once right (else none), 0x02 reply
 * through a send right instead, 0x04 OR the complex bit into the header; [1] the id: below
 * 0x80 it is 400 + its low 5 bits (the server's range), 0x80 and 0x81 are the port-destroyed
 * and send-once notification ids, anything else is itself; [2..] the message after its
 * header (bits, size and ports are set by the target: the destination is always the
 * bootstrap port), at most 1 KiB. 32-bit words 0xF0F0F0Fk become the name of
 * the k-th right of a small set made for each input (a port with a send right, a bare receive
 * right, a send-once right, a dead name, the bootstrap port, which a request may even move
 * away: the target takes it back from the task's slot after each input).
 *
 * The target runs itself with UMACH_SERVICES set, so declared services (check-in, their
 * return through port-destroyed) are reached too, and with UMACH_GUARD_NONFATAL=1: a guard
 * violation in a request is the sender's mistake, not the server's.
 */
#define _GNU_SOURCE
#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <servers/bootstrap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TASK mach_task_self()
#define CAP 1024u
#define NRIGHTS 5

static void die(const char *what, kern_return_t kr)
{
    fprintf(stderr, "fuzz_bootstrap: %s: %#x\n", what, (unsigned)kr);
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

static mach_msg_type_number_t name_count(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    check(mach_port_names(TASK, &names, &nn, &types, &nt), "names");
    check(vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names), "free names");
    check(vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types), "free types");
    return nn;
}

/*
 * A request may have moved the task's bootstrap send right away (MOVE_SEND of rights[4]):
 * take a fresh one from the task's slot and keep exactly one uref, as at start-up.
 */
static void restore_bootstrap_port(void)
{
    mach_port_t bp = MACH_PORT_NULL;
    check(task_get_bootstrap_port(TASK, &bp), "bootstrap slot");
    mach_port_urefs_t n = 0;
    check(mach_port_get_refs(TASK, bp, MACH_PORT_RIGHT_SEND, &n), "bootstrap urefs");
    if (n > 1)
        check(mach_port_mod_refs(TASK, bp, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)(n - 1)),
              "bootstrap urefs");
    bootstrap_port = bp;
}

/* Destroy every name but the task's and the bootstrap port's. */
static void teardown(void)
{
    for (int pass = 0; pass < 8; pass++) {
        mach_port_name_array_t names = NULL;
        mach_port_type_array_t types = NULL;
        mach_msg_type_number_t nn = 0, nt = 0;
        check(mach_port_names(TASK, &names, &nn, &types, &nt), "names");
        unsigned removed = 0;
        for (mach_msg_type_number_t i = 0; i < nn; i++) {
            if (names[i] == TASK || names[i] == bootstrap_port)
                continue;
            (void)mach_port_destroy(TASK, names[i]);
            removed++;
        }
        check(vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names), "free names");
        check(vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types), "free types");
        if (removed == 0)
            break;
    }
    if (name_count() != 2) {
        fprintf(stderr, "fuzz_bootstrap: %u names left after teardown\n", name_count());
        abort();
    }
}

/* Receive and destroy whatever came back on `port`. */
static void drain(mach_port_name_t port)
{
    union {
        mach_msg_header_t h;
        uint8_t bytes[2048];
    } m;
    while (mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, 0,
                    MACH_PORT_NULL) == MACH_MSG_SUCCESS)
        mach_msg_destroy(&m.h);
}

/* The server still answers: a raw look-up of a name nobody binds. */
static void check_alive(mach_port_name_t reply)
{
#pragma pack(push, 4)
    union {
        struct {
            mach_msg_header_t head;
            NDR_record_t ndr;
            name_t name;
        } req;
        mig_reply_error_t rep;
        uint8_t bytes[512];
    } m;
#pragma pack(pop)
    memset(&m, 0, sizeof m);
    m.req.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.req.head.msgh_size = sizeof m.req;
    m.req.head.msgh_remote_port = bootstrap_port;
    m.req.head.msgh_local_port = reply;
    m.req.head.msgh_id = 404;
    strcpy(m.req.name, "org.machports.fuzz.never-bound");
    check(mach_msg(&m.req.head, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof m.req,
                   sizeof m, reply, 0, MACH_PORT_NULL),
          "liveness look-up");
    if (m.rep.Head.msgh_id != 504 || m.rep.RetCode != BOOTSTRAP_UNKNOWN_SERVICE)
        die("liveness reply", m.rep.RetCode);
}

/*
 * Out-of-line descriptors: clear their deallocate flag (the fuzzing process's memory is not
 * the request's to lose) and bound their size (ASan's shadow is readable: a copy of gigabytes
 * from it would measure the machine's RAM, not the server).
 */
static void tame_ool(uint8_t *msg, size_t len)
{
    if (!(((mach_msg_header_t *)msg)->msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        len < sizeof(mach_msg_base_t))
        return;
    uint32_t count;
    memcpy(&count, msg + sizeof(mach_msg_header_t), 4);
    size_t off = sizeof(mach_msg_base_t);
    for (uint32_t i = 0; i < count && off + 12 <= len; i++) {
        uint8_t type = msg[off + 11];
        if (type == MACH_MSG_PORT_DESCRIPTOR) {
            off += 12;
            continue;
        }
        if (off + 16 > len)
            return;
        if (type == MACH_MSG_OOL_DESCRIPTOR || type == MACH_MSG_OOL_VOLATILE_DESCRIPTOR ||
            type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
            msg[off + 8] = 0;
            uint32_t n, cap = type == MACH_MSG_OOL_PORTS_DESCRIPTOR ? 64 : 4096;
            memcpy(&n, msg + off + 12, 4);
            if (n > cap)
                memcpy(msg + off + 12, &cap, 4);
        }
        off += 16;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    const char *v = getenv("UMACH_GUARD_NONFATAL");
    if (!v || strcmp(v, "1") != 0) {
        /* umach reads both variables when it starts, before this function runs. */
        setenv("UMACH_GUARD_NONFATAL", "1", 1);
        setenv("UMACH_SERVICES", "fz.a,fz.b", 1);
        execv("/proc/self/exe", *argv);
        perror("fuzz_bootstrap: re-exec");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *msg;
    if (!msg) {
        msg = aligned_alloc(16, CAP + 32); /* room for the header, a multiple of 16 */
        if (!msg)
            abort();
    }
    if (size < 2 || !MACH_PORT_VALID(bootstrap_port))
        return 0;
    uint8_t flags = data[0];
    mach_msg_id_t id = data[1] < 0x80    ? 400 + (data[1] & 0x1F)
                       : data[1] == 0x80 ? 69
                       : data[1] == 0x81 ? 71
                                         : data[1];
    size_t body = (size - 2) & ~(size_t)3;
    if (body > CAP)
        body = CAP;

    mach_port_name_t rights[NRIGHTS];
    rights[0] = new_receive();
    check(mach_port_insert_right(TASK, rights[0], rights[0], MACH_MSG_TYPE_MAKE_SEND), "send");
    rights[1] = new_receive();
    mach_msg_type_name_t t;
    check(mach_port_extract_right(TASK, rights[0], MACH_MSG_TYPE_MAKE_SEND_ONCE, &rights[2], &t),
          "send-once");
    check(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &rights[3]), "dead name");
    rights[4] = bootstrap_port;
    mach_port_name_t reply = new_receive();

    mach_msg_header_t *h = (mach_msg_header_t *)msg;
    memcpy(msg + sizeof *h, data + 2, body);
    for (size_t off = sizeof *h; off + 4 <= sizeof *h + body; off += 4) {
        uint32_t w;
        memcpy(&w, msg + off, 4);
        if ((w & 0xFFFFFFF0u) == 0xF0F0F0F0u && (w & 0xF) < NRIGHTS)
            memcpy(msg + off, &rights[w & 0xF], 4);
    }
    mach_msg_type_name_t reply_disp = (flags & 0x01)   ? MACH_MSG_TYPE_MAKE_SEND_ONCE
                                      : (flags & 0x02) ? MACH_MSG_TYPE_MAKE_SEND
                                                       : 0;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, reply_disp) |
                   ((flags & 0x04) ? MACH_MSGH_BITS_COMPLEX : 0);
    h->msgh_size = (mach_msg_size_t)(sizeof *h + body);
    h->msgh_remote_port = bootstrap_port;
    h->msgh_local_port = reply_disp ? reply : MACH_PORT_NULL;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_id = id;
    tame_ool(msg, sizeof *h + body);
    (void)mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, h->msgh_size, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL);
    drain(reply);
    restore_bootstrap_port();
    check_alive(reply);
    teardown();
    return 0;
}
