/* cli/serve_http.h — the glue between the Streamable HTTP transport (http/) and the
 * app (app/) for `ctxd serve`: the auth hook that turns each HTTP request into an
 * app_req (X-API-Key checked in constant time, Authorization bearer, peer address as
 * the pre-authentication rate key), the app's state on each MCP session, and the extra
 * routes GET /health, GET /health/database and GET /metrics.
 * Must not: log or echo API keys or tokens; parse MCP; own the app, store or server
 * (the caller creates and frees them, after serve_http_stop). */
#ifndef CTXD_CLI_SERVE_HTTP_H
#define CTXD_CLI_SERVE_HTTP_H

#include <stdint.h>

#include "app/app.h"
#include "auth/auth.h"
#include "base/conf.h"
#include "base/err.h"
#include "mcp/mcp.h"

typedef struct serve_http serve_http;

typedef struct serve_http_opts {
    const char *host;    /* bind address (IPv4/IPv6 literal) */
    uint16_t port;       /* 0 = ephemeral */
    mcp_server *srv;     /* borrowed; app_register'ed */
    app_t *app;          /* borrowed */
    auth_ctx *auth;      /* borrowed */
    const char *version; /* ctxd version for /health and /metrics */
    const conf_t *conf;  /* borrowed: HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_CLIENT,
                            HTTP_HEADER_TIMEOUT, ALLOWED_HOSTS, ALLOWED_ORIGINS,
                            HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE */
} serve_http_opts;

serve_http *serve_http_start(const serve_http_opts *o, err_t *e);
uint16_t serve_http_port(const serve_http *s);
bool serve_http_tls(const serve_http *s); /* serving HTTPS (HTTP_TLS_CERT_FILE) */
/* Graceful: stops accepting, finishes in-flight requests, ends sessions, frees s. */
void serve_http_stop(serve_http *s);

#endif
