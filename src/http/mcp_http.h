/* http/mcp_http.h — the MCP Streamable HTTP transport (legacy era: 2025-11-25, 2025-06-18,
 * 2025-03-26) on libmicrohttpd, plus a tiny router for the embedding program's extra
 * routes (/health, /metrics, ...).
 *
 * Must not: interpret identities (the auth hook's result is opaque and handed to the MCP
 * handlers as mcp_request_ctx.auth), know what a ctxd session or a database is, or
 * register MCP tools (the product does that on the mcp_server it passes in).
 *
 * Threads: libmicrohttpd's internal epoll thread pool (`io_threads`) does the socket I/O
 * and runs quick work inline (initialize, ping, notifications, client responses, routes);
 * other MCP requests run on fixed pools of worker threads, one per lane of the server
 * (mcp_server_add_lane; the default lane has `workers` threads), while the connection is
 * suspended. SSE streams are suspended connections resumed when an event arrives, so an
 * idle stream costs no thread. No thread is created per request.
 *
 * Wire behaviour (MCP Streamable HTTP, see docs/mcp-interface.md): POST/GET/DELETE on /mcp and /mcp/; JSON response when a
 * request emitted nothing else, SSE (event ids "<stream>-<seq>", priming event + retry for
 * >= 2025-11-25 sessions) when it emitted notifications or requests; Mcp-Session-Id minted
 * on initialize, 400 when missing, 404 when unknown/ended; MCP-Protocol-Version checked
 * (400); Accept 406; Content-Type 415; body limit 413; Origin/Host 403; other methods 405;
 * one GET stream per session (409); Last-Event-ID replays a bounded per-stream store.
 * Every path: malformed framing (HTTP/1.1 without Host, duplicate Host or Content-Length,
 * Content-Length with Transfer-Encoding) 400, Origin/Host 403; a connection cap, a
 * per-peer limit and a deadline for each request head; a refusal sent before the body
 * was read is followed by a lingering close, so the client reads it instead of a reset. */
#ifndef CTXD_HTTP_MCP_HTTP_H
#define CTXD_HTTP_MCP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcp/mcp.h"

typedef struct mcp_http mcp_http;
typedef struct mcp_http_req mcp_http_req; /* one HTTP request (valid during callbacks) */

/* Request accessors (for the auth hook and route handlers). Header lookup is
 * case-insensitive; the returned strings live as long as the request. */
const char *mcp_http_req_header(const mcp_http_req *r, const char *name);
const char *mcp_http_req_method(const mcp_http_req *r);
const char *mcp_http_req_path(const mcp_http_req *r);
/* The numeric address of the TCP peer ("127.0.0.1", "::1"; no port) in buf (n >= 46 holds
 * any), for keying per-client limits. False (buf "") if the address is unknown or not IP.
 * Behind a reverse proxy this is the proxy's address: forwarded headers are not read. */
bool mcp_http_req_peer(const mcp_http_req *r, char *buf, size_t n);

/* Auth hook: called for every request to the MCP endpoint (POST, GET, DELETE) before
 * anything else is done with it. Return true and set *auth (may stay NULL) to accept; the
 * value is attached to the request's mcp_request_ctx.auth and released with auth_free
 * (if set) once the request is finished. Return false to refuse: 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"` and a short JSON body (`message`, if
 * set, is its text; static string). */
typedef bool (*mcp_http_auth_fn)(void *ud, const mcp_http_req *req, void **auth,
                                 const char **message);
typedef void (*mcp_http_auth_free_fn)(void *ud, void *auth);

/* What a finished MCP request was: one call of the observer per JSON-RPC request (not per
 * notification; a batch counts as "batch"), on the thread that finished it. The names are
 * the server's own, never a client's string: fit for metric labels. */
typedef struct mcp_http_request_info {
    const char *rpc_method; /* an MCP request method ("tools/call", ...), "batch", "other"
                               for any other name; NULL when the body was invalid */
    const char *tool;       /* the registered tool of tools/call (prompt of prompts/get),
                               "other" when none has params.name; else NULL */
    unsigned http_status;   /* 200, 202, 400, ... (SSE responses count as 200) */
    bool rpc_error;         /* the response carried a JSON-RPC error */
    uint64_t duration_ns;   /* body complete -> response ready */
} mcp_http_request_info;
typedef void (*mcp_http_observer_fn)(void *ud, const mcp_http_request_info *info);

/* What a request does with a session (mcp_http_opts.session_check). */
typedef enum mcp_http_session_op {
    MCP_HTTP_SESSION_CREATE, /* the initialize that creates it */
    MCP_HTTP_SESSION_STREAM, /* GET: its SSE stream (or a resumed POST stream) */
    MCP_HTTP_SESSION_DELETE  /* DELETE: end it */
} mcp_http_session_op;

