/* bench/bench_store.c — the store against hand-written raw sqlite3 calls doing the
 * same statements, on an on-disk WAL database with the same PRAGMAs:
 *   add_message : one write transaction per message — touch the session, insert the
 *                 message, insert its audit record (what store_sql does);
 *   page of 50  : one read transaction — count the visible messages, fetch 50 of
 *                 them at an offset, copying every column out (what get_messages
 *                 needs), with the visibility clauses of an ordinary agent.
 * Each side runs ROUNDS times alternately; the best rate of each is reported, and
 * the cost of the store over raw as a percentage (goal: at most 10%).
 * Pages read a session of 1000 messages (a fifth of them private to the reader).
 * Usage: bench_store [messages-per-round] [pages-per-round] [rounds]
 * Must not: be run as a test or assert on timing. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "store/store.h"
#include "store/store_sql.h"

enum { PAGE_SESSION = 1000 };

static const char *CONTENT =
    "Found the race in the pool: the waiter re-checks the idle list after the condvar wakes, "
    "but the overflow counter is read before the lock. Proposed fix attached.";

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "bench: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

static void sq(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "bench: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

/* ---- a fresh database: migrated schema, one session ------------------------------- */

static char *fresh_db(const char *dir, const char *name, char session_id[IDS_SESSION_LEN])
{
    char *path = xmalloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    sbuf_t url = SBUF_INIT;
    sbuf_printf(&url, "sqlite:///%s", path);
    db_opts o;
    db_opts_default(&o);
    db_t *db;
    err_t e;
    if (db_open(sbuf_cstr(&url), &o, &db, &e) != ERR_OK)
        die("open", &e);
    if (migrate_up(db, -1, NULL, &e) != ERR_OK)
        die("migrate", &e);
    store_t *st;
    if (store_sql_open(db, true, &st, &e) != ERR_OK)
        die("store", &e);
    ids_session(session_id);
    store_session s = {.id = session_id, .purpose = "benchmark", .created_by = "bench"};
    store_audit_in a = {0};
    if (st->vt->session_create(st, &s, &a, &e) != ERR_OK)
        die("session", &e);
    st->vt->close(st);
    sbuf_free(&url);
    return path;
}

/* ---- store side ------------------------------------------------------------------------ */

static store_t *open_store(const char *path)
{
    sbuf_t url = SBUF_INIT;
    sbuf_printf(&url, "sqlite:///%s", path);
    db_opts o;
    db_opts_default(&o);
    db_t *db;
    store_t *st = NULL;
    err_t e;
    if (db_open(sbuf_cstr(&url), &o, &db, &e) != ERR_OK || store_sql_open(db, true, &st, &e) != ERR_OK)
        die("open store", &e);
    sbuf_free(&url);
    return st;
}

static double store_adds(store_t *st, const char *sid, int n)
{
    err_t e;
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        store_message m = {.session_id = (char *)sid, .sender = "agent-7", .sender_type = "claude",
                           .content = (char *)CONTENT, .visibility = i % 5 ? "public" : "private"};
        store_audit_in a = {0};
        if (st->vt->message_add(st, &m, &a, &e) != ERR_OK)
            die("message_add", &e);
    }
    return n / ((double)(utc_mono_us() - t0) / 1e6);
}

static double store_pages(store_t *st, const char *sid, int n, int total)
{
    err_t e;
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        store_msg_query q = {.session_id = sid,
                             .vis = {.public_ = true, .private_of = "agent-7", .agent_only_of = "claude"},
                             .limit = 50, .offset = (i * 50) % (total - 50), .want_total = true};
        store_messages out;
        int64_t tot;
        if (st->vt->message_list(st, &q, &out, &tot, &e) != ERR_OK || out.n != 50)
            die("message_list", &e);
        store_messages_free(&out);
    }
    return n / ((double)(utc_mono_us() - t0) / 1e6);
}

/* ---- raw sqlite3 side: the same statements, prepared once ----------------------------- */

typedef struct raw {
    sqlite3 *db;
    sqlite3_stmt *begin_w, *begin_r, *commit, *touch, *ins, *audit, *count, *page;
} raw;

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    sq(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL), sql);
    return s;
}

