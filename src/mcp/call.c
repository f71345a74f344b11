/* mcp/call.c — the context a handler gets for one request: identity of the request
 * (id, method, progress token, auth, stream), cancellation (flag + wait), and the
 * notifications tied to the request (progress, log, custom), plus error reporting.
 * Must not: send responses (session.c does, once the handler returns). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/utc.h"
#include "mcp/mcp_internal.h"

mcp_session *mcp_call_session(const mcp_call *c)
{
    return c->session;
}
void *mcp_call_auth(const mcp_call *c)
{
    return c->rc->auth;
}
void *mcp_call_stream(const mcp_call *c)
{
    return c->rc->stream_ctx;
}
const json_t *mcp_call_id(const mcp_call *c)
{
    return c->msg->id;
}
const json_t *mcp_call_progress_token(const mcp_call *c)
{
    return c->progress_token;
}
const char *mcp_call_method(const mcp_call *c)
{
    return c->msg->method;
}
const char *mcp_call_protocol_version(const mcp_call *c)
{
    return mcp_session_protocol_version(c->session);
}
bool mcp_call_cancelled(const mcp_call *c)
{
    return atomic_load(&c->cancelled);
}

bool mcp_call_wait_cancelled(mcp_call *c, long timeout_ms)
{
    mcp_session *s = c->session;
    struct timespec dl; /* cancel_cv has the default clock */
    utc_real_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&c->cancelled))
        if (pthread_cond_timedwait(&s->cancel_cv, &s->lock, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
    return atomic_load(&c->cancelled);
}

int mcp_call_notify(mcp_call *c, const char *method, json_t *params)
{
    if (atomic_load(&c->cancelled)) {
        json_decref(params);
        return 0; /* nothing more for a cancelled request */
    }
    json_t *msg = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method);
    if (params)
        json_object_set_new(msg, "params", params);
    return mcp_session_send_json(c->session, c->rc->stream_ctx, msg);
}

/* integral values as JSON integers (100, not 100.0) */
static json_t *num(double v)
{
    if (v >= -9e15 && v <= 9e15 && v == (double)(json_int_t)v)
        return json_integer((json_int_t)v);
    return json_real(v);
}

int mcp_call_progress(mcp_call *c, double progress, double total, const char *message)
{
    if (!c->progress_token)
        return 0;
    if (c->any_progress && !(progress > c->last_progress))
        return -1;
    c->any_progress = true;
    c->last_progress = progress;
    json_t *p =
        json_pack("{s:O,s:o}", "progressToken", c->progress_token, "progress", num(progress));
    if (total >= 0)
        json_object_set_new(p, "total", num(total));
    if (message)
        json_object_set_new(p, "message", json_string(message));
    return mcp_call_notify(c, "notifications/progress", p);
}

int mcp_call_log(mcp_call *c, mcp_log_level lvl, const char *logger, json_t *data)
{
    json_t *msg = mcp_log_message(c->session, lvl, logger, data);
    if (!msg)
        return 0;
    if (atomic_load(&c->cancelled)) {
        json_decref(msg);
        return 0;
    }
    return mcp_session_send_json(c->session, c->rc->stream_ctx, msg);
}

int mcp_call_logf(mcp_call *c, mcp_log_level lvl, const char *logger, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return mcp_call_log(c, lvl, logger, json_string(buf));
}

void mcp_call_set_error(mcp_call *c, int code, const char *message, json_t *data)
{
    free(c->err_msg);
    json_decref(c->err_data);
    c->err_code = code;
    c->err_msg = xstrdup(message ? message : "error");
    c->err_data = data;
}

json_t *mcp_call_request(mcp_call *c, const char *method, json_t *params, long timeout_ms,
                         json_t **error)
{
    mcp_session *s = c->session;
    if (error)
        *error = NULL;
    mcp_pending p;
    memset(&p, 0, sizeof p);
    pthread_mutex_lock(&s->lock);
    snprintf(p.id_raw, sizeof p.id_raw, "%ld", ++s->next_out_id);
    p.next = s->pending;
    s->pending = &p;
    pthread_mutex_unlock(&s->lock);

    json_t *msg = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", (json_int_t)atol(p.id_raw),
                            "method", method);
    if (params)
        json_object_set_new(msg, "params", params);
    int rc = -1;
    if (atomic_load(&c->cancelled))
        json_decref(msg);
    else
        rc = mcp_session_send_json(s, c->rc->stream_ctx, msg);

    struct timespec dl; /* cancel_cv has the default clock */
    utc_real_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (rc == 0 && !p.response && !atomic_load(&c->cancelled))
        if (pthread_cond_timedwait(&s->cancel_cv, &s->lock, &dl) == ETIMEDOUT)
            break;
    for (mcp_pending **pp = &s->pending; *pp; pp = &(*pp)->next)
        if (*pp == &p) {
            *pp = p.next;
            break;
        }
    pthread_mutex_unlock(&s->lock);

    json_t *result = NULL;
    if (p.response) {
        json_t *r = json_object_get(p.response, "result");
        if (json_is_object(r))
            result = json_incref(r);
        else if (error && json_object_get(p.response, "error"))
            *error = json_incref(json_object_get(p.response, "error"));
        json_decref(p.response);
    } else if (rc == 0 && !atomic_load(&c->cancelled)) {
        /* timed out: tell the client we stopped waiting */
        json_t *cp =
            json_pack("{s:I,s:s}", "requestId", (json_int_t)atol(p.id_raw), "reason", "timeout");
        mcp_session_send_json(s, c->rc->stream_ctx,
                              json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method",
                                        "notifications/cancelled", "params", cp));
    }
    return result;
}
