/* mcp/mcp.h — the Model Context Protocol (legacy era: 2025-11-25, 2025-06-18, 2025-03-26,
 * 2024-11-05) as a library: a server holds a registry of tools, resources, resource
 * templates and prompts; a transport creates one session per client connection and feeds
 * it JSON-RPC bodies; handlers receive an mcp_call context (request id, progress token,
 * cancellation, notifications tied to the request, the transport's opaque auth pointer).
 *
 * Must not: know what a ctxd session, a message or a database is (the product registers
 * its tools into this); do I/O itself (transports own the wire); interpret `auth`.
 *
 * Threading: register everything, then create sessions (the first mcp_session_new freezes
 * the registry, which is read-only afterwards). Any number of threads may call
 * mcp_session_handle*() on the same or different sessions at once; handlers run on the
 * caller's thread. The transport's send callback may be called from any thread, also
 * concurrently, and must serialise its own writes.
 *
 * How the pieces fit:
 *   product:   srv = mcp_server_new(&info); mcp_server_add_tool/resource/template/prompt(...)
 *   transport: per connection s = mcp_session_new(srv, &ops, conn); per received body
 *              mcp_session_handle(s, body, len, &(mcp_request_ctx){stream, auth}, &reply),
 *              send reply.json (if any) on that request's stream, mcp_reply_free(&reply);
 *              ops.send delivers the notifications/requests the server emits meanwhile
 *              (stream_ctx = the request's stream, or NULL for session-level ones);
 *              mcp_session_free(s) once no request of it is running.
 *   stdio:     mcp_stdio_run(srv, NULL) (mcp_stdio.h) does all of the above.
 *   handlers:  get an mcp_call: progress, logs, cancellation, client requests, auth.
 *
 * JSON ownership: "steals" means the function takes the caller's reference (also on
 * failure); results returned by handlers are new references that the library consumes. */
#ifndef CTXD_MCP_H
#define CTXD_MCP_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct mcp_server mcp_server;
typedef struct mcp_session mcp_session;
typedef struct mcp_call mcp_call;
typedef struct mcp_message mcp_message;

/* ---- JSON-RPC / MCP error codes ---------------------------------------------------- */
enum {
    MCP_PARSE_ERROR = -32700,
    MCP_INVALID_REQUEST = -32600,
    MCP_METHOD_NOT_FOUND = -32601,
    MCP_INVALID_PARAMS = -32602,
    MCP_INTERNAL_ERROR = -32603,
    MCP_RESOURCE_NOT_FOUND = -32002,
    MCP_LIMIT_REACHED = -32003 /* a configured limit (e.g. subscriptions) was reached */
};

/* Protocol versions this library speaks, newest first (NULL-terminated). */
extern const char *const mcp_protocol_versions[];
#define MCP_LATEST_VERSION "2025-11-25"
/* True if v is one of mcp_protocol_versions (e.g. to check an MCP-Protocol-Version header). */
bool mcp_protocol_version_supported(const char *v);

/* RFC 5424 levels used by logging/setLevel and notifications/message. */
typedef enum mcp_log_level {
    MCP_LOG_DEBUG = 0,
    MCP_LOG_INFO,
    MCP_LOG_NOTICE,
    MCP_LOG_WARNING,
    MCP_LOG_ERROR,
    MCP_LOG_CRITICAL,
    MCP_LOG_ALERT,
    MCP_LOG_EMERGENCY
} mcp_log_level;
const char *mcp_log_level_name(mcp_log_level lvl);
bool mcp_log_level_parse(const char *s, mcp_log_level *out);

/* ---- server and registry ----------------------------------------------------------- */
typedef struct mcp_server_info {
    const char *name;         /* required */
    const char *version;      /* required */
    const char *title;        /* optional */
    const char *description;  /* optional (sent to >= 2025-11-25 clients only) */
    const char *instructions; /* optional: InitializeResult.instructions */
} mcp_server_info;

