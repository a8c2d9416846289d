/*
 * um_right.c — the right state machine of one name in one space: information, user
 * reference changes, deallocation, destruction, and the copyin / copyout of one right per
 * message disposition. Behaviour (check order, error codes, saturating urefs) follows XNU's
 * osfmk/ipc/ipc_right.c and ipc_object.c.
 *
 * Conditions for every function: the world is locked and the space is active.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "um_kern.h"

/*
 * Is the send right `space` holds to `port` pinned? Only a task's own send right to its task
 * port is (XNU pins it in that task's space alone): another task's copy of it is a plain send
 * right, released like any other.
 */
static bool pinned_here(const um_space *space, const um_port *port)
{
    return port->pinned && space->task && space->task->task_port == port;
}

static inline bool urefs_overflow(uint32_t urefs, int64_t delta)
{
    return delta > 0 && (urefs + (uint64_t)delta) >= UM_UREFS_MAX;
}

static inline bool urefs_underflow(uint32_t urefs, int64_t delta)
{
    return delta < 0 && (uint64_t)(-delta) > urefs;
}

static inline um_port *entry_port(const um_entry *e)
{
    return (um_port *)e->object;
}

static inline uint32_t entry_index(const um_space *space, const um_entry *e)
{
    return (uint32_t)(e - space->table);
}

/* Drop the entry's object reference and free the slot. */
static void entry_free_with_port(um_space *space, mach_port_name_t name, um_entry *e)
{
    um_port *port = entry_port(e);
    um_entry_dealloc(space, name, e);
    if (port)
        um_port_release(port);
}

bool um_right_check_dead(um_space *space, mach_port_name_t name, um_entry *e)
{
    if (!(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)) ||
        (e->type & MACH_PORT_TYPE_RECEIVE))
        return false;
    um_port *port = entry_port(e);
    if (port->active)
        return false;
    uint32_t urefs;
    if (e->type & MACH_PORT_TYPE_SEND) {
        port->srights--;
        um_hash_delete(space, port);
        urefs = e->urefs;
    } else {
        port->sorights--;
        urefs = 1;
    }
    if (e->request) {
        if (um_request_type(space, name, e) && urefs < UM_UREFS_MAX)
            urefs++;
        e->request = 0;
    }
    e->type = MACH_PORT_TYPE_DEAD_NAME;
    e->urefs = (uint16_t)urefs;
    e->object = NULL;
    um_port_release(port);
    return true;
}

mach_port_type_t um_right_info(um_space *space, mach_port_name_t name, um_entry *e)
{
    mach_port_type_t extra = 0;
    if (e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE | MACH_PORT_TYPE_RECEIVE)) {
        if (!(e->type & MACH_PORT_TYPE_RECEIVE))
            um_right_check(space, name, e);
        if (e->request)
            extra |= um_request_type(space, name, e) & MACH_PORT_TYPE_DNREQUEST;
    }
    return e->type | extra;
}

kern_return_t um_right_dealloc(um_space *space, mach_port_name_t name, um_entry *e)
{
    mach_port_type_t type = e->type;

    if (type == MACH_PORT_TYPE_PORT_SET) {
        um_pset *set = (um_pset *)e->object;
        um_entry_dealloc(space, name, e);
        um_pset_destroy(set);
        return KERN_SUCCESS;
    }
    if ((type == MACH_PORT_TYPE_SEND || type == MACH_PORT_TYPE_SEND_ONCE) &&
        um_right_check(space, name, e))
        type = e->type;

    switch (type) {
    case MACH_PORT_TYPE_DEAD_NAME:
        if (e->urefs == 1)
            um_entry_dealloc(space, name, e);
        else if (e->urefs < UM_UREFS_MAX)
            e->urefs--;
        return KERN_SUCCESS;

    case MACH_PORT_TYPE_SEND_ONCE: {
        um_port *port = entry_port(e);
        um_request_cancel(space, name, e);
        um_entry_dealloc(space, name, e);
        um_port_release_send_once(port);
        return KERN_SUCCESS;
    }

    case MACH_PORT_TYPE_SEND: {
        um_port *port = entry_port(e);
        if (e->urefs == 1) {
            if (pinned_here(space, port)) {
                um_guard_exception(space, name, 0, kGUARD_EXC_MOD_REFS_NON_FATAL);
                return KERN_INVALID_CAPABILITY;
            }
            um_port_changing(port, space, UM_PORT_CHANGE_SEND);
            um_request_cancel(space, name, e);
            um_hash_delete(space, port);
            um_entry_dealloc(space, name, e);
            um_port_release_send(port);
        } else if (e->urefs < UM_UREFS_MAX) {
            e->urefs--;
        }
        return KERN_SUCCESS;
    }

    case MACH_PORT_TYPE_SEND_RECEIVE: {
        um_port *port = entry_port(e);
        if (e->urefs == 1) {
            um_port_changing(port, space, UM_PORT_CHANGE_SEND);
            e->type = MACH_PORT_TYPE_RECEIVE;
            e->urefs = 0;
            port->srights--;
            if (port->srights == 0)
                um_notify_no_senders_check(port);
        } else if (e->urefs < UM_UREFS_MAX) {
            e->urefs--;
        }
        return KERN_SUCCESS;
    }

    default:
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
        return KERN_INVALID_RIGHT;
    }
}

