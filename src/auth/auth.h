/* auth/auth.h — the auth layer's front door for app/ and the transports: a context
 * (JWT key, expiries, permission map, API key and its policy, store, clock) and what is
 * done with credentials: issue a protected token (sct_<uuid4>, kept in the store only as
 * its digest beside the identity it stands for), resolve any auth_token value (sct_..., a
 * raw JWT, or an "Authorization: Bearer ..." header value) to an identity, refresh,
 * revoke, purge; the API key check; agent keys (`ctxd agent`: each bound to one agent
 * id, type and permissions, kept as a digest); and which identity a login with each kind
 * of credential may claim (auth_login_check). Results app/ maps to error codes are
 * auth_status values (identity.h).
 * Must not: log or put into an error message a token, a JWT, an agent key, the JWT key
 * or the API key (ids and jti only); decide what an identity may do (app/). */
#ifndef CTXD_AUTH_AUTH_H
#define CTXD_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "auth/identity.h"
#include "auth/perm.h"
#include "base/conf.h"
#include "base/err.h"
#include "store/store.h"

#define AUTH_SCT_PREFIX "sct_"
#define AUTH_SCT_LEN (4 + IDS_UUID_LEN) /* "sct_" + 36 + NUL */
#define AUTH_DEFAULT_JWT_EXPIRY_S 86400
#define AUTH_DEFAULT_PROTECTED_EXPIRY_S 3600
#define AUTH_MIN_SECRET_LEN 32 /* shorter JWT keys get a warning */
#define AUTH_DIGEST_HEX 65     /* a digest as 64 lowercase hex digits + NUL */
/* The permissions the shared API key may claim unless SHARED_KEY_PERMISSIONS says. */
#define AUTH_SHARED_DEFAULT_PERMS (AUTH_PERM_READ | AUTH_PERM_WRITE | AUTH_PERM_DEBUG)

typedef struct auth_ctx auth_ctx;

typedef utc_us (*auth_clock_fn)(void *ud);

typedef struct auth_opts {
    const char *jwt_secret;  /* required (non-empty); copied */
    const char *api_key;     /* NULL/"" = none configured (every check fails); copied */
    long jwt_expiry_s;       /* 0 -> AUTH_DEFAULT_JWT_EXPIRY_S */
    long protected_expiry_s; /* 0 -> AUTH_DEFAULT_PROTECTED_EXPIRY_S */
    long leeway_s;           /* 0 -> AUTH_JWT_LEEWAY_S; negative -> no leeway */
    auth_permmap *perms;     /* taken over (freed with the context); NULL = built-in */
    store_t *store;          /* borrowed; required for sct_ tokens and revocation */
    auth_clock_fn clock;     /* NULL -> utc_now (tests inject a clock) */
    void *clock_ud;
    /* What the shared API key may claim (SHARED_KEY_AGENT_TYPES, SHARED_KEY_PERMISSIONS):
     * agent types: NULL = every type that cannot hold admin under the permission map,
     * "*" = every type, else names separated by commas (matched case-insensitively);
     * permissions: NULL = AUTH_SHARED_DEFAULT_PERMS, else names separated by commas.
     * Copied; a bad value is ERR_INVALID from auth_ctx_new naming it. */
    const char *shared_key_types;
    const char *shared_key_permissions;
} auth_opts;

/* ERR_INVALID for a missing secret or a negative expiry. On failure
 * o->perms is still taken over (freed). */
err_code auth_ctx_new(const auth_opts *o, auth_ctx **out, err_t *e);
/* From the configuration: JWT_SECRET_KEY (required), API_KEY, JWT_TOKEN_EXPIRY,
 * PROTECTED_TOKEN_EXPIRY, PERMISSIONS_CONFIG_FILE, SHARED_KEY_AGENT_TYPES,
 * SHARED_KEY_PERMISSIONS. Errors name the variable. */
err_code auth_ctx_from_conf(const conf_t *c, store_t *st, auth_ctx **out, err_t *e);
void auth_ctx_free(auth_ctx *a); /* wipes the keys; NULL is fine */

const auth_permmap *auth_ctx_perms(const auth_ctx *a);
utc_us auth_ctx_now(const auth_ctx *a);
long auth_ctx_protected_expiry(const auth_ctx *a); /* seconds */
long auth_ctx_jwt_expiry(const auth_ctx *a);       /* seconds */

/* ---- API key --------------------------------------------------------------------- */
bool auth_api_key_configured(const auth_ctx *a);
/* Constant time (content and length). False when no key is configured. */
bool auth_check_api_key(const auth_ctx *a, const char *presented);

/* ---- token values ---------------------------------------------------------------- */
/* "Bearer <token>" (scheme case-insensitive, spaces/tabs around the token) ->
 * the token span. False when it is not a Bearer value or the token is empty. */
bool auth_bearer(const char *header, const char **tok, size_t *n);
/* Shape only: sct_<uuid4> -> PROTECTED; three base64url segments -> JWT; else NONE. */
auth_token_format auth_token_classify(const char *tok, size_t n);

/* ---- issuing, resolving ---------------------------------------------------------- */
typedef struct auth_issued {
    char token[AUTH_SCT_LEN]; /* the sct_ token: a bearer secret for the agent only */
    auth_identity id;         /* permissions granted; expires_at = the sct_ expiry */
} auth_issued;

