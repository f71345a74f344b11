/* base/hash.h — the one string-keyed hash table of ctxd: byte-string keys (any
 * bytes, with a length) mapped to the caller's pointers; chained buckets, a
 * power of two of them, doubled when the entries reach their number; iteration
 * that may remove the entry it stands on.
 * Keys are NOT copied: the key bytes must stay valid and unchanged while their
 * entry is in the table (keep them inside the value, as every user here does).
 * Not thread-safe: a shared table is guarded by its owner's lock.
 * Must not: own, copy or free keys or values, or lock. */
#ifndef CTXD_BASE_HASH_H
#define CTXD_BASE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hash hash_t;

/* 64-bit FNV-1a of n bytes (the table's hash; stable across runs). */
uint64_t hash_bytes(const void *p, size_t n);

/* A table with room for `expected` entries before it first grows (0: a few). */
hash_t *hash_new(size_t expected);
/* Frees the table, not the keys or values (free those first, e.g. while
 * iterating). NULL is fine. */
void hash_free(hash_t *h);
size_t hash_count(const hash_t *h);

/* The value stored under key[0..len), NULL when absent. */
void *hash_get(const hash_t *h, const char *key, size_t len);
/* Stores val (not NULL) under key[0..len). When the key is present its value is
 * replaced (and its stored key pointer becomes `key`) and the old value is
 * returned; else NULL. */
void *hash_put(hash_t *h, const char *key, size_t len, void *val);
/* Removes key's entry; returns its value, NULL when absent. */
void *hash_remove(hash_t *h, const char *key, size_t len);

/* Visits every entry once, in no particular order:
 *     hash_iter it = HASH_ITER_INIT;
 *     for (T *v; (v = hash_next(h, &it, NULL, NULL)) != NULL;)
 *         if (done_with(v)) { hash_iter_remove(h, &it); free(v); }
 * hash_iter_remove removes the entry hash_next returned last; adding entries
 * (hash_put of a new key) or hash_remove during an iteration is not allowed. */
typedef struct hash_iter {
    size_t slot;  /* next bucket to enter */
    void *link;   /* private: the link that points at the current entry */
    bool removed; /* private: the current entry was removed */
} hash_iter;
#define HASH_ITER_INIT \
    { \
        0, NULL, false \
    }
/* The next value (NULL at the end); *key and *len (each may be NULL) its key. */
void *hash_next(hash_t *h, hash_iter *it, const char **key, size_t *len);
void hash_iter_remove(hash_t *h, hash_iter *it);

#endif
