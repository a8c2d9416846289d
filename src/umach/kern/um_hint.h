/*
 * um_hint.h — cache hints: memory a call touched that another thread is likely to write
 * before this thread's next call, so that a front end can prefetch it when that call starts.
 *
 * A thread that completes another thread's receive (a handoff) touches that thread's state,
 * the ports, the space and the ledger the other thread writes in its own next call; in this
 * thread's next call each of them is a cache miss under the world lock, one after the other
 * (each address is found by reading the one before it). Recorded here, they are fetched all
 * at once when this thread's wait ends, while it returns and its caller prepares the next
 * message.
 *
 * A hint never changes what happens: a front end may ignore them, and prefetching memory that
 * was freed meanwhile is harmless (a prefetch never faults and reads nothing).
 */
#ifndef UM_HINT_H
#define UM_HINT_H

#include <stddef.h>
#include <stdint.h>

enum { UM_HINTS_MAX = 16, UM_HINT_LINE = 64, UM_NOTES_MAX = 18 };

/*
 * One hint: the first cache line's address, with the number of lines after it in bits 0-5.
 * A handoff's hints are kept as its ranges (`note`: a pointer and a length, two stores each,
 * under the world lock before its receiver is posted) and turned into lines by the front end
 * when this thread next starts to wait, off the critical path of a round trip (making lines
 * of them in the handoff cost ~50 instructions more before the post; at the end of the wait,
 * ~100 more on the woken thread's way back).
 */
typedef struct um_hints {
    uint32_t n;
    uint32_t nnotes;
    uintptr_t at[UM_HINTS_MAX];
    struct {
        const void *p;
        size_t len;
    } note[UM_NOTES_MAX];
} um_hints;

/* The calling thread's hints (um_msg.c); a front end takes them and sets n and nnotes to 0. */
extern _Thread_local um_hints um_thread_hints;

/* Record [p, p + len) (len > 0); dropped when the thread already holds UM_HINTS_MAX. */
static inline void um_hint(const void *p, size_t len)
{
    um_hints *h = &um_thread_hints;
    if (h->n < UM_HINTS_MAX) {
        uintptr_t first = (uintptr_t)p / UM_HINT_LINE;
        uintptr_t last = ((uintptr_t)p + len - 1) / UM_HINT_LINE;
        uintptr_t more = last - first < UM_HINT_LINE - 1 ? last - first : UM_HINT_LINE - 1;
        h->at[h->n++] = first * UM_HINT_LINE + more;
    }
}

#endif
