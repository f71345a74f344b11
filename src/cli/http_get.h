/* cli/http_get.h — one HTTP/1.1 GET over plain TCP or TLS (OpenSSL) with a deadline and
 * a bound on the response, for `ctxd status` asking a running server for /health
 * (http_get.c says why it is hand-written).
 * Must not: follow redirects, keep connections, or send anything but the GET. */
#ifndef CTXD_CLI_HTTP_GET_H
#define CTXD_CLI_HTTP_GET_H

#include <stdbool.h>
#include <stddef.h>
#include "base/err.h"

/* Why a GET got no HTTP answer. */
typedef enum cli_http_fail {
    CLI_HTTP_OK = 0,
    CLI_HTTP_BAD_URL,     /* not http(s)://host[:port][/...] */
    CLI_HTTP_REFUSED,     /* nothing listens there (ECONNREFUSED) */
    CLI_HTTP_UNREACHABLE, /* no such host, no route, another socket error */
    CLI_HTTP_TIMEOUT,     /* the deadline passed (connect, handshake or reading) */
    CLI_HTTP_TLS,         /* the TLS handshake failed (certificate not trusted, ...) */
    CLI_HTTP_PROTOCOL     /* an answer that is not an HTTP response, or too large */
} cli_http_fail;

/* "bad_url", "refused", "unreachable", "timeout", "tls", "protocol" ("ok"). */
const char *cli_http_fail_name(cli_http_fail f);

/* The parts of an http or https URL; the path is whatever follows host[:port]. */
typedef struct cli_http_url {
    bool tls;
    char host[256]; /* without brackets for IPv6 */
    unsigned port;  /* 80 / 443 when not given */
} cli_http_url;

/* Parses "http[s]://host[:port][/anything]" (userinfo, a bad port or an empty host:
 * false with a message in e). */
bool cli_http_url_parse(const char *url, cli_http_url *out, err_t *e);

typedef struct cli_http_response {
    int status; /* 200, 503, ... */
    char *body; /* NUL-terminated (chunked encoding undone); caller frees */
    size_t len; /* bytes of body */
} cli_http_response;

typedef struct cli_http_get_opts {
    const char *cacert; /* https: PEM file of trusted certificates (any certificate in it
                         * may be the anchor, a self-signed server's own included), on top
                         * of the system's; NULL: the system's only */
    int timeout_ms;     /* for the whole exchange: connect, handshake, request, answer */
    size_t max_bytes;   /* bound on the response, head and body */
} cli_http_get_opts;

/* GET `path` of u. CLI_HTTP_OK with *r filled (any status), else the failure with a
 * one-line message in e (e.g. "connection refused", "certificate verify failed: self-
 * signed certificate"). The process must ignore SIGPIPE (a peer closing mid-request). */
cli_http_fail cli_http_get(const cli_http_url *u, const char *path, const cli_http_get_opts *o,
                           cli_http_response *r, err_t *e);
void cli_http_response_free(cli_http_response *r);

#endif
