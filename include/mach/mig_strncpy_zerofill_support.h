/*
 * <mach/mig_strncpy_zerofill_support.h> — umach. MIG-generated code includes this header
 * when it exists and then copies C strings with mig_strncpy_zerofill, which zero-fills the
 * unused tail of the buffer instead of sending it uninitialised. Its presence is the signal.
 */
#ifndef __MACH_MIG_STRNCPY_ZEROFILL_SUPPORT__
#define __MACH_MIG_STRNCPY_ZEROFILL_SUPPORT__
#endif
