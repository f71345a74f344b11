/* tests/unit/test_db_url.c — db/url.c: a table of good and bad database URLs (every
 * scheme form, driver suffixes, IPv6, percent-decoding, options, each error with
 * its message), password masking (also of malformed URLs), and the URL derived
 * from configuration (DATABASE_URL / DATABASE_TYPE / DATABASE_PATH / SUPABASE_*).
 * Must not: touch the network or the process environment (conf_defaults only). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf.h"
#include "base/err.h"
#include "base/sbuf.h"
#include "db/url.h"

/* One row: the URL and either the expected error substring or every field. opts
 * is the decoded options joined as "k=v|k=v" (NULL = none). secret, when set,
 * must appear neither in the error message nor in db_url_masked(). */
typedef struct url_case {
    const char *url;
    const char *err;
    db_backend backend;
    const char *scheme, *driver, *user, *password, *host;
    int port;
    const char *database, *path;
    bool memory, srv;
    const char *hosts, *opts, *secret;
} url_case;

#define OK_SQLITE(u, drv, p, mem, o) \
    { \
        u, NULL, DB_BACKEND_SQLITE, "sqlite", drv, NULL, NULL, NULL, 0, NULL, p, mem, false, NULL, \
            o, NULL \
    }
#define OK_NET(u, be, sch, drv, usr, pw, h, port, db, o) \
    { \
        u, NULL, be, sch, drv, usr, pw, h, port, db, NULL, false, false, NULL, o, NULL \
    }
#define BAD(u, msg) \
    { \
        u, msg, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, false, false, NULL, NULL, NULL \
    }
#define BAD_SECRET(u, msg, sec) \
    { \
        u, msg, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, false, false, NULL, NULL, sec \
    }

#define PG DB_BACKEND_POSTGRES
#define MY DB_BACKEND_MYSQL
#define MO DB_BACKEND_MONGODB

