/*
 * um_mach_port.c — what the mach_port_* calls do to ports, sets, names and requests, as XNU's
 * osfmk/ipc/mach_port.c and ipc_right.c do it in the kernel. api/mach_port.c resolves each
 * call's task, checks its arguments in XNU's order and fills its out-parameters; the state
 * changes are here, so that any front end (embedded, or a daemon serving many tasks) gets
 * them through the same functions. Conditions: every function runs with the world lock held.
 */
#include "um_kmsg.h"

#include <mach/mach.h>
#include <mach/notify.h>

#include <stdlib.h>
#include <string.h>

/* Create a receive right / port set / dead name under a fresh name or `*namep` if `named`. */
kern_return_t um_port_allocate_right(um_space *space, mach_port_right_t right, bool named,
                                     mach_port_name_t *namep)
{
    um_entry *e;
    mach_port_name_t name = named ? *namep : MACH_PORT_NULL;
    kern_return_t kr;

    if (right != MACH_PORT_RIGHT_RECEIVE && right != MACH_PORT_RIGHT_PORT_SET &&
        right != MACH_PORT_RIGHT_DEAD_NAME)
        return KERN_INVALID_VALUE;
    /*
     * XNU allocates a dead name under a name of its own choosing even when the caller names
     * one (mach_port_allocate_full ignores it for dead names); allocate_name then cannot
     * report which name it was. Kept, since programs observe it.
     */
    if (right == MACH_PORT_RIGHT_DEAD_NAME)
        named = false;

    if (named) {
        kr = um_entry_alloc_name(space, name, &e);
        if (kr != KERN_SUCCESS)
            return kr;
        if (e->type != 0)
            return KERN_NAME_EXISTS;
    } else {
        kr = um_entry_claim(space, &name, &e);
        if (kr != KERN_SUCCESS)
            return kr;
    }

    switch (right) {
    case MACH_PORT_RIGHT_RECEIVE: {
        um_port *port = um_port_alloc();
        if (!port) {
            um_entry_dealloc(space, name, e);
            return KERN_RESOURCE_SHORTAGE;
        }
        port->receiver = space;
        port->receiver_name = name;
        e->object = &port->obj;
        e->type = MACH_PORT_TYPE_RECEIVE;
        break;
    }
    case MACH_PORT_RIGHT_PORT_SET: {
        um_pset *set = um_pset_alloc();
        if (!set) {
            um_entry_dealloc(space, name, e);
            return KERN_RESOURCE_SHORTAGE;
        }
        set->space = space;
        set->name = name;
        e->object = &set->obj;
        e->type = MACH_PORT_TYPE_PORT_SET;
        break;
    }
    default:
        e->object = NULL;
        e->type = MACH_PORT_TYPE_DEAD_NAME;
        e->urefs = 1;
        break;
    }
    *namep = name;
    return KERN_SUCCESS;
}

/* Set up a receive right just allocated for mach_port_construct: MPO_* `flags`. */
void um_port_construct_setup(um_space *space, mach_port_name_t name, uint32_t flags,
                             mach_port_msgcount_t qlimit, uint64_t context)
{
    um_entry *e = um_entry_lookup(space, name);
    um_port *port = (um_port *)e->object;
    if (flags & MPO_INSERT_SEND_RIGHT) {
        port->mscount = 1;
        port->srights = 1;
        e->type |= MACH_PORT_TYPE_SEND;
        e->urefs = 1;
    }
    if (flags & MPO_QLIMIT)
        port->qlimit = qlimit;
    if (flags & (MPO_IMPORTANCE_RECEIVER | MPO_DENAP_RECEIVER | MPO_TEMPOWNER)) {
        port->impdonation = true;
        if (flags & MPO_TEMPOWNER)
            port->tempowner = true;
    }
    if (flags & MPO_CONTEXT_AS_GUARD) {
        port->context = context;
        port->guarded = true;
        port->strict_guard = (flags & MPO_STRICT) != 0;
        port->immovable_receive = (flags & MPO_IMMOVABLE_RECEIVE) != 0;
    } else {
        port->context = context;
    }
}

/*
 * mach_port_insert_right of a name's own send right under the same name (MAKE_SEND or
 * COPY_SEND): one more send uref, XNU's fast path.
 */
