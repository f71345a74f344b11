/* tests/auth/test_jwt.c — HS256 JWTs: round trip, every claim check, header and
 * algorithm confusion, malformed input, and external vectors: RFC 7515 Appendix
 * A.1 (published key, token and signature) and tokens signed by openssl(1).
 * Must not: use a store (revocation is tested in test_token.c) or sleep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/codec.h"
#include "auth/jwt.h"
#include "base/sbuf.h"

#define KEY "test-secret-key-0123456789abcdefghijklmnop"
#define KEYLEN (sizeof KEY - 1)
#define NOW_S 1800000000LL
#define NOW ((utc_us)NOW_S * 1000000)

static auth_identity ident(const char *agent, const char *type, auth_perms p, int64_t iat,
                           int64_t exp)
{
    auth_identity id;
    memset(&id, 0, sizeof id);
    snprintf(id.agent_id, sizeof id.agent_id, "%s", agent);
    snprintf(id.agent_type, sizeof id.agent_type, "%s", type);
    id.permissions = p;
    ids_uuid4(id.jti);
    id.issued_at = iat * 1000000;
    id.expires_at = exp * 1000000;
    return id;
}

/* A token with arbitrary header and payload text, signed with HMAC-SHA256. */
static char *make_token(const char *hdr, const char *payload, const char *key)
{
    char *h = auth_b64url_encode(hdr, strlen(hdr));
    char *p = auth_b64url_encode(payload, strlen(payload));
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s.%s", h, p);
    unsigned char mac[32];
    assert_true(auth_hs256(key, strlen(key), b.p, b.len, mac));
    char *s = auth_b64url_encode(mac, 32);
    sbuf_printf(&b, ".%s", s);
    free(h);
    free(p);
    free(s);
    return sbuf_detach(&b);
}

static const char *HDR = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* Claims text with the given overrides (NULL = the good value, "-" = omitted). */
static char *claims(const char *iss, const char *aud, const char *iat, const char *exp,
                    const char *perms, const char *extra)
{
    char jti[IDS_UUID_LEN];
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "{\"agent_id\":\"agent-1\",\"agent_type\":\"claude\",\"jti\":\"%s\"",
                ids_uuid4(jti));
    const char *names[] = {"iss", "aud", "iat", "exp", "permissions"};
    char diat[32], dexp[32];
    snprintf(diat, sizeof diat, "%lld", (long long)NOW_S - 10);
    snprintf(dexp, sizeof dexp, "%lld", (long long)NOW_S + 3600);
    const char *defs[] = {"\"shared-context-server\"", "\"mcp-agents\"", diat, dexp,
                          "[\"read\",\"write\"]"};
    const char *vals[] = {iss, aud, iat, exp, perms};
    for (int i = 0; i < 5; i++) {
        const char *v = vals[i] ? vals[i] : defs[i];
        if (strcmp(v, "-") != 0)
            sbuf_printf(&b, ",\"%s\":%s", names[i], v);
    }
    if (extra)
        sbuf_printf(&b, ",%s", extra);
    sbuf_putc(&b, '}');
    return sbuf_detach(&b);
}

/* "a.b" (c NULL) or "a.b.c"; caller frees. */
static char *cat3(const char *a, const char *b, const char *c)
{
    sbuf_t s = SBUF_INIT;
    sbuf_printf(&s, "%s.%s", a, b);
    if (c)
        sbuf_printf(&s, ".%s", c);
    return sbuf_detach(&s);
}

/* Good claims without one of them. */
static char *make_token_payload_without(const char *name)
{
    char *p = claims(NULL, NULL, NULL, NULL, NULL, NULL);
    json_t *j = json_loads(p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_del(j, name), 0);
    free(p);
    p = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return p;
}

static auth_status verify(const char *tok, utc_us now)
{
    auth_identity id;
    auth_status st = auth_jwt_verify(KEY, KEYLEN, tok, strlen(tok), now, AUTH_JWT_LEEWAY_S, &id);
    if (st != AUTH_OK) { /* nothing leaks out of a refused token */
        assert_string_equal(id.agent_id, "");
        assert_int_equal(id.permissions, 0);
    }
    return st;
}

static auth_status verify_claims(char *payload)
{
    char *tok = make_token(HDR, payload, KEY);
    auth_status st = verify(tok, NOW);
    free(tok);
    free(payload);
    return st;
}

