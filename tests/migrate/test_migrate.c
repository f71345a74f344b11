/* tests/migrate/test_migrate.c — cmocka tests of the migration engine on SQLite,
 * run once on an on-disk file (argv[1] = "file") and once on :memory: ("memory"):
 * up on an empty database, status/check, round trips and `to N`, refusal of an
 * edited applied migration and of a newer database, rollback of a failing
 * migration, and concurrent migrators in several processes (file mode only).
 * Synthetic migration sets (an extra version, an edited 0001, bad SQL) go
 * through migrate_internal.h. Must not: depend on the store, or on the exact
 * tables of 0001 (they are read from the embedded schema file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "db/db.h"
#include "migrate/embedded.h"
#include "migrate/migrate.h"
#include "migrate/migrate_internal.h"
#include "test_support.h"

static bool g_memory; /* :memory: mode */
static char *g_dir;   /* private temp dir for file mode */
static int g_seq;     /* database file counter */
static int L;         /* latest embedded sqlite version */

/* ---- fixture ------------------------------------------------------------- */

typedef struct fx {
    db_t *db;
    char path[600];
    char url[700];
} fx;

static void fx_url(fx *f)
{
    if (g_memory) {
        f->path[0] = '\0';
        snprintf(f->url, sizeof f->url, "sqlite:///:memory:");
    } else {
        snprintf(f->path, sizeof f->path, "%s/t%03d.db", g_dir, ++g_seq);
        snprintf(f->url, sizeof f->url, "sqlite:///%s", f->path); /* path is absolute */
    }
}

static db_t *open_url(const char *url)
{
    db_opts o;
    db_opts_default(&o);
    db_t *db = NULL;
    err_t e;
    err_clear(&e);
    if (db_open(url, &o, &db, &e) != ERR_OK) {
        print_error("db_open(%s): %s\n", url, e.msg);
        return NULL;
    }
    return db;
}

static void rm_db_files(const char *path)
{
    if (!path[0])
        return;
    char p[700];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof *f);
    fx_url(f);
    f->db = open_url(f->url);
    if (!f->db) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->db)
        db_close(f->db);
    rm_db_files(f->path);
    free(f);
    return 0;
}

/* ---- SQL helpers ----------------------------------------------------------- */

/* First column of the first row as an integer; -1 when there is no row. The
 * text arguments a1, a2 (may be NULL) bind to ?1, ?2. */
static int64_t q_int2(db_t *db, const char *sql, const char *a1, const char *a2)
{
    err_t e;
    err_clear(&e);
    db_conn *c = NULL;
    if (db_acquire(db, DB_READ, &c, &e) != ERR_OK)
        fail_msg("db_acquire: %s", e.msg);
    db_stmt *s = NULL;
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("prepare %s: %s", sql, e.msg);
    if (a1)
        db_bind_text(s, 1, a1, -1);
    if (a2)
        db_bind_text(s, 2, a2, -1);
    int r = db_step(s, &e);
    int64_t v = -1;
    if (r == DB_ROW)
        v = db_col_int64(s, 0);
    else if (r != DB_DONE)
        fail_msg("step %s: %s", sql, e.msg);
    db_stmt_done(s);
    db_release(c);
    return v;
}

static int64_t q_int(db_t *db, const char *sql)
{
    return q_int2(db, sql, NULL, NULL);
}

static bool has_object(db_t *db, const char *type, const char *name)
{
    return q_int2(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = ? AND name = ?", type,
                  name) == 1;
}

static void exec_write(db_t *db, const char *sql)
{
    err_t e;
    err_clear(&e);
    db_conn *c = NULL;
    if (db_acquire(db, DB_WRITE, &c, &e) != ERR_OK)
        fail_msg("db_acquire: %s", e.msg);
    if (db_exec(c, sql, &e) != ERR_OK)
        fail_msg("exec %s: %s", sql, e.msg);
    db_release(c);
}

