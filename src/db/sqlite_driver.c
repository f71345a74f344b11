/* db/sqlite_driver.c — the SQLite driver (libsqlite3) behind driver.h.
 *
 * Connections: the WRITER creates the file (unless `?mode=ro` / `?mode=rw`),
 * switches it to WAL and takes BEGIN IMMEDIATE; READERs open the existing file
 * with PRAGMA query_only=ON. Every connection gets foreign_keys=ON,
 * synchronous=NORMAL (or FULL: `?synchronous=`), busy_timeout (from the
 * options), cache_size and
 * temp_store=MEMORY; the writer's automatic WAL checkpoints follow
 * db_opts.wal_autocheckpoint (off when the core checkpoints in the background,
 * see checkpoint.c). `sqlite:///:memory:` is ONE connection that the core
 * shares for reads and writes (each :memory: connection would be a separate
 * empty database), so there WAL is not used.
 *
 * Opening never damages a file: before any PRAGMA that could write, the schema
 * is read so "file is not a database" surfaces as ERR_INVALID naming the path;
 * a missing directory, a directory path, a read-only file or a missing file
 * with mode=ro are ERR_IO with a message naming the path.
 *
 * Times are bound as TEXT in utc_format form ('YYYY-MM-DDTHH:MM:SS.ffffffZ')
 * and read back with utc_parse; JSON is TEXT.
 * Must not: keep state outside a connection, retry (the core does), log
 * parameter values, or know any ctxd table. */
#include "db/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/log.h"
#include "base/sbuf.h"
#include "db/sqltok.h"

#define SQ_CACHE_KIB 8192 /* page cache per connection: 8 MiB */

typedef struct sq_conn {
    sqlite3 *h;
    char *path; /* for messages */
    sqlite3_stmt *begin_imm, *begin_def, *commit, *rollback;
} sq_conn;

static sq_conn *SQ(db_drv_conn *c)
{
    return (sq_conn *)(void *)c;
}
static sqlite3_stmt *ST(db_drv_stmt *s)
{
    return (sqlite3_stmt *)(void *)s;
}

static bool sq_single_connection(const db_url *u)
{
    return u->memory;
}
static bool sq_single_writer(const db_url *u)
{
    (void)u;
    return true;
}

