/* http/session.c — HTTP-side MCP sessions: the Mcp-Session-Id table (hash of uuid4 ids),
 * reference counting (the table, each request and each attached SSE reader hold a ref;
 * the mcp_session is freed when the last one goes, so no handler is running then), ending
 * a session (DELETE, shutdown), and the transport send callback that routes server
 * messages to the request's stream or the session's GET stream.
 * Must not: block in send (mcp_resource_updated calls it under the server lock: events are
 * queued and the connection resumed), or free a session a request still uses. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "http/http_internal.h"

static unsigned bucket(const char *id)
{
    unsigned hsh = 2166136261u;
    for (; *id; id++)
        hsh = (hsh ^ (unsigned char)*id) * 16777619u;
    return hsh % HTTP_SESS_BUCKETS;
}

http_sess *http_sess_create(mcp_http *h)
{
    http_sess *s = xcalloc(1, sizeof *s);
    s->h = h;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 1);
    s->next_stream = 1;
    atomic_init(&s->last_used, http_now_ns());
    s->streams = http_stream_new(s, 0);
    s->nstreams = 1;
    s->ms = mcp_session_new(h->srv, &http_transport_ops, s);
    if (h->o.on_session)
        h->o.on_session(h->o.session_ud, s->ms);
    return s;
}

static void reap_idle(mcp_http *h);

void http_sess_publish(http_sess *s)
{
    mcp_http *h = s->h;
    ids_uuid4(s->id);
    const char *v = mcp_session_protocol_version(s->ms);
    pthread_mutex_lock(&s->lock);
    s->modern_priming = v && strcmp(v, "2025-11-25") >= 0; /* dates compare as strings */
    pthread_mutex_unlock(&s->lock);
    http_sess_ref(s); /* the table's */
    pthread_mutex_lock(&h->sess_lock);
    unsigned b = bucket(s->id);
    s->hnext = h->buckets[b];
    h->buckets[b] = s;
    h->nsess++;
    pthread_mutex_unlock(&h->sess_lock);
    reap_idle(h);
}

http_sess *http_sess_find(mcp_http *h, const char *id)
{
    if (!id)
        return NULL;
    pthread_mutex_lock(&h->sess_lock);
    http_sess *s = h->buckets[bucket(id)];
    while (s && strcmp(s->id, id) != 0)
        s = s->hnext;
    if (s) {
        http_sess_ref(s);
        atomic_store(&s->last_used, http_now_ns());
    }
    pthread_mutex_unlock(&h->sess_lock);
    return s;
}

/* Ends sessions idle longer than the timeout that nothing uses (only the table holds
 * them: no request, no attached stream). Runs at most every 10 s, from publish. */
static void reap_idle(mcp_http *h)
{
    uint64_t now = http_now_ns(), limit = (uint64_t)h->o.session_idle_timeout * 1000000000ull;
    http_sess *victims[64];
    size_t nv = 0;
    pthread_mutex_lock(&h->sess_lock);
    if (now - h->last_reap < 10000000000ull && h->last_reap) {
        pthread_mutex_unlock(&h->sess_lock);
        return;
    }
    h->last_reap = now;
    for (unsigned b = 0; b < HTTP_SESS_BUCKETS && nv < 64; b++)
        for (http_sess *s = h->buckets[b]; s && nv < 64; s = s->hnext)
            if (atomic_load(&s->refs) == 1 && now - atomic_load(&s->last_used) > limit) {
                http_sess_ref(s);
                victims[nv++] = s;
            }
    pthread_mutex_unlock(&h->sess_lock);
    for (size_t i = 0; i < nv; i++) {
        LOG_I("http", "ending idle MCP session %.8s...", victims[i]->id);
        http_sess_end(victims[i]);
        http_sess_unref(victims[i]);
    }
}

void http_sess_ref(http_sess *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void http_sess_unref(http_sess *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    mcp_http *h = s->h;
    if (h->o.on_session_end)
        h->o.on_session_end(h->o.session_ud, s->ms);
    mcp_session_free(s->ms); /* after this no send can reach s */
    pthread_mutex_lock(&s->lock);
    while (s->streams) {
        http_stream *st = s->streams;
        s->streams = st->next;
        http_stream_unref(s, st);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Unlinks from the table; true if it was there. */
static bool unlink_sess(http_sess *s)
{
    mcp_http *h = s->h;
    bool found = false;
    pthread_mutex_lock(&h->sess_lock);
    if (s->id[0]) {
        for (http_sess **pp = &h->buckets[bucket(s->id)]; *pp; pp = &(*pp)->hnext)
            if (*pp == s) {
                *pp = s->hnext;
                h->nsess--;
                found = true;
                break;
            }
    }
    pthread_mutex_unlock(&h->sess_lock);
    return found;
}

void http_sess_end(http_sess *s)
{
    bool was = unlink_sess(s);
    mcp_session_cancel_all(s->ms);
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    for (http_stream *st = s->streams; st; st = st->next)
        http_stream_finish(s, st);
    pthread_mutex_unlock(&s->lock);
    if (was)
        http_sess_unref(s); /* the table's ref */
}

void http_sess_end_all(mcp_http *h)
{
    for (;;) {
        http_sess *s = NULL;
        pthread_mutex_lock(&h->sess_lock);
        for (unsigned b = 0; b < HTTP_SESS_BUCKETS && !s; b++)
            s = h->buckets[b];
        if (s)
            http_sess_ref(s);
        pthread_mutex_unlock(&h->sess_lock);
        if (!s)
            return;
        http_sess_end(s);
        http_sess_unref(s);
    }
}

size_t mcp_http_session_count(mcp_http *h)
{
    pthread_mutex_lock(&h->sess_lock);
    size_t n = h->nsess;
    pthread_mutex_unlock(&h->sess_lock);
    return n;
}

http_stream *http_post_stream(http_sess *s, http_post *p, bool priming)
{
    if (!p->stream) {
        p->stream = http_stream_new(s, s->next_stream++);
        p->stream->refs++; /* p's ref */
        p->stream->next = s->streams->next;
        s->streams->next = p->stream;
        s->nstreams++;
        if (priming)
            http_stream_push(s, p->stream, NULL, 0);
        http_streams_trim(s);
    }
    return p->stream;
}

void http_post_start_streaming(http_post *p)
{
    if (p->state == RQ_RUNNING) {
        p->state = RQ_STREAMING;
        if (p->suspended) {
            p->suspended = false;
            MHD_resume_connection(p->conn);
        }
    }
}

bool mcp_http_call_disconnect(mcp_call *c)
{
    http_post *p = mcp_call_stream(c);
    if (!p || p->magic != HTTP_POST_MAGIC)
        return false;
    http_sess *s = p->sess;
    pthread_mutex_lock(&s->lock);
    bool ok = !s->ended;
    if (ok) {
        http_stream *st = http_post_stream(s, p, true); /* the client needs an event id */
        st->kick = true;
        http_stream_wake(st);
        http_post_start_streaming(p);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* The transport's send: stream_ctx is the http_post of the request, or NULL for the
 * session-level (GET) stream. Never blocks beyond the session lock. */
static int tr_send(void *ud, void *stream_ctx, const char *json, size_t len)
{
    http_sess *s = ud;
    http_post *p = stream_ctx;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->ended) {
        rc = -1;
    } else if (!p) {
        http_stream_push(s, s->streams, json, len); /* stream 0 is always first */
    } else {
        http_stream_push(s, http_post_stream(s, p, s->modern_priming), json, len);
        http_post_start_streaming(p);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const mcp_transport_ops http_transport_ops = {tr_send};
