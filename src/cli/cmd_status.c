/* cli/cmd_status.c — `ctxd status`: whether the server at the configured address
 * (HTTP_HOST, HTTP_PORT, https when HTTP_TLS_CERT_FILE is set; --url) is up, from its
 * GET /health (version, uptime, transport, live MCP sessions, its database's health),
 * and what the configured database holds (opened here read-only: backend, schema
 * version, sessions, messages, agents with keys, protected tokens). Exit 0 up and
 * healthy, 1 down or unhealthy (the reason named), 2 a wrong command line; the database
 * part is shown whatever the server's state.
 * Must not: create or change anything in the database (no migrations, no new SQLite
 * file), print secrets or an unmasked URL, or wait on the server beyond --timeout. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "cli/http_get.h"
#include "db/url.h"
#include "store/store.h"

#define STATUS_MAX_ANSWER (64u * 1024u) /* /health is a few hundred bytes */
#define STR(o, k) json_string_value(json_object_get(o, k))
#define INT(o, k) ((long long)json_integer_value(json_object_get(o, k)))

static void status_usage(FILE *f)
{
    fputs("Usage: ctxd status [--url URL] [--timeout S] [--cacert FILE] [--json]\n"
          "\n"
          "Asks the running server for GET /health and reads the configured database\n"
          "(read-only) to show: up or down, the URL, the server's and this ctxd's version,\n"
          "uptime, live MCP sessions, the database (masked URL, backend, schema version)\n"
          "and its counts of sessions, messages, agents with keys and protected tokens.\n"
          "\n"
          "  --url URL       the server to ask, http[s]://host[:port] (a path is ignored);\n"
          "                  default: HTTP_HOST and HTTP_PORT (127.0.0.1:23456; 0.0.0.0\n"
          "                  and :: are asked on loopback), https when HTTP_TLS_CERT_FILE\n"
          "                  is set\n"
          "  --timeout S     seconds for the whole exchange with the server (default 3)\n"
          "  --cacert FILE   https: trust the certificates of this PEM file (a self-signed\n"
          "                  server's own certificate will do); default: HTTP_TLS_CERT_FILE\n"
          "                  when set, and the system's trusted certificates\n"
          "  --json          machine-readable output\n"
          "\n"
          "Exit status: 0 the server is up and healthy and the database readable; 1 it is\n"
          "down (not running, no answer in time, TLS failure) or unhealthy (its database\n"
          "does not answer, the configured database cannot be read); 2 a wrong command line.\n",
          f);
}

/* The server's URL from configuration: http[s]://HTTP_HOST:HTTP_PORT, a wildcard
 * address replaced by loopback. NULL with a message on a bad HTTP_PORT. */
static char *configured_url(const conf_t *c)
{
    err_t e;
    long port = 23456;
    if (conf_get_int(c, "HTTP_PORT", 23456, &port, &e) != ERR_OK) {
        cli_fail("configuration", &e);
        return NULL;
    }
    const char *host = conf_get(c, "HTTP_HOST");
    if (!host || !*host || strcmp(host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0)
        host = "::1";
    const char *cert = conf_get(c, "HTTP_TLS_CERT_FILE");
    bool v6 = strchr(host, ':') && host[0] != '[';
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s://%s%s%s:%ld", cert && *cert ? "https" : "http", v6 ? "[" : "", host,
                v6 ? "]" : "", port);
    return sbuf_detach(&b);
}

/* Sets the status, reason and problem text of out, once: the first problem found is
 * the one reported. */