typedef struct mcp_http_opts {
    const char *bind_addr;              /* IPv4/IPv6 literal; default "127.0.0.1" */
    uint16_t port;                      /* 0 = ephemeral (see mcp_http_port) */
    unsigned io_threads;                /* libmicrohttpd thread pool size (default 2) */
    unsigned workers;                   /* MCP handler threads of the default lane (8); the
                                          server's other lanes (mcp_server_add_lane) get
                                          threads of their own */
    size_t max_body;                    /* request body limit in bytes (default 4 MiB) */
    unsigned max_connections;           /* connections at once (default 4096; lowered to what
                                          the open-file limit allows) */
    unsigned max_connections_per_peer;  /* connections at once from one IP address (512);
                                          more are closed as soon as they are accepted */
    unsigned head_timeout;              /* seconds a connection may take, from its start or
                                          the end of its previous response, to send a
                                          complete request head; bytes trickling in do not
                                          extend it; an idle kept-alive connection is
                                          closed after it too (default 30) */
    unsigned connection_timeout;        /* seconds without any byte moving before a
                                          connection is closed (default 120) */
    unsigned sse_retry_ms;              /* `retry:` sent on SSE streams of >= 2025-11-25 (1000) */
    unsigned event_store;               /* events kept per stream for Last-Event-ID (default 256) */
    unsigned session_idle_timeout;      /* seconds without requests or open streams after which
                                      a session is ended (checked when sessions are created;
                                      default 3600) */
    const char *const *allowed_hosts;   /* NULL-terminated extra Host/Origin host names
                                         (localhost, 127.0.0.1, [::1] are always allowed) */
    const char *const *allowed_origins; /* NULL-terminated origins ("https://app.example:8443")
                                          whose requests are accepted besides those whose
                                          Origin host is an allowed host; "*" = any Origin */
    bool allow_any_host;                /* disable Host/Origin validation (behind a proxy) */
    const char *tls_cert_pem;           /* both or neither: serve HTTPS with this PEM */
    const char *tls_key_pem;            /* certificate (chain) and private key (copied) */
    mcp_http_auth_fn auth;              /* optional */
    mcp_http_auth_free_fn auth_free;
    void *auth_ud;
    mcp_http_observer_fn observer; /* optional; see also mcp_http_metrics_render */
    void *observer_ud;
    /* Called when a session is created (before its first request is handled), e.g. to
     * attach the product's state with mcp_session_set_userdata, and when it is freed:
     * after it ended (DELETE, idle expiry, mcp_http_stop, or an initialize that failed)
     * and its last request finished, so on_session_end may free that state. */
    void (*on_session)(void *ud, mcp_session *s);
    void (*on_session_end)(void *ud, mcp_session *s);
    void *session_ud;
    /* Optional, with session_ud: may this request do `op` with session s? Asked with the
     * request's auth value (from the auth hook) for the initialize that creates s (after
     * on_session, before the initialize is handled), for a GET stream and for a DELETE.
     * Returns 0 to go on, or the HTTP status to refuse with: a JSON-RPC error whose
     * message is *message (a static string); a session being created is dropped, an
     * existing one is left as it is. */
    unsigned (*session_check)(void *ud, mcp_session *s, void *auth, mcp_http_session_op op,
                              const char **message);
} mcp_http_opts;

#define MCP_HTTP_DEFAULT_MAX_BODY ((size_t)4 << 20)
#define MCP_HTTP_DEFAULT_MAX_CONNECTIONS 4096u
#define MCP_HTTP_DEFAULT_MAX_CONNECTIONS_PER_PEER 512u
#define MCP_HTTP_DEFAULT_HEAD_TIMEOUT 30u

/* Creates and starts the server (listening when it returns). NULL with e on failure
 * (e.g. the port is taken). opts may be NULL. */
mcp_http *mcp_http_start(mcp_server *srv, const mcp_http_opts *opts, err_t *e);
/* The bound port (useful with port 0). */
uint16_t mcp_http_port(const mcp_http *h);
/* Graceful shutdown: stop accepting, finish in-flight requests, end SSE streams, free
 * every session, free h. */
void mcp_http_stop(mcp_http *h);
/* Number of live MCP sessions. */
size_t mcp_http_session_count(mcp_http *h);

/* SSE polling (2025-11-25, SEP-1699) for a handler running on an HTTP POST: switches the
 * call to an SSE response if needed (priming event with id and `retry`) and ends the
 * current connection once the events so far are written, without ending the logical
 * stream; the client resumes with GET + Last-Event-ID after `retry` ms and receives the
 * rest, including the response. False if the call is not on an HTTP POST stream. */
bool mcp_http_call_disconnect(mcp_call *c);

/* ---- extra routes ------------------------------------------------------------------ */
typedef struct mcp_http_response {
    unsigned status;          /* default 200 */
    const char *content_type; /* static string; default "text/plain; charset=utf-8" */
    char *body;               /* malloc'd (freed by the transport) or NULL */
    size_t len;
} mcp_http_response;
/* Runs on an I/O thread: keep it short (no long blocking). */
typedef void (*mcp_http_route_fn)(void *ud, const mcp_http_req *req, mcp_http_response *out);
/* Adds METHOD PATH (exact match; "GET" also answers HEAD). Before or after start; routes
 * are not protected by the auth hook (call it yourself if needed). */
void mcp_http_add_route(mcp_http *h, const char *method, const char *path, mcp_http_route_fn fn,
                        void *ud);

/* ---- metrics ----------------------------------------------------------------------- */
/* Built-in request metrics (always collected): appends Prometheus text exposition for
 * (labels: see mcp_http_request_info)
 *   ctxd_mcp_requests_total{method,tool,status}           counter
 *   ctxd_mcp_request_duration_seconds{method,tool}         histogram
 *   ctxd_mcp_sessions                                       gauge
 *   ctxd_mcp_workers{lane}, ctxd_mcp_workers_busy{lane},
 *   ctxd_mcp_queued_requests{lane}                          gauges (worker lanes)
 * to a malloc'd NUL-terminated string (caller frees); *len (if not NULL) gets its length.
 * The app renders it as part of its GET /metrics. */
char *mcp_http_metrics_render(mcp_http *h, size_t *len);

#endif
