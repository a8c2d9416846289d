/*
 * demo.c — a server thread and a client talking over Mach ports with machports.
 *
 * They meet by name through the bootstrap server: the server checks in a service name and
 * gets its receive right, the client looks the name up and gets a send right (in a world the
 * two could be separate processes; the calls are the same). The client makes three requests with mp_rpc (each carries a send-once reply right):
 *   1. GREET:    inline text; the server answers with inline text;
 *   2. CALLBACK: a send right moved to the server, which uses it to send a message back
 *                to a port of the client's;
 *   3. SUM:      64 KiB of out-of-line memory; the server answers with the byte sum;
 * then asks the server to stop. Each side prints what it receives.
 */
#include <machports/machports.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { GREET = 100, CALLBACK = 101, SUM = 102, STOP = 103, CALLED_BACK = 200 };

/* ---- the server ---------------------------------------------------------------------------- */

static mp_server_action handle(void *ctx, mp_msg_parser *req, mp_msg_header *hdr,
                               mp_msg_builder *reply)
{
    (void)ctx;
    const void *body;
    size_t len;
    mp_msg_desc d;

    switch (hdr->id) {
    case GREET: {
        /* Counted data: the exact bytes the client appended, without Mach's padding. */
        size_t at = 0;
        if (mp_msg_parser_read_data(req, &at, &body, &len) != MACH_MSG_SUCCESS)
            return MP_SERVER_NO_REPLY;
        printf("server: GREET \"%.*s\" (%zu bytes)\n", (int)len, (const char *)body, len);
        mp_msg_builder_append_data(reply, "hello, client", 13);
        return MP_SERVER_REPLY;
    }

    case CALLBACK: {
        mp_send_right client;
        /* Anything but a send right is dropped by expect. */
        if (mp_msg_parser_expect(req, MP_DESC_SEND, &d) != MACH_MSG_SUCCESS ||
            mp_msg_desc_take_send(&d, &client) != KERN_SUCCESS)
            return MP_SERVER_NO_REPLY;
        printf("server: CALLBACK with a send right (name 0x%x)\n", client.name);
        mp_msg_buffer buf;
        mp_msg_builder b;
        if (mp_msg_buffer_init(&buf, 64) == KERN_SUCCESS &&
            mp_msg_builder_init(&b, &buf) == KERN_SUCCESS) {
            mp_msg_builder_set_id(&b, CALLED_BACK);
            mp_msg_builder_append_inline(&b, "called back", 12);
            mach_msg_return_t mr = mp_send(client, &b, MP_TIMEOUT_NONE);
            if (mr != MACH_MSG_SUCCESS)
                mp_msg_error_print(stdout, "server: callback send", mr);
        }
        mp_msg_buffer_drop(&buf);
        mp_send_right_drop(&client); /* our copy of the client's send right */
        return MP_SERVER_REPLY;
    }

    case SUM: {
        uint32_t sum = 0;
        mp_ool_buf pages;
        if (mp_msg_parser_expect(req, MP_DESC_OOL, &d) == MACH_MSG_SUCCESS &&
            mp_msg_desc_take_ool(&d, &pages) == KERN_SUCCESS) {
            for (size_t i = 0; i < pages.size; i++)
                sum += ((const uint8_t *)pages.data)[i];
            printf("server: SUM over %zu bytes of OOL memory\n", pages.size);
            mp_ool_buf_drop(&pages); /* unmaps the received pages */
        }
        mp_msg_builder_append_inline(reply, &sum, sizeof sum);
        return MP_SERVER_REPLY;
    }

    case STOP:
        printf("server: STOP\n");
        return MP_SERVER_REPLY_AND_STOP;
    }
    return MP_SERVER_NO_REPLY;
}

static void *server_thread(void *arg)
{
    mp_recv_right *port = arg;
    mach_msg_return_t mr = mp_server_run(*port, handle, NULL, NULL);
    if (mr != MACH_MSG_SUCCESS)
        mp_msg_error_print(stdout, "server: stopped", mr);
    return NULL;
}

/* ---- the client ------------------------------------------------------------------------------ */