static void problem(json_t *out, const char *status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(json_t *out, const char *status, const char *reason, const char *fmt, ...)
{
    if (!json_is_null(json_object_get(out, "problem")))
        return;
    char buf[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_object_set_new(out, "status", json_string(status));
    json_object_set_new(out, "reason", json_string(reason));
    json_object_set_new(out, "problem", json_string(buf));
}

/* The server part: GET /health at url into out["server"]. */
static void server_part(json_t *out, const char *url, const cli_http_get_opts *o)
{
    json_t *srv = json_object();
    json_object_set_new(out, "server", srv);
    json_object_set_new(srv, "reachable", json_false());
    cli_http_url u;
    err_t e;
    if (!cli_http_url_parse(url, &u, &e)) { /* the configured one: --url was checked */
        problem(out, "down", "bad_url", "%s", e.msg);
        return;
    }
    cli_http_response r;
    cli_http_fail f = cli_http_get(&u, "/health", o, &r, &e);
    if (f != CLI_HTTP_OK) {
        if (f == CLI_HTTP_REFUSED)
            problem(out, "down", "refused", "not running at %s (%s)", url, e.msg);
        else if (f == CLI_HTTP_TIMEOUT)
            problem(out, "unreachable", "timeout", "no answer from %s within %d s (%s)", url,
                    o->timeout_ms / 1000, e.msg);
        else
            problem(out, "unreachable", cli_http_fail_name(f), "%s: %s", url, e.msg);
        return;
    }
    json_object_set_new(srv, "reachable", json_true());
    json_object_set_new(srv, "http_status", json_integer(r.status));
    json_t *h = json_loadb(r.body, r.len, 0, NULL);
    json_t *sv = json_object_get(h, "server");
    if (!json_is_object(sv) || !str_eq(STR(sv, "name"), "ctxd")) {
        const char *msg = STR(json_object_get(h, "error"), "message"); /* e.g. a Host refused */
        if (r.status != 200)
            problem(out, "unreachable", "http_status", "%s answers GET /health with %d%s%s", url,
                    r.status, msg ? ": " : "", msg ? msg : "");
        else
            problem(out, "unreachable", "not_ctxd",
                    "%s answers GET /health with %d but not as ctxd (%s)", url, r.status,
                    json_is_object(h) ? "no server.name \"ctxd\"" : "not JSON");
    } else {
        json_t *db = json_object_get(h, "database");
        json_object_set(srv, "health", json_object_get(h, "status"));
        json_object_set(srv, "version", json_object_get(h, "version"));
        json_object_set(srv, "uptime_seconds", json_object_get(sv, "uptime_seconds"));
        json_object_set(srv, "transport", json_object_get(sv, "transport"));
        json_object_set(srv, "mcp_sessions", json_object_get(sv, "sessions"));
        json_t *sdb = json_pack("{s:O? s:O?}", "status", json_object_get(db, "status"), "backend",
                                json_object_get(db, "type"));
        if (json_object_get(db, "latency_ms"))
            json_object_set(sdb, "latency_ms", json_object_get(db, "latency_ms"));
        if (json_object_get(db, "error"))
            json_object_set(sdb, "error", json_object_get(db, "error"));
        json_object_set_new(srv, "database", sdb);
        if (r.status != 200)
            problem(out, "unhealthy", "http_status", "%s answers GET /health with %d", url,
                    r.status);
        else if (!str_eq(STR(db, "status"), "healthy"))
            problem(out, "unhealthy", "database",
                    "the server's database does not answer (/health/database: 503, %s)",
                    STR(db, "error") ? STR(db, "error") : "unhealthy");
    }
    json_decref(h);
    cli_http_response_free(&r);
}

/* The configured database, read-only, into out["database"]. */
static void database_part(cli_ctx *ctx, json_t *out)
{
    json_t *db = json_object();
    json_object_set_new(out, "database", db);
    err_t e;
    db_url *u = NULL;
    store_t *st = NULL;
    if (!ctx->url && db_url_from_conf(ctx->conf, &ctx->url, &ctx->url_origin, &e) != ERR_OK)
        goto fail;
    char *masked = db_url_masked(ctx->url);
    json_object_set_new(db, "url", json_string(masked));
    free(masked);
    if (db_url_parse(ctx->url, &u, &e) != ERR_OK || db_backend_require(u, &e) != ERR_OK)
        goto fail;
    json_object_set_new(db, "backend", json_string(db_backend_name(u->backend)));
    if (u->memory)
        json_object_set_new(db, "note",
                            json_string("an in-memory database: another process's data is not "
                                        "visible from here"));
    /* like `ctxd db check`: a SQLite file that does not exist is not created */
    if (store_check_exists(ctx->url, &e) != ERR_OK ||
        store_open_with(ctx->url, ctx->conf, STORE_OPEN_ANY, &st, &e) != ERR_OK)
        goto fail;
    store_schema s;
    if (store_schema_status(st, &s, &e) != ERR_OK)
        goto fail;
    json_object_set_new(db, "schema_version", json_integer(s.current));
    json_object_set_new(db, "schema_expected", json_integer(s.latest));
    store_schema_clear(&s);
    if (store_schema_check(st, &e) != ERR_OK)
        goto fail;
    static const struct {
        const char *key, *table;
    } counted[] = {{"sessions", "sessions"}, {"messages", "messages"}, {"tokens", "secure_tokens"}};
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++) {
        int64_t n = 0;
        if (store_count_rows(st, counted[i].table, &n, &e) != ERR_OK)
            goto fail;
        json_object_set_new(db, counted[i].key, json_integer(n));
    }
    store_creds creds = {0};
    if (store_cred_list(st, &creds, &e) != ERR_OK)
        goto fail;
    int64_t active = 0;
    for (size_t i = 0; i < creds.n; i++)
        active += creds.v[i].revoked_at == 0;
    json_object_set_new(db, "agents_with_keys", json_integer(active));
    json_object_set_new(db, "agents_revoked", json_integer((json_int_t)creds.n - active));
    store_creds_free(&creds);
    store_close(st);
    db_url_free(u);
    return;
fail:
    json_object_set_new(db, "error", json_string(e.msg));
    problem(out, "unhealthy", "local_database", "the configured database: %s", e.msg);
    store_close(st);
    db_url_free(u);
}

static void print_uptime(long long s)
{
    long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d)
        printf("%lldd ", d);
    if (d || h)
        printf("%lldh ", h);
    if (d || h || m)
        printf("%lldm ", m);
    printf("%llds\n", s % 60);
}

