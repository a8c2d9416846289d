/*
 * vm_mig.c — mach_vm.defs routines sent by hand with mach_msg to our own task port, as a
 * program's own MIG user stubs send them, are served by the kernel with MIG's replies, as on
 * Darwin: mach_vm_allocate (4800), _deallocate (4801), _protect (4802), _read (4804, its data
 * out of line in the reply), _read_list (4805), _write (4806, its data out of line in the
 * request, consumed once), _copy (4807), _read_overwrite (4808) and _region (4816, the object
 * name a port descriptor), mach_make_memory_entry (4817; vm_map.defs' mach_make_memory_entry_64,
 * 3825, has its layout: the parent a port descriptor in the request, the entry one in the
 * reply). A misshapen request is MIG_BAD_ARGUMENTS, an out-of-line size that is not the count
 * MIG_TYPE_ERROR; a routine's error is a mig_reply_error_t.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/memory_object_types.h>
#include <mach/mig_errors.h>
#include <mach/vm_region.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint8_t args[VM_MAP_ENTRY_MAX * 16 + 4];
} vmm_req;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t data;
    NDR_record_t ndr;
    mach_vm_address_t address;
    mach_msg_type_number_t count;
} vmm_write_req;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t parent;
    NDR_record_t ndr;
    memory_object_size_t size;
    memory_object_offset_t offset;
    vm_prot_t permission;
} vmm_entry_req;
typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    struct {
        mach_msg_header_t head;
        NDR_record_t ndr;
        kern_return_t ret;
        uint8_t out[VM_MAP_ENTRY_MAX * 16];
    } simple;
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_ool_descriptor_t data;
        NDR_record_t ndr;
        mach_msg_type_number_t count;
    } read;
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t object;
        NDR_record_t ndr;
        mach_vm_address_t address;
        mach_vm_size_t size;
        mach_msg_type_number_t count;
        int info[VM_REGION_INFO_MAX];
    } region;
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t entry;
        NDR_record_t ndr;
        memory_object_size_t size;
    } entry;
    uint8_t bytes[8192];
} vmm_reply;
#pragma pack(pop)

/* A request's in-line arguments, packed as MIG packs them. */
typedef struct {
    uint8_t bytes[VM_MAP_ENTRY_MAX * 16 + 4];
    mach_msg_size_t len;
} vmm_args;

static void a64(vmm_args *a, uint64_t v)
{
    memcpy(a->bytes + a->len, &v, 8);
    a->len += 8;
}

static void a32(vmm_args *a, uint32_t v)
{
    memcpy(a->bytes + a->len, &v, 4);
    a->len += 4;
}

/* Receive the reply on `reply` (10 s at most). */
static mach_msg_return_t vmm_receive(mach_port_t reply, vmm_reply *r)
{
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

/* Send our task port the simple request `id` with `a`'s arguments and a `disp` right to
 * `reply`. */
static mach_msg_return_t vmm_send(mach_port_t reply, mach_msg_type_name_t disp, mach_msg_id_t id,
                                  const vmm_args *a)
{
    vmm_req req;
    memset(&req, 0, sizeof req);
    mach_msg_size_t size = (mach_msg_size_t)(offsetof(vmm_req, args) + a->len);
    req.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, disp, 0, 0);
    req.head.msgh_size = size;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    memcpy(req.args, a->bytes, a->len);
    return mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 10000,
                    MACH_PORT_NULL);
}

/* vmm_send with a send-once right to `reply`, and receive the answer. */
static mach_msg_return_t vmm_rpc(mach_port_t reply, mach_msg_id_t id, const vmm_args *a,
                                 vmm_reply *r)
{
    mach_msg_return_t mr = vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, id, a);
    return mr != MACH_MSG_SUCCESS ? mr : vmm_receive(reply, r);
}

/* mach_vm_write's request: `size` bytes at `data` out of line (moved with `dealloc`), the
 * count `count`. */
static mach_msg_return_t vmm_write(mach_port_t reply, mach_vm_address_t address,
                                   const void *data, mach_msg_size_t size, bool dealloc,
                                   mach_msg_type_number_t count, vmm_reply *r)
{
    vmm_write_req req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND,
                                            MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0) |
                         MACH_MSGH_BITS_COMPLEX;
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = 4806;
    req.body.msgh_descriptor_count = 1;
    req.data.address = (void *)(uintptr_t)data;
    req.data.size = size;
    req.data.deallocate = dealloc;
    req.data.copy = MACH_MSG_VIRTUAL_COPY;
    req.data.type = MACH_MSG_OOL_DESCRIPTOR;
    req.ndr = NDR_record;
    req.address = address;
    req.count = count;
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req,
                                    0, MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    return mr != MACH_MSG_SUCCESS ? mr : vmm_receive(reply, r);
}

/* A reply's RetCode: an error reply's, or a simple reply's. */
#define VMM_ERROR_SIZE ((mach_msg_size_t)sizeof(mig_reply_error_t))

static uint64_t out64(const vmm_reply *r)
{
    uint64_t v;
    memcpy(&v, r->simple.out, 8);
    return v;
}

