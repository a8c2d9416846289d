/*
 * mp_msg_internal.h — message walking shared by the builder, the parser and send.
 */
#ifndef MP_MSG_INTERNAL_H
#define MP_MSG_INTERNAL_H

#include "mp_internal.h"

/* Parser modes (internal flag bits, above the public MP_PARSE_* ones). */
#define MP__OWN_LOCAL                                                                              \
    0x100u /* msgh_local_port is a right owned per the LOCAL bits                                  \
              (a message not yet sent, or handed back by the kernel) */
#define MP__SEND_FORM                                                                              \
    0x200u /* dispositions are the sender's (COPY/MAKE own nothing) and                            \
              an OOL region is owned only when its deallocate flag is set */

/*
 * Release every right and region a message at `msg` (`len` valid bytes) owns, per the
 * mode flags: a never-sent message (MP__OWN_LOCAL | MP__SEND_FORM), a message the kernel
 * handed back after a timed-out send (MP__OWN_LOCAL), or a received one (0).
 */
MP__HIDDEN void mp__msg_release(void *msg, size_t len, uint32_t mode);

#endif
