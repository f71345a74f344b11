/* app/app_int.h — what the files of app/ share: the app struct, the per-call context
 * the dispatcher builds (caller identity, clock), the tool table entry, the error
 * envelope builders, the visibility/permission/limit helpers and the JSON renderers.
 * Must not: be included outside src/app (transports use app.h only). */
#ifndef CTXD_APP_INT_H
#define CTXD_APP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>

#include "app/app.h"
#include "auth/identity.h"
#include "base/hash.h"
#include "search/search.h"
#include "search/termidx.h"

/* ---- error codes of the envelope (docs/mcp-interface.md) ---- */
typedef enum app_code {
    APP_INVALID_INPUT = 0,
    APP_INVALID_VISIBILITY,
    APP_INVALID_METADATA_FORMAT,
    APP_INVALID_KEY,
    APP_KEY_EXISTS,
    APP_INVALID_TTL_VALUE,
    APP_INVALID_TTL_FORMAT,
    APP_INVALID_DATETIME,
    APP_CONTENT_TOO_LARGE,
    APP_MEMORY_LIMIT_EXCEEDED,
    APP_SESSION_NOT_FOUND,
    APP_MESSAGE_NOT_FOUND,
    APP_MEMORY_NOT_FOUND,
    APP_INVALID_TOKEN_FORMAT,
    APP_TOKEN_AUTHENTICATION_FAILED,
    APP_TOKEN_EXPIRED,
    APP_AUTH_FAILED,
    APP_PERMISSION_DENIED,
    APP_RATE_LIMITED,
    APP_DATABASE_UNAVAILABLE,
    APP_CODE_COUNT
} app_code;
const char *app_code_name(app_code c);

/* ---- latency histogram (lock-free, log buckets) ---- */
#define APP_LAT_BUCKETS 48
typedef struct app_lat {
    atomic_uint_fast64_t calls, errors, total_us;
    atomic_uint_fast64_t b[APP_LAT_BUCKETS];
    atomic_uint_fast64_t codes[APP_CODE_COUNT]; /* error calls per envelope code */
} app_lat;
/* code: the error envelope's code, or APP_CODE_COUNT for a success (or no envelope). */
void app_lat_record(app_lat *l, int64_t us, bool error, app_code code);
/* The code named `name` in an error envelope, or APP_CODE_COUNT. */
app_code app_code_of(const char *name);
double app_lat_percentile(const app_lat *l, double p);

#define APP_MAX_TOOLS 32

/* The rate limit's bucket families (access.c), as counted for /metrics. */
enum {
    APP_RL_AGENT,
    APP_RL_PEER,
    APP_RL_LOGIN,
    APP_RL_KINDS
};

/* The search indexer's figures for /metrics (indexer.c): messages added and not yet
 * indexed, messages indexed since start, and how long the oldest of the pending ones
 * has waited (0 when none). */
typedef struct app_index_figures {
    int64_t pending;
    uint64_t indexed;
    double lag_seconds;
} app_index_figures;
void app_indexer_figures(app_t *a, app_index_figures *out);
/* The standard process_* figures (metrics_process.c) in the Prometheus text format. */
void app_process_metrics(sbuf_t *b);

typedef struct app_tool app_tool;
typedef struct tool_slot {
    struct app *app;
    const app_tool *t;
    size_t idx;
    bool heavy; /* counted against lim.heavy_per_agent (app_heavy_enter) */
} tool_slot;

/* worker.c: a background thread and what it sleeps on. */
typedef struct app_worker {
    pthread_t th;
    pthread_mutex_t mu; /* guards stop and the owner's shared fields */
    pthread_cond_t cv;  /* signalled by app_worker_stop and by the owner */
    bool stop;
} app_worker;
/* Initialises w and runs fn(arg) on a new thread; false (w needs no cleanup) if the
 * thread cannot be created. */
bool app_worker_start(app_worker *w, void *(*fn)(void *), void *arg);
/* With w->mu held: waits for a signal (or a spurious wake-up), or at most `seconds`
 * (< 0: no limit). True when the time ran out. The caller checks w->stop after it. */
bool app_worker_wait(app_worker *w, long seconds);
/* Sets stop, wakes the thread, joins it and destroys w's mutex and condition. */
void app_worker_stop(app_worker *w);

/* indexer.c: wake the background indexer after a message was added (no-op without). */
void app_indexer_poke(app_t *a);

/* indexer.c: the in-memory term index of each searched session (search/termidx.h), for
 * search_context below the prefilter's thresholds; at most `limit` bytes in all. */
