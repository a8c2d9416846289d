/*
 * lsmp.c — <umach/lsmp.h>: the calling task's port space as lsmp text. Each
 * test builds names of a known kind and checks their rows column by column against the whole
 * expected line: rights, flags, requests, user references, send and send-once rights, the
 * make-send count, queue limit and length, context, and where a right leads. The ipc-object
 * column must be the object tag mach_port_space_info reports for the same name. The program
 * also runs inside a world (world.umach_lsmp), where umachd formats the same rows.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "lsmp_text.h"

#include <mach/mach.h>
#include <mach/mach_port.h>
#include <mach/mk_timer.h>
#include <mach/notify.h>
#include <mach_debug/ipc_info.h>
#include <servers/bootstrap.h>
#include <umach/lsmp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK mach_task_self()

/* ---- helpers ---------------------------------------------------------------------------- */

static char *lsmp_now(void)
{
    char *text = NULL;
    size_t len = 0;
    kern_return_t kr = umach_lsmp(TASK, &text, &len);
    MT_KR(kr, KERN_SUCCESS);
    if (kr != KERN_SUCCESS)
        return NULL;
    MT_EQ(strlen(text), len);
    return text;
}

/* "0x%08x" */
typedef struct hex {
    char s[16];
} hex;
static hex hx(uint32_t v)
{
    hex h;
    snprintf(h.s, sizeof h.s, "0x%08x", v);
    return h;
}

/* The object tag mach_port_space_info reports for `name` (0 if none). */
static natural_t tag_of(mach_port_name_t name)
{
    ipc_info_space_t info;
    ipc_info_name_array_t table = NULL;
    ipc_info_tree_name_array_t tree = NULL;
    mach_msg_type_number_t ntable = 0, ntree = 0;
    if (mach_port_space_info(TASK, &info, &table, &ntable, &tree, &ntree) != KERN_SUCCESS)
        return 0;
    natural_t tag = 0;
    for (mach_msg_type_number_t i = 0; i < ntable; i++)
        if (table[i].iin_name == name)
            tag = table[i].iin_object;
    vm_deallocate(TASK, (vm_address_t)table, ntable * sizeof *table);
    return tag;
}

/*
 * The row of `name` in `text` must be exactly `fmt` expanded: its first two conversions are
 * the name and the object tag (both "0x%08x" strings), then the caller's arguments.
 */
static void expect_row_at(const char *file, int line, const char *text, const char *prefix,
                          const char *fmt, ...)
{
    char want[512], got[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    mt_checks++;
    if (!line_of(text, prefix, got, sizeof got)) {
        char msg[700];
        snprintf(msg, sizeof msg, "no row for %s; want\n    [%s]", prefix, want);
        mt_fail_at(file, line, msg);
        return;
    }
    if (strcmp(got, want) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "row of %s:\n    got  [%s]\n    want [%s]", prefix, got, want);
        mt_fail_at(file, line, msg);
    }
}
#define EXPECT_ROW(text, name, fmt, ...)                                                       \
    expect_row_at(__FILE__, __LINE__, (text), hx(name).s, (fmt), hx(name).s,                  \
                  hx(tag_of(name)).s, __VA_ARGS__)

static mach_port_name_t receive_right(void)
{
    mach_port_name_t name = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &name), KERN_SUCCESS);
    return name;
}

static void send_simple(mach_port_name_t dest)
{
    mach_msg_header_t h = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                           .msgh_size = sizeof h,
                           .msgh_remote_port = dest,
                           .msgh_id = 7};
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

