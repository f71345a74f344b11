/* tests/unit/test_conf.c — base/conf.c: precedence default < .env < environment <
 * flag, the .env syntax (python-dotenv common cases) and its errors, typed getters
 * and range/choice errors naming variable and source, secrets never shown,
 * conf_validate, the declaration table, URL masking.
 * Must not: depend on the caller's environment (every declared variable is unset
 * before each test) or write outside its mkdtemp directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/err.h"
#include "base/sbuf.h"
#include "base/urlmask.h"

static char g_dir[PATH_MAX];
static char g_path[PATH_MAX + 16];

static void clear_env(void)
{
    size_t n;
    const conf_var *v = conf_vars(&n);
    for (size_t i = 0; i < n; i++)
        unsetenv(v[i].name);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    const char *base = getenv("CTXD_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700); /* may exist */
    snprintf(g_dir, sizeof g_dir, "%s/conf-XXXXXX", base);
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/.env", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    unlink(g_path);
    rmdir(g_dir);
    return 0;
}

static void write_env(const char *text, size_t n)
{
    FILE *f = fopen(g_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

/* Writes text as the .env file and loads it (expecting success). */
static conf_t *load_text(const char *text)
{
    write_env(text, strlen(text));
    conf_t *c = NULL;
    err_t e;
    err_clear(&e);
    if (conf_load(&c, g_path, &e) != ERR_OK)
        fail_msg("conf_load failed for %s: %s", text, e.msg);
    return c;
}

/* ------------------------------------------------------------ defaults --- */

static void test_defaults(void **state)
{
    (void)state;
    conf_t *c = NULL;
    err_t e;
    assert_int_equal(conf_load(&c, g_path, &e), ERR_OK); /* no .env: fine */
    assert_string_equal(conf_get(c, "DATABASE_PATH"), "./chat_history.db");
    assert_int_equal(conf_source(c, "DATABASE_PATH"), CONF_SRC_DEFAULT);
    assert_string_equal(conf_get(c, "HTTP_HOST"), "127.0.0.1");
    assert_string_equal(conf_get(c, "MCP_TRANSPORT"), "http");
    assert_string_equal(conf_get(c, "LOG_LEVEL"), "info");
    assert_null(conf_get(c, "DATABASE_URL"));
    assert_null(conf_get(c, "API_KEY"));
    assert_int_equal(conf_source(c, "API_KEY"), CONF_SRC_UNSET);
    assert_null(conf_source_label(c, "API_KEY"));
    assert_string_equal(conf_source_label(c, "HTTP_HOST"), "default");

    static const struct {
        const char *name;
        long v;
    } ints[] = {
        {"DB_POOL_SIZE", 5},
        {"DB_MAX_OVERFLOW", 10},
        {"DB_POOL_TIMEOUT", 30},
        {"DB_POOL_RECYCLE", 3600},
        {"DB_POOL_IDLE_TIMEOUT", 300},
        {"SLOW_QUERY_THRESHOLD_MS", 1000},
        {"HTTP_PORT", 23456},
        {"JWT_TOKEN_EXPIRY", 86400},
        {"AUDIT_LOG_RETENTION_DAYS", 30},
        {"PROTECTED_TOKEN_EXPIRY", 3600},
        {"RATE_LIMIT_PER_MINUTE", 60000},
        {"RATE_LIMIT_BURST", 1000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        long v = -99;
        assert_int_equal(conf_get_int(c, ints[i].name, -1, &v, &e), ERR_OK);
        if (v != ints[i].v)
            fail_msg("%s = %ld, expected %ld", ints[i].name, v, ints[i].v);
    }
    bool b = true;
    assert_int_equal(conf_get_bool(c, "ENABLE_QUERY_LOGGING", true, &b, &e), ERR_OK);
    assert_false(b);
    b = false;
    assert_int_equal(conf_get_bool(c, "CTXD_AUTO_MIGRATE", false, &b, &e), ERR_OK);
    assert_true(b);
    const char *s = "x";
    assert_int_equal(conf_get_enum(c, "DATABASE_TYPE", &s, &e), ERR_OK);
    assert_null(s); /* unset, no default */
    assert_int_equal(conf_get_enum(c, "LOG_LEVEL", &s, &e), ERR_OK);
    assert_string_equal(s, "info");
    assert_int_equal(conf_validate(c, &e), ERR_OK);
    conf_free(c);

    /* conf_defaults ignores the environment */
    setenv("HTTP_PORT", "1234", 1);
    c = conf_defaults();
    assert_string_equal(conf_get(c, "HTTP_PORT"), "23456");
    conf_free(c);
}

static void test_table(void **state)
{
    (void)state;
    size_t n = 0;
    const conf_var *v = conf_vars(&n);
    /* 22 + PROTECTED_TOKEN_EXPIRY, RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST
     *    + MCP_MAX_SESSIONS, MCP_MAX_SESSIONS_PER_PEER, MCP_MAX_SUBSCRIPTIONS_PER_SESSION,
     *      MCP_MAX_SUBSCRIPTIONS
     *    + HTTP_MAX_CONNECTIONS, HTTP_MAX_CONNECTIONS_PER_CLIENT, HTTP_HEADER_TIMEOUT
     *    + MCP_WRITE_WORKERS, MCP_HEAVY_WORKERS, HEAVY_CALLS_PER_AGENT,
     *      SEARCH_MAX_SCAN_BYTES, SEARCH_TIME_BUDGET_MS, MAX_RESPONSE_BYTES,
     *    + SHARED_KEY_AGENT_TYPES, SHARED_KEY_PERMISSIONS
     *    + DB_POOL_IDLE_TIMEOUT
     *    + SEARCH_INDEX_MAX_BYTES
     *    + ALLOWED_HOSTS, ALLOWED_ORIGINS, HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE
     *    + LOG_FORMAT */
    assert_int_equal(n, 47);
    conf_t *c = conf_defaults();
    err_t e;
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(conf_var_find(v[i].name), &v[i]);
        assert_non_null(v[i].help);
        assert_true(strlen(v[i].help) > 5);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(v[i].name, v[j].name);
        if (v[i].type == CONF_INT) {
            assert_true(v[i].min <= v[i].max);
            assert_non_null(v[i].def);
        }
        if (v[i].type == CONF_ENUM) {
            /* every listed choice is accepted and canonical */
            assert_non_null(v[i].choices);
            char buf[200];
            snprintf(buf, sizeof buf, "%s", v[i].choices);
            for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|")) {
                conf_t *c2 = conf_defaults();
                assert_int_equal(conf_set(c2, v[i].name, tok, CONF_SRC_ENV, &e), ERR_OK);
                const char *canon = NULL;
                if (conf_get_enum(c2, v[i].name, &canon, &e) != ERR_OK)
                    fail_msg("%s=%s rejected: %s", v[i].name, tok, e.msg);
                assert_string_equal(canon, tok);
                conf_free(c2);
            }
        }
        if (v[i].type == CONF_SECRET)
            assert_null(v[i].def);
    }
    /* the declared types the rest of ctxd relies on */
    assert_int_equal(conf_var_find("API_KEY")->type, CONF_SECRET);
    assert_int_equal(conf_var_find("JWT_SECRET_KEY")->type, CONF_SECRET);
    assert_int_equal(conf_var_find("SUPABASE_DB_PASSWORD")->type, CONF_SECRET);
    assert_int_equal(conf_var_find("DATABASE_URL")->type, CONF_URL);
    assert_int_equal(conf_var_find("DB_POOL_RECYCLE")->min, -1);
    assert_int_equal(conf_var_find("HTTP_PORT")->max, 65535);
    assert_int_equal(conf_var_find("PROTECTED_TOKEN_EXPIRY")->min, 60);
    assert_int_equal(conf_var_find("RATE_LIMIT_PER_MINUTE")->min, 0); /* 0 = off */
    assert_int_equal(conf_var_find("RATE_LIMIT_BURST")->min, 1);
    assert_null(conf_var_find("NOPE"));
    assert_null(conf_var_find(NULL));
    assert_int_equal(conf_validate(c, &e), ERR_OK); /* every default is valid */
    conf_free(c);

    assert_string_equal(conf_src_name(CONF_SRC_DEFAULT), "default");
    assert_string_equal(conf_src_name(CONF_SRC_DOTENV), ".env");
    assert_string_equal(conf_src_name(CONF_SRC_ENV), "environment");
    assert_string_equal(conf_src_name(CONF_SRC_FLAG), "flag");
    assert_string_equal(conf_src_name(CONF_SRC_UNSET), "unset");
}

/* ---------------------------------------------------------- precedence --- */

static void test_precedence(void **state)
{
    (void)state;
    setenv("HTTP_PORT", "2222", 1);
    setenv("LOG_LEVEL", "error", 1);
    setenv("UNRELATED_THING", "x", 1);
    conf_t *c = load_text("HTTP_PORT=1111\nDB_POOL_SIZE=7\nLOG_LEVEL=debug\n");
    err_t e;
    assert_string_equal(conf_get(c, "HTTP_PORT"), "2222");
    assert_int_equal(conf_source(c, "HTTP_PORT"), CONF_SRC_ENV);
    assert_string_equal(conf_get(c, "DB_POOL_SIZE"), "7");
    assert_int_equal(conf_source(c, "DB_POOL_SIZE"), CONF_SRC_DOTENV);
    assert_string_equal(conf_source_label(c, "DB_POOL_SIZE"), ".env");
    assert_string_equal(conf_get(c, "LOG_LEVEL"), "error");
    assert_int_equal(conf_source(c, "DB_MAX_OVERFLOW"), CONF_SRC_DEFAULT);
    assert_null(conf_get(c, "UNRELATED_THING"));

    assert_int_equal(conf_set(c, "HTTP_PORT", "3333", CONF_SRC_FLAG, &e), ERR_OK);
    assert_string_equal(conf_get(c, "HTTP_PORT"), "3333");
    assert_int_equal(conf_source(c, "HTTP_PORT"), CONF_SRC_FLAG);
    assert_string_equal(conf_source_label(c, "HTTP_PORT"), "--http-port");
    long port = 0;
    assert_int_equal(conf_get_int(c, "HTTP_PORT", 0, &port, &e), ERR_OK);
    assert_int_equal(port, 3333);

    /* a lower source never overrides a higher one */
    assert_int_equal(conf_set(c, "HTTP_PORT", "4444", CONF_SRC_DOTENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "HTTP_PORT", "5555", CONF_SRC_ENV, &e), ERR_OK);
    assert_string_equal(conf_get(c, "HTTP_PORT"), "3333");
    /* the same source replaces; a flag spelled by the CLI keeps its spelling */
    assert_int_equal(conf_set_flag(c, "HTTP_PORT", "6666", "--port", &e), ERR_OK);
    assert_string_equal(conf_get(c, "HTTP_PORT"), "6666");
    assert_string_equal(conf_source_label(c, "HTTP_PORT"), "--port");
    assert_int_equal(conf_set(c, "DB_POOL_SIZE", "9", CONF_SRC_ENV, &e), ERR_OK);
    assert_string_equal(conf_get(c, "DB_POOL_SIZE"), "9");
    assert_int_equal(conf_source(c, "DB_POOL_SIZE"), CONF_SRC_ENV);
    conf_free(c);
    unsetenv("UNRELATED_THING");
}

static void test_empty_means_unset(void **state)
{
    (void)state;
    setenv("API_KEY", "", 1);      /* does not override .env */
    setenv("DB_POOL_SIZE", "", 1); /* does not override the default */
    conf_t *c = load_text("API_KEY=fromdotenv\nSUPABASE_REGION=\nHTTP_HOST=''\n");
    err_t e;
    assert_string_equal(conf_get(c, "API_KEY"), "fromdotenv");
    assert_int_equal(conf_source(c, "API_KEY"), CONF_SRC_DOTENV);
    assert_string_equal(conf_get(c, "DB_POOL_SIZE"), "5");
    assert_int_equal(conf_source(c, "DB_POOL_SIZE"), CONF_SRC_DEFAULT);
    assert_null(conf_get(c, "SUPABASE_REGION"));
    assert_string_equal(conf_get(c, "HTTP_HOST"), "127.0.0.1");
    assert_int_equal(conf_set(c, "API_KEY", "", CONF_SRC_FLAG, &e), ERR_OK);
    assert_string_equal(conf_get(c, "API_KEY"), "fromdotenv");
    assert_int_equal(conf_validate(c, &e), ERR_OK);
    conf_free(c);
}

static void test_set_errors(void **state)
{
    (void)state;
    conf_t *c = conf_defaults();
    err_t e;
    assert_int_equal(conf_set(c, "NOPE", "1", CONF_SRC_FLAG, &e), ERR_INVALID);
    assert_string_equal(e.msg, "unknown configuration variable 'NOPE'");
    assert_int_equal(conf_set(c, "http_port", "1", CONF_SRC_FLAG, &e), ERR_INVALID);
    assert_int_equal(conf_set(c, "HTTP_PORT", NULL, CONF_SRC_FLAG, &e), ERR_INVALID);
    assert_int_equal(conf_set(c, "HTTP_PORT", "1", CONF_SRC_UNSET, &e), ERR_INVALID);
    assert_int_equal(conf_set_flag(c, "NOPE", "1", "--nope", &e), ERR_INVALID);
    assert_null(conf_get(c, "NOPE"));
    assert_null(conf_get(c, NULL));
    assert_int_equal(conf_source(c, "NOPE"), CONF_SRC_UNSET);
    long v;
    assert_int_equal(conf_get_int(c, "NOPE", 1, &v, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "NOPE"));
    bool b;
    assert_int_equal(conf_get_bool(c, "HTTP_PORT", false, &b, &e), ERR_INTERNAL); /* wrong type */
    assert_string_equal(conf_get(c, "HTTP_PORT"), "23456");
    conf_free(c);
    conf_free(NULL);
}

/* ---------------------------------------------------------- .env syntax --- */

static const struct {
    const char *text, *var, *want; /* want NULL = unset */
} DOTENV_OK[] = {
    {"API_KEY=abc", "API_KEY", "abc"},
    {"API_KEY=abc\n", "API_KEY", "abc"},
    {"export API_KEY=abc\n", "API_KEY", "abc"},
    {"export\tAPI_KEY = abc\n", "API_KEY", "abc"},
    {"  API_KEY  =  abc  \n", "API_KEY", "abc"},
    {"\tAPI_KEY=tab\n", "API_KEY", "tab"},
    {"API_KEY=abc # a comment\n", "API_KEY", "abc"},
    {"API_KEY=abc\t# a comment\n", "API_KEY", "abc"},
    {"API_KEY=abc#not-a-comment\n", "API_KEY", "abc#not-a-comment"},
    {"API_KEY=#x\n", "API_KEY", "#x"},
    {"API_KEY= #x\n", "API_KEY", "#x"},
    {"API_KEY=a b  c\n", "API_KEY", "a b  c"},
    {"API_KEY=a=b=c\n", "API_KEY", "a=b=c"},
    {"API_KEY='a b # c \\n $x'\n", "API_KEY", "a b # c \\n $x"},
    {"API_KEY='x' # comment\n", "API_KEY", "x"},
    {"API_KEY=\"a\\nb\\\"c\\\\d\\te\"\n", "API_KEY", "a\nb\"c\\d\te"},
    {"API_KEY=\"x # not comment\" # comment\n", "API_KEY", "x # not comment"},
    {"API_KEY=\"\\q\\'\"\n", "API_KEY", "\\q'"},
    {"API_KEY=\"multi\nline\"\n", "API_KEY", "multi\nline"},
    {"API_KEY='multi\nline'\n", "API_KEY", "multi\nline"},
    {"API_KEY=\"it's\"\n", "API_KEY", "it's"},
    {"API_KEY='say \"hi\"'\n", "API_KEY", "say \"hi\""},
    {"API_KEY=v\r\n", "API_KEY", "v"},
    {"API_KEY=\"v\"\r\nHTTP_HOST=h\r\n", "API_KEY", "v"},
    {"API_KEY=\"v\"\r\nHTTP_HOST=h\r\n", "HTTP_HOST", "h"},
    {"\xEF\xBB\xBF"
     "API_KEY=bom\n",
     "API_KEY", "bom"},
    {"# comment\n\n   \n# API_KEY=no\nAPI_KEY=yes\n", "API_KEY", "yes"},
    {"API_KEY=first\nAPI_KEY=second\n", "API_KEY", "second"},
    {"API_KEY=\n", "API_KEY", NULL},
    {"API_KEY=''\n", "API_KEY", NULL},
    {"API_KEY=\"\"", "API_KEY", NULL},
    {"UNRELATED=1\nlower.case-key=2\nAPI_KEY=k\n", "API_KEY", "k"},
    {"export=1\nAPI_KEY=k\n", "API_KEY", "k"},
    {"", "API_KEY", NULL},
    {"\n\n\n", "API_KEY", NULL},
    {"API_KEY=x\nHTTP_HOST=\"0.0.0.0\"\nDATABASE_URL=postgresql://u:p@h/db?a=1&b=2 # db\n",
     "DATABASE_URL", "postgresql://u:p@h/db?a=1&b=2"},
    {"API_KEY=caf\xC3\xA9\n", "API_KEY", "caf\xC3\xA9"},
};

static void test_dotenv_syntax(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof DOTENV_OK / sizeof DOTENV_OK[0]; i++) {
        conf_t *c = load_text(DOTENV_OK[i].text);
        const char *got = conf_get(c, DOTENV_OK[i].var);
        const char *want = DOTENV_OK[i].want;
        if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
            fail_msg("case %zu: %s = [%s], expected [%s]", i, DOTENV_OK[i].var, got ? got : "NULL",
                     want ? want : "NULL");
        if (want)
            assert_int_equal(conf_source(c, DOTENV_OK[i].var), CONF_SRC_DOTENV);
        conf_free(c);
    }
}