typedef struct app_sidx app_sidx;
app_sidx *app_sidx_new(size_t limit);
void app_sidx_free(app_sidx *x); /* NULL is fine */
/* The candidates of q in session sid (search_tidx_query), the session's index brought up
 * to date with the store first (built at the first call). out->usable is false when the
 * index cannot serve: the query (termidx.h), the memory bound, a store that kept changing
 * while it was counted, or a session of fewer than lim.search_terms_min_messages (a scan
 * is exact and as fast there); the caller scans then. A store error is returned. */
err_code app_sidx_candidates(app_t *a, const char *sid, const search_query *q, double min_sim,
                             int64_t since_id, size_t max, search_tidx_result *out, err_t *e);
/* Brings every built index up to date (the background indexer, after new messages). */
void app_sidx_refresh(app_t *a);
typedef struct app_sidx_stats {
    size_t bytes, limit; /* held in all, the bound (SEARCH_INDEX_MAX_BYTES) */
    size_t sessions;     /* sessions with an index */
    uint64_t builds;     /* indexes built */
    uint64_t drops;      /* indexes dropped to stay within the bound */
} app_sidx_stats;
void app_sidx_report(app_t *a, app_sidx_stats *out);

/* counts.c: how many of something each key holds now (a client address's MCP sessions,
 * an agent's heavy calls), under a cap; a key holding none has no entry. */
typedef struct app_counts {
    pthread_mutex_t mu;
    hash_t *h;
} app_counts;
void app_counts_init(app_counts *c);
void app_counts_fini(app_counts *c);
/* One more for key when it holds fewer than max: true; else false. *had (may be NULL)
 * receives what it held before. */
bool app_counts_take(app_counts *c, const char *key, size_t max, size_t *had);
/* One less for key (a take that returned true). */
void app_counts_give(app_counts *c, const char *key);

struct app {
    store_t *st;
    auth_ctx *auth;
    auth_ratelimit *rl;
    bool own_rl;
    app_limits lim;
    app_clock_fn clock;
    void *clock_ud;
    char *trusted_id, *trusted_type;
    mcp_server *srv;
    int64_t started_mono;
    size_t ntools;
    const char *tool_names[APP_MAX_TOOLS];
    app_lat tool_lat[APP_MAX_TOOLS];
    tool_slot slots[APP_MAX_TOOLS];
    atomic_uint_fast64_t err_counts[APP_CODE_COUNT];
    atomic_uint_fast64_t rate_limited[APP_RL_KINDS]; /* refusals per bucket family */
    pthread_key_t ws_key;                            /* per-thread search workspace */
    app_indexer *ix; /* background search-index upkeep, or NULL (indexer.c) */
    app_sidx *sidx;  /* the sessions' term indexes (indexer.c) */
    /* caps (app_opts): MCP sessions, subscriptions */
    size_t lim_sessions, lim_sessions_per_peer, lim_subs_per_session, lim_subs;
    /* MCP sessions admitted by app_session_admit (access.c) */
    pthread_mutex_t sess_mu;
    size_t nsess;
    app_counts peers; /* client address -> its sessions */
    /* worker lanes (app_opts) and the heavy calls running per agent (budget.c) */
    size_t write_workers, heavy_workers;
    app_counts heavy; /* agent id -> its heavy calls running now */
};

/* The app's state of one connection / MCP session: the credential its remembered
 * identity is bound to (docs/mcp-interface.md, "Identity and MCP sessions"). */
struct app_conn {
    bool trusted;
    pthread_mutex_t mu; /* guards by_key, key_digest and token */
    bool by_key;        /* bound to the server API key (presented when it was bound) */
    char key_digest[AUTH_DIGEST_HEX]; /* or to this agent key's digest ("" = none) */
    char *token;   /* the token it remembers (issued or used on it), or NULL; resolved
                           again on every use */
    app_t *app;    /* set once admitted and counted (app_session_admit), else NULL */
    char peer[64]; /* the client address it was counted under */
};

/* ---- per call ---- */
typedef struct app_call {
    app_t *app;
    mcp_call *mc;
    const app_req *req;
    auth_identity id; /* valid when authed */
    bool authed;
    utc_us now;
    const char *tool; /* the tool called (NULL: a resource, prompt, completion) */
} app_call;

typedef json_t *(*app_tool_fn)(app_call *c, json_t *args);

enum {
    APP_NEED_NONE = 0,
    APP_NEED_READ,
    APP_NEED_WRITE,
    APP_NEED_ADMIN
};

/* A tool: its input schema is the embedded src/app/schemas/<name>.json (schemas.h). */
struct app_tool {
    const char *name, *title, *description, *annotations;
    int need;
    app_tool_fn fn;
};

