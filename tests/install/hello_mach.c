/*
 * hello_mach.c — an ordinary Mach program, built against an installed umach
 * (pkg-config and CMake) by tests/install/check.sh.
 */
#include <mach/mach.h>

#include <stdio.h>

static int failed(const char *what, kern_return_t kr)
{
    fprintf(stderr, "hello_mach: %s failed: 0x%x\n", what, (unsigned)kr);
    return 1;
}

int main(void)
{
    mach_port_t task = mach_task_self();
    mach_port_t port = MACH_PORT_NULL;
    mach_port_type_t type = 0;
    kern_return_t kr;

    kr = mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &port);
    if (kr != KERN_SUCCESS)
        return failed("mach_port_allocate", kr);
    kr = mach_port_insert_right(task, port, port, MACH_MSG_TYPE_MAKE_SEND);
    if (kr != KERN_SUCCESS)
        return failed("mach_port_insert_right", kr);
    kr = mach_port_type(task, port, &type);
    if (kr != KERN_SUCCESS)
        return failed("mach_port_type", kr);
    printf("port 0x%x type 0x%x (%s)\n", (unsigned)port, (unsigned)type,
           type == MACH_PORT_TYPE_SEND_RECEIVE ? "send + receive" : "unexpected");
    if (type != MACH_PORT_TYPE_SEND_RECEIVE)
        return 1;

    /* The send right goes with deallocate; the receive right needs mod_refs. */
    kr = mach_port_deallocate(task, port);
    if (kr != KERN_SUCCESS)
        return failed("mach_port_deallocate", kr);
    kr = mach_port_mod_refs(task, port, MACH_PORT_RIGHT_RECEIVE, -1);
    if (kr != KERN_SUCCESS)
        return failed("mach_port_mod_refs", kr);
    kr = mach_port_type(task, port, &type);
    if (kr != KERN_INVALID_NAME)
        return failed("mach_port_type after release (expected KERN_INVALID_NAME)", kr);

    printf("hello_mach: ok\n");
    return 0;
}
