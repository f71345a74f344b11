/* tests/store/open.c — store_open on SQLite: the schema gate (an unmigrated or
 * newer database is refused with ERR_SCHEMA and a message saying what to run),
 * URL errors (also MongoDB's: no server, a bad transactions= value), the
 * implementation's name, the shared table order, and that closing releases
 * everything (ASan checks leaks).
 * Must not: test store behaviour (that is contract.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend_setup.h"
#include "test_support.h"
#include "base/log.h"
#include "db/db.h"
#include "migrate/migrate.h"
#include "store/store.h"

static void test_open_gate(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("store-open");
    char *url = ts_strf("sqlite:///%s/open.db", dir);
    store_t *st = (store_t *)1;
    err_t e;

    /* an empty database is refused: migrations not run */
    err_clear(&e);
    assert_int_equal(store_open(url, NULL, &st, &e), ERR_SCHEMA);
    assert_null(st);
    assert_non_null(strstr(e.msg, "migrat"));

    /* after migrate_up it opens, as the SQL store for sqlite */
    db_opts o;
    db_opts_default(&o);
    db_t *db = NULL;
    assert_int_equal(db_open(url, &o, &db, &e), ERR_OK);
    assert_int_equal(migrate_up(db, -1, NULL, &e), ERR_OK);
    db_close(db);
    assert_int_equal(store_open(url, NULL, &st, &e), ERR_OK);
    assert_string_equal(store_name(st), "sql:sqlite");
    store_close(st);

    /* rolled back below the binary's version: refused again */
    assert_int_equal(db_open(url, &o, &db, &e), ERR_OK);
    assert_int_equal(migrate_down(db, 0, NULL, &e), ERR_OK);
    db_close(db);
    assert_int_equal(store_open(url, NULL, &st, &e), ERR_SCHEMA);

    store_close(NULL);
    free(url);
    ts_rm_rf(dir);
    free(dir);
}

static void test_open_bad_urls(void **state)
{
    (void)state;
    store_t *st = NULL;
    err_t e;
    err_clear(&e);
    /* MongoDB with nothing listening: a connection error, the password masked */
    assert_int_equal(
        store_open("mongodb://u:s3cretpw@127.0.0.1:1/ctxd?serverSelectionTimeoutMS=200", NULL, &st,
                   &e),
        ERR_CONN);
    assert_null(st);
    assert_non_null(strstr(e.msg, "mongodb"));
    assert_null(strstr(e.msg, "s3cretpw"));
    /* a bad transactions= value is refused before connecting, naming the choices */
    assert_int_equal(
        store_open("mongodb://u:s3cretpw@127.0.0.1:1/ctxd?transactions=maybe", NULL, &st, &e),
        ERR_INVALID);
    assert_null(st);
    assert_non_null(strstr(e.msg, "transactions=maybe"));
    assert_non_null(strstr(e.msg, "auto, on or off"));
    assert_null(strstr(e.msg, "s3cretpw"));
    assert_int_equal(store_open("nosuch://x", NULL, &st, &e), ERR_INVALID);
    assert_int_equal(store_open("", NULL, &st, &e), ERR_INVALID);
    assert_int_equal(store_open(NULL, NULL, &st, &e), ERR_INVALID);
}

static void test_table_order(void **state)
{
    (void)state;
    static const char *const want[] = {"sessions",         "messages",      "agent_memory",
                                       "audit_log",        "secure_tokens", "revoked_jtis",
                                       "agent_credentials"};
    const char *const *order = store_table_order();
    size_t n = 0;
    while (order[n])
        n++;
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(order[i], want[i]);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_gate),
        cmocka_unit_test(test_open_bad_urls),
        cmocka_unit_test(test_table_order),
    };
    return cmocka_run_group_tests_name("store_open_sqlite", tests, NULL, NULL);
}