mcp_server *mcp_server_new(const mcp_server_info *info);
/* All sessions must have been freed first. */
void mcp_server_free(mcp_server *srv);
/* Page size of tools/resources/templates/prompts lists (default 100, min 1); before the
 * first session (the pages are serialised when the registry freezes). */
void mcp_server_set_page_size(mcp_server *srv, size_t n);
/* Minimum level of notifications/message before a client calls logging/setLevel
 * (default MCP_LOG_INFO). */
void mcp_server_set_default_log_level(mcp_server *srv, mcp_log_level lvl);

/* Completion callback for one argument (of a prompt or a resource template).
 * `context_args` is the request's context.arguments object or NULL. Returns a JSON
 * array of strings (new reference; the library keeps at most 100 and sets total/hasMore)
 * or NULL for "no suggestions". */
typedef json_t *(*mcp_complete_fn)(mcp_call *call, const char *arg_name, const char *value,
                                   json_t *context_args, void *ud);

/* Tools. The handler gets the validated `arguments` object (borrowed; never NULL) and
 * returns a CallToolResult (new reference), usually built with mcp_result_*(). Returning
 * NULL means a JSON-RPC error: the one set with mcp_call_set_error(), else -32603.
 * Tool failures the model should see are results with isError (mcp_result_error()). */
typedef json_t *(*mcp_tool_fn)(mcp_call *call, json_t *arguments, void *ud);

typedef struct mcp_tool_def {
    const char *name;          /* 1-64 chars of [A-Za-z0-9_./-] */
    const char *title;         /* optional */
    const char *description;   /* required (clients and conformance rely on it) */
    const char *input_schema;  /* JSON text, an object schema with "type":"object";
                                   NULL = {"type":"object","additionalProperties":false} */
    const char *output_schema; /* optional JSON text ("type":"object"); if set the
                                   handler's results must carry structuredContent */
    const char *annotations;   /* optional JSON text: readOnlyHint, destructiveHint... */
    mcp_tool_fn fn;
    void *ud;
} mcp_tool_def;
/* Arguments are validated against input_schema before the handler runs (type, required,
 * properties, additionalProperties:false, enum, const, min/max(Length|Items), minimum/maximum,
 * items, anyOf/oneOf of types); a failure is an isError result naming the argument (built by
 * the mcp_invalid_args_fn if one is set, see below). */
err_code mcp_server_add_tool(mcp_server *srv, const mcp_tool_def *def, err_t *e);

/* Lanes: which worker threads a transport runs a call on. A transport that runs requests
 * on worker threads (HTTP) keeps one pool of threads per lane, so the calls of one lane
 * never wait for threads busy with another: writes waiting for a database lock held
 * elsewhere, or long searches, cannot take the threads quick reads need. Lane 0 is the
 * default: every request that is not a tools/call of a tool put in another lane (a batch
 * goes to the lane of its first element outside lane 0). mcp_server_add_lane declares
 * lane 1, 2, ... (at most MCP_MAX_LANES in all, lane 0 included) with the number of
 * threads it should get (>= 1) and a name (as a tool's name, for metrics);
 * *lane receives its number; mcp_server_set_tool_lane puts a registered tool in it.
 * Before the first session, like registration. Transports with one worker pool (stdio)
 * run every lane on it. */
#define MCP_MAX_LANES 4u
err_code mcp_server_add_lane(mcp_server *srv, const char *name, unsigned workers, unsigned *lane,
                             err_t *e);
/* ERR_NOTFOUND when no tool is called `tool` or no lane has that number. */
err_code mcp_server_set_tool_lane(mcp_server *srv, const char *tool, unsigned lane, err_t *e);
/* Lanes declared, lane 0 included (>= 1). */
unsigned mcp_server_lane_count(const mcp_server *srv);
/* The name ("default" for lane 0) and threads (0 for lane 0: the transport's own figure)
 * of lane i < mcp_server_lane_count. */
