/*
 * um_client_conn.h — the client front end's connections (um_client.c), for its calls
 * (um_client_calls.c, um_client_msg.c).
 */
#ifndef UM_CLIENT_CONN_H
#define UM_CLIENT_CONN_H

#include "../wire/um_wire.h"

#include <mach/mach.h>

/* How a round trip ended. */
enum cl_rt {
    CL_RT_OK = 0,        /* the reply is in `rep` */
    CL_RT_SEND_FAILED,   /* no world (never joined, or gone) or the request could not go */
    CL_RT_REPLY_FAILED,  /* the request went, but the world hung up before replying */
    CL_RT_NO_THREAD,     /* not sent: the task has as many thread connections as the world
                            allows (umachd --task-threads-max); a resource shortage, as XNU
                            reports one (KERN_RESOURCE_SHORTAGE, MACH_SEND_NO_BUFFER) */
};

/*
 * Send one request on the calling thread's connection (opened and joined on first use) and
 * wait for its reply. `interruptible`: a signal handler that runs while waiting makes the
 * request cancelled (UM_WIRE_CANCEL); the reply then says how it ended. A reply that reports
 * a fatal guard exception aborts the process, as embedded mode does. After CL_RT_OK the
 * thread's connection is the reply's until um_client_reply_free(rep) (a signal handler's call
 * meanwhile goes on a connection of its own); after anything else *rep holds nothing.
 */
enum cl_rt um_client_roundtrip(uint16_t call, const uint64_t *args, uint32_t nargs,
                               const void *blob, uint32_t blob_len, um_wire_pkt *rep,
                               bool interruptible);
/* The same with a memory part: the blob's last `xmem_len` bytes and its `nfds` descriptors. */
enum cl_rt um_client_roundtrip_xmem(uint16_t call, const uint64_t *args, uint32_t nargs,
                                    const void *blob, uint32_t blob_len, uint32_t xmem_len,
                                    const int *fds, uint32_t nfds, um_wire_pkt *rep,
                                    bool interruptible);
/* The caller is done with the reply of um_client_roundtrip*: freed (harmless on one that holds
   nothing, and a second time). */
void um_client_reply_free(um_wire_pkt *rep);

/*
 * Ask the daemon to keep this task's special-port slots, as they are now, for a child about
 * to be made (fork's prepare handler, posix_spawn): true with the token the child's hello
 * presents (the daemon gives the slots only to a process whose parent is this one, and with
 * `spawn`, the token being in the child's environment, also to the processes that child's
 * non-task descendants start: the commands a shell forks).
 */
bool um_client_fork_token(uint64_t token[2], bool spawn);

/*
 * At start, in a process posix_spawn'ed (or vfork'ed and exec'd) by a task: the token its
 * parent left in the environment (UMACH_SPAWN_TOKEN, um_client_spawn.c); the variable is
 * removed and its value blanked, so main and later children never see it. false: none.
 */
bool um_spawn_token_take(uint64_t token[2]);

/*
 * A one-way send that may return at once (docs/world.md, "Posted sends"): post the
 * `len`-byte simple message `msg` to `name` in the calling thread's ring on a credit the
 * daemon granted. false: not possible now (no connection or ring yet, no credit, no room, the
 * credentials changed since this thread's last send went to the daemon): send the usual way.
 */
bool um_client_post(mach_port_name_t name, const void *msg, uint32_t len);
/*
 * A receive alone (`option` without MACH_RCV_TIMEOUT / MACH_RCV_INTERRUPT) that may be
 * served from the thread's receive window (docs/world.md, "Receive windows"), into `buf`:
 * 0 not possible now (receive the usual way), 1 received, -1 received but `buf` could not
 * take it (the message is lost: MACH_RCV_INVALID_DATA).
 */
int um_client_win_receive(mach_port_name_t name, mach_msg_option_t option,
                          mach_msg_size_t rcv_size, uint64_t buf);
/*
 * Whether this process posts sends (UMACH_WORLD_POST is not "0") and takes receives from
 * windows (neither UMACH_WORLD_POST nor UMACH_WORLD_WINDOWS is "0"); each read once.
 */
bool um_client_posts_on(void);
bool um_client_windows_on(void);
/* The credential generation this thread's last UM_WIRE_MSG carried, for um_client_post. */
void um_client_note_cred_generation(unsigned gen);

#endif
