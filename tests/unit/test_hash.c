/* tests/unit/test_hash.c — base/hash: insert, find, replace, remove, growth
 * through many keys (every key still found), keys that are any bytes (NUL
 * inside, empty), keys not copied, and iteration that visits each entry once
 * and may remove the entry it stands on.
 * Must not: depend on the iteration order (it is unspecified). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

static void test_insert_find_replace_remove(void **state)
{
    (void)state;
    hash_t *h = hash_new(0);
    int a = 1, b = 2, c = 3;
    assert_int_equal(hash_count(h), 0);
    assert_null(hash_get(h, "alpha", 5));
    assert_null(hash_put(h, "alpha", 5, &a));
    assert_null(hash_put(h, "beta", 4, &b));
    assert_int_equal(hash_count(h), 2);
    assert_ptr_equal(hash_get(h, "alpha", 5), &a);
    assert_ptr_equal(hash_get(h, "beta", 4), &b);
    assert_null(hash_get(h, "alph", 4)); /* a prefix is another key */
    assert_null(hash_get(h, "alphaa", 6));
    /* the same key again: the value is replaced, the old one returned */
    assert_ptr_equal(hash_put(h, "alpha", 5, &c), &a);
    assert_int_equal(hash_count(h), 2);
    assert_ptr_equal(hash_get(h, "alpha", 5), &c);
    assert_ptr_equal(hash_remove(h, "alpha", 5), &c);
    assert_null(hash_remove(h, "alpha", 5));
    assert_null(hash_get(h, "alpha", 5));
    assert_int_equal(hash_count(h), 1);
    assert_ptr_equal(hash_get(h, "beta", 4), &b);
    hash_free(h);
    hash_free(NULL);
    assert_int_equal(hash_count(NULL), 0);
}

static void test_byte_keys_not_copied(void **state)
{
    (void)state;
    hash_t *h = hash_new(4);
    static const char k1[] = {'a', '\0', 'b'}, k2[] = {'a', '\0', 'c'};
    int x = 1, y = 2, z = 3;
    hash_put(h, k1, 3, &x);
    hash_put(h, k2, 3, &y);
    hash_put(h, "", 0, &z);
    assert_ptr_equal(hash_get(h, k1, 3), &x);
    assert_ptr_equal(hash_get(h, k2, 3), &y);
    assert_null(hash_get(h, "a", 1)); /* not cut at the NUL */
    assert_ptr_equal(hash_get(h, "", 0), &z);
    /* the table keeps the caller's key pointer */
    hash_iter it = HASH_ITER_INIT;
    const char *key;
    size_t len;
    int seen = 0;
    while (hash_next(h, &it, &key, &len)) {
        assert_true(key == k1 || key == k2 || len == 0);
        seen++;
    }
    assert_int_equal(seen, 3);
    assert_true(hash_bytes("abc", 3) != hash_bytes("abd", 3));
    assert_true(hash_bytes("", 0) == 1469598103934665603ull); /* FNV-1a offset basis */
    hash_free(h);
}

#define MANY 50000

static void test_growth_many_keys(void **state)
{
    (void)state;
    hash_t *h = hash_new(0);
    char(*keys)[16] = malloc(MANY * sizeof *keys);
    int *vals = malloc(MANY * sizeof *vals);
    for (int i = 0; i < MANY; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%d", i);
        vals[i] = i;
        assert_null(hash_put(h, keys[i], strlen(keys[i]), &vals[i]));
    }
    assert_int_equal(hash_count(h), MANY);
    for (int i = 0; i < MANY; i++) {
        int *v = hash_get(h, keys[i], strlen(keys[i]));
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(hash_get(h, "key-50000", 9));
    for (int i = 0; i < MANY; i += 3)
        assert_ptr_equal(hash_remove(h, keys[i], strlen(keys[i])), &vals[i]);
    for (int i = 0; i < MANY; i++)
        assert_true((hash_get(h, keys[i], strlen(keys[i])) == NULL) == (i % 3 == 0));
    hash_free(h);
    free(keys);
    free(vals);
}

static void test_iterate_and_remove(void **state)
{
    (void)state;
    enum {
        N = 1000
    };
    hash_t *h = hash_new(16);
    static char keys[N][8];
    static int vals[N], seen[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "%d", i);
        vals[i] = i;
        hash_put(h, keys[i], strlen(keys[i]), &vals[i]);
    }
    /* every entry once; remove the even ones while standing on them */
    memset(seen, 0, sizeof seen);
    hash_iter it = HASH_ITER_INIT;
    int *v;
    while ((v = hash_next(h, &it, NULL, NULL)) != NULL) {
        seen[*v]++;
        if (*v % 2 == 0) {
            hash_iter_remove(h, &it);
            hash_iter_remove(h, &it); /* twice: no effect */
        }
    }
    assert_null(hash_next(h, &it, NULL, NULL)); /* stays at the end */
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(hash_count(h), N / 2);
    for (int i = 0; i < N; i++)
        assert_true((hash_get(h, keys[i], strlen(keys[i])) != NULL) == (i % 2 == 1));
    /* then remove the rest: the table ends empty and usable */
    it = (hash_iter)HASH_ITER_INIT;
    int left = 0;
    while (hash_next(h, &it, NULL, NULL)) {
        hash_iter_remove(h, &it);
        left++;
    }
    assert_int_equal(left, N / 2);
    assert_int_equal(hash_count(h), 0);
    it = (hash_iter)HASH_ITER_INIT;
    assert_null(hash_next(h, &it, NULL, NULL));
    hash_put(h, keys[0], strlen(keys[0]), &vals[0]);
    assert_ptr_equal(hash_get(h, "0", 1), &vals[0]);
    hash_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_replace_remove),
        cmocka_unit_test(test_byte_keys_not_copied),
        cmocka_unit_test(test_growth_many_keys),
        cmocka_unit_test(test_iterate_and_remove),
    };
    return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
