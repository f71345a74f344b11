/* tests/mysql/test_mysql_migrate.c — the migration engine on the MariaDB fixture:
 * up/down round trip of the embedded mysql migrations, the logical schema
 * compared with the SQLite one (tables, columns, nullability, index names and
 * unique rules), several processes migrating one fresh database at once (GET_LOCK:
 * exactly one applies each migration, none fails), and a database newer than the
 * binary refused. Usage: test_mysql_migrate (URL from the mariadb fixture);
 * `test_mysql_migrate --child URL` is the migrating child process.
 * Must not: sleep to make timing assertions, or leave databases behind. */
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

#include "base/log.h"
#include "base/sbuf.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "my_support.h"
#include "test_support.h"

static char *g_server_url;

#define OKE(x) \
    do { \
        err_t e_; \
        err_clear(&e_); \
        err_code rc_ = (x); \
        if (rc_ != ERR_OK) \
            fail_msg("%s -> %s: %s", #x, err_code_name(rc_), e_.msg); \
    } while (0)

typedef struct {
    char *name, *url;
    db_t *db;
} fresh;

static int setup(void **state)
{
    fresh *f = calloc(1, sizeof *f);
    f->url = my_fresh_db(g_server_url, &f->name);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fresh *f = *state;
    db_close(f->db);
    my_drop_db(g_server_url, f->name);
    free(f->name);
    free(f->url);
    free(f);
    return 0;
}

static db_t *open_db(const char *url)
{
    db_t *db = NULL;
    err_t e;
    err_clear(&e);
    if (db_open(url, NULL, &db, &e) != ERR_OK)
        fail_msg("db_open: %s", e.msg);
    return db;
}

/* Rows of a query as "a|b|c" lines, sorted by the query. */
static char *rows(db_t *db, const char *sql, const char *param)
{
    db_conn *c;
    OKE(db_acquire(db, DB_READ, &c, &e_));
    db_stmt *s;
    OKE(db_prepare(c, sql, &s, &e_));
    if (param)
        db_bind_text(s, 1, param, -1);
    sbuf_t b = SBUF_INIT;
    err_t e;
    int r;
    while ((r = db_step(s, &e)) == DB_ROW) {
        for (int i = 0; i < db_col_count(s); i++) {
            const char *t = db_col_text(s, i, NULL);
            sbuf_printf(&b, "%s%s", i ? "|" : "", t ? t : "NULL");
        }
        sbuf_putc(&b, '\n');
    }
    if (r != DB_DONE)
        fail_msg("%s: %s", sql, e.msg);
    db_stmt_done(s);
    db_release(c);
    return sbuf_detach(&b);
}

static int64_t q_int(db_t *db, const char *sql)
{
    char *t = rows(db, sql, NULL);
    int64_t v = atoll(t);
    free(t);
    return v;
}

static int64_t count_tables(db_t *db)
{
    return q_int(db,
                 "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()");
}

/* ---- up / down --------------------------------------------------------------------- */

static void test_up_down_roundtrip(void **state)
{
    fresh *f = *state;
    f->db = open_db(f->url);
    int latest = migrate_latest("mysql");
    assert_true(latest >= 1);
    assert_int_equal(latest, migrate_latest("sqlite")); /* same numbering */
    migrate_status st;
    OKE(migrate_get_status(f->db, &st, &e_));
    assert_int_equal(st.current, 0);
    assert_int_equal(st.latest, latest);
    migrate_status_free(&st);
    for (int round = 0; round < 2; round++) {
        int n = -1;
        OKE(migrate_up(f->db, -1, &n, &e_));
        assert_int_equal(n, latest);
        OKE(migrate_up(f->db, -1, &n, &e_));
        assert_int_equal(n, 0);
        OKE(migrate_check(f->db, &e_));
        OKE(migrate_get_status(f->db, &st, &e_));
        assert_int_equal(st.current, latest);
        migrate_status_free(&st);
        assert_int_equal(count_tables(f->db),
                         9); /* 8 (0004: visibility_counts) + schema_migrations */
        assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), latest);
        /* the recorded time is a sane UTC DATETIME(6) */
        assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"
                                      " WHERE applied_at > UTC_TIMESTAMP(6) - INTERVAL 1 HOUR"
                                      " AND applied_at < UTC_TIMESTAMP(6) + INTERVAL 1 HOUR"),
                         latest);
        OKE(migrate_down(f->db, 0, &n, &e_));
        assert_int_equal(n, latest);
        assert_int_equal(count_tables(f->db), 1); /* only schema_migrations */
        assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), 0);
    }
    OKE(migrate_up(f->db, -1, NULL, &e_));
    /* every table InnoDB + utf8mb4, text byte-wise */
    assert_int_equal(q_int(f->db,
                           "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ="
                           " DATABASE() AND table_name <> 'schema_migrations' AND"
                           " (engine <> 'InnoDB' OR table_collation <> 'utf8mb4_nopad_bin')"),
                     0);
    char *t = rows(f->db,
                   "SELECT collation_name FROM information_schema.columns WHERE table_schema ="
                   " DATABASE() AND table_name = 'agent_memory' AND column_name = 'key'",
                   NULL);
    assert_string_equal(t, "utf8mb4_nopad_bin\n");
    free(t);
}