/* Everything observable about the schema and its bookkeeping, as text. */
static char *snapshot(db_t *db)
{
    err_t e;
    err_clear(&e);
    sbuf_t b = SBUF_INIT;
    db_conn *c = NULL;
    if (db_acquire(db, DB_READ, &c, &e) != ERR_OK)
        fail_msg("db_acquire: %s", e.msg);
    db_stmt *s = NULL;
    if (db_prepare(
            c,
            "SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name",
            &s, &e) != ERR_OK)
        fail_msg("prepare: %s", e.msg);
    bool sm = false;
    int r;
    while ((r = db_step(s, &e)) == DB_ROW) {
        const char *name = db_col_text(s, 1, NULL);
        if (str_eq(name, "schema_migrations"))
            sm = true;
        sbuf_printf(&b, "%s|%s|%s|%s\n", db_col_text(s, 0, NULL), name, db_col_text(s, 2, NULL),
                    db_col_text(s, 3, NULL));
    }
    if (r != DB_DONE)
        fail_msg("step: %s", e.msg);
    db_stmt_done(s);
    if (sm) {
        if (db_prepare(c,
                       "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY "
                       "version",
                       &s, &e) != ERR_OK)
            fail_msg("prepare: %s", e.msg);
        while ((r = db_step(s, &e)) == DB_ROW)
            sbuf_printf(&b, "row %lld|%s|%s|%s\n", (long long)db_col_int64(s, 0),
                        db_col_text(s, 1, NULL), db_col_text(s, 2, NULL), db_col_text(s, 3, NULL));
        if (r != DB_DONE)
            fail_msg("step: %s", e.msg);
        db_stmt_done(s);
    }
    db_release(c);
    return sbuf_detach(&b);
}

/* Names of the non-internal objects in the database, sorted, one per line. */
static char *user_objects(db_t *db)
{
    err_t e;
    err_clear(&e);
    sbuf_t b = SBUF_INIT;
    db_conn *c = NULL;
    if (db_acquire(db, DB_READ, &c, &e) != ERR_OK)
        fail_msg("db_acquire: %s", e.msg);
    db_stmt *s = NULL;
    if (db_prepare(c, "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
                   &s, &e) != ERR_OK)
        fail_msg("prepare: %s", e.msg);
    int r;
    while ((r = db_step(s, &e)) == DB_ROW)
        sbuf_printf(&b, "%s\n", db_col_text(s, 0, NULL));
    if (r != DB_DONE)
        fail_msg("step: %s", e.msg);
    db_stmt_done(s);
    db_release(c);
    return sbuf_detach(&b);
}

/* ---- what the schema files declare --------------------------------------- */

#define MAX_DECL 128
typedef struct decl {
    char type[8]; /* "table" | "index" */
    char name[64];
} decl;

/* Scans an up script for CREATE [UNIQUE|VIRTUAL] TABLE|INDEX|TRIGGER [IF NOT EXISTS] name,
 * skipping -- comments and '...' strings. */
static size_t declared(const char *sql, decl *out, size_t max)
{
    enum {
        MAXTOK = 4096
    };
    static char tok[MAXTOK][64];
    size_t nt = 0, n = 0;
    for (const char *p = sql; *p && nt < MAXTOK;) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (*p == '\'') {
            p++;
            while (*p && *p != '\'')
                p++;
            if (*p)
                p++;
        } else if (isalnum((unsigned char)*p) || *p == '_') {
            size_t k = 0;
            while ((isalnum((unsigned char)*p) || *p == '_')) {
                if (k < sizeof tok[0] - 1)
                    tok[nt][k++] = *p;
                p++;
            }
            tok[nt++][k] = '\0';
        } else {
            p++;
        }
    }
    for (size_t i = 0; i + 2 < nt && n < max; i++) {
        if (!str_eq_ci(tok[i], "CREATE"))
            continue;
        size_t j = i + 1;
        if (str_eq_ci(tok[j], "UNIQUE") || str_eq_ci(tok[j], "VIRTUAL"))
            j++; /* 0002: FTS5 */
        if (j >= nt || (!str_eq_ci(tok[j], "TABLE") && !str_eq_ci(tok[j], "INDEX") &&
                        !str_eq_ci(tok[j], "TRIGGER")))
            continue;
        const char *type = str_eq_ci(tok[j], "TABLE")   ? "table"
                           : str_eq_ci(tok[j], "INDEX") ? "index"
                                                        : "trigger";
        j++;
        if (j + 2 < nt && str_eq_ci(tok[j], "IF") && str_eq_ci(tok[j + 1], "NOT") &&
            str_eq_ci(tok[j + 2], "EXISTS"))
            j += 3;
        if (j >= nt)
            continue;
        snprintf(out[n].type, sizeof out[n].type, "%s", type);
        snprintf(out[n].name, sizeof out[n].name, "%s", tok[j]);
        n++;
    }
    return n;
}

