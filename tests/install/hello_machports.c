/*
 * hello_machports.c — the smallest machports program, built against an installed machports
 * (pkg-config and CMake) by tests/install/check.sh.
 */
#include <machports/machports.h>

#include <stdio.h>

int main(void)
{
    const char *v = mp_version();
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "hello_machports: no version\n");
        return 1;
    }
    printf("hello_machports: machports %s\n", v);
    return 0;
}