/*
 * The receive right under `name` is going away while the name keeps send rights: the entry
 * becomes a dead name with the same urefs (+1 when a dead-name request was registered), or
 * stays a send right when a port-destroyed request will hand the receive right elsewhere.
 */
static void entry_receive_gone_keep_send(um_space *space, mach_port_name_t name, um_entry *e,
                                         um_port *port)
{
    if (um_rare(port)->pdrequest) {
        e->type = MACH_PORT_TYPE_SEND;
        um_port_ref(port); /* the entry keeps its own reference to the port */
        um_hash_insert(space, port, entry_index(space, e));
        return;
    }
    uint32_t urefs = e->urefs;
    if (e->request) {
        /* The request stays with the port: its destruction sends the dead-name notification. */
        if (um_request_type(space, name, e) && urefs < UM_UREFS_MAX)
            urefs++;
        e->request = 0;
    }
    um_hash_delete(space, port);
    port->srights--;
    e->type = MACH_PORT_TYPE_DEAD_NAME;
    e->urefs = (uint16_t)urefs;
    e->object = NULL;
    /* The entry's reference now belongs to the receive right being destroyed. */
}

kern_return_t um_right_delta(um_space *space, mach_port_name_t name, um_entry *e,
                             mach_port_right_t right, mach_port_delta_t delta)
{
    mach_port_type_t type = e->type;

    switch (right) {
    case MACH_PORT_RIGHT_PORT_SET: {
        if (!(type & MACH_PORT_TYPE_PORT_SET)) {
            um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (delta == 0)
            return KERN_SUCCESS;
        if (delta != -1)
            goto invalid_value;
        um_pset *set = (um_pset *)e->object;
        um_entry_dealloc(space, name, e);
        um_pset_destroy(set);
        return KERN_SUCCESS;
    }

    case MACH_PORT_RIGHT_RECEIVE: {
        if (!(type & MACH_PORT_TYPE_RECEIVE)) {
            um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (delta == 0)
            return KERN_SUCCESS;
        if (delta != -1)
            goto invalid_value;
        um_port *port = entry_port(e);
        if (port->guarded) {
            um_guard_exception(space, name, port->context, kGUARD_EXC_DESTROY);
            return KERN_INVALID_RIGHT;
        }
        um_port_changing(port, space, UM_PORT_CHANGE_RECEIVE);
        if (type & MACH_PORT_TYPE_SEND) {
            entry_receive_gone_keep_send(space, name, e, port);
        } else {
            um_request_cancel(space, name, e);
            um_hash_delete(space, port);
            um_entry_dealloc(space, name, e);
        }
        um_port_destroy(port);
        return KERN_SUCCESS;
    }

    case MACH_PORT_RIGHT_SEND_ONCE: {
        if (!(type & MACH_PORT_TYPE_SEND_ONCE))
            return KERN_INVALID_RIGHT;
        if (um_right_check(space, name, e)) {
            um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (delta > 0 || delta < -1)
            goto invalid_value;
        if (delta == 0)
            return KERN_SUCCESS;
        um_port *port = entry_port(e);
        um_request_cancel(space, name, e);
        um_entry_dealloc(space, name, e);
        um_port_release_send_once(port);
        return KERN_SUCCESS;
    }

    case MACH_PORT_RIGHT_DEAD_NAME: {
        if (type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)) {
            if ((type & MACH_PORT_TYPE_RECEIVE) || !um_right_check(space, name, e)) {
                um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
                return KERN_INVALID_RIGHT;
            }
        } else if (!(type & MACH_PORT_TYPE_DEAD_NAME)) {
            um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (delta > (mach_port_delta_t)UM_UREFS_MAX || delta < -(mach_port_delta_t)UM_UREFS_MAX)
            goto invalid_value;
        uint32_t urefs = e->urefs;
        if (urefs == UM_UREFS_MAX) {
            if (delta != -(mach_port_delta_t)UM_UREFS_MAX)
                delta = 0;
        } else {
            if (urefs_underflow(urefs, delta))
                goto invalid_value;
            if (urefs_overflow(urefs, delta))
                delta = (mach_port_delta_t)(UM_UREFS_MAX - urefs);
        }
        if ((int64_t)urefs + delta == 0)
            um_entry_dealloc(space, name, e);
        else
            e->urefs = (uint16_t)((int64_t)urefs + delta);
        return KERN_SUCCESS;
    }

    case MACH_PORT_RIGHT_SEND: {
        if (!(type & MACH_PORT_TYPE_SEND)) {
            /* XNU spares +1 on a receive-only name the exception (Apple Events). */
            if (!(type & MACH_PORT_TYPE_DEAD_NAME) &&
                (!(type & MACH_PORT_TYPE_RECEIVE) || delta != 1))
                um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
            return KERN_INVALID_RIGHT;
        }
        if (um_right_check(space, name, e))
            return KERN_INVALID_RIGHT;
        if (delta > (mach_port_delta_t)UM_UREFS_MAX || delta < -(mach_port_delta_t)UM_UREFS_MAX)
            goto invalid_value;
        um_port *port = entry_port(e);
        uint32_t urefs = e->urefs;
        if (urefs == UM_UREFS_MAX) {
            if (delta != -(mach_port_delta_t)UM_UREFS_MAX)
                delta = 0;
        } else {
            if (urefs_underflow(urefs, delta))
                goto invalid_value;
            if (urefs_overflow(urefs, delta))
                delta = (mach_port_delta_t)(UM_UREFS_MAX - urefs);
        }
        if ((int64_t)urefs + delta == 0) {
            if (pinned_here(space, port)) {
                um_guard_exception(space, name, 0, kGUARD_EXC_MOD_REFS_NON_FATAL);
                return KERN_INVALID_CAPABILITY;
            }
            um_port_changing(port, space, UM_PORT_CHANGE_SEND);
            if (type & MACH_PORT_TYPE_RECEIVE) {
                e->type = MACH_PORT_TYPE_RECEIVE;
                e->urefs = 0;
                port->srights--;
                if (port->srights == 0)
                    um_notify_no_senders_check(port);
            } else {
                um_request_cancel(space, name, e);
                um_hash_delete(space, port);
                um_entry_dealloc(space, name, e);
                um_port_release_send(port);
            }
        } else {
            e->urefs = (uint16_t)((int64_t)urefs + delta);
        }
        return KERN_SUCCESS;
    }

    default: /* MACH_PORT_RIGHT_LABELH */
        return KERN_INVALID_RIGHT;
    }

invalid_value:
    um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_VALUE);
    return KERN_INVALID_VALUE;
}

kern_return_t um_right_destroy(um_space *space, mach_port_name_t name, um_entry *e,
                               bool check_guard, uint64_t guard)
{
    mach_port_type_t type = e->type;

    if (type & MACH_PORT_TYPE_DEAD_NAME) {
        um_entry_dealloc(space, name, e);
        return KERN_SUCCESS;
    }
    if (type & MACH_PORT_TYPE_PORT_SET) {
        um_pset *set = (um_pset *)e->object;
        um_entry_dealloc(space, name, e);
        um_pset_destroy(set);
        return KERN_SUCCESS;
    }

    um_port *port = entry_port(e);
    if (type == MACH_PORT_TYPE_SEND && pinned_here(space, port) && port->active) {
        um_guard_exception(space, name, 0, kGUARD_EXC_MOD_REFS_NON_FATAL);
        return KERN_INVALID_CAPABILITY;
    }
    if (type & MACH_PORT_TYPE_RECEIVE)
        um_port_changing(port, space, UM_PORT_CHANGE_RECEIVE);
    if (type & MACH_PORT_TYPE_SEND)
        um_port_changing(port, space, UM_PORT_CHANGE_SEND);
    if (!port->active) {
        /* a send or send-once right to a port that died */
        if (type & MACH_PORT_TYPE_SEND) {
            um_hash_delete(space, port);
            port->srights--;
        } else {
            port->sorights--;
        }
        e->request = 0;
        entry_free_with_port(space, name, e);
        return KERN_SUCCESS;
    }
    if ((type & MACH_PORT_TYPE_RECEIVE) && check_guard && port->guarded &&
        guard != port->context) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_DESTROY);
        return KERN_INVALID_RIGHT;
    }

    um_request_cancel(space, name, e);
    if (type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE))
        um_hash_delete(space, port);
    um_entry_dealloc(space, name, e);

    if (type & MACH_PORT_TYPE_SEND) {
        port->srights--;
        if (port->srights == 0)
            um_notify_no_senders_check(port);
    }
    if (type & MACH_PORT_TYPE_RECEIVE) {
        um_port_destroy(port);
    } else if (type & MACH_PORT_TYPE_SEND_ONCE) {
        um_port_release_send_once(port);
    } else {
        um_port_release(port);
    }
    return KERN_SUCCESS;
}