kern_return_t um_right_insert_same_name(um_space *space, mach_port_name_t name,
                                        mach_msg_type_name_t polyPoly)
{
    um_entry *e = MACH_PORT_VALID(name) ? um_entry_lookup(space, name) : NULL;
    if (!e)
        return KERN_INVALID_NAME;
    if (!e->object)
        return KERN_INVALID_CAPABILITY;
    if (!(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND_ONCE)))
        return KERN_INVALID_RIGHT;
    um_port *port = (um_port *)e->object;
    if (!port->active)
        return KERN_INVALID_CAPABILITY;
    if (polyPoly == MACH_MSG_TYPE_MAKE_SEND) {
        if (!(e->type & MACH_PORT_TYPE_RECEIVE))
            return KERN_INVALID_RIGHT;
        port->mscount++;
        if (!(e->type & MACH_PORT_TYPE_SEND)) {
            port->srights++;
            e->type |= MACH_PORT_TYPE_SEND;
        }
    } else if (!(e->type & MACH_PORT_TYPE_SEND)) {
        return KERN_INVALID_RIGHT;
    }
    if (e->urefs < UM_UREFS_MAX)
        e->urefs++;
    return KERN_SUCCESS;
}

/* What mach_port_get_attributes(MACH_PORT_RECEIVE_STATUS) reports. */
void um_port_status(const um_port *port, mach_port_status_t *st)
{
    memset(st, 0, sizeof *st);
    const um_port_rare *rare = um_rare(port);
    st->mps_pset = rare->nsets > 0;
    st->mps_seqno = port->seqno;
    st->mps_mscount = port->mscount;
    st->mps_qlimit = port->qlimit;
    st->mps_msgcount = port->msgcount;
    st->mps_sorights = port->sorights;
    st->mps_srights = port->srights > 0;
    st->mps_pdrequest = rare->pdrequest != NULL;
    st->mps_nsrequest = rare->nsrequest != NULL;
    st->mps_flags = 0;
    if (port->impdonation) {
        st->mps_flags |= MACH_PORT_STATUS_FLAG_IMP_DONATION;
        if (port->tempowner)
            st->mps_flags |= MACH_PORT_STATUS_FLAG_TEMPOWNER;
    }
    if (port->guarded) {
        st->mps_flags |= MACH_PORT_STATUS_FLAG_GUARDED;
        if (port->strict_guard)
            st->mps_flags |= MACH_PORT_STATUS_FLAG_STRICT_GUARD;
        if (port->immovable_receive)
            st->mps_flags |= MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE;
    }
}

/* Look up a receive right for a guard call; raises the guard XNU raises on failure. */
kern_return_t um_port_guard_translate(um_space *space, mach_port_name_t name, um_port **portp)
{
    kern_return_t kr = um_translate_receive(space, name, portp);
    if (kr != KERN_SUCCESS)
        um_guard_exception(space, name, 0,
                           kr == KERN_INVALID_NAME ? kGUARD_EXC_INVALID_NAME
                                                   : kGUARD_EXC_INVALID_RIGHT);
    return kr;
}

/* Guard a receive right with `guard` (MPG_* flags); XNU's mach_port_guard_locked. */
kern_return_t um_port_guard(um_space *space, mach_port_name_t name, um_port *port, uint64_t guard,
                            uint64_t flags)
{
    if (port->context) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_INVALID_ARGUMENT);
        return KERN_INVALID_ARGUMENT;
    }
    um_port_changing(port, space, UM_PORT_CHANGE_CONTEXT);
    port->context = guard;
    port->guarded = true;
    port->strict_guard = (flags & MPG_STRICT) != 0;
    if (flags & MPG_IMMOVABLE_RECEIVE)
        port->immovable_receive = true;
    return KERN_SUCCESS;
}

/* Remove a receive right's guard, which must be `guard`. */
kern_return_t um_port_unguard(um_space *space, mach_port_name_t name, um_port *port, uint64_t guard)
{
    if (!port->guarded) {
        um_guard_exception(space, name, 0, kGUARD_EXC_UNGUARDED);
        return KERN_INVALID_ARGUMENT;
    }
    if (port->context != guard) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_INCORRECT_GUARD);
        return KERN_INVALID_ARGUMENT;
    }
    um_port_changing(port, space, UM_PORT_CHANGE_CONTEXT);
    port->context = 0;
    port->guarded = false;
    port->strict_guard = false;
    return KERN_SUCCESS;
}

/* Replace a (non-strict) guard `old_guard` by `new_guard`. */
kern_return_t um_port_swap_guard(um_space *space, mach_port_name_t name, um_port *port,
                                 uint64_t old_guard, uint64_t new_guard)
{
    if (!port->guarded) {
        um_guard_exception(space, name, 0, kGUARD_EXC_UNGUARDED);
        return KERN_INVALID_ARGUMENT;
    }
    if (port->strict_guard) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_SET_CONTEXT);
        return KERN_INVALID_ARGUMENT;
    }
    if (port->context != old_guard) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_INCORRECT_GUARD);
        return KERN_INVALID_ARGUMENT;
    }
    um_port_changing(port, space, UM_PORT_CHANGE_CONTEXT);
    port->context = new_guard;
    return KERN_SUCCESS;
}

