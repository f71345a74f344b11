/* base/port.h — the few places where Linux and the other POSIX systems ctxd builds on
 * (macOS, the BSDs) differ, each with a portable path: PORT_LINUX is 1 on Linux, 0
 * elsewhere and when CMake's CTXD_PORTABLE=ON asks for the portable paths on Linux
 * (so they are built and tested here: CTest's build_sqlite_only). The places:
 * random bytes (getrandom / getentropy, base/ids.c), a sort with a context
 * (glibc's qsort_r / port_qsort_r below), a condition variable timed on the monotonic
 * clock (pthread_condattr_setclock / the real-time clock, base/utc.c and db/pool.c),
 * the HTTP guard's wake-up descriptor (eventfd / a pipe, http/guard.c) and
 * libmicrohttpd's event loop (epoll / poll, http/server.c).
 * Must not: hold anything but these differences. */
#ifndef CTXD_BASE_PORT_H
#define CTXD_BASE_PORT_H

#include <stddef.h>

#if defined(__linux__) && !defined(CTXD_PORTABLE)
#define PORT_LINUX 1
#else
#define PORT_LINUX 0
#endif

/* qsort with a context pointer passed to cmp, in glibc's argument order, everywhere
 * (macOS's and older BSDs' qsort_r take their arguments in another order). Reentrant. */
void port_qsort_r(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *, void *),
                  void *arg);

#endif
