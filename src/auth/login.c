/* auth/login.c — who may log in as whom: agent keys (`ctxd agent`: a random key bound to
 * one agent id, type and permissions, kept in the store as its SHA-256 digest) and the
 * rule for each kind of credential authenticate_agent accepts:
 *   local (stdio, the user who started the server): any identity;
 *   shared API key: the agent types and permissions the operator allows
 *     (SHARED_KEY_AGENT_TYPES: by default every type that cannot hold admin;
 *     SHARED_KEY_PERMISSIONS: by default read, write, debug), never an agent id that has
 *     its own credential (active or revoked);
 *   agent key: exactly its agent id and type, at most its permissions; an unknown,
 *     rotated or revoked key is no credential at all (looked up on every login, so a
 *     change made by `ctxd agent` in another process counts at the next login).
 * Must not: log or put into `why` a key (agent ids, types and permission names only), or
 * compare a digest other than in constant time. */
#include "auth/auth.h"
#include "auth/ctx_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "auth/codec.h"
#include "base/ids.h"
#include "base/sbuf.h"

#define KEY_RANDOM 32 /* bytes: 43 base64url characters */

void auth_agent_key_new(char key[AUTH_AGENT_KEY_LEN], char digest[AUTH_DIGEST_HEX])
{
    unsigned char r[KEY_RANDOM];
    ids_random(r, sizeof r);
    char *b = auth_b64url_encode(r, sizeof r);
    snprintf(key, AUTH_AGENT_KEY_LEN, "%s%s", AUTH_AGENT_KEY_PREFIX, b);
    OPENSSL_cleanse(b, strlen(b));
    OPENSSL_cleanse(r, sizeof r);
    free(b);
    auth_agent_key_digest(key, digest);
}

bool auth_agent_key_shaped(const char *s)
{
    size_t plen = strlen(AUTH_AGENT_KEY_PREFIX);
    if (!s || strlen(s) != AUTH_AGENT_KEY_LEN - 1 || strncmp(s, AUTH_AGENT_KEY_PREFIX, plen) != 0)
        return false;
    unsigned char *raw = NULL;
    size_t n = 0;
    bool ok =
        auth_b64url_decode(s + plen, AUTH_AGENT_KEY_LEN - 1 - plen, &raw, &n) && n == KEY_RANDOM;
    if (raw)
        OPENSSL_cleanse(raw, n);
    free(raw);
    return ok;
}

void auth_agent_key_digest(const char *key, char out[AUTH_DIGEST_HEX])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(key ? key : ""), key ? strlen(key) : 0, d);
    str_hex(d, sizeof d, out);
    OPENSSL_cleanse(d, sizeof d);
}

/* ---- the rules ------------------------------------------------------------------------ */

static auth_login say(auth_grant *g, auth_login st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static auth_login say(auth_grant *g, auth_login st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->why, sizeof g->why, fmt, ap);
    va_end(ap);
    return st;
}

static auth_login grant(auth_grant *g, const char *agent_id, const char *agent_type,
                        auth_perms perms)
{
    snprintf(g->agent_id, sizeof g->agent_id, "%s", agent_id);
    snprintf(g->agent_type, sizeof g->agent_type, "%s", agent_type);
    g->permissions = perms;
    return AUTH_LOGIN_OK;
}

static auth_login store_failed(err_t *e, const err_t *in)
{
    if (e)
        *e = *in;
    return AUTH_LOGIN_STORE_ERROR;
}

/* May the shared key claim agent type t? */
static bool shared_type_ok(const auth_ctx *a, const char *t)
{
    if (a->shared_any)
        return true;
    if (a->shared_types_default)
        return !(auth_permmap_lookup(a->perms, t) & AUTH_PERM_ADMIN);
    for (size_t i = 0; i < a->nshared_types; i++)
        if (str_eq_ci(a->shared_types[i], t))
            return true;
    return false;
}

