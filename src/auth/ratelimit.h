/* auth/ratelimit.h — in-memory token-bucket rate limiting, one bucket per key (an
 * agent id, or a fingerprint of the API key / the peer address for calls made
 * before authentication). Thread-safe; memory bounded by max_buckets (idle
 * buckets are evicted first). The clock is injectable so tests need no sleeps.
 * Must not: be given secrets as keys (pass auth_fingerprint() of a key), persist
 * anything, or block. */
#ifndef CTXD_AUTH_RATELIMIT_H
#define CTXD_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/conf.h"
#include "base/err.h"

typedef struct auth_ratelimit auth_ratelimit;

typedef int64_t (*auth_rl_clock_fn)(void *ud); /* monotonic microseconds */

typedef struct auth_rl_opts {
    double rate_per_s;      /* tokens added per second; <= 0 disables limiting */
    double burst;           /* bucket capacity (>= 1); 0 -> max(1, rate_per_s) */
    size_t max_buckets;     /* 0 -> 100000 */
    auth_rl_clock_fn clock; /* NULL -> utc_mono_us */
    void *clock_ud;
} auth_rl_opts;

auth_ratelimit *auth_rl_new(const auth_rl_opts *o);
/* RATE_LIMIT_PER_MINUTE (0 = off) and RATE_LIMIT_BURST. */
err_code auth_rl_from_conf(const conf_t *c, auth_ratelimit **out, err_t *e);
void auth_rl_free(auth_ratelimit *rl); /* NULL is fine */

/* Takes `cost` tokens (normally 1) from key's bucket. True when allowed; when
 * refused, *retry_after_s (may be NULL) is the whole seconds (>= 1) until the
 * bucket holds enough. A NULL limiter or a disabled one always allows. */
bool auth_rl_take(auth_ratelimit *rl, const char *key, double cost, long *retry_after_s);
/* Buckets currently held (for tests and metrics). */
size_t auth_rl_size(auth_ratelimit *rl);
/* Drops every bucket that has refilled completely (it equals a fresh one). */
void auth_rl_sweep(auth_ratelimit *rl);

#endif
