/*
 * umach_lsmp.c — <umach/lsmp.h>: the calling task's port space as lsmp text. The space is
 * formatted under the world lock (kern/um_lsmp.c) and written out after it is released.
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "../embedded/um_embedded.h"
#include "../kern/um_lsmp.h"
#include "../um_export.h"

#include <umach/lsmp.h>

#include <errno.h> /* program_invocation_short_name */
#include <stdlib.h>

UM_EXPORT kern_return_t umach_lsmp(task_t task, char **textp, size_t *lenp)
{
    if (!textp)
        return KERN_INVALID_ARGUMENT;
    *textp = NULL;
    um_text text = UM_TEXT_INIT;
    um_task *self = um_embedded_enter();
    kern_return_t kr = um_task_space(self, task)
                           ? um_lsmp_format(self, program_invocation_short_name, &text)
                           : MACH_SEND_INVALID_DEST;
    um_embedded_leave();
    if (kr != KERN_SUCCESS) {
        um_text_free(&text);
        return kr;
    }
    *textp = text.buf;
    if (lenp)
        *lenp = text.len;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t umach_lsmp_print(task_t task, FILE *to)
{
    char *text = NULL;
    size_t len = 0;
    kern_return_t kr = umach_lsmp(task, &text, &len);
    if (kr != KERN_SUCCESS)
        return kr;
    if (!to) {
        free(text);
        return KERN_INVALID_ARGUMENT;
    }
    bool ok = fwrite(text, 1, len, to) == len && fflush(to) == 0;
    free(text);
    return ok ? KERN_SUCCESS : KERN_FAILURE;
}
