/* http/http_internal.h — structures shared by the files of http/: the server, sessions
 * (refcounted, in a hash table), SSE streams with their event stores, per-request state,
 * the worker pool, the metrics collector with its label names, and the connection guard
 * (head deadline, lingering close).
 * Must not: be included outside src/http/ (the public API is mcp_http.h). */
#ifndef CTXD_HTTP_INTERNAL_H
#define CTXD_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/ids.h"
#include "base/sbuf.h"
#include "http/mcp_http.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT_T;
#else
typedef enum MHD_Result MHD_RESULT_T;
#endif

struct mcp_http_req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
};

/* ---- SSE streams (sse.c) ---- */
typedef struct http_event {
    uint64_t seq;
    char *text; /* the whole formatted SSE event */
    size_t len;
} http_event;

typedef struct http_reader http_reader;

typedef struct http_stream {
    unsigned no;    /* stream number within the session (0 = the GET stream) */
    int refs;       /* guarded by the session lock */
    http_event *ev; /* events seq first_seq .. first_seq+nev-1 */
    size_t nev, cap;
    uint64_t first_seq, next_seq;
    bool done;                /* the final response was appended: end after delivering */
    bool kick;                /* end the attached connection once it is drained (SEP-1699) */
    http_reader *reader;      /* the attached connection, if any */
    struct http_stream *next; /* session's list */
} http_stream;

struct http_reader {
    struct http_sess *sess; /* holds a session ref */
    http_stream *st;        /* holds a stream ref */
    struct MHD_Connection *conn;
    uint64_t next_seq; /* next event to write */
    size_t off;        /* bytes of that event already written */
    bool suspended;
};

/* ---- sessions (session.c) ---- */
typedef struct http_sess {
    char id[IDS_UUID_LEN];
    struct mcp_http *h;
    mcp_session *ms;
    pthread_mutex_t lock; /* guards streams, refs of streams, readers, ended */
    atomic_int refs;
    _Atomic uint64_t last_used; /* http_now_ns() of the last lookup */
    bool ended;
    bool modern_priming; /* >= 2025-11-25: priming event + retry */
    unsigned next_stream;
    http_stream *streams; /* stream 0 (GET) first, then POST streams, newest first */
    unsigned nstreams;
    struct http_sess *hnext; /* hash chain */
} http_sess;

/* ---- one MCP POST (endpoint.c) ---- */
typedef enum req_state {
    RQ_RUNNING,
    RQ_DONE,
    RQ_STREAMING
} req_state;

#define HTTP_POST_MAGIC 0x4d435048u /* tells our stream_ctx from other transports' */
typedef struct http_post {
    unsigned magic;
    struct mcp_http *h;
    http_sess *sess; /* holds a ref */
    struct MHD_Connection *conn;
    atomic_int refs; /* the MHD request + the worker job */
    mcp_message *msg;
    mcp_request_ctx rc;
    req_state state; /* guarded by sess->lock */
    bool suspended;  /* the access handler is waiting for the worker */
    mcp_reply reply;
    http_stream *stream;    /* created on the first notification (holds a ref) */
    const char *rpc_method; /* metrics labels (names.c): static or owned by h->names */
    const char *tool;
    uint64_t t0;
    unsigned lane;           /* the worker lane that runs it (mcp_message_lane) */
    struct http_post *qnext; /* worker queue */
} http_post;

/* Per-connection request state (MHD con_cls). */
typedef enum conn_kind {
    CK_NEW,
    CK_MCP_POST,
    CK_ROUTE,
    CK_DONE
} conn_kind;
typedef struct http_conn {
    conn_kind kind;
    sbuf_t body;
    bool too_big;
    void *auth;
    bool has_auth;
    http_post *post; /* while a POST waits for its worker */
} http_conn;

/* ---- metrics (metrics.c) ---- */
typedef struct http_metrics http_metrics;
http_metrics *http_metrics_new(void);
void http_metrics_free(http_metrics *m);
void http_metrics_record(http_metrics *m, const mcp_http_request_info *info);
void http_metrics_render(http_metrics *m, sbuf_t *out);

/* ---- label names (names.c) ---- */
typedef struct http_names http_names;
http_names *http_names_new(mcp_server *srv);
void http_names_free(http_names *n);
/* A known MCP request method or "batch" as a static string, "other" for any other name,
 * NULL for NULL. */
const char *http_names_method(const char *method);
/* For tools/call (prompts/get): the registered tool (prompt) called `name`, "other" when
 * there is none; NULL for other methods or a NULL name. The string lives as long as n. */
const char *http_names_tool(http_names *n, const char *method, const char *name);

/* ---- connection guard (guard.c) ---- */
typedef struct http_guard http_guard;
http_guard *http_guard_start(unsigned head_timeout_s); /* NULL if the thread cannot start */
void http_guard_stop(http_guard *g);                   /* not NULL; after the daemon stopped */
/* libmicrohttpd's connection notifications. */
void http_guard_conn_started(http_guard *g, struct MHD_Connection *c, void **socket_ctx);
void http_guard_conn_closed(http_guard *g, void **socket_ctx);
/* The request head is complete / the response is finished (the next head's deadline
 * starts). */
void http_guard_request_began(struct MHD_Connection *c);
void http_guard_request_ended(struct MHD_Connection *c);
/* The request was answered before its body was read: drain the socket after close. */
void http_guard_linger(struct MHD_Connection *c);

