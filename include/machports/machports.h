/*
 * machports/machports.h — the whole machports API.
 *
 * machports is a safe C API over Mach port rights and messages, built only on the public
 * Mach API (the same sources build on macOS and, with umach, on Linux):
 *   rights.h   owned send / send-once / receive rights, notifications, port sets
 *   bootstrap.h  services and clients meet by name (the bootstrap server)
 *   buffer.h   a reusable message buffer
 *   builder.h  build a message: header, port and OOL descriptors, inline data
 *   parser.h   read a received message, taking the rights and memory it carries
 *   ool.h      OOL memory (mp_ool_buf, mp_ool_vec) and OOL port arrays
 *   msg.h      send, receive, RPC, server loop
 *   error.h    send / receive error kinds and printing
 */
#ifndef MACHPORTS_MACHPORTS_H
#define MACHPORTS_MACHPORTS_H

#include <machports/bootstrap.h>
#include <machports/buffer.h>
#include <machports/builder.h>
#include <machports/error.h>
#include <machports/msg.h>
#include <machports/ool.h>
#include <machports/parser.h>
#include <machports/rights.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char *mp_version(void);

#define MP_VERSION_MAJOR 0
#define MP_VERSION_MINOR 1
#define MP_VERSION_PATCH 0

#ifdef __cplusplus
}
#endif
#endif