static const url_case CASES[] = {
    /* --- sqlite (SQLAlchemy rules) --- */
    OK_SQLITE("sqlite:///foo.db", NULL, "foo.db", false, NULL),
    OK_SQLITE("sqlite:////abs/path.db", NULL, "/abs/path.db", false, NULL),
    OK_SQLITE("sqlite:///:memory:", NULL, ":memory:", true, NULL),
    OK_SQLITE("sqlite://", NULL, ":memory:", true, NULL),
    OK_SQLITE("sqlite:///file.db?mode=ro&busy_timeout=100", NULL, "file.db", false,
              "mode=ro|busy_timeout=100"),
    OK_SQLITE("sqlite+aiosqlite:///data/x.db", "aiosqlite", "data/x.db", false, NULL),
    OK_SQLITE("SQLite+PySQLite:///Upper.DB", "PySQLite", "Upper.DB", false, NULL),
    OK_SQLITE("sqlite:///my%20db%3F.db", NULL, "my db?.db", false, NULL),
    OK_SQLITE("sqlite:///./chat_history.db", NULL, "./chat_history.db", false, NULL),
    OK_SQLITE("sqlite://?cache=shared", NULL, ":memory:", true, "cache=shared"),
    OK_SQLITE("sqlite:///x.db?flag", NULL, "x.db", false, "flag="),
    OK_SQLITE("sqlite:///x.db?a=1&a=2&&b=%2F%20", NULL, "x.db", false, "a=1|a=2|b=/ "),
    OK_SQLITE("sqlite:///x.db?", NULL, "x.db", false, NULL),
    OK_SQLITE("sqlite:////tmp/d\xC3\xA9j\xC3\xA0.db", NULL, "/tmp/d\xC3\xA9j\xC3\xA0.db", false,
              NULL),
    /* --- postgresql --- */
    OK_NET("postgresql://user:pass@localhost:5432/mydb", PG, "postgresql", NULL, "user", "pass",
           "localhost", 5432, "mydb", NULL),
    OK_NET("postgres://u@h/db", PG, "postgres", NULL, "u", NULL, "h", 0, "db", NULL),
    OK_NET("postgresql+asyncpg://u:p@db.example.com/app?sslmode=require", PG, "postgresql",
           "asyncpg", "u", "p", "db.example.com", 0, "app", "sslmode=require"),
    OK_NET("postgresql+psycopg2://u:p%40ss@h:6543/db", PG, "postgresql", "psycopg2", "u", "p@ss",
           "h", 6543, "db", NULL),
    OK_NET("postgresql://u:p@ss@h/db", PG, "postgresql", NULL, "u", "p@ss", "h", 0, "db", NULL),
    OK_NET("postgresql://[::1]:5432/db", PG, "postgresql", NULL, NULL, NULL, "::1", 5432, "db",
           NULL),
    OK_NET("postgresql://u:pw@[2001:db8::1]/db", PG, "postgresql", NULL, "u", "pw", "2001:db8::1",
           0, "db", NULL),
    OK_NET("postgresql://h", PG, "postgresql", NULL, NULL, NULL, "h", 0, NULL, NULL),
    OK_NET("postgresql://h/", PG, "postgresql", NULL, NULL, NULL, "h", 0, NULL, NULL),
    OK_NET("postgresql://us%65r:p%3Aw%2F@h%2Dx/d%62", PG, "postgresql", NULL, "user", "p:w/", "h-x",
           0, "db", NULL),
    OK_NET("postgresql://h:1/db", PG, "postgresql", NULL, NULL, NULL, "h", 1, "db", NULL),
    OK_NET("postgresql://h:65535/db", PG, "postgresql", NULL, NULL, NULL, "h", 65535, "db", NULL),
    OK_NET("postgresql://%2Fvar%2Frun%2Fpostgresql/db", PG, "postgresql", NULL, NULL, NULL,
           "/var/run/postgresql", 0, "db", NULL),
    OK_NET("postgresql://h/db?application_name=ctxd&connect_timeout=5&options=-c%20a%3Db", PG,
           "postgresql", NULL, NULL, NULL, "h", 0, "db",
           "application_name=ctxd|connect_timeout=5|options=-c a=b"),
    OK_NET("postgresql://u:@h/db", PG, "postgresql", NULL, "u", "", "h", 0, "db", NULL),
    OK_NET("postgresql://u:pa#ss@h/db", PG, "postgresql", NULL, "u", "pa#ss", "h", 0, "db", NULL),
    OK_NET("POSTGRESQL://H/DB?Key=a+b", PG, "postgresql", NULL, NULL, NULL, "H", 0, "DB",
           "Key=a+b"),
    OK_NET("postgresql://h?sslmode=disable", PG, "postgresql", NULL, NULL, NULL, "h", 0, NULL,
           "sslmode=disable"),
    /* --- mysql / mariadb --- */
    OK_NET("mysql://root:secret@127.0.0.1:3306/ctxd", MY, "mysql", NULL, "root", "secret",
           "127.0.0.1", 3306, "ctxd", NULL),
    OK_NET("mariadb://u:p@h/db", MY, "mariadb", NULL, "u", "p", "h", 0, "db", NULL),
    OK_NET("mysql+aiomysql://u:p@h/db?charset=utf8mb4", MY, "mysql", "aiomysql", "u", "p", "h", 0,
           "db", "charset=utf8mb4"),
    OK_NET("mysql+pymysql://u@h", MY, "mysql", "pymysql", "u", NULL, "h", 0, NULL, NULL),
    OK_NET("mariadb+mariadbconnector://u:p@h:3307/db", MY, "mariadb", "mariadbconnector", "u", "p",
           "h", 3307, "db", NULL),
    /* --- mongodb --- */
    {"mongodb://u:p@h1:27017,h2:27018/app?replicaSet=rs0", NULL, MO, "mongodb", NULL, "u", "p",
     "h1", 27017, "app", NULL, false, false, "h1:27017,h2:27018", "replicaSet=rs0", NULL},
    OK_NET("mongodb://localhost", MO, "mongodb", NULL, NULL, NULL, "localhost", 0, NULL, NULL),
    {"mongodb+srv://u:p@cluster0.example.net/app?retryWrites=true&w=majority", NULL, MO,
     "mongodb+srv", NULL, "u", "p", "cluster0.example.net", 0, "app", NULL, false, true, NULL,
     "retryWrites=true|w=majority", NULL},
    {"MongoDB+SRV://cluster.x.net", NULL, MO, "mongodb+srv", NULL, NULL, NULL, "cluster.x.net", 0,
     NULL, NULL, false, true, NULL, NULL, NULL},
    {"mongodb://[::1]:27017,[::2]/db", NULL, MO, "mongodb", NULL, NULL, NULL, "::1", 27017, "db",
     NULL, false, false, "[::1]:27017,[::2]", NULL, NULL},
    {"mongodb+srv+motor://c.x.net/db", NULL, MO, "mongodb+srv", "motor", NULL, NULL, "c.x.net", 0,
     "db", NULL, false, true, NULL, NULL, NULL},
    /* --- errors --- */
    BAD("", "empty"),
    BAD("chat_history.db", "no scheme"),
    BAD("://h/db", "no scheme"),
    BAD("post gres://h/db", "no scheme"),
    BAD_SECRET("oracle://scott:tiger@h/db",
               "unknown scheme 'oracle' (accepted: sqlite, postgresql, postgres, mysql, mariadb, "
               "mongodb, mongodb+srv",
               "tiger"),
    BAD("sqlite3:///x.db", "unknown scheme 'sqlite3'"),
    BAD_SECRET("postgresql://u:hunter2@h:0/db", "port 0 is out of range (1-65535)", "hunter2"),
    BAD("postgresql://h:65536/db", "port 65536 is out of range"),
    BAD("postgresql://h:99999999999999999999/db", "out of range"),
    BAD("postgresql://h:abc/db", "the port is not a number"),
    BAD("postgresql://h:5432x/db", "the port is not a number"),
    BAD("postgresql://h:/db", "empty port"),
    BAD("postgresql://[::1/db", "unterminated '['"),
    BAD("postgresql://[::1]x/db", "unexpected text after ']'"),
    BAD("postgresql://[zz]/db", "invalid IPv6 address"),
    BAD("postgresql://::1:5432/db", "brackets"),
    BAD_SECRET("postgresql://u:p%zzword@h/db", "password: bad percent escape", "p%zzword"),
    BAD("postgresql://h/d%4", "database name: bad percent escape"),
    BAD("postgresql://h/db%00", "%00"),
    BAD("postgresql://h/db%FF", "not valid UTF-8 after percent-decoding"),
    BAD("postgresql:///db", "a postgresql URL needs a host"),
    BAD_SECRET("mysql://u:s3cret@/db", "a mysql URL needs a host", "s3cret"),
    BAD("mongodb:///db", "needs a host"),
    BAD("postgresql://:5432/db", "missing host name before ':port'"),
    BAD("sqlite://host/x.db", "a sqlite URL has no host"),
    BAD("sqlite:///", "no file path after sqlite:///"),
    BAD("sqlite:///x%GG.db", "file path: bad percent escape"),
    BAD("sqlite:///x.db?=v", "query option without a name"),
    BAD("mongodb+srv://h:27017/db", "must not have a port"),
    BAD("mongodb+srv://a.x.net,b.x.net/db", "exactly one host"),
    BAD("postgresql://h1,h2/db", "several hosts are only supported in mongodb URLs"),
    BAD("mongodb://h1,,h2/db", "empty host name"),
    BAD("postgresql://h/db\xFF", "not valid UTF-8"),
    BAD("postgresql://h/db\n", "control character"),
    BAD("postgresql+://h/db", "driver suffix"),
    BAD("postgresql+a+b://h/db", "driver suffix"),
    BAD("postgresql://h/a/b", "must not contain '/'"),
    BAD("postgresql://h#x/db", "invalid character in the host name"),
    BAD_SECRET("postgresql://u:pa/ss@h/db", "percent-encode it", "pa/ss"),
    BAD_SECRET("postgresql://u:pa?ss@h/db", "the port is not a number", "pa?ss"),
    BAD_SECRET("postgresql://u:p@ss/word@h/db", "unexpected '@' after the host", "ss/word"),
    BAD_SECRET("mysql://u:12/x@h/db", "unexpected '@' after the host", "12/x"),
    BAD_SECRET("postgresql://u:pw@h/db?password=%zz", "value of query option 'password'", "%zz"),
};