/* the tool tables of each tools_*.c (NULL-name terminated) */
extern const app_tool app_tools_auth[];
extern const app_tool app_tools_session[];
extern const app_tool app_tools_messages[];
extern const app_tool app_tools_memory[];
extern const app_tool app_tools_search[];
extern const app_tool app_tools_info[];

utc_us app_now(app_t *a);
search_ws *app_search_ws(app_t *a);

/* ---- envelope.c: tool error results (new references) ---- */
/* context (stolen, may be NULL), suggestion (may be NULL), retry_after (<= 0: none). */
json_t *app_error_ex(app_t *a, app_code code, json_t *context, const char *suggestion,
                     long retry_after, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define app_error(a, code, ...) app_error_ex((a), (code), NULL, NULL, 0, __VA_ARGS__)
/* A store error: ERR_NOTFOUND -> notfound, ERR_EXISTS -> KEY_EXISTS, invalid /
 * constraint -> INVALID_INPUT, busy/conn/timeout -> DATABASE_UNAVAILABLE (recoverable,
 * retry_after), others DATABASE_UNAVAILABLE (not recoverable). */
json_t *app_error_store(app_t *a, const err_t *e, app_code notfound, const char *what);
/* {success:true, ...obj} as a structured tool result; steals obj. */
json_t *app_ok(json_t *obj);

/* ---- access.c: who is calling, may they ---- */
/* Resolves the caller (explicit token, else the request's bearer, else — for
 * resources/prompts when allow_conn — the connection's identity, else the trusted
 * identity) and checks `need`. NULL when allowed (c->id filled), else the error result. */
json_t *app_access(app_call *c, const char *token, int need, bool allow_conn);
/* The connection state of the call: the app_req's conn, else its MCP session's
 * (app_session_open), else NULL. */
app_conn *app_call_conn(const app_call *c);
/* The rate-limit check of an agent's calls (key = the agent id); NULL when allowed. */
json_t *app_rate_check(app_call *c, const char *key);
/* The same for the request's client address (app_req.rate_key) before authentication,
 * and for the logins of agent_id; their buckets are apart from the agents' calls. */
json_t *app_rate_check_peer(app_call *c);
json_t *app_rate_check_login(app_call *c, const char *agent_id);
/* The client address of the call ("anonymous" when unknown). */
const char *app_call_peer(const app_call *c);
/* Remembers token as the identity of the call's connection when the request may bind it
 * (the connection is unbound, or the request presents its credential, or `current` is
 * the token it remembers): bound to the API key when the request presented it, and to
 * the token. False when the connection is bound to another credential. */
bool app_conn_remember(app_call *c, const char *token, const char *current);
/* Remembers token (the bearer a subscription was made with) for a connection that
 * remembers none yet. */
void app_conn_adopt(app_call *c, const char *token);
/* The identity of a connection for what it receives without a request (notifications):
 * its remembered token resolved now, or the trusted identity. False when it has none. */
bool app_conn_identity(app_t *a, app_conn *conn, auth_identity *out);
/* Does the call's request present the credential its connection is bound to (always
 * true for an unbound or trusted connection)? */
bool app_call_owns_conn(const app_call *c);
/* Restricted sessions (create_session's allowed_agents / allowed_types, store_session.
 * access), the rule in C beside the store's (store_vis.member_id, set by app_vis_build):
 * does session s admit id? An open session admits everyone; a restricted one its creator,
 * the agents and agent types it lists, and admins. */
bool app_session_admits(const store_session *s, const auth_identity *id);
/* For every tool call naming a session (app_check_session_id): NULL when the session is
 * open, admits the caller, or does not exist (the tool then answers as it always did);
 * SESSION_NOT_FOUND, exactly as for a missing session, when it exists and does not admit
 * c->id; DATABASE_UNAVAILABLE when the store fails. */
json_t *app_session_check(app_call *c, const char *sid);
/* A standalone audit record (event, agent, metadata: stolen); a failure is logged. */
void app_audit(app_call *c, const char *event, const char *agent_id, json_t *meta);
/* After an authenticated caller's tool answered r: a PERMISSION_DENIED answer (a
 * visibility it may not read or post, ...) is audited as app_access audits its own
 * refusals (event permission_denied). */
void app_audit_denied(app_call *c, const json_t *r);
/* access.c: set up / tear down the session accounting (app_new, app_free). */
void app_sessions_init(app_t *a);
void app_sessions_fini(app_t *a);
bool app_is_admin(const auth_identity *id);

/* ---- visibility.c: the rule, once ---- */
/* filter NULL/"" = everything the caller may read; else that visibility (an admin's
 * from any sender). Returns NULL (vis filled) or an error result (INVALID_VISIBILITY
 * for an unknown value, PERMISSION_DENIED for a value the caller may not read). vis
 * borrows strings from id. */
json_t *app_vis_build(app_call *c, const auth_identity *id, const char *filter, store_vis *vis);
/* May id post a message with the visibility named `name`? NULL (*out = its value) or
 * an error result (INVALID_VISIBILITY, PERMISSION_DENIED). */
json_t *app_vis_check_post(app_call *c, const auth_identity *id, const char *name,
                           store_visibility *out);
/* The visibility names in their order, as a JSON array (new reference). */
json_t *app_vis_names(void);

/* ---- limits.c ---- */
/* Sanitised content (control chars except \n\t\r removed, trimmed) in *out (malloc'd)
 * or an error result (INVALID_INPUT for invalid UTF-8 or empty, CONTENT_TOO_LARGE). */
json_t *app_check_content(app_call *c, const char *in, char **out);
/* metadata: null/absent -> *out NULL; an object (or a JSON string holding one) ->
 * compact text in *out. Else INVALID_METADATA_FORMAT. */
json_t *app_check_metadata(app_call *c, json_t *v, char **out);
json_t *app_check_mem_key(app_call *c, const char *key);
/* expires_in: null/absent -> 0 (permanent); an integral number or string 0..ttl_max
 * (INVALID_TTL_FORMAT for a fraction or other text, INVALID_TTL_VALUE out of range). */
json_t *app_check_ttl(app_call *c, json_t *v, long *ttl_s);
/* A session id argument: its shape, then app_session_check (a restricted session that
 * does not admit the caller reads as missing). */
json_t *app_check_session_id(app_call *c, const char *sid);
/* The session_id argument into *sid (borrowed), checked as app_check_session_id. */
json_t *app_arg_session(app_call *c, json_t *args, const char **sid);
size_t app_utf8_cps(const char *s);

/* The work of one call (app_limits): heavy calls per agent and the size of answers. */
/* Takes one of the calling agent's heavy-call slots: NULL, or the RATE_LIMITED result
 * (retry_after 1) when the agent already runs lim.heavy_per_agent heavy calls. Each NULL
 * return is paired with one app_heavy_leave. */
json_t *app_heavy_enter(app_call *c);
void app_heavy_leave(app_call *c);
/* Whether one more row of compact JSON size `bytes` fits the answer's
 * lim.response_max_bytes, given *used bytes of rows so far (the first row always fits);
 * adds it to *used when it does. */
bool app_row_fits(app_t *a, size_t *used, size_t bytes);
/* The compact JSON size of a value (for app_row_fits). */
size_t app_json_size(const json_t *v);
/* app_json_message of ms->v[0..n) in order, as an array, stopping before the first row
 * that does not fit lim.response_max_bytes (*truncated then true). */
json_t *app_json_messages_within(app_t *a, const store_messages *ms, size_t n, bool *truncated);

/* ---- render.c ---- */
json_t *app_json_message(const store_message *m);
json_t *app_json_messages(const store_messages *ms); /* an array, in ms's order */
json_t *app_json_session(const store_session *s);
json_t *app_json_time(utc_us t);               /* ISO-8601 string, or null for 0 */
json_t *app_json_parse_text(const char *text); /* JSON text -> value (null if NULL/bad) */
/* health.c: the pool figures of store_stats, as /health and get_performance_metrics
 * show them */
json_t *app_json_pool(const db_pool_stats *p);

/* argument getters (defaults when absent or null) */
const char *app_arg_str(json_t *args, const char *name);
/* A number as an int64_t without undefined behaviour: a JSON integer, or a real with an
 * integral value inside int64 (1e3, not 1.5, 1e300 or 2^63); false for anything else. */
bool app_json_int64(const json_t *v, int64_t *out);
/* An integer argument, range-checked before it becomes a C integer: absent or null ->
 * def; an integer (app_json_int64) within min..max -> *out, NULL returned. Anything else
 * is an INVALID_INPUT result (new ref) naming the argument and its range (context:
 * argument, min, max). */
json_t *app_arg_range(app_call *c, json_t *args, const char *name, int64_t def, int64_t min,
                      int64_t max, int64_t *out);
bool app_arg_bool(json_t *args, const char *name, bool def);

/* ---- resources.c / prompts.c ---- */
err_code app_register_resources(app_t *a, mcp_server *srv, err_t *e);
err_code app_register_prompts(app_t *a, mcp_server *srv, err_t *e);
/* notifications/resources/updated for the session of a message just added, to the
 * subscribers who may read that message */
void app_notify_message(app_t *a, const store_message *m);

/* tools_info.c: the tools documentation used by docs://tools */
json_t *app_tools_doc(app_t *a, const char *name);

#endif
