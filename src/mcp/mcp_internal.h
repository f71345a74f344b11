/* mcp/mcp_internal.h — structures shared by the files of mcp/ (registry, session, call,
 * parsed message) and the internal helpers between them.
 * Must not: be included outside src/mcp/ (the public API is mcp.h). */
#ifndef CTXD_MCP_INTERNAL_H
#define CTXD_MCP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/hash.h"
#include "base/sbuf.h"
#include "mcp/mcp.h"

/* ---- registry ---- */
typedef struct mcp_tool {
    char *name;
    json_t *schema; /* parsed input schema */
    bool has_output_schema;
    mcp_tool_fn fn;
    void *ud;
    unsigned lane; /* mcp_server_set_tool_lane; 0 = the default */
} mcp_tool;

typedef struct mcp_resource {
    char *uri;
    mcp_read_fn fn;
    void *ud;
    mcp_subscribe_fn subscribe; /* mcp_server_set_subscribe_check, or NULL */
    void *subscribe_ud;
} mcp_resource;

typedef struct mcp_template {
    char *uri_template;
    mcp_read_fn fn;
    mcp_complete_fn complete;
    void *ud;
    mcp_subscribe_fn subscribe; /* mcp_server_set_subscribe_check, or NULL */
    void *subscribe_ud;
} mcp_template;

/* ---- the subscription index (subscriptions.c) ---- */
typedef struct mcp_sub mcp_sub; /* one (session, URI) */
typedef struct mcp_subs {
    pthread_mutex_t lock; /* guards the index, every session's subs/nsubs/notify_refs */
    pthread_cond_t idle;  /* broadcast when a session's notify_refs drops to 0 */
    hash_t *uris;         /* URI -> its entry (subscribers) */
    hash_t *groups;       /* (template, variable, value) -> the template URIs with it */
    size_t count;         /* subscriptions */
    mcp_subscription_limits lim;
    uint64_t examined; /* subscriptions looked at by updates */
} mcp_subs;
void mcp_subs_init(mcp_subs *x);
void mcp_subs_fini(mcp_subs *x);

typedef struct mcp_prompt {
    char *name;
    mcp_prompt_arg *args; /* strings are pointers into `strings` below */
    size_t nargs;
    json_t *strings; /* keeps copies of the arg strings alive */
    mcp_prompt_fn fn;
    void *ud;
} mcp_prompt;

struct mcp_server {
    json_t *info; /* serverInfo object */
    char *instructions;
    size_t page_size;
    mcp_log_level default_level;
    bool frozen;
    mcp_invalid_args_fn invalid_args_fn; /* NULL = the default isError text */
    void *invalid_args_ud;
    struct mcp_lane {  /* lanes[0] is the default lane */
        char name[65]; /* as a tool's name */
        unsigned workers;
    } lanes[MCP_MAX_LANES];
    unsigned nlanes;

    mcp_tool *tools;
    size_t ntools;
    json_t *tool_list;  /* array of Tool objects, registration order */
    json_t *tool_index; /* name -> integer index */
    mcp_resource *resources;
    size_t nresources;
    json_t *resource_list;
    json_t *resource_index; /* uri -> index */
    mcp_template *templates;
    size_t ntemplates;
    json_t *template_list;
    mcp_prompt *prompts;
    size_t nprompts;
    json_t *prompt_list;
    json_t *prompt_index;

    /* Pages of the four lists, serialised once when the registry freezes, so concurrent
     * list requests share no JSON values (jansson refcounts are not safe to share). */
    struct mcp_pages {
        char **text;
        size_t n;
    } pages[4];

    pthread_mutex_t lock; /* guards freezing the registry */
    mcp_subs subs;        /* who is subscribed to what (subscriptions.c) */
};

/* ---- a parsed JSON-RPC message ---- */
typedef enum msg_kind {
    MSG_PARSE_ERROR, /* not JSON */
    MSG_INVALID,     /* JSON but not a valid message; id_raw may be set */
    MSG_REQUEST,
    MSG_NOTIFICATION,
    MSG_RESPONSE, /* a client's response to a server request: ignored */
    MSG_BATCH
} msg_kind;

struct mcp_message {
    msg_kind kind;
    json_t *root;        /* owned (NULL for batch elements) */
    json_t *obj;         /* this message's object, borrowed */
    char *id_raw;        /* the id as JSON text, verbatim (requests, some invalid) */
    json_t *id;          /* borrowed from root (for big integers: a string) */
    const char *method;  /* borrowed */
    json_t *params;      /* borrowed, NULL if absent */
    const char *invalid; /* reason for MSG_INVALID */
    char *invalid_owned; /* owned text `invalid` may point to */
    mcp_message **items; /* MSG_BATCH elements */
    size_t nitems;
};

/* ---- call and session ---- */
typedef struct mcp_pending { /* a request of ours waiting for the client's answer */
    char id_raw[24];
    json_t *response; /* the whole response message once it arrived */
    struct mcp_pending *next;
} mcp_pending;

struct mcp_call {
    mcp_session *session;
    const mcp_request_ctx *rc;
    const mcp_message *msg;
    json_t *progress_token; /* borrowed */
    double last_progress;
    bool any_progress;
    atomic_bool cancelled;
    const char *raw_result; /* a preserialised result (borrowed), instead of JSON */
    int err_code;           /* 0 = not set */
    char *err_msg;
    json_t *err_data;
    mcp_call *next; /* session's in-flight list */
};

