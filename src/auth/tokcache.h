/* auth/tokcache.h — a small bounded cache of verified tokens for auth_resolve, so
 * a request does not verify the JWT signature and query the store (protected
 * token row, jti revocation) on every call. Keyed by a keyed hash (HMAC-SHA256
 * with a random per-process key) of the token text; holds only the resolved
 * identity (ids, never the token). An entry lives until min(the credential's
 * expiry, AUTH_TOKCACHE_TTL_S after it was verified) and is dropped at once when
 * this process revokes or refreshes the token (by jti).
 * Cross-process revocation: a token revoked by ANOTHER ctxd process sharing the
 * database is still accepted here for up to AUTH_TOKCACHE_TTL_S seconds after
 * this process last verified it (the next full check after that refuses it).
 * Must not: cache a failure, hold a token or secret, or be used outside src/auth. */
#ifndef CTXD_AUTH_TOKCACHE_H
#define CTXD_AUTH_TOKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/identity.h"

#define AUTH_TOKCACHE_TTL_S 30
#define AUTH_TOKCACHE_SLOTS 1024 /* power of two */

typedef struct auth_tokcache auth_tokcache;

auth_tokcache *auth_tokcache_new(void);
void auth_tokcache_free(auth_tokcache *c);
/* True and *out filled when tok[0..n) was verified and its entry is live at now. */
bool auth_tokcache_get(auth_tokcache *c, const char *tok, size_t n, utc_us now, auth_identity *out);
/* The revocation generation: read it before a full check and pass it to put,
 * which then ignores a result that a revocation may have overtaken. */
uint64_t auth_tokcache_gen(auth_tokcache *c);
/* Remembers a successful resolution made at now (unless a drop happened since gen). */
void auth_tokcache_put(auth_tokcache *c, const char *tok, size_t n, utc_us now,
                       const auth_identity *id, uint64_t gen);
/* Drops every entry of this jti (revocation, refresh). */
void auth_tokcache_drop_jti(auth_tokcache *c, const char *jti);

#endif
