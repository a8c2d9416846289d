/* <bootstrap.h> — umach: the bootstrap server interface, as <servers/bootstrap.h>. */
#ifndef _BOOTSTRAP_H_
#define _BOOTSTRAP_H_
#include <servers/bootstrap.h>
#endif