/* Fills e from the connection's last error. */
static err_code sq_err(sqlite3 *h, int rc, err_t *e, const char *what, const char *sql)
{
    int ext = h ? sqlite3_extended_errcode(h) : rc;
    if ((ext & 0xff) != (rc & 0xff))
        ext = rc; /* errcode overwritten: trust rc */
    err_code cls = db_errclass_sqlite(ext);
    if (cls == ERR_OK)
        cls = ERR_FATAL;
    const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    if (sql && (cls == ERR_SYNTAX || cls == ERR_INTERNAL))
        err_set(e, cls, "%s%s%s (in: %.200s)", what ? what : "", what ? ": " : "", msg, sql);
    else
        err_set(e, cls, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    if (e)
        e->native = ext;
    return cls;
}

/* ---- opening -------------------------------------------------------------- */

typedef enum sq_mode {
    SQ_RWC = 0,
    SQ_RW,
    SQ_RO
} sq_mode;

/* The URL options only SQLite has: each a choice among fixed words (any case),
 * the first being the default. `synchronous` is the PRAGMA of that name (what
 * each value survives: docs/backends.md, "Durability"). */
typedef struct sq_opts {
    sq_mode mode;
    const char *synchronous; /* "NORMAL" or "FULL": the PRAGMA's value */
} sq_opts;

enum {
    SQ_OPT_MODE,
    SQ_OPT_SYNCHRONOUS
}; /* indexes of SQ_CHOICES */
static const struct sq_choice {
    const char *key;
    const char *words[4]; /* NULL-terminated; the first is the default */
    const char *hint;     /* for the error */
} SQ_CHOICES[] = {
    {"mode", {"rwc", "rw", "ro", NULL}, "rwc, rw or ro"},
    {"synchronous", {"NORMAL", "FULL", NULL, NULL}, "normal or full"},
};

/* The index of option i's word in the URL (0 when absent). */
static err_code sq_choice_of(const db_url *u, size_t i, int *out, err_t *e)
{
    const struct sq_choice *c = &SQ_CHOICES[i];
    const char *v = db_url_opt_get(u, c->key);
    *out = 0;
    if (!v)
        return ERR_OK;
    for (int k = 0; c->words[k]; k++)
        if (str_eq_ci(v, c->words[k])) {
            *out = k;
            return ERR_OK;
        }
    return err_set(e, ERR_INVALID, "database URL option %s=%.64s is not valid for SQLite (use %s)",
                   c->key, v, c->hint);
}

static err_code sq_opts_of(const db_url *u, sq_opts *o, err_t *e)
{
    for (size_t i = 0; i < u->nopts; i++) /* what the core does not apply: SQ_CHOICES */
        if (str_table_index(SQ_CHOICES, sizeof SQ_CHOICES / sizeof SQ_CHOICES[0],
                            sizeof SQ_CHOICES[0], u->opts[i].key) < 0 &&
            !db_opt_is_core(u->opts[i].key))
            return err_set(e, ERR_INVALID,
                           "unknown database URL option '%.64s' for SQLite (known: mode, "
                           "synchronous, pool_size, max_overflow, pool_timeout, pool_recycle, "
                           "pool_idle_timeout, "
                           "pool_pre_ping_idle_ms, busy_timeout)",
                           u->opts[i].key);
    int mode, sync;
    err_code rc;
    if ((rc = sq_choice_of(u, SQ_OPT_MODE, &mode, e)) != ERR_OK ||
        (rc = sq_choice_of(u, SQ_OPT_SYNCHRONOUS, &sync, e)) != ERR_OK)
        return rc;
    o->mode = (sq_mode)mode;
    o->synchronous = SQ_CHOICES[SQ_OPT_SYNCHRONOUS].words[sync];
    return ERR_OK;
}

/* Creates the (empty) database file readable by its owner only: it will hold
 * protected tokens and every message. SQLite gives the -wal, -shm and journal
 * files the mode of the database file, so they are 0600 too. An empty file is a
 * valid empty database. Losing a race to another process creating it is fine. */
static err_code sq_create_private(const char *path, err_t *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        return ERR_OK;
    }
    if (errno == EEXIST)
        return ERR_OK;
    return err_set(e, ERR_IO, "cannot create SQLite database '%s': %s", path, strerror(errno));
}

