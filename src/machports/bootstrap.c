/*
 * bootstrap.c — owned-right wrappers over the bootstrap calls (public API only: the same
 * source builds against Apple's <servers/bootstrap.h> and umach's).
 */
#include <machports/bootstrap.h>

#include <string.h>

/* KERN_SUCCESS, or why `name` cannot be a service name. */
static kern_return_t name_check(const char *name)
{
    if (!name)
        return KERN_INVALID_ARGUMENT;
    if (memchr(name, '\0', BOOTSTRAP_MAX_NAME_LEN) == NULL)
        return BOOTSTRAP_BAD_COUNT;
    return KERN_SUCCESS;
}

kern_return_t mp_bootstrap_look_up(mp_send_right bp, const char *name, mp_send_right *out)
{
    *out = MP_SEND_RIGHT_NULL;
    kern_return_t kr = name_check(name);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_port_t port = MACH_PORT_NULL;
    kr = bootstrap_look_up(mp_send_right_name(bp), name, &port);
    if (kr == KERN_SUCCESS)
        *out = mp_send_right_from_name(port);
    return kr;
}

kern_return_t mp_bootstrap_check_in(mp_send_right bp, const char *name, mp_recv_right *out)
{
    *out = MP_RECV_RIGHT_NULL;
    kern_return_t kr = name_check(name);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_port_t port = MACH_PORT_NULL;
    kr = bootstrap_check_in(mp_send_right_name(bp), name, &port);
    if (kr == KERN_SUCCESS)
        *out = mp_recv_right_from_name(port);
    return kr;
}

kern_return_t mp_bootstrap_register(mp_send_right bp, const char *name, mp_send_right service)
{
    kern_return_t kr = name_check(name);
    if (kr != KERN_SUCCESS)
        return kr;
    /* Deprecated on macOS, yet the only call that binds a name to a right the caller made. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return bootstrap_register(mp_send_right_name(bp), (char *)name, mp_send_right_name(service));
#pragma GCC diagnostic pop
}