/* The logical schema of a database: tables, columns with nullability, index
 * names with their unique flag — in a form comparable across dialects. */
static char *logical_schema(db_t *db, bool mysql)
{
    sbuf_t b = SBUF_INIT;
    char *tables =
        rows(db,
             mysql ? "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                     " DATABASE() AND table_name <> 'schema_migrations' ORDER BY table_name"
                   /* 0002's search index differs by design: SQLite's FTS5
                                   * table (+ shadow tables) and watermark, MariaDB's
                                   * search_grams column with its FULLTEXT index */
                   : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE"
                     " 'sqlite%' AND name <> 'schema_migrations' AND name NOT LIKE"
                     " 'messages\\_fts%' ESCAPE '\\' AND name <> 'search_state'"
                     " ORDER BY name",
             NULL);
    for (char *save = NULL, *tn = strtok_r(tables, "\n", &save); tn;
         tn = strtok_r(NULL, "\n", &save)) {
        sbuf_printf(&b, "table %s\n", tn);
        char *cols =
            mysql ? rows(db,
                         "SELECT column_name, CASE WHEN is_nullable = 'NO' THEN 'notnull' ELSE "
                         "'null' END"
                         " FROM information_schema.columns WHERE table_schema = DATABASE() AND "
                         "table_name = ?"
                         " AND extra NOT LIKE '%GENERATED%' AND column_name <> 'search_grams'"
                         " ORDER BY column_name",
                         tn)
                  : rows(db,
                         "SELECT name, CASE WHEN \"notnull\" OR pk THEN 'notnull' ELSE 'null' END"
                         " FROM pragma_table_info(?) ORDER BY name",
                         tn);
        sbuf_puts(&b, cols);
        free(cols);
        char *idx =
            mysql
                ? rows(
                      db,
                      "SELECT DISTINCT index_name, CASE WHEN non_unique = 0 THEN 'unique' ELSE "
                      "'index' END"
                      " FROM information_schema.statistics WHERE table_schema = DATABASE() AND"
                      " table_name = ? AND index_name <> 'PRIMARY' AND index_name NOT LIKE 'fk\\_%'"
                      " AND index_name <> 'idx_messages_search_grams'"
                      " ORDER BY index_name",
                      tn)
                : rows(db,
                       "SELECT name, CASE WHEN \"unique\" THEN 'unique' ELSE 'index' END"
                       " FROM pragma_index_list(?) WHERE origin = 'c' ORDER BY name",
                       tn);
        sbuf_puts(&b, idx);
        free(idx);
    }
    free(tables);
    return sbuf_detach(&b);
}

