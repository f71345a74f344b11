/* fuzz/fuzz_jwt.c — libFuzzer harness for JWT verification (auth/jwt.c) and base64url
 * (auth/codec.c) with a fixed key and a fixed "now" (2026-01-15T12:00:00Z).
 * An input without a newline is a compact token verified as it is (and also decoded as
 * base64url); "HEADER\nPAYLOAD" is raw JSON the harness encodes and signs with the key,
 * so the header and claim checks are reached behind a valid signature.
 * Properties: base64url decoding accepts only the one canonical encoding (decode then
 * encode gives the input back) and encode then decode gives any bytes back; a failed
 * verification leaves no payload and a zeroed identity; a verified token has valid
 * agent_id, agent_type, jti and permissions, is a JWT by auth_token_classify, re-signs
 * to the same identity, and fails under another key or with its last character changed;
 * auth_bearer finds a token inside the header it was given.
 * Must not: use the clock (now is fixed) or log tokens. */
#include "fuzz.h"

#include "auth/auth.h"
#include "auth/codec.h"
#include "auth/jwt.h"
#include "base/sbuf.h"

#define KEY "fuzz-jwt-secret-0123456789abcdef-0123456789"
#define OTHER_KEY "fuzz-jwt-secret-0123456789abcdef-012345678X"
#define NOW_US (INT64_C(1768478400) * 1000000)

static const auth_identity ZERO_ID;

static void check_b64(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t outn = 0;
    if (auth_b64url_decode((const char *)data, size, &out, &outn)) {
        FZ_CHECK(outn == size * 3 / 4, "decoded %zu bytes from %zu characters", outn, size);
        char *again = auth_b64url_encode(out, outn);
        FZ_CHECK(strlen(again) == size && memcmp(again, data, size) == 0,
                 "base64url '%.*s' is not canonical (re-encodes as '%s')", (int)size,
                 (const char *)data, again);
        free(again);
        free(out);
    } else {
        FZ_CHECK(out == NULL && outn == 0, "a failed decode left output set");
    }
    char *enc = auth_b64url_encode(data, size);
    FZ_CHECK(auth_b64url_decode(enc, strlen(enc), &out, &outn) && outn == size &&
                 memcmp(out, data, size) == 0,
             "encode/decode of %zu bytes does not round trip", size);
    free(out);
    free(enc);
}

static void check_verified(const char *tok, size_t n, const auth_identity *id)
{
    FZ_CHECK(auth_valid_agent_id(id->agent_id) && auth_valid_agent_type(id->agent_type) &&
                 ids_is_uuid(id->jti) && (id->permissions & ~AUTH_PERM_ALL) == 0 &&
                 id->token_format == AUTH_FMT_JWT && id->expires_at > 0 &&
                 id->issued_at <= NOW_US + (utc_us)AUTH_JWT_LEEWAY_S * 1000000,
             "a verified token gave an invalid identity (agent %s, type %s, jti %s)", id->agent_id,
             id->agent_type, id->jti);
    FZ_CHECK(auth_token_classify(tok, n) == AUTH_FMT_JWT, "verified but not classified as a JWT");
    auth_identity other;
    FZ_CHECK(auth_jwt_verify(OTHER_KEY, strlen(OTHER_KEY), tok, n, NOW_US, AUTH_JWT_LEEWAY_S,
                             &other) != AUTH_OK,
             "a token verified under two keys");
    char *t = malloc(n);
    memcpy(t, tok, n);
    t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
    FZ_CHECK(auth_jwt_verify(KEY, strlen(KEY), t, n, NOW_US, AUTH_JWT_LEEWAY_S, &other) != AUTH_OK,
             "a token with its last character changed still verifies");
    free(t);
    char *again = auth_jwt_sign(KEY, strlen(KEY), id);
    FZ_CHECK(again != NULL, "a verified identity cannot be signed again");
    auth_identity id2;
    FZ_CHECK(auth_jwt_verify(KEY, strlen(KEY), again, strlen(again), NOW_US, AUTH_JWT_LEEWAY_S,
                             &id2) == AUTH_OK &&
                 memcmp(&id2, id, sizeof id2) == 0,
             "the re-signed identity differs");
    free(again);
}

static void verify(const char *tok, size_t n)
{
    json_t *payload = (json_t *)tok; /* anything but NULL: a failure must clear it */
    auth_status st = auth_jws_verify_hs256(KEY, strlen(KEY), tok, n, &payload);
    FZ_CHECK(st == AUTH_OK ? json_is_object(payload) : payload == NULL,
             "JWS status %d with payload %p", (int)st, (void *)payload);
    json_decref(payload);
    auth_identity id;
    memset(&id, 0x5a, sizeof id);
    auth_status st2 = auth_jwt_verify(KEY, strlen(KEY), tok, n, NOW_US, AUTH_JWT_LEEWAY_S, &id);
    if (st2 == AUTH_OK) {
        FZ_CHECK(st == AUTH_OK, "the claims verified where the JWS did not");
        check_verified(tok, n, &id);
    } else {
        FZ_CHECK(st2 <= AUTH_TOKEN_EXPIRED, "status %d", (int)st2);
        FZ_CHECK(memcmp(&id, &ZERO_ID, sizeof id) == 0, "a failed verification left an identity");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) {
        check_b64(data, size);
        verify((const char *)data, size);
        char *h = fz_cstr(data, size);
        const char *tok = NULL;
        size_t n = 0;
        if (h && auth_bearer(h, &tok, &n))
            FZ_CHECK(n > 0 && tok >= h && tok + n <= h + size, "auth_bearer out of its header");
        free(h);
        return 0;
    }
    size_t hn = (size_t)(nl - data);
    char *h64 = auth_b64url_encode(data, hn);
    char *p64 = auth_b64url_encode(nl + 1, size - hn - 1);
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s.%s", h64, p64);
    unsigned char mac[32];
    FZ_CHECK(auth_hs256(KEY, strlen(KEY), b.p, b.len, mac), "HMAC failed");
    char *s64 = auth_b64url_encode(mac, sizeof mac);
    sbuf_printf(&b, ".%s", s64);
    verify(b.p, b.len);
    free(s64);
    free(h64);
    free(p64);
    sbuf_free(&b);
    return 0;
}
