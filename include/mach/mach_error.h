/* <mach/mach_error.h> — umach (Darwin ABI): error strings. */
#ifndef _MACH_ERROR_
#define _MACH_ERROR_

#include <mach/error.h>

#ifdef __cplusplus
extern "C" {
#endif

char *mach_error_string(mach_error_t error_value);
void mach_error(const char *str, mach_error_t error_value);
char *mach_error_type(mach_error_t error_value);

#ifdef __cplusplus
}
#endif

#endif
