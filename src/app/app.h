/* app/app.h — the operations of ctxd (docs/mcp-interface.md): the app context (store, auth,
 * permission map, rate limiter, limits), registration of every tool, resource and
 * prompt into an mcp_server, the per-connection / per-session / per-request state a
 * transport hands to the handlers (an app_req as mcp_request_ctx.auth), and what the
 * server reports and does besides MCP (health, metrics text, maintenance).
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
#include "base/sbuf.h"
#include "mcp/mcp.h"
#include "store/store.h"

typedef struct app app_t;

/* Enforced limits (docs/mcp-interface.md "Limits"); app_limits_default() gives the contract's. */
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
    /* The work of one call (docs/mcp-interface.md "Limits"; configuration variables in
     * parentheses): */
    size_t search_max_bytes;       /* 32 MiB of message text one search_context scores
                                  (SEARCH_MAX_SCAN_BYTES) */
    size_t search_time_ms;         /* 5000 ms one search_context scores (SEARCH_TIME_BUDGET_MS) */
    size_t response_max_bytes;     /* 4 MiB of rows (compact JSON) in one list or read answer
                                  (MAX_RESPONSE_BYTES); the first row always goes in */
    size_t search_index_max_bytes; /* 512 MiB: the in-memory term indexes of searched
                                      sessions in all (SEARCH_INDEX_MAX_BYTES) */
    size_t search_terms_min_messages; /* 2000: sessions smaller than this are scanned at
                                         every threshold (each candidate of the term index
                                         costs a read: a scan is exact and about as fast) */
    size_t heavy_per_agent;           /* 4 heavy calls (search_context, get_thread) one agent may
                                  run at once (HEAVY_CALLS_PER_AGENT); more are RATE_LIMITED */
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
    /* Caps (0 = the default): MCP sessions admitted by app_session_admit in all (10000)
     * and per client address (1000); resources/subscribe per MCP session (100) and in
     * the server (100000). */
    size_t max_sessions, max_sessions_per_peer;
    size_t max_subscriptions_per_session, max_subscriptions;
    /* Worker threads (0 = the default, 8 each) of the lanes app_register declares: "write"
     * (tools that change data, so writes waiting for a database lock never hold the
     * threads reads run on) and "heavy" (search_context, get_thread). Transports with
     * worker lanes (HTTP) run each lane on threads of its own (mcp_server_add_lane). */
    size_t write_workers, heavy_workers;
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
 * trusted identity). A connection remembers the token last issued by authenticate_agent
 * (or refresh_token) on it, bound to the credential the request presented (the API key);
 * resources and prompts (which cannot carry auth_token) use it when the request has no
 * bearer token but presents that credential again, resolving the token anew each time. */
app_conn *app_conn_new(bool trusted);
void app_conn_free(app_conn *c); /* NULL is fine */

/* The app_conn of an MCP session, for transports with many sessions (HTTP):
 * app_session_open hangs a new app_conn on s (mcp_session_set_userdata) before its first
 * request; a request whose app_req has no conn uses its session's, so an identity issued
 * on one MCP session is remembered for that session only. app_session_close drops the
 * session's subscriptions, uncounts it (app_session_admit) and frees its state once the
 * session has ended and no request of it runs (mcp_http_opts.on_session_end).
 * The userdata of every session of the app's server is the app's: a transport must not
 * set it to anything else. Both are no-ops on NULL. */
void app_session_open(mcp_session *s, bool trusted);
void app_session_close(mcp_session *s);

typedef struct app_req {
    app_conn *conn;        /* NULL: the MCP session's (app_session_open), if any */
    const char *bearer;    /* Authorization header value ("Bearer ...") or NULL */
    bool api_key_ok;       /* the transport verified the API key (HTTP X-API-Key;
                                  stdio: API_KEY is set in the server's environment) */
    const char *rate_key;  /* key for rate limiting before authentication (e.g. a
                                  peer address); NULL = "anonymous" */
    const char *agent_key; /* an agent's own key presented (HTTP: an X-API-Key that is not
                              the API key), checked by authenticate_agent; or NULL */
    bool local;            /* the transport is the local user who started the server
                              (stdio): with api_key_ok, authenticate_agent grants any
                              identity, as that user holds the server's secrets */
} app_req;