kern_return_t um_right_destruct(um_space *space, mach_port_name_t name, um_entry *e,
                                mach_port_delta_t srdelta, uint64_t guard)
{
    if (!(e->type & MACH_PORT_TYPE_RECEIVE)) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
        return KERN_INVALID_RIGHT;
    }
    if (srdelta && !(e->type & MACH_PORT_TYPE_SEND)) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_RIGHT);
        return KERN_INVALID_RIGHT;
    }
    if (srdelta > 0)
        goto invalid_value;

    um_port *port = entry_port(e);
    if (port->guarded && guard != port->context) {
        um_guard_exception(space, name, port->context, kGUARD_EXC_DESTROY);
        return KERN_INVALID_ARGUMENT;
    }
    um_port_changing(port, space, UM_PORT_CHANGE_RECEIVE);
    if (srdelta) {
        um_port_changing(port, space, UM_PORT_CHANGE_SEND);
        uint32_t urefs = e->urefs;
        if (urefs_underflow(urefs, srdelta))
            goto invalid_value;
        if (urefs == UM_UREFS_MAX && srdelta != -(mach_port_delta_t)UM_UREFS_MAX)
            srdelta = 0;
        if ((int64_t)urefs + srdelta == 0) {
            port->srights--;
            e->type &= ~MACH_PORT_TYPE_SEND;
            e->urefs = 0;
            if (port->srights == 0)
                um_notify_no_senders_check(port);
        } else {
            e->urefs = (uint16_t)((int64_t)urefs + srdelta);
        }
    }
    if (e->type & MACH_PORT_TYPE_SEND) {
        entry_receive_gone_keep_send(space, name, e, port);
    } else {
        um_request_cancel(space, name, e);
        um_hash_delete(space, port);
        um_entry_dealloc(space, name, e);
    }
    um_port_destroy(port);
    return KERN_SUCCESS;