static void raw_open(raw *r, const char *path)
{
    sq(NULL, sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL), "open");
    sq(r->db, sqlite3_exec(r->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                                  " PRAGMA busy_timeout=5000; PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY",
                           NULL, NULL, NULL), "pragmas");
    r->begin_w = prep(r->db, "BEGIN IMMEDIATE");
    r->begin_r = prep(r->db, "BEGIN");
    r->commit = prep(r->db, "COMMIT");
    r->touch = prep(r->db, "UPDATE sessions SET updated_at = ? WHERE id = ?");
    r->ins = prep(r->db, "INSERT INTO messages (session_id, sender, sender_type, content, visibility,"
                         " message_type, metadata, parent_message_id, created_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    r->audit = prep(r->db, "INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource,"
                           " metadata) VALUES (?, ?, ?, ?, ?, ?)");
    const char *vis = " AND (visibility = 'public' OR (visibility = 'private' AND sender = ?)"
                      " OR (visibility = 'agent_only' AND sender_type = ?))";
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM messages WHERE session_id = ?%s", vis);
    r->count = prep(r->db, sql);
    snprintf(sql, sizeof sql,
             "SELECT id, session_id, sender, sender_type, content, visibility, message_type, metadata,"
             " parent_message_id, created_at FROM messages WHERE session_id = ?%s ORDER BY id LIMIT ? OFFSET ?",
             vis);
    r->page = prep(r->db, sql);
}

static void raw_close(raw *r)
{
    sqlite3_stmt *all[] = {r->begin_w, r->begin_r, r->commit, r->touch, r->ins, r->audit, r->count, r->page};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(r->db);
}

static void run1(raw *r, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        sq(r->db, rc, sqlite3_sql(s));
    sqlite3_reset(s);
}

static double raw_adds(raw *r, const char *sid, int n)
{
    char ts[UTC_ISO_LEN], res[48];
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        run1(r, r->begin_w);
        utc_format(utc_now(), ts);
        sqlite3_bind_text(r->touch, 1, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->touch, 2, sid, -1, SQLITE_STATIC);
        run1(r, r->touch);
        if (sqlite3_changes(r->db) != 1) {
            fprintf(stderr, "bench: raw: session missing\n");
            exit(1);
        }
        sqlite3_bind_text(r->ins, 1, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 2, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 3, "claude", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 4, CONTENT, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 5, i % 5 ? "public" : "private", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 6, "agent_response", -1, SQLITE_STATIC);
        sqlite3_bind_null(r->ins, 7);
        sqlite3_bind_null(r->ins, 8);
        sqlite3_bind_text(r->ins, 9, ts, -1, SQLITE_STATIC);
        run1(r, r->ins);
        sqlite3_int64 id = sqlite3_last_insert_rowid(r->db);
        snprintf(res, sizeof res, "message:%lld", (long long)id);
        utc_format(utc_now(), ts);
        sqlite3_bind_text(r->audit, 1, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 2, "message_added", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 3, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 4, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 5, res, -1, SQLITE_STATIC);
        sqlite3_bind_null(r->audit, 6);
        run1(r, r->audit);
        run1(r, r->commit);
    }
    return n / ((double)(utc_mono_us() - t0) / 1e6);
}

typedef struct raw_msg {
    int64_t id, parent;
    char *session_id, *sender, *sender_type, *content, *visibility, *message_type, *metadata;
    utc_us at;
} raw_msg;

static char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

static double raw_pages(raw *r, const char *sid, int n, int total)
{
    raw_msg *v = xcalloc(50, sizeof *v);
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        run1(r, r->begin_r);
        sqlite3_bind_text(r->count, 1, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->count, 2, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->count, 3, "claude", -1, SQLITE_STATIC);
        if (sqlite3_step(r->count) != SQLITE_ROW)
            sq(r->db, SQLITE_ERROR, "count");
        volatile int64_t tot = sqlite3_column_int64(r->count, 0);
        (void)tot;
        sqlite3_reset(r->count);
        sqlite3_bind_text(r->page, 1, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->page, 2, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->page, 3, "claude", -1, SQLITE_STATIC);
        sqlite3_bind_int(r->page, 4, 50);
        sqlite3_bind_int(r->page, 5, (i * 50) % (total - 50));
        int k = 0, rc;
        while ((rc = sqlite3_step(r->page)) == SQLITE_ROW) {
            raw_msg *m = &v[k++];
            m->id = sqlite3_column_int64(r->page, 0);
            m->session_id = col(r->page, 1);
            m->sender = col(r->page, 2);
            m->sender_type = col(r->page, 3);
            m->content = col(r->page, 4);
            m->visibility = col(r->page, 5);
            m->message_type = col(r->page, 6);
            m->metadata = col(r->page, 7);
            m->parent = sqlite3_column_int64(r->page, 8);
            utc_parse((const char *)sqlite3_column_text(r->page, 9), &m->at, NULL);
        }
        sq(r->db, rc, "page");
        sqlite3_reset(r->page);
        run1(r, r->commit);
        if (k != 50) {
            fprintf(stderr, "bench: raw page had %d rows\n", k);
            exit(1);
        }
        for (int j = 0; j < k; j++) {
            free(v[j].session_id); free(v[j].sender); free(v[j].sender_type); free(v[j].content);
            free(v[j].visibility); free(v[j].message_type); free(v[j].metadata);
        }
    }
    free(v);
    return n / ((double)(utc_mono_us() - t0) / 1e6);
}

