/* http/guard.c — one thread that enforces what libmicrohttpd does not: the head deadline
 * and the lingering close.
 *
 * Head deadline. libmicrohttpd's connection timeout is an idle timeout, reset by every
 * byte, so a client trickling a header line now and then holds its connection forever.
 * Here every connection is tracked from libmicrohttpd's connection notification: it is
 * "waiting" from its start and again from the end of each response until the next
 * request head is complete (the first call of the access handler). A connection waiting
 * longer than `head_timeout` is shut down (shutdown(2) on its socket, which its I/O
 * thread then sees as the client's end); an idle kept-alive connection therefore ends
 * after head_timeout as well.
 *
 * Lingering close. When a request is refused before its body was read (413 for an
 * announced length, 400, 403, ...), libmicrohttpd sends the answer and closes the socket;
 * closing with unread bytes makes the kernel reset the connection and the client may never
 * read the answer. For such connections the socket is duplicated when libmicrohttpd
 * releases it, and this thread reads and discards what the client still sends (for at most
 * LINGER_TOTAL_S seconds, LINGER_IDLE_S without data, LINGER_MAX_BYTES) before closing it
 * — the answer has been sent and the write side shut down already.
 *
 * Must not: touch a socket libmicrohttpd may have closed (the table lock is held from the
 * check to the shutdown, and libmicrohttpd's close notification takes it before the socket
 * is closed), read a tracked socket, or write anything. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/port.h"
#if PORT_LINUX
#include <sys/eventfd.h>
#endif
#include "http/http_internal.h"

#define LINGER_TOTAL_S 30
#define LINGER_IDLE_S 5
#define LINGER_MAX_BYTES ((uint64_t)64 << 20)
#define LINGER_MAX 256 /* sockets lingering at once; beyond, a socket is closed at once */
#define NS 1000000000ull

typedef struct guard_conn {
    http_guard *g;
    int fd;
    _Atomic uint64_t waiting_since; /* 0 while a request is being handled */
    bool linger;                    /* its I/O thread only */
    bool cut;                       /* guarded by g->lock */
    size_t slot;                    /* its index in g->conns (guarded by g->lock) */
} guard_conn;

typedef struct lingerer {
    int fd;
    uint64_t until, idle_until, bytes;
} lingerer;

struct http_guard {
    uint64_t head_ns;
    pthread_mutex_t lock; /* guards everything below */
    guard_conn **conns;   /* the tracked connections, in no order */
    size_t nconns, capconns;
    lingerer lingering[LINGER_MAX];
    size_t nlinger;
    uint64_t sleep_until; /* when the thread wakes by itself (UINT64_MAX: never) */
    bool stop;
    int wake[2]; /* read and write ends: one eventfd on Linux, a pipe elsewhere */
    pthread_t thread;
};

