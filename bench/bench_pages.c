/* bench/bench_pages.c — get_messages' store work on one big session: a page of 50
 * with its total_count (store_message_list with total), timed at offset 0, the middle
 * and the last page, and by cursor (since_id) in the middle, for two readers: an admin
 * (every message) and an ordinary agent (public, its own private, agent_only of its
 * type, restricted sessions checked). Also session_list (20 sessions, totals) for the
 * agent. Prints p50/p95 in milliseconds over R repetitions.
 * The session holds N messages (default 100000) from 8 senders of 2 types: 70% public,
 * 10% each private, agent_only and admin_only; they are written with store_message_add.
 * Usage: bench_pages [URL] [N] [R]   (URL default: a fresh SQLite file in /tmp;
 *        on a server the user must be allowed to create tables: the database is
 *        migrated and kept). `make bench` does not run it.
 * Must not: be run as a test or assert on timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/utc.h"
#include "db/db.h"
#include "store/store.h"

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "bench_pages: %s: %s\n", what, e->msg);
    exit(1);
}

/* PostgreSQL: ANALYZE after the load, as autovacuum would do within a minute or so;
 * without it the planner has no statistics for a table that was empty when it last
 * looked, and plans a first page as a bitmap scan of every visible row (40+ ms instead
 * of 0.1 ms at 100,000 messages). */
static void analyze_if_server(const char *url)
{
    if (strncmp(url, "postgres", 8) != 0)
        return;
    db_t *db;
    db_conn *c;
    err_t e;
    if (db_open(url, NULL, &db, &e) != ERR_OK)
        die("analyze: open", &e);
    if (db_acquire(db, DB_WRITE, &c, &e) != ERR_OK ||
        db_exec(c, "ANALYZE messages, visibility_counts, sessions", &e) != ERR_OK)
        die("analyze", &e);
    db_release(c);
    db_close(db);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *reader, const char *what, int64_t *us, int r, int64_t total,
                   size_t got)
{
    qsort(us, (size_t)r, sizeof *us, cmp_i64);
    printf("%-6s %-22s %8.3f %8.3f %9lld %4zu\n", reader, what, (double)us[r / 2] / 1000.0,
           (double)us[r * 95 / 100] / 1000.0, (long long)total, got);
}

/* R pages at offset (or after since_id when > 0), with the total */
static void pages(store_t *st, const char *sid, const store_vis *vis, const char *reader,
                  const char *what, int offset, int64_t since, int r, int64_t *us)
{
    err_t e;
    int64_t total = 0;
    size_t got = 0;
    for (int i = 0; i < r; i++) {
        store_msg_query q = {
            .session_id = sid, .vis = *vis, .since_id = since, .limit = 50, .offset = offset};
        store_messages l;
        int64_t t0 = utc_mono_us();
        if (store_message_list(st, &q, &l, &total, &e) != ERR_OK)
            die("message_list", &e);
        us[i] = utc_mono_us() - t0;
        got = l.n;
        store_messages_free(&l);
    }
    report(reader, what, us, r, total, got);
}

/* the id of the visible message at position pos (by a cursor walk; not timed) */
static int64_t id_at(store_t *st, const char *sid, const store_vis *vis, int64_t pos)
{
    err_t e;
    store_msg_query q = {.session_id = sid, .vis = *vis, .limit = 1, .offset = (int)pos};
    store_messages l;
    if (store_message_list(st, &q, &l, NULL, &e) != ERR_OK)
        die("message_list", &e);
    int64_t id = l.n ? l.v[0].id : 0;
    store_messages_free(&l);
    return id;
}

int main(int argc, char **argv)
{
    char path[256];
    snprintf(path, sizeof path, "sqlite:////tmp/bench_pages-%d.db", (int)getpid());
    const char *url = argc > 1 && *argv[1] ? argv[1] : path;
    int n = argc > 2 ? atoi(argv[2]) : 100000, r = argc > 3 ? atoi(argv[3]) : 200;
    err_t e;
    store_t *st;
    if (store_open_with(url, NULL, STORE_OPEN_MIGRATE, &st, &e) != ERR_OK)
        die("open", &e);
    char sid[64];
    ids_session(sid);
    store_session s = {.id = sid, .purpose = "bench", .created_by = "agent-0", .is_active = true};
    if (store_session_create(st, &s, NULL, &e) != ERR_OK)
        die("session", &e);
    for (int i = 0; i < 19; i++) { /* other sessions for session_list */
        char other[64];
        ids_session(other);
        store_session o2 = {.id = other, .purpose = "x", .created_by = "agent-1", .is_active = 1};
        if (store_session_create(st, &o2, NULL, &e) != ERR_OK)
            die("session", &e);
    }
    static const char *const senders[] = {"agent-0", "agent-1", "agent-2", "agent-3",
                                          "agent-4", "agent-5", "agent-6", "agent-7"};
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        int k = i % 10;
        store_visibility v = k < 7    ? STORE_VIS_PUBLIC
                             : k == 7 ? STORE_VIS_PRIVATE
                             : k == 8 ? STORE_VIS_AGENT_ONLY
                                      : STORE_VIS_ADMIN_ONLY;
        store_message m = {.session_id = sid,
                           .sender = (char *)senders[(i / 10) % 8],
                           .sender_type = (char *)((i / 10) % 2 ? "coder" : "reviewer"),
                           .content = "A status line of a typical length for an agent's note.",
                           .visibility = v};
        if (store_message_add(st, &m, NULL, &e) != ERR_OK)
            die("message_add", &e);
    }
    printf("seeded %d messages in %.1f s (%s)\n", n, (double)(utc_mono_us() - t0) / 1e6, url);
    analyze_if_server(url);
    printf("%-6s %-22s %8s %8s %9s %4s\n", "reader", "page of 50", "p50 ms", "p95 ms", "total",
           "rows");
    int64_t *us = calloc((size_t)r, sizeof *us);
    store_vis admin = {.any = STORE_VIS_EVERY};
    store_vis agent = {.any = STORE_VIS_BIT(STORE_VIS_PUBLIC),
                       .private_of = "agent-0",
                       .agent_only_of = "reviewer",
                       .member_id = "agent-0",
                       .member_type = "reviewer"};
    const store_vis *readers[] = {&admin, &agent};
    const char *names[] = {"admin", "agent"};
    for (int k = 0; k < 2; k++) {
        int64_t total = 0;
        store_msg_query q = {.session_id = sid, .vis = *readers[k], .limit = 1};
        store_messages l;
        if (store_message_list(st, &q, &l, &total, &e) != ERR_OK)
            die("message_list", &e);
        store_messages_free(&l);
        pages(st, sid, readers[k], names[k], "offset 0", 0, 0, r, us);
        pages(st, sid, readers[k], names[k], "offset middle", (int)(total / 2), 0, r, us);
        pages(st, sid, readers[k], names[k], "offset last page", (int)(total - 50), 0, r, us);
        pages(st, sid, readers[k], names[k], "since_id middle", 0,
              id_at(st, sid, readers[k], total / 2), r, us);
    }
    for (int i = 0; i < r; i++) {
        store_session_query q = {.limit = 20, .vis = agent};
        store_sessions l;
        int64_t total = 0;
        int64_t t1 = utc_mono_us();
        if (store_session_list(st, &q, &l, &total, &e) != ERR_OK)
            die("session_list", &e);
        us[i] = utc_mono_us() - t1;
        store_sessions_free(&l);
    }
    report("agent", "session_list 20", us, r, 20, 20);
    free(us);
    store_close(st);
    if (url == path)
        unlink(path + strlen("sqlite:///"));
    return 0;
}
