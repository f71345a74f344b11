/* http/checks.c — header checks: the framing rules of RFC 9112 every request must keep
 * (Host present once on HTTP/1.1, one Content-Length, not with Transfer-Encoding, only
 * chunked), Host/Origin validation against DNS rebinding (localhost, 127.0.0.1, [::1]
 * with any port, plus configured hosts; an Origin also when it is one of the configured
 * origins), and for the MCP endpoint Accept media types and
 * the JSON Content-Type.
 * Must not: allocate or keep state (pure functions over a request's headers). */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"

typedef struct head_counts {
    unsigned host, content_length, transfer_encoding;
    bool chunked; /* the Transfer-Encoding is exactly "chunked" */
} head_counts;

static MHD_RESULT_T count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    head_counts *n = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        n->host++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        n->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        n->transfer_encoding++;
        n->chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

const char *http_head_problem(struct MHD_Connection *c, const char *version)
{
    head_counts n = {0, 0, 0, false};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &n);
    if (n.host == 0 && version && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return "Bad Request: an HTTP/1.1 request needs a Host header";
    if (n.host > 1)
        return "Bad Request: more than one Host header";
    if (n.content_length > 1)
        return "Bad Request: more than one Content-Length header";
    if (n.content_length && n.transfer_encoding)
        return "Bad Request: Content-Length together with Transfer-Encoding";
    if (n.transfer_encoding > 1 || (n.transfer_encoding && !n.chunked))
        return "Bad Request: the only Transfer-Encoding accepted is chunked";
    return NULL;
}

bool http_has_body(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

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
        return true; /* HTTP/1.0 without Host (1.1 without is refused before) */
    return authority_allowed(h, host, strlen(host));
}

bool http_origin_allowed(const mcp_http *h, const char *origin)
{
    if (h->o.allow_any_host || !origin)
        return true; /* non-browser clients send no Origin */
    for (char **o = h->origins; o && *o; o++)
        if (strcmp(*o, "*") == 0 || strcasecmp(*o, origin) == 0)
            return true; /* ALLOWED_ORIGINS */
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
