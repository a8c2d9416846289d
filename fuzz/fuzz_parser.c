/*
 * fuzz_parser.c — libFuzzer target over the machports message parser.
 *
 * Build (clang only): clang -fsanitize=fuzzer,address,undefined -Iinclude ... fuzz_parser.c
 * The input is treated as a received message followed by its trailer. The parser runs in
 * read-only mode (no MP_PARSE_RELEASE): the names and addresses in the input are not this process's,
 * so nothing may be released; every read the parser makes is still checked by ASan.
 * The first input byte chooses how many of the remaining bytes the parser is told are
 * valid, so truncation at every offset is explored.
 */
#include <machports/machports.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    if (data[0] & 0x80)
        len = len * (data[0] & 0x7f) / 127;

    /* An exact-size heap copy: any read past `len` is caught. */
    uint8_t *msg = malloc(len ? len : 1);
    if (!msg)
        return 0;
    if (len)
        memcpy(msg, data + 1, len);

    mp_msg_parser p;
    mp_msg_header h;
    mp_msg_desc d;
    mp_msg_trailer tr;
    const void *body;
    size_t blen;
    volatile uint8_t sink = 0;

    (void)mp_msg_parser_init_bytes(&p, msg, len, 0);
    (void)mp_msg_parser_header(&p, &h);
    (void)mp_msg_parser_id(&p);
    for (;;) {
        if (mp_msg_parser_next(&p, &d) != MACH_MSG_SUCCESS || d.kind == MP_DESC_NONE)
            break;
    }
    if (mp_msg_parser_body(&p, &body, &blen) == MACH_MSG_SUCCESS && blen)
        sink ^= ((const uint8_t *)body)[blen - 1] ^ ((const uint8_t *)body)[0];
    (void)mp_msg_parser_trailer(&p, &tr);
    mp_msg_parser_drop(&p);

    /* A second pass reads a notification the same way. */
    mp_notification n;
    (void)mp_msg_parser_init_bytes(&p, msg, len, 0);
    (void)mp_msg_parser_notification(&p, &n);
    mp_msg_parser_drop(&p);

    (void)sink;
    free(msg);
    return 0;
}