/* Checks the path before SQLite sees it, for messages a user can act on. */
static err_code sq_precheck(const char *path, sq_mode mode, db_role role, err_t *e)
{
    struct stat st;
    if (!path || !*path)
        return err_set(e, ERR_INVALID, "the SQLite database path is empty");
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return err_set(e, ERR_IO, "cannot open SQLite database '%s': it is a directory", path);
        if (access(path, R_OK) != 0)
            return err_set(e, ERR_IO, "cannot open SQLite database '%s': %s", path,
                           strerror(errno));
        if (mode != SQ_RO && access(path, W_OK) != 0)
            return err_set(e, ERR_IO,
                           "SQLite database '%s' is read-only (%s); fix its permissions, or "
                           "add ?mode=ro to the URL to open it read-only",
                           path, strerror(errno));
        return ERR_OK;
    }
    if (errno != ENOENT)
        return err_set(e, ERR_IO, "cannot open SQLite database '%s': %s", path, strerror(errno));
    if (mode != SQ_RWC || role != DB_ROLE_WRITER)
        return err_set(e, ERR_IO, "SQLite database '%s' does not exist%s", path,
                       mode == SQ_RO   ? " (mode=ro does not create it)"
                       : mode == SQ_RW ? " (mode=rw does not create it)"
                                       : "");
    /* It will be created: its directory must exist and be writable. */
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        free(dir);
        dir = xstrdup(".");
    } else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    err_code rc = ERR_OK;
    if (stat(dir, &st) != 0)
        rc = err_set(e, ERR_IO, "cannot create SQLite database '%s': directory '%s' %s", path, dir,
                     errno == ENOENT ? "does not exist" : strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = err_set(e, ERR_IO, "cannot create SQLite database '%s': '%s' is not a directory", path,
                     dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = err_set(e, ERR_IO,
                     "cannot create SQLite database '%s': directory '%s' is not writable (%s)",
                     path, dir, strerror(errno));
    free(dir);
    if (rc == ERR_OK)
        rc = sq_create_private(path, e);
    return rc;
}

/* Skips white space and comments so an error can quote the statement itself. */
static const char *sq_stmt_start(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* Runs a script statement by statement (sqlite3_prepare_v2's tail), so a failure
 * quotes the statement that failed rather than the head of the script. */
static err_code sq_exec_h(sqlite3 *h, const char *sql, err_t *e, const char *what)
{
    const char *p = sql;
    while (*p) {
        const char *start = sq_stmt_start(p);
        if (!*start)
            break;
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(h, start, -1, &st, &tail);
        if (rc == SQLITE_OK && st) {
            do
                rc = sqlite3_step(st);
            while (rc == SQLITE_ROW);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK) {
            err_code cls = sq_err(h, rc, NULL, what, NULL);
            size_t n = tail && tail > start ? (size_t)(tail - start) : strlen(start);
            if (n > 200)
                n = 200;
            char quoted[201];
            memcpy(quoted, start, n);
            quoted[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if (quoted[i] == '\n' || quoted[i] == '\r' || quoted[i] == '\t')
                    quoted[i] = ' ';
            err_set(e, cls, "%s%s%s (in: %s)", what ? what : "", what ? ": " : "",
                    sqlite3_errmsg(h), quoted);
            if (e)
                e->native = sqlite3_extended_errcode(h);
            sqlite3_finalize(st);
            return cls;
        }
        sqlite3_finalize(st);
        if (!tail || tail == start)
            break;
        p = tail;
    }
    return ERR_OK;
}

/* Reads one text value (PRAGMA journal_mode). */
static err_code sq_query_text(sqlite3 *h, const char *sql, char *buf, size_t n, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_err(h, rc, e, NULL, sql);
    rc = sqlite3_step(st);
    buf[0] = '\0';
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, n, "%s", t ? (const char *)t : "");
        rc = SQLITE_DONE;
    }
    err_code cls = rc == SQLITE_DONE ? ERR_OK : sq_err(h, rc, e, NULL, sql);
    sqlite3_finalize(st);
    return cls;
}

static void sq_free(sq_conn *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->begin_imm);
    sqlite3_finalize(c->begin_def);
    sqlite3_finalize(c->commit);
    sqlite3_finalize(c->rollback);
    if (c->h)
        sqlite3_close_v2(c->h);
    free(c->path);
    free(c);
}

static err_code sq_connect(const db_url *u, const db_opts *o, db_role role, db_drv_conn **out,
                           err_t *e)
{
    sq_opts so = {.mode = SQ_RWC, .synchronous = "NORMAL"};
    err_code rc = sq_opts_of(u, &so, e);
    if (rc != ERR_OK)
        return rc;
    sq_mode mode = so.mode;
    bool mem = u->memory;
    const char *path = mem ? ":memory:" : u->path;
    if (!mem && (rc = sq_precheck(path, mode, role, e)) != ERR_OK)
        return rc;

    int flags = SQLITE_OPEN_NOMUTEX; /* one thread at a time per connection */
    if (mode == SQ_RO)
        flags |= SQLITE_OPEN_READONLY;
    else
        flags |= SQLITE_OPEN_READWRITE |
                 (mode == SQ_RWC && role == DB_ROLE_WRITER ? SQLITE_OPEN_CREATE : 0);
    if (mem)
        flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

    sq_conn *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    int src = sqlite3_open_v2(path, &c->h, flags, NULL);
    if (src != SQLITE_OK) {
        int sys = c->h ? sqlite3_system_errno(c->h) : 0;
        err_code cls = db_errclass_sqlite(src);
        if (cls != ERR_NOMEM && cls != ERR_INVALID)
            cls = ERR_IO;
        err_set(e, cls, "cannot open SQLite database '%s': %s%s%s", path,
                c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(src), sys ? ": " : "",
                sys ? strerror(sys) : "");
        if (e)
            e->native = src;
        sq_free(c);
        return cls;
    }
    sqlite3_extended_result_codes(c->h, 1);
    sqlite3_busy_timeout(c->h, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0);

    /* Read the schema first: nothing has been written yet, so a file that is not a
     * database (or is damaged) is refused before anything could touch it. */
    char buf[64];
    rc = sq_query_text(c->h, "SELECT count(*) FROM sqlite_master", buf, sizeof buf, e);
    if (rc != ERR_OK) {
        int ext = e ? e->native : 0;
        if ((ext & 0xff) == SQLITE_NOTADB)
            err_set(e, ERR_INVALID,
                    "'%s' is not an SQLite database (or is encrypted); ctxd did not modify it. "
                    "Point DATABASE_URL / DATABASE_PATH at a ctxd database or a new file",
                    path);
        else if ((ext & 0xff) == SQLITE_CORRUPT)
            err_set(e, ERR_FATAL, "SQLite database '%s' is damaged (%s); restore it from a backup",
                    path, sqlite3_errmsg(c->h));
        else
            err_prefix(e, "cannot read SQLite database '%s'", path);
        if (e)
            e->native = ext;
        sq_free(c);
        return e ? e->code : ERR_INVALID;
    }
    if (!mem && mode != SQ_RO && sqlite3_db_readonly(c->h, "main") == 1) {
        sq_free(c);
        return err_set(e, ERR_IO,
                       "SQLite database '%s' could only be opened read-only; fix its permissions "
                       "or add ?mode=ro to the URL",
                       path);
    }

    sbuf_t sql = SBUF_INIT;
    sbuf_printf(&sql,
                "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s; PRAGMA cache_size=-%d; "
                "PRAGMA temp_store=MEMORY;",
                so.synchronous, SQ_CACHE_KIB);
    if (role == DB_ROLE_READER && !mem)
        sbuf_puts(&sql, " PRAGMA query_only=ON;");
    rc = sq_exec_h(c->h, sbuf_cstr(&sql), e, NULL);
    sbuf_free(&sql);
    if (rc == ERR_OK && !mem && mode != SQ_RO && role == DB_ROLE_WRITER) {
        /* Switching a new file to WAL needs an exclusive lock, and SQLite reports
         * SQLITE_BUSY for it without always consulting the busy handler when other
         * processes are opening the same new file at that moment. Retry with a
         * bounded backoff within busy_timeout. */
        int64_t deadline =
            utc_mono_us() + (int64_t)(o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0) * 1000;
        useconds_t pause = 1000;
        for (;;) {
            rc = sq_query_text(c->h, "PRAGMA journal_mode=WAL", buf, sizeof buf, e);
            if (rc != ERR_BUSY || utc_mono_us() >= deadline)
                break;
            usleep(pause);
            if (pause < 50000)
                pause *= 2;
        }
        if (rc == ERR_OK && !str_eq_ci(buf, "wal"))
            LOG_W("db",
                  "SQLite database '%s' stays in journal_mode=%s (WAL not available here); "
                  "readers will wait for writers",
                  path, buf);
        /* Off when the core checkpoints in the background (db_opts). A setting of
         * this connection only: other processes on the file keep their own. */
        if (rc == ERR_OK && o->wal_autocheckpoint >= 0)
            sqlite3_wal_autocheckpoint(c->h, o->wal_autocheckpoint);
    }
    if (rc != ERR_OK) {
        err_prefix(e, "cannot configure SQLite database '%s'", path);
        sq_free(c);
        return e ? e->code : ERR_FATAL;
    }
    *out = (db_drv_conn *)(void *)c;
    return ERR_OK;
}

static void sq_disconnect(db_drv_conn *dc)
{
    sq_free(SQ(dc));
}

static err_code sq_ping(db_drv_conn *dc, err_t *e)
{
    return sq_exec_h(SQ(dc)->h, "SELECT 1", e, "ping");
}

static unsigned sq_caps(db_drv_conn *dc)
{
    (void)dc;
    int v = sqlite3_libversion_number();
    unsigned caps = DB_CAP_PARTIAL_INDEX | DB_CAP_TRANSACTIONAL_DDL | DB_CAP_SINGLE_WRITER;
    if (v >= 3035000)
        caps |= DB_CAP_RETURNING;
    if (v >= 3024000)
        caps |= DB_CAP_UPSERT_ON_CONFLICT;
    if (sqlite3_compileoption_used("ENABLE_FTS5")) {
        caps |= DB_CAP_FTS;
        if (v >= 3034000)
            caps |= DB_CAP_TRIGRAM;
    }
    if (sqlite3_compileoption_used("ENABLE_JSON1") ||
        (v >= 3038000 && !sqlite3_compileoption_used("OMIT_JSON")))
        caps |= DB_CAP_JSON;
    return caps;
}

static err_code sq_server_version(db_drv_conn *dc, char *buf, size_t n, err_t *e)
{
    (void)dc;
    (void)e;
    snprintf(buf, n, "SQLite %s", sqlite3_libversion());
    return ERR_OK;
}

static err_code sq_exec(db_drv_conn *dc, const char *sql, err_t *e)
{
    return sq_exec_h(SQ(dc)->h, sql, e, NULL);
}

/* Runs one of the connection's own cached control statements. */
static err_code sq_ctl(sq_conn *c, sqlite3_stmt **slot, const char *sql, err_t *e)
{
    if (!*slot) {
        int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK)
            return sq_err(c->h, rc, e, sql, NULL);
    }
    int rc = sqlite3_step(*slot);
    sqlite3_reset(*slot);
    if (rc == SQLITE_DONE)
        return ERR_OK;
    return sq_err(c->h, rc, e, sql, NULL);
}

