/*
 * umach-lsmp — list the Mach port rights of a umach world's tasks, as macOS's lsmp(1) does
 * (docs/world.md, "Looking inside: umach-lsmp").
 *
 * It joins the world named by --socket or UMACH_WORLD as a task of its own (a hello on the
 * world's socket), asks umachd for the text of the task(s) of PID (UM_WIRE_LSMP; without -p,
 * every task of the world, this one included, as lsmp -a), prints it and leaves (its task
 * ends with the connection). It speaks the wire protocol itself and never starts libumach's
 * own world. Without a world it says so and exits 1: in embedded mode a process's space is
 * its own business, shown by umach_lsmp() (<umach/lsmp.h>) from inside.
 */
#define _GNU_SOURCE
#include "wire/um_wire.h"

#include <mach/kern_return.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static um_wire_buf lsmp_buf;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: umach-lsmp [-p PID] [--socket PATH]\n"
            "Lists the Mach port rights of the tasks of a umach world, one line per name, as\n"
            "macOS's lsmp does: rights, user references, flags, armed requests; for receive\n"
            "rights the send and send-once rights outstanding, make-send count, queue limit,\n"
            "messages queued and context; for send rights the task holding the receive right.\n"
            "docs/world.md (Looking inside: umach-lsmp) explains every column.\n"
            "  -p, --pid PID     only the task of process PID (default: every task of the\n"
            "                    world, umach-lsmp's own included)\n"
            "  --socket PATH     the world's socket (default: $UMACH_WORLD, which umach-run sets)\n"
            "  -h, --help        this text\n"
            "A task of another uid is listed only for root and for the world's owner.\n"
            "Exit status: 0 listed; 1 no world, no such task, not allowed, or the world failed;\n"
            "2 bad usage.\n");
}

/* One request and its reply on `fd`; 0 or -1 (the world hung up or answered nonsense). */
static int roundtrip(int fd, uint16_t call, const uint64_t *args, uint32_t nargs, uint64_t id,
                     um_wire_pkt *rep)
{
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = call;
    h.id = id;
    h.nargs = nargs;
    if (um_wire_send(fd, &h, args, NULL) != 0)
        return -1;
    int rc;
    do
        rc = um_wire_recv(fd, &lsmp_buf, rep, UM_WIRE_BLOB_MAX, 0);
    while (rc == -EINTR);
    if (rc != 1)
        return -1;
    if (rep->h.call != call || rep->h.id != id) {
        um_wire_pkt_free(rep);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"pid", required_argument, NULL, 'p'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    long pid = 0;
    int o;
    while ((o = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': {
            char *end = NULL;
            errno = 0;
            pid = strtol(optarg, &end, 10);
            if (errno || !end || *end || end == optarg || pid <= 0 || pid > 0x7fffffff) {
                fprintf(stderr, "umach-lsmp: bad pid %s\n", optarg);
                return 2;
            }
            break;
        }
        case 's':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!path) {
        path = getenv("UMACH_WORLD");
        if (!path || !path[0]) {
            fprintf(stderr,
                    "umach-lsmp: no umach world: UMACH_WORLD is not set and no --socket was given\n"
                    "(run it under umach-run, or in a world's environment; a process in embedded\n"
                    "mode lists its own space with umach_lsmp(), <umach/lsmp.h>)\n");
            return 1;
        }
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "umach-lsmp: socket path too long: %s\n", path);
        return 1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "umach-lsmp: no umach world answers on %s: %s\n", path, strerror(errno));
        return 1;
    }
    um_wire_pkt rep;
    uint64_t hello[3] = {0, 0, 0};
    if (roundtrip(fd, UM_WIRE_HELLO, hello, 3, 1, &rep) != 0 || rep.h.kr != KERN_SUCCESS) {
        fprintf(stderr, "umach-lsmp: the world on %s refused us\n", path);
        return 1;
    }
    um_wire_pkt_free(&rep);
    uint64_t args[3] = {pid ? UM_WIRE_LSMP_PID : UM_WIRE_LSMP_ALL, (uint64_t)pid, 0};
    if (roundtrip(fd, UM_WIRE_LSMP, args, 3, 2, &rep) != 0) {
        fprintf(stderr, "umach-lsmp: the world on %s hung up\n", path);
        return 1;
    }
    int status = 0;
    switch (rep.h.kr) {
    case KERN_SUCCESS:
        if (rep.h.blob_len && fwrite(rep.blob, 1, rep.h.blob_len, stdout) != rep.h.blob_len)
            status = 1;
        if (fflush(stdout) != 0)
            status = 1;
        if (status)
            fprintf(stderr, "umach-lsmp: cannot write: %s\n", strerror(errno));
        break;
    case KERN_NOT_FOUND:
        fprintf(stderr, "umach-lsmp: no task of pid %ld in the world on %s\n", pid, path);
        status = 1;
        break;
    case KERN_NO_ACCESS:
        fprintf(stderr, "umach-lsmp: pid %ld is another user's task (root or the world's owner "
                        "may list it)\n", pid);
        status = 1;
        break;
    default:
        fprintf(stderr, "umach-lsmp: the world failed the request (%#x)\n", (unsigned)rep.h.kr);
        status = 1;
        break;
    }
    um_wire_pkt_free(&rep);
    close(fd);
    return status;
}