static void test_schema_parity_with_sqlite(void **state)
{
    fresh *f = *state;
    f->db = open_db(f->url);
    OKE(migrate_up(f->db, -1, NULL, &e_));
    db_t *sq = open_db("sqlite:///:memory:");
    OKE(migrate_up(sq, -1, NULL, &e_));
    char *a = logical_schema(sq, false), *b = logical_schema(f->db, true);
    if (strcmp(a, b) != 0)
        fail_msg("logical schemas differ:\n--- sqlite\n%s--- mysql\n%s", a, b);
    assert_non_null(strstr(b, "uq_memory_global|unique"));
    assert_non_null(strstr(b, "table agent_memory\n"));
    assert_non_null(strstr(b, "key|notnull\n"));
    assert_non_null(strstr(b, "session_id|null\n"));
    free(a);
    free(b);
    db_close(sq);
}

/* ---- concurrent migrators ------------------------------------------------------------- */

static int child_main(const char *url)
{
    char buf[1];
    while (read(0, buf, 1) > 0) {
    } /* start when the parent closes the pipe */
    db_t *db = NULL;
    err_t e;
    err_clear(&e);
    if (db_open(url, NULL, &db, &e) != ERR_OK) {
        fprintf(stderr, "child: db_open: %s\n", e.msg);
        return 100;
    }
    int n = -1;
    err_code rc = migrate_up(db, -1, &n, &e);
    db_close(db);
    if (rc != ERR_OK) {
        fprintf(stderr, "child: migrate_up: %s: %s\n", err_code_name(rc), e.msg);
        return 101;
    }
    return n;
}

static void test_concurrent_migrators(void **state)
{
    fresh *f = *state;
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
            dup2(go[0], 0);
            close(go[0]);
            close(go[1]);
            execl("/proc/self/exe", "test_mysql_migrate", "--child", f->url, (char *)NULL);
            _exit(127);
        }
    }
    close(go[0]);
    close(go[1]); /* all children start now */
    int total = 0;
    for (int i = 0; i < N; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code >= 100)
            fail_msg("child %d failed (exit %d)", i, code);
        total += code;
    }
    int latest = migrate_latest("mysql");
    assert_int_equal(total, latest); /* each migration applied exactly once */
    f->db = open_db(f->url);
    assert_int_equal(q_int(f->db, "SELECT COUNT(*) FROM schema_migrations"), latest);
    assert_int_equal(count_tables(f->db), 9);
    OKE(migrate_check(f->db, &e_));
}

/* ---- newer database -------------------------------------------------------------------- */

static void test_newer_database_refused(void **state)
{
    fresh *f = *state;
    f->db = open_db(f->url);
    OKE(migrate_up(f->db, -1, NULL, &e_));
    db_conn *c;
    OKE(db_acquire(f->db, DB_WRITE, &c, &e_));
    OKE(db_exec(c,
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES"
                " (999, 'from_the_future', REPEAT('0', 64), UTC_TIMESTAMP(6))",
                &e_));
    db_release(c);
    err_t e;
    err_clear(&e);
    int n = -1;
    assert_int_equal(migrate_up(f->db, -1, &n, &e), ERR_SCHEMA);
    assert_non_null(strstr(e.msg, "newer"));
    assert_null(strchr(e.msg, '\n'));
    err_clear(&e);
    assert_int_equal(migrate_check(f->db, &e), ERR_SCHEMA);
    err_clear(&e);
    assert_int_equal(migrate_down(f->db, 0, &n, &e), ERR_SCHEMA);
    migrate_status st;
    OKE(migrate_get_status(f->db, &st, &e_));
    assert_int_equal(st.db_newest, 999);
    migrate_status_free(&st);
    assert_int_equal(count_tables(f->db), 9); /* nothing touched */
}

int main(int argc, char **argv)
{
    log_set_level(LOG_ERROR);
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    g_server_url = my_fixture_url();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_up_down_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_parity_with_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_migrators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_server_url);
    return rc;
}
