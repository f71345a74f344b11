/* fuzz/fuzz_db_url.c — libFuzzer harness for database URLs (db/url.c, base/urlmask.c,
 * db_opts_from): db_url_parse on any text, then for what parses db_opts_from,
 * db_url_where and db_url_masked; urlmask on every input.
 * The first newline of an input, if any, becomes ":" CANARY "@" (a password the harness
 * knows), so "postgresql://user\nhost/db" is postgresql://user:<canary>@host/db.
 * Properties: a parse error is ERR_INVALID with a message and leaves *out NULL; no
 * message, masked URL or db_url_where text shows the canary where the parser took it
 * for the password, and urlmask never shows it at all; the masked URL parses to the
 * same URL with the password "***" and every password-like option with a value "***".
 * Must not: connect to anything. */
#include "fuzz.h"

#include <strings.h>

#include "base/sbuf.h"
#include "base/urlmask.h"
#include "db/db.h"
#include "db/url.h"

#define CANARY "Zq7CanaryPw9"

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The option names base/urlmask.h promises to mask (any case). */
static bool password_like(const char *k)
{
    static const char *const keys[] = {"password", "pass",        "passwd",
                                       "pwd",      "sslpassword", "secret"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcasecmp(k, keys[i]) == 0)
            return true;
    return false;
}

/* The masked URL is the same URL with every secret replaced by "***". */
static void check_masked(const char *url, const db_url *u)
{
    char *m = db_url_masked(url);
    FZ_CHECK(m != NULL, "db_url_masked(%s) is NULL", url);
    if (u->password && strstr(u->password, CANARY))
        FZ_CHECK(!strstr(m, CANARY), "db_url_masked shows the password: %s", m);
    db_url *v = NULL;
    err_t e = {0};
    FZ_CHECK(db_url_parse(m, &v, &e) == ERR_OK, "masked '%s' of '%s' does not parse: %s", m, url,
             e.msg);
    FZ_CHECK(v->backend == u->backend && same(v->scheme, u->scheme) && same(v->driver, u->driver) &&
                 same(v->user, u->user) && same(v->host, u->host) && v->port == u->port &&
                 same(v->hosts, u->hosts) && same(v->database, u->database) &&
                 same(v->path, u->path) && v->memory == u->memory && v->srv == u->srv &&
                 v->nopts == u->nopts,
             "masked '%s' is another URL than '%s'", m, url);
    FZ_CHECK(u->password ? same(v->password, "***") : v->password == NULL,
             "masked '%s' of '%s': password not masked", m, url);
    for (size_t i = 0; i < u->nopts; i++) {
        FZ_CHECK(strcmp(v->opts[i].key, u->opts[i].key) == 0, "masked '%s': option %zu renamed", m,
                 i);
        if (password_like(u->opts[i].key) && u->opts[i].value[0])
            FZ_CHECK(strcmp(v->opts[i].value, "***") == 0,
                     "masked '%s' of '%s' shows the value of option '%s'", m, url, u->opts[i].key);
    }
    db_url_free(v);
    free(m);
}

static void check_parsed(const char *url, const db_url *u)
{
    FZ_CHECK(u->backend >= DB_BACKEND_SQLITE && u->backend <= DB_BACKEND_MONGODB, "backend %d",
             (int)u->backend);
    FZ_CHECK(u->port >= 0 && u->port <= 65535, "port %d", u->port);
    FZ_CHECK(u->backend == DB_BACKEND_SQLITE ? u->path && !u->host : u->host && !u->path,
             "'%s': sqlite has a path and no host, the others a host and no path", url);
    for (size_t i = 0; i < u->nopts; i++)
        FZ_CHECK(db_url_opt_get(u, u->opts[i].key) != NULL, "option %s not found", u->opts[i].key);
    bool secret = u->password && strstr(u->password, CANARY);
    char *where = db_url_where(u, "localhost", 5432);
    FZ_CHECK(!secret || !strstr(where, CANARY), "db_url_where shows the password: %s", where);
    free(where);
    db_opts o;
    err_t e = {0};
    if (db_opts_from(NULL, u, &o, &e) != ERR_OK)
        FZ_CHECK(e.msg[0] && (!secret || !strstr(e.msg, CANARY)), "db_opts_from: '%s'", e.msg);
    check_masked(url, u);
}

/* Whether the canary went where a URL's password goes: after "://" (if any) and before
 * the first '/' or '?' that follows. */
static bool in_userinfo(const char *in, const char *nl)
{
    if (!nl)
        return false;
    const char *sep = strstr(in, "://");
    const char *start = sep && sep < nl ? sep + 3 : in;
    for (const char *p = start; p < nl; p++)
        if (*p == '/' || *p == '?')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fz_cstr(data, size);
    if (!in)
        return -1;
    if (strstr(in, CANARY)) { /* the canary must mean the password alone */
        free(in);
        return -1;
    }
    char *nl = strchr(in, '\n');
    sbuf_t b = SBUF_INIT;
    if (nl) {
        sbuf_append(&b, in, (size_t)(nl - in));
        sbuf_puts(&b, ":" CANARY "@");
        sbuf_puts(&b, nl + 1);
    } else {
        sbuf_puts(&b, in);
    }
    const char *url = sbuf_cstr(&b);

    char *lenient = urlmask(url);
    FZ_CHECK(!nl || !strstr(lenient, CANARY), "urlmask shows the password: %s", lenient);
    free(lenient);

    db_url *u = (db_url *)&b; /* anything but NULL: a failed parse must clear it */
    err_t e = {0};
    err_code rc = db_url_parse(url, &u, &e);
    if (rc != ERR_OK) {
        FZ_CHECK(u == NULL, "'%s' failed (%s) but *out is set", url, e.msg);
        FZ_CHECK(rc == ERR_INVALID && e.msg[0], "'%s': error %d '%s'", url, (int)rc, e.msg);
        FZ_CHECK(!in_userinfo(in, nl) || !strstr(e.msg, CANARY), "the error shows the password: %s",
                 e.msg);
        char *m = db_url_masked(url);
        FZ_CHECK(!nl || !strstr(m, CANARY), "db_url_masked shows the password: %s", m);
        free(m);
    } else {
        FZ_CHECK(u != NULL, "'%s' parsed without a result", url);
        check_parsed(url, u);
        db_url_free(u);
    }
    sbuf_free(&b);
    free(in);
    return 0;
}
