/*
 * vm_purgable.c — mach_vm_purgable_control and vm_purgable_control on the task's own memory,
 * as XNU's vm_map_purgable_control: memory from vm_allocate(VM_FLAGS_PURGABLE) is a purgeable
 * object, non-volatile at first; SET_STATE returns the state it replaces, GET_STATE reads it,
 * EMPTY discards the bytes (they read as zeros) and a volatile object once emptied stays
 * empty; VM_PURGABLE_PURGE_ALL empties every volatile object. Ordinary memory is not
 * purgeable (KERN_INVALID_ARGUMENT), nor is SET_STATE_FROM_KERNEL from user space; a state
 * with unknown bits is KERN_INVALID_ARGUMENT, an address with nothing mapped
 * KERN_INVALID_ADDRESS, setting the state of read-only memory KERN_PROTECTION_FAILURE. The
 * routine sent by hand (4818) answers as the call.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>
#include <mach/vm_purgable.h>

#include <stdint.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

static int state_of(mach_vm_address_t a)
{
    int state = -1;
    if (mach_vm_purgable_control(TASK, a, VM_PURGABLE_GET_STATE, &state) != KERN_SUCCESS)
        return -2;
    return state;
}

MT_TEST(a_purgeable_allocation_keeps_its_state_and_empty_discards_its_bytes)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE),
          KERN_SUCCESS);
    B(a)[0] = 7;
    B(a + PG)[9] = 7;
    MT_EQ(state_of(a), VM_PURGABLE_NONVOLATILE);
    MT_EQ(state_of(a + PG + 5), VM_PURGABLE_NONVOLATILE);
    int state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_NONVOLATILE); /* the state it replaced */
    int now = state_of(a);
    MT_CHECK(now == VM_PURGABLE_VOLATILE || now == VM_PURGABLE_EMPTY);
    state = VM_PURGABLE_NONVOLATILE;
    MT_KR(vm_purgable_control(TASK, (vm_address_t)a, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_CHECK(state == VM_PURGABLE_VOLATILE || state == VM_PURGABLE_EMPTY);
    if (state == VM_PURGABLE_VOLATILE)
        MT_EQ(B(a)[0], 7); /* not emptied meanwhile: the bytes are there */
    MT_EQ(state_of(a), VM_PURGABLE_NONVOLATILE);
    B(a)[0] = 7;
    state = VM_PURGABLE_EMPTY;
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_NONVOLATILE);
    MT_EQ(state_of(a), VM_PURGABLE_EMPTY);
    /* An emptied object asked to be volatile stays empty. */
    state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_EMPTY);
    MT_EQ(state_of(a), VM_PURGABLE_EMPTY);
    state = VM_PURGABLE_NONVOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_EMPTY);
    MT_EQ(B(a)[0], 0);
    MT_EQ(B(a + PG)[9], 0);
    B(a)[0] = 3; /* usable again */
    MT_EQ(B(a)[0], 3);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

MT_TEST(purge_all_empties_volatile_objects_and_leaves_the_others)
{
    mach_vm_address_t v = 0, n = 0;
    MT_KR(mach_vm_allocate(TASK, &v, PG, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE), KERN_SUCCESS);
    MT_KR(mach_vm_allocate(TASK, &n, PG, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE), KERN_SUCCESS);
    B(v)[0] = 1;
    B(n)[0] = 2;
    int state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, v, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_KR(mach_vm_purgable_control(TASK, 0, VM_PURGABLE_PURGE_ALL, &state), KERN_SUCCESS);
    MT_EQ(state_of(v), VM_PURGABLE_EMPTY);
    MT_EQ(state_of(n), VM_PURGABLE_NONVOLATILE);
    MT_EQ(B(n)[0], 2);
    MT_KR(mach_vm_deallocate(TASK, v, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, n, PG), KERN_SUCCESS);
}

MT_TEST(ordinary_memory_bad_controls_and_bad_states_get_xnus_codes)
{
    mach_vm_address_t a = 0, p = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_allocate(TASK, &p, PG, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE), KERN_SUCCESS);
    int state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_SET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_purgable_control(TASK, a, VM_PURGABLE_GET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_purgable_control(TASK, p, VM_PURGABLE_SET_STATE_FROM_KERNEL, &state),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_purgable_control(TASK, p, 9, &state), KERN_INVALID_ARGUMENT);
    state = 0x40000000;
    MT_KR(mach_vm_purgable_control(TASK, p, VM_PURGABLE_SET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    state = VM_PURGABLE_DENY;
    MT_KR(mach_vm_purgable_control(TASK, p, VM_PURGABLE_SET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    MT_EQ(state_of(p), VM_PURGABLE_NONVOLATILE);
    MT_KR(mach_vm_protect(TASK, p, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, p, VM_PURGABLE_SET_STATE, &state),
          KERN_PROTECTION_FAILURE);
    MT_EQ(state_of(p), VM_PURGABLE_NONVOLATILE); /* reading needs no write permission */
    MT_KR(mach_vm_deallocate(TASK, p, PG), KERN_SUCCESS);
    state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_vm_purgable_control(TASK, 0x7fff000000000000ull, VM_PURGABLE_SET_STATE, &state),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_TEST(purgable_control_sent_by_hand_answers_as_the_call)
{
    mach_vm_address_t p = 0;
    MT_KR(mach_vm_allocate(TASK, &p, PG, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE), KERN_SUCCESS);
    vmu_reply r;
    vmu_args args = {.len = 0};
    vmu_64(&args, p);
    vmu_32(&args, VM_PURGABLE_SET_STATE);
    vmu_32(&args, VM_PURGABLE_VOLATILE);
    MT_KR(vmu_rpc(4818, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4918);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    int state;
    memcpy(&state, r.simple.out, 4);
    MT_EQ(state, VM_PURGABLE_NONVOLATILE);
    int now = state_of(p);
    MT_CHECK(now == VM_PURGABLE_VOLATILE || now == VM_PURGABLE_EMPTY);
    args.len = 0;
    vmu_64(&args, p);
    vmu_32(&args, VM_PURGABLE_SET_STATE_FROM_KERNEL);
    vmu_32(&args, VM_PURGABLE_VOLATILE);
    MT_KR(vmu_rpc(4818, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, p, PG), KERN_SUCCESS);
}

MT_MAIN()
