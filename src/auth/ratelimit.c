/* auth/ratelimit.c — token buckets in a hash table (base/hash) under one mutex. A
 * bucket that has refilled to capacity carries no information, so sweeping such
 * buckets never changes a decision; when the table is full and nothing is idle,
 * the least recently used bucket is dropped (that key starts over with a full
 * bucket — memory stays bounded whatever the number of keys); that pass drops
 * the oldest eighth at once so floods of new keys stay cheap.
 * Must not: log keys (they may identify agents; callers pass no secrets), sleep. */
#include "auth/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/sbuf.h"
#include "base/utc.h"

#define RL_DEFAULT_MAX 100000

typedef struct bucket {
    int64_t last;  /* clock at the last refill */
    uint64_t used; /* rl->ops at the last take: LRU order without the clock */
    double tokens;
    char key[]; /* the table's key */
} bucket;

struct auth_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    size_t max;
    hash_t *tab; /* key -> bucket */
    auth_rl_clock_fn clock;
    void *clock_ud;
    uint64_t ops;
};

static int64_t mono(void *ud)
{
    (void)ud;
    return utc_mono_us();
}

auth_ratelimit *auth_rl_new(const auth_rl_opts *o)
{
    auth_ratelimit *rl = xcalloc(1, sizeof *rl);
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = o && o->rate_per_s > 0 ? o->rate_per_s : 0;
    rl->burst = o && o->burst >= 1 ? o->burst : (rl->rate > 1 ? rl->rate : 1);
    rl->max = o && o->max_buckets ? o->max_buckets : RL_DEFAULT_MAX;
    rl->tab = hash_new(0);
    rl->clock = o && o->clock ? o->clock : mono;
    rl->clock_ud = o ? o->clock_ud : NULL;
    return rl;
}

void auth_rl_free(auth_ratelimit *rl)
{
    if (!rl)
        return;
    hash_iter it = HASH_ITER_INIT;
    for (bucket *b; (b = hash_next(rl->tab, &it, NULL, NULL)) != NULL;)
        free(b);
    hash_free(rl->tab);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static void refill(const auth_ratelimit *rl, bucket *b, int64_t now)
{
    if (now > b->last) {
        b->tokens += (double)(now - b->last) / 1e6 * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last = now;
    }
}

/* Drops the buckets that have refilled completely (after refilling them to now)
 * and those last used at or before cut; *oldest = the least recently used of
 * the buckets kept. */
static void sweep(auth_ratelimit *rl, int64_t now, uint64_t cut, bucket **oldest)
{
    *oldest = NULL;
    hash_iter it = HASH_ITER_INIT;
    for (bucket *b; (b = hash_next(rl->tab, &it, NULL, NULL)) != NULL;) {
        refill(rl, b, now);
        if (b->tokens >= rl->burst || b->used <= cut) {
            hash_iter_remove(rl->tab, &it);
            free(b);
        } else if (!*oldest || b->used < (*oldest)->used) {
            *oldest = b;
        }
    }
}

/* Removes full buckets; with lru and none full, the least recently used ones. */
static void evict(auth_ratelimit *rl, int64_t now, bool lru)
{
    bucket *oldest;
    size_t before = hash_count(rl->tab);
    sweep(rl, now, 0, &oldest);
    if (!lru || hash_count(rl->tab) != before || !oldest)
        return;
    /* nothing idle: drop the least recently used eighth (by take order) in one
     * pass, so a flood of new keys costs O(1) amortised scans, not one per key */
    sweep(rl, now, oldest->used + (rl->ops - oldest->used) / 8, &oldest);
}

bool auth_rl_take(auth_ratelimit *rl, const char *key, double cost, long *retry_after_s)
{
    if (retry_after_s)
        *retry_after_s = 0;
    if (!rl || rl->rate <= 0)
        return true;
    if (!key)
        key = "";
    if (!(cost > 0))
        cost = 1;
    size_t kl = strlen(key);
    pthread_mutex_lock(&rl->mu);
    int64_t now = rl->clock(rl->clock_ud);
    bucket *b = hash_get(rl->tab, key, kl);
    if (!b) {
        if (hash_count(rl->tab) >= rl->max)
            evict(rl, now, true);
        b = xmalloc(sizeof *b + kl + 1);
        memcpy(b->key, key, kl + 1);
        b->tokens = rl->burst;
        b->last = now;
        hash_put(rl->tab, b->key, kl, b);
    } else {
        refill(rl, b, now);
    }
    b->used = ++rl->ops;
    bool ok = b->tokens >= cost;
    if (ok) {
        b->tokens -= cost;
    } else if (retry_after_s) {
        double need = cost > rl->burst ? rl->burst - b->tokens : cost - b->tokens;
        double secs = ceil(need / rl->rate);
        *retry_after_s = secs < 1 ? 1 : secs > 86400 ? 86400 : (long)secs;
    }
    /* now and then, drop buckets that have refilled (idle agents) */
    if (rl->ops % 4096 == 0 && hash_count(rl->tab) > rl->max / 2)
        evict(rl, now, false);
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

size_t auth_rl_size(auth_ratelimit *rl)
{
    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    size_t n = hash_count(rl->tab);
    pthread_mutex_unlock(&rl->mu);
    return n;
}

void auth_rl_sweep(auth_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_lock(&rl->mu);
    evict(rl, rl->clock(rl->clock_ud), false);
    pthread_mutex_unlock(&rl->mu);
}

err_code auth_rl_from_conf(const conf_t *c, auth_ratelimit **out, err_t *e)
{
    *out = NULL;
    long per_min = 0, burst = 0;
    err_code rc;
    if (conf_var_find("RATE_LIMIT_PER_MINUTE") &&
        (rc = conf_get_int(c, "RATE_LIMIT_PER_MINUTE", 0, &per_min, e)) != ERR_OK)
        return rc;
    if (conf_var_find("RATE_LIMIT_BURST") &&
        (rc = conf_get_int(c, "RATE_LIMIT_BURST", 0, &burst, e)) != ERR_OK)
        return rc;
    auth_rl_opts o = {.rate_per_s = (double)per_min / 60.0, .burst = (double)burst};
    *out = auth_rl_new(&o);
    return ERR_OK;
}