static const struct {
    const char *text;
    const char *want;   /* substring of the message after the path */
    const char *secret; /* must not appear */
} DOTENV_BAD[] = {
    {"API_KEY\n", " line 1: expected KEY=VALUE", NULL},
    {"# c\n\nAPI_KEY=1\n\nJUNK LINE\n", " line 5: expected KEY=VALUE", NULL},
    {"=value\n", " line 1: expected KEY=VALUE", NULL},
    {"API_KEY:value\n", " line 1: expected KEY=VALUE", NULL},
    {"export API_KEY\n", " line 1: expected KEY=VALUE", NULL},
    {"API_KEY='topsecret\n", " line 1: unterminated single-quoted value for API_KEY", "topsecret"},
    {"A=1\nAPI_KEY=\"topsecret\n\n", " line 2: unterminated double-quoted value for API_KEY",
     "topsecret"},
    {"API_KEY=\"topsecret\\\"", " line 1: unterminated double-quoted", "topsecret"},
    {"JWT_SECRET_KEY='topsecret' junk\n",
     " line 1: unexpected text after the closing quote of JWT_SECRET_KEY", "topsecret"},
    {"A=1\nB=\"x\ny\nz\"\nC D\n", " line 5: expected KEY=VALUE", NULL},
    {"A='x\ny'\r\nB C\r\n", " line 3: expected KEY=VALUE", NULL},
    {"API_KEY=ok\nX=a\0b\n", " line 2: contains a NUL byte", NULL},
};

