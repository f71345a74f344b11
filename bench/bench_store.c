/* bench/bench_store.c — the store against hand-written calls of each backend's own
 * client library doing the same statements, in one table with a row per (backend,
 * operation):
 *   add_message : one write transaction per message — touch the session, insert the
 *                 message (PostgreSQL: INSERT ... RETURNING id; SQLite, MariaDB: the
 *                 last insert id), insert its audit record (what store_sql does);
 *   page of 50  : one read transaction — count the visible messages, fetch 50 of
 *                 them at an offset, copying every column out (what get_messages
 *                 needs, timestamps parsed), with the visibility clauses of an
 *                 ordinary agent.
 * Backends: SQLite always (raw sqlite3, on-disk WAL file, the store's PRAGMAs);
 * PostgreSQL with --pg URL or CTXD_BENCH_PG_URL (raw libpq: PQprepare'd named
 * statements, PQexecPrepared, text parameters, text results, as the driver does);
 * MariaDB/MySQL with --mysql URL or CTXD_BENCH_MYSQL_URL (raw Connector/C:
 * MYSQL_STMT prepared once, parameters and results bound to buffers). On a
 * server each side gets its own fresh database (CREATE DATABASE; dropped at the
 * end) migrated with migrate_up; the user of the URL must be allowed to create
 * databases. Each side runs ROUNDS times alternately (and the side that goes
 * first alternates too); the best rate of each is reported, and the cost of the
 * store over raw as a percentage (goal: at most 10%).
 * Pages read a separate session of 1000 messages (a fifth of them private to the
 * reader).
 * Usage: bench_store [--pg URL] [--mysql URL] [--no-sqlite]
 *                    [messages-per-round] [pages-per-round] [rounds]
 *        --no-sqlite: only the servers (e.g. to profile one of them); sizes given
 *        apply to every backend; defaults: SQLite 5000 5000 5, servers 250 150 20.
 *        `make bench` (bench/run.sh) starts throw-away servers for it.
 * Must not: be run as a test or assert on timing. */
#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "db/db.h"
#include "db/url.h"
#include "migrate/migrate.h"
#include "store/store.h"
#include "store/store_sql.h"

enum {
    PAGE_SESSION = 1000,
    PAGE = 50
};
/* Servers: a round trip per statement makes each operation 10-100x slower than
 * on SQLite, so rounds are shorter, and more of them, so that the best round of
 * each side is likely to have missed whatever else the machine was doing. */
enum {
    SRV_ADDS = 250,
    SRV_PAGES = 150,
    SRV_ROUNDS = 20
};

static const char *CONTENT =
    "Found the race in the pool: the waiter re-checks the idle list after the condvar wakes, "
    "but the overflow counter is read before the lock. Proposed fix attached.";

/* The statements store_sql runs for these two operations (placeholders `?`). */
#define SQL_TOUCH "UPDATE sessions SET updated_at = ? WHERE id = ?"
#define SQL_INSERT \
    "INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_AUDIT \
    "INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource," \
    " metadata) VALUES (?, ?, ?, ?, ?, ?)"
#define SQL_VIS \
    " AND (visibility = 'public' OR (visibility = 'private' AND sender = ?)" \
    " OR (visibility = 'agent_only' AND sender_type = ?))"
#define SQL_COUNT "SELECT COUNT(*) FROM messages WHERE session_id = ?" SQL_VIS
#define SQL_PAGE \
    "SELECT id, session_id, sender, sender_type, content, visibility, message_type, metadata," \
    " parent_message_id, created_at FROM messages WHERE session_id = ?" SQL_VIS \
    " ORDER BY id LIMIT ? OFFSET ?"
/* The same with PostgreSQL's $n, as pg_driver's rewrite produces them. */
#define PG_TOUCH "UPDATE sessions SET updated_at = $1 WHERE id = $2"
#define PG_INSERT \
    "INSERT INTO messages (session_id, sender, sender_type, content, visibility," \
    " message_type, metadata, parent_message_id, created_at)" \
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
#define PG_AUDIT \
    "INSERT INTO audit_log (created_at, event_type, agent_id, session_id, resource," \
    " metadata) VALUES ($1, $2, $3, $4, $5, $6)"
#define PG_VIS \
    " AND (visibility = 'public' OR (visibility = 'private' AND sender = $2)" \
    " OR (visibility = 'agent_only' AND sender_type = $3))"
#define PG_COUNT "SELECT COUNT(*) FROM messages WHERE session_id = $1" PG_VIS
#define PG_PAGE \
    "SELECT id, session_id, sender, sender_type, content, visibility, message_type, metadata," \
    " parent_message_id, created_at FROM messages WHERE session_id = $1" PG_VIS \
    " ORDER BY id LIMIT $4 OFFSET $5"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench: %s: %s\n", what, msg ? msg : "");
    exit(1);
}

static void die_e(const char *what, const err_t *e)
{
    die(what, e ? e->msg : "");
}

static double rate(int n, int64_t t0)
{
    return n / ((double)(utc_mono_us() - t0) / 1e6);
}