static mach_port_name_t send_once_to(mach_port_name_t recv)
{
    mach_port_name_t so = MACH_PORT_NULL;
    mach_msg_type_name_t t = 0;
    MT_KR(mach_port_extract_right(TASK, recv, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t),
          KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
    return so;
}

/* ---- tests ------------------------------------------------------------------------------- */

MT_TEST(title_and_header_name_the_process_and_the_columns)
{
    char *text = lsmp_now();
    MT_REQUIRE(text);
    char want[256];
    snprintf(want, sizeof want, "Process (%d) : %s\n", (int)getpid(),
             program_invocation_short_name);
    MT_CHECK(strncmp(text, want, strlen(want)) == 0);
    const char *hdr = strchr(text, '\n') + 1;
    const char *h1 = "name        ipc-object  rights      flags   reqs  recv  urefs  sonce  "
                     "srights  mscount  qlimit  msgcount  context             identifier\n";
    const char *h2 = "----------- ----------  ----------  ------  ----  ----  -----  -----  "
                     "-------  -------  ------  --------  ------------------  ----------\n";
    MT_CHECK(strncmp(hdr, h1, strlen(h1)) == 0);
    MT_CHECK(strncmp(hdr + strlen(h1), h2, strlen(h2)) == 0);
    free(text);
}

MT_TEST(the_task_port_is_a_pinned_send_right_shown_as_task_self_with_the_pid)
{
    char *text = lsmp_now();
    MT_REQUIRE(text);
    EXPECT_ROW(text, TASK,
               "%s  %s  send        -----P  ----            1                                 "
               "                                TASK SELF (pid %d)",
               (int)getpid());
    free(text);
}

MT_TEST(a_receive_right_shows_urefs_sorights_srights_mscount_qlimit_queue_context_and_its_set)
{
    mach_port_name_t r = receive_right();
    mach_port_name_t set = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, r, r, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    mach_port_limits_t lim = {.mpl_qlimit = 7};
    MT_KR(mach_port_set_attributes(TASK, r, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(mach_port_set_context(TASK, r, 0x1234abcd5678ull), KERN_SUCCESS);
    send_simple(r);
    send_simple(r);
    mach_port_name_t so = send_once_to(r);
    MT_KR(mach_port_insert_member(TASK, r, set), KERN_SUCCESS);

    char *text = lsmp_now();
    MT_REQUIRE(text);
    /* srights: the name's send right and the two queued messages' destination rights. */
    EXPECT_ROW(text, r,
               "%s  %s  recv,send   ------  ----     1      3      1        3        1       7  "
               "       2  0x00001234abcd5678  in set %s",
               hx(set).s);
    EXPECT_ROW(text, set,
               "%s  %s  port-set                                                                "
               "                              1 member%s",
               "");
    char member[32];
    snprintf(member, sizeof member, "-%s", hx(r).s);
    char want[256];
    snprintf(want, sizeof want, "%s %s  member", member, hx(tag_of(r)).s);
    char got[256];
    MT_CHECK(line_of(text, member, got, sizeof got) && strcmp(got, want) == 0);
    /* The send-once right is its own name on the same object. */
    EXPECT_ROW(text, so,
               "%s  %s  send-once   ------  ----                   1                          "
               "                                -> %s (this task)",
               hx(r).s);
    MT_EQ(tag_of(so), tag_of(r));
    free(text);

    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, r), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
}

MT_TEST(armed_requests_show_as_dnp_on_the_receive_right_and_d_on_the_requesting_name)
{
    mach_port_name_t r = receive_right();
    mach_port_name_t n = receive_right();
    MT_KR(mach_port_insert_right(TASK, r, r, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    mach_port_name_t prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, r, MACH_NOTIFY_NO_SENDERS, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, r, MACH_NOTIFY_PORT_DESTROYED, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    mach_port_name_t so = send_once_to(r);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_DEAD_NAME, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);

    char *text = lsmp_now();
    MT_REQUIRE(text);
    EXPECT_ROW(text, r,
               "%s  %s  recv,send   ------  DNP-     1      1      1        1        1       5  "
               "       0  0x0000000000000000%s",
               "");
    EXPECT_ROW(text, so,
               "%s  %s  send-once   ------  D---                   1                          "
               "                                -> %s (this task)",
               hx(r).s);
    /* Each request holds a send-once right to the notification port. */
    EXPECT_ROW(text, n,
               "%s  %s  recv        ------  ----     1             3        0        0       5  "
               "       0  0x0000000000000000%s",
               "");
    free(text);

    /* Cancel the requests, take the send-once right back, and everything goes. */
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, r), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, n), KERN_SUCCESS);
}

