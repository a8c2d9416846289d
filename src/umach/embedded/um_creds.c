/*
 * um_creds.c — when the process's credentials may have changed (embedded front end).
 *
 * A task's security and audit tokens are its credentials at send time (XNU updates a task's
 * token when its credentials change). Reading them on every send would cost seven system
 * calls per message (getresuid/getresgid alone measured 5.3 µs on the development VM, where
 * an RPC round trip is 4.8 µs), and Linux offers no cheap credential generation. So the
 * front end keeps the sampled tokens and a generation number: these wrappers of the set*id
 * family (the only way a process changes its ids through glibc, which applies the change to
 * every thread) call the C library's function and then advance the generation; the next
 * entry into the world (um_embedded_enter) sees the new generation and samples again. A send
 * costs one atomic load. Ids changed by a raw syscall(SYS_setuid, ...) are not seen: such a
 * change applies to the calling thread only and glibc's own ids disagree with it anyway.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT (um_next.h), setresuid */
#endif
#include "../um_export.h"
#include "../um_next.h"
#include "um_embedded.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <unistd.h>

static _Atomic unsigned um_cred_generation;
static _Atomic unsigned um_cred_changing;

UM_HOT unsigned um_embedded_cred_generation(void)
{
    return atomic_load_explicit(&um_cred_generation, memory_order_acquire);
}

unsigned um_embedded_cred_changing(void)
{
    return atomic_load_explicit(&um_cred_changing, memory_order_seq_cst);
}

/*
 * One wrapper of the set*id family: the C library's function behind it (um_next.h), then the
 * generation advanced after the call whatever it returned (a failed change may have applied
 * to some ids; sampling again costs only the next send a few system calls).
 */
#define UM_CRED_WRAPPER(name, params, args)                                                    \
    typedef int um_##name##_fn params;                                                         \
    UM_NEXT(name, um_##name##_fn)                                                              \
    UM_EXPORT int name params                                                                  \
    {                                                                                          \
        UM_CALL_SCOPE;                                                                         \
        um_##name##_fn *fn = um_next_##name();                                                 \
        if (!fn)                                                                               \
            return UM_NEXT_NONE(-1);                                                           \
        atomic_fetch_add_explicit(&um_cred_changing, 1, memory_order_seq_cst);                 \
        int r = fn args;                                                                       \
        int saved = errno;                                                                     \
        atomic_fetch_add_explicit(&um_cred_generation, 1, memory_order_release);               \
        atomic_fetch_sub_explicit(&um_cred_changing, 1, memory_order_seq_cst);                 \
        errno = saved;                                                                         \
        return r;                                                                              \
    }

UM_CRED_WRAPPER(setuid, (uid_t uid), (uid))
UM_CRED_WRAPPER(seteuid, (uid_t euid), (euid))
UM_CRED_WRAPPER(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
UM_CRED_WRAPPER(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))
UM_CRED_WRAPPER(setgid, (gid_t gid), (gid))
UM_CRED_WRAPPER(setegid, (gid_t egid), (egid))
UM_CRED_WRAPPER(setregid, (gid_t rgid, gid_t egid), (rgid, egid))
UM_CRED_WRAPPER(setresgid, (gid_t rgid, gid_t egid, gid_t sgid), (rgid, egid, sgid))