/* A message of the raw sides, copied out of the result as the store does. */
typedef struct raw_msg {
    int64_t id, parent;
    char *session_id, *sender, *sender_type, *content, *visibility, *message_type, *metadata;
    utc_us at;
} raw_msg;

static void raw_msgs_free(raw_msg *v, int k)
{
    for (int j = 0; j < k; j++) {
        free(v[j].session_id);
        free(v[j].sender);
        free(v[j].sender_type);
        free(v[j].content);
        free(v[j].visibility);
        free(v[j].message_type);
        free(v[j].metadata);
    }
}

/* ---- databases: a fresh, migrated one per side, with two sessions ---------------- */

typedef struct side_db {
    char *url;       /* the store's URL of this side's database */
    char *server_db; /* the database created on the server (NULL for SQLite) */
    char add_sid[IDS_SESSION_LEN], page_sid[IDS_SESSION_LEN];
} side_db;

/* The URL with its database name (the path up to '?') replaced by `db`. */
static char *with_database(const char *url, const char *old, const char *db)
{
    const char *q = strchr(url, '?');
    size_t head = q ? (size_t)(q - url) : strlen(url);
    size_t olen = strlen(old);
    if (head < olen || strncmp(url + head - olen, old, olen) != 0)
        die("URL", "cannot place the database name in the URL");
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%.*s%s%s", (int)(head - olen), url, db, q ? q : "");
    return sbuf_detach(&b);
}

/* libpq connection parameters from a URL (every option that is a libpq keyword),
 * with the driver's defaults; dbname overridden when db is not NULL. */
static PGconn *pg_connect_url(const db_url *u, const char *db)
{
    PQconninfoOption *defs = PQconndefaults();
    const char **k = xcalloc(u->nopts + 10, sizeof *k), **v = xcalloc(u->nopts + 10, sizeof *v);
    size_t n = 0;
    char port[16];
    snprintf(port, sizeof port, "%d", u->port ? u->port : 5432);
    k[n] = "host";
    v[n++] = u->host;
    k[n] = "port";
    v[n++] = port;
    if (u->user) {
        k[n] = "user";
        v[n++] = u->user;
    }
    if (u->password) {
        k[n] = "password";
        v[n++] = u->password;
    }
    k[n] = "dbname";
    v[n++] = db ? db : u->database;
    k[n] = "fallback_application_name";
    v[n++] = "ctxd";
    k[n] = "client_encoding";
    v[n++] = "UTF8";
    for (size_t i = 0; i < u->nopts; i++)
        for (PQconninfoOption *d = defs; d && d->keyword; d++)
            if (strcmp(d->keyword, u->opts[i].key) == 0) {
                k[n] = u->opts[i].key;
                v[n++] = u->opts[i].value;
                break;
            }
    k[n] = v[n] = NULL;
    PGconn *c = PQconnectdbParams(k, v, 0);
    free(k);
    free(v);
    PQconninfoFree(defs);
    if (PQstatus(c) != CONNECTION_OK)
        die("PostgreSQL", PQerrorMessage(c));
    return c;
}

static MYSQL *my_connect_url(const db_url *u, const char *db)
{
    MYSQL *m = mysql_init(NULL);
    my_bool off = 0;
    unsigned proto = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (u->host && *u->host && !str_eq_ci(u->host, "localhost"))
        mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    if (!mysql_real_connect(m, u->host && *u->host ? u->host : "localhost", u->user, u->password,
                            db, (unsigned)(u->port ? u->port : 3306),
                            db_url_opt_get(u, "unix_socket"), CLIENT_FOUND_ROWS))
        die("MariaDB", mysql_error(m));
    return m;
}

static void server_sql(const char *url, const char *sql)
{
    db_url *u;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK)
        die_e("URL", &e);
    if (u->backend == DB_BACKEND_POSTGRES) {
        PGconn *c = pg_connect_url(u, NULL);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            die(sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    } else {
        MYSQL *m = my_connect_url(u, NULL);
        if (mysql_query(m, sql) != 0)
            die(sql, mysql_error(m));
        mysql_close(m);
    }
    db_url_free(u);
}

