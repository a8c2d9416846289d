/*
 * mt_selftest.c — the test harness (tests/common/mt.h) checked by itself: a death test passes
 * only for the signal and the message it names, the watchdog runs before the first test, and
 * it ends a hung test fast with a line naming it.
 *
 * A check that is meant to fail here is run with its failure taken back afterwards
 * (mt_expect_failure), so its FAIL line on stderr is expected; this program's own verdict is
 * the line after it.
 */
#include "mt.h"

#include <fcntl.h>

/* Run the check `stmt`; pass when it recorded a failure, and forget that failure. */
#define MT_EXPECT_FAILURE(stmt)                                                                \
    do {                                                                                       \
        int mt_was_ = mt_current_failed;                                                       \
        mt_current_failed = 0;                                                                 \
        fprintf(stderr, "  (the next FAIL line is expected)\n");                               \
        stmt;                                                                                  \
        int mt_failed_ = mt_current_failed;                                                    \
        mt_current_failed = mt_was_;                                                           \
        MT_CHECK(mt_failed_ && "the check above should have failed");                          \
    } while (0)

static void say_and_abort(void)
{
    fprintf(stderr, "selftest: about to abort\n");
    abort();
}

static void segfault(void)
{
    fprintf(stderr, "selftest: about to fault\n");
    raise(SIGSEGV);
}

/*
 * Its start-up is over before any test: a thread that starts late on a loaded machine may map
 * memory (AddressSanitizer's signal stack) into a hole a test has just freed and checks.
 */
MT_TEST(the_watchdog_thread_is_running_before_the_first_test)
{
    pthread_mutex_lock(&mt_wd_lock);
    int started = mt_wd_started;
    pthread_mutex_unlock(&mt_wd_lock);
    MT_EQ(started, mt_timeout_scale() > 0 ? 1 : 0);
}

MT_TEST(a_death_test_passes_for_its_signal_and_its_messages_in_order)
{
    MT_DIES_WITH(say_and_abort(), SIGABRT, NULL);
    MT_DIES_WITH(say_and_abort(), SIGABRT, "selftest:");
    MT_DIES_WITH(say_and_abort(), SIGABRT, "selftest:", "about", "abort");
}

MT_TEST(a_death_test_fails_when_the_child_dies_of_another_signal)
{
    MT_EXPECT_FAILURE(MT_DIES_WITH(segfault(), SIGABRT, NULL));
    MT_EXPECT_FAILURE(MT_DIES_WITH(segfault(), SIGABRT, "selftest: about to fault"));
}

MT_TEST(a_death_test_fails_when_the_child_survives)
{
    MT_EXPECT_FAILURE(MT_DIES_WITH((void)0, SIGABRT, NULL));
    MT_EXPECT_FAILURE(MT_DIES_WITH(fprintf(stderr, "selftest: alive\n"), SIGABRT, "alive"));
}

MT_TEST(a_death_test_fails_when_a_message_is_missing_or_out_of_order)
{
    MT_EXPECT_FAILURE(MT_DIES_WITH(say_and_abort(), SIGABRT, "segfault"));
    MT_EXPECT_FAILURE(MT_DIES_WITH(say_and_abort(), SIGABRT, "abort", "selftest:"));
}

/* ---- the watchdog: this program runs itself with --hang ---------------------------------- */

static const char *self_path;

static void sleep_forever(void)
{
    for (;;)
        pause();
}

/* Read all of fd (from its start) into buf. */
static void read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
}

MT_TEST(the_watchdog_ends_a_hung_test_within_its_limit_and_names_it)
{
    char out_path[] = "/tmp/mt_selftest_out_XXXXXX";
    char err_path[] = "/tmp/mt_selftest_err_XXXXXX";
    int out = mkstemp(out_path), err = mkstemp(err_path);
    MT_REQUIRE(out >= 0 && err >= 0);
    unlink(out_path);
    unlink(err_path);
    double t0 = mt_now();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        char *args[] = {(char *)self_path, "--hang", NULL};
        char *env[] = {"MT_TIMEOUT_SCALE=1", NULL};
        execve(self_path, args, env);
        _exit(127);
    }
    MT_REQUIRE(pid > 0);
    int st = 0;
    MT_EQ(waitpid(pid, &st, 0), pid);
    double took = mt_now() - t0;
    char text[4096];
    read_all(err, text, sizeof text);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    MT_CHECK(strstr(text, "WATCHDOG: test sleeps_past_its_limit did not finish within") != NULL);
    read_all(out, text, sizeof text);
    MT_CHECK(strstr(text, "not ok sleeps_past_its_limit (watchdog)") != NULL);
    /* Limit 1 s (5 s in a sanitizer build); a generous bound for a loaded machine. */
    MT_CHECK(took < 1.0 * MT_SANITIZER_SCALE + 20.0);
    close(out);
    close(err);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "--hang") == 0) {
        mt_ncases = 0;
        mt_register("sleeps_past_its_limit", sleep_forever, 1);
        return mt_run_all(argv[0]);
    }
    return mt_run_all(argv[0]);
}
