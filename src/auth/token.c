/* auth/token.c — protected tokens and the resolver for every auth_token value: issue,
 * resolve, refresh, revoke, purge. A protected token sct_<uuid4> is kept in the store
 * only as its digest (HMAC-SHA256 under JWT_SECRET_KEY) beside the identity it stands
 * for; no JWT is minted for it, so nothing the store holds can be presented as a token,
 * and the token ends with its own expiry (refresh and revoke delete it and revoke its
 * jti). Raw JWTs (auth_issue_jwt) are signed with their own expiry.
 * Must not: log or return in an error message a token, a JWT or a key (only
 * agent ids and jti); tell a caller more than the auth_status says (an unknown
 * sct_ id and a forged JWT are both "authentication failed"; so is an expired sct_ id,
 * before and after the purge deletes it). */
#include "auth/auth.h"
#include "auth/ctx_int.h"

#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "auth/codec.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "base/sbuf.h"

#define US 1000000LL

/* ---- shapes ---------------------------------------------------------------------- */

bool auth_bearer(const char *header, const char **tok, size_t *n)
{
    if (!header)
        return false;
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!str_starts_with_ci(p, "bearer") || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 &&
           (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    if (len == 0)
        return false;
    *tok = p;
    *n = len;
    return true;
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

auth_token_format auth_token_classify(const char *tok, size_t n)
{
    if (!tok || n == 0 || n > AUTH_JWT_MAX_LEN)
        return AUTH_FMT_NONE;
    if (n == AUTH_SCT_LEN - 1 && memcmp(tok, AUTH_SCT_PREFIX, 4) == 0) {
        char u[IDS_UUID_LEN];
        memcpy(u, tok + 4, IDS_UUID_LEN - 1);
        u[IDS_UUID_LEN - 1] = '\0';
        return ids_is_uuid(u) ? AUTH_FMT_PROTECTED : AUTH_FMT_NONE;
    }
    int dots = 0;
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.') {
            if (seg == 0)
                return AUTH_FMT_NONE;
            dots++;
            seg = 0;
        } else if (b64url_char(tok[i])) {
            seg++;
        } else {
            return AUTH_FMT_NONE;
        }
    }
    return dots == 2 && seg > 0 ? AUTH_FMT_JWT : AUTH_FMT_NONE;
}

/* Strips "Bearer " if present; the span of the token itself. */
static bool token_span(const char *in, const char **tok, size_t *n)
{
    if (!in)
        return false;
    if (auth_bearer(in, tok, n))
        return true;
    *tok = in;
    *n = strlen(in);
    return *n > 0;
}

/* ---- issuing ----------------------------------------------------------------------- */

void auth_token_digest(const auth_ctx *a, const char *tok, size_t n, char out[AUTH_DIGEST_HEX])
{
    unsigned char mac[32];
    if (!auth_hs256(a->key, a->keylen, tok, n, mac)) /* the key is never empty */
        memset(mac, 0, sizeof mac);
    str_hex(mac, sizeof mac, out);
    OPENSSL_cleanse(mac, sizeof mac);
}

/* The identity of a new credential of the agent: a fresh jti, issued now (whole seconds),
 * valid for expiry_s. ERR_INVALID naming a bad agent_id / agent_type. */
static err_code new_identity(const char *agent_id, const char *agent_type, auth_perms perms,
                             utc_us now, long expiry_s, auth_identity *id, err_t *e)
{
    memset(id, 0, sizeof *id);
    bool id_ok = auth_valid_agent_id(agent_id);
    if (!id_ok || !auth_valid_agent_type(agent_type))
        return err_set(
            e, ERR_INVALID, "%s must be 1..%d characters of valid UTF-8 without control characters",
            id_ok ? "agent_type" : "agent_id", id_ok ? AUTH_AGENT_TYPE_MAX : AUTH_AGENT_ID_MAX);
    memcpy(id->agent_id, agent_id, strlen(agent_id) + 1);
    memcpy(id->agent_type, agent_type, strlen(agent_type) + 1);
    id->permissions = perms & AUTH_PERM_ALL;
    ids_uuid4(id->jti);
    id->issued_at = now / US * US;
    id->expires_at = id->issued_at + (utc_us)expiry_s * US;
    return ERR_OK;
}

