/* cli/cmd_db.c — `ctxd db check` (is the configured database usable: backend,
 * server version, schema version, round trip, pool statistics, no unfinished copy or
 * import, on every backend including MongoDB; exit 0 healthy, 1 not) and `ctxd db url` (the effective URL, masked, and where every setting
 * came from). Must not: create or change anything in the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "db/url.h"
#include "store/store.h"

static void db_usage(FILE *f)
{
    fputs("Usage: ctxd db <check|url> [--json]\n"
          "\n"
          "  check    connect to the configured database and report: backend, server\n"
          "           version, schema version, round-trip latency and pool statistics,\n"
          "           and warns about a copy or import into it that did not finish.\n"
          "           Exit status 0 when healthy (reachable, schema current, no\n"
          "           unfinished copy), 1 otherwise.\n"
          "  url      print the effective database URL (password masked), the backend,\n"
          "           and where each database setting came from (default, .env,\n"
          "           environment or flag).\n"
          "\n"
          "  --json   machine-readable output\n",
          f);
}

static const char *const db_vars[] = {
    "DATABASE_URL",    "DATABASE_TYPE",           "DATABASE_PATH",
    "SUPABASE_URL",    "SUPABASE_DB_PASSWORD",    "SUPABASE_REGION",
    "DB_POOL_SIZE",    "DB_MAX_OVERFLOW",         "DB_POOL_TIMEOUT",
    "DB_POOL_RECYCLE", "SLOW_QUERY_THRESHOLD_MS", "ENABLE_QUERY_LOGGING",
};

static int cmd_url(cli_ctx *ctx, bool json)
{
    int rc = cli_resolve_url(ctx);
    if (rc != CLI_OK)
        return rc;
    err_t e;
    db_url *u = NULL;
    if (db_url_parse(ctx->url, &u, &e) != ERR_OK)
        return cli_fail(ctx->url_origin, &e);
    db_opts o;
    if (db_opts_from(ctx->conf, u, &o, &e) != ERR_OK) {
        db_url_free(u);
        return cli_fail("database options", &e);
    }
    char *masked = db_url_masked(ctx->url);
    json_t *out = json_object();
    json_object_set_new(out, "url", json_string(masked));
    json_object_set_new(out, "backend", json_string(db_backend_name(u->backend)));
    json_object_set_new(out, "source", json_string(ctx->url_origin));
    json_t *settings = json_object();
    for (size_t i = 0; i < sizeof db_vars / sizeof db_vars[0]; i++) {
        const char *name = db_vars[i];
        char *shown = conf_display(ctx->conf, name);
        conf_src src = conf_source(ctx->conf, name);
        json_t *s = json_object();
        json_object_set_new(s, "value", shown ? json_string(shown) : json_null());
        free(shown);
        json_object_set_new(
            s, "source",
            json_string(src == CONF_SRC_UNSET ? "unset" : conf_source_label(ctx->conf, name)));
        json_object_set_new(settings, name, s);
    }
    json_object_set_new(out, "settings", settings);
    json_t *opts = json_object();
    for (size_t i = 0; i < u->nopts; i++) {
        bool secret = strstr(u->opts[i].key, "password") || strstr(u->opts[i].key, "secret") ||
                      strstr(u->opts[i].key, "key");
        json_object_set_new(opts, u->opts[i].key, json_string(secret ? "***" : u->opts[i].value));
    }
    json_object_set_new(out, "url_options", opts);

    if (json) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
    } else {
        printf("url:      %s\nbackend:  %s\nsource:   %s\nsettings:\n", masked,
               db_backend_name(u->backend), ctx->url_origin);
        const char *k;
        json_t *v;
        json_object_foreach (settings, k, v) {
            json_t *val = json_object_get(v, "value");
            printf("  %-24s %-40s %s\n", k,
                   json_is_string(val) ? json_string_value(val) : "(unset)",
                   json_string_value(json_object_get(v, "source")));
        }
        if (u->nopts) {
            printf("URL options (override the DB_* variables):\n");
            json_object_foreach (opts, k, v)
                printf("  %s=%s\n", k, json_string_value(v));
        }
    }
    json_decref(out);
    free(masked);
    db_url_free(u);
    return CLI_OK;
}

/* The schema's version and the one this binary expects; ERR_SCHEMA (in e) when
 * they differ, another code when it cannot be read. */
