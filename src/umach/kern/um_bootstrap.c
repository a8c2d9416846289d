/*
 * um_bootstrap.c — name registries behind bootstrap ports (see um_bootstrap.h).
 *
 * Behaviour follows launchd's MIG routines as far as a process can observe them: check-in of
 * an unknown name creates it (the caller gets the receive right), a second check-in of an
 * active name is BOOTSTRAP_SERVICE_ACTIVE, register over an active name is
 * BOOTSTRAP_NAME_IN_USE, register over a declared name that no server holds is refused
 * (BOOTSTRAP_NOT_PRIVILEGED: such a name is for check-in) unless it registers MACH_PORT_NULL,
 * which undeclares it, and look-up of an unknown name is BOOTSTRAP_UNKNOWN_SERVICE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strnlen */
#endif
#include "um_bootstrap.h"

#include <mach/mig_errors.h>
#include <mach/notify.h>

#include <stdlib.h>
#include <string.h>

/* Subsets nest at most this deep (launchd's limit). */
#define UM_BS_MAX_DEPTH 100

typedef struct um_bs_entry {
    struct um_bs_entry *next, **pprev; /* in its hash bucket */
    um_bootstrap *owner;
    um_port *send;            /* naked send right handed out by look-up */
    um_port *recv;            /* declared and not checked in: the naked receive right */
    bool declared;
    uint32_t owner_uid;       /* declared: the euid that may check it in (UM_BS_ANY_UID: any) */
    um_port_watch watch;      /* on `send`'s port */
    char name[BOOTSTRAP_MAX_NAME_LEN];
} um_bs_entry;

struct um_bootstrap {
    um_port *port;            /* kernel object; this registry owns its receive right */
    um_bootstrap *parent;
    um_bootstrap *children, *sibling, **sibling_pprev; /* unlinked in O(1) */
    unsigned depth;
    um_port *requestor;       /* subsets: naked send right to the port whose death ends us */
    um_port_watch requestor_watch;
    /* names: a hash table of chains, power-of-two size, grown at one entry per bucket */
    um_bs_entry **buckets;
    size_t nbuckets, nentries;
};

/* ---- entries ------------------------------------------------------------------------------ */

/* FNV-1a of a name. */
static size_t name_hash(const char *name)
{
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)(h ^ (h >> 32));
}