/* sqlite: a file in dir; a server: a new database next to the one the URL names. */
static void fresh_db(db_backend b, const char *base, const char *name, side_db *out)
{
    memset(out, 0, sizeof *out);
    sbuf_t s = SBUF_INIT;
    if (b == DB_BACKEND_SQLITE) {
        sbuf_printf(&s, "sqlite:///%s/%s.db", base, name);
        out->url = sbuf_detach(&s);
    } else {
        db_url *u;
        err_t e;
        if (db_url_parse(base, &u, &e) != ERR_OK)
            die_e("URL", &e);
        if (!u->database)
            die("URL", "names no database");
        unsigned char r[3];
        ids_random(r, sizeof r);
        sbuf_printf(&s, "ctxd_bench_%ld_%s_%02x%02x%02x", (long)getpid(), name, r[0], r[1], r[2]);
        out->server_db = sbuf_detach(&s);
        sbuf_printf(&s, "CREATE DATABASE %s%s", out->server_db,
                    b == DB_BACKEND_MYSQL ? " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                                          : "");
        server_sql(base, sbuf_cstr(&s));
        sbuf_free(&s);
        out->url = with_database(base, u->database, out->server_db);
        db_url_free(u);
    }
    db_opts o;
    db_opts_default(&o);
    db_t *db;
    err_t e;
    if (db_open(out->url, &o, &db, &e) != ERR_OK)
        die_e("open", &e);
    if (migrate_up(db, -1, NULL, &e) != ERR_OK)
        die_e("migrate", &e);
    store_t *st;
    if (store_sql_open(db, true, &st, &e) != ERR_OK)
        die_e("store", &e);
    ids_session(out->add_sid);
    ids_session(out->page_sid);
    store_session s1 = {.id = out->add_sid, .purpose = "benchmark", .created_by = "bench"};
    store_session s2 = {.id = out->page_sid, .purpose = "pages", .created_by = "bench"};
    store_audit_in a = {0};
    if (store_session_create(st, &s1, &a, &e) != ERR_OK ||
        store_session_create(st, &s2, &a, &e) != ERR_OK)
        die_e("session", &e);
    store_close(st);
}

static void drop_db(const char *base, side_db *d)
{
    if (d->server_db) {
        db_url *u;
        err_t e;
        if (db_url_parse(base, &u, &e) != ERR_OK)
            die_e("URL", &e);
        sbuf_t s = SBUF_INIT;
        sbuf_printf(&s,
                    u->backend == DB_BACKEND_POSTGRES ? "DROP DATABASE IF EXISTS %s WITH (FORCE)"
                                                      : "DROP DATABASE IF EXISTS %s",
                    d->server_db);
        server_sql(base, sbuf_cstr(&s));
        sbuf_free(&s);
        db_url_free(u);
    }
    free(d->url);
    free(d->server_db);
}

/* ---- store side ------------------------------------------------------------------------ */

static store_t *open_store(const char *url)
{
    db_opts o;
    db_opts_default(&o);
    db_t *db;
    store_t *st = NULL;
    err_t e;
    if (db_open(url, &o, &db, &e) != ERR_OK || store_sql_open(db, true, &st, &e) != ERR_OK)
        die_e("open store", &e);
    return st;
}

__attribute__((noinline)) static double store_adds(store_t *st, const char *sid, int n)
{
    err_t e;
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        store_message m = {.session_id = (char *)sid,
                           .sender = "agent-7",
                           .sender_type = "claude",
                           .content = (char *)CONTENT,
                           .visibility = i % 5 ? STORE_VIS_PUBLIC : STORE_VIS_PRIVATE};
        store_audit_in a = {0};
        if (store_message_add(st, &m, &a, &e) != ERR_OK)
            die_e("message_add", &e);
    }
    return rate(n, t0);
}

__attribute__((noinline)) static double store_pages(store_t *st, const char *sid, int n, int total)
{
    err_t e;
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        store_msg_query q = {.session_id = sid,
                             .vis = {.any = STORE_VIS_BIT(STORE_VIS_PUBLIC),
                                     .private_of = "agent-7",
                                     .agent_only_of = "claude"},
                             .limit = PAGE,
                             .offset = (i * PAGE) % (total - PAGE)};
        store_messages out;
        int64_t tot;
        if (store_message_list(st, &q, &out, &tot, &e) != ERR_OK)
            die_e("message_list", &e);
        if (out.n != PAGE)
            die("message_list", "short page");
        store_messages_free(&out);
    }
    return rate(n, t0);
}

/* ---- raw sides: one set of functions per client library ------------------------------- */

typedef struct raw_ops {
    void *(*open)(const char *url);
    double (*adds)(void *r, const char *sid, int n);
    double (*pages)(void *r, const char *sid, int n, int total);
    void (*close)(void *r);
} raw_ops;

/* ---- raw sqlite3: the same statements, prepared once ----------------------------------- */

typedef struct sq_raw {
    sqlite3 *db;
    sqlite3_stmt *begin_w, *begin_r, *commit, *touch, *ins, *audit, *count, *page;
} sq_raw;

static void sq(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die(what, db ? sqlite3_errmsg(db) : "error");
}

static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    sq(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL), sql);
    return s;
}

static void *sq_open(const char *url)
{
    sq_raw *r = xcalloc(1, sizeof *r);
    const char *path = url + strlen("sqlite:///");
    sq(NULL, sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL),
       "open");
    sq(r->db,
       sqlite3_exec(r->db,
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                    " PRAGMA busy_timeout=5000; PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY",
                    NULL, NULL, NULL),
       "pragmas");
    r->begin_w = sq_prep(r->db, "BEGIN IMMEDIATE");
    r->begin_r = sq_prep(r->db, "BEGIN");
    r->commit = sq_prep(r->db, "COMMIT");
    r->touch = sq_prep(r->db, SQL_TOUCH);
    r->ins = sq_prep(r->db, SQL_INSERT);
    r->audit = sq_prep(r->db, SQL_AUDIT);
    r->count = sq_prep(r->db, SQL_COUNT);
    r->page = sq_prep(r->db, SQL_PAGE);
    return r;
}

