/*
 * task_suspend.c — task_suspend, task_resume and task_terminate as XNU answers them where a
 * test can call them on itself: task_resume of a task with no suspension is KERN_FAILURE and
 * changes nothing (no name comes or goes, the suspend count stays 0); task_terminate of a task
 * that has a process (every task) is KERN_FAILURE and ends nothing; a name that is no task
 * port (or, for task_resume2, no token) gets the codes of the MIG request sent to it. (A task suspended stops until another
 * task resumes it: tests/world/task_suspend.c.)
 */
#include "notify_util.h"

#include <mach/task.h>

/* task_info's suspend_count of the calling task, or -1. */
static int tsu_count(void)
{
    mach_task_basic_info_data_t info;
    mach_msg_type_number_t n = MACH_TASK_BASIC_INFO_COUNT;
    if (task_info(TASK, MACH_TASK_BASIC_INFO, (task_info_t)&info, &n) != KERN_SUCCESS)
        return -1;
    return info.suspend_count;
}

/* How many names the calling task's space has. */
static mach_msg_type_number_t tsu_names(void)
{
    static nu_space s;
    nu_snapshot(&s);
    return s.n;
}

MT_TEST(resuming_a_task_that_is_not_suspended_is_kern_failure_and_changes_nothing)
{
    NU_BEGIN();
    MT_EQ(tsu_count(), 0);
    mach_msg_type_number_t names = tsu_names();
    MT_KR(task_resume(TASK), KERN_FAILURE);
    MT_KR(task_resume(TASK), KERN_FAILURE);
    MT_EQ(tsu_count(), 0);
    MT_EQ(tsu_names(), names);
    NU_END();
}

MT_TEST(task_terminate_ends_no_task_that_has_a_process)
{
    NU_BEGIN();
    MT_KR(task_terminate(TASK), KERN_FAILURE);
    MT_EQ(tsu_count(), 0);
    NU_END();
}

MT_TEST(a_name_that_is_no_task_port_gets_xnus_codes)
{
    (void)mig_get_reply_port(); /* task_resume2 is a MIG call: its reply port is no change */
    NU_BEGIN();
    /* No right to send to: the MIG request has nowhere to go. */
    MT_KR(task_suspend(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    MT_KR(task_terminate(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    task_suspension_token_t token = MACH_PORT_NULL;
    MT_KR(task_suspend2(MACH_PORT_NULL, &token), MACH_SEND_INVALID_DEST);
    MT_KR(task_resume2(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    MT_KR(task_resume(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    mach_port_name_t recv = nu_port();
    MT_KR(task_suspend(recv), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_mod_refs(TASK, recv, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    mach_port_name_t dead = nu_port_with_send();
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(task_resume(dead), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    /* A kernel port of another kind converts to no task. */
    mach_port_t thread = mach_thread_self();
    MT_KR(task_suspend(thread), KERN_INVALID_ARGUMENT);
    MT_KR(task_resume(thread), KERN_INVALID_ARGUMENT);
    MT_KR(task_terminate(thread), KERN_INVALID_ARGUMENT);
    MT_KR(task_suspend2(thread, &token), KERN_INVALID_ARGUMENT);
    MT_EQ(token, MACH_PORT_NULL);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    mach_port_t host = mach_host_self();
    MT_KR(task_suspend(host), KERN_INVALID_ARGUMENT);
    MT_KR(task_resume(host), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    MT_EQ(tsu_count(), 0);
    NU_END();
}

MT_MAIN()
