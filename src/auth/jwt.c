/* auth/jwt.c — HS256 JWT signing and verification (see jwt.h).
 * Must not: log tokens, keys or claims beyond ids; accept any alg but HS256;
 * parse the payload before the signature has been verified. */
#include "auth/jwt.h"

#include <limits.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/codec.h"
#include "base/sbuf.h"

bool auth_hs256(const void *key, size_t keylen, const void *data, size_t n, unsigned char out[32])
{
    if (!key || keylen == 0 || keylen > INT_MAX)
        return false;
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len) || len != 32)
        return false;
    return true;
}

static json_t *claims_json(const auth_identity *id)
{
    return json_pack(
        "{s:s, s:s, s:o, s:I, s:I, s:s, s:s, s:s}", "agent_id", id->agent_id, "agent_type",
        id->agent_type, "permissions", auth_perms_to_json(id->permissions), "iat",
        (json_int_t)(id->issued_at / 1000000), "exp", (json_int_t)(id->expires_at / 1000000), "iss",
        AUTH_JWT_ISSUER, "aud", AUTH_JWT_AUDIENCE, "jti", id->jti);
}

char *auth_jwt_sign(const void *key, size_t keylen, const auth_identity *id)
{
    if (!key || keylen == 0 || !id || !auth_valid_agent_id(id->agent_id) ||
        !auth_valid_agent_type(id->agent_type) || !ids_is_uuid(id->jti))
        return NULL;
    static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    json_t *claims = claims_json(id);
    if (!claims)
        return NULL;
    char *payload = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(claims);
    if (!payload)
        return NULL;
    char *h64 = auth_b64url_encode(HEADER, sizeof HEADER - 1);
    char *p64 = auth_b64url_encode(payload, strlen(payload));
    free(payload);
    sbuf_t b = SBUF_INIT;
    sbuf_puts(&b, h64);
    sbuf_putc(&b, '.');
    sbuf_puts(&b, p64);
    free(h64);
    free(p64);
    unsigned char mac[32];
    if (!auth_hs256(key, keylen, b.p, b.len, mac)) {
        sbuf_free(&b);
        return NULL;
    }
    char *s64 = auth_b64url_encode(mac, sizeof mac);
    sbuf_putc(&b, '.');
    sbuf_puts(&b, s64);
    free(s64);
    return sbuf_detach(&b);
}

/* ---- verification -------------------------------------------------------------- */

static bool header_ok(const unsigned char *h, size_t n, auth_status *why)
{
    json_error_t je;
    json_t *hdr = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        *why = AUTH_INVALID_TOKEN_FORMAT;
        return false;
    }
    const json_t *alg = json_object_get(hdr, "alg");
    const json_t *typ = json_object_get(hdr, "typ");
    bool ok = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0 &&
              json_object_get(hdr, "crit") == NULL &&
              (!typ || (json_is_string(typ) && str_eq_ci(json_string_value(typ), "JWT")));
    json_decref(hdr);
    if (!ok)
        *why = AUTH_TOKEN_AUTHENTICATION_FAILED;
    return ok;
}

auth_status auth_jws_verify_hs256(const void *key, size_t keylen, const char *tok, size_t n,
                                  json_t **payload)
{
    *payload = NULL;
    if (!tok || n == 0 || n > AUTH_JWT_MAX_LEN || memchr(tok, '\0', n))
        return AUTH_INVALID_TOKEN_FORMAT;
    const char *d1 = memchr(tok, '.', n);
    if (!d1)
        return AUTH_INVALID_TOKEN_FORMAT;
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok));
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
        return AUTH_INVALID_TOKEN_FORMAT; /* not exactly three segments */
    size_t hn = (size_t)(d1 - tok), pn = (size_t)(d2 - d1 - 1), sn = n - (size_t)(d2 + 1 - tok);
    if (hn == 0 || pn == 0 || sn == 0)
        return AUTH_INVALID_TOKEN_FORMAT;

    unsigned char *h = NULL, *p = NULL, *s = NULL;
    size_t hl, pl, sl;
    auth_status st = AUTH_INVALID_TOKEN_FORMAT;
    if (!auth_b64url_decode(tok, hn, &h, &hl) || !auth_b64url_decode(d1 + 1, pn, &p, &pl) ||
        !auth_b64url_decode(d2 + 1, sn, &s, &sl))
        goto out;
    if (!header_ok(h, hl, &st))
        goto out;
    unsigned char mac[32];
    st = AUTH_TOKEN_AUTHENTICATION_FAILED;
    if (!auth_hs256(key, keylen, tok, (size_t)(d2 - tok), mac))
        goto out;
    if (!auth_ct_equal(mac, sizeof mac, s, sl))
        goto out;
    /* signature good: only now look at the payload */
    json_error_t je;
    json_t *pj = json_loadb((const char *)p, pl, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(pj)) {
        json_decref(pj);
        goto out;
    }
    *payload = pj;
    st = AUTH_OK;
