/*
 * <umach/lsmp.h> — umach's own extension, not part of Darwin's API: a task's port space as
 * text, as macOS's lsmp(1) and umach's `umach-lsmp` tool print it (docs/world.md, "Looking
 * inside: umach-lsmp", explains every column). For debugging a program from inside: which
 * names it holds, how many user references, which receive rights have messages queued or
 * requests armed, and where its send rights lead.
 *
 * Linux only (libumach); a program that must also build on macOS guards its use with
 * `#ifndef __APPLE__`.
 */
#ifndef UMACH_LSMP_H
#define UMACH_LSMP_H

#include <mach/kern_return.h>
#include <mach/mach_types.h>

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The port space of `task` (mach_task_self(): a task may look only at itself) as lsmp text:
 * a title line "Process (PID) : PROGRAM", a column header, one line per name, and a totals
 * line. *textp gets a malloc'd NUL-terminated string the caller frees with free(), *lenp (if
 * not NULL) its length.
 * Returns KERN_SUCCESS; KERN_INVALID_ARGUMENT (textp is NULL); MACH_SEND_INVALID_DEST (`task`
 * is not the caller's task port, as for every task call); KERN_RESOURCE_SHORTAGE (out of
 * memory). On failure *textp is NULL.
 */
kern_return_t umach_lsmp(task_t task, char **textp, size_t *lenp)
    __attribute__((warn_unused_result));

/*
 * The same text written to `to` (after the space was read: the write never holds up other
 * threads' Mach calls). Returns umach_lsmp's codes, or KERN_FAILURE when writing failed.
 */
kern_return_t umach_lsmp_print(task_t task, FILE *to);

#ifdef __cplusplus
}
#endif

#endif