/* For transports with many sessions (HTTP), right after app_session_open with the request
 * that creates the session: counts it within max_sessions and max_sessions_per_peer (the
 * peer is rq->rate_key) until app_session_close, and binds it to the API key (or the agent
 * key) when rq presented it. */
typedef enum app_admit {
    APP_ADMIT_OK = 0,
    APP_ADMIT_PEER_FULL, /* the client address has max_sessions_per_peer sessions */
    APP_ADMIT_FULL       /* the server has max_sessions sessions */
} app_admit;
app_admit app_session_admit(app_t *a, mcp_session *s, const app_req *rq);
/* Does rq present the credential session s is bound to (the API key, the agent key, or
 * the remembered token as a bearer)? A session bound to nothing (nothing private was done on it) is
 * anyone's. For what a request cannot do as someone else: the GET stream, DELETE. */
bool app_session_owner(mcp_session *s, const app_req *rq);

/* Calls fn once per tool with its request count, error count and latency percentiles
 * (microseconds), in registration order. */
typedef struct app_tool_stats {
    const char *tool;
    uint64_t calls, errors;
    double p50_us, p95_us, p99_us, mean_us;
    /* errors per envelope code: code_names[i] was returned code_counts[i] times */
    size_t ncodes;
    const char *const *code_names;
    const uint64_t *code_counts;
} app_tool_stats;
void app_foreach_tool_stats(app_t *a, void (*fn)(void *ud, const app_tool_stats *s), void *ud);

/* ---- health.c: what GET /health and GET /health/database report ---------------- */
typedef struct app_health_info {
    const char *transport; /* "http" */
    size_t sessions;       /* live MCP sessions of the transport */
    const char *version;   /* the ctxd version */
} app_health_info;
/* The /health document as compact JSON text (malloc'd): status ("healthy", or
 * "degraded" when the database did not answer), timestamp, database (as below, without
 * timestamp), server {name, transport, sessions, uptime_seconds}, version. One ping. */
char *app_health_json(app_t *a, const app_health_info *hi);
/* The /health/database document: status ("healthy"/"unhealthy"), type and
 * database_type (the backend), latency_ms or error (an err_code name), pool figures,
 * timestamp. *ok: the database answered its ping (HTTP: 200, else 503). */
char *app_health_database_json(app_t *a, bool *ok);

/* ---- metrics_text.c: the app's part of GET /metrics ------------------------------ */
/* Appends, in the Prometheus text format 0.0.4: ctxd_tool_calls_total,
 * ctxd_tool_errors_total and ctxd_tool_latency_seconds (summary) per tool,
 * ctxd_uptime_seconds, ctxd_build_info{version,backend}, the database pool
 * (ctxd_db_pool_*), statements, slow statements, retries, statement time and
 * ctxd_db_errors_total{class}: the same names on every backend. No database I/O. */
void app_metrics_render(app_t *a, const char *version, sbuf_t *out);

/* ---- maintenance.c: background upkeep of `ctxd serve` -------------------------- */
/* One pass as of `now`: deletes memory entries and tokens/revocations expired by now
 * and, if retention_days > 0, audit records older than retention_days. Failures are
 * logged as warnings (the next pass retries), removals at info. */
void app_maintenance_run(store_t *st, utc_us now, long retention_days);
typedef struct app_maint app_maint;
/* Runs app_maintenance_run(st, utc_now(), retention_days) every interval_s seconds
 * (first pass after one interval) on a thread of its own. NULL (logged) if the thread
 * cannot be created. */
app_maint *app_maint_start(store_t *st, long retention_days, long interval_s);
/* Wakes the thread, lets a pass in progress finish, joins and frees. NULL is fine. */
void app_maint_stop(app_maint *m);

#endif
