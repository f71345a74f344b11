/* app/app.h — the operations of ctxd (tool-contract.md): the app context (store, auth,
 * permission map, rate limiter, limits), registration of every tool, resource and
 * prompt into an mcp_server, and the per-connection / per-request state a transport
 * hands to the handlers as mcp_request_ctx.auth (an app_req).
 * The ONE place for access rules: identity resolution, the permission check and the
 * visibility rule (app_vis_build) live in app/ and every read path uses them.
 * Must not: do transport I/O (stdio/HTTP own the wire), write SQL (store/ does), or
 * log tokens / API keys. */
#ifndef CTXD_APP_APP_H
#define CTXD_APP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "auth/ratelimit.h"
#include "base/conf.h"
#include "base/err.h"
#include "mcp/mcp.h"
#include "store/store.h"

typedef struct app app_t;

/* Enforced limits (tool-contract.md "Limits"); app_limits_default() gives the contract's. */
typedef struct app_limits {
    size_t content_max_chars;  /* 100000 code points after sanitising */
    size_t metadata_max_keys;  /* 50 */
    size_t metadata_key_max;   /* 100 code points */
    size_t metadata_max_chars; /* 10000 bytes of compact JSON */
    size_t memory_key_max;     /* 255 code points */
    size_t memory_value_max;   /* 1 MiB of compact JSON */
    long ttl_max_s;            /* 31536000 */
    size_t purpose_max_chars;  /* 1000 */
    size_t query_max_chars;    /* 1000 (search_context) */
} app_limits;
app_limits app_limits_default(void);

typedef utc_us (*app_clock_fn)(void *ud);

typedef struct app_opts {
    store_t *store;     /* borrowed, required */
    auth_ctx *auth;     /* borrowed, required */
    auth_ratelimit *rl; /* borrowed, NULL = no rate limiting */
    app_limits limits;  /* zero-initialised fields take the defaults */
    app_clock_fn clock; /* NULL = auth_ctx_now (so one injected clock serves both) */
    void *clock_ud;
    /* Identity granted over a trusted transport when no token is given. */
    const char *trusted_agent_id;   /* NULL = "local" */
    const char *trusted_agent_type; /* NULL = "local"; permissions: read,write */
} app_opts;

err_code app_new(const app_opts *o, app_t **out, err_t *e);
/* From the configuration (the rate limiter from RATE_LIMIT_* is created and owned). */
err_code app_from_conf(const conf_t *c, store_t *st, auth_ctx *auth, app_t **out, err_t *e);
void app_free(app_t *a); /* after the mcp_server using it is freed; NULL is fine */

/* ---- search index upkeep (indexer.c) ------------------------------------------- */
typedef struct app_indexer app_indexer;
/* Installs the search index function on a store (app_new does it for its store;
 * copy/import may do it for a destination store). */
void app_index_install(store_t *st);
/* Starts the background indexer (ctxd serve): fills index text of messages without it
 * and, on SQLite, the FTS5 table, at start and after new messages. app_free stops it. */
err_code app_indexer_start(app_t *a, err_t *e);
void app_indexer_stop(app_t *a);
/* Runs message_reindex until the index is complete (*handled = messages handled). */
err_code app_index_flush(store_t *st, int64_t *handled, err_t *e);

/* Registers every tool, resource, template and prompt; remembers srv for
 * notifications/resources/updated. Once per app. */
err_code app_register(app_t *a, mcp_server *srv, err_t *e);
/* The server info ctxd announces (name "ctxd", version, instructions). */
mcp_server_info app_server_info(void);

/* ---- per connection / per request (what the transport passes as auth) ---------- */
typedef struct app_conn app_conn;
/* trusted: the operator marked this transport trusted (calls without a token get the
 * trusted identity). A connection remembers the identity last issued by
 * authenticate_agent on it; resources and prompts (which cannot carry auth_token) use
 * it when the request has no bearer token. */
app_conn *app_conn_new(bool trusted);
void app_conn_free(app_conn *c); /* NULL is fine */

typedef struct app_req {
    app_conn *conn;       /* may be NULL (no connection state) */
    const char *bearer;   /* Authorization header value ("Bearer ...") or NULL */
    bool api_key_ok;      /* the transport verified the API key (HTTP X-API-Key;
                                  stdio: API_KEY is set in the server's environment) */
    const char *rate_key; /* key for rate limiting before authentication (e.g. a
                                  peer address); NULL = "anonymous" */
} app_req;

/* Monotonic uptime etc. are kept per app; this is for /metrics of the HTTP transport:
 * calls fn once per tool with its request count, error count and latency
 * percentiles (microseconds). */
typedef struct app_tool_stats {
    const char *tool;
    uint64_t calls, errors;
    double p50_us, p95_us, p99_us, mean_us;
} app_tool_stats;
void app_foreach_tool_stats(app_t *a, void (*fn)(void *ud, const app_tool_stats *s), void *ud);

#endif