/*
 * Are the `n` bytes `was` no longer at `addr`? After a deallocation the range is a hole, or
 * holds whatever another thread mapped there since (a sanitizer's runtime maps memory at any
 * time, and the most recently freed range is where the kernel puts it first): never `was`.
 */
static bool vmm_gone(mach_vm_address_t addr, const void *was, size_t n)
{
    uint8_t now[64];
    mach_vm_size_t got = 0;
    if (n > sizeof now)
        n = sizeof now;
    return mach_vm_read_overwrite(TASK, addr, n, (mach_vm_address_t)(uintptr_t)now, &got) !=
               KERN_SUCCESS ||
           memcmp(now, was, n) != 0;
}

MT_TEST(allocate_write_read_and_deallocate_by_message_act_on_our_memory)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    vmm_args a = {.len = 0};
    mach_vm_size_t size = 3 * vm_page_size;
    a64(&a, 0);
    a64(&a, size);
    a32(&a, VM_FLAGS_ANYWHERE);
    MT_KR(vmm_rpc(reply, 4800, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4900);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 8);
    MT_CHECK(nu_ndr_ok(&r.simple.ndr));
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    mach_vm_address_t addr = out64(&r);
    MT_CHECK(addr != 0 && (addr & vm_page_mask) == 0);
    uint8_t *p = (uint8_t *)(uintptr_t)addr;
    MT_EQ(p[0], 0);
    p[size - 1] = 7; /* ours, writable */

    /* Write: the data travels out of line; a copy stays the sender's. */
    char text[] = "written by a hand-made mach_vm_write";
    MT_KR(vmm_write(reply, addr + 100, text, sizeof text, false, sizeof text, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4906);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_CHECK(memcmp(p + 100, text, sizeof text) == 0);
    MT_CHECK(strcmp(text, "written by a hand-made mach_vm_write") == 0);

    /* Read: the reply carries a copy out of line, ours to deallocate. */
    a.len = 0;
    a64(&a, addr + 100);
    a64(&a, sizeof text);
    MT_KR(vmm_rpc(reply, 4804, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4904);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.head.msgh_size, sizeof r.read);
    MT_EQ(r.read.body.msgh_descriptor_count, 1);
    MT_EQ(r.read.data.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_EQ(r.read.data.size, sizeof text);
    MT_EQ(r.read.count, sizeof text);
    MT_CHECK(nu_ndr_ok(&r.read.ndr));
    MT_CHECK(r.read.data.address != NULL);
    MT_CHECK(memcmp(r.read.data.address, text, sizeof text) == 0);
    p[100] = 'W'; /* a copy: the reply's data does not change */
    MT_EQ(((char *)r.read.data.address)[0], 'w');
    MT_KR(mach_vm_deallocate(TASK, (mach_vm_address_t)(uintptr_t)r.read.data.address,
                             r.read.data.size),
          KERN_SUCCESS);

    /* Deallocate: the range is gone. */
    a.len = 0;
    a64(&a, addr);
    a64(&a, size);
    MT_KR(vmm_rpc(reply, 4801, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4901);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_CHECK(vmm_gone(addr + 101, text + 1, sizeof text - 1));
    nu_kill(reply);
    NU_END();
}

MT_TEST(a_write_whose_data_moves_consumes_it_once_and_the_count_must_be_its_size)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    mach_vm_address_t dst = 0, src = 0;
    MT_KR(mach_vm_allocate(TASK, &dst, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_allocate(TASK, &src, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)(uintptr_t)src, 'm', vm_page_size);
    MT_KR(vmm_write(reply, dst, (void *)(uintptr_t)src, (mach_msg_size_t)vm_page_size, true,
                    (mach_msg_type_number_t)vm_page_size, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(((uint8_t *)(uintptr_t)dst)[vm_page_size - 1], 'm');
    /* The moved source left our memory with the request. */
    const char was_m[] = "mmmm", was_n[] = "nnnn";
    MT_CHECK(vmm_gone(src, was_m, 4));

    /* A descriptor whose size is not the count: MIG_TYPE_ERROR, the data released. */
    MT_KR(mach_vm_allocate(TASK, &src, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)(uintptr_t)src, 'n', vm_page_size);
    MT_KR(vmm_write(reply, dst, (void *)(uintptr_t)src, (mach_msg_size_t)vm_page_size, true, 5,
                    &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, MIG_TYPE_ERROR);
    MT_CHECK(vmm_gone(src, was_n, 4));

    /* A destination that is not ours to write (page one, never mapped): the call's error,
     * the source kept (a copy). */
    char small[] = "x";
    mach_vm_address_t page1 = vm_page_size;
    MT_KR(vmm_write(reply, page1, small, sizeof small, false, sizeof small, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    kern_return_t want = mach_vm_write(TASK, page1, (vm_offset_t)small, sizeof small);
    MT_CHECK(want != KERN_SUCCESS);
    MT_EQ(r.error.RetCode, want);
    MT_EQ(small[0], 'x');
    MT_KR(mach_vm_deallocate(TASK, dst, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_TEST(protect_copy_read_overwrite_and_read_list_by_message_answer_as_the_calls)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    vmm_args a = {.len = 0};
    mach_vm_address_t buf = 0;
    MT_KR(mach_vm_allocate(TASK, &buf, 4 * vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    uint8_t *p = (uint8_t *)(uintptr_t)buf;
    memcpy(p, "source bytes", 13);

    /* mach_vm_copy: source, size, destination. */
    a64(&a, buf);
    a64(&a, 13);
    a64(&a, buf + vm_page_size);
    MT_KR(vmm_rpc(reply, 4807, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4907);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_CHECK(memcmp(p + vm_page_size, "source bytes", 13) == 0);

    /* mach_vm_read_overwrite: the size read comes back. */
    a.len = 0;
    a64(&a, buf);
    a64(&a, 6);
    a64(&a, buf + 2 * vm_page_size);
    MT_KR(vmm_rpc(reply, 4808, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 8);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(out64(&r), 6);
    MT_CHECK(memcmp(p + 2 * vm_page_size, "source", 6) == 0);

    /* mach_vm_read_list: the whole array travels back, each entry a copy of ours. */
    a.len = 0;
    struct mach_vm_read_entry list[VM_MAP_ENTRY_MAX];
    memset(list, 0, sizeof list);
    list[0].address = buf;
    list[0].size = 13;
    memcpy(a.bytes, list, sizeof list);
    a.len = sizeof list;
    a32(&a, 1);
    MT_KR(vmm_rpc(reply, 4805, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4905);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + sizeof list);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    struct mach_vm_read_entry back;
    memcpy(&back, r.simple.out, sizeof back);
    MT_EQ(back.size, 13);
    MT_CHECK(back.address != buf && back.address != 0);
    MT_CHECK(memcmp((void *)(uintptr_t)back.address, "source bytes", 13) == 0);
    MT_KR(mach_vm_deallocate(TASK, back.address, back.size), KERN_SUCCESS);

    /* mach_vm_protect: the last page read-only, as vm_region then says. */
    a.len = 0;
    a64(&a, buf + 3 * vm_page_size);
    a64(&a, vm_page_size);
    a32(&a, FALSE);
    a32(&a, VM_PROT_READ);
    MT_KR(vmm_rpc(reply, 4802, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4902);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    mach_vm_address_t at = buf + 3 * vm_page_size;
    mach_vm_size_t rsize = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t cnt = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object = MACH_PORT_NULL;
    MT_KR(mach_vm_region(TASK, &at, &rsize, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                         &cnt, &object),
          KERN_SUCCESS);
    MT_EQ(at, buf + 3 * vm_page_size);
    MT_EQ(info.protection, VM_PROT_READ);

    /* A copy into the read-only page: the call's error, in a mig_reply_error_t. */
    a.len = 0;
    a64(&a, buf);
    a64(&a, 13);
    a64(&a, buf + 3 * vm_page_size);
    MT_KR(vmm_rpc(reply, 4807, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    kern_return_t want = mach_vm_copy(TASK, buf, 13, buf + 3 * vm_page_size);
    MT_CHECK(want != KERN_SUCCESS);
    MT_EQ(r.error.RetCode, want);
    MT_KR(mach_vm_deallocate(TASK, buf, 4 * vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_TEST(region_by_message_answers_the_call_with_a_null_object_name_descriptor)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    /* Two pages between read-only ones: one region that no other thread's mapping can join
     * (a neighbour with the same protection would make one region with it, which may grow or
     * shrink between the two questions). */
    mach_vm_address_t mem = 0, buf;
    MT_KR(mach_vm_allocate(TASK, &mem, 4 * vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, mem, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, mem + 3 * vm_page_size, vm_page_size, FALSE, VM_PROT_READ),
          KERN_SUCCESS);
    buf = mem + vm_page_size;
    vmm_args a = {.len = 0};
    a64(&a, buf);
    a32(&a, VM_REGION_BASIC_INFO_64);
    a32(&a, VM_REGION_BASIC_INFO_COUNT_64);
    MT_KR(vmm_rpc(reply, 4816, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4916);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.head.msgh_size,
          offsetof(__typeof__(r.region), info) + 4 * VM_REGION_BASIC_INFO_COUNT_64);
    MT_EQ(r.region.body.msgh_descriptor_count, 1);
    MT_EQ(r.region.object.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(r.region.object.name, MACH_PORT_NULL);
    MT_CHECK(nu_ndr_ok(&r.region.ndr));
    MT_EQ(r.region.count, VM_REGION_BASIC_INFO_COUNT_64);
    mach_vm_address_t at = buf;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info, got;
    mach_msg_type_number_t cnt = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object = MACH_PORT_NULL;
    MT_KR(mach_vm_region(TASK, &at, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                         &cnt, &object),
          KERN_SUCCESS);
    MT_EQ(at, buf);
    MT_EQ(size, 2 * vm_page_size);
    MT_EQ(r.region.address, at);
    MT_EQ(r.region.size, size);
    memcpy(&got, r.region.info, sizeof got);
    MT_EQ(got.protection, info.protection);
    MT_EQ(got.max_protection, info.max_protection);
    MT_EQ(got.inheritance, info.inheritance);
    /* A count too small for the flavour: the routine's KERN_INVALID_ARGUMENT. */
    a.len = 0;
    a64(&a, buf);
    a32(&a, VM_REGION_BASIC_INFO_64);
    a32(&a, 2);
    MT_KR(vmm_rpc(reply, 4816, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, mem, 4 * vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_TEST(a_misshapen_vm_request_is_mig_bad_arguments_and_a_routine_error_a_mig_error_reply)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    vmm_args a = {.len = 0};
    /* mach_vm_allocate with its flags missing. */
    a64(&a, 0);
    a64(&a, vm_page_size);
    MT_KR(vmm_rpc(reply, 4800, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4900);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    /* Flags no allocation takes. */
    a32(&a, VM_FLAGS_RETURN_DATA_ADDR);
    MT_KR(vmm_rpc(reply, 4800, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    /* A read of a page with no access: the copy-in's fault (a page with no access rather than a
     * freed one, which another thread may map again meanwhile). */
    mach_vm_address_t hole = 0;
    MT_KR(mach_vm_allocate(TASK, &hole, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, hole, vm_page_size, FALSE, VM_PROT_NONE), KERN_SUCCESS);
    a.len = 0;
    a64(&a, hole);
    a64(&a, 16);
    MT_KR(vmm_rpc(reply, 4804, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4904);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_deallocate(TASK, hole, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}


/*
 * mach_make_memory_entry's request `id` (4817 or 3825) for `size` bytes at `offset` with
 * `permission`, the parent `parent` copied (MACH_PORT_NULL: none); the answer in `r`.
 */
static mach_msg_return_t vmm_entry(mach_port_t reply, mach_msg_id_t id,
                                   memory_object_size_t size, memory_object_offset_t offset,
                                   vm_prot_t permission, mach_port_t parent, vmm_reply *r)
{
    vmm_entry_req req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND,
                                            MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0) |
                         MACH_MSGH_BITS_COMPLEX;
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.body.msgh_descriptor_count = 1;
    req.parent.name = parent;
    req.parent.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.parent.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    req.size = size;
    req.offset = offset;
    req.permission = permission;
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req,
                                    0, MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    return mr != MACH_MSG_SUCCESS ? mr : vmm_receive(reply, r);
}

/* Is `r` request `id`'s successful reply, an entry of `size` bytes (a send right we now hold)
 * or none? */
static bool vmm_entry_reply_ok(const vmm_reply *r, mach_msg_id_t id, memory_object_size_t size,
                               bool has_entry)
{
    mach_port_type_t type = 0;
    return r->head.msgh_id == id + 100 && (r->head.msgh_bits & MACH_MSGH_BITS_COMPLEX) &&
           r->head.msgh_size == sizeof r->entry && r->entry.body.msgh_descriptor_count == 1 &&
           r->entry.entry.type == MACH_MSG_PORT_DESCRIPTOR &&
           r->entry.entry.disposition == MACH_MSG_TYPE_MOVE_SEND && nu_ndr_ok(&r->entry.ndr) &&
           r->entry.size == size &&
           (has_entry ? mach_port_type(TASK, r->entry.entry.name, &type) == KERN_SUCCESS &&
                            type == MACH_PORT_TYPE_SEND
                      : r->entry.entry.name == MACH_PORT_NULL);
}

/* Map all `size` bytes of the entry `e` shared, anywhere; 0 if it cannot be mapped. */
static mach_vm_address_t vmm_map_entry(mach_port_t e, mach_vm_size_t size, vm_prot_t prot)
{
    mach_vm_address_t at = 0;
    if (mach_vm_map(TASK, &at, size, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, prot, prot,
                    VM_INHERIT_DEFAULT) != KERN_SUCCESS)
        return 0;
    return at;
}

MT_TEST(make_memory_entry_by_message_replies_the_entry_as_a_port_descriptor)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    const mach_vm_size_t pg = vm_page_size;
    /* A new entry of three pages (its size rounded up), mapped twice: one memory. */
    MT_KR(vmm_entry(reply, 4817, 2 * pg + 1, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT,
                    MACH_PORT_NULL, &r),
          MACH_MSG_SUCCESS);
    MT_CHECK(vmm_entry_reply_ok(&r, 4817, 3 * pg, true));
    mach_port_t e = r.entry.entry.name;
    mach_vm_address_t a = vmm_map_entry(e, 3 * pg, VM_PROT_DEFAULT);
    mach_vm_address_t b = vmm_map_entry(e, 3 * pg, VM_PROT_DEFAULT);
    MT_CHECK(a != 0 && b != 0 && a != b);
    memcpy((void *)(uintptr_t)(a + pg), "entry", 6);
    MT_CHECK(memcmp((void *)(uintptr_t)(b + pg), "entry", 6) == 0);
    /* A part of it read-only, the parent in the request: the parent's second page. */
    MT_KR(vmm_entry(reply, 4817, pg, pg, VM_PROT_READ, e, &r), MACH_MSG_SUCCESS);
    MT_CHECK(vmm_entry_reply_ok(&r, 4817, pg, true));
    mach_port_t sub = r.entry.entry.name;
    mach_vm_address_t c = vmm_map_entry(sub, pg, VM_PROT_READ);
    MT_CHECK(c != 0);
    MT_CHECK(memcmp((void *)(uintptr_t)c, "entry", 6) == 0);
    MT_EQ(vmm_map_entry(sub, pg, VM_PROT_DEFAULT), 0); /* no more than the entry allows */
    /* The parent's right is the request's copy: ours is as it was. */
    MT_EQ(nu_refs(e, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_vm_deallocate(TASK, c, pg), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, sub), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * pg), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, b, 3 * pg), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    /* A named creation of size 0 makes nothing and succeeds: a null descriptor. */
    MT_KR(vmm_entry(reply, 4817, 0, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT, MACH_PORT_NULL,
                    &r),
          MACH_MSG_SUCCESS);
    MT_CHECK(vmm_entry_reply_ok(&r, 4817, 0, false));
    nu_kill(reply);
    NU_END();
}

MT_TEST(make_memory_entry_64_by_message_shares_our_memory_and_checks_as_the_call)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    vmm_reply r;
    const mach_vm_size_t pg = vm_page_size;
    mach_vm_address_t mem = 0;
    MT_KR(mach_vm_allocate(TASK, &mem, 2 * pg, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memcpy((void *)(uintptr_t)(mem + pg), "ours", 5);
    /* vm_map.defs' routine: an entry for our second page, sharing it. */
    MT_KR(vmm_entry(reply, 3825, pg, mem + pg, VM_PROT_DEFAULT, MACH_PORT_NULL, &r),
          MACH_MSG_SUCCESS);
    MT_CHECK(vmm_entry_reply_ok(&r, 3825, pg, true));
    mach_port_t e = r.entry.entry.name;
    mach_vm_address_t m = vmm_map_entry(e, pg, VM_PROT_DEFAULT);
    MT_CHECK(m != 0);
    MT_CHECK(memcmp((void *)(uintptr_t)m, "ours", 5) == 0);
    memcpy((void *)(uintptr_t)m, "both", 5);
    MT_CHECK(memcmp((void *)(uintptr_t)(mem + pg), "both", 5) == 0);
    MT_KR(mach_vm_deallocate(TASK, m, pg), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    /* The routine's errors are MIG error replies: a flag no user may ask for, a share of
     * size 0, memory without the protection asked. */
    MT_KR(vmm_entry(reply, 3825, pg, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT | 0x1000,
                    MACH_PORT_NULL, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3925);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, KERN_INVALID_VALUE);
    MT_KR(vmm_entry(reply, 4817, 0, mem, VM_PROT_DEFAULT, MACH_PORT_NULL, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_protect(TASK, mem, pg, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(vmm_entry(reply, 4817, pg, mem, VM_PROT_DEFAULT, MACH_PORT_NULL, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, KERN_PROTECTION_FAILURE);
    /* Without its parent's descriptor the request is misshapen. */
    vmm_args a = {.len = 0};
    a64(&a, pg);
    a64(&a, 0);
    a32(&a, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT);
    MT_KR(vmm_rpc(reply, 4817, &a, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4917);
    MT_EQ(r.head.msgh_size, VMM_ERROR_SIZE);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    MT_KR(mach_vm_deallocate(TASK, mem, 2 * pg), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

/* A message of id 1 sent to `port` with a send right made from its receive right. */
static mach_msg_return_t send_filler(mach_port_t port)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = port;
    h.msgh_id = 1;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* The protection of the page at `a`, as mach_vm_region reports it; -1 if none. */
static int vmm_prot(mach_vm_address_t a)
{
    mach_vm_address_t at = a;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t obj = MACH_PORT_NULL;
    if (mach_vm_region(TASK, &at, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                       &count, &obj) != KERN_SUCCESS ||
        at > a)
        return -1;
    return info.protection;
}

/* vmm_send with the send options `option` (MACH_SEND_MSG added) and `timeout`. */
static mach_msg_return_t vmm_send_opt(mach_port_t reply, mach_msg_type_name_t disp,
                                      mach_msg_id_t id, const vmm_args *a,
                                      mach_msg_option_t option, mach_msg_timeout_t timeout)
{
    vmm_req req;
    memset(&req, 0, sizeof req);
    mach_msg_size_t size = (mach_msg_size_t)(offsetof(vmm_req, args) + a->len);
    req.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, disp, 0, 0);
    req.head.msgh_size = size;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    memcpy(req.args, a->bytes, a->len);
    return mach_msg(&req.head, MACH_SEND_MSG | option, size, 0, MACH_PORT_NULL, timeout,
                    MACH_PORT_NULL);
}

/* A reply port whose queue is full, with one send right (one user reference) under its
 * name: a limit of one, one message (id 1) queued; a program's send with a zero timeout does
 * not fit (its message, handed back, gives us the right it made, which we drop). */
static mach_port_t full_reply_port(void)
{
    mach_port_t reply = nu_port_with_send();
    mach_port_limits_t limits = {.mpl_qlimit = 1};
    if (reply == MACH_PORT_NULL ||
        mach_port_set_attributes(TASK, reply, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&limits,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS ||
        send_filler(reply) != MACH_MSG_SUCCESS || send_filler(reply) != MACH_SEND_TIMED_OUT)
        return MACH_PORT_NULL;
    mach_port_urefs_t refs = nu_refs(reply, MACH_PORT_RIGHT_SEND);
    if (refs > 1 && mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_SEND,
                                       -(mach_port_delta_t)(refs - 1)) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return reply;
}

/* The arguments of mach_vm_protect of one page at `addr` to `prot`. */
static void protect_args(vmm_args *a, mach_vm_address_t addr, vm_prot_t prot)
{
    a->len = 0;
    a64(a, addr);
    a64(a, vm_page_size);
    a32(a, FALSE);
    a32(a, (uint32_t)prot);
}

/*
 * The kernel sends its reply with the request's own options and timeout (XNU's
 * ipc_kmsg_send goes on with the reply "with the same options"): to a send right, the reply
 * port's queue limit holds as for any message. With MACH_SEND_TIMEOUT and a timeout of 0 a
 * reply to a full queue is destroyed at once; the request's send succeeds, its routine ran, the
 * queue is as it was, and the reply's send right goes with the reply.
 */
MT_TEST(a_kernel_reply_to_a_send_right_of_a_full_queue_is_destroyed_with_a_zero_timeout)
{
    NU_BEGIN();
    mach_port_t reply = full_reply_port();
    MT_REQUIRE(reply != MACH_PORT_NULL);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);

    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memcpy((void *)(uintptr_t)addr, "lost", 5);
    vmm_args a = {.len = 0};
    /* mach_vm_read (its reply carries memory), mach_port_type, with a made send right. */
    a64(&a, addr);
    a64(&a, 5);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 4804, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    a.len = 0;
    a32(&a, reply);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 3201, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    /* Copied: our send right stays as it was. */
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_COPY_SEND, 3201, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(reply).mps_msgcount, 1);
    /* mach_vm_protect ran although its answer was lost. */
    protect_args(&a, addr, VM_PROT_READ);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 4802, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(vmm_prot(addr), VM_PROT_READ);
    /* Moved: our send right went with the reply. */
    protect_args(&a, addr, VM_PROT_READ | VM_PROT_WRITE);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MOVE_SEND, 4802, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(vmm_prot(addr), VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_type(reply), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(reply).mps_msgcount, 1);

    /* Only the filler is there. */
    vmm_reply r;
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1);
    MT_KR(mach_msg(&r.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, reply, 0,
                   MACH_PORT_NULL),
          MACH_RCV_TIMED_OUT);
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

/*
 * With a timeout the requesting thread waits for room for the reply as long as its send
 * may wait; then the reply is destroyed and the request's send succeeds.
 */
MT_TEST(a_kernel_reply_to_a_send_right_of_a_full_queue_waits_out_the_requests_timeout)
{
    NU_BEGIN();
    mach_port_t reply = full_reply_port();
    MT_REQUIRE(reply != MACH_PORT_NULL);
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    vmm_args a = {.len = 0};
    a64(&a, addr);
    a64(&a, 16);
    double t0 = mt_now();
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 4804, &a, MACH_SEND_TIMEOUT, 50),
          MACH_MSG_SUCCESS);
    double waited = mt_now() - t0;
    MT_CHECK(waited >= 0.045);
    MT_CHECK(waited < 5.0);
    a.len = 0;
    a32(&a, reply);
    t0 = mt_now();
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 3201, &a, MACH_SEND_TIMEOUT, 50),
          MACH_MSG_SUCCESS);
    waited = mt_now() - t0;
    MT_CHECK(waited >= 0.045);
    MT_CHECK(waited < 5.0);
    MT_EQ(nu_status(reply).mps_msgcount, 1);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);

    vmm_reply r;
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1);
    MT_EQ(nu_status(reply).mps_msgcount, 0);
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

typedef struct {
    mach_port_t port;
    mach_msg_id_t got; /* the id of the message taken, 0 if none */
} room_maker;

/* After 100 ms, take one message off the full queue. */
static void *make_room(void *arg)
{
    room_maker *m = arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    vmm_reply r;
    if (vmm_receive(m->port, &r) == MACH_MSG_SUCCESS)
        m->got = r.head.msgh_id;
    return NULL;
}

/*
 * The reply waits, in the requesting thread's send, until a receiver makes room; then it is
 * queued and arrives: without MACH_SEND_TIMEOUT, and with a timeout that room comes within.
 */
MT_TEST(a_kernel_reply_to_a_send_right_of_a_full_queue_arrives_once_a_receiver_makes_room)
{
    NU_BEGIN();
    mach_port_t reply = full_reply_port();
    MT_REQUIRE(reply != MACH_PORT_NULL);
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    char text[] = "read by a request whose reply port is full";
    memcpy((void *)(uintptr_t)addr, text, sizeof text);
    vmm_args a = {.len = 0};
    a64(&a, addr);
    a64(&a, sizeof text);

    room_maker m = {.port = reply, .got = 0};
    pthread_t t;
    double t0 = mt_now(); /* before the thread: its receive comes 100 ms after this at least */
    MT_REQUIRE(pthread_create(&t, NULL, make_room, &m) == 0);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 4804, &a, 0, 0), MACH_MSG_SUCCESS);
    double waited = mt_now() - t0;
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    MT_EQ(m.got, 1);
    MT_CHECK(waited >= 0.05);
    MT_EQ(nu_status(reply).mps_msgcount, 1);
    vmm_reply r;
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4904);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.read.count, sizeof text);
    MT_EQ(r.read.data.size, sizeof text);
    MT_CHECK(r.read.data.address != NULL &&
             memcmp(r.read.data.address, text, sizeof text) == 0);
    MT_KR(mach_vm_deallocate(TASK, (mach_vm_address_t)(uintptr_t)r.read.data.address,
                             r.read.data.size),
          KERN_SUCCESS);

    /* Full again; mach_port_type with a 10 s timeout, room made after 100 ms. */
    MT_KR(send_filler(reply), MACH_MSG_SUCCESS);
    m.got = 0;
    a.len = 0;
    a32(&a, reply);
    t0 = mt_now();
    MT_REQUIRE(pthread_create(&t, NULL, make_room, &m) == 0);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, 3201, &a, MACH_SEND_TIMEOUT, 10000),
          MACH_MSG_SUCCESS);
    waited = mt_now() - t0;
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    MT_EQ(m.got, 1);
    MT_CHECK(waited >= 0.05);
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3301);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    mach_port_type_t type;
    memcpy(&type, r.simple.out, sizeof type);
    MT_CHECK(type & MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(reply).mps_msgcount, 0);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);

    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

/* After 100 ms, destroy the receive right of the full queue. */
/* The requester of interrupted_requester: its request's send and what it returned. */
typedef struct {
    mach_port_t reply;
    const vmm_args *args;
    atomic_int done;
    mach_msg_return_t mr;
} interrupted_requester;

static atomic_int vmm_signals; /* lock-free: safe in a signal handler */

static void vmm_on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&vmm_signals, 1);
}

static void *send_interruptible(void *arg)
{
    interrupted_requester *q = arg;
    /* The timeout only bounds a wait no signal ends. */
    q->mr = vmm_send_opt(q->reply, MACH_MSG_TYPE_MAKE_SEND, 4804, q->args,
                         MACH_SEND_INTERRUPT | MACH_SEND_TIMEOUT, 10000);
    atomic_store(&q->done, 1);
    return NULL;
}

MT_TEST(a_kernel_reply_waiting_for_room_in_an_interrupted_send_is_destroyed_and_the_send_succeeds)
{
    NU_BEGIN();
    /* SIGUSR1 runs a handler and restarts nothing. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = vmm_on_signal;
    sigemptyset(&sa.sa_mask);
    MT_REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    mach_port_t reply = full_reply_port();
    MT_REQUIRE(reply != MACH_PORT_NULL);
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    vmm_args a = {.len = 0};
    a64(&a, addr);
    a64(&a, 64);

    /* Signal the requester every 10 ms until its send returns, so that a signal landing before
     * it waits does not matter. */
    static interrupted_requester q;
    memset(&q, 0, sizeof q);
    q.reply = reply;
    q.args = &a;
    atomic_store(&vmm_signals, 0);
    pthread_t t;
    double t0 = mt_now();
    MT_REQUIRE(pthread_create(&t, NULL, send_interruptible, &q) == 0);
    int sent = 0;
    while (!atomic_load(&q.done) && sent < 300) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_kill(t, SIGUSR1);
        sent++;
    }
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    double waited = mt_now() - t0;
    MT_KR(q.mr, MACH_MSG_SUCCESS);
    MT_CHECK(atomic_load(&vmm_signals) > 0);
    MT_CHECK(waited < 5.0); /* ended by a signal, not by the request's timeout */
    /* The reply is gone with the right made for it: the queue holds the filler only. */
    MT_EQ(nu_status(reply).mps_msgcount, 1);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);
    vmm_reply r;
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1);
    MT_EQ(nu_status(reply).mps_msgcount, 0);
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    MT_REQUIRE(sigaction(SIGUSR1, &old, NULL) == 0);
    NU_END();
}

static void *kill_port(void *arg)
{
    room_maker *m = arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (mach_port_mod_refs(TASK, m->port, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS)
        m->got = -1;
    return NULL;
}

/* Request `id` (with `a`) with a send right made for a full reply port that dies 100 ms
 * later: the send's result; `waited` gets how long it took. */
static mach_msg_return_t request_as_port_dies(mach_port_t reply, mach_msg_id_t id,
                                              const vmm_args *a, double *waited, int *killed)
{
    room_maker m = {.port = reply, .got = 0};
    pthread_t t;
    double t0 = mt_now(); /* before the thread: the death comes 100 ms after this at least */
    if (pthread_create(&t, NULL, kill_port, &m) != 0)
        return MACH_SEND_NO_BUFFER;
    mach_msg_return_t mr =
        vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND, id, a, MACH_SEND_TIMEOUT, 10000);
    *waited = mt_now() - t0;
    pthread_join(t, NULL);
    *killed = m.got == -1;
    return mr;
}

/* A reply port that dies while the reply waits for room takes the reply as delivered: the
 * request's send succeeds, and our send right is a dead name. mach_port_type and
 * mach_vm_read. */
MT_TEST(a_kernel_reply_waiting_for_room_on_a_port_that_dies_is_destroyed_and_the_send_succeeds)
{
    NU_BEGIN();
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for (int i = 0; i < 2; i++) {
        mach_port_t reply = full_reply_port();
        MT_REQUIRE(reply != MACH_PORT_NULL);
        vmm_args a = {.len = 0};
        if (i == 0) {
            a32(&a, reply);
        } else {
            a64(&a, addr);
            a64(&a, 16);
        }
        double waited = 0;
        int killed = 0;
        MT_KR(request_as_port_dies(reply, i == 0 ? 3201 : 4804, &a, &waited, &killed),
              MACH_MSG_SUCCESS);
        MT_CHECK(killed);
        MT_CHECK(waited >= 0.05);
        MT_CHECK(waited < 5.0);
        MT_EQ(nu_type(reply), MACH_PORT_TYPE_DEAD_NAME);
        MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_DEAD_NAME), 1);
        MT_KR(mach_port_deallocate(TASK, reply), KERN_SUCCESS);
    }
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    NU_END();
}

/* A reply to a send-once right passes the queue limit (up to the kernel's), even with a
 * timeout of 0, as any message to a send-once right does. */
MT_TEST(a_kernel_reply_to_a_send_once_right_passes_a_full_queues_limit)
{
    NU_BEGIN();
    mach_port_t reply = full_reply_port();
    MT_REQUIRE(reply != MACH_PORT_NULL);
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    char text[] = "read past the limit";
    memcpy((void *)(uintptr_t)addr, text, sizeof text);
    vmm_args a = {.len = 0};
    a64(&a, addr);
    a64(&a, sizeof text);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 4804, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    a.len = 0;
    a32(&a, reply);
    MT_KR(vmm_send_opt(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3201, &a, MACH_SEND_TIMEOUT, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_status(reply).mps_msgcount, 3);
    MT_EQ(nu_status(reply).mps_qlimit, 1);

    vmm_reply r;
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1);
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4904);
    MT_EQ(r.read.count, sizeof text);
    MT_CHECK(r.read.data.address != NULL &&
             memcmp(r.read.data.address, text, sizeof text) == 0);
    MT_KR(mach_vm_deallocate(TASK, (mach_vm_address_t)(uintptr_t)r.read.data.address,
                             r.read.data.size),
          KERN_SUCCESS);
    MT_KR(vmm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3301);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(nu_status(reply).mps_msgcount, 0);
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

/* Queue `n` header-only messages on `port`, each to a send-once right made for it, which
 * the queue limit does not stop (only the kernel's, MACH_PORT_QLIMIT_KERNEL). */
static mach_msg_return_t send_once_fillers(mach_port_t port, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        mach_msg_header_t h;
        memset(&h, 0, sizeof h);
        h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
        h.msgh_size = sizeof h;
        h.msgh_remote_port = port;
        h.msgh_id = 2;
        mach_msg_return_t mr = mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0,
                                        MACH_PORT_NULL, 0, MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    return MACH_MSG_SUCCESS;
}

/*
 * The kernel's replies stop at the kernel's limit: a reply port with
 * MACH_PORT_QLIMIT_KERNEL messages queued gets none (XNU's send fails with
 * MACH_SEND_NO_BUFFER and the kernel destroys its reply), and the request's send succeeds,
 * its routine run: a task request's and a vm request's, whose data goes with the reply.
 */
MT_TEST(a_reply_port_at_the_kernels_queue_limit_gets_no_reply_and_the_request_succeeds)
{
    NU_BEGIN();
    mach_port_t reply = nu_port();
    MT_KR(send_once_fillers(reply, MACH_PORT_QLIMIT_KERNEL - 1), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(reply).mps_msgcount, MACH_PORT_QLIMIT_KERNEL - 1);

    /* One place left: mach_port_type's reply takes it. */
    vmm_args a = {.len = 0};
    a32(&a, reply);
    MT_KR(vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3201, &a), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(reply).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    /* None left: the requests succeed and their replies go nowhere, a send right's as well. */
    MT_KR(vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3201, &a), MACH_MSG_SUCCESS);
    MT_KR(vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND, 3201, &a), MACH_MSG_SUCCESS);
    mach_vm_address_t addr = 0;
    MT_KR(mach_vm_allocate(TASK, &addr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    a.len = 0;
    a64(&a, addr);
    a64(&a, vm_page_size);
    MT_KR(vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 4804, &a), MACH_MSG_SUCCESS);
    /* mach_vm_protect ran although its answer was lost. */
    a.len = 0;
    a64(&a, addr);
    a64(&a, vm_page_size);
    a32(&a, FALSE);
    a32(&a, VM_PROT_READ);
    MT_KR(vmm_send(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 4802, &a), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(reply).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);
    MT_EQ(vmm_prot(addr), VM_PROT_READ);
    MT_KR(mach_vm_deallocate(TASK, addr, vm_page_size), KERN_SUCCESS);

    nu_kill(reply);
    NU_END();
}

MT_MAIN()
