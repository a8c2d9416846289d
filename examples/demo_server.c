/*
 * demo_server.c — the server half of the two-process demo (demo_world.c runs it with
 * demo_client.c inside a umach world; on macOS launchd plays the world's part).
 *
 * It checks in the service name "org.machports.demo" (bootstrap_check_in: it gets the
 * receive right, clients look the name up) and serves one client session:
 *   GREET    inline text              -> a greeting;
 *   SESSION  a send right to the client's own port
 *                                     -> a send right to a fresh session port; the server
 *                                        asks for a dead-name notification on the client's
 *                                        port and a no-senders notification on the session
 *                                        port, then says "welcome" through the client's port;
 *   SUM      out-of-line memory       -> the byte sum.
 * Then it waits. When the client dies (killed with kill -9 mid-session: no goodbye), its
 * rights die with its task and the kernel tells the server twice: the client's port is a
 * dead name (dead-name notification) and nobody holds a send right to the session port any
 * more (no-senders notification). The server prints both and exits 0; if no client comes or
 * none dies within a minute it exits 1.
 */
#include <machports/machports.h>

#include <stdio.h>
#include <string.h>

#define DEMO_SERVICE "org.machports.demo"
enum { GREET = 100, SESSION = 101, SUM = 102, WELCOME = 200 };

typedef struct demo_server {
    mp_port_set set;      /* the service port, the session port and the notification port */
    mp_recv_right notify; /* where the kernel's notifications arrive */
    mp_recv_right session;
    mp_send_right client; /* the client's port, while it lives */
    bool told_dead_name, told_no_senders;
} demo_server;

static mp_server_action on_notification(demo_server *s, mp_msg_parser *msg)
{
    mp_notification n;
    mach_msg_return_t mr = mp_msg_parser_notification(msg, &n);
    if (mr != MACH_MSG_SUCCESS) {
        mp_msg_error_print(stdout, "server: not a kernel notification", mr);
        return MP_SERVER_NO_REPLY;
    }
    if (n.id == MACH_NOTIFY_DEAD_NAME) {
        printf("server: dead-name notification: the client's port (name 0x%x) is dead, "
               "its task is gone\n",
               n.name);
        mp_send_right_drop(&n.dead_name); /* the notification's own reference */
        mp_send_right_drop(&s->client);   /* our right to it, a dead name now */
        s->told_dead_name = true;
    } else if (n.id == MACH_NOTIFY_NO_SENDERS) {
        printf("server: no-senders notification: nobody holds the session port any more "
               "(make-send count %u)\n",
               n.mscount);
        s->told_no_senders = true;
    }
    if (s->told_dead_name && s->told_no_senders) {
        printf("server: the client died mid-session; stopping\n");
        return MP_SERVER_STOP;
    }
    return MP_SERVER_NO_REPLY;
}

