/* auth/auth.h — the auth layer's front door for app/ and the transports: a context
 * (JWT key, expiries, permission map, API key, store, clock) and what is done with
 * tokens: issue a protected token (sct_<uuid4> mapped to a stored JWT), resolve
 * any auth_token value (sct_..., a raw JWT, or an "Authorization: Bearer ..."
 * header value) to an identity, refresh, revoke, purge; and the API key check.
 * Results app/ maps to error codes are auth_status values (identity.h).
 * Must not: log or put into an error message a token, a JWT, the JWT key or the
 * API key (ids and jti only); decide what an identity may do (app/). */
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
} auth_opts;

/* ERR_INVALID for a missing secret or a negative expiry. On failure
 * o->perms is still taken over (freed). */
err_code auth_ctx_new(const auth_opts *o, auth_ctx **out, err_t *e);
/* From the configuration: JWT_SECRET_KEY (required), API_KEY, JWT_TOKEN_EXPIRY,
 * PROTECTED_TOKEN_EXPIRY, PERMISSIONS_CONFIG_FILE. Errors name the variable. */
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

/* Mints a JWT for the agent (permissions = requested ∩ what the type allows) and a
 * protected token that maps to it (stored with token_put). ERR_INVALID for a bad
 * agent_id/agent_type, store errors as they come. */
err_code auth_issue(auth_ctx *a, const char *agent_id, const char *agent_type, auth_perms requested,
                    auth_issued *out, err_t *e);
/* A raw JWT (no protected token), for clients that keep their own. Caller frees. */
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

#endif
