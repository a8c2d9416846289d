/*
 * demo_world.c — the two-process demo's driver: `make demo` runs it inside a private umach
 * world (umach-run -- build/examples/demo_world).
 *
 * It starts demo_server (from its own directory), waits until the server has checked in its
 * name, starts demo_client, and passes both programs' lines on as they come. When the client
 * says its session is open, the driver kills it with SIGKILL: no exit handler, no goodbye
 * message. The server must then print the kernel's dead-name and no-senders notifications
 * and exit 0. The driver exits 0 only then; 1 otherwise, or when nothing happens for a
 * minute.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { DEMO_TIMEOUT_MS = 60000 };

typedef struct child {
    const char *what;
    pid_t pid;
    int fd;         /* its stdout and stderr, -1 once closed */
    char line[1024];
    size_t len;
} child;


/* Start `path` with its output on a pipe. */
static bool child_start(child *c, const char *what, const char *path)
{
    int p[2];
    c->what = what;
    c->len = 0;
    if (pipe(p) != 0)
        return false;
    c->pid = fork();
    if (c->pid < 0)
        return false;
    if (c->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execl(path, path, (char *)NULL);
        fprintf(stderr, "demo: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    c->fd = p[0];
    return true;
}

/* What the driver has seen so far. */
typedef struct demo_state {
    bool server_ready, session_open, dead_name, no_senders;
} demo_state;

static void on_line(demo_state *st, const child *c, const char *line)
{
    printf("%s\n", line);
    if (strcmp(c->what, "server") == 0) {
        if (strstr(line, "waiting for a client"))
            st->server_ready = true;
        if (strstr(line, "dead-name notification"))
            st->dead_name = true;
        if (strstr(line, "no-senders notification"))
            st->no_senders = true;
    } else if (strstr(line, "session open")) {
        st->session_open = true;
    }
}

/* Read what is there from c and handle each complete line. At end of file c->fd is -1. */
static void child_read(child *c, demo_state *st)
{
    char buf[512];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (c->len < sizeof c->line - 1)
                c->line[c->len++] = buf[i];
            continue;
        }
        c->line[c->len] = 0;
        on_line(st, c, c->line);
        c->len = 0;
    }
}

/* Wait for a child; its status as a shell reports it (128 + N for signal N). */
static int child_wait(child *c)
{
    int status = 0;
    if (c->pid <= 0 || waitpid(c->pid, &status, 0) != c->pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The directory of this program, where demo_server and demo_client are. */
static void sibling(char *out, size_t len, const char *argv0, const char *name)
{
    const char *slash = strrchr(argv0, '/');
    if (slash)
        snprintf(out, len, "%.*s/%s", (int)(slash - argv0), argv0, name);
    else
        snprintf(out, len, "./%s", name);
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!getenv("UMACH_WORLD"))
        printf("demo: UMACH_WORLD is not set: run me in a world (umach-run -- %s)\n", argv[0]);
    char server_path[PATH_MAX], client_path[PATH_MAX];
    sibling(server_path, sizeof server_path, argv[0], "demo_server");
    sibling(client_path, sizeof client_path, argv[0], "demo_client");

    child server, client = {.pid = -1, .fd = -1};
    if (!child_start(&server, "server", server_path)) {
        perror("demo: starting the server");
        return 1;
    }
    demo_state st = {false, false, false, false};
    bool killed = false;
    long deadline = now_ms() + DEMO_TIMEOUT_MS;
    /* Until the server has said all it will say (it exits after both notifications). */
    while (server.fd >= 0 && now_ms() < deadline) {
        struct pollfd pfd[2] = {{server.fd, POLLIN, 0}, {client.fd, POLLIN, 0}};
        int n = poll(pfd, client.fd >= 0 ? 2 : 1, (int)(deadline - now_ms()));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && pfd[0].revents)
            child_read(&server, &st);
        if (n > 0 && client.fd >= 0 && pfd[1].revents)
            child_read(&client, &st);
        if (st.server_ready && client.pid < 0 && !child_start(&client, "client", client_path)) {
            perror("demo: starting the client");
            break;
        }
        if (st.session_open && !killed) {
            printf("demo: kill -9 %ld (the client, mid-session)\n", (long)client.pid);
            kill(client.pid, SIGKILL);
            killed = true;
        }
        if (client.pid > 0 && client.fd < 0 && !killed) {
            printf("demo: the client ended before its session was open\n");
            break;
        }
    }
    if (server.fd >= 0) {
        if (now_ms() >= deadline)
            printf("demo: nothing happened for %d s\n", DEMO_TIMEOUT_MS / 1000);
        kill(server.pid, SIGKILL);
        close(server.fd);
    }
    if (client.pid > 0 && !killed)
        kill(client.pid, SIGKILL);
    if (client.fd >= 0)
        close(client.fd);
    int client_status = child_wait(&client);
    int server_status = child_wait(&server);
    if (killed && client_status == 128 + SIGKILL && st.dead_name && st.no_senders &&
        server_status == 0) {
        printf("demo: ok: the server learnt of the client's death from the kernel alone\n");
        return 0;
    }
    printf("demo: FAILED (client %s, server exit status %d, dead-name %s, no-senders %s)\n",
           killed ? "killed" : "not killed", server_status, st.dead_name ? "seen" : "missing",
           st.no_senders ? "seen" : "missing");
    return 1;
}
