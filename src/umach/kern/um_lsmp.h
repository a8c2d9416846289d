/*
 * um_lsmp.h — a task's port space as text, the way macOS's lsmp(1) shows one: every name with
 * its rights, user references, flags and armed requests; for receive rights the queue, its
 * limit, the make-send count and the send and send-once rights outstanding; for send and
 * send-once rights the task that holds the receive right; port-set members; kernel objects.
 * docs/world.md ("Looking inside: umach-lsmp") explains the columns.
 *
 * Front-end neutral: the text goes into a growable buffer (um_text) that the front end then
 * writes wherever it likes (a FILE in embedded mode, a socket in umachd), after it released
 * the world lock. Formatting never changes the space (a right to a dead port is shown as the
 * dead name it will become, without converting it).
 */
#ifndef UM_LSMP_H
#define UM_LSMP_H

#include "um_kern.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Text that grows as it is written (malloc'd). After a failed allocation `failed` is set and
 * further writes are ignored, so a formatter checks once at the end. Start from
 * UM_TEXT_INIT; um_text_free releases it (harmless on an empty one).
 */
typedef struct um_text {
    char *buf; /* NUL-terminated while len > 0 */
    size_t len, cap;
    bool failed;
} um_text;
#define UM_TEXT_INIT {NULL, 0, 0, false}

void um_text_printf(um_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void um_text_free(um_text *t);

/*
 * The identifier XNU's debugging calls show instead of a kernel address (mach_port_space_info's
 * iin_object, lsmp's ipc-object column): stable for one object while it lives, equal for every
 * name of it in every task, never the pointer itself.
 */
natural_t um_object_tag(const void *object);

/*
 * Append `task`'s space to `out`: a title line ("Process (PID) : LABEL"; LABEL may be NULL),
 * the column header, one row per name in name-table order (port-set members listed under
 * their set), and a totals line. A task whose space is gone (terminated) gives the title and
 * "(task terminated)". Returns KERN_SUCCESS, or KERN_RESOURCE_SHORTAGE when `out` could not
 * grow (its text is then incomplete; the caller frees it). Conditions: world locked.
 */
kern_return_t um_lsmp_format(um_task *task, const char *label, um_text *out)
    __attribute__((warn_unused_result));

#endif
