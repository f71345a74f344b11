/* mcp/session.c — one client connection's protocol state and request dispatch: lifecycle
 * state (initialize is lifecycle.c), ping, cancellation, client responses,
 * batches (2025-03-26 sessions only), capability gating, in-flight request tracking, and
 * building the reply the transport sends.
 * Must not: do I/O other than through the transport's send callback, or implement the
 * tools/resources/prompts methods themselves (tools.c, resources.c, prompts.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_internal.h"

bool mcp_version_at_least(const char *v, const char *min)
{
    return v && strcmp(v, min) >= 0; /* dates compare as strings */
}

mcp_session *mcp_session_new(mcp_server *srv, const mcp_transport_ops *ops, void *transport_ud)
{
    mcp_session *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    s->ops = ops;
    s->transport_ud = transport_ud;
    s->state = SESS_NEW;
    s->level = srv->default_level;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cancel_cv, NULL);
    pthread_mutex_lock(&srv->lock);
    if (!srv->frozen) {
        srv->frozen = true;
        mcp_pages_build(srv);
    }
    pthread_mutex_unlock(&srv->lock);
    return s;
}

void mcp_session_free(mcp_session *s)
{
    if (!s)
        return;
    mcp_session_unsubscribe_all(s); /* and no update is being sent to it */
    json_decref(s->client_caps);
    json_decref(s->client_info);
    pthread_cond_destroy(&s->cancel_cv);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

mcp_server *mcp_session_server(const mcp_session *s)
{
    return s->srv;
}
void mcp_session_set_userdata(mcp_session *s, void *ud)
{
    s->userdata = ud;
}
void *mcp_session_userdata(const mcp_session *s)
{
    return s->userdata;
}

const char *mcp_session_protocol_version(const mcp_session *s)
{
    mcp_session *m = (mcp_session *)s;
    pthread_mutex_lock(&m->lock);
    const char *v = m->version;
    pthread_mutex_unlock(&m->lock);
    return v;
}

bool mcp_session_initialized(const mcp_session *s)
{
    mcp_session *m = (mcp_session *)s;
    pthread_mutex_lock(&m->lock);
    bool r = m->state != SESS_NEW;
    pthread_mutex_unlock(&m->lock);
    return r;
}

const json_t *mcp_session_client_capability(const mcp_session *s, const char *name)
{
    mcp_session *m = (mcp_session *)s;
    pthread_mutex_lock(&m->lock);
    const json_t *v = m->client_caps ? json_object_get(m->client_caps, name) : NULL;
    pthread_mutex_unlock(&m->lock);
    return v;
}

const json_t *mcp_session_client_info(const mcp_session *s)
{
    mcp_session *m = (mcp_session *)s;
    pthread_mutex_lock(&m->lock);
    const json_t *v = m->client_info;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* A response from the client to one of our requests: hand it to the waiting call. */
static void handle_response(mcp_session *s, mcp_message *m)
{
    pthread_mutex_lock(&s->lock);
    for (mcp_pending *p = s->pending; p; p = p->next)
        if (!p->response && m->id_raw && strcmp(p->id_raw, m->id_raw) == 0) {
            /* hand the value over, never share it: jansson refcounts are not meant for
             * values used by two threads */
            if (m->root == m->obj) {
                p->response = m->root;
                m->root = NULL;
            } else {
                p->response = json_deep_copy(m->obj);
            }
            break;
        }
    pthread_cond_broadcast(&s->cancel_cv);
    pthread_mutex_unlock(&s->lock);
}

int mcp_session_send_json(mcp_session *s, void *stream_ctx, json_t *msg)
{
    int rc = -1;
    if (msg && s->ops && s->ops->send) {
        sbuf_t b = SBUF_INIT;
        mcp_json_append(&b, msg);
        rc = s->ops->send(s->transport_ud, stream_ctx, b.p, b.len);
        sbuf_free(&b);
    }
    json_decref(msg);
    return rc;
}

int mcp_session_notify(mcp_session *s, const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    if (params)
        json_object_set_new(msg, "params", params);
    return mcp_session_send_json(s, NULL, msg);
}

void mcp_session_cancel_all(mcp_session *s)
{
    pthread_mutex_lock(&s->lock);
    for (mcp_call *c = s->inflight; c; c = c->next)
        atomic_store(&c->cancelled, true);
    pthread_cond_broadcast(&s->cancel_cv);
    pthread_mutex_unlock(&s->lock);
}

/* ---- notifications from the client ---- */
static void handle_notification(mcp_session *s, mcp_message *m)
{
    if (m->invalid || !m->method)
        return;
    if (strcmp(m->method, "notifications/initialized") == 0) {
        pthread_mutex_lock(&s->lock);
        if (s->state == SESS_INITIALIZED)
            s->state = SESS_READY;
        pthread_mutex_unlock(&s->lock);
    } else if (strcmp(m->method, "notifications/cancelled") == 0) {
        json_t *rid = json_is_object(m->params) ? json_object_get(m->params, "requestId") : NULL;
        if (!json_is_string(rid) && !json_is_integer(rid))
            return; /* malformed: ignored */
        char *raw = json_dumps(rid, JSON_COMPACT | JSON_ENCODE_ANY);
        pthread_mutex_lock(&s->lock);
        for (mcp_call *c = s->inflight; c; c = c->next)
            if (c->msg->id_raw && strcmp(c->msg->id_raw, raw) == 0 &&
                strcmp(c->msg->method, "initialize") != 0)
                atomic_store(&c->cancelled, true);
        pthread_cond_broadcast(&s->cancel_cv);
        pthread_mutex_unlock(&s->lock);
        free(raw);
    }
    /* every other notification (roots/list_changed, unknown ones) is ignored */
}

static json_t *do_ping(mcp_call *c, json_t *params)
{
    (void)c;
    (void)params;
    return json_object();
}

static json_t *do_subscribe(mcp_call *c, json_t *p)
{
    return mcp_resources_subscribe(c, p, true);
}
static json_t *do_unsubscribe(mcp_call *c, json_t *p)
{
    return mcp_resources_subscribe(c, p, false);
}

enum {
    CAP_NONE,
    CAP_TOOLS,
    CAP_RESOURCES,
    CAP_PROMPTS,
    CAP_COMPLETIONS
};

static const struct method {
    const char *name;
    json_t *(*fn)(mcp_call *c, json_t *params);
    int cap;
} methods[] = {
    {"ping", do_ping, CAP_NONE},
    {"logging/setLevel", mcp_logging_set_level, CAP_NONE},
    {"tools/list", mcp_tools_list, CAP_TOOLS},
    {"tools/call", mcp_tools_call, CAP_TOOLS},
    {"resources/list", mcp_resources_list, CAP_RESOURCES},
    {"resources/templates/list", mcp_templates_list, CAP_RESOURCES},
    {"resources/read", mcp_resources_read, CAP_RESOURCES},
    {"resources/subscribe", do_subscribe, CAP_RESOURCES},
    {"resources/unsubscribe", do_unsubscribe, CAP_RESOURCES},
    {"prompts/list", mcp_prompts_list, CAP_PROMPTS},
    {"prompts/get", mcp_prompts_get, CAP_PROMPTS},
    {"completion/complete", mcp_completion_complete, CAP_COMPLETIONS},
};

static bool has_cap(const mcp_server *srv, int cap)
{
    switch (cap) {
    case CAP_TOOLS: return srv->ntools > 0;
    case CAP_RESOURCES: return srv->nresources + srv->ntemplates > 0;
    case CAP_PROMPTS: return srv->nprompts > 0;
    case CAP_COMPLETIONS: return srv->nprompts + srv->ntemplates > 0;
    default: return true;
    }
}

/* METHOD_NOT_FOUND naming the method (in the message and as data.method), unless its name
 * is too long to echo back (a caller's mistake should be visible, not an amplifier). */
#define MCP_ECHO_METHOD_MAX 128
static void method_not_found(mcp_call *c, const char *method)
{
    if (strlen(method) > MCP_ECHO_METHOD_MAX) {
        mcp_call_set_error(c, MCP_METHOD_NOT_FOUND, "method not found (name too long to show)",
                           NULL);
        return;
    }
    char msg[MCP_ECHO_METHOD_MAX + 32];
    snprintf(msg, sizeof msg, "method not found: %s", method);
    mcp_call_set_error(c, MCP_METHOD_NOT_FOUND, msg, json_pack("{s:s}", "method", method));
}

/* Runs one request; appends its response to out unless it was cancelled. Returns true if
 * a response was appended. */
static bool handle_request(mcp_session *s, mcp_message *m, const mcp_request_ctx *rc, bool in_batch,
                           sbuf_t *out, bool *initialized)
{
    static const mcp_request_ctx no_rc = {NULL, NULL};
    mcp_call c;
    memset(&c, 0, sizeof c);
    c.session = s;
    c.rc = rc ? rc : &no_rc;
    c.msg = m;
    atomic_init(&c.cancelled, false);
    json_t *params = m->params;
    json_t *result = NULL;
    bool is_init = strcmp(m->method, "initialize") == 0;

    if (params && !json_is_object(params)) {
        mcp_call_set_error(&c, MCP_INVALID_PARAMS, "params must be an object", NULL);
        goto reply;
    }
    json_t *meta = params ? json_object_get(params, "_meta") : NULL;
    json_t *tok = json_is_object(meta) ? json_object_get(meta, "progressToken") : NULL;
    if (json_is_string(tok) || json_is_integer(tok))
        c.progress_token = tok;

    if (is_init) {
        if (in_batch)
            mcp_call_set_error(&c, MCP_INVALID_REQUEST, "initialize must not be batched", NULL);
        else if ((result = mcp_lifecycle_initialize(&c, params)) != NULL)
            *initialized = true;
        goto reply;
    }
    const struct method *meth = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, m->method) == 0)
            meth = &methods[i];
    if (!meth || !has_cap(s->srv, meth->cap)) {
        method_not_found(&c, m->method);
        goto reply;
    }
    if (meth->fn != do_ping && !mcp_session_initialized(s)) {
        mcp_call_set_error(&c, MCP_INVALID_REQUEST, "server not initialized", NULL);
        goto reply;
    }
    pthread_mutex_lock(&s->lock);
    c.next = s->inflight;
    s->inflight = &c;
    pthread_mutex_unlock(&s->lock);

    result = meth->fn(&c, params);

    pthread_mutex_lock(&s->lock);
    for (mcp_call **pp = &s->inflight; *pp; pp = &(*pp)->next)
        if (*pp == &c) {
            *pp = c.next;
            break;
        }
    pthread_mutex_unlock(&s->lock);

reply:;
    bool sent = false;
    if (atomic_load(&c.cancelled)) {
        json_decref(result); /* a cancelled request gets no response */
    } else if (c.raw_result) {
        sbuf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
        sbuf_puts(out, m->id_raw);
        sbuf_puts(out, ",\"result\":");
        sbuf_puts(out, c.raw_result);
        sbuf_putc(out, '}');
        sent = true;
    } else if (result) {
        mcp_rpc_result(out, m->id_raw, result);
        sent = true;
    } else {
        if (c.err_code)
            mcp_rpc_error(out, m->id_raw, c.err_code, c.err_msg, c.err_data);
        else
            mcp_rpc_error(out, m->id_raw, MCP_INTERNAL_ERROR, "internal error", NULL);
        c.err_data = NULL;
        sent = true;
    }
    mcp_structured_forget(); /* the note of this request's structured result, if any */
    json_decref(c.err_data);
    free(c.err_msg);
    return sent;
}

