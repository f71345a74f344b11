/* http/checks.c — header checks of the MCP endpoint: Host/Origin validation against DNS
 * rebinding (localhost, 127.0.0.1, [::1] with any port, plus configured hosts), Accept
 * media types and the JSON Content-Type.
 * Must not: allocate or keep state (pure functions over header values). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

/* Compares the host part [h, h+n) case-insensitively with name. */
static bool host_is(const char *h, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n != k)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)h[i]) != tolower((unsigned char)name[i]))
            return false;
    return true;
}

/* `authority` = host[:port] (IPv6 in brackets); checks the host part. */
static bool authority_allowed(const mcp_http *h, const char *a, size_t len)
{
    size_t n;
    if (len > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', len);
        if (!rb)
            return false;
        n = (size_t)(rb - a) + 1;
        if (n < len && a[n] != ':')
            return false;
    } else {
        const char *colon = memchr(a, ':', len);
        n = colon ? (size_t)(colon - a) : len;
    }
    for (size_t i = n; i < len; i++) /* the port: digits only */
        if (i > n && !isdigit((unsigned char)a[i]))
            return false;
    if (host_is(a, n, "localhost") || host_is(a, n, "127.0.0.1") || host_is(a, n, "[::1]"))
        return true;
    for (char **p = h->hosts; p && *p; p++)
        if (host_is(a, n, *p))
            return true;
    return false;
}

bool http_host_allowed(const mcp_http *h, const char *host)
{
    if (h->o.allow_any_host || !host)
        return true; /* HTTP/1.0 without Host: nothing to rebind */
    return authority_allowed(h, host, strlen(host));
}

bool http_origin_allowed(const mcp_http *h, const char *origin)
{
    if (h->o.allow_any_host || !origin)
        return true; /* non-browser clients send no Origin */
    const char *p = strstr(origin, "://");
    if (!p)
        return false; /* "null" and garbage */
    p += 3;
    size_t len = strcspn(p, "/?#");
    return authority_allowed(h, p, len);
}

/* True if the comma-separated Accept list names `type` (or a matching wildcard). */
bool http_accepts(const char *accept, const char *type)
{
    if (!accept)
        return false;
    const char *slash = strchr(type, '/');
    size_t major = slash ? (size_t)(slash - type) : strlen(type);
    const char *p = accept;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m > 0) {
            if ((m == 3 && memcmp(p, "*/*", 3) == 0) ||
                (m == major + 2 && strncasecmp(p, type, major + 1) == 0 && p[major + 1] == '*') ||
                (m == strlen(type) && strncasecmp(p, type, m) == 0))
                return true;
        }
        p += strcspn(p, ",");
    }
    return false;
}

bool http_is_json_content_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}