static void join_opts(const db_url *u, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < u->nopts; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", i ? "|" : "", u->opts[i].key,
                              u->opts[i].value);
}

static void check_str(const char *url, const char *field, const char *want, const char *got)
{
    if (want == NULL && got == NULL)
        return;
    if (want == NULL || got == NULL || strcmp(want, got) != 0)
        fail_msg("%s: %s: expected %s%s%s, got %s%s%s", url, field, want ? "'" : "",
                 want ? want : "NULL", want ? "'" : "", got ? "'" : "", got ? got : "NULL",
                 got ? "'" : "");
}

static void test_url_table(void **state)
{
    (void)state;
    size_t n = sizeof CASES / sizeof CASES[0];
    assert_true(n >= 45);
    size_t good = 0, badn = 0;
    for (size_t i = 0; i < n; i++) {
        const url_case *t = &CASES[i];
        db_url *u = (db_url *)0x1;
        err_t e;
        err_clear(&e);
        err_code rc = db_url_parse(t->url, &u, &e);
        if (t->err) {
            badn++;
            if (rc != ERR_INVALID)
                fail_msg("%s: expected ERR_INVALID (%s), got %d", t->url, t->err, rc);
            assert_null(u);
            assert_int_equal(e.code, ERR_INVALID);
            if (!strstr(e.msg, t->err))
                fail_msg("%s: error '%s' lacks '%s'", t->url, e.msg, t->err);
            if (strchr(e.msg, '\n'))
                fail_msg("%s: error is not one line: '%s'", t->url, e.msg);
            if (t->secret && strstr(e.msg, t->secret))
                fail_msg("%s: error leaks the password: '%s'", t->url, e.msg);
        } else {
            good++;
            if (rc != ERR_OK)
                fail_msg("%s: unexpected error: %s", t->url, e.msg);
            assert_non_null(u);
            if (u->backend != t->backend)
                fail_msg("%s: backend %d, expected %d", t->url, u->backend, t->backend);
            check_str(t->url, "scheme", t->scheme, u->scheme);
            check_str(t->url, "driver", t->driver, u->driver);
            check_str(t->url, "user", t->user, u->user);
            check_str(t->url, "password", t->password, u->password);
            check_str(t->url, "host", t->host, u->host);
            check_str(t->url, "hosts", t->hosts, u->hosts);
            check_str(t->url, "database", t->database, u->database);
            check_str(t->url, "path", t->path, u->path);
            if (u->port != t->port)
                fail_msg("%s: port %d, expected %d", t->url, u->port, t->port);
            if (u->memory != t->memory || u->srv != t->srv)
                fail_msg("%s: memory/srv flags wrong", t->url);
            char opts[512];
            join_opts(u, opts, sizeof opts);
            check_str(t->url, "options", t->opts ? t->opts : "", opts);
            if (u->password) { /* the masked form hides exactly the password */
                char *m = db_url_masked(t->url);
                if (!strstr(m, ":***@"))
                    fail_msg("%s: masked form '%s' does not mask the password", t->url, m);
                free(m);
            }
            db_url_free(u);
        }
        if (t->secret && t->secret[0]) {
            char *m = db_url_masked(t->url);
            if (strstr(m, t->secret))
                fail_msg("%s: masked form '%s' leaks the password", t->url, m);
            free(m);
        }
    }
    assert_true(good >= 30);
    assert_true(badn >= 30);
}

