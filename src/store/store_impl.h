/* store/store_impl.h — the macro every store implementation (store_sql*.c,
 * store_mongo*.c) uses at the top of a vtable function: ERR_LOCAL (a NULL err_t
 * pointer gets a local one). Argument checks are not here: the store.h wrappers
 * run them before any backend (store_*_check in store.c).
 * Must not: be included outside src/store/. */
#ifndef CTXD_STORE_IMPL_H
#define CTXD_STORE_IMPL_H

#include "base/err.h"

/* e may be NULL: then a local err_t takes the details */
#define ERR_LOCAL(e) \
    err_t e##_local_; \
    if (!(e)) \
        (e) = &e##_local_; \
    err_clear(e)

#endif
