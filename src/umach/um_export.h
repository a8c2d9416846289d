/* Marks the public Mach API symbols that libumach exports (it is built with -fvisibility=hidden),
 * and the scope every exported call opens. */
#ifndef UM_EXPORT_H
#define UM_EXPORT_H
#define UM_EXPORT __attribute__((visibility("default")))

/*
 * Every exported function opens with UM_CALL_SCOPE. While a thread is inside one of umach's
 * calls (`depth` > 0) a new thread state (thread_set_state) is not put into its registers:
 * that would leave the call halfway, its locks held, its waits registered on ports, its
 * results unwritten. It is put there when the outermost call ends, as XNU puts a new state in
 * place when the thread returns to user mode (embedded/um_suspend.c). `state_owed` says one
 * waits. Thread-local, read by the suspend signal's handler.
 */
typedef struct um_call_marks {
    volatile int depth;
    volatile int state_owed;
} um_call_marks;
extern _Thread_local um_call_marks um_call_in;

/* Put the new state that waits for this thread in place (um_suspend.c); returns only when
 * none waits any more. */
void um_call_state_apply(void);

static inline void um_call_scope_end(const int *unused)
{
    (void)unused;
    if (--um_call_in.depth == 0 && __builtin_expect(um_call_in.state_owed, 0))
        um_call_state_apply();
}

#define UM_CALL_SCOPE                                                                              \
    __attribute__((cleanup(um_call_scope_end), unused)) const int um_call_scope_ =                  \
        (um_call_in.depth++, 0)

#endif
