/*
 * machports/defs.h — attributes shared by the machports headers.
 *
 * MP_WUR (warn_unused_result) marks only the functions whose outputs are meaningless
 * unless the result is checked: allocations, makes, copies, receives, getters with an
 * `out`. gcc does not let a (void) cast silence it, so setters, notification requests,
 * set membership and sends (which release everything they were given whatever happens)
 * do not carry it: their result is information you may ignore.
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
