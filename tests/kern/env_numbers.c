/*
 * env_numbers.c — how libumach and umachd read a switch or a number they are given
 * (src/umach/um_env.h): the UMACH_* variables in embedded mode and in a world, and umachd's
 * options, all through the same reading.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "um_backoff.h"
#include "um_env.h"
#include "wire/um_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static bool parses(const char *s, bool bytes, uint64_t want)
{
    uint64_t v = 12345;
    return um_parse_number(s, bytes, &v) && v == want;
}

static bool malformed(const char *s, bool bytes)
{
    uint64_t v = 12345;
    return !um_parse_number(s, bytes, &v) && v == 12345;
}

MT_TEST(a_switch_is_on_when_set_to_anything_but_empty_or_zero)
{
    unsetenv("UMACH_TEST_SWITCH");
    MT_CHECK(!um_env_flag("UMACH_TEST_SWITCH"));
    setenv("UMACH_TEST_SWITCH", "", 1);
    MT_CHECK(!um_env_flag("UMACH_TEST_SWITCH"));
    setenv("UMACH_TEST_SWITCH", "0", 1);
    MT_CHECK(!um_env_flag("UMACH_TEST_SWITCH"));
    setenv("UMACH_TEST_SWITCH", "1", 1);
    MT_CHECK(um_env_flag("UMACH_TEST_SWITCH"));
    setenv("UMACH_TEST_SWITCH", "no", 1);
    MT_CHECK(um_env_flag("UMACH_TEST_SWITCH"));
    unsetenv("UMACH_TEST_SWITCH");
}

MT_TEST(a_number_is_decimal_hex_or_octal_and_only_a_byte_size_takes_k_m_or_g)
{
    MT_CHECK(parses("40", false, 40));
    MT_CHECK(parses("0x28", false, 40));
    MT_CHECK(parses("050", false, 40));
    MT_CHECK(parses("0", false, 0));
    MT_CHECK(parses("18446744073709551615", false, UINT64_MAX));
    MT_CHECK(parses("256k", true, 256u << 10));
    MT_CHECK(parses("3M", true, 3u << 20));
    MT_CHECK(parses("2g", true, 2ull << 30));
    MT_CHECK(parses("17179869183g", true, 17179869183ull << 30));
    MT_CHECK(malformed("1k", false)); /* a count takes no suffix */
    MT_CHECK(malformed("2g", false));
}

MT_TEST(a_sign_a_space_trailing_characters_or_a_value_past_64_bits_is_malformed)
{
    MT_CHECK(malformed(NULL, true));
    MT_CHECK(malformed("", true));
    MT_CHECK(malformed("-1", true));
    MT_CHECK(malformed(" -1", true)); /* strtoull reads 2^64 - 1 */
    MT_CHECK(malformed("+1", false));
    MT_CHECK(malformed(" 1", false));
    MT_CHECK(malformed("12q", true));
    MT_CHECK(malformed("12kb", true));
    MT_CHECK(malformed("k", true));
    MT_CHECK(malformed("18446744073709551616", false));
    MT_CHECK(malformed("99999999999999999999", true));
    MT_CHECK(malformed("17179869184g", true));
    /* The reading leaves errno as it found it. */
    errno = EINTR;
    MT_CHECK(malformed("99999999999999999999", false));
    MT_EQ(errno, EINTR);
}

MT_TEST(an_unset_or_malformed_variable_reads_as_zero)
{
    unsetenv("UMACH_TEST_NUMBER");
    MT_EQ(um_env_number("UMACH_TEST_NUMBER", true), 0);
    setenv("UMACH_TEST_NUMBER", "99999999999999999999", 1);
    MT_EQ(um_env_number("UMACH_TEST_NUMBER", false), 0);
    setenv("UMACH_TEST_NUMBER", "64k", 1);
    MT_EQ(um_env_number("UMACH_TEST_NUMBER", true), 65536);
    MT_EQ(um_env_number("UMACH_TEST_NUMBER", false), 0);
    unsetenv("UMACH_TEST_NUMBER");
}

/*
 * The ring's spin bound (um_ring_spin_ns, read once per process, so in a child of ours) with
 * UMACH_SPIN_US set to `value`, in µs; UINT64_MAX if the child could not tell.
 */
static uint64_t ring_spin_us_with(const char *value)
{
    int fds[2];
    if (pipe(fds) != 0)
        return UINT64_MAX;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        setenv("UMACH_SPIN_US", value, 1);
        uint64_t us = um_ring_spin_ns() / 1000u;
        _exit(write(fds[1], &us, sizeof us) == (ssize_t)sizeof us ? 0 : 1);
    }
    close(fds[1]);
    uint64_t us = UINT64_MAX;
    if (pid < 0 || read(fds[0], &us, sizeof us) != (ssize_t)sizeof us)
        us = UINT64_MAX;
    close(fds[0]);
    if (pid > 0)
        (void)waitpid(pid, NULL, 0);
    return us;
}

MT_TEST(the_spin_bound_reads_umach_spin_us_as_a_number_and_a_malformed_one_leaves_the_default)
{
    /* With one CPU online nobody can run while a thread spins: never, whatever the value. */
    bool one_cpu = sysconf(_SC_NPROCESSORS_ONLN) <= 1;
    uint64_t deflt = one_cpu ? 0 : UM_SPIN_US_DEFAULT;
    MT_EQ(ring_spin_us_with("5"), one_cpu ? 0 : 5);
    MT_EQ(ring_spin_us_with("0"), 0);
    MT_EQ(ring_spin_us_with("5000000"), one_cpu ? 0 : UM_SPIN_US_MAX);
    MT_EQ(ring_spin_us_with(" -1"), deflt); /* read as 2^64 - 1: the most, 1000 */
    MT_EQ(ring_spin_us_with("+5"), deflt);
    MT_EQ(ring_spin_us_with(" 5"), deflt);
    MT_EQ(ring_spin_us_with("fast"), deflt);
    MT_EQ(ring_spin_us_with(""), deflt);
    /* Embedded mode's waiters read it the same way. */
    setenv("UMACH_SPIN_US", " -1", 1);
    MT_EQ(um_spin_env_ns(), deflt * 1000u);
    setenv("UMACH_SPIN_US", "0x10", 1);
    MT_EQ(um_spin_env_ns(), (one_cpu ? 0 : 16) * 1000u);
    unsetenv("UMACH_SPIN_US");
    MT_EQ(um_spin_env_ns(), deflt * 1000u);
}

MT_MAIN()