static um_bs_entry *find_own(um_bootstrap *bs, const char *name)
{
    if (!bs->nbuckets)
        return NULL;
    for (um_bs_entry *e = bs->buckets[name_hash(name) & (bs->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static void bucket_link(um_bs_entry **head, um_bs_entry *e)
{
    e->next = *head;
    if (e->next)
        e->next->pprev = &e->next;
    e->pprev = head;
    *head = e;
}

/* Room for one more entry (the table doubles when it holds one per bucket). false: no memory. */
static bool entries_reserve(um_bootstrap *bs)
{
    if (bs->nentries < bs->nbuckets)
        return true;
    size_t n = bs->nbuckets ? bs->nbuckets * 2 : 8;
    um_bs_entry **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < bs->nbuckets; i++) {
        um_bs_entry *e;
        while ((e = bs->buckets[i]) != NULL) {
            bs->buckets[i] = e->next;
            bucket_link(&b[name_hash(e->name) & (n - 1)], e);
        }
    }
    free(bs->buckets);
    bs->buckets = b;
    bs->nbuckets = n;
    return true;
}

/* Insert an entry (entries_reserve succeeded). */
static void entries_insert(um_bootstrap *bs, um_bs_entry *e)
{
    bucket_link(&bs->buckets[name_hash(e->name) & (bs->nbuckets - 1)], e);
    bs->nentries++;
}

/* Unlink and free an entry, releasing its rights (a held receive right destroys the port). */
static void entry_free(um_bs_entry *e)
{
    e->owner->nentries--;
    *e->pprev = e->next;
    if (e->next)
        e->next->pprev = e->pprev;
    um_port *send = e->send, *recv = e->recv;
    um_port_watch_remove(send, &e->watch);
    free(e);
    um_port_release_send(send);
    if (recv)
        um_port_release_receive(recv);
}

static void declared_reset(um_bs_entry *e);

/* The port behind an entry died: the name is free again (a declared one gets a new port). */
static void entry_port_died(um_port_watch *w, um_port *port)
{
    (void)port;
    um_bs_entry *e = (um_bs_entry *)((char *)w - offsetof(um_bs_entry, watch));
    if (e->declared)
        declared_reset(e);
    else
        entry_free(e);
}

/* A new entry holding `send` (a naked send right, consumed on success). NULL: no memory. */
static um_bs_entry *entry_add(um_bootstrap *bs, const char *name, um_port *send)
{
    um_bs_entry *e = entries_reserve(bs) ? calloc(1, sizeof *e) : NULL;
    if (!e)
        return NULL;
    e->owner = bs;
    e->send = send;
    e->watch.dead = entry_port_died;
    strcpy(e->name, name); /* checked: shorter than BOOTSTRAP_MAX_NAME_LEN */
    if (!um_port_watch_add(send, &e->watch)) {
        free(e);
        return NULL;
    }
    entries_insert(bs, e);
    return e;
}

/* A fresh port for a declared service: the entry holds its receive right and a send right. */
static bool declared_fill(um_bs_entry *e)
{
    um_port *p = um_port_alloc();
    if (!p)
        return false;
    if (!um_port_watch_add(p, &e->watch)) {
        um_port_destroy(p); /* no right to it exists yet */
        return false;
    }
    um_port_make_send(p);
    e->recv = p;
    e->send = p;
    return true;
}

/*
 * A declared service's port died although the registry never got its receive right back (its
 * server cancelled the port-destroyed request): the name stays declared, with a new port.
 */
static void declared_reset(um_bs_entry *e)
{
    um_port *old = e->send;
    e->send = NULL;
    if (!declared_fill(e)) {
        e->send = old;
        entry_free(e);
        return;
    }
    um_port_release_send(old);
}

/* ---- registries ------------------------------------------------------------------------------ */

static um_bootstrap *registry_new(um_bootstrap *parent)
{
    um_bootstrap *bs = calloc(1, sizeof *bs);
    if (!bs)
        return NULL;
    bs->port = um_port_alloc();
    um_port_rare *rare = bs->port ? um_port_rare_get(bs->port) : NULL;
    if (!rare) {
        if (bs->port)
            um_port_destroy(bs->port); /* no right to it exists yet */
        free(bs);
        return NULL;
    }
    bs->port->kotype = UM_KOT_BOOTSTRAP;
    rare->kobject = bs;
    if (parent) {
        bs->parent = parent;
        bs->depth = parent->depth + 1;
        bs->sibling = parent->children;
        if (bs->sibling)
            bs->sibling->sibling_pprev = &bs->sibling;
        bs->sibling_pprev = &parent->children;
        parent->children = bs;
    }
    return bs;
}

um_bootstrap *um_bootstrap_create(void)
{
    return registry_new(NULL);
}

um_port *um_bootstrap_port(const um_bootstrap *bs)
{
    return bs->port;
}

void um_bootstrap_destroy(um_bootstrap *bs)
{
    while (bs->children)
        um_bootstrap_destroy(bs->children);
    if (bs->parent) {
        *bs->sibling_pprev = bs->sibling;
        if (bs->sibling)
            bs->sibling->sibling_pprev = bs->sibling_pprev;
    }
    /* Bucket by bucket, re-reading each head: freeing one may free others (port watches). */
    for (size_t i = 0; i < bs->nbuckets; i++)
        while (bs->buckets[i])
            entry_free(bs->buckets[i]);
    free(bs->buckets);
    if (bs->requestor) {
        um_port_watch_remove(bs->requestor, &bs->requestor_watch);
        um_port_release_send(bs->requestor);
    }
    /* Requests that still reach the port find no registry (um_kobject_server drops them). */
    um_port *port = bs->port;
    if (port->rare)
        port->rare->kobject = NULL;
    free(bs);
    um_port_destroy(port);
}

static void requestor_died(um_port_watch *w, um_port *port)
{
    (void)port;
    um_bootstrap *bs = (um_bootstrap *)((char *)w - offsetof(um_bootstrap, requestor_watch));
    um_bootstrap_destroy(bs);
}

static bool name_ok(const char *name)
{
    size_t n = strnlen(name, BOOTSTRAP_MAX_NAME_LEN);
    return n > 0 && n < BOOTSTRAP_MAX_NAME_LEN;
}

kern_return_t um_bootstrap_declare(um_bootstrap *bs, const char *name, uint32_t owner_uid)
{
    if (!name_ok(name))
        return BOOTSTRAP_BAD_COUNT;
    if (find_own(bs, name))
        return BOOTSTRAP_NAME_IN_USE;
    um_bs_entry *e = entries_reserve(bs) ? calloc(1, sizeof *e) : NULL;
    if (!e)
        return BOOTSTRAP_NO_MEMORY;
    e->owner = bs;
    e->declared = true;
    e->owner_uid = owner_uid;
    e->watch.dead = entry_port_died;
    strcpy(e->name, name);
    if (!declared_fill(e)) {
        free(e);
        return BOOTSTRAP_NO_MEMORY;
    }
    entries_insert(bs, e);
    return BOOTSTRAP_SUCCESS;
}

/* ---- routines ---------------------------------------------------------------------------------- */

/* Is the service active: does someone other than the registry hold its receive right? */
static bool entry_active(const um_bs_entry *e)
{
    return !e->declared || e->recv == NULL;
}

/* May a task whose effective uid was `euid` when it sent the request act on a declared name? */
static bool entry_owned_by(const um_bs_entry *e, uint32_t euid)
{
    return e->owner_uid == UM_BS_ANY_UID || e->owner_uid == euid;
}

static kern_return_t do_check_in(um_bootstrap *bs, const char *name, uint32_t euid,
                                 um_kobject_reply *r)
{
    um_bs_entry *e = find_own(bs, name);
    if (e && entry_active(e))
        return BOOTSTRAP_SERVICE_ACTIVE;
    if (e && !entry_owned_by(e, euid))
        return BOOTSTRAP_NOT_PRIVILEGED; /* launchd: the service is another job's */
    if (e) {
        /* A declared service: its receive right goes out and comes back when it dies. */
        um_kmsg *reserve = um_notify_reserve(); /* so that it always can come back */
        um_port *p = e->recv;
        um_port_rare *rare = um_port_rare_get(p);
        if (!reserve || !rare || !um_port_make_send_once(bs->port)) {
            um_notify_reserve_free(reserve);
            return BOOTSTRAP_NO_MEMORY;
        }
        rare->pdrequest = bs->port;
        rare->pdreserve = reserve;
        e->recv = NULL;
        r->port = p;
        r->disp = MACH_MSG_TYPE_PORT_RECEIVE;
        return BOOTSTRAP_SUCCESS;
    }
    /* An unknown name becomes a service of the caller's (launchd does the same). */
    um_port *p = um_port_alloc();
    if (!p)
        return BOOTSTRAP_NO_MEMORY;
    um_port_make_send(p);
    if (!entry_add(bs, name, p)) {
        um_port_release_send(p);
        um_port_destroy(p);
        return BOOTSTRAP_NO_MEMORY;
    }
    r->port = p; /* the reference from um_port_alloc is the receive right's */
    r->disp = MACH_MSG_TYPE_PORT_RECEIVE;
    return BOOTSTRAP_SUCCESS;
}

static kern_return_t do_look_up(um_bootstrap *bs, const char *name, um_kobject_reply *r)
{
    for (um_bootstrap *b = bs; b; b = b->parent) {
        um_bs_entry *e = find_own(b, name);
        if (e) {
            um_port_copy_send(e->send);
            r->port = e->send;
            r->disp = MACH_MSG_TYPE_PORT_SEND;
            return BOOTSTRAP_SUCCESS;
        }
    }
    return BOOTSTRAP_UNKNOWN_SERVICE;
}

/* `*service` is a naked send right, NULL or UM_PORT_DEAD; taken (set to NULL) on success. */
static kern_return_t do_register(um_bootstrap *bs, const char *name, uint32_t euid,
                                 um_port **service)
{
    um_bs_entry *e = find_own(bs, name);
    if (e && entry_active(e))
        return BOOTSTRAP_NAME_IN_USE;
    if (e && (UM_PORT_VALID(*service) || !entry_owned_by(e, euid)))
        return BOOTSTRAP_NOT_PRIVILEGED; /* a declared name is taken by check-in */
    if (e)
        entry_free(e); /* MACH_PORT_NULL undeclares a service no server holds */
    if (!UM_PORT_VALID(*service) || !(*service)->active)
        return BOOTSTRAP_SUCCESS; /* nothing to bind: a dead server's name is free at once */
    if (!entry_add(bs, name, *service))
        return BOOTSTRAP_NO_MEMORY;
    *service = NULL;
    return BOOTSTRAP_SUCCESS;
}

/* `*requestor` is a naked send right, NULL or UM_PORT_DEAD; taken on success. */
static kern_return_t do_subset(um_bootstrap *bs, um_port **requestor, um_kobject_reply *r)
{
    if (!UM_PORT_VALID(*requestor) || !(*requestor)->active)
        return BOOTSTRAP_NOT_PRIVILEGED;
    if (bs->depth >= UM_BS_MAX_DEPTH)
        return BOOTSTRAP_NO_MEMORY;
    if (!um_port_rare_get(*requestor)) /* so that the watch below cannot fail */
        return BOOTSTRAP_NO_MEMORY;
    um_bootstrap *sub = registry_new(bs);
    if (!sub)
        return BOOTSTRAP_NO_MEMORY;
    sub->requestor = *requestor;
    *requestor = NULL;
    sub->requestor_watch.dead = requestor_died;
    bool watched = um_port_watch_add(sub->requestor, &sub->requestor_watch);
    (void)watched; /* its rare part exists: checked above */
    um_port_make_send(sub->port);
    r->port = sub->port;
    r->disp = MACH_MSG_TYPE_PORT_SEND;
    return BOOTSTRAP_SUCCESS;
}

static kern_return_t do_parent(um_bootstrap *bs, um_kobject_reply *r)
{
    /* The root is its own parent, as "/.." is "/". */
    um_port *p = (bs->parent ? bs->parent : bs)->port;
    um_port_make_send(p);
    r->port = p;
    r->disp = MACH_MSG_TYPE_PORT_SEND;
    return BOOTSTRAP_SUCCESS;
}

/*
 * A checked-in declared service's receive right was destroyed: it comes back to its registry
 * in a port-destroyed notification and the service can be checked in again.
 */
static void port_destroyed(um_bootstrap *bs, um_kmsg *k)
{
    if (k->ndesc != 1 || k->desc[0].type != MACH_MSG_PORT_DESCRIPTOR ||
        k->desc[0].u.port.disp != MACH_MSG_TYPE_PORT_RECEIVE ||
        !UM_PORT_VALID(k->desc[0].u.port.port))
        return;
    um_port *p = k->desc[0].u.port.port;
    for (size_t i = 0; i < bs->nbuckets; i++) {
        for (um_bs_entry *e = bs->buckets[i]; e; e = e->next) {
            if (e->declared && e->send == p && !e->recv) {
                um_port_clear_destination(p);
                e->recv = p;
                k->desc[0].u.port.port = NULL;
                return;
            }
        }
    }
    /* Not ours (the service was undeclared meanwhile): destroyed with the message. */
}

/* ---- request decoding ----------------------------------------------------------------------- */

/* The request's inline bytes after its descriptors, if the message is exactly `size` long. */
static const uint8_t *fixed_body(const um_kmsg *k, mach_msg_size_t size, uint32_t ndesc)
{
    if (k->size != size || k->ndesc != ndesc ||
        ((k->bits & MACH_MSGH_BITS_COMPLEX) != 0) != (ndesc != 0))
        return NULL;
    for (uint32_t i = 0; i < ndesc; i++)
        if (k->desc[i].type != MACH_MSG_PORT_DESCRIPTOR)
            return NULL;
    size_t skip = ndesc ? sizeof(mach_msg_body_t) + ndesc * sizeof(mach_msg_port_descriptor_t) : 0;
    return k->body + skip + sizeof(NDR_record_t);
}

/* A name_t from a request: NULL unless NUL-terminated within its 128 bytes. */
static const char *request_name(const uint8_t *p)
{
    return memchr(p, '\0', BOOTSTRAP_MAX_NAME_LEN) ? (const char *)p : NULL;
}

/* The send right in descriptor `i`, or NULL when it carries another kind of right. */
static um_port **send_right_in(um_kmsg *k, uint32_t i, bool *ok)
{
    um_kdesc *d = &k->desc[i];
    *ok = d->u.port.disp == MACH_MSG_TYPE_PORT_SEND || !UM_PORT_VALID(d->u.port.port);
    return &d->u.port.port;
}

void um_bootstrap_serve(um_bootstrap *bs, um_kmsg *k, um_kobject_reply *r)
{
    const uint8_t *body;
    const char *name;
    bool ok;
    switch (k->id) {
    case UM_BS_MSG_CHECK_IN:
    case UM_BS_MSG_LOOK_UP:
        body = fixed_body(k, sizeof(um_bs_name_request), 0);
        name = body ? request_name(body) : NULL;
        if (!name)
            r->ret = MIG_BAD_ARGUMENTS;
        else if (k->id == UM_BS_MSG_CHECK_IN)
            r->ret = do_check_in(bs, name, k->sec.val[0], r);
        else
            r->ret = do_look_up(bs, name, r);
        return;
    case UM_BS_MSG_REGISTER:
        body = fixed_body(k, sizeof(um_bs_register_request), 1);
        name = body ? request_name(body) : NULL;
        if (name) {
            um_port **service = send_right_in(k, 0, &ok);
            r->ret = ok ? do_register(bs, name, k->sec.val[0], service) : MIG_BAD_ARGUMENTS;
        } else {
            r->ret = MIG_BAD_ARGUMENTS;
        }
        return;
    case UM_BS_MSG_SUBSET:
        body = fixed_body(k, sizeof(um_bs_subset_request), 1);
        if (body) {
            um_port **requestor = send_right_in(k, 0, &ok);
            r->ret = ok ? do_subset(bs, requestor, r) : MIG_BAD_ARGUMENTS;
        } else {
            r->ret = MIG_BAD_ARGUMENTS;
        }
        return;
    case UM_BS_MSG_PARENT:
        body = fixed_body(k, sizeof(um_bs_parent_request), 0);
        r->ret = body ? do_parent(bs, r) : MIG_BAD_ARGUMENTS;
        return;
    case MACH_NOTIFY_PORT_DESTROYED:
        /*
         * Only through the send-once right a check-in armed (a task can get it back only by
         * replacing the request on a port it checked in, and can then only return that port).
         */
        if (MACH_MSGH_BITS_REMOTE(k->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE)
            port_destroyed(bs, k);
        r->ret = MIG_NO_REPLY;
        return;
    case MACH_NOTIFY_SEND_ONCE:
        r->ret = MIG_NO_REPLY; /* a port-destroyed request was cancelled: nothing to do */
        return;
    default:
        r->ret = MIG_BAD_ID;
        return;
    }
}