static void test_dotenv_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof DOTENV_BAD / sizeof DOTENV_BAD[0]; i++) {
        const char *t = DOTENV_BAD[i].text;
        size_t n = strlen(t);
        if (strstr(DOTENV_BAD[i].want, "NUL"))
            n += strlen(t + n + 1) + 1; /* the embedded NUL and the rest */
        write_env(t, n);
        conf_t *c = (conf_t *)0x1;
        err_t e;
        err_clear(&e);
        assert_int_equal(conf_load(&c, g_path, &e), ERR_INVALID);
        assert_null(c);
        char want[PATH_MAX + 200];
        snprintf(want, sizeof want, "%s%s", g_path, DOTENV_BAD[i].want);
        if (strncmp(e.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', expected '%s...'", i, e.msg, want);
        if (DOTENV_BAD[i].secret && strstr(e.msg, DOTENV_BAD[i].secret))
            fail_msg("case %zu: error leaks a value: %s", i, e.msg);
    }
}

static void test_dotenv_default_path(void **state)
{
    (void)state;
    /* conf_load(NULL) reads ./.env and names it ".env" */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_dir), 0);
    const char *text = "# 1\nA=1\nB=2\n\n# 5\nC=3\nthis line is wrong\n";
    write_env(text, strlen(text));
    conf_t *c = NULL;
    err_t e;
    err_code rc = conf_load(&c, NULL, &e);
    write_env("HTTP_PORT=8080\n", 15);
    conf_t *c2 = NULL;
    err_code rc2 = conf_load(&c2, NULL, NULL);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, ERR_INVALID);
    assert_string_equal(e.msg, ".env line 7: expected KEY=VALUE");
    assert_int_equal(rc2, ERR_OK);
    assert_string_equal(conf_get(c2, "HTTP_PORT"), "8080");
    conf_free(c2);
}

