/* auth/ratelimit.c — token buckets in a chained hash table under one mutex. A
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

#include "base/sbuf.h"
#include "base/utc.h"

#define RL_DEFAULT_MAX 100000

typedef struct bucket {
    struct bucket *next;
    int64_t last;  /* clock at the last refill */
    uint64_t used; /* rl->ops at the last take: LRU order without the clock */
    double tokens;
    uint64_t hash;
    char key[];
} bucket;

struct auth_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    size_t max, n, nslots;
    bucket **slots;
    auth_rl_clock_fn clock;
    void *clock_ud;
    uint64_t ops;
};

static int64_t mono(void *ud)
{
    (void)ud;
    return utc_mono_us();
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

auth_ratelimit *auth_rl_new(const auth_rl_opts *o)
{
    auth_ratelimit *rl = xcalloc(1, sizeof *rl);
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = o && o->rate_per_s > 0 ? o->rate_per_s : 0;
    rl->burst = o && o->burst >= 1 ? o->burst : (rl->rate > 1 ? rl->rate : 1);
    rl->max = o && o->max_buckets ? o->max_buckets : RL_DEFAULT_MAX;
    rl->nslots = 64;
    while (rl->nslots < rl->max && rl->nslots < (1u << 20))
        rl->nslots *= 2;
    rl->slots = xcalloc(rl->nslots, sizeof *rl->slots);
    rl->clock = o && o->clock ? o->clock : mono;
    rl->clock_ud = o ? o->clock_ud : NULL;
    return rl;
}

void auth_rl_free(auth_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->nslots; i++)
        for (bucket *b = rl->slots[i], *nx; b; b = nx) {
            nx = b->next;
            free(b);
        }
    free(rl->slots);
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

/* Removes full buckets; with lru and none full, the least recently used ones. */
static void evict(auth_ratelimit *rl, int64_t now, bool lru)
{
    bucket **oldest = NULL;
    size_t before = rl->n;
    for (size_t i = 0; i < rl->nslots; i++) {
        for (bucket **pp = &rl->slots[i]; *pp;) {
            bucket *b = *pp;
            refill(rl, b, now);
            if (b->tokens >= rl->burst) {
                *pp = b->next;
                free(b);
                rl->n--;
                continue;
            }
            if (!oldest || b->used < (*oldest)->used)
                oldest = pp;
            pp = &b->next;
        }
    }
    if (!lru || rl->n != before || !oldest)
        return;
    /* nothing idle: drop the least recently used eighth (by take order) in one
     * pass, so a flood of new keys costs O(1) amortised scans, not one per key */
    uint64_t cut = (*oldest)->used + (rl->ops - (*oldest)->used) / 8;
    for (size_t i = 0; i < rl->nslots; i++) {
        for (bucket **pp = &rl->slots[i]; *pp;) {
            bucket *b = *pp;
            if (b->used <= cut) {
                *pp = b->next;
                free(b);
                rl->n--;
                continue;
            }
            pp = &b->next;
        }
    }
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
    uint64_t h = hash(key);
    pthread_mutex_lock(&rl->mu);
    int64_t now = rl->clock(rl->clock_ud);
    size_t slot = (size_t)(h & (rl->nslots - 1));
    bucket *b = rl->slots[slot];
    while (b && (b->hash != h || strcmp(b->key, key) != 0))
        b = b->next;
    if (!b) {
        if (rl->n >= rl->max)
            evict(rl, now, true);
        size_t kl = strlen(key);
        b = xmalloc(sizeof *b + kl + 1);
        memcpy(b->key, key, kl + 1);
        b->hash = h;
        b->tokens = rl->burst;
        b->last = now;
        b->next = rl->slots[slot];
        rl->slots[slot] = b;
        rl->n++;
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
    if (rl->ops % 4096 == 0 && rl->n > rl->max / 2)
        evict(rl, now, false);
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

size_t auth_rl_size(auth_ratelimit *rl)
{
    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->n;
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