/* The guard thread's wake-up descriptor(s): ends[0] to poll and read, ends[1] to write. */
static int waker_open(int ends[2])
{
#if PORT_LINUX
    ends[0] = ends[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return ends[0] < 0 ? -1 : 0;
#else
    if (pipe(ends) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (fcntl(ends[i], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(ends[i], F_SETFL, fcntl(ends[i], F_GETFL) | O_NONBLOCK) != 0) {
            close(ends[0]);
            close(ends[1]);
            return -1;
        }
    return 0;
#endif
}

static void waker_close(int ends[2])
{
    close(ends[0]);
    if (ends[1] != ends[0])
        close(ends[1]);
}

static void wake(http_guard *g)
{
    uint64_t one = 1; /* an eventfd takes 8 bytes; a pipe any */
    ssize_t k = write(g->wake[1], &one, sizeof one);
    (void)k; /* a full counter or pipe wakes the thread as well */
}

/* With g->lock held: wakes the thread if it sleeps past `when`. */
static void wake_by(http_guard *g, uint64_t when)
{
    if (when < g->sleep_until) {
        g->sleep_until = when;
        wake(g);
    }
}

static void set_waiting(guard_conn *gc, uint64_t since)
{
    atomic_store(&gc->waiting_since, since);
    if (since) {
        http_guard *g = gc->g;
        pthread_mutex_lock(&g->lock);
        wake_by(g, since + g->head_ns);
        pthread_mutex_unlock(&g->lock);
    }
}

static guard_conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_guard_conn_started(http_guard *g, struct MHD_Connection *c, void **socket_ctx)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    guard_conn *gc = xcalloc(1, sizeof *gc);
    gc->g = g;
    gc->fd = ci->connect_fd;
    uint64_t now = http_now_ns();
    atomic_init(&gc->waiting_since, now);
    pthread_mutex_lock(&g->lock);
    if (g->nconns == g->capconns) {
        g->capconns = g->capconns ? 2 * g->capconns : 64;
        g->conns = xrealloc(g->conns, g->capconns * sizeof *g->conns);
    }
    gc->slot = g->nconns;
    g->conns[g->nconns++] = gc;
    wake_by(g, now + g->head_ns);
    pthread_mutex_unlock(&g->lock);
    *socket_ctx = gc;
}

void http_guard_conn_closed(http_guard *g, void **socket_ctx)
{
    guard_conn *gc = *socket_ctx;
    if (!gc)
        return;
    pthread_mutex_lock(&g->lock);
    guard_conn *last = g->conns[--g->nconns];
    g->conns[gc->slot] = last;
    last->slot = gc->slot;
    if (gc->linger && !gc->cut && !g->stop && g->nlinger < LINGER_MAX) {
        int fd = fcntl(gc->fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            shutdown(fd, SHUT_WR); /* the answer is out; a no-op if already done */
            uint64_t now = http_now_ns();
            g->lingering[g->nlinger++] =
                (lingerer){fd, now + LINGER_TOTAL_S * NS, now + LINGER_IDLE_S * NS, 0};
            wake(g);
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(gc);
    *socket_ctx = NULL;
}

void http_guard_request_began(struct MHD_Connection *c)
{
    guard_conn *gc = conn_of(c);
    if (gc)
        atomic_store(&gc->waiting_since, 0);
}

void http_guard_request_ended(struct MHD_Connection *c)
{
    guard_conn *gc = conn_of(c);
    if (gc)
        set_waiting(gc, http_now_ns());
}

void http_guard_linger(struct MHD_Connection *c)
{
    guard_conn *gc = conn_of(c);
    if (gc)
        gc->linger = true;
}

/* With g->lock held: cuts connections past their head deadline; the next deadline. */
static uint64_t cut_late(http_guard *g, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < g->nconns; i++) {
        guard_conn *gc = g->conns[i];
        uint64_t since = atomic_load(&gc->waiting_since);
        if (!since || gc->cut)
            continue;
        if (since + g->head_ns <= now) {
            shutdown(gc->fd, SHUT_RDWR);
            gc->cut = true;
            LOG_D("http", "closed a connection whose request head was not complete in %llu s",
                  (unsigned long long)(g->head_ns / NS));
        } else if (since + g->head_ns < next) {
            next = since + g->head_ns;
        }
    }
    return next;
}

/* With g->lock held: drains the lingering sockets poll found readable (revents in pf,
 * in the same order), closes finished ones; the next lingering deadline. */
static uint64_t drain(http_guard *g, const struct pollfd *pf, size_t npf, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    char buf[16384];
    for (size_t i = 0; i < g->nlinger;) {
        lingerer *l = &g->lingering[i];
        bool done = now >= l->until || now >= l->idle_until || l->bytes >= LINGER_MAX_BYTES;
        const struct pollfd *p = i < npf && pf[i].fd == l->fd ? &pf[i] : NULL;
        while (!done && p && p->revents) {
            ssize_t k = read(l->fd, buf, sizeof buf);
            if (k > 0) {
                l->bytes += (uint64_t)k;
                l->idle_until = now + LINGER_IDLE_S * NS;
                done = l->bytes >= LINGER_MAX_BYTES;
                continue;
            }
            done = k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
            break;
        }
        if (done) {
            close(l->fd);
            g->lingering[i] = g->lingering[--g->nlinger];
            continue; /* the moved one is looked at next (its revents are not in pf[i]) */
        }
        uint64_t t = l->until < l->idle_until ? l->until : l->idle_until;
        if (t < next)
            next = t;
        i++;
    }
    return next;
}

static void *guard_main(void *arg)
{
    http_guard *g = arg;
    struct pollfd pf[LINGER_MAX + 1];
    size_t npf = 0;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        uint64_t now = http_now_ns();
        uint64_t next = cut_late(g, now);
        uint64_t nl = drain(g, pf + 1, npf, now);
        if (nl < next)
            next = nl;
        pf[0] = (struct pollfd){g->wake[0], POLLIN, 0};
        npf = g->nlinger;
        for (size_t i = 0; i < npf; i++)
            pf[i + 1] = (struct pollfd){g->lingering[i].fd, POLLIN, 0};
        g->sleep_until = next;
        pthread_mutex_unlock(&g->lock);
        int ms = -1;
        if (next != UINT64_MAX)
            ms = next <= now ? 0 : (int)((next - now) / 1000000 + 1);
        if (poll(pf, npf + 1, ms) > 0 && (pf[0].revents & POLLIN)) {
            uint64_t v[8]; /* an eventfd's counter, or what the pipe holds */
            ssize_t k = read(g->wake[0], v, sizeof v);
            (void)k;
        }
        pthread_mutex_lock(&g->lock);
    }
    for (size_t i = 0; i < g->nlinger; i++)
        close(g->lingering[i].fd);
    g->nlinger = 0;
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static void guard_free(http_guard *g)
{
    waker_close(g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g->conns);
    free(g);
}

http_guard *http_guard_start(unsigned head_timeout_s)
{
    int wake[2];
    if (waker_open(wake) != 0)
        return NULL;
    http_guard *g = xcalloc(1, sizeof *g);
    g->head_ns = (uint64_t)head_timeout_s * NS;
    g->sleep_until = UINT64_MAX;
    g->wake[0] = wake[0];
    g->wake[1] = wake[1];
    pthread_mutex_init(&g->lock, NULL);
    if (pthread_create(&g->thread, NULL, guard_main, g) == 0)
        return g;
    guard_free(g);
    return NULL;
}

void http_guard_stop(http_guard *g)
{
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    wake(g);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    guard_free(g); /* the daemon has stopped: no connection is tracked any more */
}
