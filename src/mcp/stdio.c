/* mcp/stdio.c — the stdio transport: reads lines with getline (any length; tolerates \r
 * and blank lines), handles notifications/ping/initialize inline and queues other requests
 * to a small worker pool, writes each outgoing message as one compact line with a single
 * writev under a mutex (no stdio buffering, so nothing waits for a flush).
 * Must not: write anything but MCP messages to the output, or log except via base/log
 * (stderr). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "mcp/mcp_internal.h"
#include "mcp/mcp_stdio.h"

typedef struct stdio_tr {
    int out_fd;
    pthread_mutex_t wlock;
    atomic_bool closed; /* output gone (EPIPE) */
    mcp_session *session;
    mcp_request_ctx rc;

    pthread_mutex_t qlock;
    pthread_cond_t q_nonempty, q_nonfull;
    mcp_message **q;
    size_t qcap, qhead, qlen;
    bool eof;
} stdio_tr;

static int write_line(stdio_tr *t, const char *json, size_t len)
{
    if (atomic_load(&t->closed))
        return -1;
    struct iovec iov[2] = {{(void *)json, len}, {(void *)"\n", 1}};
    int rc = 0;
    pthread_mutex_lock(&t->wlock);
    int idx = 0;
    while (idx < 2) {
        ssize_t n = writev(t->out_fd, iov + idx, 2 - idx);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EPIPE)
                LOG_E("mcp", "stdio: write failed: %s", strerror(errno));
            atomic_store(&t->closed, true);
            rc = -1;
            break;
        }
        while (idx < 2 && (size_t)n >= iov[idx].iov_len) {
            n -= (ssize_t)iov[idx].iov_len;
            idx++;
        }
        if (idx < 2) {
            iov[idx].iov_base = (char *)iov[idx].iov_base + n;
            iov[idx].iov_len -= (size_t)n;
        }
    }
    pthread_mutex_unlock(&t->wlock);
    if (rc)
        mcp_session_cancel_all(t->session);
    return rc;
}

static int tr_send(void *ud, void *stream_ctx, const char *json, size_t len)
{
    (void)stream_ctx; /* one stream on stdio */
    return write_line(ud, json, len);
}

static const mcp_transport_ops stdio_ops = {tr_send};

static void handle(stdio_tr *t, mcp_message *m)
{
    mcp_reply r;
    if (mcp_session_handle_message(t->session, m, &t->rc, &r) != MCP_REPLY_NONE)
        write_line(t, r.json, r.len);
    mcp_reply_free(&r);
}

static void *worker(void *arg)
{
    stdio_tr *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->qlock);
        while (t->qlen == 0 && !t->eof)
            pthread_cond_wait(&t->q_nonempty, &t->qlock);
        if (t->qlen == 0) {
            pthread_mutex_unlock(&t->qlock);
            return NULL;
        }
        mcp_message *m = t->q[t->qhead];
        t->qhead = (t->qhead + 1) % t->qcap;
        t->qlen--;
        pthread_cond_signal(&t->q_nonfull);
        pthread_mutex_unlock(&t->qlock);
        handle(t, m);
    }
}

/* A cancellation may name a request still waiting in the queue: drop it there (it never
 * runs and gets no response). Requests already running are cancelled by the session. */
static void drop_queued(stdio_tr *t, const mcp_message *m)
{
    if (m->kind != MSG_NOTIFICATION || m->invalid || !m->method ||
        strcmp(m->method, "notifications/cancelled") != 0)
        return; /* an invalid notification is ignored, as the session ignores it */
    json_t *rid = json_is_object(m->params) ? json_object_get(m->params, "requestId") : NULL;
    if (!json_is_string(rid) && !json_is_integer(rid))
        return;
    char *raw = json_dumps(rid, JSON_COMPACT | JSON_ENCODE_ANY);
    pthread_mutex_lock(&t->qlock);
    size_t kept = 0;
    for (size_t i = 0; i < t->qlen; i++) {
        mcp_message *q = t->q[(t->qhead + i) % t->qcap];
        if (q->kind == MSG_REQUEST && q->id_raw && strcmp(q->id_raw, raw) == 0) {
            mcp_message_free(q);
            continue;
        }
        t->q[(t->qhead + kept++) % t->qcap] = q;
    }
    if (kept != t->qlen)
        pthread_cond_broadcast(&t->q_nonfull);
    t->qlen = kept;
    pthread_mutex_unlock(&t->qlock);
    free(raw);
}