/* Send `carried`'s receive right in a message queued on `carrier`. */
static void send_receive_right(mach_port_name_t carrier, mach_port_name_t carried)
{
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t port;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MAKE_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = carrier;
    m.body.msgh_descriptor_count = 1;
    m.port.name = carried;
    m.port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

MT_TEST(a_send_right_whose_receive_right_is_in_transit_then_destroyed_becomes_a_dead_name)
{
    mach_port_name_t r = receive_right();
    mach_port_name_t carrier = receive_right();
    mach_port_name_t n = receive_right();
    MT_KR(mach_port_insert_right(TASK, r, r, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    mach_port_name_t prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, r, MACH_NOTIFY_DEAD_NAME, 0, n,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    send_receive_right(carrier, r);

    char *text = lsmp_now();
    MT_REQUIRE(text);
    EXPECT_ROW(text, r,
               "%s  %s  send        ------  D---            2                                 "
               "                                -> (receive right in transit)%s",
               "");
    /* The message was sent with MAKE_SEND: it holds the only send right it made. */
    EXPECT_ROW(text, carrier,
               "%s  %s  recv        ------  ----     1             0        1        1       5  "
               "       1  0x0000000000000000%s",
               "");
    free(text);

    /* The message dies with its carrier and the receive right with it: r is a dead name with
     * the uref the dead-name notification adds, shown before anything converted it. */
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    text = lsmp_now();
    MT_REQUIRE(text);
    char want[256], got[256];
    snprintf(want, sizeof want,
             "%s  -           dead-name                           3", hx(r).s);
    MT_CHECK(line_of(text, hx(r).s, got, sizeof got) && strcmp(got, want) == 0);
    free(text);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, r, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, r, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_EQ(refs, 3);

    MT_KR(mach_port_destroy(TASK, r), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, n), KERN_SUCCESS); /* with the dead-name notification */
}

MT_TEST(a_dead_name_shows_its_urefs)
{
    mach_port_name_t d = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 4), KERN_SUCCESS);
    char *text = lsmp_now();
    MT_REQUIRE(text);
    char want[256], got[256];
    snprintf(want, sizeof want, "%s  -           dead-name                           5",
             hx(d).s);
    MT_CHECK(line_of(text, hx(d).s, got, sizeof got) && strcmp(got, want) == 0);
    free(text);
    MT_KR(mach_port_destroy(TASK, d), KERN_SUCCESS);
}