invalid_value:
    um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_VALUE);
    return KERN_INVALID_VALUE;
}

/* ---- copyin / copyout --------------------------------------------------------------------- */


/* Move one uref out of a dead name (DEADOK copyin of MOVE_*). */
static kern_return_t copyin_move_dead(um_space *space, mach_port_name_t name, um_entry *e,
                                      uint32_t flags, um_port **portp)
{
    if (!(flags & UM_COPYIN_DEADOK))
        return KERN_INVALID_RIGHT;
    if (e->urefs == 1)
        um_entry_dealloc(space, name, e);
    else if (e->urefs < UM_UREFS_MAX)
        e->urefs--;
    *portp = UM_PORT_DEAD;
    return KERN_SUCCESS;
}

kern_return_t um_right_copyin(um_space *space, mach_port_name_t name,
                              mach_msg_type_name_t msgt_name, uint32_t flags, um_port **portp)
{
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    mach_port_type_t type = e->type;

    switch (msgt_name) {
    case MACH_MSG_TYPE_MAKE_SEND: {
        if (!(type & MACH_PORT_TYPE_RECEIVE))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        um_port_make_send(port);
        *portp = port;
        return KERN_SUCCESS;
    }
    case MACH_MSG_TYPE_MAKE_SEND_ONCE: {
        if (!(type & MACH_PORT_TYPE_RECEIVE))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        if (!um_port_make_send_once(port))
            return KERN_RESOURCE_SHORTAGE;
        *portp = port;
        return KERN_SUCCESS;
    }
    case MACH_MSG_TYPE_MOVE_RECEIVE: {
        if (!(type & MACH_PORT_TYPE_RECEIVE))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        if (port->kotype != UM_KOT_NONE ||
            (port->immovable_receive && !(flags & UM_COPYIN_ALLOW_IMMOVABLE))) {
            um_guard_exception(space, name, 0, kGUARD_EXC_IMMOVABLE);
            return KERN_INVALID_CAPABILITY;
        }
        um_port_changing(port, space, UM_PORT_CHANGE_RECEIVE);
        if (type & MACH_PORT_TYPE_SEND) {
            /* The name keeps the send rights; the receive right leaves with its reference. */
            e->type = MACH_PORT_TYPE_SEND;
            um_port_ref(port);
            um_hash_insert(space, port, entry_index(space, e));
        } else {
            um_request_cancel(space, name, e);
            um_hash_delete(space, port);
            um_entry_dealloc(space, name, e);
        }
        um_port_clear_receiver(port);
        *portp = port;
        return KERN_SUCCESS;
    }
    case MACH_MSG_TYPE_COPY_SEND: {
        if (type & MACH_PORT_TYPE_DEAD_NAME)
            goto copy_dead;
        if (!(type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)))
            return KERN_INVALID_RIGHT;
        if (um_right_check(space, name, e))
            goto copy_dead;
        if (!(e->type & MACH_PORT_TYPE_SEND))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        um_port_copy_send(port);
        *portp = port;
        return KERN_SUCCESS;
    }
    case MACH_MSG_TYPE_MOVE_SEND: {
        if (type & MACH_PORT_TYPE_DEAD_NAME)
            return copyin_move_dead(space, name, e, flags, portp);
        if (!(type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)))
            return KERN_INVALID_RIGHT;
        if (um_right_check(space, name, e))
            return copyin_move_dead(space, name, e, flags, portp);
        if (!(e->type & MACH_PORT_TYPE_SEND))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        if (e->urefs == 1) {
            if (pinned_here(space, port)) {
                um_guard_exception(space, name, 0, kGUARD_EXC_MOD_REFS_NON_FATAL);
                return KERN_INVALID_CAPABILITY;
            }
            um_port_changing(port, space, UM_PORT_CHANGE_SEND);
            if (e->type & MACH_PORT_TYPE_RECEIVE) {
                e->type = MACH_PORT_TYPE_RECEIVE;
                e->urefs = 0;
                um_port_ref(port); /* the naked right's reference; the entry keeps its own */
            } else {
                um_request_cancel(space, name, e);
                um_hash_delete(space, port);
                um_entry_dealloc(space, name, e); /* the entry's reference moves to the right */
            }
        } else {
            um_port_copy_send(port);
            if (e->urefs < UM_UREFS_MAX)
                e->urefs--;
        }
        *portp = port;
        return KERN_SUCCESS;
    }
    case MACH_MSG_TYPE_MOVE_SEND_ONCE: {
        if (type & MACH_PORT_TYPE_DEAD_NAME)
            return copyin_move_dead(space, name, e, flags, portp);
        if (!(type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)))
            return KERN_INVALID_RIGHT;
        bool dead_ok = (flags & UM_COPYIN_ALLOW_DEAD_SEND_ONCE) && e->request == 0 &&
                       (type & MACH_PORT_TYPE_SEND_ONCE);
        if (!dead_ok && um_right_check(space, name, e))
            return copyin_move_dead(space, name, e, flags, portp);
        if (!(e->type & MACH_PORT_TYPE_SEND_ONCE))
            return KERN_INVALID_RIGHT;
        um_port *port = entry_port(e);
        um_request_cancel(space, name, e);
        um_entry_dealloc(space, name, e); /* the entry's reference moves to the right */
        *portp = port;
        return KERN_SUCCESS;
    }
    default:
        return KERN_INVALID_RIGHT;
    }