char *auth_issue_jwt(auth_ctx *a, const char *agent_id, const char *agent_type,
                     auth_perms requested, auth_identity *out, err_t *e)
{
    auth_perms p = auth_perms_grant(a->perms, agent_type, requested);
    if (new_identity(agent_id, agent_type, p, a->clock(a->clock_ud), a->jwt_expiry_s, out, e) !=
        ERR_OK)
        return NULL;
    out->token_format = AUTH_FMT_JWT;
    char *jwt = auth_jwt_sign(a->key, a->keylen, out);
    if (!jwt) {
        err_set(e, ERR_INTERNAL, "signing the token failed");
        return NULL;
    }
    LOG_D("auth", "issued JWT jti=%s for agent %s", out->jti, out->agent_id);
    return jwt;
}

/* A new protected token for the identity id into out; the store keeps its digest. */
static err_code store_protected(auth_ctx *a, const auth_identity *id, auth_issued *out, err_t *e)
{
    if (!a->store)
        return err_set(e, ERR_INTERNAL, "protected tokens need a store");
    char u[IDS_UUID_LEN];
    snprintf(out->token, sizeof out->token, "%s%s", AUTH_SCT_PREFIX, ids_uuid4(u));
    out->id = *id;
    out->id.token_format = AUTH_FMT_PROTECTED;
    char digest[AUTH_DIGEST_HEX], perms[64];
    auth_token_digest(a, out->token, strlen(out->token), digest);
    store_token t = {
        .token_hash = digest,
        .agent_id = out->id.agent_id,
        .agent_type = out->id.agent_type,
        .permissions = auth_perms_format(id->permissions, perms, sizeof perms),
        .jti = out->id.jti,
        .created_at = id->issued_at,
        .expires_at = id->expires_at,
    };
    return store_token_put(a->store, &t, e);
}