static const migrate_embedded_file *embedded_up(int version)
{
    for (const migrate_embedded_file *f = migrate_embedded; f->dialect; f++)
        if (str_eq(f->dialect, "sqlite") && f->version == version && f->direction == MIGRATE_UP)
            return f;
    return NULL;
}

/* Every object the up scripts declare, once (a later migration may replace an object an
 * earlier one made: 0003 makes secure_tokens and its indexes anew). */
static size_t declared_all(decl *out, size_t max)
{
    static decl one[MAX_DECL];
    size_t n = 0;
    for (int v = 1; v <= L; v++) {
        const migrate_embedded_file *f = embedded_up(v);
        size_t got = f ? declared(f->sql, one, MAX_DECL) : 0;
        for (size_t i = 0; i < got && n < max; i++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = str_eq(out[k].type, one[i].type) && str_eq(out[k].name, one[i].name);
            if (!seen)
                out[n++] = one[i];
        }
    }
    return n;
}

static void assert_schema_present(db_t *db)
{
    decl d[MAX_DECL];
    size_t n = declared_all(d, MAX_DECL);
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) {
        if (!has_object(db, d[i].type, d[i].name))
            fail_msg("%s %s missing after up", d[i].type, d[i].name);
    }
    /* nothing else but the engine's own table */
    /* (an FTS5 table's own shadow tables, <name>_data etc., are part of it) */
    int64_t count =
        q_int(db, "SELECT COUNT(*) FROM sqlite_master o WHERE o.name NOT LIKE 'sqlite_%'"
                  " AND NOT EXISTS (SELECT 1 FROM sqlite_master v WHERE v.sql LIKE"
                  " 'CREATE VIRTUAL TABLE%' AND o.name IN (v.name || '_data',"
                  " v.name || '_idx', v.name || '_docsize', v.name || '_config',"
                  " v.name || '_content'))");
    assert_int_equal(count, (int64_t)n + 1);
    assert_true(has_object(db, "table", "schema_migrations"));
}

/* ---- synthetic migration sets --------------------------------------------- */

typedef struct mset {
    migrate_embedded_file f[32];
    size_t n;
    char *owned[8];
    size_t nowned;
} mset;

static void ms_add(mset *m, int version, const char *name, int dir, const char *sql)
{
    assert_true(m->n < 31);
    m->f[m->n++] = (migrate_embedded_file){"sqlite", version, name, dir, sql, strlen(sql)};
    m->f[m->n] = (migrate_embedded_file){0, 0, 0, 0, 0, 0};
}

static void ms_add_embedded(mset *m)
{
    for (const migrate_embedded_file *f = migrate_embedded; f->dialect; f++) {
        if (!str_eq(f->dialect, "sqlite"))
            continue;
        assert_true(m->n < 31);
        m->f[m->n++] = *f;
    }
    m->f[m->n] = (migrate_embedded_file){0, 0, 0, 0, 0, 0};
}

/* Real migrations + version L+1 (extra) + L+2 (more). */
static void ms_real_plus2(mset *m)
{
    memset(m, 0, sizeof *m);
    ms_add_embedded(m);
    ms_add(m, L + 1, "test_extra", MIGRATE_UP,
           "CREATE TABLE test_extra (id INTEGER PRIMARY KEY, note TEXT);\n"
           "CREATE INDEX idx_test_extra_note ON test_extra (note);\n");
    ms_add(m, L + 1, "test_extra", MIGRATE_DOWN, "DROP TABLE test_extra;\n");
    ms_add(m, L + 2, "test_more", MIGRATE_UP, "CREATE TABLE test_more (id INTEGER PRIMARY KEY);\n");
    ms_add(m, L + 2, "test_more", MIGRATE_DOWN, "DROP TABLE test_more;\n");
}