static void sq_close(void *rv)
{
    sq_raw *r = rv;
    sqlite3_stmt *all[] = {r->begin_w, r->begin_r, r->commit, r->touch,
                           r->ins,     r->audit,   r->count,  r->page};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(r->db);
    free(r);
}

static void sq_run1(sq_raw *r, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        sq(r->db, rc, sqlite3_sql(s));
    sqlite3_reset(s);
}

static double sq_adds(void *rv, const char *sid, int n)
{
    sq_raw *r = rv;
    char ts[UTC_ISO_LEN], res[48];
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        sq_run1(r, r->begin_w);
        utc_format(utc_now(), ts);
        sqlite3_bind_text(r->touch, 1, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->touch, 2, sid, -1, SQLITE_STATIC);
        sq_run1(r, r->touch);
        if (sqlite3_changes(r->db) != 1)
            die("raw", "session missing");
        sqlite3_bind_text(r->ins, 1, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 2, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 3, "claude", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 4, CONTENT, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 5, i % 5 ? "public" : "private", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->ins, 6, "agent_response", -1, SQLITE_STATIC);
        sqlite3_bind_null(r->ins, 7);
        sqlite3_bind_null(r->ins, 8);
        sqlite3_bind_text(r->ins, 9, ts, -1, SQLITE_STATIC);
        sq_run1(r, r->ins);
        sqlite3_int64 id = sqlite3_last_insert_rowid(r->db);
        snprintf(res, sizeof res, "message:%lld", (long long)id);
        utc_format(utc_now(), ts);
        sqlite3_bind_text(r->audit, 1, ts, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 2, "message_added", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 3, "agent-7", -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 4, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(r->audit, 5, res, -1, SQLITE_STATIC);
        sqlite3_bind_null(r->audit, 6);
        sq_run1(r, r->audit);
        sq_run1(r, r->commit);
    }
    return rate(n, t0);
}

static char *sq_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

static double sq_pages(void *rv, const char *sid, int n, int total)
{
    sq_raw *r = rv;
    raw_msg *v = xcalloc(PAGE, sizeof *v);
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        sq_run1(r, r->begin_r);
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
        sqlite3_bind_int(r->page, 4, PAGE);
        sqlite3_bind_int(r->page, 5, (i * PAGE) % (total - PAGE));
        int k = 0, rc;
        while ((rc = sqlite3_step(r->page)) == SQLITE_ROW && k < PAGE) {
            raw_msg *m = &v[k++];
            m->id = sqlite3_column_int64(r->page, 0);
            m->session_id = sq_col(r->page, 1);
            m->sender = sq_col(r->page, 2);
            m->sender_type = sq_col(r->page, 3);
            m->content = sq_col(r->page, 4);
            m->visibility = sq_col(r->page, 5);
            m->message_type = sq_col(r->page, 6);
            m->metadata = sq_col(r->page, 7);
            m->parent = sqlite3_column_int64(r->page, 8);
            utc_parse((const char *)sqlite3_column_text(r->page, 9), &m->at, NULL);
        }
        sq(r->db, rc, "page");
        sqlite3_reset(r->page);
        sq_run1(r, r->commit);
        if (k != PAGE)
            die("raw", "short page");
        raw_msgs_free(v, k);
    }
    free(v);
    return rate(n, t0);
}

static const raw_ops SQ_OPS = {sq_open, sq_adds, sq_pages, sq_close};

/* ---- raw libpq: named prepared statements, text parameters and results ----------------- */

typedef struct pg_raw {
    PGconn *c;
} pg_raw;

static PGresult *pg_ok(pg_raw *r, PGresult *res, ExecStatusType want, const char *what)
{
    if (PQresultStatus(res) != want)
        die(what, PQerrorMessage(r->c));
    return res;
}

static void pg_cmd(pg_raw *r, const char *sql)
{
    PQclear(pg_ok(r, PQexec(r->c, sql), PGRES_COMMAND_OK, sql));
}

static void *pgr_open(const char *url)
{
    pg_raw *r = xcalloc(1, sizeof *r);
    db_url *u;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK)
        die_e("URL", &e);
    r->c = pg_connect_url(u, NULL);
    db_url_free(u);
    PQclear(pg_ok(r,
                  PQexec(r->c, "SELECT set_config('TimeZone', 'UTC', false),"
                               " set_config('DateStyle', 'ISO, YMD', false)"),
                  PGRES_TUPLES_OK, "session"));
    static const struct {
        const char *name, *sql;
        int np;
    } st[] = {
        {"touch", PG_TOUCH, 2}, {"ins", PG_INSERT, 9}, {"audit", PG_AUDIT, 6},
        {"count", PG_COUNT, 3}, {"page", PG_PAGE, 5},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        PQclear(pg_ok(r, PQprepare(r->c, st[i].name, st[i].sql, st[i].np, NULL), PGRES_COMMAND_OK,
                      st[i].sql));
    return r;
}