copy_dead:
    if (!(flags & UM_COPYIN_DEADOK))
        return KERN_INVALID_RIGHT;
    *portp = UM_PORT_DEAD;
    return KERN_SUCCESS;
}

/* Put a naked right into an entry that is either fresh or already names the same port. */
static void copyout_into(um_space *space, um_port *port, mach_msg_type_name_t type,
                         mach_port_name_t name, um_entry *e)
{
    switch (type) {
    case MACH_MSG_TYPE_PORT_SEND_ONCE:
        um_entry_set_send_once(e, port);
        break;
    case MACH_MSG_TYPE_PORT_SEND:
        if (e->type & MACH_PORT_TYPE_SEND) {
            /* merge: the entry already counts as one send right and holds a reference */
            port->srights--;
            um_port_release(port);
            if (e->urefs < UM_UREFS_MAX)
                e->urefs++;
        } else if (e->type & MACH_PORT_TYPE_RECEIVE) {
            um_port_release(port);
            e->type |= MACH_PORT_TYPE_SEND;
            e->urefs = 1;
        } else {
            e->object = &port->obj;
            e->type = MACH_PORT_TYPE_SEND;
            e->urefs = 1;
            um_hash_insert(space, port, entry_index(space, e));
        }
        break;
    case MACH_MSG_TYPE_PORT_RECEIVE:
        um_port_clear_destination(port);
        if (e->type & MACH_PORT_TYPE_SEND) {
            um_port_release(port); /* the entry already holds a reference */
            um_hash_delete(space, port); /* found through the receiver from now on */
        } else {
            e->object = &port->obj;
        }
        port->receiver = space;
        port->receiver_name = name;
        e->type |= MACH_PORT_TYPE_RECEIVE;
        break;
    default:
        break;
    }
}