/* mach_port_set_context: a strictly guarded port's context is its guard. */
kern_return_t um_port_set_context(um_space *space, mach_port_name_t name, um_port *port,
                                  uint64_t context)
{
    if (port->strict_guard) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_SET_CONTEXT);
        return KERN_INVALID_ARGUMENT;
    }
    um_port_changing(port, space, UM_PORT_CHANGE_CONTEXT);
    port->context = context;
    return KERN_SUCCESS;
}

void um_port_set_mscount(um_port *port, mach_port_mscount_t mscount)
{
    port->mscount = mscount;
}

void um_port_set_seqno(um_port *port, mach_port_seqno_t seqno)
{
    um_port_changing(port, port->receiver, UM_PORT_CHANGE_SEQNO);
    port->seqno = seqno;
}

/* The port donates importance (and with `tempowner`, is a temporary owner). */
void um_port_set_importance(um_port *port, bool tempowner)
{
    port->impdonation = true;
    if (tempowner)
        port->tempowner = true;
}

/* Translate a member (receive right) and a set name, with XNU's order and codes. */
kern_return_t um_translate_port_pset(um_space *space, mach_port_name_t pname, um_port **portp,
                                     mach_port_name_t sname, um_pset **setp)
{
    um_entry *pe = um_entry_lookup(space, pname);
    um_entry *se = um_entry_lookup(space, sname);
    if (!pe || !se)
        return KERN_INVALID_NAME;
    if (!(pe->type & MACH_PORT_TYPE_RECEIVE)) {
        um_guard_exception(space, pname, 0, kGUARD_EXC_INVALID_RIGHT);
        return KERN_INVALID_RIGHT;
    }
    if (!(se->type & MACH_PORT_TYPE_PORT_SET)) {
        um_guard_exception(space, sname, 0, kGUARD_EXC_INVALID_RIGHT);
        return KERN_INVALID_RIGHT;
    }
    *portp = (um_port *)pe->object;
    *setp = (um_pset *)se->object;
    return KERN_SUCCESS;
}

/* mach_port_move_member: into `set` alone, or (set NULL) out of every set. */
kern_return_t um_port_move_member(um_port *port, um_pset *set)
{
    kern_return_t kr = KERN_SUCCESS;
    if (set) {
        /* Leave every other set, then join `set` (staying in it if already there). */
        for (uint32_t i = um_rare(port)->nsets; i-- > 0;) {
            if (port->rare->sets[i] != set)
                (void)um_pset_remove(port->rare->sets[i], port);
        }
        if (!um_port_in_set(port, set))
            kr = um_pset_add(set, port);
        return kr;
    }
    if (um_rare(port)->nsets == 0)
        return KERN_NOT_IN_SET;
    um_port_unlink_all_sets(port);
    return KERN_SUCCESS;
}

/* The names of a set's members in its space (set->nmembers of them). */
void um_pset_member_names(const um_pset *set, mach_port_name_t *names)
{
    for (uint32_t i = 0; i < set->nmembers; i++)
        names[i] = set->members[i]->receiver_name;
}

/*
 * Register a dead-name or send-possible request on `name`; XNU's ipc_right_request_alloc.
 * *reservep (the message reserved for `notify`) is taken, and set to NULL, when `notify` is
 * registered or used; a request taken out to hand its right back frees its own.
 */
