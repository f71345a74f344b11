/* tests/unit/test_db_params.c — db/'s typed parameter arrays and executors on
 * SQLite, a file and :memory: (the checks themselves are shared with tests/pg
 * and tests/mysql: tests/support/db_params_test.c).
 * Must not: depend on test order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "db/db.h"
#include "db_params_test.h"
#include "db_test.h"

static void run_all(const char *url)
{
    db_t *db = tdb_open_ok(url, NULL);
    tdb_params_all(db);
    db_close(db);
}

static void test_params_file(void **state)
{
    tdb_fixture *f = *state;
    run_all(f->url);
}

static void test_params_memory(void **state)
{
    (void)state;
    run_all("sqlite:///:memory:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_params_file, tdb_setup, tdb_teardown),
        cmocka_unit_test_setup_teardown(test_params_memory, tdb_setup, tdb_teardown),
    };
    return cmocka_run_group_tests_name("db_params", tests, NULL, NULL);
}