typedef enum sess_state {
    SESS_NEW,
    SESS_INITIALIZED,
    SESS_READY
} sess_state;

struct mcp_session {
    mcp_server *srv;
    const mcp_transport_ops *ops;
    void *transport_ud;
    void *userdata;

    pthread_mutex_t lock;     /* guards everything below */
    pthread_cond_t cancel_cv; /* broadcast on every cancellation */
    sess_state state;
    const char *version; /* one of mcp_protocol_versions */
    mcp_log_level level;
    mcp_call *inflight;
    json_t *client_caps; /* initialize params.capabilities (or NULL) */
    json_t *client_info; /* initialize params.clientInfo (or NULL) */
    long next_out_id;    /* ids of our own requests to the client */
    struct mcp_pending *pending;

    /* guarded by srv->subs.lock (subscriptions.c) */
    struct dlink *subs;   /* this session's subscriptions (their in_session links) */
    size_t nsubs;         /* how many */
    unsigned notify_refs; /* updates being sent to it right now */
};

/* jsonrpc.c */
void mcp_msg_free(mcp_message *m);
/* Appends {"jsonrpc":"2.0","id":<id_raw or null>,"result":<result>} (steals result). */
void mcp_rpc_result(sbuf_t *b, const char *id_raw, json_t *result);
void mcp_rpc_error(sbuf_t *b, const char *id_raw, int code, const char *message, json_t *data);
/* Serialises one JSON value compactly into b (appending). */
void mcp_json_append(sbuf_t *b, const json_t *v);
/* Whether a string in v (not inside `skip`) holds a NUL character: then path (a buffer of
 * cap bytes holding a prefix such as "" or "$") is extended with where: "params.uri",
 * "$.tags[2]", cut at a character when it does not fit. */
bool mcp_json_find_nul(const json_t *v, const json_t *skip, char *path, size_t cap);

/* structured.c: a structured result serialised once (see mcp_result_structured). */
void mcp_structured_note(json_t *value, json_t *text);
void mcp_structured_forget(void);
/* Appends result with its structuredContent taken from the noted text; false (nothing
 * appended) when result is not the noted one. */
bool mcp_structured_append(sbuf_t *b, json_t *result);

/* session.c */
int mcp_session_send_json(mcp_session *s, void *stream_ctx, json_t *msg); /* steals */
bool mcp_version_at_least(const char *v, const char *min);

/* lifecycle.c / logging.c */
json_t *mcp_lifecycle_initialize(mcp_call *c, json_t *params);
json_t *mcp_logging_set_level(mcp_call *c, json_t *params);
/* Builds the notifications/message, or NULL when filtered out. Steals data. */
json_t *mcp_log_message(mcp_session *s, mcp_log_level lvl, const char *logger, json_t *data);

/* dispatch helpers: each returns the result (new ref) or NULL with the error on `c`. */
json_t *mcp_tools_list(mcp_call *c, json_t *params);
json_t *mcp_tools_call(mcp_call *c, json_t *params);
json_t *mcp_resources_list(mcp_call *c, json_t *params);
json_t *mcp_templates_list(mcp_call *c, json_t *params);
json_t *mcp_resources_read(mcp_call *c, json_t *params);
json_t *mcp_resources_subscribe(mcp_call *c, json_t *params, bool on);
/* subscriptions.c: records (session, uri) with its template (ti, SIZE_MAX: none) and
 * variables (vars, stolen; NULL for none) and the check's subscriber: true, or false
 * with the JSON-RPC error set on c (a limit). mcp_subs_remove forgets it. */
bool mcp_subs_add(mcp_call *c, const char *uri, size_t ti, json_t *vars, void *subscriber);
void mcp_subs_remove(mcp_session *s, const char *uri);
json_t *mcp_prompts_list(mcp_call *c, json_t *params);
json_t *mcp_prompts_get(mcp_call *c, json_t *params);
json_t *mcp_completion_complete(mcp_call *c, json_t *params);

/* paginate.c: which list */
enum {
    MCP_LIST_TOOLS,
    MCP_LIST_RESOURCES,
    MCP_LIST_TEMPLATES,
    MCP_LIST_PROMPTS
};
/* Builds the serialised pages of every list (at freeze). */
void mcp_pages_build(mcp_server *srv);
void mcp_pages_free(mcp_server *srv);
/* Selects the page named by params.cursor: sets c->raw_result and returns NULL, or sets
 * -32602 for an invalid cursor. */
json_t *mcp_paginate(mcp_call *c, json_t *params, int list);

/* template.c: matches uri against a level-1 template; on success *vars = new object. */
bool mcp_template_match(const char *tmpl, const char *uri, json_t **vars);
bool mcp_template_valid(const char *tmpl);
/* True if the template has a variable called `name`. */
bool mcp_template_has_var(const char *tmpl, const char *name);

/* schema.c: validates v against schema; false with *err (may be NULL) describing the first
 * failure: path "$.limit", argument = the top-level property it belongs to ("" when the
 * value itself failed), problem "must be <= 1000, got 5000". */
typedef struct mcp_schema_err {
    char path[256];
    char argument[128];
    char problem[320];
} mcp_schema_err;
bool mcp_schema_validate(const json_t *schema, const json_t *v, mcp_schema_err *err);
bool mcp_schema_check(const json_t *schema, char *msg, size_t msglen);

#endif
