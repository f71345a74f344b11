/* auth/tokcache.c — the verified-token cache (see tokcache.h): a direct-mapped
 * table of AUTH_TOKCACHE_SLOTS entries under one mutex (held for a copy of one
 * entry; a revocation scans the table), keys compared in constant time.
 * Must not: store the token text, cache a refusal, or log anything secret. */
#include "auth/tokcache.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "auth/jwt.h"
#include "base/ids.h"
#include "base/sbuf.h"

typedef struct tc_entry {
    unsigned char key[32];
    utc_us until; /* 0 = empty */
    auth_identity id;
} tc_entry;

struct auth_tokcache {
    pthread_mutex_t mu;
    unsigned char hkey[32];
    uint64_t gen; /* drops so far */
    tc_entry slot[AUTH_TOKCACHE_SLOTS];
};

auth_tokcache *auth_tokcache_new(void)
{
    auth_tokcache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    ids_random(c->hkey, sizeof c->hkey);
    return c;
}

void auth_tokcache_free(auth_tokcache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

static bool digest(auth_tokcache *c, const char *tok, size_t n, unsigned char out[32])
{
    return auth_hs256(c->hkey, sizeof c->hkey, tok, n, out);
}

static size_t slot_of(const unsigned char k[32])
{
    uint64_t h;
    memcpy(&h, k, sizeof h);
    return (size_t)(h & (AUTH_TOKCACHE_SLOTS - 1));
}

bool auth_tokcache_get(auth_tokcache *c, const char *tok, size_t n, utc_us now, auth_identity *out)
{
    unsigned char k[32];
    if (!c || !digest(c, tok, n, k))
        return false;
    tc_entry *s = &c->slot[slot_of(k)];
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    if (s->until != 0 && now < s->until && CRYPTO_memcmp(s->key, k, sizeof k) == 0) {
        *out = s->id;
        hit = true;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

uint64_t auth_tokcache_gen(auth_tokcache *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t g = c->gen;
    pthread_mutex_unlock(&c->mu);
    return g;
}

void auth_tokcache_put(auth_tokcache *c, const char *tok, size_t n, utc_us now,
                       const auth_identity *id, uint64_t gen)
{
    unsigned char k[32];
    if (!c || !digest(c, tok, n, k))
        return;
    utc_us until = now + (utc_us)AUTH_TOKCACHE_TTL_S * 1000000;
    if (id->expires_at < until)
        until = id->expires_at;
    if (until <= now)
        return;
    tc_entry *s = &c->slot[slot_of(k)];
    pthread_mutex_lock(&c->mu);
    if (gen != c->gen) { /* a revocation may have overtaken this check */
        pthread_mutex_unlock(&c->mu);
        return;
    }
    memcpy(s->key, k, sizeof k);
    s->id = *id;
    s->until = until;
    pthread_mutex_unlock(&c->mu);
}

void auth_tokcache_drop_jti(auth_tokcache *c, const char *jti)
{
    if (!c || !jti)
        return;
    pthread_mutex_lock(&c->mu);
    c->gen++;
    for (size_t i = 0; i < AUTH_TOKCACHE_SLOTS; i++)
        if (c->slot[i].until != 0 && strcmp(c->slot[i].id.jti, jti) == 0)
            c->slot[i].until = 0;
    pthread_mutex_unlock(&c->mu);
}