static void test_dotenv_unreadable(void **state)
{
    (void)state;
    conf_t *c = NULL;
    err_t e;
    char p[PATH_MAX + 16];
    /* missing: fine */
    snprintf(p, sizeof p, "%s/missing.env", g_dir);
    assert_int_equal(conf_load(&c, p, &e), ERR_OK);
    conf_free(c);
    /* a directory: an error */
    snprintf(p, sizeof p, "%s/dir.env", g_dir);
    assert_int_equal(mkdir(p, 0700), 0);
    c = (conf_t *)0x1;
    assert_int_equal(conf_load(&c, p, &e), ERR_INVALID);
    assert_null(c);
    assert_non_null(strstr(e.msg, "cannot read"));
    assert_non_null(strstr(e.msg, "dir.env"));
    rmdir(p);
    /* no permission (meaningless as root) */
    if (geteuid() != 0) {
        write_env("A=1\n", 4);
        chmod(g_path, 0);
        assert_int_equal(conf_load(&c, g_path, &e), ERR_INVALID);
        assert_non_null(strstr(e.msg, "cannot read"));
        assert_int_equal(e.native, EACCES);
        chmod(g_path, 0600);
    }
    /* larger than 1 MiB: refused */
    size_t big = (1u << 20) + 10;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, '#', big);
    write_env(buf, big);
    free(buf);
    assert_int_equal(conf_load(&c, g_path, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "larger than"));
}

