/* auth/ctx_int.h — the auth context's fields, shared by ctx.c, token.c and login.c only.
 * Must not: be included outside src/auth/. */
#ifndef CTXD_AUTH_CTX_INT_H
#define CTXD_AUTH_CTX_INT_H

#include "auth/auth.h"
#include "auth/tokcache.h"

struct auth_ctx {
    unsigned char *key; /* JWT_SECRET_KEY bytes (NUL-terminated copy) */
    size_t keylen;
    char *api_key; /* NULL = none configured */
    long jwt_expiry_s, protected_expiry_s, leeway_s;
    auth_permmap *perms;
    store_t *store;
    auth_clock_fn clock;
    void *clock_ud;
    auth_tokcache *cache; /* verified tokens (auth_resolve only) */
    /* the shared key's policy (auth_opts): types NULL = those that cannot hold admin,
     * shared_any = "*"; else the listed names */
    char **shared_types;
    size_t nshared_types;
    bool shared_any, shared_types_default;
    auth_perms shared_perms;
};

#endif
