/* auth/identity.h — who a caller is once a token has been checked (the struct app/
 * works with), the distinct verification results app/ maps to error codes, and
 * the agent_id / agent_type form checks shared by the auth layer.
 * Must not: hold a token, a JWT or a secret — only ids (agent_id, jti); not even
 * the sct_ id, which is itself a bearer secret. */
#ifndef CTXD_AUTH_IDENTITY_H
#define CTXD_AUTH_IDENTITY_H

#include <stdbool.h>
#include "auth/perm.h"
#include "base/ids.h"
#include "base/utc.h"

#define AUTH_AGENT_ID_MAX 100 /* characters (code points), as in the contract */
/* Byte sizes of the buffers (4 bytes per code point at most, plus NUL). */
#define AUTH_AGENT_ID_BUF (AUTH_AGENT_ID_MAX * 4 + 1)
#define AUTH_AGENT_TYPE_BUF (AUTH_AGENT_TYPE_MAX * 4 + 1)

typedef enum auth_status {
    AUTH_OK = 0,
    AUTH_INVALID_TOKEN_FORMAT,        /* not sct_<uuid4>, not a JWT, bad base64url... */
    AUTH_TOKEN_AUTHENTICATION_FAILED, /* bad signature, alg, iss/aud, revoked, unknown */
    AUTH_TOKEN_EXPIRED,               /* genuine but past its expiry */
    AUTH_STORE_ERROR                  /* the store failed: see the err_t (transient or not) */
} auth_status;

/* "INVALID_TOKEN_FORMAT", "TOKEN_AUTHENTICATION_FAILED", "TOKEN_EXPIRED", and
 * "DATABASE_UNAVAILABLE" for AUTH_STORE_ERROR; NULL for AUTH_OK. */
const char *auth_status_code(auth_status s);

typedef enum auth_token_format {
    AUTH_FMT_NONE = 0,
    AUTH_FMT_PROTECTED, /* sct_<uuid4> */
    AUTH_FMT_JWT        /* a raw JWT */
} auth_token_format;

/* "sct" / "jwt" / "none". */
const char *auth_token_format_name(auth_token_format f);

typedef struct auth_identity {
    char agent_id[AUTH_AGENT_ID_BUF];
    char agent_type[AUTH_AGENT_TYPE_BUF];
    auth_perms permissions;
    char jti[IDS_UUID_LEN];
    utc_us issued_at;
    utc_us expires_at; /* when this credential stops working (for sct_: the
                             * earlier of the protected token's and the JWT's expiry) */
    auth_token_format token_format;
} auth_identity;

static inline bool auth_has(const auth_identity *id, auth_perms p)
{
    return id && (id->permissions & p) == p;
}

/* Valid UTF-8, 1..AUTH_AGENT_ID_MAX code points, no control characters. */
bool auth_valid_agent_id(const char *s);
/* Valid UTF-8, 1..AUTH_AGENT_TYPE_MAX code points, no control characters. */
bool auth_valid_agent_type(const char *s);

#endif