static void pgr_close(void *rv)
{
    pg_raw *r = rv;
    PQfinish(r->c);
    free(r);
}

static double pgr_adds(void *rv, const char *sid, int n)
{
    pg_raw *r = rv;
    char ts[UTC_ISO_LEN], res[48];
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        pg_cmd(r, "BEGIN");
        utc_format(utc_now(), ts);
        const char *tv[] = {ts, sid};
        PGresult *x = pg_ok(r, PQexecPrepared(r->c, "touch", 2, tv, NULL, NULL, 0),
                            PGRES_COMMAND_OK, "touch");
        if (strcmp(PQcmdTuples(x), "1") != 0)
            die("raw", "session missing");
        PQclear(x);
        const char *iv[] = {
            sid,  "agent-7", "claude", CONTENT, i % 5 ? "public" : "private", "agent_response",
            NULL, NULL,      ts};
        x = pg_ok(r, PQexecPrepared(r->c, "ins", 9, iv, NULL, NULL, 0), PGRES_TUPLES_OK, "insert");
        if (PQntuples(x) != 1)
            die("raw", "INSERT returned no id");
        long long id = strtoll(PQgetvalue(x, 0, 0), NULL, 10);
        PQclear(x);
        snprintf(res, sizeof res, "message:%lld", id);
        utc_format(utc_now(), ts);
        const char *av[] = {ts, "message_added", "agent-7", sid, res, NULL};
        PQclear(pg_ok(r, PQexecPrepared(r->c, "audit", 6, av, NULL, NULL, 0), PGRES_COMMAND_OK,
                      "audit"));
        x = pg_ok(r, PQexec(r->c, "COMMIT"), PGRES_COMMAND_OK, "COMMIT");
        if (strcmp(PQcmdStatus(x), "COMMIT") != 0)
            die("raw", "COMMIT rolled back");
        PQclear(x);
    }
    return rate(n, t0);
}

static char *pg_col(const PGresult *x, int row, int i)
{
    return PQgetisnull(x, row, i) ? NULL
                                  : xstrndup(PQgetvalue(x, row, i), (size_t)PQgetlength(x, row, i));
}

static double pgr_pages(void *rv, const char *sid, int n, int total)
{
    pg_raw *r = rv;
    raw_msg *v = xcalloc(PAGE, sizeof *v);
    char lim[16], off[16];
    snprintf(lim, sizeof lim, "%d", PAGE);
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        pg_cmd(r, "BEGIN");
        const char *cv[] = {sid, "agent-7", "claude"};
        PGresult *x =
            pg_ok(r, PQexecPrepared(r->c, "count", 3, cv, NULL, NULL, 0), PGRES_TUPLES_OK, "count");
        if (PQntuples(x) != 1)
            die("raw", "COUNT returned no row");
        volatile int64_t tot = strtoll(PQgetvalue(x, 0, 0), NULL, 10);
        (void)tot;
        PQclear(x);
        snprintf(off, sizeof off, "%d", (i * PAGE) % (total - PAGE));
        const char *pv[] = {sid, "agent-7", "claude", lim, off};
        x = pg_ok(r, PQexecPrepared(r->c, "page", 5, pv, NULL, NULL, 0), PGRES_TUPLES_OK, "page");
        int k = PQntuples(x);
        if (k != PAGE)
            die("raw", "short page");
        for (int j = 0; j < k; j++) {
            raw_msg *m = &v[j];
            m->id = strtoll(PQgetvalue(x, j, 0), NULL, 10);
            m->session_id = pg_col(x, j, 1);
            m->sender = pg_col(x, j, 2);
            m->sender_type = pg_col(x, j, 3);
            m->content = pg_col(x, j, 4);
            m->visibility = pg_col(x, j, 5);
            m->message_type = pg_col(x, j, 6);
            m->metadata = pg_col(x, j, 7);
            m->parent = PQgetisnull(x, j, 8) ? 0 : strtoll(PQgetvalue(x, j, 8), NULL, 10);
            utc_parse(PQgetvalue(x, j, 9), &m->at, NULL);
        }
        PQclear(x);
        x = pg_ok(r, PQexec(r->c, "COMMIT"), PGRES_COMMAND_OK, "COMMIT");
        PQclear(x);
        raw_msgs_free(v, k);
    }
    free(v);
    return rate(n, t0);
}

static const raw_ops PG_OPS = {pgr_open, pgr_adds, pgr_pages, pgr_close};

/* ---- raw Connector/C: MYSQL_STMT prepared once, bound buffers --------------------------- */

enum {
    MY_TXT = 256,
    MY_CONTENT = 4096,
    MY_NCOL = 10
};

typedef struct my_raw {
    MYSQL *m;
    MYSQL_STMT *touch, *ins, *audit, *count, *page;
    /* page results */
    MYSQL_BIND rb[MY_NCOL];
    int64_t id, parent, total;
    MYSQL_TIME at;
    char txt[7][MY_CONTENT];
    unsigned long len[MY_NCOL];
    my_bool null[MY_NCOL], err[MY_NCOL];
} my_raw;