static void print_text(const json_t *out)
{
    const json_t *srv = json_object_get(out, "server"), *db = json_object_get(out, "database");
    const json_t *sdb = json_object_get(srv, "database");
    printf("status:            %s\n", STR(out, "status"));
    if (STR(out, "problem"))
        printf("problem:           %s\n", STR(out, "problem"));
    printf("server:            %s\n", STR(out, "url"));
    if (STR(srv, "version"))
        printf("version:           server %s, this ctxd %s\n", STR(srv, "version"),
               STR(out, "version"));
    else
        printf("version:           this ctxd %s\n", STR(out, "version"));
    if (json_object_get(srv, "uptime_seconds")) {
        printf("uptime:            ");
        print_uptime(INT(srv, "uptime_seconds"));
    }
    if (json_object_get(srv, "mcp_sessions"))
        printf("MCP sessions:      %lld live (%s)\n", INT(srv, "mcp_sessions"),
               STR(srv, "transport") ? STR(srv, "transport") : "?");
    if (json_is_object(sdb)) {
        printf("server database:   %s (%s", STR(sdb, "status") ? STR(sdb, "status") : "?",
               STR(sdb, "backend") ? STR(sdb, "backend") : "?");
        if (json_object_get(sdb, "latency_ms"))
            printf(", %.3f ms", json_number_value(json_object_get(sdb, "latency_ms")));
        if (STR(sdb, "error"))
            printf(", %s", STR(sdb, "error"));
        printf(")\n");
    }
    if (STR(db, "url"))
        printf("database:          %s (%s)\n", STR(db, "url"),
               STR(db, "backend") ? STR(db, "backend") : "?");
    if (STR(db, "note"))
        printf("                   %s\n", STR(db, "note"));
    if (json_object_get(db, "schema_version"))
        printf("schema version:    %lld (this ctxd expects %lld)\n", INT(db, "schema_version"),
               INT(db, "schema_expected"));
    if (STR(db, "error"))
        printf("database error:    %s\n", STR(db, "error"));
    if (json_object_get(db, "sessions")) {
        printf("sessions:          %lld\n", INT(db, "sessions"));
        printf("messages:          %lld\n", INT(db, "messages"));
        printf("agents with keys:  %lld (%lld revoked)\n", INT(db, "agents_with_keys"),
               INT(db, "agents_revoked"));
        printf("protected tokens:  %lld\n", INT(db, "tokens"));
    }
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    const char *url_opt = NULL, *cacert = NULL;
    long timeout = 3;
    bool json = false;
    const cli_opt opts[] = {
        {.name = "--url", .text = &url_opt},
        {.name = "--timeout", .num = &timeout, .min = 1, .max = 300, .what = "seconds"},
        {.name = "--cacert", .text = &cacert},
        {.name = "--json", .flag = &json},
    };
    int rc = cli_parse_args("status", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0,
                            status_usage);
    if (rc != CLI_RUN)
        return rc;
    err_t e;
    cli_http_url u;
    if (url_opt && !cli_http_url_parse(url_opt, &u, &e)) {
        cli_error("status: --url %s (see ctxd status --help)", e.msg);
        return CLI_USAGE;
    }
    if (cacert && access(cacert, R_OK) != 0) {
        cli_error("status: --cacert %s: %s", cacert, strerror(errno));
        return CLI_USAGE;
    }
    char *url = NULL;
    if (url_opt) { /* shown without its path: /health is asked whatever it was */
        const char *auth = strstr(url_opt, "://") + 3;
        url = xstrndup(url_opt, (size_t)(auth - url_opt) + strcspn(auth, "/?#"));
    } else if (!(url = configured_url(ctx->conf))) {
        return CLI_USAGE;
    }
    if (!cacert) {
        const char *own = conf_get(ctx->conf, "HTTP_TLS_CERT_FILE");
        cacert = own && *own ? own : NULL;
    }
    signal(SIGPIPE, SIG_IGN); /* a server closing mid-request is an error, not a signal */
    cli_http_get_opts ho = {
        .cacert = cacert, .timeout_ms = (int)timeout * 1000, .max_bytes = STATUS_MAX_ANSWER};
    json_t *out = json_object();
    json_object_set_new(out, "status", json_string("up"));
    json_object_set_new(out, "reason", json_null());
    json_object_set_new(out, "problem", json_null());
    json_object_set_new(out, "url", json_string(url));
    json_object_set_new(out, "version", json_string(CTXD_VERSION));
    server_part(out, url, &ho);
    database_part(ctx, out);

    json_t *srv = json_object_get(out, "server");
    const char *sver = STR(srv, "version");
    json_object_set_new(out, "version_mismatch", json_boolean(sver && strcmp(sver, CTXD_VERSION)));
    if (sver && strcmp(sver, CTXD_VERSION) != 0)
        cli_error("warning: the server runs ctxd %s, this is ctxd %s", sver, CTXD_VERSION);
    const char *sb = STR(json_object_get(srv, "database"), "backend");
    const char *lb = STR(json_object_get(out, "database"), "backend");
    if (sb && lb && strcmp(sb, lb) != 0)
        cli_error("warning: the server uses a %s database, this configuration names a %s one: "
                  "the counts are of the configured database",
                  sb, lb);
    if (json) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
    } else {
        print_text(out);
    }
    rc = strcmp(STR(out, "status"), "up") == 0 ? CLI_OK : CLI_FAIL;
    json_decref(out);
    free(url);
    return rc;
}
