/*
 * thread_policy_fork.c — a process that never set a thread policy forks while another of its
 * threads is inside thread_policy_get (or is ending: a thread with a port forgets its
 * settings as it ends): the child can still read a policy and end its threads. The table of
 * settings has one lock, which a child must not inherit held, whether or not the parent ever
 * called thread_policy_set; nothing in this program calls it.
 */
#include "mt.h"

#include <mach/mach.h>
#include <mach/thread_policy.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool stop;

/*
 * ThreadSanitizer cannot fork this program reliably: a child hangs inside ThreadSanitizer's own
 * allocator, whose lock the reader thread held at the fork (seen: the child stuck in it under
 * close(), in about one run of this test in twenty). Its build forks while no other thread
 * runs instead (a_child_forked_after_another_thread_read_a_policy_can_read_one); the gcc,
 * AddressSanitizer and valgrind runs fork during the reads.
 */
#if defined(__SANITIZE_THREAD__)
#define TF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TF_TSAN 1
#endif
#endif

/* Reads its own precedence over and over until told to stop. */
static void *tf_reader(void *arg)
{
    (void)arg;
    mach_port_t self = mach_thread_self();
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        integer_t w[THREAD_PRECEDENCE_POLICY_COUNT];
        mach_msg_type_number_t n = THREAD_PRECEDENCE_POLICY_COUNT;
        boolean_t dflt = FALSE;
        (void)thread_policy_get(self, THREAD_PRECEDENCE_POLICY, w, &n, &dflt);
    }
    (void)mach_port_deallocate(mach_task_self(), self);
    return NULL;
}

/* The child: read its own thread's precedence; a lock held at the fork hangs here, and the
 * alarm ends it. */
static int tf_child(void)
{
    alarm(3);
    mach_port_t self = mach_thread_self();
    integer_t w[THREAD_PRECEDENCE_POLICY_COUNT] = {-1};
    mach_msg_type_number_t n = THREAD_PRECEDENCE_POLICY_COUNT;
    boolean_t dflt = FALSE;
    kern_return_t kr = thread_policy_get(self, THREAD_PRECEDENCE_POLICY, w, &n, &dflt);
    return kr == KERN_SUCCESS && w[0] == 0 ? 0 : 1;
}

#ifndef TF_TSAN
MT_TEST_TIMEOUT(a_child_forked_during_thread_policy_get_can_read_a_policy, 60)
{
    pthread_t reader;
    MT_REQUIRE(pthread_create(&reader, NULL, tf_reader, NULL) == 0);
    int hung = 0, failed = 0;
    /* 300 forks, or as many as two seconds allow (valgrind runs one thread at a time). */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 300; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2)
            break;
        pid_t pid = fork();
        if (pid == 0)
            _exit(tf_child());
        MT_REQUIRE(pid > 0);
        int status = 0;
        MT_EQ(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            hung++;
            break; /* one is enough: each costs the alarm's seconds */
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    pthread_join(reader, NULL);
    MT_EQ(hung, 0);
    MT_EQ(failed, 0);
}

#else
MT_TEST(a_child_forked_after_another_thread_read_a_policy_can_read_one)
{
    pthread_t reader;
    MT_REQUIRE(pthread_create(&reader, NULL, tf_reader, NULL) == 0);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    pthread_join(reader, NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(tf_child());
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
#endif

MT_MAIN()