static err_code schema_of(store_t *st, int64_t *current, int64_t *expected, err_t *e)
{
    store_schema s;
    err_code rc = store_schema_status(st, &s, e);
    if (rc != ERR_OK)
        return rc;
    *current = s.current;
    *expected = s.latest;
    store_schema_clear(&s);
    return store_schema_check(st, e);
}

err_code cli_unfinished_load(store_t *st, char *buf, size_t n, bool *found, store_load *l, err_t *e)
{
    store_load mine;
    store_load *r = l ? l : &mine;
    err_code rc = store_load_get(st, r, found, e);
    if (rc != ERR_OK || !*found)
        return rc;
    char iso[UTC_ISO_LEN];
    snprintf(buf, n, "unfinished %s: started %s from %s; run the same command again to finish",
             r->command, r->started_at ? utc_format(r->started_at, iso) : "(unknown time)",
             r->source);
    if (!l)
        store_load_clear(&mine);
    return ERR_OK;
}

/* An unfinished load into the database: the warning (text and JSON); false when none. */
static bool check_load(store_t *st, json_t *out, char *buf, size_t n)
{
    store_load l;
    bool found = false;
    err_t e;
    if (cli_unfinished_load(st, buf, n, &found, &l, &e) != ERR_OK) {
        snprintf(buf, n, "cannot read the record of an unfinished copy: %s", e.msg);
        found = true;
    } else if (found) {
        char iso[UTC_ISO_LEN];
        json_t *j = json_object();
        json_object_set_new(j, "command", json_string(l.command));
        json_object_set_new(j, "source", json_string(l.source));
        json_object_set_new(j, "started_at",
                            l.started_at ? json_string(utc_format(l.started_at, iso))
                                         : json_null());
        json_object_set_new(out, "unfinished_load", j);
        store_load_clear(&l);
    }
    if (found)
        json_object_set_new(out, "warning", json_string(buf));
    return found;
}