const char *mcp_server_lane_name(const mcp_server *srv, unsigned i);
unsigned mcp_server_lane_workers(const mcp_server *srv, unsigned i);

/* What failed when a tool's arguments did not validate against its input schema (all
 * strings borrowed, valid during the callback; none echoes a string argument's value). */
typedef struct mcp_invalid_args {
    const char *tool;     /* the tool's name */
    const char *argument; /* the top-level argument concerned ("limit"; for a nested value
                              its top-level argument), or NULL if the arguments object as a
                              whole failed */
    const char *path;     /* JSON path of the failing value: "$.limit", "$.tags[2]" */
    const char *problem;  /* what was expected: "must be of type integer, got string",
                              "must be <= 1000, got 5000", "is required",
                              "is not an accepted argument (accepted: a, b)" */
    const char *message;  /* the default text, e.g.
                              "Invalid arguments for tool t: $.limit must be <= 1000, got 5000" */
} mcp_invalid_args;
/* Builds the CallToolResult (new reference) of a tools/call whose arguments failed
 * validation, e.g. in the product's own error format. Returning NULL or something that is
 * not an object with a content array gives the default result; isError:true is set on the
 * result in any case. */
typedef json_t *(*mcp_invalid_args_fn)(mcp_call *call, const mcp_invalid_args *err, void *ud);
/* Installs (fn != NULL) or removes the builder; before the first session, like
 * registration. */
void mcp_server_set_invalid_args_fn(mcp_server *srv, mcp_invalid_args_fn fn, void *ud);

/* Resources. The read handler returns a ReadResourceResult {contents:[...]} (new
 * reference; mcp_resource_text()/mcp_resource_blob() build one) or NULL: the error set
 * with mcp_call_set_error(), else -32603. `vars` is the object of template variables
 * (percent-decoded strings) for a template, NULL for a direct resource. */
typedef json_t *(*mcp_read_fn)(mcp_call *call, const char *uri, json_t *vars, void *ud);

typedef struct mcp_resource_def {
    const char *uri, *name, *title, *description, *mime_type; /* uri, name required */
    mcp_read_fn fn;
    void *ud;
} mcp_resource_def;
err_code mcp_server_add_resource(mcp_server *srv, const mcp_resource_def *def, err_t *e);

typedef struct mcp_template_def {
    const char *uri_template; /* RFC 6570 level 1: literals and {var}; required */
    const char *name, *title, *description, *mime_type;
    mcp_read_fn fn;
    mcp_complete_fn complete; /* optional: completion of the template's variables */
    void *ud;
} mcp_template_def;
/* A read of a URI that no direct resource has is matched against the templates in
 * registration order; a variable matches one or more characters other than / ? #. */
err_code mcp_server_add_template(mcp_server *srv, const mcp_template_def *def, err_t *e);

/* Prompts. Arguments are strings; a missing required argument is -32602 before the
 * handler runs. The handler returns a GetPromptResult {description?, messages:[...]}. */
typedef json_t *(*mcp_prompt_fn)(mcp_call *call, json_t *arguments, void *ud);

typedef struct mcp_prompt_arg {
    const char *name, *title, *description;
    bool required;
    mcp_complete_fn complete; /* optional */
} mcp_prompt_arg;

typedef struct mcp_prompt_def {
    const char *name, *title, *description;
    const mcp_prompt_arg *args; /* copied */
    size_t nargs;
    mcp_prompt_fn fn;
    void *ud; /* passed to fn and to the arguments' completers */
} mcp_prompt_def;
err_code mcp_server_add_prompt(mcp_server *srv, const mcp_prompt_def *def, err_t *e);

/* Who may subscribe: a check for the registered resource (its exact URI) or template (its
 * exact uri_template text) `what`, called by resources/subscribe (subscribe true) and
 * resources/unsubscribe (false) of a URI it serves, with vars as for a read. It returns
 * true to allow, setting *subscriber to an opaque pointer the update filter gets back
 * (mcp_resource_updated_where), or false after mcp_call_set_error (else -32603) to refuse.
 * Without a check anyone may subscribe. Before the first session; ERR_NOTFOUND when
 * nothing is registered as `what`. */
