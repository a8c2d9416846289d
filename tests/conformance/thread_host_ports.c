/*
 * thread_host_ports.c — mach_thread_self and mach_host_self return send rights (one more
 * uref per call, one name per thread / host), a thread's port dies with the thread, host_info
 * answers HOST_BASIC_INFO, host_page_size is the page size, and thread_get_special_port gives
 * the thread's own port.
 */
#include "notify_util.h"

#include <mach/task_special_ports.h>

#include <pthread.h>

MT_TEST(mach_thread_self_returns_one_name_with_one_more_uref_per_call)
{
    NU_BEGIN();
    mach_port_t t = mach_thread_self();
    MT_CHECK(MACH_PORT_VALID(t));
    MT_EQ(nu_type(t), MACH_PORT_TYPE_SEND);
    mach_port_urefs_t refs = nu_refs(t, MACH_PORT_RIGHT_SEND);
    MT_EQ(mach_thread_self(), t);
    MT_EQ(nu_refs(t, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(mach_port_deallocate(TASK, t), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, t), KERN_SUCCESS);
    NU_END();
}

static void *thread_port_of(void *arg)
{
    *(mach_port_t *)arg = mach_thread_self();
    return NULL;
}

MT_TEST(each_thread_has_its_own_port_and_it_dies_with_the_thread)
{
    NU_BEGIN();
    mach_port_t mine = mach_thread_self(), theirs = MACH_PORT_NULL;
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, thread_port_of, &theirs) == 0);
    pthread_join(th, NULL);
    MT_CHECK(MACH_PORT_VALID(theirs));
    MT_NE(theirs, mine);
    /* The thread has ended: the send right names a dead port now. */
    MT_EQ(nu_type(theirs), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, theirs), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, mine), KERN_SUCCESS);
    NU_END();
}

MT_TEST(thread_get_special_port_kernel_port_is_the_thread_port)
{
    NU_BEGIN();
    mach_port_t t = mach_thread_self(), special = MACH_PORT_NULL;
    MT_KR(thread_get_special_port(t, THREAD_KERNEL_PORT, &special), KERN_SUCCESS);
    MT_EQ(special, t);
    MT_KR(mach_port_deallocate(TASK, special), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, t), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mach_host_self_returns_one_name_with_one_more_uref_per_call)
{
    mach_port_t h = mach_host_self();
    MT_CHECK(MACH_PORT_VALID(h));
    MT_EQ(nu_type(h), MACH_PORT_TYPE_SEND);
    mach_port_urefs_t refs = nu_refs(h, MACH_PORT_RIGHT_SEND);
    MT_EQ(mach_host_self(), h);
    MT_EQ(nu_refs(h, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(mach_port_deallocate(TASK, h), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, h), KERN_SUCCESS);
}

MT_TEST(the_tasks_host_special_port_is_the_host_port_and_cannot_be_set)
{
    mach_port_t h = mach_host_self();
    MT_CHECK(MACH_PORT_VALID(h));
    mach_port_urefs_t refs = nu_refs(h, MACH_PORT_RIGHT_SEND);
    mach_port_t got = MACH_PORT_NULL;
    MT_KR(task_get_special_port(TASK, TASK_HOST_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, h); /* a send right to the same port: the same name, one more uref */
    MT_EQ(nu_refs(h, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(task_set_special_port(TASK, TASK_HOST_PORT, h), KERN_NO_ACCESS);
    MT_KR(task_set_special_port(TASK, TASK_HOST_PORT, MACH_PORT_NULL), KERN_NO_ACCESS);
    MT_EQ(nu_refs(h, MACH_PORT_RIGHT_SEND), refs + 1); /* the request's copy went, ours stays */
    MT_KR(task_get_special_port(TASK, TASK_HOST_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, h);
    for (int i = 0; i < 3; i++)
        MT_KR(mach_port_deallocate(TASK, h), KERN_SUCCESS);
}

MT_TEST(host_info_basic_describes_this_machine)
{
    mach_port_t h = mach_host_self();
    host_basic_info_data_t info;
    mach_msg_type_number_t count = HOST_BASIC_INFO_COUNT;
    MT_KR(host_info(h, HOST_BASIC_INFO, (host_info_t)&info, &count), KERN_SUCCESS);
    MT_EQ(count, HOST_BASIC_INFO_COUNT);
    MT_EQ(HOST_BASIC_INFO_COUNT, 12);
    MT_CHECK(info.avail_cpus >= 1);
    MT_CHECK(info.max_cpus >= info.avail_cpus);
    MT_CHECK(info.logical_cpu >= 1);
    MT_CHECK(info.max_mem > 0);
#if defined(__x86_64__)
    MT_EQ(info.cpu_type, CPU_TYPE_X86_64);
#elif defined(__aarch64__)
    MT_EQ(info.cpu_type, CPU_TYPE_ARM64);
#endif
    count = 2;
    MT_KR(host_info(h, HOST_BASIC_INFO, (host_info_t)&info, &count), KERN_FAILURE);
    MT_KR(mach_port_deallocate(TASK, h), KERN_SUCCESS);
}

MT_TEST(host_info_on_a_port_that_is_not_the_host_is_invalid_argument)
{
    host_basic_info_data_t info;
    mach_msg_type_number_t count = HOST_BASIC_INFO_COUNT;
    MT_KR(host_info(TASK, HOST_BASIC_INFO, (host_info_t)&info, &count), KERN_INVALID_ARGUMENT);
}

MT_TEST(host_page_size_is_the_page_size)
{
    mach_port_t h = mach_host_self();
    vm_size_t size = 0;
    MT_KR(host_page_size(h, &size), KERN_SUCCESS);
    MT_EQ(size, vm_kernel_page_size);
    MT_CHECK(size >= 4096);
    MT_KR(mach_port_deallocate(TASK, h), KERN_SUCCESS);
}

MT_MAIN()
