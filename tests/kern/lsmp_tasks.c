/*
 * lsmp_tasks.c — the lsmp formatter (kern/um_lsmp.c) across tasks of one kernel: a send right
 * names the task that holds its receive right (by pid and by the name it has there), a task
 * port held by another task names the task it stands for, and when that task dies both are
 * dead names. A second task is made through the core's interface, as task_terminate.c does.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_give.h"
#include "kern/um_lsmp.h"

#include <mach/mach.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TASK mach_task_self()
#define B_PID 4242u

static const um_task_hooks no_hooks = {0};

/* The row of `name` in `text` (into `out`) without its ipc-object column, or "". */
static const char *row(const char *text, mach_port_name_t name, char *out, size_t cap)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "0x%08x ", name);
    out[0] = '\0';
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0 && n > 24) {
            /* name (10) + 2 blanks | ipc-object (10) | the rest */
            snprintf(out, cap, "%.10s|%.*s", p, (int)(n - 22), p + 22);
            break;
        }
        p = end ? end + 1 : NULL;
    }
    return out;
}

static void check_row(const char *file, int line, const char *text, mach_port_name_t name,
                      const char *want)
{
    char got[512];
    row(text, name, got, sizeof got);
    mt_checks++;
    if (strcmp(got, want) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "row of 0x%08x:\n    got  [%s]\n    want [%s]", name, got, want);
        mt_fail_at(file, line, msg);
    }
}
#define CHECK_ROW(text, name, ...)                                                             \
    do {                                                                                       \
        char want_[512];                                                                       \
        snprintf(want_, sizeof want_, __VA_ARGS__);                                            \
        check_row(__FILE__, __LINE__, (text), (name), want_);                                  \
    } while (0)

MT_TEST(send_rights_and_task_ports_name_the_other_task_until_it_dies)
{
    um_task *a = um_embedded_enter();
    um_task *b = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    MT_REQUIRE(b != NULL);
    b->audit.val[5] = B_PID;
    mach_port_name_t rb_b = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &rb_b), KERN_SUCCESS);
    mach_port_name_t rb = kern_give(b, rb_b, MACH_MSG_TYPE_MAKE_SEND, a);
    mach_port_name_t btask = kern_give(b, b->task_name, MACH_MSG_TYPE_COPY_SEND, a);
    mach_port_name_t atask_b = kern_give(a, a->task_name, MACH_MSG_TYPE_COPY_SEND, b);
    MT_REQUIRE(rb && btask && atask_b);

    um_text ta = UM_TEXT_INIT, tb = UM_TEXT_INIT;
    MT_KR(um_lsmp_format(a, "self", &ta), KERN_SUCCESS);
    MT_KR(um_lsmp_format(b, "worker", &tb), KERN_SUCCESS);
    um_embedded_leave();
    MT_REQUIRE(ta.buf && tb.buf);

    /* Ours: a send right to B's port names B's pid and B's name for it; B's task port. */
    CHECK_ROW(ta.buf, rb,
              "0x%08x|  send        ------  ----            1                                   "
              "                              -> 0x%08x (pid %u)",
              rb, rb_b, B_PID);
    CHECK_ROW(ta.buf, btask,
              "0x%08x|  send        -----P  ----            1                                   "
              "                              TASK (pid %u)",
              btask, B_PID);
    /* B's: its title, its own task port, its receive right, and our task port. */
    char title[64];
    snprintf(title, sizeof title, "Process (%u) : worker\n", B_PID);
    MT_CHECK(strncmp(tb.buf, title, strlen(title)) == 0);
    CHECK_ROW(tb.buf, b->task_name,
              "0x%08x|  send        -----P  ----            1                                   "
              "                              TASK SELF (pid %u)",
              b->task_name, B_PID);
    CHECK_ROW(tb.buf, rb_b,
              "0x%08x|  recv        ------  ----     1             0        1        1       5  "
              "       0  0x0000000000000000",
              rb_b);
    CHECK_ROW(tb.buf, atask_b,
              "0x%08x|  send        -----P  ----            1                                   "
              "                              TASK (pid %d)",
              atask_b, (int)getpid());
    um_text_free(&ta);
    um_text_free(&tb);

    /* B dies: its port and its task port are dead names here, shown before any conversion. */
    a = um_embedded_enter();
    um_task_terminate(b);
    MT_KR(um_lsmp_format(a, "self", &ta), KERN_SUCCESS);
    um_embedded_leave();
    MT_REQUIRE(ta.buf);
    CHECK_ROW(ta.buf, rb, "0x%08x|  dead-name                           1", rb);
    CHECK_ROW(ta.buf, btask, "0x%08x|  dead-name                           1", btask);
    um_text_free(&ta);
    MT_KR(mach_port_deallocate(TASK, rb), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, btask), KERN_SUCCESS);
}

MT_TEST(text_that_cannot_grow_makes_the_formatter_report_a_resource_shortage)
{
    um_text t = UM_TEXT_INIT;
    t.failed = true; /* as after a failed realloc */
    um_task *a = um_embedded_enter();
    kern_return_t kr = um_lsmp_format(a, "self", &t);
    um_embedded_leave();
    MT_KR(kr, KERN_RESOURCE_SHORTAGE);
    MT_CHECK(t.buf == NULL && t.len == 0);
    um_text_free(&t);
}

MT_MAIN()
