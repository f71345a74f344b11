/* app/counts.c — how many of something each key holds now (app_counts, app_int.h): a
 * table of counts by string key, under its own lock, whose entries go when they reach 0.
 * Must not: know what is counted, or block beyond its own short lock. */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"

typedef struct count {
    size_t n;
    char key[]; /* the table's key */
} count;

void app_counts_init(app_counts *c)
{
    pthread_mutex_init(&c->mu, NULL);
    c->h = hash_new(0);
}

void app_counts_fini(app_counts *c)
{
    hash_iter it = HASH_ITER_INIT;
    for (count *k; (k = hash_next(c->h, &it, NULL, NULL)) != NULL;)
        free(k);
    hash_free(c->h);
    pthread_mutex_destroy(&c->mu);
}

bool app_counts_take(app_counts *c, const char *key, size_t max, size_t *had)
{
    size_t kl = strlen(key);
    pthread_mutex_lock(&c->mu);
    count *k = hash_get(c->h, key, kl);
    size_t n = k ? k->n : 0;
    if (n < max) {
        if (!k) {
            k = xcalloc(1, sizeof *k + kl + 1);
            memcpy(k->key, key, kl + 1);
            hash_put(c->h, k->key, kl, k);
        }
        k->n++;
    }
    pthread_mutex_unlock(&c->mu);
    if (had)
        *had = n;
    return n < max;
}

void app_counts_give(app_counts *c, const char *key)
{
    size_t kl = strlen(key);
    pthread_mutex_lock(&c->mu);
    count *k = hash_get(c->h, key, kl);
    if (k && --k->n == 0) {
        hash_remove(c->h, k->key, kl);
        free(k);
    }
    pthread_mutex_unlock(&c->mu);
}
