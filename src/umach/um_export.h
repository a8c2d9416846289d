/* Marks the public Mach API symbols that libumach exports (it is built with -fvisibility=hidden). */
#ifndef UM_EXPORT_H
#define UM_EXPORT_H
#define UM_EXPORT __attribute__((visibility("default")))
#endif
