/* Guarded-port descriptors: guard checks on send, the guard applied on receipt, refusals. */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_guarded_port_descriptor_t d[2];
} gd_msg;

typedef union {
    mach_msg_header_t h;
    gd_msg m;
    uint8_t bytes[512];
} gd_rbuf;

#define GD_GUARD ((mach_port_context_t)0x6A7264)
#define GD_MASK                                                                                    \
    (MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_STRICT_GUARD |                          \
     MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE)

static void gd_set(mach_msg_guarded_port_descriptor_t *d, mach_port_name_t name,
                   mach_port_context_t ctx, mach_msg_guard_flags_t flags)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->context = ctx;
    d->flags = flags;
    d->disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    d->type = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
}

static mach_msg_return_t gd_send(gd_msg *m, unsigned n, mach_port_name_t dest,
                                 mach_msg_type_name_t ddisp, mach_port_name_t reply)
{
    return nu_send_complex(&m->h, n, 16, dest, ddisp, reply,
                           reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0, 0x4744);
}

static mach_msg_return_t gd_recv(mach_port_name_t port, gd_rbuf *r, mach_msg_option_t extra)
{
    return nu_recv_buf(port, r, sizeof *r, extra);
}

/* A receive right guarded with GD_GUARD (flags: MPO_STRICT / MPO_IMMOVABLE_RECEIVE). */
static mach_port_name_t gd_guarded(uint32_t more)
{
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = MPO_CONTEXT_AS_GUARD | more;
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &opts, GD_GUARD, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static uint32_t gd_flags(mach_port_name_t p)
{
    return nu_status(p).mps_flags & GD_MASK;
}

MT_TEST(immovable_receive_guards_the_arrival_with_the_receive_buffer_address)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = gd_guarded(0), q = nu_port();
    MT_REQUIRE(d && p && q);
    gd_msg m;
    gd_set(&m.d[0], p, GD_GUARD, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
    gd_set(&m.d[1], q, 0,
           MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE | MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    MT_KR(gd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(q), (mach_port_type_t)-1);
    static gd_rbuf r;
    MT_KR(gd_recv(d, &r, MACH_RCV_GUARDED_DESC), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t) + 2 * 16);
    mach_port_context_t buf = (mach_port_context_t)(uintptr_t)&r;
    for (unsigned i = 0; i < 2; i++) {
        const mach_msg_guarded_port_descriptor_t *g = &r.m.d[i];
        MT_EQ(g->type, MACH_MSG_GUARDED_PORT_DESCRIPTOR);
        MT_EQ(g->disposition, MACH_MSG_TYPE_PORT_RECEIVE);
        MT_EQ(g->flags, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE); /* UNGUARDED_ON_SEND cleared */
        MT_EQ(g->context, buf);
        MT_EQ(nu_type(g->name), MACH_PORT_TYPE_RECEIVE);
        MT_EQ(gd_flags(g->name),
              MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
        mach_port_context_t ctx = 0;
        MT_KR(mach_port_get_context(TASK, g->name, &ctx), KERN_SUCCESS);
        MT_EQ(ctx, buf);
        MT_KR(mach_port_destruct(TASK, g->name, 0, buf), KERN_SUCCESS);
    }
    nu_kill(d);
    NU_END();
}

MT_TEST(unguarded_on_send_alone_moves_the_right_and_it_arrives_unguarded)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send();
    MT_REQUIRE(d && p);
    gd_msg m;
    gd_rbuf r;
    gd_set(&m.d[0], p, 0, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    MT_KR(gd_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(gd_recv(d, &r, MACH_RCV_GUARDED_DESC), MACH_MSG_SUCCESS);
    MT_EQ(r.m.d[0].name, p); /* back under its send name */
    MT_EQ(r.m.d[0].flags, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    MT_EQ(r.m.d[0].context, 0);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(gd_flags(p), 0);
    nu_kill(p);
    nu_kill(d);
    NU_END();
}

MT_TEST(without_rcv_guarded_desc_the_right_is_destroyed_and_the_descriptor_emptied)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send(), q = gd_guarded(0);
    MT_REQUIRE(d && p && q);
    gd_msg m;
    gd_rbuf r;
    gd_set(&m.d[0], p, 0, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    gd_set(&m.d[1], q, GD_GUARD, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
    MT_KR(gd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(gd_recv(d, &r, 0), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t) + 2 * 16);
    for (unsigned i = 0; i < 2; i++) {
        MT_EQ(r.m.d[i].type, MACH_MSG_GUARDED_PORT_DESCRIPTOR);
        MT_EQ(r.m.d[i].name, MACH_PORT_NULL);
        MT_EQ(r.m.d[i].context, 0);
        MT_EQ(r.m.d[i].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
    }
    /* the copyin marks every moved guarded right UNGUARDED_ON_SEND; nothing clears it here */
    MT_EQ(r.m.d[0].flags, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    MT_EQ(r.m.d[1].flags,
          MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE | MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME); /* the port died with its receive right */
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(bad_guarded_descriptors_are_invalid_type_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), rp = nu_port(), p = nu_port_with_send();
    MT_REQUIRE(d && rp && p);
    const struct {
        mach_msg_type_name_t disp;
        mach_msg_guard_flags_t flags;
        mach_port_context_t ctx;
    } bad[] = {
        {MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 0},
        {MACH_MSG_TYPE_COPY_SEND, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 0},
        {MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 0},
        {MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 0},
        {MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0},
        {MACH_MSG_TYPE_MOVE_RECEIVE, 4, 0},
        {MACH_MSG_TYPE_MOVE_RECEIVE, 0x8001, 0},
        {MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 5},
        {MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_GUARD_FLAGS_MASK, 5},
    };
    gd_msg m;
    gd_rbuf r;
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gd_set(&m.d[0], p, 0, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
        gd_set(&m.d[1], p, bad[i].ctx, bad[i].flags);
        m.d[1].disposition = bad[i].disp;
        MT_KR(gd_send(&m, 2, d, MACH_MSG_TYPE_MOVE_SEND, rp), MACH_SEND_INVALID_TYPE);
    }
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_status(rp).mps_sorights, 0);
    MT_KR(gd_recv(d, &r, MACH_RCV_GUARDED_DESC), MACH_RCV_TIMED_OUT);
    nu_kill(p);
    nu_kill(rp);
    nu_kill(d);
    NU_END();
}

/*
 * The fatal cases run in a forked child (a new task: it inherits no rights), so each builds
 * its own ports there and then sends the bad descriptor.
 */
enum {
    GD_WRONG_GUARD,
    GD_UNGUARDED_ON_SEND_OF_GUARDED,
    GD_IMMOVABLE_FLAG_ON_UNGUARDED,
    GD_IMMOVABLE_IN_GUARDED_DESC,
    GD_IMMOVABLE_IN_PORT_DESC
};

static void gd_fatal_send(int which)
{
    mach_port_name_t d = nu_port_with_send();
    mach_port_name_t p = which == GD_IMMOVABLE_FLAG_ON_UNGUARDED ? nu_port()
                         : which >= GD_IMMOVABLE_IN_GUARDED_DESC ? gd_guarded(MPO_IMMOVABLE_RECEIVE)
                                                                 : gd_guarded(0);
    if (!d || !p)
        return;
    gd_msg m;
    switch (which) {
    case GD_WRONG_GUARD:
        gd_set(&m.d[0], p, GD_GUARD + 1, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
        break;
    case GD_UNGUARDED_ON_SEND_OF_GUARDED:
        gd_set(&m.d[0], p, 0, MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND);
        break;
    case GD_IMMOVABLE_FLAG_ON_UNGUARDED:
        gd_set(&m.d[0], p, 0, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
        break;
    case GD_IMMOVABLE_IN_GUARDED_DESC:
        gd_set(&m.d[0], p, GD_GUARD, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
        break;
    default: {
        struct {
            mach_msg_header_t h;
            mach_msg_body_t b;
            mach_msg_port_descriptor_t p;
        } pm;
        memset(&pm, 0, sizeof pm);
        pm.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
        pm.h.msgh_remote_port = d;
        pm.b.msgh_descriptor_count = 1;
        pm.p.name = p;
        pm.p.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
        pm.p.type = MACH_MSG_PORT_DESCRIPTOR;
        (void)mach_msg(&pm.h, MACH_SEND_MSG, sizeof pm, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
        return;
    }
    }
    (void)gd_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0);
}

MT_TEST(a_guard_that_does_not_match_the_descriptor_is_fatal)
{
    NU_BEGIN();
    NU_DIES_OF_GUARD(gd_fatal_send(GD_WRONG_GUARD), kGUARD_EXC_INCORRECT_GUARD);
    NU_DIES_OF_GUARD(gd_fatal_send(GD_UNGUARDED_ON_SEND_OF_GUARDED), kGUARD_EXC_INCORRECT_GUARD);
    NU_DIES_OF_GUARD(gd_fatal_send(GD_IMMOVABLE_FLAG_ON_UNGUARDED), kGUARD_EXC_INCORRECT_GUARD);
    NU_END();
}

MT_TEST(an_immovable_receive_right_cannot_leave_in_any_descriptor)
{
    NU_BEGIN();
    mach_port_name_t p = gd_guarded(MPO_IMMOVABLE_RECEIVE);
    MT_REQUIRE(p);
    MT_EQ(gd_flags(p),
          MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
    MT_KR(mach_port_destruct(TASK, p, 0, GD_GUARD), KERN_SUCCESS);
    NU_DIES_OF_GUARD(gd_fatal_send(GD_IMMOVABLE_IN_GUARDED_DESC), kGUARD_EXC_IMMOVABLE);
    NU_DIES_OF_GUARD(gd_fatal_send(GD_IMMOVABLE_IN_PORT_DESC), kGUARD_EXC_IMMOVABLE);
    NU_END();
}

MT_TEST(a_guarded_movable_right_in_a_plain_descriptor_loses_its_guard)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), g = gd_guarded(0), s = gd_guarded(MPO_STRICT);
    MT_REQUIRE(d && g && s);
    MT_EQ(gd_flags(s), MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_STRICT_GUARD);
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_port_descriptor_t p[2];
    } pm;
    memset(&pm, 0, sizeof pm);
    pm.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    pm.h.msgh_remote_port = d;
    pm.b.msgh_descriptor_count = 2;
    pm.p[0].name = g;
    pm.p[1].name = s;
    for (unsigned i = 0; i < 2; i++) {
        pm.p[i].disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
        pm.p[i].type = MACH_MSG_PORT_DESCRIPTOR;
    }
    MT_KR(mach_msg(&pm.h, MACH_SEND_MSG, sizeof pm, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    gd_rbuf r;
    MT_KR(gd_recv(d, &r, 0), MACH_MSG_SUCCESS);
    const mach_msg_port_descriptor_t *got =
        (const mach_msg_port_descriptor_t *)(const void *)(r.bytes + sizeof(mach_msg_base_t));
    for (unsigned i = 0; i < 2; i++) {
        mach_port_name_t n = got[i].name;
        MT_EQ(got[i].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
        MT_EQ(nu_type(n), MACH_PORT_TYPE_RECEIVE);
        MT_EQ(gd_flags(n), 0);
        mach_port_context_t ctx = 1;
        MT_KR(mach_port_get_context(TASK, n, &ctx), KERN_SUCCESS);
        MT_EQ(ctx, 0);
        MT_KR(mach_port_mod_refs(TASK, n, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    nu_kill(d);
    NU_END();
}

MT_MAIN()
