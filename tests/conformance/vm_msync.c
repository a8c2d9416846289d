/*
 * vm_msync.c — mach_vm_msync and vm_msync on the task's own memory, as XNU's vm_map_msync:
 * both SYNCHRONOUS and ASYNCHRONOUS is KERN_INVALID_ARGUMENT (a size of zero succeeds first),
 * a range that wraps KERN_INVALID_ADDRESS (vm_sanitize's rewrite for msync), a hole in the
 * range KERN_INVALID_ADDRESS with VM_SYNC_CONTIGUOUS and no error without; memory keeps its
 * bytes through a sync; the routine sent by hand (4809) answers as the call.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>

#include <stdint.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

MT_TEST(a_sync_keeps_the_bytes_and_holes_matter_only_when_contiguous)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[1] = 5;
    MT_KR(mach_vm_msync(TASK, a, 3 * PG, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
    MT_KR(vm_msync(TASK, (vm_address_t)a, (vm_size_t)PG, VM_SYNC_ASYNCHRONOUS | VM_SYNC_INVALIDATE),
          KERN_SUCCESS);
    MT_KR(mach_vm_msync(TASK, a, PG, VM_SYNC_DEACTIVATE), KERN_SUCCESS);
    MT_EQ(B(a)[1], 5);
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    MT_KR(mach_vm_msync(TASK, a, 3 * PG, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
    MT_KR(mach_vm_msync(TASK, a, 3 * PG, VM_SYNC_SYNCHRONOUS | VM_SYNC_CONTIGUOUS),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_msync(TASK, a, 3 * PG, VM_SYNC_KILLPAGES | VM_SYNC_CONTIGUOUS),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_msync(TASK, a + 2 * PG, PG, VM_SYNC_KILLPAGES), KERN_SUCCESS);
    B(a + 2 * PG)[0] = 1; /* still mapped */
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(bad_flags_and_wrapping_ranges_get_xnus_codes)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_msync(TASK, a, PG, VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_msync(TASK, a, 0, VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS), KERN_SUCCESS);
    MT_KR(mach_vm_msync(TASK, a, UINT64_MAX, VM_SYNC_SYNCHRONOUS), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_msync(TASK, UINT64_MAX - 10, 5, VM_SYNC_SYNCHRONOUS), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_TEST(msync_sent_by_hand_to_the_task_port_answers_as_the_call)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    vmu_reply r;
    MT_KR(vmu_range_rpc(4809, a, PG, VM_SYNC_SYNCHRONOUS, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4909);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    MT_KR(vmu_range_rpc(4809, a, PG, VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_MAIN()
