/* tests/pg/test_pg_migrate.c — the migration engine on PostgreSQL (the `pg`
 * fixture): up / down / up round trip with the schema really created and
 * removed; several processes migrating one empty database at once apply each
 * migration exactly once (pg_advisory_lock); a database newer than the binary is
 * refused before anything changes; and the PostgreSQL schema has the same
 * logical shape as the SQLite one (tables, columns in order, nullability, index
 * names, which are unique, which are partial).
 * Must not: depend on the store, or touch any database but its own fresh ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/sbuf.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "pg_test.h"
#include "test_support.h"

static char *base_url;

static int group_setup(void **state)
{
    (void)state;
    base_url = pgt_var("pg", "CTXD_TEST_PG_URL");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(base_url);
    return 0;
}

typedef struct fresh {
    char *name, *url;
    db_t *db;
} fresh;

static void fresh_open(fresh *f)
{
    f->name = pgt_create_db(base_url);
    f->url = pgt_url_with(base_url, f->name, NULL);
    err_t e;
    if (db_open(f->url, NULL, &f->db, &e) != ERR_OK)
        fail_msg("%s", e.msg);
}

static void fresh_close(fresh *f)
{
    db_close(f->db);
    pgt_drop_db(base_url, f->name);
    free(f->name);
    free(f->url);
}

static int64_t count_of(db_t *db, const char *sql)
{
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    if (db_prepare(c, sql, &s, &e) != ERR_OK)
        fail_msg("%s: %s", sql, e.msg);
    assert_int_equal(db_step(s, &e), DB_ROW);
    int64_t n = db_col_int64(s, 0);
    db_stmt_done(s);
    db_release(c);
    return n;
}

#define CTXD_TABLES \
    "('sessions','messages','agent_memory','audit_log','secure_tokens','revoked_jtis')"

static void test_up_down_round_trip(void **state)
{
    (void)state;
    fresh f;
    fresh_open(&f);
    int latest = migrate_latest("postgresql");
    assert_true(latest >= 1);
    err_t e;
    int n = -1;
    if (migrate_up(f.db, -1, &n, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(n, latest);
    assert_int_equal(count_of(f.db,
                              "SELECT count(*) FROM information_schema.tables"
                              " WHERE table_schema = 'public' AND table_name IN " CTXD_TABLES),
                     6);
    assert_int_equal(migrate_check(f.db, &e), ERR_OK);
    migrate_status st;
    assert_int_equal(migrate_get_status(f.db, &st, &e), ERR_OK);
    assert_int_equal(st.current, latest);
    assert_true(st.n >= 1 && st.entries[0].applied && st.entries[0].applied_at > 0);
    migrate_status_free(&st);
    /* identity ids accept explicit values (a copy preserves ids) */
    db_conn *c;
    assert_int_equal(db_acquire(f.db, DB_WRITE, &c, &e), ERR_OK);
    assert_int_equal(
        db_exec(c,
                "INSERT INTO sessions (id, purpose, created_by, created_at, updated_at)"
                " VALUES ('s1', 'p', 'u', now(), now());"
                " INSERT INTO messages (id, session_id, sender, content, created_at)"
                " VALUES (4242, 's1', 'a', 'x', now())",
                &e),
        ERR_OK);
    /* JSON metadata must be an object */
    assert_int_equal(db_exec(c, "UPDATE sessions SET metadata = '[1]'", &e), ERR_CONSTRAINT);
    /* global memory keys are unique per agent; NULL session ids are not distinct */
    assert_int_equal(
        db_exec(c,
                "INSERT INTO agent_memory (agent_id, key, value, created_at, updated_at)"
                " VALUES ('a', 'k', '1', now(), now())",
                &e),
        ERR_OK);
    assert_int_equal(
        db_exec(c,
                "INSERT INTO agent_memory (agent_id, key, value, created_at, updated_at)"
                " VALUES ('a', 'k', '2', now(), now())",
                &e),
        ERR_UNIQUE);
    assert_int_equal(
        db_exec(c,
                "INSERT INTO agent_memory (agent_id, session_id, key, value, created_at,"
                " updated_at) VALUES ('a', 's1', 'k', '3', now(), now())",
                &e),
        ERR_OK);
    db_release(c);

    n = -1;
    if (migrate_down(f.db, 0, &n, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(n, latest);
    assert_int_equal(count_of(f.db,
                              "SELECT count(*) FROM information_schema.tables"
                              " WHERE table_schema = 'public' AND table_name IN " CTXD_TABLES),
                     0);
    assert_int_equal(count_of(f.db, "SELECT count(*) FROM schema_migrations"), 0);
    if (migrate_up(f.db, -1, &n, &e) != ERR_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(n, latest);
    assert_int_equal(migrate_up(f.db, -1, &n, &e), ERR_OK);
    assert_int_equal(n, 0); /* nothing left to do */
    fresh_close(&f);
}

static void test_concurrent_migrators(void **state)
{
    (void)state;
    fresh f;
    fresh_open(&f);
    enum {
        N = 4
    };
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            char ch;
            (void)!read(go[0], &ch, 1); /* EOF: everyone starts together */
            db_t *db = NULL;
            err_t e;
            int applied = -1;
            if (db_open(f.url, NULL, &db, &e) != ERR_OK ||
                migrate_up(db, -1, &applied, &e) != ERR_OK) {
                fprintf(stderr, "migrator %d: %s\n", i, e.msg);
                _exit(100);
            }
            db_close(db);
            _exit(applied);
        }
    }
    close(go[0]);
    close(go[1]);
    int total = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_true(WEXITSTATUS(st) < 100);
        total += WEXITSTATUS(st);
    }
    int latest = migrate_latest("postgresql");
    assert_int_equal(total, latest); /* each migration applied once */
    assert_int_equal(count_of(f.db, "SELECT count(*) FROM schema_migrations"), latest);
    err_t e;
    assert_int_equal(migrate_check(f.db, &e), ERR_OK);
    fresh_close(&f);
}