/* Real migrations with version 1's up script edited, + version L+1. */
static void ms_edited(mset *m)
{
    memset(m, 0, sizeof *m);
    ms_add_embedded(m);
    for (size_t i = 0; i < m->n; i++) {
        if (m->f[i].version == 1 && m->f[i].direction == MIGRATE_UP) {
            sbuf_t b = SBUF_INIT;
            sbuf_append(&b, m->f[i].sql, m->f[i].len);
            sbuf_puts(&b, "\n-- an innocent-looking edit\n");
            m->f[i].len = b.len;
            m->f[i].sql = m->owned[m->nowned++] = sbuf_detach(&b);
        }
    }
    ms_add(m, L + 1, "test_extra", MIGRATE_UP,
           "CREATE TABLE test_extra (id INTEGER PRIMARY KEY);\n");
    ms_add(m, L + 1, "test_extra", MIGRATE_DOWN, "DROP TABLE test_extra;\n");
}

static void ms_free(mset *m)
{
    for (size_t i = 0; i < m->nowned; i++)
        free(m->owned[i]);
    m->nowned = 0;
}

static const char *v1_label(char buf[80])
{
    const migrate_embedded_file *f = embedded_up(1);
    snprintf(buf, 80, "%04d_%s", 1, f ? f->name : "?");
    return buf;
}

#define assert_msg_has(e, s) \
    do { \
        if (!strstr((e).msg, (s))) \
            fail_msg("message \"%s\" lacks \"%s\"", (e).msg, (s)); \
    } while (0)

/* ---- tests ------------------------------------------------------------------ */

static void test_latest(void **state)
{
    (void)state;
    assert_true(L >= 1);
    assert_int_equal(migrate_latest("sqlite"), L);
    assert_int_equal(migrate_latest("nosuchdialect"), 0);
    char a[65], b[65];
    migrate_sha256_hex("abc", 3, a);
    assert_string_equal(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    migrate_sha256_hex("", 0, b);
    assert_string_equal(b, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_up_empty(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);

    /* before: nothing applied, check says what to do, nothing was created */
    migrate_status st;
    assert_int_equal(migrate_get_status(f->db, &st, &e), ERR_OK);
    assert_int_equal(st.current, 0);
    assert_int_equal(st.latest, L);
    assert_int_equal(st.db_newest, 0);
    assert_int_equal((int)st.n, L);
    for (size_t i = 0; i < st.n; i++)
        assert_false(st.entries[i].applied);
    migrate_status_free(&st);
    assert_int_equal(migrate_check(f->db, &e), ERR_SCHEMA);
    char want[200];
    snprintf(want, sizeof want,
             "database schema is at version 0, this ctxd expects %d: run `ctxd migrate up`", L);
    assert_string_equal(e.msg, want);
    assert_false(has_object(f->db, "table", "schema_migrations"));

    utc_us t0 = utc_now();
    int applied = -1;
    assert_int_equal(migrate_up(f->db, -1, &applied, &e), ERR_OK);
    utc_us t1 = utc_now();
    assert_int_equal(applied, L);
    assert_schema_present(f->db);

    assert_int_equal(migrate_get_status(f->db, &st, &e), ERR_OK);
    assert_int_equal(st.current, L);
    assert_int_equal(st.latest, L);
    assert_int_equal(st.db_newest, L);
    assert_int_equal((int)st.n, L);
    for (size_t i = 0; i < st.n; i++) {
        const migrate_entry *m = &st.entries[i];
        assert_int_equal(m->version, (int)i + 1);
        assert_true(m->applied);
        assert_false(m->checksum_mismatch);
        assert_string_equal(m->checksum, m->applied_checksum);
        const migrate_embedded_file *up = embedded_up(m->version);
        assert_non_null(up);
        assert_string_equal(m->name, up->name);
        char sum[65];
        migrate_sha256_hex(up->sql, up->len, sum);
        assert_string_equal(m->checksum, sum);
        if (m->applied_at < t0 - 1000000 || m->applied_at > t1 + 1000000)
            fail_msg("applied_at %lld outside [%lld, %lld]", (long long)m->applied_at,
                     (long long)t0, (long long)t1);
    }
    migrate_status_free(&st);
    assert_int_equal(migrate_check(f->db, &e), ERR_OK);

    /* again: a no-op */
    char *before = snapshot(f->db);
    applied = -1;
    assert_int_equal(migrate_up(f->db, -1, &applied, &e), ERR_OK);
    assert_int_equal(applied, 0);
    char *after = snapshot(f->db);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), L);

    /* NULL out-parameter is fine */
    assert_int_equal(migrate_up(f->db, -1, NULL, &e), ERR_OK);
}