out:
    free(h);
    free(p);
    free(s);
    return st;
}

static bool copy_str(const json_t *v, char *dst, size_t cap, bool (*valid)(const char *))
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || !valid(s)) /* no embedded NUL */
        return false;
    size_t n = strlen(s);
    if (n >= cap)
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

static bool aud_ok(const json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), AUTH_JWT_AUDIENCE) == 0;
    if (!json_is_array(aud))
        return false;
    size_t i;
    const json_t *v;
    json_array_foreach (aud, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), AUTH_JWT_AUDIENCE) == 0)
            return true;
    return false;
}

/* Seconds since the epoch within a sane range (so * 1e6 cannot overflow). */
static bool get_secs(const json_t *v, int64_t *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > 253402300799LL) /* 9999-12-31T23:59:59Z */
        return false;
    *out = (int64_t)x;
    return true;
}

static bool uuid_valid(const char *s)
{
    return ids_is_uuid(s);
}

auth_status auth_jwt_verify(const void *key, size_t keylen, const char *tok, size_t n, utc_us now,
                            long leeway_s, auth_identity *out)
{
    memset(out, 0, sizeof *out);
    json_t *c = NULL;
    auth_status st = auth_jws_verify_hs256(key, keylen, tok, n, &c);
    if (st != AUTH_OK)
        return st;
    st = AUTH_TOKEN_AUTHENTICATION_FAILED;
    int64_t now_s = now / 1000000, iat, exp, nbf;
    const json_t *iss = json_object_get(c, "iss");
    if (!json_is_string(iss) || strcmp(json_string_value(iss), AUTH_JWT_ISSUER) != 0)
        goto out;
    if (!aud_ok(json_object_get(c, "aud")))
        goto out;
    if (!get_secs(json_object_get(c, "iat"), &iat) || !get_secs(json_object_get(c, "exp"), &exp))
        goto out;
    if (iat > now_s + leeway_s) /* issued in the future */
        goto out;
    const json_t *jn = json_object_get(c, "nbf");
    if (jn && (!get_secs(jn, &nbf) || nbf > now_s + leeway_s))
        goto out;
    if (!copy_str(json_object_get(c, "agent_id"), out->agent_id, sizeof out->agent_id,
                  auth_valid_agent_id) ||
        !copy_str(json_object_get(c, "agent_type"), out->agent_type, sizeof out->agent_type,
                  auth_valid_agent_type) ||
        !copy_str(json_object_get(c, "jti"), out->jti, sizeof out->jti, uuid_valid))
        goto out;
    if (auth_perms_from_json(json_object_get(c, "permissions"), &out->permissions, NULL) != ERR_OK)
        goto out;
    if (now_s >= exp + leeway_s) {
        st = AUTH_TOKEN_EXPIRED;
        goto out;
    }
    out->issued_at = iat * 1000000;
    out->expires_at = exp * 1000000;
    out->token_format = AUTH_FMT_JWT;
    st = AUTH_OK;
out:
    json_decref(c);
    if (st != AUTH_OK) {
        auth_token_format f = AUTH_FMT_NONE;
        memset(out, 0, sizeof *out);
        out->token_format = f;
    }
    return st;
}