static void test_round_trip(void **state)
{
    (void)state;
    auth_identity in =
        ident("agent-é-1", "claude", AUTH_PERM_READ | AUTH_PERM_WRITE, NOW_S, NOW_S + 86400);
    char *tok = auth_jwt_sign(KEY, KEYLEN, &in);
    assert_non_null(tok);
    auth_identity out;
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, tok, strlen(tok), NOW, 30, &out), AUTH_OK);
    assert_string_equal(out.agent_id, "agent-é-1");
    assert_string_equal(out.agent_type, "claude");
    assert_int_equal(out.permissions, AUTH_PERM_READ | AUTH_PERM_WRITE);
    assert_string_equal(out.jti, in.jti);
    assert_int_equal(out.issued_at, in.issued_at);
    assert_int_equal(out.expires_at, in.expires_at);
    assert_int_equal(out.token_format, AUTH_FMT_JWT);

    /* the payload carries exactly the contract's claims */
    json_t *p = NULL;
    assert_int_equal(auth_jws_verify_hs256(KEY, KEYLEN, tok, strlen(tok), &p), AUTH_OK);
    assert_int_equal(json_object_size(p), 8);
    assert_string_equal(json_string_value(json_object_get(p, "iss")), "shared-context-server");
    assert_string_equal(json_string_value(json_object_get(p, "aud")), "mcp-agents");
    assert_int_equal(json_integer_value(json_object_get(p, "iat")), NOW_S);
    assert_int_equal(json_integer_value(json_object_get(p, "exp")), NOW_S + 86400);
    json_t *perms = json_object_get(p, "permissions");
    assert_int_equal(json_array_size(perms), 2);
    assert_string_equal(json_string_value(json_array_get(perms, 0)), "read");
    assert_string_equal(json_string_value(json_array_get(perms, 1)), "write");
    json_decref(p);

    /* two tokens for the same agent differ (unique jti) */
    auth_identity in2 = ident("agent-é-1", "claude", AUTH_PERM_READ, NOW_S, NOW_S + 86400);
    char *tok2 = auth_jwt_sign(KEY, KEYLEN, &in2);
    assert_string_not_equal(tok, tok2);
    assert_string_not_equal(in.jti, in2.jti);
    free(tok2);

    /* another key does not verify it */
    assert_int_equal(auth_jwt_verify("another-key", 11, tok, strlen(tok), NOW, 30, &out),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    free(tok);

    /* invalid identities are not signed */
    auth_identity bad = ident("", "claude", AUTH_PERM_READ, NOW_S, NOW_S + 60);
    assert_null(auth_jwt_sign(KEY, KEYLEN, &bad));
    bad = ident("a", "claude", AUTH_PERM_READ, NOW_S, NOW_S + 60);
    strcpy(bad.jti, "not-a-uuid");
    assert_null(auth_jwt_sign(KEY, KEYLEN, &bad));
    bad = ident("a", "claude", AUTH_PERM_READ, NOW_S, NOW_S + 60);
    assert_null(auth_jwt_sign(KEY, 0, &bad));
}

