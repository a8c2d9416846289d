/*
 * um_next.h — how libumach stands in front of a C library function (internal, not installed).
 *
 * libumach defines a few libc names of its own (the set*id family, embedded/um_creds.c;
 * posix_spawn, posix_spawnp and vfork, client/um_client_spawn.c; system, popen and pclose,
 * client/um_client_shell.c) and calls the definition they hide, the next one in the dynamic
 * linker's search order (dlsym(RTLD_NEXT): the C library's, or a sanitizer's in front of it).
 *
 * UM_NEXT(name, type) defines `static type *um_next_<name>(void)`: that function, looked up
 * on the first call and kept (any thread may look it up: each finds the same pointer), or
 * NULL when there is none. `type` is the function's type (a typedef, not a pointer).
 *
 * UM_NEXT_NONE(failed) is what a wrapper returns when there is none: `failed`, errno set to
 * ENOSYS, as the call itself fails on a system without it. An expression:
 *     system_fn *fn = um_next_system();
 *     return fn ? fn(command) : UM_NEXT_NONE(-1);
 * (posix_spawn reports its errors as its result, not in errno: its wrappers return ENOSYS.)
 */
#ifndef UM_NEXT_H
#define UM_NEXT_H

#ifndef _GNU_SOURCE
#error "um_next.h needs _GNU_SOURCE (RTLD_NEXT) defined before the first #include"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>

#define UM_NEXT(name, type)                                                                    \
    static type *um_next_##name(void)                                                          \
    {                                                                                          \
        static type *_Atomic next;                                                             \
        type *fn = atomic_load_explicit(&next, memory_order_relaxed);                          \
        if (!fn) {                                                                             \
            fn = (type *)dlsym(RTLD_NEXT, #name);                                              \
            atomic_store_explicit(&next, fn, memory_order_relaxed);                            \
        }                                                                                      \
        return fn;                                                                             \
    }

#define UM_NEXT_NONE(failed) (errno = ENOSYS, (failed))

#endif
