/*
 * um_lsmp.c — a task's port space as text (see um_lsmp.h). Read-only: the space, its ports and
 * their requests are looked at, never changed.
 */
#include "um_lsmp.h"
#include "um_bootstrap.h"
#include "um_kobject_ports.h"

#include <mach/port.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable text -------------------------------------------------------------------------- */

static bool text_reserve(um_text *t, size_t more)
{
    if (t->failed)
        return false;
    if (t->len + more + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            t->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *b = realloc(t->buf, cap);
    if (!b) {
        t->failed = true;
        return false;
    }
    t->buf = b;
    t->cap = cap;
    return true;
}

void um_text_printf(um_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (!text_reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void um_text_free(um_text *t)
{
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
    t->failed = false;
}

/* End a row: no trailing blanks, one newline. */
static void text_end_line(um_text *t)
{
    while (t->len > 0 && t->buf[t->len - 1] == ' ')
        t->len--;
    if (t->buf)
        t->buf[t->len] = '\0';
    um_text_printf(t, "\n");
}

natural_t um_object_tag(const void *object)
{
    uint64_t v = (uint64_t)(uintptr_t)object;
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdull;
    v ^= v >> 33;
    return (natural_t)v;
}

/* ---- one row ---------------------------------------------------------------------------------- */

/* The fixed columns of a row, as text (empty: blank). The identifier column follows. */
typedef struct lsmp_cols {
    char name[16], object[16], rights[16], flags[8], reqs[8];
    char recv[8], urefs[8], sonce[12], srights[12], mscount[12], qlimit[12], msgcount[12];
    char context[24];
} lsmp_cols;

#define LSMP_ROW_FMT "%-11s %-10s  %-10s  %-6s  %-4s  %4s  %5s  %5s  %7s  %7s  %6s  %8s  %-18s  "

static void row_begin(um_text *out, const lsmp_cols *c)
{
    um_text_printf(out, LSMP_ROW_FMT, c->name, c->object, c->rights, c->flags, c->reqs, c->recv,
                   c->urefs, c->sonce, c->srights, c->mscount, c->qlimit, c->msgcount, c->context);
}

static void header(um_text *out)
{
    um_text_printf(out, LSMP_ROW_FMT, "name", "ipc-object", "rights", "flags", "reqs", "recv",
                   "urefs", "sonce", "srights", "mscount", "qlimit", "msgcount", "context");
    um_text_printf(out, "identifier");
    text_end_line(out);
    um_text_printf(out, LSMP_ROW_FMT, "-----------", "----------", "----------", "------", "----",
                   "----", "-----", "-----", "-------", "-------", "------", "--------",
                   "------------------");
    um_text_printf(out, "----------");
    text_end_line(out);
}

#define COL(field, ...) snprintf(c.field, sizeof c.field, __VA_ARGS__)

/* T tempowner, G guarded, S strict guard, I importance donation, M immovable receive, P pinned. */
static void port_flags(char *buf, size_t len, const um_port *p)
{
    snprintf(buf, len, "%c%c%c%c%c%c", p->tempowner ? 'T' : '-', p->guarded ? 'G' : '-',
             p->strict_guard ? 'S' : '-', p->impdonation ? 'I' : '-',
             p->immovable_receive ? 'M' : '-', p->pinned ? 'P' : '-');
}

/*
 * A receive right's armed requests: D a dead-name request (from any task), N no-senders,
 * P port-destroyed, S a send-possible request.
 */
static void port_reqs(char *buf, size_t len, const um_port *p)
{
    const um_port_rare *r = um_rare(p);
    bool dn = false, sp = false;
    for (uint32_t i = 1; i < r->caprequests; i++) {
        if (!r->requests[i].space)
            continue;
        if (r->requests[i].dead_name)
            dn = true;
        else
            sp = true;
    }
    snprintf(buf, len, "%c%c%c%c", dn ? 'D' : '-', r->nsrequest ? 'N' : '-',
             r->pdrequest ? 'P' : '-', sp ? 'S' : '-');
}

/* The pid of the task that holds `space` (its audit token's), or 0. */
static unsigned space_pid(const um_space *space)
{
    return space && space->task ? space->task->audit.val[5] : 0;
}

/* What a kernel-object port stands for. */
static void kobject_ident(um_text *out, um_task *self, const um_port *p)
{
    const um_port_rare *r = um_rare(p);
    switch (p->kotype) {
    case UM_KOT_TASK: {
        const um_task *t = r->kobject;
        if (t == self)
            um_text_printf(out, "TASK SELF (pid %u)", space_pid(self->space));
        else if (t)
            um_text_printf(out, "TASK (pid %u)", t->space ? space_pid(t->space) : t->audit.val[5]);
        else
            um_text_printf(out, "TASK (terminated)");
        break;
    }
    case UM_KOT_THREAD:
        um_text_printf(out, "THREAD");
        break;
    case UM_KOT_HOST:
        um_text_printf(out, "HOST");
        break;
    case UM_KOT_CLOCK: {
        const um_clock *clock = r->kobject;
        um_text_printf(out, "CLOCK (%s)", clock->id == UM_CLOCK_CALENDAR ? "calendar" : "system");
        break;
    }
    case UM_KOT_SEMAPHORE: {
        const um_semaphore *s = r->kobject;
        if (s && s->active)
            um_text_printf(out, "SEMAPHORE (count %d)", s->count);
        else
            um_text_printf(out, "SEMAPHORE (destroyed)");
        break;
    }
    case UM_KOT_TIMER: {
        const um_timer *tm = r->kobject;
        um_text_printf(out, "TIMER (%s)", tm && tm->armed ? "armed" : "not armed");
        break;
    }
    case UM_KOT_MEMORY_ENTRY: {
        const um_mem_entry *e = r->kobject;
        um_text_printf(out, "MEMORY-ENTRY (%llu bytes%s)", e ? (unsigned long long)e->size : 0ULL,
                       e && e->is_copy ? ", copy" : "");
        break;
    }
    case UM_KOT_TASK_RESUME: {
        const um_task *t = r->kobject;
        if (t && t->space)
            um_text_printf(out, "TASK-RESUME (pid %u, suspended %u)", space_pid(t->space),
                           t->user_stop_count);
        else
            um_text_printf(out, "TASK-RESUME (terminated)");
        break;
    }
    case UM_KOT_BOOTSTRAP: {
        um_bootstrap *root = self->kernel->bootstrap;
        um_text_printf(out, "BOOTSTRAP (%s)",
                       root && um_bootstrap_port(root) == p ? "root" : "subset");
        break;
    }
    default:
        um_text_printf(out, "KOBJECT %u", (unsigned)p->kotype);
        break;
    }
}

/* Where a send or send-once right leads: the receive right's holder. */
static void destination_ident(um_text *out, um_task *self, const um_port *p)
{
    if (p->kotype != UM_KOT_NONE && p->kotype != UM_KOT_TIMER) {
        kobject_ident(out, self, p);
        return;
    }
    if (p->kotype == UM_KOT_TIMER)
        um_text_printf(out, "TIMER ");
    if (p->receiver == self->space)
        um_text_printf(out, "-> 0x%08x (this task)", p->receiver_name);
    else if (p->receiver)
        um_text_printf(out, "-> 0x%08x (pid %u)", p->receiver_name, space_pid(p->receiver));
    else if (p->destination)
        um_text_printf(out, "-> (receive right in transit)");
    else
        um_text_printf(out, "-> (receive right held by the kernel)");
}

/* The names of the sets of `space` that `p` belongs to. */
static void sets_ident(um_text *out, const um_space *space, const um_port *p)
{
    const um_port_rare *r = um_rare(p);
    const char *sep = "in set ";
    for (uint32_t i = 0; i < r->nsets; i++) {
        const um_pset *s = r->sets[i];
        if (s->space != space || !s->active)
            continue;
        um_text_printf(out, "%s0x%08x", sep, s->name);
        sep = ", ";
    }
}

typedef struct lsmp_totals {
    uint32_t names, recv, send, sonce, psets, dead;
    uint64_t queued;
} lsmp_totals;

static void port_set_rows(um_text *out, const um_space *space, mach_port_name_t name,
                          const um_pset *set, lsmp_totals *tot)
{
    lsmp_cols c;
    memset(&c, 0, sizeof c);
    COL(name, "0x%08x", name);
    COL(object, "0x%08x", um_object_tag(set));
    COL(rights, "port-set");
    tot->psets++;
    row_begin(out, &c);
    um_text_printf(out, "%u member%s", set->nmembers, set->nmembers == 1 ? "" : "s");
    text_end_line(out);
    for (uint32_t i = 0; i < set->nmembers; i++) {
        const um_port *m = set->members[i];
        memset(&c, 0, sizeof c);
        if (m->receiver == space)
            COL(name, "-0x%08x", m->receiver_name);
        else
            COL(name, "-");
        COL(object, "0x%08x", um_object_tag(m));
        COL(rights, "member");
        row_begin(out, &c);
        text_end_line(out);
    }
}

static void entry_row(um_text *out, um_task *task, mach_port_name_t name, um_entry *e,
                      lsmp_totals *tot)
{
    um_space *space = task->space;
    mach_port_type_t type = e->type;
    tot->names++;
    if (type & MACH_PORT_TYPE_PORT_SET) {
        port_set_rows(out, space, name, (const um_pset *)e->object, tot);
        return;
    }
    lsmp_cols c;
    memset(&c, 0, sizeof c);
    COL(name, "0x%08x", name);
    um_port *p = (type & MACH_PORT_TYPE_DEAD_NAME) ? NULL : (um_port *)e->object;
    uint32_t urefs = e->urefs;
    /* A send or send-once right to a port that died is a dead name already (XNU converts it
     * when the name is next used: shown as it will be, with the uref its request adds). */
    if (p && !p->active && !(type & MACH_PORT_TYPE_RECEIVE)) {
        if (type & MACH_PORT_TYPE_SEND_ONCE)
            urefs = 1;
        if (e->request && um_request_type(space, name, e) && urefs < UM_UREFS_MAX)
            urefs++;
        type = MACH_PORT_TYPE_DEAD_NAME;
        p = NULL;
    }
    if (type & MACH_PORT_TYPE_DEAD_NAME) {
        tot->dead++;
        COL(object, "-");
        COL(rights, "dead-name");
        COL(urefs, "%u", urefs);
        row_begin(out, &c);
        text_end_line(out);
        return;
    }
    COL(object, "0x%08x", um_object_tag(p));
    port_flags(c.flags, sizeof c.flags, p);
    if (type & MACH_PORT_TYPE_RECEIVE) {
        tot->recv++;
        tot->queued += p->msgcount;
        COL(rights, "%s", (type & MACH_PORT_TYPE_SEND) ? "recv,send" : "recv");
        port_reqs(c.reqs, sizeof c.reqs, p);
        COL(recv, "1");
        COL(sonce, "%u", p->sorights);
        COL(srights, "%u", p->srights);
        COL(mscount, "%u", p->mscount);
        COL(qlimit, "%u", p->qlimit);
        COL(msgcount, "%u", p->msgcount);
        COL(context, "0x%016llx", (unsigned long long)p->context);
    } else {
        mach_port_type_t req = e->request ? um_request_type(space, name, e) : 0;
        /* This name's own request: D dead-name, S send-possible. */
        snprintf(c.reqs, sizeof c.reqs, "%c--%c", (req & MACH_PORT_TYPE_DNREQUEST) ? 'D' : '-',
                 (req & (MACH_PORT_TYPE_SPREQUEST | MACH_PORT_TYPE_SPREQUEST_DELAYED)) ? 'S'
                                                                                        : '-');
        COL(rights, "%s", (type & MACH_PORT_TYPE_SEND) ? "send" : "send-once");
    }
    if (type & MACH_PORT_TYPE_SEND) {
        tot->send++;
        COL(urefs, "%u", urefs);
    }
    if (type & MACH_PORT_TYPE_SEND_ONCE) {
        tot->sonce++;
        COL(sonce, "1");
    }
    row_begin(out, &c);
    if (type & MACH_PORT_TYPE_RECEIVE) {
        const char *sep = "";
        if (p->kotype != UM_KOT_NONE) {
            kobject_ident(out, task, p);
            sep = " ";
        }
        if (um_rare(p)->nsets) {
            um_text_printf(out, "%s", sep);
            sets_ident(out, space, p);
        }
    } else {
        destination_ident(out, task, p);
    }
    text_end_line(out);
}

kern_return_t um_lsmp_format(um_task *task, const char *label, um_text *out)
{
    um_space *space = task->space;
    um_text_printf(out, "Process (%u) : %s\n", space ? space_pid(space) : task->audit.val[5],
                   label && label[0] ? label : "-");
    if (!space) {
        um_text_printf(out, "(task terminated)\n");
        return out->failed ? KERN_RESOURCE_SHORTAGE : KERN_SUCCESS;
    }
    header(out);
    lsmp_totals tot;
    memset(&tot, 0, sizeof tot);
    for (uint32_t i = 1; i < space->count; i++) {
        um_entry *e = &space->table[i];
        if (!e->type)
            continue;
        entry_row(out, task, (i << 8) | e->gen, e, &tot);
    }
    um_text_printf(out,
                   "Total: %u names: %u receive, %u send, %u send-once, %u port-set, %u dead-name; "
                   "%llu message%s queued\n",
                   tot.names, tot.recv, tot.send, tot.sonce, tot.psets, tot.dead,
                   (unsigned long long)tot.queued, tot.queued == 1 ? "" : "s");
    return out->failed ? KERN_RESOURCE_SHORTAGE : KERN_SUCCESS;
}
