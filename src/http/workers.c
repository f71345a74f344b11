/* http/workers.c — the fixed pool of handler threads: MCP requests that may run product
 * code (tools/call, resources/read, prompts/get, completion, batches) are queued here by
 * the I/O threads, FIFO, and run to completion.
 * Must not: create threads per request, or drop queued work on shutdown (stop drains). */
#include <stdlib.h>

#include "base/log.h"
#include "http/http_internal.h"

static void *worker_main(void *arg)
{
    mcp_http *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->qlock);
        while (!h->qhead && !h->qstop)
            pthread_cond_wait(&h->qcond, &h->qlock);
        http_post *p = h->qhead;
        if (!p) {
            pthread_mutex_unlock(&h->qlock);
            return NULL;
        }
        h->qhead = p->qnext;
        if (!h->qhead)
            h->qtail = NULL;
        pthread_mutex_unlock(&h->qlock);
        http_post_run(p);
    }
}

void http_workers_start(mcp_http *h)
{
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
    h->threads = xcalloc(h->o.workers, sizeof *h->threads);
    for (unsigned i = 0; i < h->o.workers; i++) {
        if (pthread_create(&h->threads[h->nthreads], NULL, worker_main, h) != 0) {
            LOG_E("http", "cannot start worker thread");
            break;
        }
        h->nthreads++;
    }
}

void http_workers_submit(mcp_http *h, http_post *p)
{
    p->qnext = NULL;
    pthread_mutex_lock(&h->qlock);
    if (h->qtail)
        h->qtail->qnext = p;
    else
        h->qhead = p;
    h->qtail = p;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    if (h->nthreads == 0)
        LOG_E("http", "no worker threads: request cannot run");
}

void http_workers_stop(mcp_http *h)
{
    pthread_mutex_lock(&h->qlock);
    h->qstop = true;
    pthread_cond_broadcast(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    free(h->threads);
    h->threads = NULL;
    h->nthreads = 0;
    pthread_cond_destroy(&h->qcond);
    pthread_mutex_destroy(&h->qlock);
}