static void test_claims(void **state)
{
    (void)state;
    char t[64];
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, NULL, NULL)), AUTH_OK);
    /* iss */
    assert_int_equal(verify_claims(claims("\"joe\"", NULL, NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims("-", NULL, NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims("1", NULL, NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* aud: a string or an array containing ours */
    assert_int_equal(verify_claims(claims(NULL, "\"other\"", NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, "-", NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, "[\"x\",\"mcp-agents\"]", NULL, NULL, NULL, NULL)),
                     AUTH_OK);
    assert_int_equal(verify_claims(claims(NULL, "[\"x\"]", NULL, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* exp: expired beyond the leeway; within the leeway still good */
    snprintf(t, sizeof t, "%lld", (long long)NOW_S - AUTH_JWT_LEEWAY_S);
    assert_int_equal(verify_claims(claims(NULL, NULL, "1700000000", t, NULL, NULL)),
                     AUTH_TOKEN_EXPIRED);
    snprintf(t, sizeof t, "%lld", (long long)NOW_S - AUTH_JWT_LEEWAY_S + 1);
    assert_int_equal(verify_claims(claims(NULL, NULL, "1700000000", t, NULL, NULL)), AUTH_OK);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, "-", NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, "\"1900000000\"", NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, "1.9e9", NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, "99999999999999999", NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* iat in the future beyond the leeway */
    snprintf(t, sizeof t, "%lld", (long long)NOW_S + AUTH_JWT_LEEWAY_S + 1);
    assert_int_equal(verify_claims(claims(NULL, NULL, t, NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    snprintf(t, sizeof t, "%lld", (long long)NOW_S + AUTH_JWT_LEEWAY_S);
    assert_int_equal(verify_claims(claims(NULL, NULL, t, NULL, NULL, NULL)), AUTH_OK);
    assert_int_equal(verify_claims(claims(NULL, NULL, "-", NULL, NULL, NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* nbf */
    snprintf(t, sizeof t, "\"nbf\":%lld", (long long)NOW_S + 3000);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, NULL, t)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* permissions: known names only */
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, "[\"read\",\"root\"]", NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, "\"read\"", NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, "-", NULL)),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(claims(NULL, NULL, NULL, NULL, "[]", NULL)), AUTH_OK);
    /* agent_id, agent_type, jti */
    assert_int_equal(verify_claims(make_token_payload_without("agent_id")),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(make_token_payload_without("agent_type")),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(make_token_payload_without("jti")),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(verify_claims(xstrdup("{\"agent_id\":\"a\",\"agent_type\":\"claude\","
                                           "\"jti\":\"nope\",\"iss\":\"shared-context-server\","
                                           "\"aud\":\"mcp-agents\",\"iat\":1799999990,"
                                           "\"exp\":1800003600,\"permissions\":[]}")),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* duplicate claim names are refused, not "last one wins" */
    assert_int_equal(
        verify_claims(claims(NULL, NULL, NULL, NULL, NULL, "\"iss\":\"shared-context-server\"")),
        AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* the payload must be an object */
    assert_int_equal(verify_claims(xstrdup("[1,2]")), AUTH_TOKEN_AUTHENTICATION_FAILED);
}

static void test_expired_needs_signature(void **state)
{
    (void)state;
    /* an expired token with a bad signature is "failed", never "expired" */
    char *p = claims(NULL, NULL, "1600000000", "1600000100", NULL, NULL);
    char *tok = make_token(HDR, p, "the-wrong-key");
    assert_int_equal(verify(tok, NOW), AUTH_TOKEN_AUTHENTICATION_FAILED);
    free(tok);
    tok = make_token(HDR, p, KEY);
    assert_int_equal(verify(tok, NOW), AUTH_TOKEN_EXPIRED);
    free(tok);
    free(p);
}

static void test_bad_signature(void **state)
{
    (void)state;
    char *p = claims(NULL, NULL, NULL, NULL, NULL, NULL);
    char *tok = make_token(HDR, p, KEY);
    free(p);
    assert_int_equal(verify(tok, NOW), AUTH_OK);
    size_t n = strlen(tok);
    char *dot = strrchr(tok, '.');
    /* flip one character of the signature (keep it canonical base64url) */
    char *t2 = xstrdup(tok);
    t2[dot - tok + 1] = t2[dot - tok + 1] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t2, NOW), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* truncated signature (43 -> 40 chars: still canonical base64url, 30 bytes) */
    memcpy(t2, tok, n + 1);
    t2[n - 3] = '\0';
    assert_int_equal(verify(t2, NOW), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* payload changed, signature kept: the classic tampering */
    char *p2 = claims(NULL, NULL, NULL, NULL, "[\"read\",\"write\",\"admin\"]", NULL);
    char *forged = make_token(HDR, p2, KEY);
    char *fdot = strrchr(forged, '.');
    sbuf_t b = SBUF_INIT;
    sbuf_append(&b, forged, (size_t)(fdot - forged));
    sbuf_puts(&b, dot);
    assert_int_equal(verify(b.p, NOW), AUTH_TOKEN_AUTHENTICATION_FAILED);
    sbuf_free(&b);
    free(forged);
    free(p2);
    free(t2);
    free(tok);
}

static void test_alg_confusion(void **state)
{
    (void)state;
    char *p = claims(NULL, NULL, NULL, NULL, NULL, NULL);
    char *pb = auth_b64url_encode(p, strlen(p));
    /* alg none, no signature */
    const char *hn = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *hb = auth_b64url_encode(hn, strlen(hn));
    char *tok = cat3(hb, pb, "");
    assert_int_not_equal(verify(tok, NOW), AUTH_OK);
    free(tok);
    /* alg none with an HMAC signature that is otherwise right */
    tok = make_token(hn, p, KEY);
    assert_int_equal(verify(tok, NOW), AUTH_TOKEN_AUTHENTICATION_FAILED);
    free(tok);
    free(hb);
    static const char *const headers[] = {
        "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":null}",
        "{\"alg\":[\"HS256\"]}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}",
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        tok = make_token(headers[i], p, KEY);
        if (verify(tok, NOW) == AUTH_OK)
            fail_msg("header %s accepted", headers[i]);
        free(tok);
    }
    /* typ is optional; extra fields (kid) are ignored */
    tok = make_token("{\"alg\":\"HS256\"}", p, KEY);
    assert_int_equal(verify(tok, NOW), AUTH_OK);
    free(tok);
    tok = make_token("{\"kid\":\"1\",\"alg\":\"HS256\",\"typ\":\"jwt\"}", p, KEY);
    assert_int_equal(verify(tok, NOW), AUTH_OK);
    free(tok);
    free(pb);
    free(p);
}

static void test_malformed(void **state)
{
    (void)state;
    char *p = claims(NULL, NULL, NULL, NULL, NULL, NULL);
    char *good = make_token(HDR, p, KEY);
    free(p);
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "...",
        "a.b",
        "a.b.c.d",
        "abc",
        "eyJhbGciOiJIUzI1NiJ9..sig",
        ".eyJ9.sig",
        "eyJ9.eyJ9.",
        "e yJ9.eyJ9.abc",
        "eyJ9.eyJ9.abc=",
        "eyJ9.eyJ9.a+c",
        "bm90IGpzb24.eyJ9.abcd", /* header "not json" */
        "Zg.eyJ9.abcd",          /* header "f" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_status st = verify(bad[i], NOW);
        if (st != AUTH_INVALID_TOKEN_FORMAT)
            fail_msg("'%s' -> %d", bad[i], (int)st);
    }
    /* four segments made of a good token plus one */
    char *four = cat3(good, "x", "");
    four[strlen(good)] = '.';
    assert_int_equal(verify(four, NOW), AUTH_INVALID_TOKEN_FORMAT);
    free(four);
    /* an embedded NUL within the given length */
    auth_identity id;
    size_t gl = strlen(good);
    char *nul = xmalloc(gl + 2);
    memcpy(nul, good, gl + 1);
    nul[gl] = '\0';
    nul[gl + 1] = 'x';
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, nul, gl + 2, NOW, 30, &id),
                     AUTH_INVALID_TOKEN_FORMAT);
    free(nul);
    /* huge inputs are refused before any work */
    size_t big = 1u << 20;
    char *h = xmalloc(big + 1);
    memset(h, 'A', big);
    h[big] = '\0';
    h[1000] = '.';
    h[2000] = '.';
    assert_int_equal(verify(h, NOW), AUTH_INVALID_TOKEN_FORMAT);
    free(h);
    /* a huge claim inside a small-enough token is still bounded */
    sbuf_t b = SBUF_INIT;
    sbuf_puts(&b, "{\"agent_id\":\"");
    for (int i = 0; i < 7000; i++)
        sbuf_putc(&b, 'a');
    sbuf_puts(&b, "\"}");
    char *t = make_token(HDR, b.p, KEY);
    assert_true(strlen(t) > AUTH_JWT_MAX_LEN);
    assert_int_equal(verify(t, NOW), AUTH_INVALID_TOKEN_FORMAT);
    free(t);
    /* under the size limit but an agent_id over 100 characters: signed, still refused */
    char *p2 = claims(NULL, NULL, NULL, NULL, NULL, NULL);
    json_t *j = json_loads(p2, 0, NULL);
    json_object_set_new(j, "agent_id", json_stringn(b.p + 13, 101));
    free(p2);
    p2 = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_int_equal(verify_claims(p2), AUTH_TOKEN_AUTHENTICATION_FAILED);
    sbuf_free(&b);
    free(good);
}

/* Random single-byte mutations of a good token: never accepted, never a crash
 * (this runs under ASan/UBSan in CI). */
static void test_mutations(void **state)
{
    (void)state;
    auth_identity in = ident("agent-m", "admin", AUTH_PERM_ALL, NOW_S, NOW_S + 600);
    char *tok = auth_jwt_sign(KEY, KEYLEN, &in);
    size_t n = strlen(tok);
    char *m = xmalloc(n + 1);
    static const char CH[] = "AZaz09-_.=+/ \"{}\x80\xff";
    unsigned seed = 12345;
    for (int i = 0; i < 20000; i++) {
        memcpy(m, tok, n + 1);
        seed = seed * 1103515245u + 12345u;
        size_t pos = (seed >> 8) % n;
        seed = seed * 1103515245u + 12345u;
        char c = CH[(seed >> 8) % (sizeof CH - 1)];
        m[pos] = c;
        size_t len = n;
        if (i % 7 == 0)
            len = pos + 1; /* also truncate */
        auth_identity out;
        auth_status st = auth_jwt_verify(KEY, KEYLEN, m, len, NOW, 30, &out);
        if (st == AUTH_OK && !(len == n && memcmp(m, tok, n) == 0)) {
            /* only a change in the unused low bits of the last signature char
             * could decode to the same bytes, and strict decoding forbids it */
            fail_msg("mutation %d accepted: pos %zu char %02x", i, pos, (unsigned char)c);
        }
    }
    free(m);
    free(tok);
}

/* RFC 7515 Appendix A.1: the published HS256 example (key, JWS and signature). */
#define RFC_KEY_B64 \
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define RFC_INPUT \
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" \
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnV" \
    "lfQ"
#define RFC_SIG "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

static void test_rfc7515_a1(void **state)
{
    (void)state;
    unsigned char *key;
    size_t keylen;
    assert_true(auth_b64url_decode(RFC_KEY_B64, strlen(RFC_KEY_B64), &key, &keylen));
    assert_int_equal(keylen, 64);
    /* our HMAC over the signing input gives the published signature */
    unsigned char mac[32];
    assert_true(auth_hs256(key, keylen, RFC_INPUT, strlen(RFC_INPUT), mac));
    char *sig = auth_b64url_encode(mac, 32);
    assert_string_equal(sig, RFC_SIG);
    free(sig);
    /* and the published token verifies at the JWS level */
    const char *tok = RFC_INPUT "." RFC_SIG;
    json_t *p = NULL;
    assert_int_equal(auth_jws_verify_hs256(key, keylen, tok, strlen(tok), &p), AUTH_OK);
    assert_string_equal(json_string_value(json_object_get(p, "iss")), "joe");
    assert_int_equal(json_integer_value(json_object_get(p, "exp")), 1300819380);
    assert_true(json_is_true(json_object_get(p, "http://example.com/is_root")));
    json_decref(p);
    /* but it is not one of ours: wrong issuer (and long expired) */
    auth_identity id;
    assert_int_equal(
        auth_jwt_verify(key, keylen, tok, strlen(tok), (utc_us)1300819000 * 1000000, 30, &id),
        AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* one bit of the key changed: refused */
    key[0] ^= 1;
    assert_int_equal(auth_jws_verify_hs256(key, keylen, tok, strlen(tok), &p),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_null(p);
    free(key);
}

/* Signs `input` with `openssl dgst -<md> -hmac KEY`; base64url into out. */
static bool openssl_hmac(const char *md, const char *input, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "printf '%%s' '%s' | openssl dgst -%s -hmac '%s' -binary | openssl base64 -A", input,
             md, KEY);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int rc = pclose(f);
    if (rc != 0 || n == 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = buf[i];
        if (c == '=' || c == '\n' || c == '\r')
            continue;
        out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[o] = '\0';
    return o > 0;
}

static void test_openssl_cli(void **state)
{
    (void)state;
    if (system("openssl version >/dev/null 2>&1") != 0)
        skip();
    char *p = claims(NULL, NULL, NULL, NULL, "[\"read\",\"debug\"]", NULL);
    char *h64 = auth_b64url_encode(HDR, strlen(HDR));
    char *p64 = auth_b64url_encode(p, strlen(p));
    char *input = cat3(h64, p64, NULL);
    char sig[128];
    assert_true(openssl_hmac("sha256", input, sig, sizeof sig));
    char *tok = cat3(h64, p64, sig);
    auth_identity id;
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, tok, strlen(tok), NOW, 30, &id), AUTH_OK);
    assert_string_equal(id.agent_id, "agent-1");
    assert_int_equal(id.permissions, AUTH_PERM_READ | AUTH_PERM_DEBUG);
    free(tok);
    /* the same token signed with HS512 by openssl and labelled HS512: refused */
    const char *h512 = "{\"alg\":\"HS512\",\"typ\":\"JWT\"}";
    char *h512b = auth_b64url_encode(h512, strlen(h512));
    char *in512 = cat3(h512b, p64, NULL);
    char sig512[160];
    assert_true(openssl_hmac("sha512", in512, sig512, sizeof sig512));
    tok = cat3(h512b, p64, sig512);
    assert_int_equal(auth_jwt_verify(KEY, KEYLEN, tok, strlen(tok), NOW, 30, &id),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    free(tok);
    free(in512);
    free(h512b);
    /* and our own signature for a token equals openssl's */
    auth_identity in = ident("agent-2", "gemini", AUTH_PERM_READ, NOW_S, NOW_S + 60);
    char *ours = auth_jwt_sign(KEY, KEYLEN, &in);
    char *dot = strrchr(ours, '.');
    char *signing = xstrndup(ours, (size_t)(dot - ours));
    assert_true(openssl_hmac("sha256", signing, sig, sizeof sig));
    assert_string_equal(dot + 1, sig);
    free(signing);
    free(ours);
    free(input);
    free(h64);
    free(p64);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_expired_needs_signature),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_rfc7515_a1),
        cmocka_unit_test(test_openssl_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
