/*
 * um_env.h — how libumach and umachd read a switch or a number they are given (internal, not
 * installed): libumach's UMACH_* variables, in embedded mode (embedded/um_world.c) and in a
 * world (client/um_client.c, which passes them on to umachd), and umachd's options. One
 * reading, so that a variable means the same wherever it is read.
 *
 * A switch is on when set to anything but "" or "0" (um_env_flag); a switch that is on unless
 * told otherwise (UMACH_WORLD_POST, _WINDOWS, _RING) is off only when set to "0" exactly
 * (um_env_off). A number is decimal, 0x hex or 0 octal,
 * with a k, m or g suffix (KiB, MiB, GiB) only where it counts bytes; anything before it (a
 * sign, a space) or after it, or a value past 64 bits makes it malformed (the reader's default
 * stands).
 */
#ifndef UM_ENV_H
#define UM_ENV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline bool um_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static inline bool um_env_off(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "0") == 0;
}

/* `s` as a number (a byte size when `bytes`: the suffix allowed); false when malformed. */
static inline bool um_parse_number(const char *s, bool bytes, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') /* strtoull would skip spaces and take a sign */
        return false;
    char *end = NULL;
    int saved = errno;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    bool overflow = errno != 0;
    errno = saved;
    if (overflow || end == s)
        return false;
    unsigned shift = 0;
    if (bytes && (*end == 'k' || *end == 'K'))
        shift = 10;
    else if (bytes && (*end == 'm' || *end == 'M'))
        shift = 20;
    else if (bytes && (*end == 'g' || *end == 'G'))
        shift = 30;
    if (shift)
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* Variable `name` as a number (um_parse_number); 0 when unset or malformed. */
static inline uint64_t um_env_number(const char *name, bool bytes)
{
    uint64_t v = 0;
    return um_parse_number(getenv(name), bytes, &v) ? v : 0;
}

#endif
