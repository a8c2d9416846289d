/*
 * mp_version.c — the library version.
 */
#include <machports/machports.h>

const char *mp_version(void)
{
    return "0.1.0";
}
