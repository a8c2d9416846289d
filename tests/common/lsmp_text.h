/*
 * lsmp_text.h — reading umach_lsmp's text in tests (tests/umach/lsmp.c in one process,
 * tests/world/lsmp.c across processes): the row that starts with a given name.
 */
#ifndef LSMP_TEXT_H
#define LSMP_TEXT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The line of `text` that starts with `prefix` and a blank, into `out` ("" and false if none). */
static inline bool line_of(const char *text, const char *prefix, char *out, size_t cap)
{
    size_t plen = strlen(prefix);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > plen && strncmp(p, prefix, plen) == 0 && p[plen] == ' ') {
            snprintf(out, cap, "%.*s", (int)n, p);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    out[0] = '\0';
    return false;
}

#endif