static auth_login shared_login(auth_ctx *a, const auth_claim *c, auth_grant *g, err_t *e)
{
    const char *type = c->agent_type ? c->agent_type : "generic";
    if (!shared_type_ok(a, type))
        return say(g, AUTH_LOGIN_REFUSED,
                   "the shared API key may not claim agent type '%s' (SHARED_KEY_AGENT_TYPES%s); "
                   "give the agent its own key: ctxd agent add",
                   type, a->shared_types_default ? ": types that cannot hold admin" : "");
    auth_perms req =
        c->requested_given ? c->requested : (AUTH_PERM_READ | AUTH_PERM_WRITE) & a->shared_perms;
    if (req & ~a->shared_perms) {
        char over[64], allowed[64];
        return say(g, AUTH_LOGIN_REFUSED,
                   "the shared API key may not request %s (SHARED_KEY_PERMISSIONS allows: %s); "
                   "give the agent its own key: ctxd agent add NAME --type T --permissions ...",
                   auth_perms_format(req & ~a->shared_perms, over, sizeof over),
                   *auth_perms_format(a->shared_perms, allowed, sizeof allowed) ? allowed : "none");
    }
    if (a->store) {
        store_cred have;
        err_t in;
        err_clear(&in);
        err_code rc = store_cred_get(a->store, c->agent_id, &have, &in);
        store_cred_clear(&have);
        if (rc == ERR_OK)
            return say(g, AUTH_LOGIN_REFUSED,
                       "agent '%s' has its own credential: authenticate with its key "
                       "(X-API-Key), not the shared API key",
                       c->agent_id);
        if (rc != ERR_NOTFOUND)
            return store_failed(e, &in);
    }
    return grant(g, c->agent_id, type, req);
}

static auth_login agent_login(auth_ctx *a, const auth_claim *c, auth_grant *g, err_t *e)
{
    static const char bad[] = "the agent key is not valid (unknown, rotated or revoked)";
    if (!a->store || !auth_agent_key_shaped(c->agent_key))
        return say(g, AUTH_LOGIN_NO_CREDENTIAL, "%s", bad);
    char digest[AUTH_DIGEST_HEX];
    auth_agent_key_digest(c->agent_key, digest);
    store_cred cr;
    err_t in;
    err_clear(&in);
    err_code rc = store_cred_find_key(a->store, digest, &cr, &in);
    if (rc != ERR_OK && rc != ERR_NOTFOUND)
        return store_failed(e, &in);
    auth_perms have = 0;
    auth_login st = AUTH_LOGIN_OK;
    if (rc == ERR_NOTFOUND || !cr.key_hash ||
        !auth_ct_equal(cr.key_hash, strlen(cr.key_hash), digest, AUTH_DIGEST_HEX - 1) ||
        cr.revoked_at || auth_perms_parse_list(cr.permissions, &have, NULL) != ERR_OK)
        st = say(g, AUTH_LOGIN_NO_CREDENTIAL, "%s", bad);
    const char *type = c->agent_type ? c->agent_type : cr.agent_type;
    auth_perms req = c->requested_given ? c->requested : have;
    char over[64], has[64];
    if (st != AUTH_LOGIN_OK)
        ;
    else if (strcmp(cr.agent_id, c->agent_id) != 0)
        st = say(g, AUTH_LOGIN_REFUSED,
                 "this key is the credential of agent '%s': it cannot authenticate as '%s'",
                 cr.agent_id, c->agent_id);
    else if (strcmp(cr.agent_type, type) != 0)
        st = say(g, AUTH_LOGIN_REFUSED, "agent '%s' is of type '%s' (its credential), not '%s'",
                 cr.agent_id, cr.agent_type, type);
    else if (req & ~have)
        st = say(g, AUTH_LOGIN_REFUSED, "the key of agent '%s' does not grant %s (it grants: %s)",
                 cr.agent_id, auth_perms_format(req & ~have, over, sizeof over),
                 *auth_perms_format(have, has, sizeof has) ? has : "none");
    else
        st = grant(g, cr.agent_id, cr.agent_type, req);
    store_cred_clear(&cr);
    return st;
}

auth_login auth_login_check(auth_ctx *a, const auth_claim *c, auth_grant *g, err_t *e)
{
    memset(g, 0, sizeof *g);
    switch (c->cred) {
    case AUTH_CRED_LOCAL:
        return grant(g, c->agent_id, c->agent_type ? c->agent_type : "generic",
                     c->requested_given ? c->requested : AUTH_PERM_READ | AUTH_PERM_WRITE);
    case AUTH_CRED_SHARED: return shared_login(a, c, g, e);
    case AUTH_CRED_AGENT: return agent_login(a, c, g, e);
    case AUTH_CRED_NONE: break;
    }
    return say(g, AUTH_LOGIN_NO_CREDENTIAL,
               "no API key was presented (HTTP: the X-API-Key header, with the server's API key "
               "or the agent's own key; stdio: API_KEY in the server's environment)");
}