/* --------------------------------------------------------- typed getters --- */

static void test_int_errors_name_variable_and_source(void **state)
{
    (void)state;
    setenv("DB_POOL_SIZE", "abc", 1);
    conf_t *c = load_text("HTTP_PORT=70000\n");
    err_t e;
    long v = 0;
    assert_int_equal(conf_get_int(c, "DB_POOL_SIZE", 1, &v, &e), ERR_INVALID);
    assert_string_equal(
        e.msg, "DB_POOL_SIZE=abc (from environment): expected an integer between 1 and 1000");
    assert_int_equal(conf_get_int(c, "HTTP_PORT", 1, &v, &e), ERR_INVALID);
    assert_string_equal(e.msg,
                        "HTTP_PORT=70000 (from .env): expected an integer between 1 and 65535");
    assert_int_equal(conf_set(c, "JWT_TOKEN_EXPIRY", "59", CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "JWT_TOKEN_EXPIRY", 1, &v, &e), ERR_INVALID);
    assert_string_equal(e.msg, "JWT_TOKEN_EXPIRY=59 (from --jwt-token-expiry): expected an integer "
                               "between 60 and 31536000");
    assert_int_equal(conf_set_flag(c, "HTTP_PORT", "0x50", "--port", &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "HTTP_PORT", 1, &v, &e), ERR_INVALID);
    assert_string_equal(e.msg,
                        "HTTP_PORT=0x50 (from --port): expected an integer between 1 and 65535");
    conf_free(c);
}