typedef bool (*mcp_subscribe_fn)(mcp_call *call, const char *uri, json_t *vars, bool subscribe,
                                 void **subscriber, void *ud);
err_code mcp_server_set_subscribe_check(mcp_server *srv, const char *what, mcp_subscribe_fn fn,
                                        void *ud, err_t *e);

/* Subscriptions (resources/subscribe, resources/unsubscribe) live in one index per server,
 * keyed by URI: an update finds its subscribers there, never by walking the sessions, and
 * sends (and calls the product's filter) without holding the index lock. A subscription
 * is one (session, URI); subscribing again to the same URI is free. Limits (before the
 * first session, like registration; 0 = unlimited, the default): at most per_session
 * subscriptions per session and `total` in the server, else the subscribe is a JSON-RPC
 * error MCP_LIMIT_REACHED with data {limit, scope: "session"|"server"}; with known_only,
 * subscribing to a URI no resource or template serves is -32002 with data.uri (as a read
 * of it would be) instead of a subscription nothing will ever update. */
typedef struct mcp_subscription_limits {
    size_t per_session, total;
    bool known_only;
} mcp_subscription_limits;
void mcp_server_set_subscription_limits(mcp_server *srv, const mcp_subscription_limits *l);
/* Figures of the index: subscriptions, distinct URIs, and how many subscriptions updates
 * have looked at so far (what the index costs a write; for tests and benchmarks). */
typedef struct mcp_subscription_stats {
    size_t subscriptions, uris;
    uint64_t examined;
} mcp_subscription_stats;
void mcp_server_subscription_stats(mcp_server *srv, mcp_subscription_stats *out);

/* Sends notifications/resources/updated {uri} to every live session subscribed to `uri`
 * (on the session-level stream, stream_ctx NULL). Callable from any thread. Returns the
 * number of sessions notified. A transport's send must not block for long (queue it). */
int mcp_resource_updated(mcp_server *srv, const char *uri);
/* The same for every subscribed URI that belongs to the registered template `uri_template`
 * (the exact registered text) with some of its variables bound: `bound` is an object of
 * variable name -> string (borrowed; NULL or {} = any values). A URI belongs to the template
 * when resources/read would resolve it through that template (no direct resource has the
 * URI and no earlier-registered template matches it) and each bound variable's
 * percent-decoded value equals the given string; unbound variables match anything. E.g.
 * ("s://{sid}/items/{n}", {"sid":"X"}) reaches subscribers of s://X/items/10 and
 * s://X/items/37, not s://Y/items/10. Each session gets one notification per matching URI it
 * subscribed to. Same threading and send rules as mcp_resource_updated. Returns the number
 * of notifications sent, or -1 if the template is not registered or `bound` is not an object
 * of strings naming variables of the template. */
int mcp_resource_updated_template(mcp_server *srv, const char *uri_template, const json_t *bound);
/* mcp_resource_updated_template, sending only where filter(ud, session, subscriber, uri)
 * returns true (subscriber: what the subscribe check set, NULL without one); filter NULL =
 * everywhere. The filter runs on the caller's thread, without any lock of the library
 * held. Cost: the subscriptions of the URIs whose first bound variable has the bound
 * value (with no variable bound: every subscribed URI). */
typedef bool (*mcp_update_filter_fn)(void *ud, mcp_session *s, void *subscriber, const char *uri);
int mcp_resource_updated_where(mcp_server *srv, const char *uri_template, const json_t *bound,
                               mcp_update_filter_fn filter, void *ud);