static err_code sq_begin(db_drv_conn *dc, bool write, err_t *e)
{
    sq_conn *c = SQ(dc);
    return write ? sq_ctl(c, &c->begin_imm, "BEGIN IMMEDIATE", e)
                 : sq_ctl(c, &c->begin_def, "BEGIN", e);
}
static err_code sq_commit(db_drv_conn *dc, err_t *e)
{
    sq_conn *c = SQ(dc);
    return sq_ctl(c, &c->commit, "COMMIT", e);
}
static err_code sq_rollback(db_drv_conn *dc, err_t *e)
{
    sq_conn *c = SQ(dc);
    if (sqlite3_get_autocommit(c->h))
        return ERR_OK; /* already rolled back by SQLite */
    return sq_ctl(c, &c->rollback, "ROLLBACK", e);
}
static bool sq_in_transaction(db_drv_conn *dc)
{
    return !sqlite3_get_autocommit(SQ(dc)->h);
}
static int64_t sq_last_insert_id(db_drv_conn *dc)
{
    return sqlite3_last_insert_rowid(SQ(dc)->h);
}

static err_code sq_checkpoint(db_drv_conn *dc, bool truncate, int64_t *wal_frames, err_t *e)
{
    sq_conn *c = SQ(dc);
    int nlog = 0, nckpt = 0;
    int rc = sqlite3_wal_checkpoint_v2(
        c->h, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, &nlog,
        &nckpt);
    *wal_frames = nlog > 0 ? nlog : 0;
    if (rc == SQLITE_OK)
        return ERR_OK;
    return sq_err(c->h, rc, e, "WAL checkpoint", NULL);
}

