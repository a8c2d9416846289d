/*
 * d_lsmp.c — UM_WIRE_LSMP: the port spaces of the world's tasks as lsmp text (kern/um_lsmp.c),
 * for umach-lsmp and for umach_lsmp() in a world (docs/world.md, "Looking inside:
 * umach-lsmp").
 *
 * Request args: which (UM_WIRE_LSMP_SELF: the caller's task, whose task port args[2] must
 * name, as every task call's; _PID: the task of process args[1]; _ALL: every task), pid,
 * task. Reply: KERN_SUCCESS and the text as the blob (tasks in the
 * order they joined, a blank line between two), KERN_NOT_FOUND (no task of that pid),
 * KERN_NO_ACCESS (a task of another uid, asked for by someone who is neither root nor the
 * world's owner; _ALL leaves such tasks out), MACH_SEND_INVALID_DEST (_SELF with a name that
 * is not the caller's task port), KERN_RESOURCE_SHORTAGE.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "kern/um_lsmp.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's name (/proc/PID/comm) into `buf`, or "" when it cannot be read. */
static void proc_comm(pid_t pid, char *buf, size_t cap)
{
    buf[0] = '\0';
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        n = 0;
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
}

/*
 * The effective uid process `pid` has now (/proc/PID/status: the kernel's word, as the
 * tokens are read), or `fallback` when it cannot be read.
 */
static uid_t proc_euid(pid_t pid, uid_t fallback)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return fallback;
    unsigned ruid, euid;
    uid_t found = fallback;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Uid:", 4) == 0 && sscanf(line + 4, "%u %u", &ruid, &euid) == 2) {
            found = (uid_t)euid;
            break;
        }
    }
    fclose(f);
    return found;
}

/*
 * May a caller whose effective uid is now `caller` look at `t`? Tasks of its own uid; root
 * and the world's owner: every task. Both uids as they are at this request, not as they
 * were when the connections were made (a process that dropped root sees no more than its
 * new uid's tasks).
 */
static bool may_list(uid_t caller, const d_task *t)
{
    if (caller == 0 || caller == getuid())
        return true;
    return proc_euid(t->pid, t->control ? t->control->uid : (uid_t)-1) == caller;
}

static int by_join_order(const void *a, const void *b)
{
    uint32_t x = (*(d_task *const *)a)->task->audit.val[7];
    uint32_t y = (*(d_task *const *)b)->task->audit.val[7];
    return x < y ? -1 : x > y;
}

bool d_lsmp(d_daemon *d, d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs != 3 || p->h.blob_len != 0 || !c->task)
        return false;
    uint64_t which = p->args[0], pid = p->args[1];
    if (which != UM_WIRE_LSMP_SELF && which != UM_WIRE_LSMP_PID && which != UM_WIRE_LSMP_ALL)
        return false;
    if (which == UM_WIRE_LSMP_SELF &&
        (p->args[2] > UINT32_MAX || !um_task_space(c->task->task, (mach_port_name_t)p->args[2])))
        return d_reply(c, UM_WIRE_LSMP, p->h.id, MACH_SEND_INVALID_DEST, NULL, 0, NULL, 0);
    d_task **list = calloc(d->ntasks ? d->ntasks : 1, sizeof *list);
    if (!list)
        return d_reply(c, UM_WIRE_LSMP, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
    size_t n = 0;
    bool denied = false;
    uid_t caller = proc_euid(c->pid, c->uid);
    for (d_task *t = d->tasks; t && n < d->ntasks; t = t->next) {
        if (which == UM_WIRE_LSMP_SELF ? t != c->task
                                       : which == UM_WIRE_LSMP_PID && (uint64_t)t->pid != pid)
            continue;
        if (!may_list(caller, t)) {
            denied = true;
            continue;
        }
        list[n++] = t;
    }
    kern_return_t kr = KERN_SUCCESS;
    um_text text = UM_TEXT_INIT;
    if (n == 0) {
        kr = denied && which == UM_WIRE_LSMP_PID ? KERN_NO_ACCESS : KERN_NOT_FOUND;
    } else {
        qsort(list, n, sizeof *list, by_join_order);
        for (size_t i = 0; i < n && kr == KERN_SUCCESS; i++) {
            char comm[64];
            proc_comm(list[i]->pid, comm, sizeof comm);
            if (i)
                um_text_printf(&text, "\n");
            kr = um_lsmp_format(list[i]->task, comm, &text);
        }
        if (kr == KERN_SUCCESS && text.len > UM_WIRE_BLOB_MAX)
            kr = KERN_RESOURCE_SHORTAGE;
    }
    free(list);
    bool ok = kr == KERN_SUCCESS
                  ? d_reply(c, UM_WIRE_LSMP, p->h.id, kr, NULL, 0, text.buf, (uint32_t)text.len)
                  : d_reply(c, UM_WIRE_LSMP, p->h.id, kr, NULL, 0, NULL, 0);
    um_text_free(&text);
    return ok;
}