static void test_null_and_free(void **state)
{
    (void)state;
    db_url *u = NULL;
    err_t e;
    assert_int_equal(db_url_parse(NULL, &u, &e), ERR_INVALID);
    assert_null(u);
    assert_non_null(strstr(e.msg, "empty"));
    db_url_free(NULL);
    assert_null(db_url_masked(NULL));
    assert_null(db_url_opt_get(NULL, "x"));
}

static void test_opt_get_and_repeats(void **state)
{
    (void)state;
    db_url *u = NULL;
    err_t e;
    assert_int_equal(db_url_parse("postgresql://h/db?a=1&b=&c&a=2&k%20x=v%26w", &u, &e), ERR_OK);
    assert_int_equal(u->nopts, 5);
    assert_string_equal(db_url_opt_get(u, "a"), "1"); /* the first one */
    assert_string_equal(u->opts[3].key, "a");
    assert_string_equal(u->opts[3].value, "2");
    assert_string_equal(db_url_opt_get(u, "b"), "");
    assert_string_equal(db_url_opt_get(u, "c"), "");
    assert_string_equal(db_url_opt_get(u, "k x"), "v&w");
    assert_null(db_url_opt_get(u, "missing"));
    assert_null(db_url_opt_get(u, NULL));
    db_url_free(u);
}

