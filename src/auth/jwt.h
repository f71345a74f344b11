/* auth/jwt.h — JSON Web Tokens signed with HS256 (RFC 7519 / RFC 7515): signing the
 * agent claims and verifying them. Verification accepts exactly alg "HS256" (never
 * "none" or any other algorithm, whatever the header says), compares the
 * signature in constant time, and checks iss, aud, exp and iat (with a leeway).
 * Must not: log a token or key, consult the store (revocation is token.c's job),
 * or report expiry for a token whose signature did not verify. */
#ifndef CTXD_AUTH_JWT_H
#define CTXD_AUTH_JWT_H

#include <stddef.h>
#include <jansson.h>
#include "auth/identity.h"

#define AUTH_JWT_ISSUER "shared-context-server"
#define AUTH_JWT_AUDIENCE "mcp-agents"
#define AUTH_JWT_MAX_LEN 8192 /* longer input: AUTH_INVALID_TOKEN_FORMAT */
#define AUTH_JWT_LEEWAY_S 30  /* clock skew tolerated for exp / iat / nbf */

/* HMAC-SHA256 of data with key into out (32 bytes). False if OpenSSL fails. */
bool auth_hs256(const void *key, size_t keylen, const void *data, size_t n, unsigned char out[32]);

/* A compact JWS with header {"alg":"HS256","typ":"JWT"} and the claims agent_id,
 * agent_type, permissions, iat, exp (id->issued_at / expires_at in whole
 * seconds), iss, aud, jti. NULL if the identity is not valid (empty key, bad
 * agent_id/agent_type, jti not a uuid). Caller frees. */
char *auth_jwt_sign(const void *key, size_t keylen, const auth_identity *id);

/* The JWS layer only: three base64url segments, header a JSON object with
 * alg == "HS256" and no "crit", typ absent or "JWT", signature valid. On AUTH_OK
 * *payload is the decoded payload (any JSON object; new reference). */
auth_status auth_jws_verify_hs256(const void *key, size_t keylen, const char *tok, size_t n,
                                  json_t **payload);

/* The JWS layer plus the claims: iss, aud (a string or an array containing it),
 * exp (expired when now >= exp + leeway), iat (not after now + leeway), nbf if
 * present, agent_id, agent_type, permissions (known names only), jti (a uuid).
 * Fills *out (token_format = AUTH_FMT_JWT) on AUTH_OK. Revocation not checked. */
auth_status auth_jwt_verify(const void *key, size_t keylen, const char *tok, size_t n, utc_us now,
                            long leeway_s, auth_identity *out);

#endif