kern_return_t um_right_copyout(um_space *space, um_port *port, mach_msg_type_name_t type,
                               mach_port_name_t *namep)
{
    if (!port->active) {
        um_right_release(port, type);
        return KERN_INVALID_CAPABILITY;
    }
    um_entry *e = NULL;
    mach_port_name_t name;
    if (type != MACH_MSG_TYPE_PORT_SEND_ONCE && (e = um_space_reverse(space, port)) != NULL) {
        name = um_entry_name(space, e);
    } else {
        kern_return_t kr = um_entry_claim(space, &name, &e);
        if (kr != KERN_SUCCESS) {
            um_right_release(port, type);
            return kr;
        }
    }
    copyout_into(space, port, type, name, e);
    *namep = name;
    return KERN_SUCCESS;
}

kern_return_t um_right_copyout_name(um_space *space, um_port *port, mach_msg_type_name_t type,
                                    mach_port_name_t name)
{
    um_entry *e;
    kern_return_t kr = um_entry_alloc_name(space, name, &e);
    if (kr != KERN_SUCCESS)
        return kr;
    bool fresh = e->type == 0;
    if (!port->active) {
        if (fresh)
            um_entry_dealloc(space, name, e);
        return KERN_INVALID_CAPABILITY;
    }
    um_entry *other;
    if (type != MACH_MSG_TYPE_PORT_SEND_ONCE && (other = um_space_reverse(space, port)) != NULL) {
        if (other != e) {
            if (fresh)
                um_entry_dealloc(space, name, e);
            return KERN_RIGHT_EXISTS;
        }
    } else if (!fresh) {
        return KERN_NAME_EXISTS;
    }
    copyout_into(space, port, type, name, e);
    return KERN_SUCCESS;
}

kern_return_t um_translate_receive(um_space *space, mach_port_name_t name, um_port **portp)
{
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    if (!(e->type & MACH_PORT_TYPE_RECEIVE))
        return KERN_INVALID_RIGHT;
    *portp = entry_port(e);
    return KERN_SUCCESS;
}

kern_return_t um_translate_pset(um_space *space, mach_port_name_t name, um_pset **psetp)
{
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    if (!(e->type & MACH_PORT_TYPE_PORT_SET))
        return KERN_INVALID_RIGHT;
    *psetp = (um_pset *)e->object;
    return KERN_SUCCESS;
}