/* Send the request in *b and print the reply's inline data. */
static void call(mp_send_right server, mp_msg_builder *b, const char *what)
{
    mp_msg_parser reply;
    mach_msg_return_t mr = mp_rpc(server, b, MP_RECV_RIGHT_NULL, NULL, &reply);
    if (mr != MACH_MSG_SUCCESS) {
        mp_msg_error_print(stdout, what, mr);
        return;
    }
    const void *body;
    size_t len, at = 0;
    (void)mp_msg_parser_body(&reply, &body, &len);
    if (mp_msg_parser_id(&reply) == GREET + 100 &&
        mp_msg_parser_read_data(&reply, &at, &body, &len) == MACH_MSG_SUCCESS) {
        printf("client: %s reply id %d: \"%.*s\" (%zu bytes)\n", what, mp_msg_parser_id(&reply),
               (int)len, (const char *)body, len);
    } else if (len == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, body, sizeof v);
        printf("client: %s reply id %d: %u\n", what, mp_msg_parser_id(&reply), v);
    } else if (len > 0) {
        printf("client: %s reply id %d: \"%.*s\"\n", what, mp_msg_parser_id(&reply), (int)len,
               (const char *)body);
    } else {
        printf("client: %s reply id %d\n", what, mp_msg_parser_id(&reply));
    }
    mp_msg_parser_drop(&reply);
}

int main(void)
{
    mp_recv_right port, mine;
    mp_send_right server, to_me;
    mp_msg_buffer buf;
    mp_msg_builder b;
    pthread_t t;

    /* The server side checks in its service name (unique: on macOS this is launchd's). */
    char name[MP_BOOTSTRAP_NAME_MAX + 1];
    snprintf(name, sizeof name, "org.machports.demo.%ld", (long)getpid());
    kern_return_t kr = mp_bootstrap_check_in(mp_bootstrap_port(), name, &port);
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "demo: bootstrap_check_in: %s\n", bootstrap_strerror(kr));
        return 1;
    }
    if (mp_recv_right_alloc(&mine) || mp_msg_buffer_init(&buf, 256) ||
        pthread_create(&t, NULL, server_thread, &port)) {
        fprintf(stderr, "demo: setup failed\n");
        return 1;
    }
    /* The client finds it by name. */
    kr = mp_bootstrap_look_up(mp_bootstrap_port(), name, &server);
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "demo: bootstrap_look_up: %s\n", bootstrap_strerror(kr));
        return 1;
    }
    printf("client: found %s through the bootstrap server\n", name);

    /* 1. Inline data. */
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, GREET);
    mp_msg_builder_append_data(&b, "hello, server", 13);
    call(server, &b, "GREET");

    /* 2. A moved send right: the server calls us back through it. */
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, CALLBACK);
    if (mp_send_right_make(mine, &to_me) == KERN_SUCCESS)
        mp_msg_builder_append_moved_send(&b, &to_me); /* to_me is NULL from here on */
    call(server, &b, "CALLBACK");
    mp_msg_parser p;
    if (mp_recv(mine, &buf, NULL, &p) == MACH_MSG_SUCCESS) {
        const void *body;
        size_t len;
        (void)mp_msg_parser_body(&p, &body, &len);
        printf("client: message %d on my port: \"%.*s\"\n", mp_msg_parser_id(&p), (int)len,
               (const char *)body);
        mp_msg_parser_drop(&p);
    }

    /* 3. OOL memory: 64 KiB of pages that move to the server without a copy. */
    mp_ool_vec v;
    if (mp_ool_vec_with_capacity(65536, &v) == KERN_SUCCESS &&
        mp_ool_vec_resize(&v, 65536, 1, NULL) == KERN_SUCCESS) {
        mp_ool_buf pages = mp_ool_vec_into_buf(&v);
        mp_msg_builder_init(&b, &buf);
        mp_msg_builder_set_id(&b, SUM);
        mp_msg_builder_append_ool_buf(&b, &pages, MP_COPY_VIRTUAL);
        call(server, &b, "SUM");
    }

    /* 4. Stop the server. */
    mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, STOP);
    call(server, &b, "STOP");
    pthread_join(t, NULL);

    mp_msg_buffer_drop(&buf);
    mp_send_right_drop(&server);
    mp_recv_right_drop(&mine);
    mp_recv_right_drop(&port);

    /* The service's receive right is gone, and its name with it. */
    kr = mp_bootstrap_look_up(mp_bootstrap_port(), name, &server);
    printf("client: after the server left, looking up %s: %s\n", name, bootstrap_strerror(kr));
    mp_send_right_drop(&server);
    return kr == BOOTSTRAP_UNKNOWN_SERVICE ? 0 : 1;
}
