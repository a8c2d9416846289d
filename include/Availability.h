/*
 * <Availability.h> — umach: the availability annotations that Apple's headers and MIG output
 * put on declarations. On Linux there is no OS version to check against, so each expands to
 * nothing. The version macros (__MAC_OS_X_VERSION_MIN_REQUIRED ...) are deliberately not
 * defined: code that tests them is asking whether it builds for an Apple platform.
 */
#ifndef __AVAILABILITY__
#define __AVAILABILITY__

#define __API_AVAILABLE(...)
#define __API_AVAILABLE_BEGIN(...)
#define __API_AVAILABLE_END
#define __API_DEPRECATED(...)
#define __API_DEPRECATED_WITH_REPLACEMENT(...)
#define __API_DEPRECATED_BEGIN(...)
#define __API_DEPRECATED_END
#define __API_UNAVAILABLE(...)
#define __API_UNAVAILABLE_BEGIN(...)
#define __API_UNAVAILABLE_END
#define __SPI_AVAILABLE(...)
#define __SPI_DEPRECATED(...)
#define __SPI_DEPRECATED_WITH_REPLACEMENT(...)

#define __OSX_AVAILABLE(v)
#define __IOS_AVAILABLE(v)
#define __TVOS_AVAILABLE(v)
#define __WATCHOS_AVAILABLE(v)
#define __OSX_UNAVAILABLE
#define __IOS_UNAVAILABLE
#define __TVOS_UNAVAILABLE
#define __WATCHOS_UNAVAILABLE
#define __OSX_DEPRECATED(start, dep, msg)
#define __IOS_DEPRECATED(start, dep, msg)
#define __TVOS_DEPRECATED(start, dep, msg)
#define __WATCHOS_DEPRECATED(start, dep, msg)
#define __IOS_PROHIBITED
#define __TVOS_PROHIBITED
#define __WATCHOS_PROHIBITED
#define __OSX_AVAILABLE_STARTING(mac, ios)
#define __OSX_AVAILABLE_BUT_DEPRECATED(macIntro, macDep, iosIntro, iosDep)
#define __OSX_AVAILABLE_BUT_DEPRECATED_MSG(macIntro, macDep, iosIntro, iosDep, msg)
#define __OSX_EXTENSION_UNAVAILABLE(msg)
#define __IOS_EXTENSION_UNAVAILABLE(msg)
#define __OS_EXTENSION_UNAVAILABLE(msg)

#endif
