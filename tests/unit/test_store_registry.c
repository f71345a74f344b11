/* tests/unit/test_store_registry.c — the store's registry of backends by URL
 * scheme (store/store_registry.c): every scheme form db/url.c accepts maps to the
 * right backend (SQL for sqlite, postgresql/postgres, mysql/mariadb with or
 * without a "+driver" suffix; MongoDB for mongodb and mongodb+srv), an unknown
 * scheme is a clear error naming it (password masked) through the registry and
 * through store_open, and store_check_exists tells a missing SQLite file apart
 * without creating it or contacting a server.
 * Must not: touch the network (no URL here is ever connected to). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"
#include "base/err.h"
#include "db/url.h"
#include "store/store.h"
#include "store/store_backend.h" /* the registry is private to store/: tested here */

static void test_every_scheme(void **state)
{
    (void)state;
    static const struct {
        const char *url, *backend;
    } cases[] = {
        {"sqlite:///data/x.db", "sql"},
        {"sqlite:////abs/x.db", "sql"},
        {"sqlite:///:memory:", "sql"},
        {"sqlite+aiosqlite:///data/x.db", "sql"},
        {"sqlite+pysqlite:///data/x.db", "sql"},
        {"SQLite:///data/x.db", "sql"},
        {"postgresql://u:p@db.example.com/app", "sql"},
        {"postgres://u:p@db.example.com:5433/app?sslmode=require", "sql"},
        {"postgresql+asyncpg://u:p@db.example.com/app", "sql"},
        {"postgresql+psycopg2://u:p@h:6543/db", "sql"},
        {"mysql://u:p@h/db", "sql"},
        {"mysql+pymysql://u@h", "sql"},
        {"mysql+aiomysql://u:p@h:3307/db", "sql"},
        {"mariadb://u:p@h/db", "sql"},
        {"mariadb+mariadbconnector://u:p@h:3307/db", "sql"},
        {"mongodb://u:p@h1:27017,h2:27018/app?replicaSet=rs0", "mongodb"},
        {"mongodb://localhost", "mongodb"},
        {"mongodb+srv://u:p@cluster.example.com/app", "mongodb"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const store_backend *b = NULL;
        db_url *u = NULL;
        err_t e;
        err_clear(&e);
        if (store_backend_find(cases[i].url, &b, &u, &e) != ERR_OK)
            fail_msg("%s: %s", cases[i].url, e.msg);
        assert_non_null(b);
        if (strcmp(b->name, cases[i].backend) != 0)
            fail_msg("%s: backend %s, expected %s", cases[i].url, b->name, cases[i].backend);
        assert_ptr_equal(store_backend_of(u), b);
        assert_non_null(b->open);
        db_url_free(u);
        /* without asking for the parsed URL */
        const store_backend *b2 = NULL;
        assert_int_equal(store_backend_find(cases[i].url, &b2, NULL, &e), ERR_OK);
        assert_ptr_equal(b2, b);
    }
}

static void test_unknown_scheme(void **state)
{
    (void)state;
    static const char *const bad[] = {"oracle://scott:tiger@db/x", "ftp://scott:tiger@h/x",
                                      "not a url", "", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const store_backend *b = (const store_backend *)&bad;
        db_url *u = (db_url *)&bad;
        err_t e;
        err_clear(&e);
        assert_int_equal(store_backend_find(bad[i], &b, &u, &e), ERR_INVALID);
        assert_null(b);
        assert_null(u);
        assert_true(strlen(e.msg) > 0);
        assert_null(strstr(e.msg, "tiger"));
        /* the public door gives the same error */
        store_t *st = (store_t *)&bad;
        err_t e2;
        assert_int_equal(store_open(bad[i], NULL, &st, &e2), ERR_INVALID);
        assert_null(st);
        assert_string_equal(e2.msg, e.msg);
        assert_int_equal(store_check_exists(bad[i], &e2), ERR_INVALID);
    }
    err_t e;
    const store_backend *b = NULL;
    store_backend_find("oracle://scott:tiger@db/x", &b, NULL, &e);
    assert_non_null(strstr(e.msg, "unknown scheme 'oracle'"));
}

static void test_check_exists(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("store-registry");
    char *missing = ts_strf("sqlite:///%s/missing.db", dir);
    err_t e;
    err_clear(&e);
    assert_int_equal(store_check_exists(missing, &e), ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "missing.db"));
    assert_non_null(strstr(e.msg, "does not exist"));
    char *path = ts_strf("%s/missing.db", dir);
    assert_int_not_equal(access(path, F_OK), 0); /* nothing created */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_check_exists(missing, &e), ERR_OK);
    assert_int_equal(store_check_exists("sqlite:///:memory:", &e), ERR_OK);
    /* servers: nothing is created by opening, nothing is contacted here */
    assert_int_equal(store_check_exists("postgresql://u:p@127.0.0.1:1/x", &e), ERR_OK);
    assert_int_equal(store_check_exists("mysql://u:p@127.0.0.1:1/x", &e), ERR_OK);
    assert_int_equal(store_check_exists("mongodb://127.0.0.1:1/x", &e), ERR_OK);
    free(path);
    free(missing);
    ts_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_scheme),
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_check_exists),
    };
    return cmocka_run_group_tests_name("store_registry", tests, NULL, NULL);
}