/* ---- sessions: the transport side -------------------------------------------------- */
typedef struct mcp_transport_ops {
    /* Delivers one serialised message (compact JSON, no newline, not NUL-terminated
     * guaranteed: use len) that the server sends on its own: notifications (progress and
     * logs of a request carry that request's stream_ctx; session-level ones NULL). Not
     * used for responses: mcp_session_handle*() returns those. Returns 0, or -1 when the
     * peer is gone. */
    int (*send)(void *transport_ud, void *stream_ctx, const char *json, size_t len);
} mcp_transport_ops;

/* `ops` must outlive the session. Freezes the server's registry. */
mcp_session *mcp_session_new(mcp_server *srv, const mcp_transport_ops *ops, void *transport_ud);
/* No handler may still be running on the session. */
void mcp_session_free(mcp_session *s);
/* Drops every subscription of the session and returns once no update being sent uses
 * it, so what its subscribe checks handed out as subscribers may be freed afterwards
 * (mcp_session_free does it too). */
void mcp_session_unsubscribe_all(mcp_session *s);
size_t mcp_session_subscription_count(mcp_session *s);
mcp_server *mcp_session_server(const mcp_session *s);
/* An opaque pointer for the product (e.g. its per-connection state). */
void mcp_session_set_userdata(mcp_session *s, void *ud);
void *mcp_session_userdata(const mcp_session *s);
/* The negotiated version, NULL before initialize. */
const char *mcp_session_protocol_version(const mcp_session *s);
bool mcp_session_initialized(const mcp_session *s); /* initialize was answered */
/* The client's declared capability `name` ("sampling", "elicitation", "roots"), borrowed
 * and valid for the session's life, or NULL if not declared. */
const json_t *mcp_session_client_capability(const mcp_session *s, const char *name);
/* clientInfo from initialize (borrowed) or NULL. */
const json_t *mcp_session_client_info(const mcp_session *s);
/* A session-level notification / log (not tied to a request). Steals params/data. */
int mcp_session_notify(mcp_session *s, const char *method, json_t *params);
int mcp_session_log(mcp_session *s, mcp_log_level lvl, const char *logger, json_t *data);

/* Per-request context supplied by the transport. */
typedef struct mcp_request_ctx {
    void *stream_ctx; /* handed back to ops->send for this request's notifications */
    void *auth;       /* opaque identity for the handlers (mcp_call_auth()) */
} mcp_request_ctx;

typedef enum mcp_reply_kind {
    MCP_REPLY_NONE = 0, /* nothing to send: notification(s), a client response, or a
                             cancelled request (HTTP: 202 for a body without requests) */
    MCP_REPLY_RESPONSE, /* json holds a response (or a batch array of responses) */
    MCP_REPLY_INVALID   /* json holds a -32700/-32600 error for a malformed body
                             (HTTP: 400) */
} mcp_reply_kind;

typedef struct mcp_reply {
    mcp_reply_kind kind;
    char *json; /* malloc'd compact JSON (no newline) or NULL; free() it */
    size_t len;
    bool initialized; /* this body was a successful initialize (HTTP: mint the
                             Mcp-Session-Id now) */
} mcp_reply;

/* Parse + handle in one step. Blocks while the handler runs. Returns out->kind. */
mcp_reply_kind mcp_session_handle(mcp_session *s, const char *body, size_t len,
                                  const mcp_request_ctx *rc, mcp_reply *out);

/* Two-step form for transports that route before handling (the stdio reader handles
 * notifications inline so notifications/cancelled is seen while tools run). Parsing never
 * fails: a malformed body becomes a message whose handling yields the error reply. */
mcp_message *mcp_message_parse(const char *body, size_t len);
void mcp_message_free(mcp_message *m);
bool mcp_message_is_request(const mcp_message *m); /* has id + method (not a batch) */
bool mcp_message_is_batch(const mcp_message *m);
const char *mcp_message_method(const mcp_message *m); /* NULL if none */
/* Handles and frees `m`. */
mcp_reply_kind mcp_session_handle_message(mcp_session *s, mcp_message *m, const mcp_request_ctx *rc,
                                          mcp_reply *out);
void mcp_reply_free(mcp_reply *r);

