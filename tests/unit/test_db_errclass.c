/* tests/unit/test_db_errclass.c — the native-code -> err_code class tables of
 * db/errclass.c: SQLite extended result codes, PostgreSQL SQLSTATE and MySQL
 * errno, and that retryability follows from the class alone.
 * Must not: open a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include "db/driver.h"

static void test_sqlite_classes(void **st)
{
    (void)st;
    assert_int_equal(db_errclass_sqlite(SQLITE_OK), ERR_OK);
    assert_int_equal(db_errclass_sqlite(SQLITE_BUSY), ERR_BUSY);
    assert_int_equal(db_errclass_sqlite(SQLITE_BUSY_SNAPSHOT), ERR_BUSY);
    assert_int_equal(db_errclass_sqlite(SQLITE_BUSY_RECOVERY), ERR_BUSY);
    assert_int_equal(db_errclass_sqlite(SQLITE_LOCKED), ERR_BUSY);
    assert_int_equal(db_errclass_sqlite(SQLITE_LOCKED_SHAREDCACHE), ERR_BUSY);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT_UNIQUE), ERR_UNIQUE);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT_PRIMARYKEY), ERR_UNIQUE);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT_FOREIGNKEY), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT_NOTNULL), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT_CHECK), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlite(SQLITE_CONSTRAINT), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlite(SQLITE_ERROR), ERR_SYNTAX);
    assert_int_equal(db_errclass_sqlite(SQLITE_NOTADB), ERR_INVALID);
    assert_int_equal(db_errclass_sqlite(SQLITE_CORRUPT), ERR_FATAL);
    assert_int_equal(db_errclass_sqlite(SQLITE_CANTOPEN), ERR_IO);
    assert_int_equal(db_errclass_sqlite(SQLITE_READONLY), ERR_IO);
    assert_int_equal(db_errclass_sqlite(SQLITE_IOERR_WRITE), ERR_IO);
    assert_int_equal(db_errclass_sqlite(SQLITE_FULL), ERR_IO);
    assert_int_equal(db_errclass_sqlite(SQLITE_INTERRUPT), ERR_TIMEOUT);
    assert_int_equal(db_errclass_sqlite(SQLITE_NOMEM), ERR_NOMEM);
    assert_int_equal(db_errclass_sqlite(SQLITE_RANGE), ERR_INTERNAL);
    assert_int_equal(db_errclass_sqlite(SQLITE_MISUSE), ERR_INTERNAL);
    assert_int_equal(db_errclass_sqlite(SQLITE_AUTH), ERR_AUTH);
    assert_true(err_retryable(db_errclass_sqlite(SQLITE_BUSY_TIMEOUT)));
    assert_false(err_retryable(db_errclass_sqlite(SQLITE_CONSTRAINT_UNIQUE)));
    assert_false(err_retryable(db_errclass_sqlite(SQLITE_CORRUPT)));
}

static void test_sqlstate_classes(void **st)
{
    (void)st;
    assert_int_equal(db_errclass_sqlstate("00000"), ERR_OK);
    assert_int_equal(db_errclass_sqlstate("23505"), ERR_UNIQUE);
    assert_int_equal(db_errclass_sqlstate("23503"), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlstate("23502"), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_sqlstate("40001"), ERR_BUSY);
    assert_int_equal(db_errclass_sqlstate("40P01"), ERR_BUSY);
    assert_int_equal(db_errclass_sqlstate("08006"), ERR_CONN);
    assert_int_equal(db_errclass_sqlstate("57P01"), ERR_CONN);
    assert_int_equal(db_errclass_sqlstate("57014"), ERR_TIMEOUT);
    assert_int_equal(db_errclass_sqlstate("42601"), ERR_SYNTAX);
    assert_int_equal(db_errclass_sqlstate("42P01"), ERR_SYNTAX);
    assert_int_equal(db_errclass_sqlstate("42501"), ERR_AUTH);
    assert_int_equal(db_errclass_sqlstate("28P01"), ERR_AUTH);
    assert_int_equal(db_errclass_sqlstate("22P02"), ERR_INVALID);
    assert_int_equal(db_errclass_sqlstate("XX000"), ERR_INTERNAL);
    assert_int_equal(db_errclass_sqlstate(NULL), ERR_FATAL);
    assert_int_equal(db_errclass_sqlstate("bad"), ERR_FATAL);
}

/* Every code and class the table names, and their neighbours. */
static void test_sqlstate_table(void **st)
{
    (void)st;
    static const struct {
        const char *code;
        err_code cls;
    } t[] = {
        {"55P03", ERR_BUSY},    {"55000", ERR_FATAL},   {"25P03", ERR_CONN},
        {"25P02", ERR_FATAL},   {"53300", ERR_CONN},    {"53100", ERR_IO},
        {"53200", ERR_BUSY},    {"3D000", ERR_INVALID}, {"3D001", ERR_FATAL},
        {"57P02", ERR_CONN},    {"57P03", ERR_CONN},    {"57P04", ERR_CONN},
        {"0A000", ERR_SYNTAX},  {"08001", ERR_CONN},    {"23514", ERR_CONSTRAINT},
        {"22012", ERR_INVALID}, {"28000", ERR_AUTH},    {"40002", ERR_BUSY},
        {"42703", ERR_SYNTAX},  {"3F000", ERR_SYNTAX},  {"XX001", ERR_INTERNAL},
        {"XA000", ERR_FATAL},   {"01000", ERR_FATAL},   {"0000", ERR_FATAL},
        {"000000", ERR_FATAL},  {"", ERR_FATAL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (db_errclass_sqlstate(t[i].code) != t[i].cls)
            fail_msg("SQLSTATE %s -> %s, expected %s", t[i].code,
                     err_code_name(db_errclass_sqlstate(t[i].code)), err_code_name(t[i].cls));
    assert_int_equal(db_errclass_sqlstate(NULL), ERR_FATAL);
}

static void test_mysql_classes(void **st)
{
    (void)st;
    assert_int_equal(db_errclass_mysql(0), ERR_OK);
    assert_int_equal(db_errclass_mysql(1062), ERR_UNIQUE);
    assert_int_equal(db_errclass_mysql(1452), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_mysql(1048), ERR_CONSTRAINT);
    assert_int_equal(db_errclass_mysql(1213), ERR_BUSY);
    assert_int_equal(db_errclass_mysql(1205), ERR_BUSY);
    assert_int_equal(db_errclass_mysql(2006), ERR_CONN);
    assert_int_equal(db_errclass_mysql(2013), ERR_CONN);
    assert_int_equal(db_errclass_mysql(1045), ERR_AUTH);
    assert_int_equal(db_errclass_mysql(1064), ERR_SYNTAX);
    assert_int_equal(db_errclass_mysql(1146), ERR_SYNTAX);
    assert_int_equal(db_errclass_mysql(3024), ERR_TIMEOUT);
    assert_int_equal(db_errclass_mysql(1049), ERR_INVALID);
    assert_int_equal(db_errclass_mysql(99999), ERR_FATAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_classes),
        cmocka_unit_test(test_sqlstate_classes),
        cmocka_unit_test(test_sqlstate_table),
        cmocka_unit_test(test_mysql_classes),
    };
    return cmocka_run_group_tests_name("db_errclass", tests, NULL, NULL);
}