/* A protected token for the agent (permissions = requested ∩ what the type allows),
 * valid for PROTECTED_TOKEN_EXPIRY: the store keeps its digest (auth_token_digest) and
 * the identity (token_put), no JWT. ERR_INVALID for a bad agent_id/agent_type, store
 * errors as they come. */
err_code auth_issue(auth_ctx *a, const char *agent_id, const char *agent_type, auth_perms requested,
                    auth_issued *out, err_t *e);
/* A raw JWT (no protected token), valid for JWT_TOKEN_EXPIRY, for clients that keep their
 * own (ctxd's tools hand out protected tokens only). Caller frees. */
char *auth_issue_jwt(auth_ctx *a, const char *agent_id, const char *agent_type,
                     auth_perms requested, auth_identity *out, err_t *e);

/* Any auth_token value (sct_..., raw JWT, or "Bearer <either>") -> identity.
 * Permissions are the token's, narrowed to what the agent type allows now (a
 * tightened permissions file takes effect at once). AUTH_STORE_ERROR fills e. */
auth_status auth_resolve(auth_ctx *a, const char *token, auth_identity *out, err_t *e);
/* refresh_token: the current token (sct_ or raw JWT, not expired, not revoked) is
 * replaced by a fresh JWT (new jti, iat, exp) under a new sct_ id; the old
 * protected token is deleted and the old jti revoked. Of two concurrent refreshes
 * of one sct_ token exactly one succeeds. */
auth_status auth_refresh(auth_ctx *a, const char *current, auth_issued *out, err_t *e);
/* Logout: resolves the token, deletes it if protected, revokes its jti. */
auth_status auth_revoke(auth_ctx *a, const char *token, err_t *e);
/* Revokes a jti until expires_at (0 = now + the JWT expiry) plus the leeway, so
 * the revocation outlives every moment the JWT could still be accepted. */
err_code auth_revoke_jti(auth_ctx *a, const char *jti, utc_us expires_at, err_t *e);
/* Removes expired protected tokens and revocations (for a background timer). */
err_code auth_purge_expired(auth_ctx *a, int64_t *removed, err_t *e);
/* The digest a protected token is stored under: HMAC-SHA256 of tok[0..n) keyed with
 * JWT_SECRET_KEY, as hex. Nothing in the store can be used as the token, and a new
 * JWT_SECRET_KEY retires every protected token. */
void auth_token_digest(const auth_ctx *a, const char *tok, size_t n, char out[AUTH_DIGEST_HEX]);

/* ---- agent keys (`ctxd agent`) ----------------------------------------------------- */
/* "ctxd_ak_" + 43 base64url characters (32 random bytes). */
#define AUTH_AGENT_KEY_PREFIX "ctxd_ak_"
#define AUTH_AGENT_KEY_LEN (8 + 43 + 1)
/* A fresh agent key (getrandom) and its digest (auth_agent_key_digest). */
void auth_agent_key_new(char key[AUTH_AGENT_KEY_LEN], char digest[AUTH_DIGEST_HEX]);
/* Shape only: the prefix and 43 base64url characters. */
bool auth_agent_key_shaped(const char *s);
/* What the store keeps of an agent key: SHA-256 of it, as hex (not keyed: the key is 256
 * random bits, and it must survive a new JWT_SECRET_KEY and a copy to another server). */
void auth_agent_key_digest(const char *key, char out[AUTH_DIGEST_HEX]);

/* ---- logins: which identity a credential may claim ---------------------------------- */
typedef enum auth_cred_kind {
    AUTH_CRED_NONE = 0, /* no credential presented */
    AUTH_CRED_LOCAL,    /* the local user who started the server (stdio): any identity */
    AUTH_CRED_SHARED,   /* the shared API_KEY: what SHARED_KEY_* allow, never an agent
                           that has its own credential */
    AUTH_CRED_AGENT     /* an agent key: exactly its agent, type and (at most) permissions */
} auth_cred_kind;

/* What authenticate_agent asks for, with which credential. */
typedef struct auth_claim {
    auth_cred_kind cred;
    const char *agent_key;  /* AUTH_CRED_AGENT: the key presented */
    const char *agent_id;   /* required, valid (auth_valid_agent_id) */
    const char *agent_type; /* NULL: the agent key's type, else "generic" */
    auth_perms requested;   /* when requested_given */
    bool requested_given;   /* false: the agent key's permissions, else read,write */
} auth_claim;

typedef enum auth_login {
    AUTH_LOGIN_OK = 0,
    AUTH_LOGIN_NO_CREDENTIAL, /* none, or an agent key that is unknown or revoked */
    AUTH_LOGIN_REFUSED,       /* a valid credential that may not claim this */
    AUTH_LOGIN_STORE_ERROR    /* the store failed: see the err_t */
} auth_login;

/* What a login may be issued (auth_issue), or why it is refused. */
typedef struct auth_grant {
    char agent_id[AUTH_AGENT_ID_BUF];
    char agent_type[AUTH_AGENT_TYPE_BUF];
    auth_perms permissions;
    char why[240]; /* AUTH_LOGIN_NO_CREDENTIAL / REFUSED: a sentence, no secret in it */
} auth_grant;

/* Checks a claim against its credential (an agent key is looked up in the store each
 * time, so a revoked or rotated key stops working at once) and fills *g. */
auth_login auth_login_check(auth_ctx *a, const auth_claim *c, auth_grant *g, err_t *e);

#endif
