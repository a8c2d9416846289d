/*
 * demo_client.c — the client half of the two-process demo (see demo_server.c; demo_world.c
 * runs both inside a umach world).
 *
 * It looks the service up by name (bootstrap_look_up: a send right to the server's port),
 * then, with one mp_rpc per request:
 *   GREET    sends inline text and prints the greeting that comes back;
 *   SESSION  moves a send right to a port of its own to the server and gets a send right to
 *            a session port back; the server says "welcome" through the port it was given;
 *   SUM      moves 64 KiB of out-of-line memory to the server and prints the sum.
 * Then it prints "session open" and waits on its port for good: demo_world kills it there
 * (kill -9), and the server learns of it from the kernel alone.
 */
#include <machports/machports.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEMO_SERVICE "org.machports.demo"
enum { GREET = 100, SESSION = 101, SUM = 102, WELCOME = 200 };

/* Send the request in *b and wait for its reply (*reply parses it). false: said why. */
static bool call(mp_send_right server, mp_msg_builder *b, const char *what, mp_msg_parser *reply)
{
    mach_msg_return_t mr = mp_rpc(server, b, MP_RECV_RIGHT_NULL, NULL, reply);
    if (mr != MACH_MSG_SUCCESS) {
        printf("client: %s: ", what);
        mp_msg_error_print(stdout, "", mr);
        return false;
    }
    return true;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mp_send_right server, to_me, session = MP_SEND_RIGHT_NULL;
    mp_recv_right mine;
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_msg_parser reply;
    mp_msg_desc d;
    const void *body;
    size_t len, at;

    kern_return_t kr = mp_bootstrap_look_up(mp_bootstrap_port(), DEMO_SERVICE, &server);
    if (kr != KERN_SUCCESS) {
        printf("client: bootstrap_look_up %s: %s (is demo_server running in this world?)\n",
               DEMO_SERVICE, bootstrap_strerror(kr));
        return 1;
    }
    printf("client: looked up %s: a send right to the server (name 0x%x)\n", DEMO_SERVICE,
           server.name);
    if (mp_recv_right_alloc(&mine) != KERN_SUCCESS || mp_msg_buffer_init(&buf, 256) != KERN_SUCCESS) {
        printf("client: setup failed\n");
        return 1;
    }

    /* 1. Inline data. */
    char hello[64];
    int n = snprintf(hello, sizeof hello, "hello from process %ld", (long)getpid());
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, GREET);
    mp_msg_builder_append_data(&b, hello, (size_t)n);
    if (!call(server, &b, "GREET", &reply))
        return 1;
    at = 0;
    if (mp_msg_parser_read_data(&reply, &at, &body, &len) == MACH_MSG_SUCCESS)
        printf("client: GREET answered \"%.*s\"\n", (int)len, (const char *)body);
    mp_msg_parser_drop(&reply);

    /* 2. A port right: a send right to our port goes to the server, a session right comes back. */
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, SESSION);
    if (mp_send_right_make(mine, &to_me) == KERN_SUCCESS)
        mp_msg_builder_append_moved_send(&b, &to_me);
    if (!call(server, &b, "SESSION", &reply))
        return 1;
    if (mp_msg_parser_expect(&reply, MP_DESC_SEND, &d) == MACH_MSG_SUCCESS &&
        mp_msg_desc_take_send(&d, &session) == KERN_SUCCESS)
        printf("client: SESSION answered with a send right to the session port (name 0x%x)\n",
               session.name);
    mp_msg_parser_drop(&reply);
    mp_msg_parser msg;
    mp_recv_options within = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 10000};
    if (mp_recv(mine, &buf, &within, &msg) == MACH_MSG_SUCCESS) {
        at = 0;
        if (mp_msg_parser_id(&msg) == WELCOME &&
            mp_msg_parser_read_data(&msg, &at, &body, &len) == MACH_MSG_SUCCESS)
            printf("client: the server wrote \"%.*s\" through the port we gave it\n", (int)len,
                   (const char *)body);
        mp_msg_parser_drop(&msg);
    }

    /* 3. Out-of-line memory: 64 KiB of pages that move to the server. */
    mp_ool_vec v;
    if (mp_ool_vec_with_capacity(65536, &v) != KERN_SUCCESS ||
        mp_ool_vec_resize(&v, 65536, 1, NULL) != KERN_SUCCESS) {
        printf("client: no memory for the out-of-line region\n");
        return 1;
    }
    mp_ool_buf pages = mp_ool_vec_into_buf(&v);
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, SUM);
    mp_msg_builder_append_ool_buf(&b, &pages, MP_COPY_VIRTUAL);
    if (!call(server, &b, "SUM", &reply))
        return 1;
    uint32_t sum = 0;
    if (mp_msg_parser_body(&reply, &body, &len) == MACH_MSG_SUCCESS && len == sizeof sum) {
        memcpy(&sum, body, sizeof sum);
        printf("client: SUM answered %u\n", sum);
    }
    mp_msg_parser_drop(&reply);

    /* 4. Hold the session open until killed: nothing is said to the server when we go. */
    printf("client: session open; waiting (process %ld)\n", (long)getpid());
    for (;;) {
        if (mp_recv(mine, &buf, NULL, &msg) == MACH_MSG_SUCCESS)
            mp_msg_parser_drop(&msg);
        else
            pause();
    }
}