/* ---- statements ------------------------------------------------------------ */

static err_code sq_prepare(db_drv_conn *dc, const char *sql, size_t len, bool persistent,
                           db_drv_stmt **out, err_t *e)
{
    sq_conn *c = SQ(dc);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (len >= INT_MAX)
        return err_set(e, ERR_INVALID, "SQL statement too long (%zu bytes)", len);
    int rc = sqlite3_prepare_v3(c->h, sql, (int)len + 1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                                &st, &tail);
    if (rc != SQLITE_OK)
        return sq_err(c->h, rc, e, NULL, sql);
    if (!st)
        return err_set(e, ERR_INVALID, "empty SQL statement");
    if (tail && !sqltok_is_blank(tail, strlen(tail))) {
        sqlite3_finalize(st);
        return err_set(e, ERR_INVALID,
                       "db_prepare takes one statement; use db_exec for scripts (in: %.200s)", sql);
    }
    *out = (db_drv_stmt *)(void *)st;
    return ERR_OK;
}

static void sq_finalize(db_drv_stmt *s)
{
    sqlite3_finalize(ST(s));
}
static void sq_reset(db_drv_stmt *s)
{
    sqlite3_reset(ST(s));
    sqlite3_clear_bindings(ST(s));
}
static int sq_param_count(db_drv_stmt *s)
{
    return sqlite3_bind_parameter_count(ST(s));
}

static err_code sq_bind_rc(int rc)
{
    return rc == SQLITE_OK ? ERR_OK : db_errclass_sqlite(rc);
}