static int cmd_check(cli_ctx *ctx, bool json)
{
    int rc = cli_resolve_url(ctx);
    if (rc != CLI_OK)
        return rc;
    json_t *out = json_object();
    char *masked = db_url_masked(ctx->url);
    json_object_set_new(out, "database", json_string(masked));
    free(masked);
    bool healthy = true;
    const char *problem = NULL;
    char problem_buf[600], load_buf[1200];
    store_t *st = NULL;
    err_t e;

    /* db check must not create a SQLite file that does not exist */
    db_url *u = NULL;
    if (db_url_parse(ctx->url, &u, &e) != ERR_OK) {
        json_decref(out);
        return cli_fail(ctx->url_origin, &e);
    }
    json_object_set_new(out, "backend", json_string(db_backend_name(u->backend)));
    err_code built = db_backend_require(u, &e); /* a backend this build left out */
    db_url_free(u);
    if (built != ERR_OK) {
        json_decref(out);
        return cli_fail(ctx->url_origin, &e);
    }
    if (store_check_exists(ctx->url, &e) != ERR_OK) {
        snprintf(problem_buf, sizeof problem_buf, "%s (run `ctxd migrate up` to create it)", e.msg);
        problem = problem_buf;
        healthy = false;
    }

    if (healthy && store_open_with(ctx->url, ctx->conf, STORE_OPEN_ANY, &st, &e) != ERR_OK) {
        snprintf(problem_buf, sizeof problem_buf, "cannot open: %s", e.msg);
        problem = problem_buf;
        healthy = false;
    }
    if (st) {
        char ver[128] = "";
        if (store_server_version(st, ver, sizeof ver, &e) == ERR_OK)
            json_object_set_new(out, "server_version", json_string(ver));
        int64_t best = -1;
        for (int i = 0; i < 5 && healthy; i++) {
            int64_t rtt;
            if (store_ping(st, &rtt, &e) != ERR_OK) {
                snprintf(problem_buf, sizeof problem_buf, "ping failed: %s", e.msg);
                problem = problem_buf;
                healthy = false;
                break;
            }
            if (best < 0 || rtt < best)
                best = rtt;
        }
        if (best >= 0)
            json_object_set_new(out, "round_trip_ms", json_real((double)best / 1000.0));
        int64_t current = -1, expected = -1;
        if (healthy) {
            err_code src = schema_of(st, &current, &expected, &e);
            if (current >= 0) {
                json_object_set_new(out, "schema_version", json_integer(current));
                json_object_set_new(out, "schema_expected", json_integer(expected));
            }
            if (src != ERR_OK) {
                snprintf(problem_buf, sizeof problem_buf, "%s%s",
                         current < 0 ? "cannot read schema version: " : "", e.msg);
                problem = problem_buf;
                healthy = false;
            }
        }
        if (best >= 0 && check_load(st, out, load_buf, sizeof load_buf))
            healthy = false;
        store_stats ss;
        store_get_stats(st, &ss);
        json_t *pool = json_object();
        json_object_set_new(pool, "size", json_integer(ss.pool.size));
        json_object_set_new(pool, "max_overflow", json_integer(ss.pool.max_overflow));
        json_object_set_new(pool, "in_use", json_integer(ss.pool.in_use));
        json_object_set_new(pool, "idle", json_integer(ss.pool.idle));
        json_object_set_new(pool, "created", json_integer((json_int_t)ss.pool.created));
        json_object_set_new(pool, "waits", json_integer((json_int_t)ss.pool.waits));
        json_object_set_new(pool, "timeouts", json_integer((json_int_t)ss.pool.timeouts));
        json_object_set_new(out, "pool", pool);
        store_close(st);
    }
    json_object_set_new(out, "status", json_string(healthy ? "healthy" : "unhealthy"));
    if (problem)
        json_object_set_new(out, "problem", json_string(problem));

    if (json) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
    } else {
        printf("database:        %s\n", json_string_value(json_object_get(out, "database")));
        printf("backend:         %s\n", json_string_value(json_object_get(out, "backend")));
        json_t *v;
        if ((v = json_object_get(out, "server_version")))
            printf("server version:  %s\n", json_string_value(v));
        if ((v = json_object_get(out, "schema_version")))
            printf("schema version:  %lld (this ctxd expects %lld)\n",
                   (long long)json_integer_value(v),
                   (long long)json_integer_value(json_object_get(out, "schema_expected")));
        if ((v = json_object_get(out, "round_trip_ms")))
            printf("round trip:      %.3f ms (best of 5)\n", json_real_value(v));
        if ((v = json_object_get(out, "pool")))
            printf(
                "pool:            size %lld, overflow %lld, in use %lld, idle %lld, created %lld, "
                "waits %lld, timeouts %lld\n",
                (long long)json_integer_value(json_object_get(v, "size")),
                (long long)json_integer_value(json_object_get(v, "max_overflow")),
                (long long)json_integer_value(json_object_get(v, "in_use")),
                (long long)json_integer_value(json_object_get(v, "idle")),
                (long long)json_integer_value(json_object_get(v, "created")),
                (long long)json_integer_value(json_object_get(v, "waits")),
                (long long)json_integer_value(json_object_get(v, "timeouts")));
        printf("status:          %s\n", healthy ? "healthy" : "unhealthy");
        if (problem)
            printf("problem:         %s\n", problem);
        if ((v = json_object_get(out, "warning")))
            printf("warning:         %s\n", json_string_value(v));
    }
    json_decref(out);
    return healthy ? CLI_OK : CLI_FAIL;
}

int cmd_db(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        db_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    bool json = false;
    const cli_opt opts[] = {{.name = "--json", .flag = &json}};
    /* the options follow the subcommand */
    int rc = cli_parse_args("db", argc - 1, argv + 1, opts, sizeof opts / sizeof opts[0], NULL, 0,
                            db_usage);
    if (rc != CLI_RUN)
        return rc;
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(ctx, json);
    if (strcmp(argv[1], "url") == 0)
        return cmd_url(ctx, json);
    cli_error("db: unknown subcommand '%s' (check, url)", argv[1]);
    return CLI_USAGE;
}