/* Marks every in-flight request of the session cancelled (transport shutdown). */
void mcp_session_cancel_all(mcp_session *s);

/* ---- the call context handed to handlers ------------------------------------------- */
mcp_session *mcp_call_session(const mcp_call *c);
void *mcp_call_auth(const mcp_call *c);
void *mcp_call_stream(const mcp_call *c);
const json_t *mcp_call_id(const mcp_call *c);             /* the request id (borrowed) */
const json_t *mcp_call_progress_token(const mcp_call *c); /* NULL if none */
const char *mcp_call_method(const mcp_call *c);
const char *mcp_call_protocol_version(const mcp_call *c);
bool mcp_call_cancelled(const mcp_call *c);
/* Waits up to timeout_ms for a cancellation; true if cancelled. For blocking handlers. */
bool mcp_call_wait_cancelled(mcp_call *c, long timeout_ms);
/* notifications/progress for this request. No-op (returns 0) without a progress token.
 * `progress` must increase with every call: a value not greater than the last one is not
 * sent and returns -1. total < 0 = unknown; message may be NULL. */
int mcp_call_progress(mcp_call *c, double progress, double total, const char *message);
/* notifications/message on this request's stream if lvl >= the session's level.
 * Steals data. Returns 0 (also when filtered) or -1 if the peer is gone. */
int mcp_call_log(mcp_call *c, mcp_log_level lvl, const char *logger, json_t *data);
int mcp_call_logf(mcp_call *c, mcp_log_level lvl, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Any notification tied to this request. Steals params (may be NULL). */
int mcp_call_notify(mcp_call *c, const char *method, json_t *params);
/* Sends a request to the client (legacy era: sampling/createMessage, elicitation/create,
 * roots/list, ping) on this call's stream and waits for the answer, at most timeout_ms.
 * Returns the result object (new reference), or NULL: then *error (if not NULL) gets the
 * client's error object (new reference), or NULL for a timeout, a cancellation or a gone
 * peer. Steals params. Check mcp_session_client_capability() first: sending sampling or
 * elicitation to a client that did not declare it is a protocol violation. */
json_t *mcp_call_request(mcp_call *c, const char *method, json_t *params, long timeout_ms,
                         json_t **error);
/* Makes the handler's NULL return a JSON-RPC error. Steals data (may be NULL). */
void mcp_call_set_error(mcp_call *c, int code, const char *message, json_t *data);

/* ---- building results -------------------------------------------------------------- */
/* Content blocks (new references). */
json_t *mcp_text(const char *text);
json_t *mcp_image(const void *data, size_t len, const char *mime_type); /* base64s data */
json_t *mcp_audio(const void *data, size_t len, const char *mime_type);
json_t *mcp_embedded_text(const char *uri, const char *mime_type, const char *text);
json_t *mcp_embedded_blob(const char *uri, const char *mime_type, const void *data, size_t len);
json_t *mcp_resource_link(const char *uri, const char *name, const char *mime_type);
char *mcp_base64(const void *data, size_t len); /* malloc'd */

/* CallToolResult {content:[]} to add blocks to with mcp_result_add (steals block). */
json_t *mcp_result_new(void);
json_t *mcp_result_add(json_t *result, json_t *block);
json_t *mcp_result_text(const char *text);
/* {content:[text], isError:true} */
json_t *mcp_result_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {content:[text = the compact JSON of value], structuredContent:value}; steals value. */
json_t *mcp_result_structured(json_t *value);

/* ReadResourceResult with one entry (new reference). */
json_t *mcp_resource_text(const char *uri, const char *mime_type, const char *text);
json_t *mcp_resource_blob(const char *uri, const char *mime_type, const void *data, size_t len);

/* GetPromptResult helpers: mcp_prompt_result(description) then mcp_prompt_add(res, role,
 * content block) (steals block). */
json_t *mcp_prompt_result(const char *description);
json_t *mcp_prompt_add(json_t *result, const char *role, json_t *block);

#endif