static bool inline_ok(const mcp_message *m)
{
    if (mcp_message_is_batch(m))
        return false;
    if (!mcp_message_is_request(m))
        return true; /* notifications, responses, malformed input: quick */
    const char *meth = mcp_message_method(m);
    return strcmp(meth, "ping") == 0 || strcmp(meth, "initialize") == 0;
}

int mcp_stdio_run(mcp_server *srv, const mcp_stdio_opts *opts)
{
    mcp_stdio_opts o = MCP_STDIO_OPTS_INIT;
    if (opts)
        o = *opts;
    if (o.workers == 0)
        o.workers = 1;
    if (o.max_queue == 0)
        o.max_queue = 1;
    signal(SIGPIPE, SIG_IGN);

    int infd = dup(o.in_fd);
    FILE *in = infd >= 0 ? fdopen(infd, "r") : NULL;
    if (!in) {
        LOG_E("mcp", "stdio: cannot read input: %s", strerror(errno));
        if (infd >= 0)
            close(infd);
        return -1;
    }
    stdio_tr t;
    memset(&t, 0, sizeof t);
    t.out_fd = o.out_fd;
    atomic_init(&t.closed, false);
    pthread_mutex_init(&t.wlock, NULL);
    pthread_mutex_init(&t.qlock, NULL);
    pthread_cond_init(&t.q_nonempty, NULL);
    pthread_cond_init(&t.q_nonfull, NULL);
    t.qcap = o.max_queue;
    t.q = xcalloc(t.qcap, sizeof *t.q);
    t.rc.auth = o.auth;
    t.session = mcp_session_new(srv, &stdio_ops, &t);
    if (o.on_session)
        o.on_session(t.session, o.ud);

    pthread_t *th = xcalloc(o.workers, sizeof *th);
    unsigned started = 0;
    for (; started < o.workers; started++)
        if (pthread_create(&th[started], NULL, worker, &t) != 0)
            break;

    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    errno = 0;
    while (!atomic_load(&t.closed) && (n = getline(&line, &cap, in)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t sp = 0;
        while (sp < (size_t)n && (line[sp] == ' ' || line[sp] == '\t' || line[sp] == '\r'))
            sp++;
        if (sp == (size_t)n)
            continue; /* blank line */
        mcp_message *m = mcp_message_parse(line, (size_t)n);
        if (inline_ok(m) || started == 0) {
            drop_queued(&t, m);
            handle(&t, m);
            continue;
        }
        pthread_mutex_lock(&t.qlock);
        while (t.qlen == t.qcap)
            pthread_cond_wait(&t.q_nonfull, &t.qlock);
        t.q[(t.qhead + t.qlen) % t.qcap] = m;
        t.qlen++;
        pthread_cond_signal(&t.q_nonempty);
        pthread_mutex_unlock(&t.qlock);
        errno = 0;
    }
    if (ferror(in)) {
        LOG_E("mcp", "stdio: read failed: %s", strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(in);

    pthread_mutex_lock(&t.qlock);
    t.eof = true;
    pthread_cond_broadcast(&t.q_nonempty);
    pthread_mutex_unlock(&t.qlock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    for (size_t i = 0; i < t.qlen; i++)
        mcp_message_free(t.q[(t.qhead + i) % t.qcap]);
    free(t.q);
    mcp_session_free(t.session);
    pthread_cond_destroy(&t.q_nonfull);
    pthread_cond_destroy(&t.q_nonempty);
    pthread_mutex_destroy(&t.qlock);
    pthread_mutex_destroy(&t.wlock);
    return rc;
}