/* The protected token of a new identity of the agent (permissions as given). */
static err_code issue_protected(auth_ctx *a, const char *agent_id, const char *agent_type,
                                auth_perms perms, utc_us now, auth_issued *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    auth_identity id;
    err_code rc = new_identity(agent_id, agent_type, perms, now, a->protected_expiry_s, &id, e);
    if (rc == ERR_OK)
        rc = store_protected(a, &id, out, e);
    if (rc != ERR_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

err_code auth_issue(auth_ctx *a, const char *agent_id, const char *agent_type, auth_perms requested,
                    auth_issued *out, err_t *e)
{
    auth_perms p = auth_perms_grant(a->perms, agent_type, requested);
    err_code rc = issue_protected(a, agent_id, agent_type, p, a->clock(a->clock_ud), out, e);
    if (rc == ERR_OK)
        LOG_D("auth", "issued protected token jti=%s for agent %s", out->id.jti, out->id.agent_id);
    return rc;
}

/* ---- resolving --------------------------------------------------------------------- */

static auth_status store_fail(err_t *e, const err_t *in)
{
    if (e)
        *e = *in;
    return AUTH_STORE_ERROR;
}

/* A verified identity's last checks: its jti not revoked, its permissions narrowed to
 * the current map. */
static auth_status finish_identity(auth_ctx *a, auth_identity *out, err_t *e)
{
    if (a->store) {
        bool revoked = false;
        err_t in;
        err_clear(&in);
        if (store_jti_is_revoked(a->store, out->jti, &revoked, &in) != ERR_OK) {
            memset(out, 0, sizeof *out);
            return store_fail(e, &in);
        }
        if (revoked) {
            LOG_D("auth", "refused revoked jti=%s", out->jti);
            memset(out, 0, sizeof *out);
            return AUTH_TOKEN_AUTHENTICATION_FAILED;
        }
    }
    out->permissions &= auth_permmap_lookup(a->perms, out->agent_type);
    return AUTH_OK;
}

/* Verifies a JWT, its revocation, and narrows permissions to the current map. */
static auth_status check_jwt(auth_ctx *a, const char *jwt, size_t n, utc_us now, auth_identity *out,
                             err_t *e)
{
    auth_status st = auth_jwt_verify(a->key, a->keylen, jwt, n, now, a->leeway_s, out);
    return st != AUTH_OK ? st : finish_identity(a, out, e);
}

/* The identity a stored protected token stands for; false when the row is not one ctxd
 * wrote (then the token does not resolve). */
static bool row_identity(const store_token *t, auth_identity *out)
{
    memset(out, 0, sizeof *out);
    if (!auth_valid_agent_id(t->agent_id) || !auth_valid_agent_type(t->agent_type) || !t->jti ||
        !ids_is_uuid(t->jti) ||
        auth_perms_parse_list(t->permissions, &out->permissions, NULL) != ERR_OK)
        return false;
    snprintf(out->agent_id, sizeof out->agent_id, "%s", t->agent_id);
    snprintf(out->agent_type, sizeof out->agent_type, "%s", t->agent_type);
    snprintf(out->jti, sizeof out->jti, "%s", t->jti);
    out->issued_at = t->created_at;
    out->expires_at = t->expires_at;
    out->token_format = AUTH_FMT_PROTECTED;
    return true;
}

/* A protected token -> its identity. One that does not resolve is
 * AUTH_TOKEN_AUTHENTICATION_FAILED whatever the reason — never issued, revoked, refreshed,
 * past its expiry, or deleted by the maintenance after it expired: the answer must not
 * change when the purge runs, nor tell anyone which sct_ ids existed. (A raw JWT keeps
 * AUTH_TOKEN_EXPIRED: its expiry is part of what was signed, so that answer is stable.) */
static auth_status resolve_sct(auth_ctx *a, const char *tok, size_t n, utc_us now,
                               auth_identity *out, err_t *e)
{
    if (!a->store)
        return AUTH_TOKEN_AUTHENTICATION_FAILED;
    char digest[AUTH_DIGEST_HEX];
    auth_token_digest(a, tok, n, digest);
    store_token t = {0};
    err_t in;
    err_clear(&in);
    err_code rc = store_token_get(a->store, digest, &t, &in);
    if (rc == ERR_NOTFOUND)
        return AUTH_TOKEN_AUTHENTICATION_FAILED;
    if (rc != ERR_OK)
        return store_fail(e, &in);
    auth_status st = AUTH_TOKEN_AUTHENTICATION_FAILED;
    if (t.token_hash && auth_ct_equal(t.token_hash, strlen(t.token_hash), digest, 64) &&
        t.expires_at > now && row_identity(&t, out))
        st = finish_identity(a, out, e);
    if (st != AUTH_OK)
        memset(out, 0, sizeof *out);
    store_token_clear(&t);
    return st;
}

static auth_status resolve_at(auth_ctx *a, const char *token, utc_us now, auth_identity *out,
                              err_t *e)
{
    memset(out, 0, sizeof *out);
    const char *tok;
    size_t n;
    if (!token_span(token, &tok, &n))
        return AUTH_INVALID_TOKEN_FORMAT;
    switch (auth_token_classify(tok, n)) {
    case AUTH_FMT_PROTECTED: return resolve_sct(a, tok, n, now, out, e);
    case AUTH_FMT_JWT: return check_jwt(a, tok, n, now, out, e);
    case AUTH_FMT_NONE: break;
    }
    return AUTH_INVALID_TOKEN_FORMAT;
}

/* Through the verified-token cache (tokcache.h: in-process revocations and
 * refreshes drop entries at once; another process's revocation is seen within
 * AUTH_TOKCACHE_TTL_S). Refresh and revoke always check in full. */
auth_status auth_resolve(auth_ctx *a, const char *token, auth_identity *out, err_t *e)
{
    utc_us now = a->clock(a->clock_ud);
    const char *tok;
    size_t n;
    if (!token_span(token, &tok, &n))
        return resolve_at(a, token, now, out, e);
    if (auth_tokcache_get(a->cache, tok, n, now, out))
        return AUTH_OK;
    uint64_t gen = auth_tokcache_gen(a->cache);
    auth_status st = resolve_at(a, token, now, out, e);
    if (st == AUTH_OK)
        auth_tokcache_put(a->cache, tok, n, now, out, gen);
    return st;
}

/* ---- refresh, revoke, purge -------------------------------------------------------- */

err_code auth_revoke_jti(auth_ctx *a, const char *jti, utc_us expires_at, err_t *e)
{
    if (!ids_is_uuid(jti))
        return err_set(e, ERR_INVALID, "jti must be a uuid");
    if (!a->store)
        return err_set(e, ERR_INTERNAL, "revocation needs a store");
    if (expires_at == 0)
        expires_at = a->clock(a->clock_ud) + (utc_us)a->jwt_expiry_s * US;
    /* a JWT is accepted until exp + leeway: the revocation must outlive that */
    expires_at += (utc_us)(a->leeway_s + 1) * US;
    err_code rc = store_jti_revoke(a->store, jti, expires_at, e);
    /* after the store knows it: a check racing with this cannot re-cache it */
    auth_tokcache_drop_jti(a->cache, jti);
    if (rc == ERR_OK)
        LOG_I("auth", "revoked jti=%s", jti);
    return rc;
}

/* Deletes the protected token (when tok is one) and revokes id's jti until exp. *raced =
 * the token was already gone (someone else refreshed or revoked it first). */
static auth_status retire(auth_ctx *a, const char *tok, size_t n, const auth_identity *id,
                          bool *raced, err_t *e)
{
    err_t in;
    err_clear(&in);
    *raced = false;
    if (id->token_format == AUTH_FMT_PROTECTED) {
        char digest[AUTH_DIGEST_HEX];
        auth_token_digest(a, tok, n, digest);
        bool deleted = false;
        err_code drc = store_token_delete(a->store, digest, &deleted, &in);
        auth_tokcache_drop_jti(a->cache, id->jti);
        if (drc != ERR_OK)
            return store_fail(e, &in);
        *raced = !deleted;
        if (*raced) /* the winner retires it */
            return AUTH_OK;
    }
    /* until the credential's own end: the protected token's, or the JWT's exp */
    if (auth_revoke_jti(a, id->jti, id->expires_at, &in) != ERR_OK)
        return store_fail(e, &in);
    return AUTH_OK;
}

/* What refresh and revoke share: resolves the presented token at `now` into *id and
 * retires it (retire; *raced as there). `what` names the operation when there is
 * no store to do it with. */
static auth_status resolve_and_retire(auth_ctx *a, const char *what, const char *token, utc_us now,
                                      auth_identity *id, bool *raced, err_t *e)
{
    if (!a->store) {
        err_t in = {.code = ERR_INTERNAL};
        snprintf(in.msg, sizeof in.msg, "%s needs a store", what);
        return store_fail(e, &in);
    }
    auth_status st = resolve_at(a, token, now, id, e);
    if (st != AUTH_OK)
        return st;
    const char *tok = NULL;
    size_t n = 0;
    token_span(token, &tok, &n);
    return retire(a, tok, n, id, raced, e);
}

auth_status auth_refresh(auth_ctx *a, const char *current, auth_issued *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    utc_us now = a->clock(a->clock_ud);
    auth_identity old;
    bool raced;
    auth_status st = resolve_and_retire(a, "refresh", current, now, &old, &raced, e);
    if (st != AUTH_OK)
        return st;
    if (raced)
        return AUTH_TOKEN_AUTHENTICATION_FAILED;
    err_t in;
    err_clear(&in);
    if (issue_protected(a, old.agent_id, old.agent_type, old.permissions, now, out, &in) != ERR_OK)
        return store_fail(e, &in);
    LOG_D("auth", "refreshed jti=%s -> jti=%s for agent %s", old.jti, out->id.jti,
          out->id.agent_id);
    return AUTH_OK;
}

auth_status auth_revoke(auth_ctx *a, const char *token, err_t *e)
{
    auth_identity id;
    bool raced;
    return resolve_and_retire(a, "revocation", token, a->clock(a->clock_ud), &id, &raced, e);
}

err_code auth_purge_expired(auth_ctx *a, int64_t *removed, err_t *e)
{
    if (removed)
        *removed = 0;
    if (!a->store)
        return ERR_OK;
    return store_token_purge(a->store, a->clock(a->clock_ud), removed, e);
}