MT_TEST(kernel_object_ports_are_named_by_kind)
{
    semaphore_t sem = MACH_PORT_NULL;
    MT_KR(semaphore_create(TASK, &sem, SYNC_POLICY_FIFO, 3), KERN_SUCCESS);
    mach_port_name_t timer = mk_timer_create();
    mach_port_name_t armed = mk_timer_create();
    MT_REQUIRE(MACH_PORT_VALID(timer) && MACH_PORT_VALID(armed));
    MT_KR(mk_timer_arm(armed, mach_absolute_time() + 3600ull * 1000000000ull), KERN_SUCCESS);
    mach_port_name_t host = mach_host_self();
    mach_port_name_t thread = mach_thread_self();
    mach_port_name_t requestor = receive_right();
    MT_KR(mach_port_insert_right(TASK, requestor, requestor, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    mach_port_name_t subset = MACH_PORT_NULL;
    MT_KR(bootstrap_subset(bootstrap_port, requestor, &subset), KERN_SUCCESS);
    memory_object_size_t esize = 2 * vm_page_size;
    mach_port_t entry = MACH_PORT_NULL, copy_entry = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &esize, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT,
                                    &entry, MACH_PORT_NULL),
          KERN_SUCCESS);
    char page[4096] __attribute__((aligned(4096))) = {0};
    esize = sizeof page;
    MT_KR(mach_make_memory_entry_64(TASK, &esize, (memory_object_offset_t)(uintptr_t)page,
                                    VM_PROT_READ | MAP_MEM_VM_COPY, &copy_entry, MACH_PORT_NULL),
          KERN_SUCCESS);

    char *text = lsmp_now();
    MT_REQUIRE(text);
    const char *send_fmt = "%s  %s  send        ------  ----            %u                      "
                           "                                           %s";
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, sem, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    EXPECT_ROW(text, sem, send_fmt, refs, "SEMAPHORE (count 3)");
    MT_KR(mach_port_get_refs(TASK, host, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    EXPECT_ROW(text, host, send_fmt, refs, "HOST");
    MT_KR(mach_port_get_refs(TASK, thread, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    EXPECT_ROW(text, thread, send_fmt, refs, "THREAD");
    MT_KR(mach_port_get_refs(TASK, bootstrap_port, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    EXPECT_ROW(text, bootstrap_port, send_fmt, refs, "BOOTSTRAP (root)");
    EXPECT_ROW(text, subset, send_fmt, 1u, "BOOTSTRAP (subset)");
    char what[64];
    snprintf(what, sizeof what, "MEMORY-ENTRY (%llu bytes)", 2ull * vm_page_size);
    EXPECT_ROW(text, entry, send_fmt, 1u, what);
    snprintf(what, sizeof what, "MEMORY-ENTRY (%llu bytes, copy)", 1ull * vm_page_size);
    EXPECT_ROW(text, copy_entry, send_fmt, 1u, what);
    /* A timer is a receive right of the task (immovable). */
    const char *timer_fmt = "%s  %s  recv        ----M-  ----     1             0        0     "
                            "   0       5         0  0x0000000000000000  TIMER (%s)";
    EXPECT_ROW(text, timer, timer_fmt, "not armed");
    EXPECT_ROW(text, armed, timer_fmt, "armed");
    free(text);

    MT_KR(mach_port_deallocate(TASK, copy_entry), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, entry), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, subset), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, requestor), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    MT_KR(mk_timer_destroy(armed), KERN_SUCCESS);
    MT_KR(mk_timer_destroy(timer), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, sem), KERN_SUCCESS);
}

MT_TEST(port_flags_show_tempowner_guard_strict_importance_and_immovable)
{
    mach_port_options_t opts = {.flags = MPO_CONTEXT_AS_GUARD | MPO_STRICT | MPO_TEMPOWNER |
                                         MPO_IMMOVABLE_RECEIVE};
    mach_port_name_t p = MACH_PORT_NULL;
    MT_KR(mach_port_construct(TASK, &opts, 0x5eedull, &p), KERN_SUCCESS);
    char *text = lsmp_now();
    MT_REQUIRE(text);
    EXPECT_ROW(text, p,
               "%s  %s  recv        TGSIM-  ----     1             0        0        0       5  "
               "       0  0x0000000000005eed%s",
               "");
    free(text);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x5eedull), KERN_SUCCESS);
}

MT_TEST(the_totals_line_counts_every_name_by_right)
{
    mach_port_name_t r = receive_right();
    mach_port_name_t d = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nnames = 0, ntypes = 0;
    MT_KR(mach_port_names(TASK, &names, &nnames, &types, &ntypes), KERN_SUCCESS);
    unsigned recv = 0, send = 0, sonce = 0, pset = 0, dead = 0;
    for (mach_msg_type_number_t i = 0; i < ntypes; i++) {
        recv += (types[i] & MACH_PORT_TYPE_RECEIVE) != 0;
        send += (types[i] & MACH_PORT_TYPE_SEND) != 0;
        sonce += (types[i] & MACH_PORT_TYPE_SEND_ONCE) != 0;
        pset += (types[i] & MACH_PORT_TYPE_PORT_SET) != 0;
        dead += (types[i] & MACH_PORT_TYPE_DEAD_NAME) != 0;
    }
    vm_deallocate(TASK, (vm_address_t)names, nnames * sizeof *names);
    vm_deallocate(TASK, (vm_address_t)types, ntypes * sizeof *types);
    char *text = lsmp_now();
    MT_REQUIRE(text);
    char want[256];
    snprintf(want, sizeof want,
             "Total: %u names: %u receive, %u send, %u send-once, %u port-set, %u dead-name; 0 "
             "messages queued\n",
             (unsigned)nnames, recv, send, sonce, pset, dead);
    const char *last = strstr(text, "\nTotal: ");
    MT_CHECK(last && strcmp(last + 1, want) == 0);
    if (last && strcmp(last + 1, want) != 0)
        fprintf(stderr, "    got  %s    want %s", last + 1, want);
    free(text);
    MT_KR(mach_port_destroy(TASK, d), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, r), KERN_SUCCESS);
}