static void test_round_trip(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);
    int n = -1;
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_OK);
    assert_int_equal(n, L);

    n = -1;
    assert_int_equal(migrate_down(f->db, 0, &n, &e), ERR_OK);
    assert_int_equal(n, L);
    char *objs = user_objects(f->db);
    assert_string_equal(objs, "schema_migrations\n");
    free(objs);
    assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), 0);
    assert_int_equal(migrate_check(f->db, &e), ERR_SCHEMA);
    assert_msg_has(e, "is at version 0");

    /* down on an empty database: nothing to do */
    n = -1;
    assert_int_equal(migrate_down(f->db, 0, &n, &e), ERR_OK);
    assert_int_equal(n, 0);

    n = -1;
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_OK);
    assert_int_equal(n, L);
    assert_schema_present(f->db);
    assert_int_equal(migrate_check(f->db, &e), ERR_OK);

    /* to N both ways with two synthetic versions on top */
    mset m;
    ms_real_plus2(&m);
    assert_int_equal(migrate_latest_with(m.f, "sqlite"), L + 2);
    assert_int_equal(migrate_check_with(f->db, m.f, &e), ERR_SCHEMA);
    assert_msg_has(e, "run `ctxd migrate up`");

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, L + 2, &n, &e), ERR_OK);
    assert_int_equal(n, 2);
    assert_true(has_object(f->db, "table", "test_extra"));
    assert_true(has_object(f->db, "index", "idx_test_extra_note"));
    assert_true(has_object(f->db, "table", "test_more"));
    assert_int_equal(migrate_check_with(f->db, m.f, &e), ERR_OK);
    /* the real set now sees a database newer than itself */
    assert_int_equal(migrate_check(f->db, &e), ERR_SCHEMA);
    char want[200];
    snprintf(want, sizeof want,
             "database schema version %d is newer than this ctxd (knows up to %d): upgrade ctxd",
             L + 2, L);
    assert_string_equal(e.msg, want);

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, L, &n, &e), ERR_OK);
    assert_int_equal(n, 2);
    assert_false(has_object(f->db, "table", "test_extra"));
    assert_false(has_object(f->db, "table", "test_more"));
    assert_schema_present(f->db);
    assert_int_equal(migrate_check(f->db, &e), ERR_OK);

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, L + 1, &n, &e), ERR_OK);
    assert_int_equal(n, 1);
    assert_true(has_object(f->db, "table", "test_extra"));
    assert_false(has_object(f->db, "table", "test_more"));

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, L + 1, &n, &e), ERR_OK);
    assert_int_equal(n, 0);

    migrate_status st;
    assert_int_equal(migrate_get_status_with(f->db, m.f, &st, &e), ERR_OK);
    assert_int_equal(st.current, L + 1);
    assert_int_equal(st.latest, L + 2);
    assert_int_equal(st.db_newest, L + 1);
    assert_int_equal((int)st.n, L + 2);
    assert_true(st.entries[L].applied);
    assert_false(st.entries[L + 1].applied);
    assert_int_equal(st.entries[L + 1].applied_at, 0);
    assert_string_equal(st.entries[L + 1].applied_checksum, "");
    migrate_status_free(&st);

    /* up to a target below the current version does nothing; down above it neither */
    n = -1;
    assert_int_equal(migrate_up_with(f->db, m.f, 1, &n, &e), ERR_OK);
    assert_int_equal(n, 0);
    n = -1;
    assert_int_equal(migrate_down_with(f->db, m.f, L + 2, &n, &e), ERR_OK);
    assert_int_equal(n, 0);

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, 0, &n, &e), ERR_OK);
    assert_int_equal(n, L + 1);
    objs = user_objects(f->db);
    assert_string_equal(objs, "schema_migrations\n");
    free(objs);

    n = -1;
    assert_int_equal(migrate_to_with(f->db, m.f, L + 2, &n, &e), ERR_OK);
    assert_int_equal(n, L + 2);
    assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), L + 2);

    /* targets out of range */
    assert_int_equal(migrate_up_with(f->db, m.f, L + 3, &n, &e), ERR_INVALID);
    assert_int_equal(migrate_up(f->db, -2, &n, &e), ERR_INVALID);
    assert_int_equal(migrate_down_with(f->db, m.f, -1, &n, &e), ERR_INVALID);
    assert_int_equal(migrate_to_with(f->db, m.f, -1, &n, &e), ERR_INVALID);
    assert_int_equal(migrate_to_with(f->db, m.f, L + 3, &n, &e), ERR_INVALID);
    ms_free(&m);
}