static kern_return_t request_alloc(um_space *space, mach_port_name_t name, bool send_possible,
                                   bool sync, um_port *notify, um_kmsg **reservep,
                                   um_port **previousp)
{
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    um_port *previous = NULL;
    if (!notify && !e->request) {
        *previousp = NULL;
        return KERN_SUCCESS;
    }
    if ((e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND_ONCE)) &&
        !um_right_check(space, name, e)) {
        um_port *port = (um_port *)e->object;
        /* Take the old request out silently: its notify right is handed back. */
        if (e->request && e->request < um_rare(port)->caprequests &&
            port->rare->requests[e->request].space == space) {
            um_request *old = &port->rare->requests[e->request];
            previous = old->notify;
            um_notify_reserve_free(old->reserve);
            memset(old, 0, sizeof *old);
        }
        e->request = 0;
        if (!notify) {
            *previousp = previous;
            return KERN_SUCCESS;
        }
        if (send_possible && sync &&
            ((e->type & MACH_PORT_TYPE_SEND_ONCE) || port->msgcount < port->qlimit)) {
            um_notify_send_possible(notify, name, *reservep);
            *reservep = NULL;
            *previousp = previous;
            return KERN_SUCCESS;
        }
        um_port_rare *rare = um_port_rare_get(port);
        if (!rare) {
            *previousp = previous;
            return KERN_RESOURCE_SHORTAGE;
        }
        uint32_t slot = 0;
        for (uint32_t i = 1; i < rare->caprequests; i++) {
            if (!rare->requests[i].space) {
                slot = i;
                break;
            }
        }
        if (!slot) {
            uint32_t ncap = rare->caprequests ? rare->caprequests * 2 : 4;
            um_request *nr = realloc(rare->requests, ncap * sizeof *nr);
            if (!nr) {
                *previousp = previous;
                return KERN_RESOURCE_SHORTAGE;
            }
            memset(nr + rare->caprequests, 0, (ncap - rare->caprequests) * sizeof *nr);
            slot = rare->caprequests ? rare->caprequests : 1;
            rare->requests = nr;
            rare->caprequests = ncap;
        }
        um_request *r = &rare->requests[slot];
        r->space = space;
        r->name = name;
        r->notify = notify;
        r->reserve = *reservep;
        *reservep = NULL;
        r->dead_name = !send_possible;
        r->send_possible = send_possible;
        r->sp_armed = send_possible && sync;
        e->request = slot;
        *previousp = previous;
        return KERN_SUCCESS;
    }
    if (send_possible && notify && (e->type & MACH_PORT_TYPE_DEAD_NAME)) {
        /* The port is already dead: say so at once; the notification names one more uref. */
        if (e->urefs < UM_UREFS_MAX)
            e->urefs++;
        um_notify_dead_name(notify, name, *reservep);
        *reservep = NULL;
        *previousp = NULL;
        return KERN_SUCCESS;
    }
    return (e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND_ONCE |
                       MACH_PORT_TYPE_DEAD_NAME))
               ? KERN_INVALID_ARGUMENT
               : KERN_INVALID_RIGHT;
}

/* *reservep: the message reserved for `notify`, taken (and set to NULL) when it is used. */
kern_return_t um_request_notification(um_space *space, mach_port_name_t name, mach_msg_id_t id,
                                      mach_port_mscount_t sync, um_port *notify, um_kmsg **reservep,
                                      um_port **previousp)
{
    *previousp = NULL;
    if (notify == UM_PORT_DEAD)
        return KERN_INVALID_CAPABILITY;
    um_port *port;
    kern_return_t kr;
    switch (id) {
    case MACH_NOTIFY_PORT_DESTROYED:
        if (sync != 0)
            return KERN_INVALID_VALUE;
        if (!MACH_PORT_VALID(name))
            return KERN_INVALID_RIGHT;
        if ((kr = um_translate_receive(space, name, &port)) != KERN_SUCCESS)
            return kr;
        if (port->kotype != UM_KOT_NONE) {
            um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (um_rare(port)->pdrequest) {
            um_guard_exception(space, name, 0, kGUARD_EXC_KERN_FAILURE);
            return KERN_FAILURE;
        }
        if (!um_port_rare_get(port))
            return KERN_RESOURCE_SHORTAGE;
        port->rare->pdrequest = notify;
        port->rare->pdreserve = *reservep;
        *reservep = NULL;
        return KERN_SUCCESS;
    case MACH_NOTIFY_NO_SENDERS:
        if (!MACH_PORT_VALID(name))
            return KERN_INVALID_RIGHT;
        if ((kr = um_translate_receive(space, name, &port)) != KERN_SUCCESS)
            return kr;
        um_port_rare *rare = um_port_rare_get(port);
        if (!rare)
            return KERN_RESOURCE_SHORTAGE;
        *previousp = rare->nsrequest;
        um_notify_reserve_free(rare->nsreserve); /* the previous right goes back unused */
        rare->nsreserve = *reservep;
        *reservep = NULL;
        if (port->srights == 0 && sync <= port->mscount && notify) {
            rare->nsrequest = notify;
            um_notify_no_senders_check(port);
        } else {
            rare->nsrequest = notify;
            rare->nssync = sync;
        }
        return KERN_SUCCESS;
    case MACH_NOTIFY_SEND_POSSIBLE:
    case MACH_NOTIFY_DEAD_NAME:
        if (!MACH_PORT_VALID(name))
            return KERN_INVALID_ARGUMENT;
        return request_alloc(space, name, id == MACH_NOTIFY_SEND_POSSIBLE, sync != 0, notify,
                             reservep, previousp);
    default:
        return KERN_INVALID_VALUE;
    }
}
