/*
 * machports/defs.h — attributes shared by the machports headers.
 */
#ifndef MACHPORTS_DEFS_H
#define MACHPORTS_DEFS_H

#if defined(__GNUC__) || defined(__clang__)
#define MP_WUR __attribute__((warn_unused_result))
#define MP_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define MP_WUR
#define MP_NONNULL(...)
#endif

#endif
