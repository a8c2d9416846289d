/* <servers/bootstrap_defs.h> — umach: on Darwin another name for <servers/bootstrap.h>. */
#ifndef _SERVERS_BOOTSTRAP_DEFS_H_
#define _SERVERS_BOOTSTRAP_DEFS_H_
#include <servers/bootstrap.h>
#endif
