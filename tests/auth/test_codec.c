/* tests/auth/test_codec.c — base64url (RFC 4648 §5 vectors, strictness) and the
 * constant-time comparisons. Must not: depend on a store or the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "auth/codec.h"

static void enc_is(const char *in, const char *want)
{
    char *s = auth_b64url_encode(in, strlen(in));
    assert_string_equal(s, want);
    unsigned char *d;
    size_t n;
    assert_true(auth_b64url_decode(s, strlen(s), &d, &n));
    assert_int_equal(n, strlen(in));
    assert_memory_equal(d, in, n);
    free(d);
    free(s);
}

static void test_b64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10 test vectors, padding removed */
    enc_is("", "");
    enc_is("f", "Zg");
    enc_is("fo", "Zm8");
    enc_is("foo", "Zm9v");
    enc_is("foob", "Zm9vYg");
    enc_is("fooba", "Zm9vYmE");
    enc_is("foobar", "Zm9vYmFy");
    /* the url-safe alphabet: 0xfb 0xff -> "-_8" */
    const unsigned char b[] = {0xfb, 0xff};
    char *s = auth_b64url_encode(b, 2);
    assert_string_equal(s, "-_8");
    free(s);
    /* every byte value survives a round trip */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t len = 0; len <= 256; len += 1) {
        char *x = auth_b64url_encode(all, len);
        unsigned char *d;
        size_t n;
        assert_true(auth_b64url_decode(x, strlen(x), &d, &n));
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(d, all, len);
        free(d);
        free(x);
    }
}

static void dec_fails(const char *s)
{
    unsigned char *d = (unsigned char *)"x";
    size_t n = 9;
    if (auth_b64url_decode(s, strlen(s), &d, &n))
        fail_msg("'%s' decoded", s);
    assert_null(d);
    assert_int_equal(n, 0);
}

static void test_b64url_strict(void **state)
{
    (void)state;
    dec_fails("Zg==");   /* padding */
    dec_fails("Zm9v+w"); /* '+' is standard base64 */
    dec_fails("Zm9v/w");
    dec_fails("Zm 9v"); /* whitespace */
    dec_fails("Z");     /* length % 4 == 1 */
    dec_fails("Zh");    /* non-zero trailing bits ("Zg" is canonical) */
    dec_fails("Zm9=");
    dec_fails("\xc3\xa9");
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(auth_ct_equal("abc", 3, "abc", 3));
    assert_false(auth_ct_equal("abc", 3, "abd", 3));
    assert_false(auth_ct_equal("abc", 3, "abcd", 4));
    assert_false(auth_ct_equal("abc", 3, NULL, 0));
    assert_true(auth_ct_equal("", 0, "", 0));
    /* a difference in every position is found */
    unsigned char a[64], b[64];
    memset(a, 7, sizeof a);
    for (size_t i = 0; i < sizeof a; i++) {
        memcpy(b, a, sizeof b);
        b[i] ^= 0x80;
        assert_false(auth_ct_equal(a, sizeof a, b, sizeof b));
    }

    assert_true(auth_ct_streq("s3cret-key", "s3cret-key"));
    assert_false(auth_ct_streq("s3cret-key", "s3cret-kez"));
    assert_false(auth_ct_streq("s3cret-key", "s3cret-ke"));
    assert_false(auth_ct_streq("s3cret-key", "s3cret-key "));
    assert_false(auth_ct_streq("s3cret-key", ""));
    assert_false(auth_ct_streq(NULL, "x"));
    assert_false(auth_ct_streq("x", NULL));
    assert_true(auth_ct_streq("", ""));
}

static void test_fingerprint(void **state)
{
    (void)state;
    char a[AUTH_FINGERPRINT_LEN], b[AUTH_FINGERPRINT_LEN];
    /* SHA-256("abc") = ba7816bf8f01cfea... (FIPS 180-2 example) */
    assert_string_equal(auth_fingerprint("abc", a), "ba7816bf8f01cfea");
    assert_string_not_equal(auth_fingerprint("abd", b), a);
    assert_int_equal(strlen(b), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