/* ---- routes ---- */
typedef struct http_route {
    char *method, *path;
    mcp_http_route_fn fn;
    void *ud;
    struct http_route *next;
} http_route;

#define HTTP_SESS_BUCKETS 256

struct mcp_http {
    mcp_server *srv;
    mcp_http_opts o;
    char **hosts;             /* copies of o.allowed_hosts */
    char **origins;           /* copies of o.allowed_origins */
    char *tls_cert, *tls_key; /* copies of the PEMs (NULL: plain HTTP) */
    struct MHD_Daemon *d;
    uint16_t port;
    atomic_bool stopping;

    pthread_rwlock_t routes_lock;
    http_route *routes;

    pthread_mutex_t sess_lock; /* guards the table */
    http_sess *buckets[HTTP_SESS_BUCKETS];
    size_t nsess;
    uint64_t last_reap; /* guarded by sess_lock */

    /* worker pool (workers.c): one queue and set of threads per lane of the server */
    pthread_mutex_t qlock; /* guards the lanes' queues and counters, qstop */
    struct http_lane {
        pthread_cond_t cv; /* work queued in this lane, or stopping */
        http_post *head, *tail;
        unsigned threads;    /* started for this lane */
        size_t queued, busy; /* posts waiting / running */
        const char *name;    /* the server's (mcp_server_lane_name) */
    } lanes[MCP_MAX_LANES];
    unsigned nlanes;
    bool qstop;
    pthread_t *threads;
    unsigned nthreads;

    http_metrics *metrics;
    http_names *names;
    http_guard *guard;
};

/* session.c */
http_sess *http_sess_create(mcp_http *h);               /* 1 ref, not in the table */
void http_sess_publish(http_sess *s);                   /* mints the id, adds to the table */
http_sess *http_sess_find(mcp_http *h, const char *id); /* +1 ref, NULL if unknown */
void http_sess_ref(http_sess *s);
void http_sess_unref(http_sess *s);
/* Removes from the table, cancels in-flight requests, ends the streams. */
void http_sess_end(http_sess *s);
/* Ends every session (shutdown). */
void http_sess_end_all(mcp_http *h);
extern const mcp_transport_ops http_transport_ops;
/* With s->lock held: the POST's SSE stream (created on first use, with a priming event if
 * `priming`), and switching the waiting access handler to SSE. */
http_stream *http_post_stream(http_sess *s, struct http_post *p, bool priming);
void http_post_start_streaming(struct http_post *p);

/* sse.c (all with s->lock held unless noted) */
http_stream *http_stream_new(http_sess *s, unsigned no); /* 1 ref (the session's list) */
void http_stream_unref(http_sess *s, http_stream *st);
http_stream *http_stream_find(http_sess *s, unsigned no);
/* Appends a message event (or the priming event when json is NULL) and wakes the reader. */
void http_stream_push(http_sess *s, http_stream *st, const char *json, size_t len);
void http_stream_finish(http_sess *s, http_stream *st); /* done + wake */
void http_stream_wake(http_stream *st);
/* Creates the SSE response reading st from seq `from` (takes refs). Lock NOT held. */
struct MHD_Response *http_sse_response(http_sess *s, http_stream *st, uint64_t from,
                                       struct MHD_Connection *conn);
/* Drops old POST streams beyond the keep limit. */
void http_streams_trim(http_sess *s);

/* workers.c */
void http_workers_start(mcp_http *h);
void http_workers_stop(mcp_http *h);                 /* finishes the queue, joins */
void http_workers_submit(mcp_http *h, http_post *p); /* into the queue of p->lane */
/* Appends the lanes' gauges (threads, busy, queued per lane) in the Prometheus text
 * format. */
void http_workers_render(mcp_http *h, sbuf_t *out);
void http_post_run(http_post *p); /* endpoint.c: runs on a worker */

/* endpoint.c */
MHD_RESULT_T http_mcp_endpoint(mcp_http *h, struct MHD_Connection *conn, const char *method,
                               const char *upload, size_t *upload_size, http_conn *hc);
void http_post_unref(http_post *p);

/* checks.c */
/* What makes a request head malformed (RFC 9112): HTTP/1.1 without Host, several Host
 * headers, several Content-Length headers, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked; a static message for a 400, or NULL. */
const char *http_head_problem(struct MHD_Connection *c, const char *version);
/* The request announces a body (Content-Length other than 0, or Transfer-Encoding). */
bool http_has_body(struct MHD_Connection *c);
bool http_host_allowed(const mcp_http *h, const char *host);
bool http_origin_allowed(const mcp_http *h, const char *origin);
bool http_accepts(const char *accept, const char *type);
bool http_is_json_content_type(const char *ct);

/* server.c helpers */
MHD_RESULT_T http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                        const char *body, size_t len, const char *sess_id);
/* A warning line for a request answered with status >= 400 (why: the reason sent),
 * rate-limited to a few a second. http_reply and http_reply_rpc_error call it. */
void http_log_refusal(struct MHD_Connection *c, unsigned status, const char *why);
MHD_RESULT_T http_reply_rpc_error(struct MHD_Connection *c, unsigned status, int code,
                                  const char *msg);
uint64_t http_now_ns(void);
void http_observe(mcp_http *h, const char *rpc_method, const char *tool, unsigned status,
                  bool rpc_error, uint64_t t0);

#endif