static void test_checksum_mismatch(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);
    int n = -1;
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_OK);
    char *before = snapshot(f->db);

    mset m;
    ms_edited(&m);
    char label[80], want[300];
    snprintf(want, sizeof want,
             "migration %s was edited after it was applied (checksum differs): "
             "restore the original file or repair the database",
             v1_label(label));

    n = -1;
    assert_int_equal(migrate_up_with(f->db, m.f, -1, &n, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    assert_int_equal(n, 0);
    assert_false(has_object(f->db, "table", "test_extra"));
    char *after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);

    n = -1;
    assert_int_equal(migrate_down_with(f->db, m.f, 0, &n, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    assert_int_equal(n, 0);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);

    assert_int_equal(migrate_to_with(f->db, m.f, L + 1, &n, &e), ERR_SCHEMA);
    assert_int_equal(migrate_check_with(f->db, m.f, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);

    migrate_status st;
    assert_int_equal(migrate_get_status_with(f->db, m.f, &st, &e), ERR_OK);
    assert_true(st.entries[0].applied);
    assert_true(st.entries[0].checksum_mismatch);
    assert_string_not_equal(st.entries[0].checksum, st.entries[0].applied_checksum);
    for (size_t i = 1; i < (size_t)L; i++)
        assert_false(st.entries[i].checksum_mismatch);
    migrate_status_free(&st);

    /* the original set is still happy */
    assert_int_equal(migrate_check(f->db, &e), ERR_OK);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    free(before);
    ms_free(&m);
}

static void test_newer_refused(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);
    const migrate_dialect *d = migrate_dialect_find("sqlite");
    assert_non_null(d);
    exec_write(f->db, d->create_sql);
    exec_write(f->db, "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                      " VALUES (99, 'from_the_future', 'abc', '2030-01-01T00:00:00.000000Z')");
    char *before = snapshot(f->db);
    char want[200];
    snprintf(want, sizeof want,
             "database schema version 99 is newer than this ctxd (knows up to %d): upgrade ctxd",
             L);

    int n = -1;
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    assert_int_equal(n, 0);
    char *after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    char *objs = user_objects(f->db);
    assert_string_equal(objs, "schema_migrations\n");
    free(objs);

    assert_int_equal(migrate_down(f->db, 0, &n, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    assert_int_equal(migrate_to(f->db, 1, &n, &e), ERR_SCHEMA);
    assert_int_equal(migrate_check(f->db, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    free(before);

    migrate_status st;
    assert_int_equal(migrate_get_status(f->db, &st, &e), ERR_OK);
    assert_int_equal(st.current, 0);
    assert_int_equal(st.db_newest, 99);
    assert_int_equal((int)st.n, L + 1);
    const migrate_entry *last = &st.entries[st.n - 1];
    assert_int_equal(last->version, 99);
    assert_string_equal(last->name, "from_the_future");
    assert_true(last->applied);
    assert_string_equal(last->checksum, "");
    assert_string_equal(last->applied_checksum, "abc");
    migrate_status_free(&st);

    /* same on a fully migrated database that a newer ctxd then touched */
    exec_write(f->db, "DELETE FROM schema_migrations");
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_OK);
    exec_write(f->db, "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                      " VALUES (99, 'from_the_future', 'abc', '2030-01-01T00:00:00.000000Z')");
    before = snapshot(f->db);
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_SCHEMA);
    assert_string_equal(e.msg, want);
    assert_int_equal(migrate_down(f->db, 0, &n, &e), ERR_SCHEMA);
    assert_int_equal(n, 0);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    free(before);
}

static void test_unknown_and_gap_refused(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);
    mset m;
    ms_real_plus2(&m);
    int n = -1;
    assert_int_equal(migrate_up_with(f->db, m.f, -1, &n, &e), ERR_OK);
    assert_int_equal(n, L + 2);

    /* a gap: L+1 reverted by hand, L+2 still recorded */
    char sql[200];
    snprintf(sql, sizeof sql, "DELETE FROM schema_migrations WHERE version = %d", L + 1);
    exec_write(f->db, sql);
    char *before = snapshot(f->db);
    assert_int_equal(migrate_up_with(f->db, m.f, -1, &n, &e), ERR_SCHEMA);
    assert_msg_has(e, "test_extra is not applied but later migration");
    assert_int_equal(n, 0);
    assert_int_equal(migrate_check_with(f->db, m.f, &e), ERR_SCHEMA);
    char *after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    free(before);

    /* a version the binary does not know, below its latest */
    ms_free(&m);
    memset(&m, 0, sizeof m);
    ms_add_embedded(&m);
    ms_add(&m, L + 2, "test_more", MIGRATE_UP,
           "CREATE TABLE test_more (id INTEGER PRIMARY KEY);\n");
    ms_add(&m, L + 2, "test_more", MIGRATE_DOWN, "DROP TABLE test_more;\n");
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
             " VALUES (%d, 'test_extra', 'x', '2020-01-01T00:00:00.000000Z')",
             L + 1);
    exec_write(f->db, sql);
    assert_int_equal(migrate_down_with(f->db, m.f, 0, &n, &e), ERR_SCHEMA);
    assert_msg_has(e, "test_extra applied, which this ctxd does not know");
    assert_int_equal(n, 0);
    assert_true(has_object(f->db, "table", "test_more"));
    ms_free(&m);
}

static void test_failing_migration(void **state)
{
    fx *f = *state;
    err_t e;
    err_clear(&e);
    mset m;
    memset(&m, 0, sizeof m);
    ms_add_embedded(&m);
    ms_add(&m, L + 1, "test_bad", MIGRATE_UP,
           "CREATE TABLE test_half (id INTEGER PRIMARY KEY);\n"
           "INSERT INTO test_half (id) VALUES (1);\n"
           "CREATE TABLEE test_oops (x);\n");
    ms_add(&m, L + 1, "test_bad", MIGRATE_DOWN, "DROP TABLE test_half;\n");
    char label[80];
    snprintf(label, sizeof label, "migration %04d_test_bad", L + 1);

    /* from empty: the good ones commit, the bad one leaves nothing */
    int n = -1;
    assert_int_equal(migrate_up_with(f->db, m.f, -1, &n, &e), ERR_SYNTAX);
    assert_msg_has(e, label);
    assert_msg_has(e, "failed");
    assert_null(strchr(e.msg, '\n')); /* one line, even if the driver quotes the script */
    assert_int_equal(n, L);
    assert_false(has_object(f->db, "table", "test_half"));
    assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), L);
    assert_schema_present(f->db);
    assert_int_equal(migrate_check(f->db, &e), ERR_OK);

    /* again from the latest real version: database untouched */
    char *before = snapshot(f->db);
    n = -1;
    err_clear(&e);
    assert_int_equal(migrate_up_with(f->db, m.f, -1, &n, &e), ERR_SYNTAX);
    assert_msg_has(e, label);
    assert_int_equal(n, 0);
    char *after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);
    free(before);
    ms_free(&m);
}

