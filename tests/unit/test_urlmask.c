/* tests/unit/test_urlmask.c — base/urlmask, the one password masker behind the
 * configuration display and the database URL: user:pass@, an empty password,
 * '@' '/' '?' inside a password, percent-encoded passwords, password-like query
 * options in any case, no password at all (ports, host lists, IPv6 hosts), and
 * the exact form urlmask_at a parser uses. Nothing printed may hold the secret.
 * Must not: depend on test order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/urlmask.h"

typedef struct mask_case {
    const char *in, *out;
} mask_case;

/* urlmask of every case's input is exactly its output. */
static void expect_masked(const mask_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *m = urlmask(c[i].in);
        if (strcmp(m, c[i].out) != 0)
            fail_msg("urlmask(%s) = %s, expected %s", c[i].in, m, c[i].out);
        free(m);
    }
}

static const mask_case LENIENT[] = {
    /* user:pass@ */
    {"postgresql://u:secret@h/db", "postgresql://u:***@h/db"},
    {"mysql://user:secret@127.0.0.1:3306/d?x=1", "mysql://user:***@127.0.0.1:3306/d?x=1"},
    {"postgresql://u:@h/db", "postgresql://u:***@h/db"},
    {"u:secret@host", "u:***@host"},
    /* '@', '/', '?' inside the password: hidden up to the last '@' */
    {"postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u:pa?ss@h/db", "postgresql://u:***@h/db"},
    /* percent-encoded */
    {"postgresql://u:p%40ss%2Fw@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u%3Ax:s%3Acret@h/db", "postgresql://u%3Ax:***@h/db"},
    /* query options */
    {"postgresql://h/db?password=secret", "postgresql://h/db?password=***"},
    {"postgresql://h/db?sslmode=require&PassWord=s&x=1",
     "postgresql://h/db?sslmode=require&PassWord=***&x=1"},
    {"postgresql://h/db?sslpassword=a&pwd=b&pass=c&passwd=d&secret=e&passphrase=f",
     "postgresql://h/db?sslpassword=***&pwd=***&pass=***&passwd=***&secret=***&passphrase=f"},
    {"postgresql://u:s@h/db?password=t&a=b", "postgresql://u:***@h/db?password=***&a=b"},
    {"postgresql://h/db?password", "postgresql://h/db?password"}, /* no value to hide */
    {"postgresql://h/db?password=", "postgresql://h/db?password=***"},
    /* no password */
    {"postgresql://u@h/db", "postgresql://u@h/db"},
    {"postgresql://h:5432/db", "postgresql://h:5432/db"},
    {"postgresql://h:5432,h2:5433/db", "postgresql://h:5432,h2:5433/db"},
    {"mongodb://[::1]:27017/db", "mongodb://[::1]:27017/db"},
    {"mongodb://[fe80::1%25eth0]:27017", "mongodb://[fe80::1%25eth0]:27017"},
    {"sqlite:///var/x.db?mode=ro", "sqlite:///var/x.db?mode=ro"},
    {"./chat_history.db", "./chat_history.db"},
    {"", ""},
    /* IPv6 host with a password */
    {"postgresql://u:pw@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"},
    {"postgresql://u:pw@[2001:db8::7]/db", "postgresql://u:***@[2001:db8::7]/db"},
    /* malformed: without '@', anything after a ':' that is no port */
    {"postgresql://user:secret", "postgresql://user:***"},
    {"postgresql://user:se/cret?password=x", "postgresql://user:***"},
    {"postgresql://h:54x/db", "postgresql://h:***"},
};

static void test_lenient(void **state)
{
    (void)state;
    expect_masked(LENIENT, sizeof LENIENT / sizeof LENIENT[0]);
    assert_null(urlmask(NULL));
}

static void test_at(void **state)
{
    (void)state;
    const char *u = "postgresql://u:secret@h/db?password=x";
    char *m = urlmask_at(u, 15, 6); /* "secret" */
    assert_string_equal(m, "postgresql://u:***@h/db?password=***");
    free(m);
    m = urlmask_at("postgresql://u:@h/db", 15, 0); /* an empty password shows as *** too */
    assert_string_equal(m, "postgresql://u:***@h/db");
    free(m);
    m = urlmask_at("postgresql://h/db?PWD=x&y=2", URLMASK_NONE, 0);
    assert_string_equal(m, "postgresql://h/db?PWD=***&y=2");
    free(m);
    m = urlmask_at("sqlite:///x.db", URLMASK_NONE, 0);
    assert_string_equal(m, "sqlite:///x.db");
    free(m);
    assert_null(urlmask_at(NULL, URLMASK_NONE, 0));
}

/* Found by fuzz/fuzz_db_url: a "://" after the password (in a path or an option value of
 * a URL written without its scheme) was taken for the scheme's, so the password before
 * it was shown. Only a real scheme (a letter, then letters, digits, + - .) counts. */
static void test_scheme_only_at_start(void **state)
{
    (void)state;
    static const mask_case cases[] = {
        {"u:secret@host/db?sslrootcert=file:///etc/ca.pem",
         "u:***@host/db?sslrootcert=file:///etc/ca.pem"},
        {":secret@://", ":***@://"},
        {"oracle:secret@h/lite:///a.db", "oracle:***@h/lite:///a.db"},
        {"user:secret@host/x://y", "user:***@host/x://y"},
        {"postgresql://u:secret@h/db?x=http://y", "postgresql://u:***@h/db?x=http://y"},
        {"mongodb+srv://u:secret@c.example.net/db", "mongodb+srv://u:***@c.example.net/db"},
    };
    expect_masked(cases, sizeof cases / sizeof cases[0]);
}

/* Found by fuzz/fuzz_db_url: an option name is percent-decoded before a driver sees it
 * (libpq takes ?%70assword=... as its password), so the masker must decode it too. */
static void test_encoded_option_names(void **state)
{
    (void)state;
    static const mask_case cases[] = {
        {"postgresql://h/db?%70assword=secret", "postgresql://h/db?%70assword=***"},
        {"postgresql://h/db?x=1&PASS%57D=secret", "postgresql://h/db?x=1&PASS%57D=***"},
        {"postgresql://h/db?%73%73%6C%70%61%73%73%77%6F%72%64=secret",
         "postgresql://h/db?%73%73%6C%70%61%73%73%77%6F%72%64=***"},
        {"postgresql://h/db?pass%zz=x", "postgresql://h/db?pass%zz=x"}, /* not a name */
        {"postgresql://h/db?passwords=x", "postgresql://h/db?passwords=x"},
    };
    expect_masked(cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_scheme_only_at_start),
        cmocka_unit_test(test_encoded_option_names),
    };
    return cmocka_run_group_tests_name("urlmask", tests, NULL, NULL);
}