static void test_backend_names(void **state)
{
    (void)state;
    assert_string_equal(db_backend_name(DB_BACKEND_SQLITE), "sqlite");
    assert_string_equal(db_backend_name(DB_BACKEND_POSTGRES), "postgresql");
    assert_string_equal(db_backend_name(DB_BACKEND_MYSQL), "mysql");
    assert_string_equal(db_backend_name(DB_BACKEND_MONGODB), "mongodb");
    assert_string_equal(db_backend_name((db_backend)99), "unknown");
}

/* db_url_where: the server for messages, password masked, defaults filled in or
 * left out as the driver asks. */
static void test_where(void **state)
{
    (void)state;
    static const struct {
        const char *url, *default_host;
        int default_port;
        const char *want;
    } cases[] = {
        {"postgresql://bob:s3cret@db.example:6432/app", NULL, 0,
         "postgresql://bob:***@db.example:6432/app"},
        {"postgresql+asyncpg://bob@db/app", NULL, 0, "postgresql://bob@db/app"},
        {"postgresql://[::1]:5433/", NULL, 0, "postgresql://[::1]:5433/"},
        {"mysql://root:pw@db/ctxd", "localhost", 3306, "mysql://root:***@db:3306/ctxd"},
        {"mariadb://u@[fe80::1]/x", "localhost", 3306, "mariadb://u@[fe80::1]:3306/x"},
        {"mysql://h:3307", "localhost", 3306, "mysql://h:3307/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        db_url *u = NULL;
        err_t e;
        if (db_url_parse(cases[i].url, &u, &e) != ERR_OK)
            fail_msg("%s: %s", cases[i].url, e.msg);
        char *w = db_url_where(u, cases[i].default_host, cases[i].default_port);
        if (strcmp(w, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].url, w, cases[i].want);
        free(w);
        db_url_free(u);
    }
    /* no scheme, host or port (as a driver may see them): the backend's name, the
     * defaults, or nothing */
    db_url bare = {.backend = DB_BACKEND_MYSQL, .user = "u", .password = "p", .database = "d"};
    char *w = db_url_where(&bare, "localhost", 3306);
    assert_string_equal(w, "mysql://u:***@localhost:3306/d");
    free(w);
    bare.backend = DB_BACKEND_POSTGRES;
    bare.password = NULL;
    bare.database = NULL;
    w = db_url_where(&bare, NULL, 0);
    assert_string_equal(w, "postgresql://u@/");
    free(w);
}

static void test_error_shows_masked_url(void **state)
{
    (void)state;
    db_url *u = NULL;
    err_t e;
    assert_int_equal(db_url_parse("postgresql://alice:hunter2@db.example.com:70000/app", &u, &e),
                     ERR_INVALID);
    assert_string_equal(e.msg,
                        "invalid database URL \"postgresql://alice:***@db.example.com:70000/app\": "
                        "port 70000 is out of range (1-65535)");
    /* a very long URL is cut, and the message stays bounded */
    char big[2000];
    snprintf(big, sizeof big, "postgresql://u:pw@h:1/%0*d?x", 1500, 0);
    big[30] = '/'; /* make the database name contain '/' */
    assert_int_equal(db_url_parse(big, &u, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "...\": "));
    assert_true(strlen(e.msg) < sizeof e.msg);
}

/* ------------------------------------------------------------- masking --- */

static const struct {
    const char *in, *out;
} MASKS[] = {
    {"postgresql://user:secret@h/db", "postgresql://user:***@h/db"},
    {"postgresql://user@h/db", "postgresql://user@h/db"},
    {"postgresql://h:5432/db", "postgresql://h:5432/db"},
    {"sqlite:///x.db?mode=ro", "sqlite:///x.db?mode=ro"},
    {"sqlite:///:memory:", "sqlite:///:memory:"},
    {"postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u:@h/db", "postgresql://u:***@h/db"},
    {"postgresql+asyncpg://u:p%40ss@h/db", "postgresql+asyncpg://u:***@h/db"},
    {"postgresql://u:secret@h/db?application_name=a@b",
     "postgresql://u:***@h/db?application_name=a@b"},
    {"postgresql://h/db?password=secret&sslmode=require",
     "postgresql://h/db?password=***&sslmode=require"},
    {"postgresql://h/db?sslmode=require&PWD=x", "postgresql://h/db?sslmode=require&PWD=***"},
    {"mongodb://u:p@h1:1,h2:2/db", "mongodb://u:***@h1:1,h2:2/db"},
    {"mongodb://[::1]:27017", "mongodb://[::1]:27017"},
    {"mongodb+srv://admin:s3cr3t@cluster0.x.net/db", "mongodb+srv://admin:***@cluster0.x.net/db"},
    /* malformed: the lenient rule, never leaking */
    {"postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"},
    {"postgresql://u:pa?ss@h/db", "postgresql://u:***@h/db"},
    {"mysql://u:p@ss/word@h/db", "mysql://u:***@h/db"},
    {"oracle://scott:tiger@h/db", "oracle://scott:***@h/db"},
    {"u:secret@host/db", "u:***@host/db"},
    {"postgresql://user:secret", "postgresql://user:***"},
    {"postgresql://user:se/cret", "postgresql://user:***"},
    {"postgresql://u:secret@h:99999/db", "postgresql://u:***@h:99999/db"},
    {"postgresql://h:99999/db", "postgresql://h:99999/db"},
    {"postgresql://u:p%zz@h/db", "postgresql://u:***@h/db"},
    {"postgresql://[::1/db", "postgresql://[::1/db"},
    {"not a url", "not a url"},
    {"", ""},
};

static void test_masking(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof MASKS / sizeof MASKS[0]; i++) {
        char *m = db_url_masked(MASKS[i].in);
        if (strcmp(m, MASKS[i].out) != 0)
            fail_msg("mask(%s) = %s, expected %s", MASKS[i].in, m, MASKS[i].out);
        free(m);
    }
}