#define US_PER_DAY 86400000000LL

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void my_time(utc_us t, MYSQL_TIME *mt)
{
    int64_t z = t / US_PER_DAY + 719468, rem = t % US_PER_DAY; /* t > 0 here */
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    memset(mt, 0, sizeof *mt);
    mt->day = doy - (153 * mp + 2) / 5 + 1;
    mt->month = mp < 10 ? mp + 3 : mp - 9;
    mt->year = (unsigned)((int64_t)yoe + era * 400 + (mt->month <= 2));
    int64_t secs = rem / 1000000;
    mt->second_part = (unsigned long)(rem % 1000000);
    mt->hour = (unsigned)(secs / 3600);
    mt->minute = (unsigned)(secs / 60 % 60);
    mt->second = (unsigned)(secs % 60);
    mt->time_type = MYSQL_TIMESTAMP_DATETIME;
}

static utc_us my_us(const MYSQL_TIME *mt)
{
    return days_from_civil(mt->year, mt->month, mt->day) * US_PER_DAY +
           ((int64_t)mt->hour * 3600 + (int64_t)mt->minute * 60 + mt->second) * 1000000 +
           (int64_t)mt->second_part;
}

static MYSQL_STMT *my_prep(my_raw *r, const char *sql)
{
    MYSQL_STMT *s = mysql_stmt_init(r->m);
    if (!s || mysql_stmt_prepare(s, sql, (unsigned long)strlen(sql)) != 0)
        die(sql, mysql_error(r->m));
    return s;
}

static void my_q(my_raw *r, const char *sql)
{
    if (mysql_real_query(r->m, sql, (unsigned long)strlen(sql)) != 0)
        die(sql, mysql_error(r->m));
}

static void my_exec(MYSQL_STMT *s, MYSQL_BIND *b, const char *what)
{
    if (mysql_stmt_bind_param(s, b) != 0 || mysql_stmt_execute(s) != 0)
        die(what, mysql_stmt_error(s));
}

static void *myr_open(const char *url)
{
    my_raw *r = xcalloc(1, sizeof *r);
    db_url *u;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK)
        die_e("URL", &e);
    r->m = my_connect_url(u, u->database);
    db_url_free(u);
    const char *info = mysql_get_server_info(r->m);
    bool maria = info && strstr(info, "MariaDB");
    char sql[512];
    snprintf(
        sql, sizeof sql,
        "SET NAMES utf8mb4 COLLATE %s, sql_mode = "
        "'STRICT_ALL_TABLES,STRICT_TRANS_TABLES,NO_ZERO_DATE,"
        "NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES',"
        " time_zone = '+00:00', innodb_lock_wait_timeout = 5",
        maria ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin");
    my_q(r, sql);
    r->touch = my_prep(r, SQL_TOUCH);
    r->ins = my_prep(r, SQL_INSERT);
    r->audit = my_prep(r, SQL_AUDIT);
    r->count = my_prep(r, SQL_COUNT);
    r->page = my_prep(r, SQL_PAGE);
    /* result buffers of the page: id, 7 texts, parent, created_at */
    MYSQL_BIND *b = r->rb;
    b[0] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &r->id};
    for (int i = 1; i <= 7; i++)
        b[i] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING,
                            .buffer = r->txt[i - 1],
                            .buffer_length = MY_CONTENT - 1};
    b[8] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &r->parent};
    b[9] = (MYSQL_BIND){
        .buffer_type = MYSQL_TYPE_DATETIME, .buffer = &r->at, .buffer_length = sizeof r->at};
    for (int i = 0; i < MY_NCOL; i++) {
        b[i].length = &r->len[i];
        b[i].is_null = &r->null[i];
        b[i].error = &r->err[i];
    }
    return r;
}

static void myr_close(void *rv)
{
    my_raw *r = rv;
    MYSQL_STMT *all[] = {r->touch, r->ins, r->audit, r->count, r->page};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mysql_stmt_close(all[i]);
    mysql_close(r->m);
    free(r);
}

static MYSQL_BIND txt_param(const char *s)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING,
                        .buffer = (void *)(uintptr_t)s,
                        .buffer_length = (unsigned long)strlen(s)};
}

static double myr_adds(void *rv, const char *sid, int n)
{
    my_raw *r = rv;
    MYSQL_TIME at;
    char res[48];
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        my_q(r, "START TRANSACTION");
        my_time(utc_now(), &at);
        MYSQL_BIND tb[2] = {
            {.buffer_type = MYSQL_TYPE_DATETIME, .buffer = &at, .buffer_length = sizeof at},
            txt_param(sid)};
        my_exec(r->touch, tb, "touch");
        if (mysql_stmt_affected_rows(r->touch) != 1)
            die("raw", "session missing");
        MYSQL_BIND ib[9] = {
            txt_param(sid),
            txt_param("agent-7"),
            txt_param("claude"),
            txt_param(CONTENT),
            txt_param(i % 5 ? "public" : "private"),
            txt_param("agent_response"),
            {.buffer_type = MYSQL_TYPE_NULL},
            {.buffer_type = MYSQL_TYPE_NULL},
            {.buffer_type = MYSQL_TYPE_DATETIME, .buffer = &at, .buffer_length = sizeof at}};
        my_exec(r->ins, ib, "insert");
        snprintf(res, sizeof res, "message:%lld", (long long)mysql_stmt_insert_id(r->ins));
        my_time(utc_now(), &at);
        MYSQL_BIND ab[6] = {
            {.buffer_type = MYSQL_TYPE_DATETIME, .buffer = &at, .buffer_length = sizeof at},
            txt_param("message_added"),
            txt_param("agent-7"),
            txt_param(sid),
            txt_param(res),
            {.buffer_type = MYSQL_TYPE_NULL}};
        my_exec(r->audit, ab, "audit");
        my_q(r, "COMMIT");
    }
    return rate(n, t0);
}

