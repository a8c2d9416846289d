/*
 * umachd_bootstrap.h — the world's declared bootstrap services (docs/world.md, "Bootstrap").
 * The world's root registry is the kernel core's (kern/um_bootstrap.c, made by d_loop_init;
 * every task's TASK_BOOTSTRAP_PORT slot names it); `umachd --service NAME` declares names in
 * it before any server runs, as a launchd plist's MachServices.
 *
 * Conditions: the daemon's one thread, before the loop runs.
 */
#ifndef UMACHD_BOOTSTRAP_H
#define UMACHD_BOOTSTRAP_H

#include "kern/um_kern.h"

#include <stdbool.h>
#include <stddef.h>

/* Check a --service name; false (with a message on stderr) when empty or over 127 bytes. */
bool umachd_service_name_ok(const char *name);

/*
 * Declare `services` in the world's root registry (kernel->bootstrap): names that only tasks
 * running as the daemon's own uid may check in. false, after saying why on stderr, when there
 * is no registry, memory runs out or a name is declared twice.
 */
bool umachd_bootstrap_declare(um_kernel *kernel, char *const *services, size_t nservices);

#endif