static void test_newer_database_refused(void **state)
{
    (void)state;
    fresh f;
    fresh_open(&f);
    err_t e;
    assert_int_equal(migrate_up(f.db, -1, NULL, &e), ERR_OK);
    db_conn *c;
    assert_int_equal(db_acquire(f.db, DB_WRITE, &c, &e), ERR_OK);
    assert_int_equal(db_exec(c,
                             "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                             " VALUES (9999, 'from_the_future', repeat('0', 64), now())",
                             &e),
                     ERR_OK);
    db_release(c);
    int n = -1;
    assert_int_equal(migrate_up(f.db, -1, &n, &e), ERR_SCHEMA);
    assert_non_null(strstr(e.msg, "9999"));
    assert_int_equal(migrate_down(f.db, 0, &n, &e), ERR_SCHEMA);
    assert_int_equal(migrate_check(f.db, &e), ERR_SCHEMA);
    /* nothing was changed */
    assert_int_equal(count_of(f.db,
                              "SELECT count(*) FROM information_schema.tables"
                              " WHERE table_schema = 'public' AND table_name IN " CTXD_TABLES),
                     6);
    fresh_close(&f);
}

/* ---- logical schema parity with SQLite ------------------------------------------ */

/* "table.column:notnull" lines, then "index:name:unique:partial" lines, sorted by
 * the queries themselves. */
static char *shape(db_t *db, const char *cols_sql, const char *idx_sql)
{
    sbuf_t b = SBUF_INIT;
    db_conn *c;
    db_stmt *s;
    err_t e;
    assert_int_equal(db_acquire(db, DB_READ, &c, &e), ERR_OK);
    const char *sqls[2] = {cols_sql, idx_sql};
    for (int q = 0; q < 2; q++) {
        if (db_prepare(c, sqls[q], &s, &e) != ERR_OK)
            fail_msg("%s: %s", sqls[q], e.msg);
        int r;
        while ((r = db_step(s, &e)) == DB_ROW) {
            sbuf_printf(&b, "%s|%s|%lld|%lld\n", db_col_text(s, 0, NULL), db_col_text(s, 1, NULL),
                        (long long)db_col_int64(s, 2), (long long)db_col_int64(s, 3));
        }
        assert_int_equal(r, DB_DONE);
        db_stmt_done(s);
    }
    db_release(c);
    return sbuf_detach(&b);
}

static void test_schema_parity_with_sqlite(void **state)
{
    (void)state;
    fresh f;
    fresh_open(&f);
    err_t e;
    assert_int_equal(migrate_up(f.db, -1, NULL, &e), ERR_OK);
    db_t *sq = NULL;
    assert_int_equal(db_open("sqlite:///:memory:", NULL, &sq, &e), ERR_OK);
    assert_int_equal(migrate_up(sq, -1, NULL, &e), ERR_OK);
    char *p = shape(f.db,
                    "SELECT table_name::text, column_name::text, ordinal_position::int,"
                    " (is_nullable = 'NO')::int FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name IN " CTXD_TABLES
                    " ORDER BY table_name COLLATE \"C\", ordinal_position",
                    "SELECT t.relname::text, i.relname::text, x.indisunique::int,"
                    " (x.indpred IS NOT NULL)::int FROM pg_index x"
                    " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
                    " JOIN pg_namespace n ON n.oid = t.relnamespace"
                    " WHERE n.nspname = 'public' AND t.relname IN " CTXD_TABLES
                    /* 0002's pg_trgm index serves search only (SQLite: FTS5 table) */
                    " AND NOT x.indisprimary AND i.relname <> 'idx_messages_search_trgm'"
                    " ORDER BY t.relname COLLATE \"C\", i.relname COLLATE \"C\"");
    char *q =
        shape(sq,
              "SELECT m.name, c.name, c.cid + 1, c.\"notnull\" OR c.pk > 0 FROM sqlite_master m,"
              " pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name IN " CTXD_TABLES
              " ORDER BY m.name, c.cid",
              "SELECT m.name, l.name, l.\"unique\", l.partial FROM sqlite_master m,"
              " pragma_index_list(m.name) l WHERE m.type = 'table' AND m.name IN " CTXD_TABLES
              " AND l.origin = 'c' ORDER BY m.name, l.name");
    assert_non_null(strstr(p, "agent_memory|uq_memory_global|1|1\n")); /* unique, partial */
    assert_non_null(strstr(p, "agent_memory|key|4|1\n"));
    if (strcmp(p, q) != 0)
        fail_msg("schemas differ:\n--- postgresql\n%s--- sqlite\n%s", p, q);
    free(p);
    free(q);
    db_close(sq);
    fresh_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_down_round_trip),
        cmocka_unit_test(test_concurrent_migrators),
        cmocka_unit_test(test_newer_database_refused),
        cmocka_unit_test(test_schema_parity_with_sqlite),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
