/* http/workers.c — the fixed pools of handler threads: MCP requests that may run product
 * code (tools/call, resources/read, prompts/get, completion, batches) are queued here by
 * the I/O threads, FIFO per lane, and run to completion by a thread of their lane. Each
 * lane of the server (mcp_server_add_lane) has its own queue and threads (lane 0, the
 * default, gets mcp_http_opts.workers), so requests of one lane never wait for threads
 * held by another: quick reads keep being served while writes wait for a database lock or
 * long searches run.
 * Must not: create threads per request, let a thread of one lane take work of another, or
 * drop queued work on shutdown (stop drains). */
#include <stdlib.h>

#include "base/log.h"
#include "http/http_internal.h"

typedef struct worker_arg {
    mcp_http *h;
    unsigned lane;
} worker_arg;

static void *worker_main(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    mcp_http *h = wa.h;
    struct http_lane *l = &h->lanes[wa.lane];
    pthread_mutex_lock(&h->qlock);
    for (;;) {
        while (!l->head && !h->qstop)
            pthread_cond_wait(&l->cv, &h->qlock);
        http_post *p = l->head;
        if (!p)
            break;
        l->head = p->qnext;
        if (!l->head)
            l->tail = NULL;
        l->queued--;
        l->busy++;
        pthread_mutex_unlock(&h->qlock);
        http_post_run(p);
        pthread_mutex_lock(&h->qlock);
        l->busy--;
    }
    pthread_mutex_unlock(&h->qlock);
    return NULL;
}

void http_workers_start(mcp_http *h)
{
    pthread_mutex_init(&h->qlock, NULL);
    h->nlanes = mcp_server_lane_count(h->srv);
    unsigned total = 0;
    for (unsigned i = 0; i < h->nlanes; i++) {
        pthread_cond_init(&h->lanes[i].cv, NULL);
        h->lanes[i].name = mcp_server_lane_name(h->srv, i);
        total += i ? mcp_server_lane_workers(h->srv, i) : h->o.workers;
    }
    h->threads = xcalloc(total ? total : 1, sizeof *h->threads);
    for (unsigned i = 0; i < h->nlanes; i++) {
        unsigned want = i ? mcp_server_lane_workers(h->srv, i) : h->o.workers;
        for (unsigned k = 0; k < want; k++) {
            worker_arg *wa = xmalloc(sizeof *wa);
            *wa = (worker_arg){h, i};
            if (pthread_create(&h->threads[h->nthreads], NULL, worker_main, wa) != 0) {
                free(wa);
                LOG_E("http", "cannot start a worker thread of lane %s", h->lanes[i].name);
                break;
            }
            h->nthreads++;
            h->lanes[i].threads++;
        }
    }
}

void http_workers_submit(mcp_http *h, http_post *p)
{
    p->qnext = NULL;
    if (p->lane >= h->nlanes)
        p->lane = 0;
    struct http_lane *l = &h->lanes[p->lane];
    pthread_mutex_lock(&h->qlock);
    if (l->tail)
        l->tail->qnext = p;
    else
        l->head = p;
    l->tail = p;
    l->queued++;
    pthread_cond_signal(&l->cv);
    bool none = l->threads == 0;
    pthread_mutex_unlock(&h->qlock);
    if (none)
        LOG_E("http", "no worker threads in lane %s: request cannot run", l->name);
}

void http_workers_stop(mcp_http *h)
{
    pthread_mutex_lock(&h->qlock);
    h->qstop = true;
    for (unsigned i = 0; i < h->nlanes; i++)
        pthread_cond_broadcast(&h->lanes[i].cv);
    pthread_mutex_unlock(&h->qlock);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    free(h->threads);
    h->threads = NULL;
    h->nthreads = 0;
    for (unsigned i = 0; i < h->nlanes; i++)
        pthread_cond_destroy(&h->lanes[i].cv);
    pthread_mutex_destroy(&h->qlock);
}

void http_workers_render(mcp_http *h, sbuf_t *out)
{
    static const char *const what[3][2] = {
        {"ctxd_mcp_workers", "MCP worker threads over HTTP, per lane."},
        {"ctxd_mcp_workers_busy", "MCP worker threads running a request, per lane."},
        {"ctxd_mcp_queued_requests", "MCP requests waiting for a worker thread, per lane."}};
    size_t v[MCP_MAX_LANES][3] = {{0}};
    unsigned n = 0;
    if (h->threads) {
        pthread_mutex_lock(&h->qlock);
        n = h->nlanes;
        for (unsigned i = 0; i < n; i++) {
            v[i][0] = h->lanes[i].threads;
            v[i][1] = h->lanes[i].busy;
            v[i][2] = h->lanes[i].queued;
        }
        pthread_mutex_unlock(&h->qlock);
    }
    for (int k = 0; k < 3; k++) {
        sbuf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", what[k][0], what[k][1], what[k][0]);
        for (unsigned i = 0; i < n; i++)
            sbuf_printf(out, "%s{lane=\"%s\"} %zu\n", what[k][0], h->lanes[i].name, v[i][k]);
    }
}