static void row(const char *op, double st, double rw)
{
    printf("| %-26s | %12.0f | %12.0f | %7.3f | %+6.1f%% |\n", op, st, rw, rw / st, (rw / st - 1) * 100);
}

int main(int argc, char **argv)
{
    int nadd = argc > 1 ? atoi(argv[1]) : 5000;
    int npage = argc > 2 ? atoi(argv[2]) : 5000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (nadd < 100 || npage < 1 || rounds < 1) {
        fprintf(stderr, "usage: bench_store [messages-per-round >= 100] [pages-per-round] [rounds]\n");
        return 2;
    }
    char dir[] = "/tmp/ctxd-bench.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char sid_s[IDS_SESSION_LEN], sid_r[IDS_SESSION_LEN];
    char *ps = fresh_db(dir, "store.db", sid_s);
    char *pr = fresh_db(dir, "raw.db", sid_r);
    store_t *st = open_store(ps);
    raw r;
    raw_open(&r, pr);
    /* warm-up: fill each session with PAGE_SESSION messages for the page benchmark,
     * so pages read a session of realistic size whatever the add rounds did. */
    store_adds(st, sid_s, PAGE_SESSION);
    raw_adds(&r, sid_r, PAGE_SESSION);

    double best_sa = 0, best_ra = 0, best_sp = 0, best_rp = 0;
    for (int i = 0; i < rounds; i++) {
        double a = store_adds(st, sid_s, nadd), b = raw_adds(&r, sid_r, nadd);
        if (a > best_sa) best_sa = a;
        if (b > best_ra) best_ra = b;
    }
    /* pages read a separate session of PAGE_SESSION messages */
    char pg_s[IDS_SESSION_LEN], pg_r[IDS_SESSION_LEN];
    {
        err_t e;
        ids_session(pg_s);
        store_session ss = {.id = pg_s, .purpose = "pages", .created_by = "bench"};
        store_audit_in a = {0};
        if (st->vt->session_create(st, &ss, &a, &e) != ERR_OK)
            die("session", &e);
        store_adds(st, pg_s, PAGE_SESSION);
        ids_session(pg_r);
        sqlite3_stmt *ins = prep(r.db, "INSERT INTO sessions (id, purpose, created_by, is_active, created_at,"
                                       " updated_at) VALUES (?, 'pages', 'bench', 1, ?, ?)");
        char ts[UTC_ISO_LEN];
        utc_format(utc_now(), ts);
        sqlite3_bind_text(ins, 1, pg_r, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, ts, -1, SQLITE_STATIC);
        run1(&r, ins);
        sqlite3_finalize(ins);
        raw_adds(&r, pg_r, PAGE_SESSION);
    }
    int total = PAGE_SESSION;
    for (int i = 0; i < rounds; i++) {
        double a = store_pages(st, pg_s, npage, total), b = raw_pages(&r, pg_r, npage, total);
        if (a > best_sp) best_sp = a;
        if (b > best_rp) best_rp = b;
    }
    printf("ctxd storage benchmark: SQLite %s, on-disk WAL file, synchronous=NORMAL\n", sqlite3_libversion());
    printf("%d add_message x %d rounds; %d pages x %d rounds in a session of %d messages; best round of each\n\n",
           nadd, rounds, npage, rounds, total);
    printf("| %-26s | %12s | %12s | %7s | %7s |\n", "operation", "store ops/s", "raw ops/s", "raw/store",
           "cost");
    printf("|%s|%s|%s|%s|%s|\n", "----------------------------", "--------------", "--------------", "---------",
           "---------");
    row("add_message (1 tx each)", best_sa, best_ra);
    row("page of 50 (count + rows)", best_sp, best_rp);
    printf("\ncost = how much more time the store takes per operation than raw sqlite3 (goal <= 10%%)\n");

    st->vt->close(st);
    raw_close(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    free(ps);
    free(pr);
    return 0;
}
