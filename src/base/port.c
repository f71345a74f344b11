/* base/port.c — port_qsort_r: glibc's qsort_r on Linux; elsewhere qsort through a
 * thread-local trampoline (saved and restored, so a comparison that sorts again is
 * safe). Must not: allocate, or keep anything past the call. */
#include "base/port.h"

#include <stdlib.h>

#if PORT_LINUX
void port_qsort_r(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *, void *),
                  void *arg)
{
    qsort_r(base, n, size, cmp, arg);
}
#else
typedef struct {
    int (*cmp)(const void *, const void *, void *);
    void *arg;
} sort_ctx;

static _Thread_local sort_ctx current;

static int trampoline(const void *a, const void *b)
{
    return current.cmp(a, b, current.arg);
}

void port_qsort_r(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *, void *),
                  void *arg)
{
    sort_ctx saved = current;
    current = (sort_ctx){cmp, arg};
    qsort(base, n, size, trampoline);
    current = saved;
}
#endif
