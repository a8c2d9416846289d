/*
 * umachd_proto.h — umachd's wire records, version 0 (task birth and death; docs/world.md).
 * Every record is one SOCK_SEQPACKET packet of fixed size, little-endian.
 */
#ifndef UMACHD_PROTO_H
#define UMACHD_PROTO_H

#include <stdint.h>

#define UMACHD_MAGIC 0x756d6364u /* "umcd" */
#define UMACHD_VERSION 0u

enum { UMACHD_OP_STATS = 1 };

/* Sent by the daemon when a process connects: it is now a task. */
typedef struct umachd_hello {
    uint32_t magic;
    uint32_t version;
    uint32_t task_name; /* the task's name for its own task port */
    uint32_t pid;       /* the peer as the kernel saw it (SO_PEERCRED) */
} umachd_hello;

typedef struct umachd_request {
    uint32_t magic;
    uint32_t op;
} umachd_request;

/* The reply to UMACHD_OP_STATS. */
typedef struct umachd_stats {
    uint32_t magic;
    uint32_t tasks;       /* tasks alive in the world */
    uint32_t names_inuse; /* names in the asking task's space */
} umachd_stats;

#endif
