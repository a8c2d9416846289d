/*
 * umach_lsmp.c — <umach/lsmp.h>: the calling task's port space as lsmp text. Embedded mode
 * formats the space under the world lock (kern/um_lsmp.c) and writes it out after the lock
 * is released; in a world, umachd formats it (UM_WIRE_LSMP, tools/umachd/d_lsmp.c).
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "../client/um_client.h"
#include "../client/um_client_conn.h"
#include "../embedded/um_embedded.h"
#include "../kern/um_lsmp.h"
#include "../um_export.h"

#include <umach/lsmp.h>

#include <errno.h> /* program_invocation_short_name */
#include <stdlib.h>
#include <string.h>

/* In a world: ask umachd. */
static kern_return_t lsmp_from_world(task_t task, char **textp, size_t *lenp)
{
    uint64_t args[3] = {UM_WIRE_LSMP_SELF, 0, task};
    um_wire_pkt rep;
    if (um_client_roundtrip(UM_WIRE_LSMP, args, 3, NULL, 0, &rep, false) != CL_RT_OK)
        return MACH_SEND_INVALID_DEST; /* the world is gone, as for every task call */
    kern_return_t kr = rep.h.kr;
    if (kr == KERN_SUCCESS) {
        char *text = malloc((size_t)rep.h.blob_len + 1);
        if (text) {
            if (rep.h.blob_len)
                memcpy(text, rep.blob, rep.h.blob_len);
            text[rep.h.blob_len] = '\0';
            *textp = text;
            if (lenp)
                *lenp = rep.h.blob_len;
        } else {
            kr = KERN_RESOURCE_SHORTAGE;
        }
    }
    um_client_reply_free(&rep);
    return kr;
}

UM_EXPORT kern_return_t umach_lsmp(task_t task, char **textp, size_t *lenp)
{
    UM_CALL_SCOPE;
    if (!textp)
        return KERN_INVALID_ARGUMENT;
    *textp = NULL;
    if (um_client_active())
        return lsmp_from_world(task, textp, lenp);
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
    UM_CALL_SCOPE;
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