static mp_server_action handle(void *ctx, mp_msg_parser *req, mp_msg_header *hdr,
                               mp_msg_builder *reply)
{
    demo_server *s = ctx;
    if (hdr->local_port == s->notify.name)
        return on_notification(s, req);

    const void *body;
    size_t len, at = 0;
    mp_msg_desc d;
    switch (hdr->id) {
    case GREET:
        if (mp_msg_parser_read_data(req, &at, &body, &len) != MACH_MSG_SUCCESS)
            return MP_SERVER_NO_REPLY;
        printf("server: GREET \"%.*s\" (%zu bytes inline)\n", (int)len, (const char *)body, len);
        mp_msg_builder_append_data(reply, "hello, client", 13);
        return MP_SERVER_REPLY;

    case SESSION: {
        mp_send_right client;
        mp_send_once_right prev;
        if (!mp_send_right_is_null(s->client) ||
            mp_msg_parser_expect(req, MP_DESC_SEND, &d) != MACH_MSG_SUCCESS ||
            mp_msg_desc_take_send(&d, &client) != KERN_SUCCESS)
            return MP_SERVER_NO_REPLY; /* one session at a time, and it needs the port */
        s->client = client;
        printf("server: SESSION with a send right to the client's port (name 0x%x)\n",
               client.name);
        /* Tell us when the client's port dies, and when the session port has no senders. */
        kern_return_t kr = mp_send_right_request_dead_name(s->client, s->notify, &prev);
        if (kr == KERN_SUCCESS) {
            mp_send_once_right_drop(&prev);
            kr = mp_recv_right_request_no_senders(s->session, s->notify, &prev);
        }
        if (kr != KERN_SUCCESS) {
            printf("server: cannot request notifications: %s\n", mach_error_string(kr));
            return MP_SERVER_STOP;
        }
        mp_send_once_right_drop(&prev);
        /* Say welcome through the client's own port. */
        mp_msg_buffer buf;
        mp_msg_builder b;
        if (mp_msg_buffer_init(&buf, 128) == KERN_SUCCESS &&
            mp_msg_builder_init(&b, &buf) == KERN_SUCCESS) {
            mp_msg_builder_set_id(&b, WELCOME);
            mp_msg_builder_append_data(&b, "welcome", 7);
            mach_msg_return_t mr = mp_send(s->client, &b, 1000);
            if (mr != MACH_MSG_SUCCESS)
                mp_msg_error_print(stdout, "server: welcome", mr);
        }
        mp_msg_buffer_drop(&buf);
        /* The reply carries a send right made from the session port (the only one). */
        mp_msg_builder_append_made_send(reply, s->session);
        return MP_SERVER_REPLY;
    }

    case SUM: {
        uint32_t sum = 0;
        mp_ool_buf pages;
        if (mp_msg_parser_expect(req, MP_DESC_OOL, &d) != MACH_MSG_SUCCESS ||
            mp_msg_desc_take_ool(&d, &pages) != KERN_SUCCESS)
            return MP_SERVER_NO_REPLY;
        for (size_t i = 0; i < pages.size; i++)
            sum += ((const uint8_t *)pages.data)[i];
        printf("server: SUM over %zu bytes of out-of-line memory\n", pages.size);
        mp_ool_buf_drop(&pages);
        mp_msg_builder_append_inline(reply, &sum, sizeof sum);
        return MP_SERVER_REPLY;
    }
    }
    return MP_SERVER_NO_REPLY;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in order with the client's, through pipes */
    demo_server s = {MP_PORT_SET_NULL, MP_RECV_RIGHT_NULL, MP_RECV_RIGHT_NULL,
                     MP_SEND_RIGHT_NULL, false, false};
    mp_recv_right service;
    kern_return_t kr = mp_bootstrap_check_in(mp_bootstrap_port(), DEMO_SERVICE, &service);
    if (kr != KERN_SUCCESS) {
        printf("server: bootstrap_check_in %s: %s\n", DEMO_SERVICE, bootstrap_strerror(kr));
        return 1;
    }
    if (mp_port_set_alloc(&s.set) != KERN_SUCCESS || mp_recv_right_alloc(&s.notify) ||
        mp_recv_right_alloc(&s.session) || mp_port_set_insert(s.set, service) ||
        mp_port_set_insert(s.set, s.notify) || mp_port_set_insert(s.set, s.session)) {
        printf("server: cannot make its ports\n");
        return 1;
    }
    printf("server: checked in %s; waiting for a client\n", DEMO_SERVICE);

    /* Requests and notifications, each within a minute of the last. */
    mp_server_options opts = {.recv = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 60000},
                              .reply_timeout_ms = 1000};
    mach_msg_return_t mr = mp_server_run_set(s.set, handle, &s, &opts);
    if (mr != MACH_MSG_SUCCESS)
        mp_msg_error_print(stdout, "server: stopped", mr);

    bool ok = s.told_dead_name && s.told_no_senders;
    mp_send_right_drop(&s.client);
    mp_recv_right_drop(&s.session);
    mp_recv_right_drop(&s.notify);
    mp_recv_right_drop(&service); /* the name goes with it */
    mp_port_set_drop(&s.set);
    return ok ? 0 : 1;
}
