/* tests/unit/test_db_sqltok.c — unit tests of the SQL tokenizer (db/sqltok.h):
 * placeholder counting and `?` -> `$n` rewriting around strings, E'' strings,
 * quoted identifiers, comments and dollar bodies; the statement splitter,
 * including trigger bodies; blank detection.
 * Must not: touch a database or the file system. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "db/sqltok.h"

static void check_rewrite(const char *in, const char *want, int want_n)
{
    int n = -1;
    char *out = sqltok_rewrite_dollar(in, &n);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_int_equal(n, want_n);
    assert_int_equal(sqltok_count_params(in), want_n);
    free(out);
}

static void test_count_simple(void **st)
{
    (void)st;
    assert_int_equal(sqltok_count_params(""), 0);
    assert_int_equal(sqltok_count_params(NULL), 0);
    assert_int_equal(sqltok_count_params("SELECT 1"), 0);
    assert_int_equal(sqltok_count_params("SELECT ?"), 1);
    assert_int_equal(sqltok_count_params("INSERT INTO t VALUES (?,?,?)"), 3);
}

static void test_rewrite_basic(void **st)
{
    (void)st;
    check_rewrite("SELECT * FROM t WHERE a = ? AND b = ?",
                  "SELECT * FROM t WHERE a = $1 AND b = $2", 2);
    check_rewrite("INSERT INTO t VALUES(?,?,?)", "INSERT INTO t VALUES($1,$2,$3)", 3);
    check_rewrite("no params", "no params", 0);
    check_rewrite("", "", 0);
    check_rewrite("?", "$1", 1);
    check_rewrite("??", "$1$2", 2);
}

static void test_rewrite_strings(void **st)
{
    (void)st;
    check_rewrite("SELECT '?' , ?", "SELECT '?' , $1", 1);
    check_rewrite("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", 1);
    check_rewrite("SELECT '''?''' || ?", "SELECT '''?''' || $1", 1);
    check_rewrite("SELECT '', ?", "SELECT '', $1", 1);
    /* E'' with backslash escapes: \' does not end the string */
    check_rewrite("SELECT E'a\\'?', ?", "SELECT E'a\\'?', $1", 1);
    check_rewrite("SELECT e'\\\\', ?", "SELECT e'\\\\', $1", 1);
    /* a plain string: backslash is literal, so 'a\' ends there */
    check_rewrite("SELECT 'a\\', ?", "SELECT 'a\\', $1", 1);
    /* E at the end of a word is not a prefix: ELSE'x' is a plain string */
    check_rewrite("CASE WHEN ? THEN 'a' ELSE'b\\' END, ?",
                  "CASE WHEN $1 THEN 'a' ELSE'b\\' END, $2", 2);
    /* unterminated string: runs to the end */
    check_rewrite("SELECT ?, 'abc ?", "SELECT $1, 'abc ?", 1);
}

static void test_rewrite_identifiers(void **st)
{
    (void)st;
    check_rewrite("SELECT \"col?\" FROM t WHERE x = ?", "SELECT \"col?\" FROM t WHERE x = $1", 1);
    check_rewrite("SELECT \"a\"\"?\" , ?", "SELECT \"a\"\"?\" , $1", 1);
    check_rewrite("SELECT `we?rd` FROM t WHERE x = ?", "SELECT `we?rd` FROM t WHERE x = $1", 1);
}

static void test_rewrite_comments(void **st)
{
    (void)st;
    check_rewrite("SELECT ? -- is it? yes\n, ?", "SELECT $1 -- is it? yes\n, $2", 2);
    check_rewrite("SELECT ? -- trailing ?", "SELECT $1 -- trailing ?", 1);
    check_rewrite("SELECT /* ? */ ?", "SELECT /* ? */ $1", 1);
    check_rewrite("SELECT /* outer /* inner ? */ still ? */ ?",
                  "SELECT /* outer /* inner ? */ still ? */ $1", 1);
    check_rewrite("SELECT 5-?", "SELECT 5-$1", 1);
    check_rewrite("SELECT 6/?", "SELECT 6/$1", 1);
    check_rewrite("SELECT ? /* unterminated ?", "SELECT $1 /* unterminated ?", 1);
}