static char *my_col(my_raw *r, int i)
{
    return r->null[i] ? NULL : xstrndup(r->txt[i - 1], r->len[i]);
}

static double myr_pages(void *rv, const char *sid, int n, int total)
{
    my_raw *r = rv;
    raw_msg *v = xcalloc(PAGE, sizeof *v);
    int64_t lim = PAGE, off = 0;
    MYSQL_BIND cb[1] = {{.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &r->total}};
    int64_t t0 = utc_mono_us();
    for (int i = 0; i < n; i++) {
        my_q(r, "START TRANSACTION");
        MYSQL_BIND qb[5] = {txt_param(sid),
                            txt_param("agent-7"),
                            txt_param("claude"),
                            {.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &lim},
                            {.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &off}};
        my_exec(r->count, qb, "count");
        if (mysql_stmt_bind_result(r->count, cb) != 0 || mysql_stmt_store_result(r->count) != 0 ||
            mysql_stmt_fetch(r->count) != 0)
            die("count", mysql_stmt_error(r->count));
        volatile int64_t tot = r->total;
        (void)tot;
        mysql_stmt_free_result(r->count);
        off = (i * PAGE) % (total - PAGE);
        my_exec(r->page, qb, "page");
        if (mysql_stmt_bind_result(r->page, r->rb) != 0 || mysql_stmt_store_result(r->page) != 0)
            die("page", mysql_stmt_error(r->page));
        int k = 0, rc;
        while ((rc = mysql_stmt_fetch(r->page)) == 0 && k < PAGE) {
            raw_msg *m = &v[k++];
            m->id = r->id;
            m->session_id = my_col(r, 1);
            m->sender = my_col(r, 2);
            m->sender_type = my_col(r, 3);
            m->content = my_col(r, 4);
            m->visibility = my_col(r, 5);
            m->message_type = my_col(r, 6);
            m->metadata = my_col(r, 7);
            m->parent = r->null[8] ? 0 : r->parent;
            m->at = my_us(&r->at);
        }
        if (rc != MYSQL_NO_DATA)
            die("page", rc == MYSQL_DATA_TRUNCATED ? "truncated" : mysql_stmt_error(r->page));
        mysql_stmt_free_result(r->page);
        my_q(r, "COMMIT");
        if (k != PAGE)
            die("raw", "short page");
        raw_msgs_free(v, k);
    }
    free(v);
    return rate(n, t0);
}

static const raw_ops MY_OPS = {myr_open, myr_adds, myr_pages, myr_close};

/* ---- one backend: both sides, alternating rounds ---------------------------------------- */

typedef struct result {
    const char *backend;
    char version[128];
    int nadd, npage, rounds;
    double sa, ra, sp, rp; /* best rates: store/raw adds, store/raw pages */
} result;

static void run_backend(db_backend b, const char *base, const raw_ops *ops, int nadd, int npage,
                        int rounds, result *out)
{
    side_db ds, dr;
    fresh_db(b, base, "store", &ds);
    fresh_db(b, base, "raw", &dr);
    store_t *st = open_store(ds.url);
    void *r = ops->open(dr.url);
    err_t e;
    if (b == DB_BACKEND_SQLITE)
        snprintf(out->version, sizeof out->version,
                 "SQLite %s, on-disk WAL file, synchronous=NORMAL", sqlite3_libversion());
    else if (store_server_version(st, out->version, sizeof out->version, &e) == ERR_OK) {
        size_t l = strlen(out->version);
        if (b == DB_BACKEND_POSTGRES)
            snprintf(out->version + l, sizeof out->version - l, ", libpq %d", PQlibVersion());
        else
            snprintf(out->version + l, sizeof out->version - l, ", Connector/C %s",
                     mysql_get_client_info());
    }
    out->nadd = nadd;
    out->npage = npage;
    out->rounds = rounds;
    /* warm-up: fill each page session with PAGE_SESSION messages, so pages read a
     * session of realistic size whatever the add rounds did. */
    store_adds(st, ds.page_sid, PAGE_SESSION);
    ops->adds(r, dr.page_sid, PAGE_SESSION);
    /* rounds alternate the sides, and which side goes first, so neither is
     * always the one that runs right after the other has warmed something up */
    double x, y;
    for (int i = 0; i < rounds; i++) {
        if (i % 2) {
            y = ops->adds(r, dr.add_sid, nadd);
            x = store_adds(st, ds.add_sid, nadd);
        } else {
            x = store_adds(st, ds.add_sid, nadd);
            y = ops->adds(r, dr.add_sid, nadd);
        }
        if (x > out->sa)
            out->sa = x;
        if (y > out->ra)
            out->ra = y;
    }
    for (int i = 0; i < rounds; i++) {
        if (i % 2) {
            y = ops->pages(r, dr.page_sid, npage, PAGE_SESSION);
            x = store_pages(st, ds.page_sid, npage, PAGE_SESSION);
        } else {
            x = store_pages(st, ds.page_sid, npage, PAGE_SESSION);
            y = ops->pages(r, dr.page_sid, npage, PAGE_SESSION);
        }
        if (x > out->sp)
            out->sp = x;
        if (y > out->rp)
            out->rp = y;
    }
    store_close(st);
    ops->close(r);
    drop_db(base, &ds);
    drop_db(base, &dr);
}

