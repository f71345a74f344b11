/* auth/identity.c — names for the verification results and token formats, and the
 * agent_id / agent_type form checks. Must not: log or look anything up. */
#include "auth/identity.h"

#include <string.h>
#include "base/sbuf.h"

const char *auth_status_code(auth_status s)
{
    switch (s) {
    case AUTH_OK: return NULL;
    case AUTH_INVALID_TOKEN_FORMAT: return "INVALID_TOKEN_FORMAT";
    case AUTH_TOKEN_AUTHENTICATION_FAILED: return "TOKEN_AUTHENTICATION_FAILED";
    case AUTH_TOKEN_EXPIRED: return "TOKEN_EXPIRED";
    case AUTH_STORE_ERROR: return "DATABASE_UNAVAILABLE";
    }
    return "TOKEN_AUTHENTICATION_FAILED";
}

const char *auth_token_format_name(auth_token_format f)
{
    switch (f) {
    case AUTH_FMT_PROTECTED: return "sct";
    case AUTH_FMT_JWT: return "jwt";
    case AUTH_FMT_NONE: break;
    }
    return "none";
}

static bool valid_name(const char *s, size_t max_cp)
{
    if (!s || !*s)
        return false;
    size_t n = strlen(s);
    if (n > max_cp * 4 || !str_utf8_valid(s, n))
        return false;
    size_t cps = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if ((*p & 0xC0) != 0x80)
            cps++;
    }
    return cps <= max_cp;
}

bool auth_valid_agent_id(const char *s)
{
    return valid_name(s, AUTH_AGENT_ID_MAX);
}
bool auth_valid_agent_type(const char *s)
{
    return valid_name(s, AUTH_AGENT_TYPE_MAX);
}