static int cmp_name(const void *a, const void *b)
{
    mach_port_name_t x = *(const mach_port_name_t *)a, y = *(const mach_port_name_t *)b;
    return x < y ? -1 : x > y;
}

MT_TEST(thousands_of_names_all_appear)
{
    enum { N = 3000 };
    static mach_port_name_t ports[N];
    for (int i = 0; i < N; i++)
        ports[i] = receive_right();
    char *text = lsmp_now();
    MT_REQUIRE(text);
    /* One pass over the rows (a search per name would be quadratic): each row's name is
     * looked up among the ports made. */
    static mach_port_name_t sorted[N];
    static bool seen[N];
    memcpy(sorted, ports, sizeof sorted);
    memset(seen, 0, sizeof seen);
    qsort(sorted, N, sizeof sorted[0], cmp_name);
    int found = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "0x", 2) != 0)
            continue;
        mach_port_name_t name = (mach_port_name_t)strtoul(p, NULL, 16);
        mach_port_name_t *hit = bsearch(&name, sorted, N, sizeof sorted[0], cmp_name);
        if (hit && !seen[hit - sorted]) {
            seen[hit - sorted] = true;
            found++;
        }
    }
    MT_EQ(found, N);
    free(text);
    for (int i = 0; i < N; i++)
        MT_KR(mach_port_mod_refs(TASK, ports[i], MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(another_task_argument_or_no_out_pointer_is_refused)
{
    char *text = (char *)1;
    MT_KR(umach_lsmp(MACH_PORT_NULL, &text, NULL), MACH_SEND_INVALID_DEST);
    MT_CHECK(text == NULL);
    mach_port_name_t r = receive_right();
    text = (char *)1;
    MT_KR(umach_lsmp(r, &text, NULL), MACH_SEND_INVALID_DEST);
    MT_CHECK(text == NULL);
    MT_KR(mach_port_destroy(TASK, r), KERN_SUCCESS);
    MT_KR(umach_lsmp(TASK, NULL, NULL), KERN_INVALID_ARGUMENT);
    MT_KR(umach_lsmp_print(TASK, NULL), KERN_INVALID_ARGUMENT);
    MT_KR(umach_lsmp_print(MACH_PORT_NULL, stdout), MACH_SEND_INVALID_DEST);
}

MT_TEST(print_writes_the_same_text_and_reports_a_failed_write)
{
    FILE *f = tmpfile();
    MT_REQUIRE(f);
    MT_KR(umach_lsmp_print(TASK, f), KERN_SUCCESS);
    char *text = lsmp_now();
    long size = ftell(f);
    MT_CHECK(text && size == (long)strlen(text));
    char *back = calloc(1, (size_t)size + 1);
    rewind(f);
    MT_CHECK(back && fread(back, 1, (size_t)size, f) == (size_t)size);
    MT_CHECK(back && text && strcmp(back, text) == 0);
    free(back);
    free(text);
    fclose(f);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        MT_KR(umach_lsmp_print(TASK, full), KERN_FAILURE);
        fclose(full);
    }
}

MT_MAIN()
