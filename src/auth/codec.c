/* auth/codec.c — base64url (strict) and constant-time comparisons.
 * Must not: log, or branch on secret bytes. */
#include "auth/codec.h"

#include <stdint.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/sbuf.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *auth_b64url_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = xmalloc(n / 3 * 4 + 5);
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = ALPHA[v >> 18 & 63];
        out[o++] = ALPHA[v >> 12 & 63];
        out[o++] = ALPHA[v >> 6 & 63];
        out[o++] = ALPHA[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = ALPHA[v >> 18 & 63];
        out[o++] = ALPHA[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = ALPHA[v >> 18 & 63];
        out[o++] = ALPHA[v >> 12 & 63];
        out[o++] = ALPHA[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

/* The 6-bit value of a base64url character: its place in ALPHA; -1 for any other. */
static int val(unsigned char c)
{
    const char *at = c ? strchr(ALPHA, c) : NULL;
    return at ? (int)(at - ALPHA) : -1;
}

bool auth_b64url_decode(const char *s, size_t n, unsigned char **out, size_t *outn)
{
    *out = NULL;
    *outn = 0;
    if (!s || n % 4 == 1)
        return false;
    unsigned char *b = xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = val((unsigned char)s[i]);
        if (v < 0) {
            free(b);
            return false;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[o++] = (unsigned char)(acc >> bits & 0xFF);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) { /* non-canonical tail */
        free(b);
        return false;
    }
    b[o] = '\0';
    *out = b;
    *outn = o;
    return true;
}

bool auth_ct_equal(const void *a, size_t an, const void *b, size_t bn)
{
    if (!a || !b || an != bn)
        return false;
    if (an == 0)
        return true;
    return CRYPTO_memcmp(a, b, an) == 0;
}

bool auth_ct_streq(const char *expected, const char *presented)
{
    if (!expected || !presented)
        return false;
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)expected, strlen(expected), da);
    SHA256((const unsigned char *)presented, strlen(presented), db);
    int diff = CRYPTO_memcmp(da, db, sizeof da);
    OPENSSL_cleanse(da, sizeof da);
    OPENSSL_cleanse(db, sizeof db);
    return diff == 0;
}

char *auth_fingerprint(const char *secret, char out[AUTH_FINGERPRINT_LEN])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(secret ? secret : ""), secret ? strlen(secret) : 0, d);
    return str_hex(d, 8, out);
}