static void test_int_ranges(void **state)
{
    (void)state;
    size_t n;
    const conf_var *vars = conf_vars(&n);
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type != CONF_INT)
            continue;
        const long probe[4] = {vars[i].min, vars[i].max, vars[i].min - 1, vars[i].max + 1};
        for (int k = 0; k < 4; k++) {
            conf_t *c = conf_defaults();
            err_t e;
            char num[32];
            snprintf(num, sizeof num, "%ld", probe[k]);
            assert_int_equal(conf_set(c, vars[i].name, num, CONF_SRC_ENV, &e), ERR_OK);
            long v = 12345;
            err_code rc = conf_get_int(c, vars[i].name, 0, &v, &e);
            if (k < 2) {
                if (rc != ERR_OK || v != probe[k])
                    fail_msg("%s=%s rejected: %s", vars[i].name, num, e.msg);
            } else {
                if (rc != ERR_INVALID)
                    fail_msg("%s=%s accepted", vars[i].name, num);
                assert_non_null(strstr(e.msg, vars[i].name));
                assert_non_null(strstr(e.msg, "(from environment)"));
                assert_int_equal(conf_validate(c, &e), ERR_INVALID);
                assert_non_null(strstr(e.msg, vars[i].name));
            }
            conf_free(c);
        }
    }
    /* the bounds themselves, spelled out */
    conf_t *c = conf_defaults();
    err_t e;
    long v;
    assert_int_equal(conf_set(c, "DB_POOL_RECYCLE", "-1", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_RECYCLE", 0, &v, &e), ERR_OK);
    assert_int_equal(v, -1);
    assert_int_equal(conf_set(c, "DB_POOL_RECYCLE", "-2", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_RECYCLE", 0, &v, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "between -1 and 604800"));
    assert_int_equal(conf_set(c, "DB_POOL_IDLE_TIMEOUT", "0", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_IDLE_TIMEOUT", 9, &v, &e), ERR_OK);
    assert_int_equal(v, 0); /* 0 = overflow closed on return */
    assert_int_equal(conf_set(c, "DB_POOL_IDLE_TIMEOUT", "-1", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_IDLE_TIMEOUT", 0, &v, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "between 0 and 86400"));
    assert_int_equal(conf_set(c, "DB_POOL_SIZE", " 5", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_SIZE", 0, &v, &e), ERR_INVALID);
    assert_int_equal(conf_set(c, "DB_POOL_SIZE", "99999999999999999999999", CONF_SRC_ENV, &e),
                     ERR_OK);
    assert_int_equal(conf_get_int(c, "DB_POOL_SIZE", 0, &v, &e), ERR_INVALID);
    conf_free(c);
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool v;
    } ok[] = {
        {"1", true},  {"true", true},   {"TRUE", true},   {"yes", true}, {"On", true},
        {"0", false}, {"false", false}, {"False", false}, {"no", false}, {"OFF", false},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        conf_t *c = conf_defaults();
        err_t e;
        assert_int_equal(conf_set(c, "ENABLE_QUERY_LOGGING", ok[i].s, CONF_SRC_ENV, &e), ERR_OK);
        bool b = !ok[i].v;
        assert_int_equal(conf_get_bool(c, "ENABLE_QUERY_LOGGING", !ok[i].v, &b, &e), ERR_OK);
        assert_int_equal(b, ok[i].v);
        conf_free(c);
    }
    setenv("CTXD_AUTO_MIGRATE", "maybe", 1);
    conf_t *c = NULL;
    err_t e;
    assert_int_equal(conf_load(&c, g_path, &e), ERR_OK);
    bool b;
    assert_int_equal(conf_get_bool(c, "CTXD_AUTO_MIGRATE", true, &b, &e), ERR_INVALID);
    assert_string_equal(e.msg, "CTXD_AUTO_MIGRATE=maybe (from environment): expected true or "
                               "false (or 1/0, yes/no, on/off)");
    conf_free(c);
}

static void test_enums(void **state)
{
    (void)state;
    static const struct {
        const char *var, *in, *canon;
    } ok[] = {
        {"LOG_LEVEL", "WARNING", "warning"},
        {"LOG_LEVEL", "warn", "warning"},
        {"LOG_LEVEL", "Debug", "debug"},
        {"LOG_LEVEL", "CRITICAL", "critical"},
        {"DATABASE_TYPE", "Postgres", "postgresql"},
        {"DATABASE_TYPE", "mariadb", "mysql"},
        {"DATABASE_TYPE", "SUPABASE", "supabase"},
        {"MCP_TRANSPORT", "STDIO", "stdio"},
    };
    err_t e;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        conf_t *c = conf_defaults();
        assert_int_equal(conf_set(c, ok[i].var, ok[i].in, CONF_SRC_DOTENV, &e), ERR_OK);
        const char *s = NULL;
        assert_int_equal(conf_get_enum(c, ok[i].var, &s, &e), ERR_OK);
        assert_string_equal(s, ok[i].canon);
        assert_string_equal(conf_get(c, ok[i].var), ok[i].in); /* raw value kept */
        conf_free(c);
    }
    setenv("LOG_LEVEL", "trace", 1);
    conf_t *c = load_text("DATABASE_TYPE=oracle\nMCP_TRANSPORT=sse\n");
    const char *s = "x";
    assert_int_equal(conf_get_enum(c, "LOG_LEVEL", &s, &e), ERR_INVALID);
    assert_string_equal(e.msg, "LOG_LEVEL=trace (from environment): expected one of debug, info, "
                               "warning, error, critical");
    assert_int_equal(conf_get_enum(c, "DATABASE_TYPE", &s, &e), ERR_INVALID);
    assert_string_equal(e.msg, "DATABASE_TYPE=oracle (from .env): expected one of sqlite, "
                               "postgresql, mysql, mongodb, supabase");
    assert_int_equal(conf_get_enum(c, "MCP_TRANSPORT", &s, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "MCP_TRANSPORT=sse (from .env): expected one of http, stdio"));
    assert_int_equal(conf_get_enum(c, "HTTP_PORT", &s, &e), ERR_INTERNAL);
    conf_free(c);
}

/* ------------------------------------------------------------- secrets --- */

static void test_secrets_never_shown(void **state)
{
    (void)state;
    setenv("API_KEY", "sk-topsecret-1", 1);
    setenv("DATABASE_URL", "user:hunter2@dbhost/app", 1); /* no scheme: invalid */
    conf_t *c = load_text("JWT_SECRET_KEY=jwt-topsecret-2\nSUPABASE_DB_PASSWORD='pw-topsecret-3'\n"
                          "SUPABASE_URL=https://x:pw-topsecret-4@abc.supabase.co\n");
    err_t e;
    char *d = conf_display(c, "API_KEY");
    assert_string_equal(d, "(hidden)");
    free(d);
    d = conf_display(c, "SUPABASE_DB_PASSWORD");
    assert_string_equal(d, "(hidden)");
    free(d);
    d = conf_display(c, "DATABASE_URL");
    assert_string_equal(d, "user:***@dbhost/app");
    free(d);
    d = conf_display(c, "HTTP_HOST");
    assert_string_equal(d, "127.0.0.1");
    free(d);
    assert_null(conf_display(c, "PERMISSIONS_CONFIG_FILE"));
    /* the real values are still there for the code that needs them */
    assert_string_equal(conf_get(c, "API_KEY"), "sk-topsecret-1");
    assert_string_equal(conf_get(c, "SUPABASE_DB_PASSWORD"), "pw-topsecret-3");

    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_string_equal(e.msg, "DATABASE_URL=user:***@dbhost/app (from environment): expected a "
                               "URL (scheme://...)");
    assert_null(strstr(e.msg, "hunter2"));
    assert_null(strstr(e.msg, "topsecret"));
    conf_free(c);

    /* a secret with bad bytes is still never echoed; a control character in a
     * plain string is shown as '?' so the message stays one line */
    c = conf_defaults();
    assert_int_equal(conf_set(c, "API_KEY", "bad\xFFkey", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "HTTP_HOST", "a\nb", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_string_equal(e.msg, "HTTP_HOST=a?b (from environment): contains a control character");
    conf_free(c);
}

/* ------------------------------------------------------------ validate --- */

static void test_validate(void **state)
{
    (void)state;
    setenv("DATABASE_URL", "postgresql://u:p@h/db", 1);
    setenv("DB_POOL_SIZE", "20", 1);
    conf_t *c =
        load_text("LOG_LEVEL=DEBUG\nENABLE_QUERY_LOGGING=yes\nMCP_TRANSPORT=stdio\n"
                  "SUPABASE_URL=https://abc.supabase.co\nPERMISSIONS_CONFIG_FILE=/etc/p.json\n");
    err_t e;
    assert_int_equal(conf_validate(c, &e), ERR_OK);
    /* one bad value: named with its source */
    assert_int_equal(conf_set(c, "DB_MAX_OVERFLOW", "-1", CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_string_equal(e.msg, "DB_MAX_OVERFLOW=-1 (from --db-max-overflow): expected an integer "
                               "between 0 and 1000");
    /* several: the first one, and how many more */
    assert_int_equal(conf_set(c, "HTTP_PORT", "http", CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(conf_set(c, "LOG_LEVEL", "loud", CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "DB_MAX_OVERFLOW=-1"));
    assert_non_null(strstr(e.msg, "(and 2 more invalid variables)"));
    assert_int_equal(conf_validate(NULL, &e), ERR_INTERNAL);
    conf_free(c);

    c = conf_defaults();
    assert_int_equal(conf_set(c, "HTTP_HOST", "ho\xC3st", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_string_equal(e.msg, "HTTP_HOST=ho?st (from environment): not valid UTF-8");
    conf_free(c);

    c = conf_defaults();
    assert_int_equal(conf_set(c, "SUPABASE_URL", "abc.supabase.co", CONF_SRC_DOTENV, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_string_equal(e.msg,
                        "SUPABASE_URL=abc.supabase.co (from .env): expected a URL (scheme://...)");
    conf_free(c);
}

/* ------------------------------------------------------------- masking --- */

static void test_mask_url(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } m[] = {
        {"postgresql://u:secret@h/db", "postgresql://u:***@h/db"},
        {"postgresql://u@h/db", "postgresql://u@h/db"},
        {"postgresql://h:5432,h2:5433/db", "postgresql://h:5432,h2:5433/db"},
        {"mongodb://[::1]:27017/db", "mongodb://[::1]:27017/db"},
        {"postgresql://u:a@b/c@h/db?x=1", "postgresql://u:***@h/db?x=1"},
        {"postgresql://user:secret", "postgresql://user:***"},
        {"postgresql://h/db?sslmode=require&password=pw&x=1",
         "postgresql://h/db?sslmode=require&password=***&x=1"},
        {"u:pw@h", "u:***@h"},
        {"./chat_history.db", "./chat_history.db"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char *s = urlmask(m[i].in);
        if (strcmp(s, m[i].out) != 0)
            fail_msg("urlmask(%s) = %s, expected %s", m[i].in, s, m[i].out);
        free(s);
    }
    assert_null(urlmask(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_means_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_default_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotenv_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_errors_name_variable_and_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mask_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
