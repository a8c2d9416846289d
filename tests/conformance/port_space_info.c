/*
 * port_space_info.c — mach_port_space_info lists the task's name table as lsmp reads it:
 * every name mach_port_names reports, with the same type, the send urefs, an object tag
 * shared by names of one port, and an out-of-line table the caller frees with vm_deallocate.
 */
#include "notify_util.h"

typedef struct space_dump {
    ipc_info_space_t info;
    ipc_info_name_array_t table;
    mach_msg_type_number_t count;
} space_dump;

static kern_return_t dump(space_dump *d)
{
    ipc_info_tree_name_array_t tree = NULL;
    mach_msg_type_number_t ntree = 0;
    kern_return_t kr = mach_port_space_info(TASK, &d->info, &d->table, &d->count, &tree, &ntree);
    if (kr == KERN_SUCCESS && ntree)
        (void)vm_deallocate(TASK, (vm_address_t)tree, ntree * sizeof *tree);
    return kr;
}

static void undump(space_dump *d)
{
    (void)vm_deallocate(TASK, (vm_address_t)d->table, d->count * sizeof *d->table);
}

static const ipc_info_name_t *find(const space_dump *d, mach_port_name_t name)
{
    for (mach_msg_type_number_t i = 0; i < d->count; i++)
        if (d->table[i].iin_name == name)
            return &d->table[i];
    return NULL;
}

MT_TEST(space_info_reports_no_collisions)
{
    /* The name table is indexed by name: no entry is a collision (iin_collision 0). */
    space_dump d;
    MT_KR(dump(&d), KERN_SUCCESS);
    for (mach_msg_type_number_t i = 0; i < d.count; i++)
        MT_EQ(d.table[i].iin_collision, 0);
    undump(&d);
}

MT_TEST(space_info_lists_every_name_with_its_type)
{
    NU_BEGIN();
    mach_port_t r = nu_port(), rs = nu_port_with_send();
    MT_KR(mach_port_mod_refs(TASK, rs, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    space_dump d;
    MT_KR(dump(&d), KERN_SUCCESS);
    MT_CHECK(d.info.iis_genno_mask != 0);
    MT_EQ(d.count, d.info.iis_table_size);

    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    MT_KR(mach_port_names(TASK, &names, &nn, &types, &nt), KERN_SUCCESS);
    for (mach_msg_type_number_t i = 0; i < nn; i++) {
        const ipc_info_name_t *in = find(&d, names[i]);
        MT_CHECK(in != NULL);
        if (in)
            MT_EQ(in->iin_type, types[i]);
    }
    (void)vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types);

    const ipc_info_name_t *in = find(&d, rs);
    MT_REQUIRE(in != NULL);
    MT_EQ(in->iin_type & MACH_PORT_TYPE_ALL_RIGHTS, MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(in->iin_urefs, 3);
    MT_CHECK(in->iin_object != 0);
    in = find(&d, r);
    MT_REQUIRE(in != NULL);
    MT_EQ(in->iin_type & MACH_PORT_TYPE_ALL_RIGHTS, MACH_PORT_TYPE_RECEIVE);
    undump(&d);
    nu_kill(r);
    nu_kill(rs);
    NU_END();
}

MT_TEST(space_info_shows_one_object_for_two_names_of_one_port)
{
    NU_BEGIN();
    mach_port_t r = nu_port(), so = nu_send_once(r);
    space_dump d;
    MT_KR(dump(&d), KERN_SUCCESS);
    const ipc_info_name_t *a = find(&d, r), *b = find(&d, so);
    MT_REQUIRE(a && b);
    MT_EQ(a->iin_object, b->iin_object);
    MT_EQ(b->iin_type & MACH_PORT_TYPE_ALL_RIGHTS, MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(b->iin_urefs, 1);
    undump(&d);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 1000), MACH_MSG_SUCCESS);
    nu_kill(r);
    NU_END();
}

MT_TEST(space_info_of_a_name_that_is_not_a_task_fails_like_a_mig_call)
{
    space_dump d;
    ipc_info_tree_name_array_t tree;
    mach_msg_type_number_t ntree;
    MT_KR(mach_port_space_info(MACH_PORT_NULL, &d.info, &d.table, &d.count, &tree, &ntree),
          MACH_SEND_INVALID_DEST);
}

MT_MAIN()
