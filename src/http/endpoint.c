/* http/endpoint.c — the MCP endpoint (/mcp, /mcp/): request validation in this order
 * (docs/mcp-interface.md, "HTTP"; framing 400 and Host/Origin 403 come first, in
 * server.c, for every path): method 405, auth 401, Accept 406, Content-Type 415,
 * size 413, session 400/404, MCP-Protocol-Version 400, then the embedding program's
 * session_check (creating a session, GET, DELETE); POST handling (quick messages
 * inline on the I/O thread, other requests on a worker of their lane while the
 * connection is suspended; JSON when the handler emitted nothing, else SSE), GET streams (one per
 * session, 409; Last-Event-ID replay) and DELETE.
 * Must not: interpret the auth value, or block the I/O thread on a handler. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "http/http_internal.h"
#include "mcp/http_support.h"

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static unsigned reply_status(const mcp_reply *r)
{
    return r->kind == MCP_REPLY_NONE ? 202 : r->kind == MCP_REPLY_INVALID ? 400 : 200;
}

static MHD_RESULT_T reply_mcp(struct MHD_Connection *conn, mcp_reply *r, const char *sid)
{
    unsigned status = reply_status(r);
    if (status >= 400)
        http_log_refusal(conn, status,
                         "invalid JSON-RPC request (the error sent names the problem)");
    struct MHD_Response *resp;
    if (r->kind == MCP_REPLY_NONE || !r->json) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(r->len, r->json, MHD_RESPMEM_MUST_FREE);
        r->json = NULL; /* libmicrohttpd frees it */
        MHD_add_response_header(resp, "Content-Type", "application/json");
    }
    if (sid && sid[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", sid);
    MHD_RESULT_T ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool reply_is_error(const mcp_reply *r)
{
    if (!r->json)
        return false;
    const char *e = strstr(r->json, ",\"error\":");
    const char *ok = strstr(r->json, ",\"result\":");
    return e && (!ok || e < ok);
}

/* Methods answered inline on the I/O thread: they run no product handler. */
static bool quick_method(const char *m)
{
    static const char *const q[] = {"initialize",
                                    "ping",
                                    "tools/list",
                                    "resources/list",
                                    "resources/templates/list",
                                    "prompts/list",
                                    "logging/setLevel",
                                    "resources/subscribe",
                                    "resources/unsubscribe",
                                    NULL};
    for (const char *const *p = q; *p; p++)
        if (strcmp(*p, m) == 0)
            return true;
    return false;
}

void http_post_unref(http_post *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    mcp_http *h = p->h;
    if (p->msg)
        mcp_message_free(p->msg);
    mcp_reply_free(&p->reply);
    if (p->stream) {
        pthread_mutex_lock(&p->sess->lock);
        http_stream_unref(p->sess, p->stream);
        pthread_mutex_unlock(&p->sess->lock);
    }
    if (p->rc.auth && h->o.auth_free)
        h->o.auth_free(h->o.auth_ud, p->rc.auth);
    http_sess_unref(p->sess);
    free(p);
}

void http_post_run(http_post *p)
{
    http_sess *s = p->sess;
    mcp_reply r;
    mcp_message *m = p->msg;
    p->msg = NULL;
    mcp_session_handle_message(s->ms, m, &p->rc, &r);
    /* counted before the client can see the answer (a scrape after it includes it); the
     * handler has returned, so p->stream no longer changes */
    pthread_mutex_lock(&s->lock);
    bool sse = p->stream != NULL;
    pthread_mutex_unlock(&s->lock);
    http_observe(p->h, p->rpc_method, p->tool, sse ? 200 : reply_status(&r), reply_is_error(&r),
                 p->t0);
    pthread_mutex_lock(&s->lock);
    if (p->stream) {
        if (r.kind != MCP_REPLY_NONE && r.json)
            http_stream_push(s, p->stream, r.json, r.len);
        http_stream_finish(s, p->stream);
        mcp_reply_free(&r);
    } else {
        p->reply = r;
        p->state = RQ_DONE;
    }
    if (p->suspended) {
        p->suspended = false;
        MHD_resume_connection(p->conn);
    }
    pthread_mutex_unlock(&s->lock);
    http_post_unref(p);
}

/* A malformed body without a session: answered by a throwaway protocol session (no
 * product hooks), so the error is exactly the library's. */
static MHD_RESULT_T reply_malformed(mcp_http *h, struct MHD_Connection *conn, mcp_message *m,
                                    uint64_t t0)
{
    mcp_session *tmp = mcp_session_new(h->srv, &http_transport_ops, NULL);
    mcp_reply r;
    mcp_session_handle_message(tmp, m, NULL, &r);
    mcp_session_free(tmp);
    if (r.kind == MCP_REPLY_RESPONSE)
        r.kind = MCP_REPLY_INVALID;
    http_observe(h, NULL, NULL, 400, true, t0);
    MHD_RESULT_T ret = reply_mcp(conn, &r, NULL);
    mcp_reply_free(&r);
    return ret;
}

/* mcp_http_opts.session_check: 0, or the status it refused with (answered here, *ret). */
static unsigned session_refused(mcp_http *h, struct MHD_Connection *conn, http_sess *s, void *auth,
                                mcp_http_session_op op, MHD_RESULT_T *ret)
{
    const char *msg = NULL;
    unsigned st =
        h->o.session_check ? h->o.session_check(h->o.session_ud, s->ms, auth, op, &msg) : 0;
    if (st)
        *ret = http_reply_rpc_error(conn, st, -32000, msg ? msg : "Forbidden");
    return st;
}

static MHD_RESULT_T post_body_complete(mcp_http *h, struct MHD_Connection *conn, http_conn *hc)
{
    uint64_t t0 = http_now_ns();
    if (hc->too_big) {
        http_observe(h, NULL, NULL, 413, true, t0);
        return http_reply_rpc_error(conn, 413, MCP_INVALID_REQUEST, "Request body too large");
    }
    mcp_message *m = mcp_message_parse(hc->body.p ? hc->body.p : "", hc->body.len);
    sbuf_free(&hc->body);
    const char *method = mcp_message_method(m);    /* borrowed from m */
    const char *mname = http_names_method(method); /* its metrics label */
    bool batch = mcp_message_is_batch(m);
    bool request = mcp_message_is_request(m);
    const char *sid = hdr(conn, "Mcp-Session-Id");
    void *auth = hc->has_auth ? hc->auth : NULL;

    http_sess *s;
    if (!sid) {
        if (!request || strcmp(method, "initialize") != 0) {
            if (!method && !batch)
                return reply_malformed(h, conn, m, t0);
            mcp_message_free(m);
            http_observe(h, mname, NULL, 400, true, t0);
            return http_reply_rpc_error(conn, 400, -32000,
                                        "Bad Request: Mcp-Session-Id header is required");
        }
        s = http_sess_create(h);
        MHD_RESULT_T ret;
        unsigned refused = session_refused(h, conn, s, auth, MCP_HTTP_SESSION_CREATE, &ret);
        if (refused) {
            mcp_message_free(m);
            http_observe(h, "initialize", NULL, refused, true, t0);
            http_sess_unref(s); /* never published: dropped */
            return ret;
        }
        mcp_request_ctx rc = {NULL, auth};
        mcp_reply r;
        mcp_session_handle_message(s->ms, m, &rc, &r);
        if (r.initialized && !atomic_load(&h->stopping))
            http_sess_publish(s);
        http_observe(h, "initialize", NULL, reply_status(&r), reply_is_error(&r), t0);
        ret = reply_mcp(conn, &r, s->id);
        mcp_reply_free(&r);
        http_sess_unref(s);
        return ret;
    }
    s = http_sess_find(h, sid);
    if (!s) {
        mcp_message_free(m);
        http_observe(h, mname, NULL, 404, true, t0);
        return http_reply_rpc_error(conn, 404, -32001, "Session not found");
    }
    if (!batch && (!request || quick_method(method))) {
        mcp_request_ctx rc = {NULL, auth};
        mcp_reply r;
        mcp_session_handle_message(s->ms, m, &rc, &r);
        if (request)
            http_observe(h, mname, NULL, reply_status(&r), reply_is_error(&r), t0);
        else if (r.kind == MCP_REPLY_INVALID)
            http_observe(h, NULL, NULL, 400, true, t0);
        MHD_RESULT_T ret = reply_mcp(conn, &r, s->id);
        mcp_reply_free(&r);
        http_sess_unref(s);
        return ret;
    }
    /* A worker runs it; the connection sleeps until the result or a first event. */
    http_post *p = xcalloc(1, sizeof *p);
    p->magic = HTTP_POST_MAGIC;
    p->h = h;
    p->sess = s; /* our ref moves to p */
    p->conn = conn;
    atomic_init(&p->refs, 2);
    p->msg = m;
    p->rc.stream_ctx = p;
    p->rc.auth = auth;
    hc->has_auth = false; /* p owns the auth value now (the worker may outlive hc) */
    p->state = RQ_RUNNING;
    p->t0 = t0;
    p->rpc_method = batch ? http_names_method("batch") : mname;
    p->tool = batch ? NULL : http_names_tool(h->names, method, mcp_message_param_name(m));
    p->lane = mcp_message_lane(h->srv, m);
    hc->post = p;
    pthread_mutex_lock(&s->lock);
    MHD_suspend_connection(conn);
    p->suspended = true;
    http_workers_submit(h, p);
    pthread_mutex_unlock(&s->lock);
    return MHD_YES;
}

/* Called again after the worker resumed the connection. */
static MHD_RESULT_T post_resumed(struct MHD_Connection *conn, http_conn *hc)
{
    http_post *p = hc->post;
    http_sess *s = p->sess;
    pthread_mutex_lock(&s->lock);
    req_state st = p->state;
    if (st == RQ_RUNNING) { /* spurious: keep waiting */
        MHD_suspend_connection(conn);
        p->suspended = true;
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    pthread_mutex_unlock(&s->lock);
    MHD_RESULT_T ret;
    if (st == RQ_DONE) {
        ret = reply_mcp(conn, &p->reply, s->id);
    } else {
        struct MHD_Response *resp = http_sse_response(s, p->stream, 0, conn);
        ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
    }
    hc->post = NULL;
    hc->kind = CK_DONE;
    http_post_unref(p);
    return ret;
}

static bool parse_event_id(const char *v, unsigned *no, uint64_t *seq)
{
    unsigned long long q;
    int n = 0;
    if (!v || sscanf(v, "%u-%llu%n", no, &q, &n) != 2 || v[n] != '\0')
        return false;
    *seq = q;
    return true;
}

static MHD_RESULT_T get_stream(struct MHD_Connection *conn, http_sess *s)
{
    if (!http_accepts(hdr(conn, "Accept"), "text/event-stream"))
        return http_reply_rpc_error(conn, 406, -32000,
                                    "Not Acceptable: Client must accept text/event-stream");
    unsigned no = 0;
    uint64_t from = 0;
    bool resume = parse_event_id(hdr(conn, "Last-Event-ID"), &no, &from);
    pthread_mutex_lock(&s->lock);
    http_stream *st = resume ? http_stream_find(s, no) : NULL;
    if (!st) {
        st = s->streams; /* the GET stream */
        resume = false;
    }
    if (st->reader) {
        pthread_mutex_unlock(&s->lock);
        return http_reply_rpc_error(conn, 409, -32000,
                                    "Conflict: Only one SSE stream is allowed per session");
    }
    if (resume) {
        from++;
    } else {
        from = st->next_seq;
        if (s->modern_priming)
            http_stream_push(s, st, NULL, 0);
    }
    pthread_mutex_unlock(&s->lock);
    struct MHD_Response *resp = http_sse_response(s, st, from, conn);
    MHD_RESULT_T ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Checks common to every method; returns MHD_NO-or-YES via *ret when it answered. */
static bool first_call_checks(mcp_http *h, struct MHD_Connection *conn, const char *method,
                              http_conn *hc, MHD_RESULT_T *ret)
{
    bool is_post = strcmp(method, "POST") == 0;
    if (!is_post && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Allow", "GET, POST, DELETE");
        http_log_refusal(conn, 405, "method not allowed on /mcp");
        *ret = MHD_queue_response(conn, 405, r);
        MHD_destroy_response(r);
        return true;
    }
    if (h->o.auth) {
        const char *msg = NULL;
        mcp_http_req req = {conn, method, "/mcp"};
        void *a = NULL;
        if (!h->o.auth(h->o.auth_ud, &req, &a, &msg)) {
            json_t *j = json_pack("{s:s,s:s}", "error", "invalid_token", "message",
                                  msg ? msg : "authentication required");
            char *txt = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            struct MHD_Response *r =
                MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
            MHD_add_response_header(r, "Content-Type", "application/json");
            MHD_add_response_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            http_log_refusal(conn, 401, msg ? msg : "authentication required");
            *ret = MHD_queue_response(conn, 401, r);
            MHD_destroy_response(r);
            return true;
        }
        hc->auth = a;
        hc->has_auth = true;
    }
    const char *pv = hdr(conn, "MCP-Protocol-Version");
    if (pv && hdr(conn, "Mcp-Session-Id") && !mcp_protocol_version_supported(pv)) {
        *ret = http_reply_rpc_error(conn, 400, -32000, "Bad Request: Unsupported protocol version");
        return true;
    }
    if (is_post) {
        const char *acc = hdr(conn, "Accept");
        if (!http_accepts(acc, "application/json") || !http_accepts(acc, "text/event-stream")) {
            *ret = http_reply_rpc_error(conn, 406, -32000,
                                        "Not Acceptable: Client must accept both application/json "
                                        "and text/event-stream");
            return true;
        }
        if (!http_is_json_content_type(hdr(conn, "Content-Type"))) {
            *ret = http_reply_rpc_error(
                conn, 415, -32000, "Unsupported Media Type: Content-Type must be application/json");
            return true;
        }
        const char *cl = hdr(conn, "Content-Length");
        long n;
        if (cl && str_to_long(cl, 0, LONG_MAX, &n) && (size_t)n > h->o.max_body) {
            *ret = http_reply_rpc_error(conn, 413, MCP_INVALID_REQUEST, "Request body too large");
            return true;
        }
    }
    return false;
}

MHD_RESULT_T http_mcp_endpoint(mcp_http *h, struct MHD_Connection *conn, const char *method,
                               const char *upload, size_t *upload_size, http_conn *hc)
{
    if (hc->kind == CK_NEW) {
        MHD_RESULT_T ret;
        if (first_call_checks(h, conn, method, hc, &ret)) {
            hc->kind = CK_DONE;
            return ret;
        }
        if (strcmp(method, "POST") == 0) {
            hc->kind = CK_MCP_POST;
            return MHD_YES;
        }
        hc->kind = CK_DONE;
        const char *sid = hdr(conn, "Mcp-Session-Id");
        if (!sid)
            return http_reply_rpc_error(conn, 400, -32000,
                                        "Bad Request: Mcp-Session-Id header is required");
        http_sess *s = http_sess_find(h, sid);
        if (!s)
            return http_reply_rpc_error(conn, 404, -32001, "Session not found");
        bool del = strcmp(method, "DELETE") == 0;
        void *auth = hc->has_auth ? hc->auth : NULL;
        if (session_refused(h, conn, s, auth,
                            del ? MCP_HTTP_SESSION_DELETE : MCP_HTTP_SESSION_STREAM, &ret)) {
            /* answered */
        } else if (del) {
            http_sess_end(s);
            ret = http_reply(conn, 200, NULL, NULL, 0, NULL);
        } else {
            ret = get_stream(conn, s);
        }
        http_sess_unref(s);
        return ret;
    }
    if (hc->kind != CK_MCP_POST)
        return MHD_NO;
    if (*upload_size > 0) {
        if (!hc->too_big) {
            if (hc->body.len + *upload_size > h->o.max_body) {
                hc->too_big = true;
                sbuf_free(&hc->body);
            } else {
                sbuf_append(&hc->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (hc->post)
        return post_resumed(conn, hc);
    return post_body_complete(h, conn, hc);
}
