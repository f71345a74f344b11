/* base/hash.c — see hash.h. Each entry is a small node (the key pointer, its
 * length and hash, the value) in a singly linked bucket chain; growth relinks
 * the nodes, so values and keys never move.
 * Must not: copy keys, touch values, or keep any global state. */
#include "base/hash.h"

#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"

typedef struct hnode {
    struct hnode *next;
    uint64_t hash;
    const char *key;
    size_t len;
    void *val;
} hnode;

struct hash {
    hnode **slots;
    size_t cap; /* power of two */
    size_t n;
};

uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

hash_t *hash_new(size_t expected)
{
    hash_t *h = xcalloc(1, sizeof *h);
    h->cap = 8;
    while (h->cap < expected && h->cap < ((size_t)1 << 30))
        h->cap *= 2;
    h->slots = xcalloc(h->cap, sizeof *h->slots);
    return h;
}

void hash_free(hash_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->cap; i++)
        for (hnode *n = h->slots[i], *nx; n; n = nx) {
            nx = n->next;
            free(n);
        }
    free(h->slots);
    free(h);
}

size_t hash_count(const hash_t *h)
{
    return h ? h->n : 0;
}

/* The link pointing at key's node (at a NULL link when absent). */
static hnode **find(const hash_t *h, const char *key, size_t len, uint64_t hv)
{
    hnode **pp = &h->slots[hv & (h->cap - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == hv && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
            break;
    return pp;
}

void *hash_get(const hash_t *h, const char *key, size_t len)
{
    hnode *n = *find(h, key, len, hash_bytes(key, len));
    return n ? n->val : NULL;
}

static void grow(hash_t *h)
{
    size_t ncap = h->cap * 2;
    hnode **nt = xcalloc(ncap, sizeof *nt);
    for (size_t i = 0; i < h->cap; i++)
        for (hnode *n = h->slots[i], *nx; n; n = nx) {
            nx = n->next;
            hnode **b = &nt[n->hash & (ncap - 1)];
            n->next = *b;
            *b = n;
        }
    free(h->slots);
    h->slots = nt;
    h->cap = ncap;
}

void *hash_put(hash_t *h, const char *key, size_t len, void *val)
{
    uint64_t hv = hash_bytes(key, len);
    hnode **pp = find(h, key, len, hv);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        (*pp)->key = key;
        return old;
    }
    hnode *n = xmalloc(sizeof *n);
    *n = (hnode){NULL, hv, key, len, val};
    *pp = n;
    if (++h->n > h->cap)
        grow(h);
    return NULL;
}

void *hash_remove(hash_t *h, const char *key, size_t len)
{
    hnode **pp = find(h, key, len, hash_bytes(key, len));
    hnode *n = *pp;
    if (!n)
        return NULL;
    void *val = n->val;
    *pp = n->next;
    free(n);
    h->n--;
    return val;
}

void *hash_next(hash_t *h, hash_iter *it, const char **key, size_t *len)
{
    hnode **link = it->link;
    if (link && *link && !it->removed)
        link = &(*link)->next; /* past the entry returned last */
    it->removed = false;
    while (!link || !*link) {
        if (it->slot >= h->cap) {
            it->link = link;
            return NULL;
        }
        link = &h->slots[it->slot++];
    }
    it->link = link;
    if (key)
        *key = (*link)->key;
    if (len)
        *len = (*link)->len;
    return (*link)->val;
}

void hash_iter_remove(hash_t *h, hash_iter *it)
{
    hnode **link = it->link;
    if (!link || !*link || it->removed)
        return;
    hnode *n = *link;
    *link = n->next;
    free(n);
    h->n--;
    it->removed = true;
}
