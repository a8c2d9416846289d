/*
 * umachd_bootstrap.c — the world's declared bootstrap services (see umachd_bootstrap.h).
 *
 * Who may do what (docs/world.md, "Bootstrap"): any task may look up, register, check in a
 * name nobody declared, and make subsets; a declared service (--service) is checked in or
 * undeclared only by a task whose effective uid is the daemon's own, so a peer admitted with
 * --allow-uid can use the world's services but cannot take one over. A name lives as long as
 * the receive right behind it: the core's port watch frees it when its server's task dies
 * (um_task_terminate destroys the receive right), and a declared service's receive right
 * comes back to the registry with its queue.
 */
#include "umachd_bootstrap.h"

#include "kern/um_bootstrap.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool umachd_service_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= BOOTSTRAP_MAX_NAME_LEN) {
        fprintf(stderr, "umachd: bad --service \"%s\": a name has 1 to %d bytes\n", name,
                BOOTSTRAP_MAX_NAME_LEN - 1);
        return false;
    }
    return true;
}

bool umachd_bootstrap_declare(um_kernel *kernel, char *const *services, size_t nservices)
{
    if (nservices && !kernel->bootstrap)
        return false; /* d_loop_init said why */
    for (size_t i = 0; i < nservices; i++) {
        kern_return_t kr = um_bootstrap_declare(kernel->bootstrap, services[i], (uint32_t)getuid());
        if (kr != BOOTSTRAP_SUCCESS) {
            fprintf(stderr, "umachd: cannot declare service \"%s\": %s\n", services[i],
                    kr == BOOTSTRAP_NAME_IN_USE ? "declared twice" : "out of memory");
            return false;
        }
    }
    return true;
}