/* ----------------------------------------------------------- from_conf --- */

static conf_t *mk(const char *const *kv)
{
    conf_t *c = conf_defaults();
    err_t e;
    for (size_t i = 0; kv && kv[i]; i += 3) {
        conf_src src = kv[i + 2][0] == 'd'   ? CONF_SRC_DOTENV
                       : kv[i + 2][0] == 'e' ? CONF_SRC_ENV
                                             : CONF_SRC_FLAG;
        if (conf_set(c, kv[i], kv[i + 1], src, &e) != ERR_OK)
            fail_msg("conf_set %s: %s", kv[i], e.msg);
    }
    return c;
}

typedef struct conf_case {
    const char *kv[16]; /* name, value, "dotenv"|"env"|"flag", ... NULL */
    const char *url;    /* expected URL, or NULL for an error */
    const char *origin; /* expected origin, or the error substring */
    const char *secret; /* must not be in the error / origin */
} conf_case;

static const conf_case CONF_CASES[] = {
    {{NULL}, "sqlite:///./chat_history.db", "DATABASE_PATH default", NULL},
    {{"DATABASE_PATH", "/var/lib/ctxd/x.db", "env", NULL},
     "sqlite:////var/lib/ctxd/x.db",
     "DATABASE_PATH (environment)",
     NULL},
    {{"DATABASE_PATH", "data/x.db", "dotenv", NULL},
     "sqlite:///data/x.db",
     "DATABASE_PATH (.env)",
     NULL},
    {{"DATABASE_PATH", ":memory:", "flag", NULL},
     "sqlite:///:memory:",
     "DATABASE_PATH (--database-path)",
     NULL},
    {{"DATABASE_PATH", "/tmp/100%?.db", "env", NULL},
     "sqlite:////tmp/100%25%3F.db",
     "DATABASE_PATH (environment)",
     NULL},
    {{"DATABASE_URL", "postgresql://u:pw@h/db", "env", "DATABASE_TYPE", "mysql", "dotenv", NULL},
     "postgresql://u:pw@h/db",
     "DATABASE_URL (environment)",
     NULL},
    {{"DATABASE_URL", "mongodb://h/db", "dotenv", "DATABASE_PATH", "/x.db", "env", NULL},
     "mongodb://h/db",
     "DATABASE_URL (.env)",
     NULL},
    {{"DATABASE_TYPE", "sqlite", "dotenv", NULL},
     "sqlite:///./chat_history.db",
     "DATABASE_TYPE=sqlite (.env), DATABASE_PATH default",
     NULL},
    {{"DATABASE_TYPE", "SQLite", "env", "DATABASE_PATH", "/srv/c.db", "dotenv", NULL},
     "sqlite:////srv/c.db",
     "DATABASE_TYPE=SQLite (environment), DATABASE_PATH (.env)",
     NULL},
    {{"DATABASE_TYPE", "postgresql", "env", NULL},
     NULL,
     "DATABASE_TYPE=postgresql needs DATABASE_URL",
     NULL},
    {{"DATABASE_TYPE", "postgres", "env", NULL},
     NULL,
     "DATABASE_TYPE=postgres needs DATABASE_URL",
     NULL},
    {{"DATABASE_TYPE", "mysql", "env", NULL},
     NULL,
     "DATABASE_TYPE=mysql needs DATABASE_URL (e.g. mysql://",
     NULL},
    {{"DATABASE_TYPE", "mariadb", "dotenv", NULL},
     NULL,
     "DATABASE_TYPE=mariadb needs DATABASE_URL",
     NULL},
    {{"DATABASE_TYPE", "mongodb", "env", NULL},
     NULL,
     "DATABASE_TYPE=mongodb needs DATABASE_URL (e.g. mongodb://",
     NULL},
    {{"DATABASE_TYPE", "oracle", "dotenv", NULL},
     NULL,
     "DATABASE_TYPE=oracle (from .env): expected one of sqlite, postgresql, mysql, mongodb, "
     "supabase",
     NULL},
    {{"DATABASE_URL", "postgresql://u:hunter2@h:0/db", "env", NULL},
     NULL,
     "DATABASE_URL (environment): invalid database URL \"postgresql://u:***@h:0/db\": port 0",
     "hunter2"},
    {{"DATABASE_URL", "pg://u:hunter2@h/db", "flag", NULL},
     NULL,
     "DATABASE_URL (--database-url): invalid database URL",
     "hunter2"},
    /* supabase: direct connection */
    {{"DATABASE_TYPE", "supabase", "dotenv", "SUPABASE_URL", "https://abcdefghij.supabase.co",
      "dotenv", "SUPABASE_DB_PASSWORD", "p@ss w/rd", "env", NULL},
     "postgresql://postgres:p%40ss%20w%2Frd@db.abcdefghij.supabase.co:5432/"
     "postgres?sslmode=require",
     "DATABASE_TYPE=supabase (.env)",
     NULL},
    {{"DATABASE_TYPE", "Supabase", "env", "SUPABASE_URL", "https://ABCdef.supabase.co/", "env",
      "SUPABASE_DB_PASSWORD", "pw", "env", NULL},
     "postgresql://postgres:pw@db.abcdef.supabase.co:5432/postgres?sslmode=require",
     "DATABASE_TYPE=Supabase (environment)",
     NULL},
    /* supabase: pooler */
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://abcdefghij.supabase.co", "env",
      "SUPABASE_DB_PASSWORD", "s3cr%t", "env", "SUPABASE_REGION", "eu-central-1", "dotenv", NULL},
     "postgresql://postgres.abcdefghij:s3cr%25t@aws-0-eu-central-1.pooler.supabase.com:6543/"
     "postgres"
     "?sslmode=require&prepared_statements=false",
     "DATABASE_TYPE=supabase (environment)",
     NULL},
    /* supabase: each missing or wrong piece */
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_DB_PASSWORD", "topsecret", "env", NULL},
     NULL,
     "DATABASE_TYPE=supabase needs SUPABASE_URL",
     "topsecret"},
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://abc.supabase.co", "env", NULL},
     NULL,
     "DATABASE_TYPE=supabase needs SUPABASE_DB_PASSWORD",
     NULL},
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://example.com", "dotenv",
      "SUPABASE_DB_PASSWORD", "topsecret", "env", NULL},
     NULL,
     "SUPABASE_URL=https://example.com (from .env): expected https://<project-ref>.supabase.co",
     "topsecret"},
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://abc.supabase.co/rest/v1", "env",
      "SUPABASE_DB_PASSWORD", "topsecret", "env", NULL},
     NULL,
     "SUPABASE_URL=",
     "topsecret"},
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://.supabase.co", "env",
      "SUPABASE_DB_PASSWORD", "topsecret", "env", NULL},
     NULL,
     "SUPABASE_URL=",
     "topsecret"},
    {{"DATABASE_TYPE", "supabase", "env", "SUPABASE_URL", "https://abc.supabase.co", "env",
      "SUPABASE_DB_PASSWORD", "topsecret", "env", "SUPABASE_REGION", "US East", "flag", NULL},
     NULL,
     "SUPABASE_REGION=US East (from --supabase-region): expected a region such as us-east-1",
     "topsecret"},
};