static void row(const char *backend, const char *op, double st, double rw)
{
    printf("| %-10s | %-25s | %11.0f | %11.0f | %9.3f | %+6.1f%% |\n", backend, op, st, rw, rw / st,
           (rw / st - 1) * 100);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_store [--pg URL] [--mysql URL] [--no-sqlite]"
                    " [messages-per-round >= 100] [pages-per-round] [rounds]\n"
                    "  (or CTXD_BENCH_PG_URL / CTXD_BENCH_MYSQL_URL in the environment)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *pg = getenv("CTXD_BENCH_PG_URL"), *my = getenv("CTXD_BENCH_MYSQL_URL");
    int pos[3], npos = 0;
    bool no_sqlite = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc)
            pg = argv[++i];
        else if (strcmp(argv[i], "--mysql") == 0 && i + 1 < argc)
            my = argv[++i];
        else if (strcmp(argv[i], "--no-sqlite") == 0)
            no_sqlite = true;
        else if (argv[i][0] != '-' && npos < 3)
            pos[npos++] = atoi(argv[i]);
        else
            usage();
    }
    if ((npos > 0 && pos[0] < 100) || (npos > 1 && pos[1] < 1) || (npos > 2 && pos[2] < 1))
        usage();
    if (pg && !*pg)
        pg = NULL;
    if (my && !*my)
        my = NULL;

    result res[3];
    memset(res, 0, sizeof res);
    int nres = 0;
    char dir[] = "/tmp/ctxd-bench.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!no_sqlite) {
        res[nres].backend = "sqlite";
        run_backend(DB_BACKEND_SQLITE, dir, &SQ_OPS, npos > 0 ? pos[0] : 5000,
                    npos > 1 ? pos[1] : 5000, npos > 2 ? pos[2] : 5, &res[nres++]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    if (pg) {
        res[nres].backend = "postgresql";
        run_backend(DB_BACKEND_POSTGRES, pg, &PG_OPS, npos > 0 ? pos[0] : SRV_ADDS,
                    npos > 1 ? pos[1] : SRV_PAGES, npos > 2 ? pos[2] : SRV_ROUNDS, &res[nres++]);
    }
    if (my) {
        res[nres].backend = "mariadb";
        run_backend(DB_BACKEND_MYSQL, my, &MY_OPS, npos > 0 ? pos[0] : SRV_ADDS,
                    npos > 1 ? pos[1] : SRV_PAGES, npos > 2 ? pos[2] : SRV_ROUNDS, &res[nres++]);
    }

    printf("ctxd storage benchmark: the store against the raw client library, same statements\n");
    for (int i = 0; i < nres; i++)
        printf("  %-10s %s; %d add_message x %d rounds, %d pages x %d rounds\n", res[i].backend,
               res[i].version, res[i].nadd, res[i].rounds, res[i].npage, res[i].rounds);
    printf("  pages read a session of %d messages; best round of each side\n\n", PAGE_SESSION);
    printf("| %-10s | %-25s | %11s | %11s | %9s | %7s |\n", "backend", "operation", "store ops/s",
           "raw ops/s", "raw/store", "cost");
    printf("|------------|---------------------------|-------------|-------------|-----------|-----"
           "----|\n");
    for (int i = 0; i < nres; i++) {
        row(res[i].backend, "add_message (1 tx each)", res[i].sa, res[i].ra);
        row(res[i].backend, "page of 50 (count + rows)", res[i].sp, res[i].rp);
    }
    printf("\ncost = how much more time the store takes per operation than the raw client library"
           " (goal <= 10%%).\n"
           "On a server the time is mostly round trips and server work, which vary from round to "
           "round on a\n"
           "busy machine by more than the store adds: compare a few runs (or profile with "
           "callgrind).\n");
    if (!pg || !my)
        printf("(%s%s%s not measured: give --pg / --mysql URLs, or run `make bench`)\n",
               !pg ? "PostgreSQL" : "", !pg && !my ? " and " : "", !my ? "MariaDB" : "");
    return 0;
}
