/*
 * machports/bootstrap.h — services and clients that meet by name through the bootstrap
 * server (launchd on macOS, umach's bootstrap server on Linux), with owned rights.
 *
 * Ownership: the bootstrap port `bp` and a registered `service` are borrowed (passed by
 * value); a right the call returns in `out` is the caller's, and `out` is NULL on failure.
 * Names are C strings of at most MP_BOOTSTRAP_NAME_MAX bytes; a longer one is refused with
 * BOOTSTRAP_BAD_COUNT on every platform (older launchds cut it short instead), a NULL one
 * with KERN_INVALID_ARGUMENT.
 * Errors are the bootstrap server's (BOOTSTRAP_*, <servers/bootstrap.h>; bootstrap_strerror
 * describes them) or Mach's. docs/bootstrap.md has examples.
 */
#ifndef MACHPORTS_BOOTSTRAP_H
#define MACHPORTS_BOOTSTRAP_H

#include <machports/defs.h>
#include <machports/rights.h>

#include <servers/bootstrap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest service name, without its NUL (a name_t holds it and the NUL). */
#define MP_BOOTSTRAP_NAME_MAX (BOOTSTRAP_MAX_NAME_LEN - 1)

/*
 * The task's bootstrap port (bootstrap_port), borrowed: pass it to the calls below, never
 * drop it. MP_SEND_RIGHT_NULL when the task has none.
 */
static inline mp_send_right mp_bootstrap_port(void)
{
    return mp_send_right_from_name(bootstrap_port);
}

/*
 * Look up the service `name`: *out receives a send right to it.
 * BOOTSTRAP_UNKNOWN_SERVICE when no server registered or checked in that name.
 */
MP_WUR MP_NONNULL(3) kern_return_t
    mp_bootstrap_look_up(mp_send_right bp, const char *name, mp_send_right *out);

/*
 * Check in as the server of `name`: *out receives the service's receive right (a declared
 * service's port with whatever clients already sent, or a new port). The name stays bound
 * while the receive right lives. BOOTSTRAP_SERVICE_ACTIVE when another server holds it.
 */
MP_WUR MP_NONNULL(3) kern_return_t
    mp_bootstrap_check_in(mp_send_right bp, const char *name, mp_recv_right *out);

/*
 * Bind `name` to a copy of the borrowed send right `service` until its port dies
 * (bootstrap_register, deprecated on macOS in favour of check-in but still served).
 * BOOTSTRAP_NAME_IN_USE (or, from some launchds, BOOTSTRAP_SERVICE_ACTIVE) when the name is
 * bound.
 */
MP_WUR kern_return_t
    mp_bootstrap_register(mp_send_right bp, const char *name, mp_send_right service);

#ifdef __cplusplus
}
#endif
#endif