static void test_from_conf(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CONF_CASES / sizeof CONF_CASES[0]; i++) {
        const conf_case *t = &CONF_CASES[i];
        conf_t *c = mk(t->kv);
        char *url = (char *)0x1, *origin = (char *)0x1;
        err_t e;
        err_clear(&e);
        err_code rc = db_url_from_conf(c, &url, &origin, &e);
        if (t->url) {
            if (rc != ERR_OK)
                fail_msg("case %zu: unexpected error: %s", i, e.msg);
            check_str("from_conf", "url", t->url, url);
            check_str("from_conf", "origin", t->origin, origin);
            db_url *u = NULL;
            assert_int_equal(db_url_parse(url, &u, &e), ERR_OK); /* always parseable */
            db_url_free(u);
            free(url);
            free(origin);
        } else {
            if (rc != ERR_INVALID)
                fail_msg("case %zu: expected an error containing '%s', got %d", i, t->origin, rc);
            assert_null(url);
            assert_null(origin);
            if (!strstr(e.msg, t->origin))
                fail_msg("case %zu: error '%s' lacks '%s'", i, e.msg, t->origin);
            if (t->secret && strstr(e.msg, t->secret))
                fail_msg("case %zu: error leaks a secret: %s", i, e.msg);
        }
        conf_free(c);
    }
}