static void test_rewrite_dollar_bodies(void **st)
{
    (void)st;
    check_rewrite("SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1", 1);
    check_rewrite("DO $body$ SELECT '?'; $x$ ? $x$ $body$; SELECT ?",
                  "DO $body$ SELECT '?'; $x$ ? $x$ $body$; SELECT $1", 1);
    /* $1 is not a tag (nor counted); a$b is an identifier, not a body */
    check_rewrite("SELECT $1, a$b, ?", "SELECT $1, a$b, $1", 1);
    check_rewrite("SELECT $tag$ never closed ?", "SELECT $tag$ never closed ?", 0);
}

static void test_split_basic(void **st)
{
    (void)st;
    const char *sql =
        "CREATE TABLE a (x INT);\n\n  INSERT INTO a VALUES (1) ;;\n-- only a comment\n;SELECT 1";
    size_t pos = 0, s, n;
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_int_equal(n, strlen("CREATE TABLE a (x INT)"));
    assert_memory_equal(sql + s, "CREATE TABLE a (x INT)", n);
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "INSERT INTO a VALUES (1)", n);
    assert_int_equal(n, strlen("INSERT INTO a VALUES (1)"));
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "SELECT 1", n);
    assert_int_equal(n, 8);
    assert_false(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_int_equal(sqltok_count_stmts(sql), 3);
    assert_int_equal(sqltok_count_stmts(""), 0);
    assert_int_equal(sqltok_count_stmts(" ;; -- x\n /* y; */ "), 0);
}

static void test_split_quoted(void **st)
{
    (void)st;
    assert_int_equal(sqltok_count_stmts("SELECT ';'; SELECT \";\"; SELECT `;`"), 3);
    assert_int_equal(sqltok_count_stmts("SELECT 1 -- ; not a split\n; SELECT 2"), 2);
    assert_int_equal(sqltok_count_stmts("SELECT /* ; */ 1; SELECT E'\\';'"), 2);
    assert_int_equal(sqltok_count_stmts("CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.x := "
                                        "1; RETURN NEW; END; $$ LANGUAGE plpgsql;"
                                        "SELECT 2"),
                     2);
}

static void test_split_trigger(void **st)
{
    (void)st;
    const char *sql =
        "CREATE TABLE t (a INT, b INT);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET b = CASE WHEN new.a > 0 THEN 1 ELSE 0 END WHERE rowid = new.rowid;\n"
        "  DELETE FROM t WHERE a < 0;\n"
        "END;\n"
        "CREATE TEMP TRIGGER tr2 BEFORE DELETE ON t BEGIN SELECT 1; END;\n"
        "INSERT INTO t VALUES (1, 2);\n"
        "BEGIN; COMMIT; END;";
    size_t pos = 0, s, n;
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "CREATE TABLE", 12);
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "CREATE TRIGGER tr", 17);
    assert_memory_equal(sql + s + n - 3, "END", 3);
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "CREATE TEMP TRIGGER tr2", 23);
    assert_memory_equal(sql + s + n - 3, "END", 3);
    assert_true(sqltok_next_stmt(sql, &pos, &s, &n));
    assert_memory_equal(sql + s, "INSERT", 6);
    assert_int_equal(sqltok_count_stmts(sql), 7);
}

static void test_blank(void **st)
{
    (void)st;
    assert_true(sqltok_is_blank("", 0));
    assert_true(sqltok_is_blank("  \n\t", 4));
    assert_true(sqltok_is_blank(" -- c\n /* d */ ", 15));
    assert_false(sqltok_is_blank(" x ", 3));
    assert_false(sqltok_is_blank("'' ", 3));
    assert_true(sqltok_is_blank("/* unterminated", 15));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_simple),     cmocka_unit_test(test_rewrite_basic),
        cmocka_unit_test(test_rewrite_strings),  cmocka_unit_test(test_rewrite_identifiers),
        cmocka_unit_test(test_rewrite_comments), cmocka_unit_test(test_rewrite_dollar_bodies),
        cmocka_unit_test(test_split_basic),      cmocka_unit_test(test_split_quoted),
        cmocka_unit_test(test_split_trigger),    cmocka_unit_test(test_blank),
    };
    return cmocka_run_group_tests_name("db_sqltok", tests, NULL, NULL);
}