/* One non-batch message. Returns true if something was appended to out. */
static bool handle_one(mcp_session *s, mcp_message *m, const mcp_request_ctx *rc, bool in_batch,
                       sbuf_t *out, bool *initialized, bool *invalid)
{
    switch (m->kind) {
    case MSG_PARSE_ERROR:
        mcp_rpc_error(out, NULL, MCP_PARSE_ERROR, "parse error", NULL);
        *invalid = true;
        return true;
    case MSG_INVALID:
        mcp_rpc_error(out, m->id_raw, MCP_INVALID_REQUEST, m->invalid, NULL);
        *invalid = true;
        return true;
    case MSG_NOTIFICATION: handle_notification(s, m); return false;
    case MSG_RESPONSE:
        handle_response(s, m); /* answers to mcp_call_request(); unknown ids ignored */
        return false;
    case MSG_REQUEST: return handle_request(s, m, rc, in_batch, out, initialized);
    case MSG_BATCH: break;
    }
    return false;
}

mcp_reply_kind mcp_session_handle_message(mcp_session *s, mcp_message *m, const mcp_request_ctx *rc,
                                          mcp_reply *out)
{
    memset(out, 0, sizeof *out);
    sbuf_t b = SBUF_INIT;
    bool initialized = false, invalid = false, any = false;
    if (m->kind == MSG_BATCH) {
        const char *v = mcp_session_protocol_version(s);
        if (!v || strcmp(v, "2025-03-26") != 0) {
            mcp_rpc_error(&b, NULL, MCP_INVALID_REQUEST,
                          "batches are only accepted on 2025-03-26 sessions", NULL);
            invalid = any = true;
        } else if (m->nitems == 0) {
            mcp_rpc_error(&b, NULL, MCP_INVALID_REQUEST, "empty batch", NULL);
            invalid = any = true;
        } else {
            sbuf_t one = SBUF_INIT;
            sbuf_putc(&b, '[');
            for (size_t i = 0; i < m->nitems; i++) {
                bool inv = false;
                sbuf_reset(&one);
                if (m->items[i]->kind == MSG_PARSE_ERROR || m->items[i]->kind == MSG_BATCH) {
                    mcp_rpc_error(&one, NULL, MCP_INVALID_REQUEST, "invalid batch element", NULL);
                } else if (!handle_one(s, m->items[i], rc, true, &one, &initialized, &inv)) {
                    continue;
                }
                if (any)
                    sbuf_putc(&b, ',');
                sbuf_append(&b, one.p, one.len);
                any = true;
            }
            sbuf_free(&one);
            sbuf_putc(&b, ']');
        }
    } else {
        any = handle_one(s, m, rc, false, &b, &initialized, &invalid);
    }
    mcp_msg_free(m);
    if (!any) {
        sbuf_free(&b);
        return out->kind = MCP_REPLY_NONE;
    }
    out->len = b.len;
    out->json = sbuf_detach(&b);
    out->initialized = initialized;
    return out->kind = invalid ? MCP_REPLY_INVALID : MCP_REPLY_RESPONSE;
}

mcp_reply_kind mcp_session_handle(mcp_session *s, const char *body, size_t len,
                                  const mcp_request_ctx *rc, mcp_reply *out)
{
    return mcp_session_handle_message(s, mcp_message_parse(body, len), rc, out);
}
