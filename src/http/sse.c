/* http/sse.c — SSE streams of a session: a bounded per-stream event store (formatted once,
 * replayed for Last-Event-ID), event ids "<stream>-<seq>" unique per session, the priming
 * event, and the libmicrohttpd content reader that writes events to an attached
 * connection, suspending it when there is nothing to send (an idle stream holds no
 * thread) and being resumed by http_stream_wake.
 * Must not: block, or touch a stream without the session lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

#define HTTP_KEEP_POST_STREAMS 32

http_stream *http_stream_new(http_sess *s, unsigned no)
{
    (void)s;
    http_stream *st = xcalloc(1, sizeof *st);
    st->no = no;
    st->refs = 1;
    return st;
}

void http_stream_unref(http_sess *s, http_stream *st)
{
    (void)s;
    if (!st || --st->refs > 0)
        return;
    for (size_t i = 0; i < st->nev; i++)
        free(st->ev[i].text);
    free(st->ev);
    free(st);
}

http_stream *http_stream_find(http_sess *s, unsigned no)
{
    for (http_stream *st = s->streams; st; st = st->next)
        if (st->no == no)
            return st;
    return NULL;
}

void http_stream_wake(http_stream *st)
{
    http_reader *r = st->reader;
    if (r && r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

void http_stream_push(http_sess *s, http_stream *st, const char *json, size_t len)
{
    if (st->done)
        return;
    size_t keep = s->h->o.event_store;
    if (st->nev == keep) { /* evict the oldest; a slow reader skips ahead */
        free(st->ev[0].text);
        memmove(st->ev, st->ev + 1, (st->nev - 1) * sizeof *st->ev);
        st->nev--;
        st->first_seq++;
    }
    if (st->nev == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4;
        if (st->cap > keep)
            st->cap = keep;
        st->ev = xrealloc(st->ev, st->cap * sizeof *st->ev);
    }
    sbuf_t b = SBUF_INIT;
    uint64_t seq = st->next_seq++;
    if (!json) {
        sbuf_printf(&b, "id: %u-%llu\nretry: %u\ndata: \n\n", st->no, (unsigned long long)seq,
                    s->h->o.sse_retry_ms);
    } else {
        sbuf_printf(&b, "id: %u-%llu\nevent: message\ndata: ", st->no, (unsigned long long)seq);
        sbuf_append(&b, json, len);
        sbuf_append(&b, "\n\n", 2);
    }
    if (st->nev == 0)
        st->first_seq = seq;
    http_event *e = &st->ev[st->nev++];
    e->seq = seq;
    e->len = b.len;
    e->text = sbuf_detach(&b);
    http_stream_wake(st);
}

void http_stream_finish(http_sess *s, http_stream *st)
{
    (void)s;
    st->done = true;
    http_stream_wake(st);
}

void http_streams_trim(http_sess *s)
{
    if (s->nstreams <= HTTP_KEEP_POST_STREAMS + 1)
        return;
    unsigned seen = 0;
    for (http_stream **pp = &s->streams->next; *pp;) {
        http_stream *st = *pp;
        if (++seen > HTTP_KEEP_POST_STREAMS && st->done && !st->reader) {
            *pp = st->next;
            s->nstreams--;
            http_stream_unref(s, st);
            continue;
        }
        pp = &st->next;
    }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_reader *r = cls;
    http_sess *s = r->sess;
    http_stream *st = r->st;
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    if (r->next_seq < st->first_seq) {
        r->next_seq = st->first_seq;
        r->off = 0;
    }
    while (n < max && r->next_seq < st->next_seq && st->nev > 0) {
        http_event *e = &st->ev[r->next_seq - st->first_seq];
        size_t k = e->len - r->off;
        if (k > max - n)
            k = max - n;
        memcpy(buf + n, e->text + r->off, k);
        n += k;
        r->off += k;
        if (r->off == e->len) {
            r->next_seq++;
            r->off = 0;
        }
    }
    if (n == 0) {
        if (st->kick || st->done || s->ended || atomic_load(&s->h->stopping)) {
            st->kick = false;
            pthread_mutex_unlock(&s->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        r->suspended = true;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&s->lock);
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    http_reader *r = cls;
    http_sess *s = r->sess;
    pthread_mutex_lock(&s->lock);
    if (r->st->reader == r)
        r->st->reader = NULL;
    http_stream_unref(s, r->st);
    pthread_mutex_unlock(&s->lock);
    free(r);
    http_sess_unref(s);
}

struct MHD_Response *http_sse_response(http_sess *s, http_stream *st, uint64_t from,
                                       struct MHD_Connection *conn)
{
    http_reader *r = xcalloc(1, sizeof *r);
    http_sess_ref(s);
    r->sess = s;
    r->st = st;
    r->conn = conn;
    r->next_seq = from;
    pthread_mutex_lock(&s->lock);
    st->refs++;
    st->reader = r;
    pthread_mutex_unlock(&s->lock);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, r, sse_free);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    if (s->id[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", s->id);
    return resp;
}
