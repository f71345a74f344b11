/* app/worker.c — the background threads of app/ (the search indexer, maintenance): a
 * thread with the mutex and condition variable it sleeps on, started in one place and
 * stopped in one place (woken at once, joined).
 * Must not: decide what a thread does or when (its function does), or be stopped from
 * its own thread. */
#include <errno.h>
#include <time.h>

#include "app/app_int.h"
#include "base/utc.h"

bool app_worker_start(app_worker *w, void *(*fn)(void *), void *arg)
{
    w->stop = false;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, fn, arg) == 0)
        return true;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return false;
}

bool app_worker_wait(app_worker *w, long seconds)
{
    if (seconds < 0) {
        pthread_cond_wait(&w->cv, &w->mu);
        return false;
    }
    struct timespec ts;
    utc_real_deadline(&ts, (int64_t)seconds * 1000);
    return pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT;
}

void app_worker_stop(app_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}