static void test_from_conf_round_trips(void **state)
{
    (void)state;
    /* The derived URLs decode back to exactly the configured pieces. */
    const char *kv[] = {"DATABASE_TYPE",
                        "supabase",
                        "env",
                        "SUPABASE_URL",
                        "https://proj123.supabase.co",
                        "env",
                        "SUPABASE_DB_PASSWORD",
                        "a:b@c/d?e#f%g h+i&j",
                        "env",
                        "SUPABASE_REGION",
                        "us-east-1",
                        "env",
                        NULL};
    conf_t *c = mk(kv);
    char *url, *origin;
    err_t e;
    assert_int_equal(db_url_from_conf(c, &url, &origin, &e), ERR_OK);
    db_url *u = NULL;
    assert_int_equal(db_url_parse(url, &u, &e), ERR_OK);
    assert_int_equal(u->backend, DB_BACKEND_POSTGRES);
    assert_string_equal(u->user, "postgres.proj123");
    assert_string_equal(u->password, "a:b@c/d?e#f%g h+i&j");
    assert_string_equal(u->host, "aws-0-us-east-1.pooler.supabase.com");
    assert_int_equal(u->port, 6543);
    assert_string_equal(u->database, "postgres");
    assert_string_equal(db_url_opt_get(u, "sslmode"), "require");
    assert_string_equal(db_url_opt_get(u, "prepared_statements"), "false");
    char *m = db_url_masked(url);
    assert_null(strstr(m, "a:b@c"));
    assert_string_equal(m, "postgresql://postgres.proj123:***@aws-0-us-east-1.pooler.supabase.com"
                           ":6543/postgres?sslmode=require&prepared_statements=false");
    free(m);
    db_url_free(u);
    free(url);
    free(origin);
    conf_free(c);

    const char *kv2[] = {"DATABASE_PATH", "/tmp/we ird/100%?x#y.db", "env", NULL};
    c = mk(kv2);
    assert_int_equal(db_url_from_conf(c, &url, &origin, &e), ERR_OK);
    assert_int_equal(db_url_parse(url, &u, &e), ERR_OK);
    assert_string_equal(u->path, "/tmp/we ird/100%?x#y.db");
    assert_int_equal(u->nopts, 0);
    db_url_free(u);
    free(url);
    free(origin);
    conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_table),
        cmocka_unit_test(test_null_and_free),
        cmocka_unit_test(test_opt_get_and_repeats),
        cmocka_unit_test(test_backend_names),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_error_shows_masked_url),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_from_conf),
        cmocka_unit_test(test_from_conf_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