static err_code sq_bind_null(db_drv_stmt *s, int i)
{
    return sq_bind_rc(sqlite3_bind_null(ST(s), i));
}
static err_code sq_bind_int64(db_drv_stmt *s, int i, int64_t v)
{
    return sq_bind_rc(sqlite3_bind_int64(ST(s), i, (sqlite3_int64)v));
}
static err_code sq_bind_double(db_drv_stmt *s, int i, double v)
{
    return sq_bind_rc(sqlite3_bind_double(ST(s), i, v));
}
static err_code sq_bind_text(db_drv_stmt *s, int i, const char *v, size_t n)
{
    return sq_bind_rc(
        sqlite3_bind_text64(ST(s), i, v, (sqlite3_uint64)n, SQLITE_STATIC, SQLITE_UTF8));
}
static err_code sq_bind_time(db_drv_stmt *s, int i, utc_us t)
{
    char buf[UTC_ISO_LEN];
    utc_format(t, buf);
    return sq_bind_rc(sqlite3_bind_text(ST(s), i, buf, (int)strlen(buf), SQLITE_TRANSIENT));
}
static err_code sq_bind_blob(db_drv_stmt *s, int i, const void *v, size_t n)
{
    if (n == 0)
        return sq_bind_rc(sqlite3_bind_zeroblob(ST(s), i, 0));
    return sq_bind_rc(sqlite3_bind_blob64(ST(s), i, v, (sqlite3_uint64)n, SQLITE_STATIC));
}

static int sq_step(db_drv_stmt *s, err_t *e)
{
    int rc = sqlite3_step(ST(s));
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    sqlite3 *h = sqlite3_db_handle(ST(s));
    return (int)sq_err(h, rc, e, NULL, sqlite3_sql(ST(s)));
}

static int64_t sq_changes(db_drv_stmt *s)
{
#if SQLITE_VERSION_NUMBER >= 3037000
    return sqlite3_changes64(sqlite3_db_handle(ST(s)));
#else
    return sqlite3_changes(sqlite3_db_handle(ST(s)));
#endif
}

static int sq_col_count(db_drv_stmt *s)
{
    return sqlite3_column_count(ST(s));
}
static const char *sq_col_name(db_drv_stmt *s, int i)
{
    return sqlite3_column_name(ST(s), i);
}
static bool sq_col_null(db_drv_stmt *s, int i)
{
    return sqlite3_column_type(ST(s), i) == SQLITE_NULL;
}
static int64_t sq_col_int64(db_drv_stmt *s, int i)
{
    return sqlite3_column_int64(ST(s), i);
}
static double sq_col_double(db_drv_stmt *s, int i)
{
    return sqlite3_column_double(ST(s), i);
}
static const char *sq_col_text(db_drv_stmt *s, int i, size_t *len)
{
    const unsigned char *p = sqlite3_column_text(ST(s), i);
    if (len)
        *len = p ? (size_t)sqlite3_column_bytes(ST(s), i) : 0;
    return (const char *)p;
}
static utc_us sq_col_time(db_drv_stmt *s, int i)
{
    switch (sqlite3_column_type(ST(s), i)) {
    case SQLITE_NULL: return 0;
    case SQLITE_INTEGER: /* tolerated: microseconds since the epoch */
        return sqlite3_column_int64(ST(s), i);
    default: {
        const char *t = (const char *)sqlite3_column_text(ST(s), i);
        utc_us v = 0;
        err_t e;
        if (!t || utc_parse(t, &v, &e) != ERR_OK)
            return 0;
        return v;
    }
    }
}
static const void *sq_col_blob(db_drv_stmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(ST(s), i);
    if (len)
        *len = (size_t)sqlite3_column_bytes(ST(s), i);
    return p;
}

const db_driver db_driver_sqlite = {
    .name = "sqlite",
    .dialect = "sqlite",
    .backend = DB_BACKEND_SQLITE,
    .single_connection = sq_single_connection,
    .single_writer = sq_single_writer,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .ping = sq_ping,
    .caps = sq_caps,
    .server_version = sq_server_version,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_transaction = sq_in_transaction,
    .last_insert_id = sq_last_insert_id,
    .checkpoint = sq_checkpoint,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .param_count = sq_param_count,
    .bind_null = sq_bind_null,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_json = sq_bind_text,
    .bind_time = sq_bind_time,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .changes = sq_changes,
    .col_count = sq_col_count,
    .col_name = sq_col_name,
    .col_null = sq_col_null,
    .col_int64 = sq_col_int64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_json = sq_col_text,
    .col_time = sq_col_time,
    .col_blob = sq_col_blob,
};