/* ---- concurrent migrators ------------------------------------------------ */

#define NPROC 4

typedef struct child_result {
    int rc;
    int applied;
    char msg[sizeof(((err_t *)0)->msg)];
} child_result;

static void child_run(const char *url, const migrate_embedded_file *set, int ready_w, int go_r,
                      int res_w)
{
    child_result res;
    memset(&res, 0, sizeof res);
    err_t e;
    err_clear(&e);
    db_opts o;
    db_opts_default(&o);
    db_t *db = NULL;
    res.rc = db_open(url, &o, &db, &e);
    char c = 'r';
    if (ts_write_full(ready_w, &c, 1) != 0)
        _exit(3);
    if (ts_read_full(go_r, &c, 1) < 0)
        _exit(4); /* EOF = go */
    if (res.rc == ERR_OK)
        res.rc = migrate_up_with(db, set, -1, &res.applied, &e);
    if (res.rc != ERR_OK)
        snprintf(res.msg, sizeof res.msg, "%s", e.msg);
    if (db)
        db_close(db);
    if (ts_write_full(res_w, &res, sizeof res) != 0)
        _exit(5); /* < PIPE_BUF: atomic */
    _exit(0);
}

static void concurrent_round(const migrate_embedded_file *set, int expect_total)
{
    fx f;
    fx_url(&f);
    rm_db_files(f.path);
    int ready[2], go[2], res[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(res), 0);
    pid_t pids[NPROC];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            child_run(f.url, set, ready[1], go[0], res[1]);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    for (int i = 0; i < NPROC; i++) {
        char c;
        assert_int_equal(ts_read_full(ready[0], &c, 1), 1);
    }
    close(go[1]); /* all children are ready: go */
    int total = 0, got = 0;
    child_result r;
    ssize_t k;
    while ((k = ts_read_full(res[0], &r, sizeof r)) == (ssize_t)sizeof r) {
        got++;
        if (r.rc != ERR_OK)
            fail_msg("a concurrent migrator failed: %s (%s)", err_code_name(r.rc), r.msg);
        total += r.applied;
    }
    close(ready[0]);
    close(res[0]);
    for (int i = 0; i < NPROC; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(got, NPROC);
    assert_int_equal(total, expect_total);

    f.db = open_url(f.url);
    assert_non_null(f.db);
    err_t e;
    err_clear(&e);
    assert_int_equal(q_int(f.db, "SELECT COUNT(*) FROM schema_migrations"), expect_total);
    assert_int_equal(q_int(f.db, "SELECT COUNT(DISTINCT version) FROM schema_migrations"),
                     expect_total);
    assert_int_equal(migrate_check_with(f.db, set, &e), ERR_OK);
    db_close(f.db);
    rm_db_files(f.path);
}

static void test_concurrent_processes(void **state)
{
    (void)state;
    if (g_memory)
        skip(); /* a :memory: database cannot be shared by processes */
    for (int round = 0; round < 3; round++)
        concurrent_round(migrate_embedded, L);
    mset m;
    ms_real_plus2(&m);
    for (int round = 0; round < 3; round++)
        concurrent_round(m.f, L + 2);
    ms_free(&m);
}

/* ---- main ------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    L = migrate_latest("sqlite");
    if (!g_memory)
        g_dir = ts_mkdtemp("migrate");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_dir) {
        ts_rm_rf(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "file";
    if (str_eq(mode, "memory"))
        g_memory = true;
    else if (!str_eq(mode, "file")) {
        fprintf(stderr, "usage: %s [file|memory]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest),
        cmocka_unit_test_setup_teardown(test_up_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_gap_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_migration, setup, teardown),
        cmocka_unit_test(test_concurrent_processes),
    };
    return cmocka_run_group_tests_name(g_memory ? "migrate (sqlite :memory:)"
                                                : "migrate (sqlite file)",
                                       tests, group_setup, group_teardown);
}
