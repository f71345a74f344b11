/* auth/codec.h — base64url without padding (RFC 7515 §2), strict on input, and
 * constant-time comparisons for secrets (signatures, API keys).
 * Must not: log its inputs (they are tokens and keys), or accept sloppy input
 * (padding, whitespace, the '+' '/' alphabet, non-zero trailing bits). */
#ifndef CTXD_AUTH_CODEC_H
#define CTXD_AUTH_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* Encodes n bytes; returns a new NUL-terminated string (caller frees). */
char *auth_b64url_encode(const void *data, size_t n);
/* Decodes s[0..n): only A-Z a-z 0-9 - _, no padding, length % 4 != 1, unused
 * trailing bits zero (one encoding per value). On success *out is a new buffer
 * (NUL-terminated for convenience, not counted in *outn). */
bool auth_b64url_decode(const char *s, size_t n, unsigned char **out, size_t *outn);

/* Equal lengths and bytes; time depends only on the lengths (CRYPTO_memcmp). */
bool auth_ct_equal(const void *a, size_t an, const void *b, size_t bn);
/* For secrets of any length (API keys): compares SHA-256 digests in constant time,
 * so neither content nor length leaks through timing. NULL never matches. */
bool auth_ct_streq(const char *expected, const char *presented);
/* A short non-secret fingerprint of a secret for logs and rate-limit keys: the
 * first 8 bytes of SHA-256 as 16 hex digits. */
#define AUTH_FINGERPRINT_LEN 17
char *auth_fingerprint(const char *secret, char out[AUTH_FINGERPRINT_LEN]);

#endif
