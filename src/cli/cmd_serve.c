/* cli/cmd_serve.c — `ctxd serve`: prepares the configured database (migrating it
 * unless told not to), opens the store and runs the server process until SIGINT
 * or SIGTERM, doing the background maintenance the data needs (expired memory,
 * expired tokens and revocations, audit records past AUDIT_LOG_RETENTION_DAYS).
 * The MCP transports (stdio, Streamable HTTP) plug in here when they exist.
 * Must not: hold a database connection while idle. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "cli/cli.h"
#include "migrate/migrate.h"
#include "store/store.h"

static void serve_usage(FILE *f)
{
    fputs("Usage: ctxd serve [--no-migrate] [--maintenance-interval SECONDS]\n"
          "\n"
          "Prepares the configured database and runs until SIGINT/SIGTERM.\n"
          "  --no-migrate                 do not apply pending migrations at start-up\n"
          "                               (also CTXD_AUTO_MIGRATE=false); a database whose\n"
          "                               schema is not current is then refused\n"
          "  --maintenance-interval S     seconds between maintenance passes (default 60):\n"
          "                               expired memory entries, expired tokens and audit\n"
          "                               records older than AUDIT_LOG_RETENTION_DAYS\n"
          "\n"
          "This build contains the storage core only: the MCP transports (stdio and\n"
          "Streamable HTTP on HTTP_HOST:HTTP_PORT) are not built in yet.\n",
          f);
}

static void maintenance(store_t *st, long retention_days)
{
    err_t e;
    int64_t n = 0;
    utc_us now = utc_now();
    if (st->vt->memory_sweep(st, now, &n, &e) != ERR_OK)
        LOG_W("serve", "memory sweep failed: %s", e.msg);
    else if (n)
        LOG_I("serve", "removed %lld expired memory entries", (long long)n);
    if (st->vt->token_purge(st, now, &n, &e) != ERR_OK)
        LOG_W("serve", "token purge failed: %s", e.msg);
    else if (n)
        LOG_I("serve", "purged %lld expired tokens/revocations", (long long)n);
    if (retention_days > 0) {
        utc_us cutoff = now - (utc_us)retention_days * 86400 * INT64_C(1000000);
        if (st->vt->audit_purge(st, cutoff, &n, &e) != ERR_OK)
            LOG_W("serve", "audit purge failed: %s", e.msg);
        else if (n)
            LOG_I("serve", "purged %lld audit records older than %ld days", (long long)n, retention_days);
    }
}

int cmd_serve(cli_ctx *ctx, int argc, char **argv)
{
    bool migrate = true;
    long interval = 60;
    err_t e;
    if (conf_get_bool(ctx->conf, "CTXD_AUTO_MIGRATE", true, &migrate, &e) != ERR_OK)
        return cli_fail("configuration", &e);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            serve_usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--no-migrate") == 0) {
            migrate = false;
        } else if (strcmp(argv[i], "--maintenance-interval") == 0 && i + 1 < argc) {
            if (!str_to_long(argv[++i], 1, 86400, &interval)) {
                cli_error("serve: --maintenance-interval expects seconds 1..86400, got '%s'", argv[i]);
                return CLI_USAGE;
            }
        } else {
            cli_error("serve: unknown option '%s' (see ctxd serve --help)", argv[i]);
            return CLI_USAGE;
        }
    }
    long retention = 30;
    if (conf_get_int(ctx->conf, "AUDIT_LOG_RETENTION_DAYS", 30, &retention, &e) != ERR_OK)
        return cli_fail("configuration", &e);

    /* Block the signals before any thread exists so every thread inherits the mask
     * and only sigtimedwait below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    db_t *db = NULL;
    int rc = cli_open_db(ctx, &db);
    if (rc != CLI_OK)
        return rc;
    if (migrate) {
        int applied = 0;
        if (migrate_up(db, -1, &applied, &e) != ERR_OK) {
            db_close(db);
            return cli_fail("migrating the database", &e);
        }
        if (applied)
            LOG_I("serve", "applied %d migration(s)", applied);
    }
    char *masked = xstrdup(db_url_text_masked(db));
    db_close(db);

    store_t *st = NULL;
    if (store_open(ctx->url, ctx->conf, &st, &e) != ERR_OK) {
        free(masked);
        return cli_fail("opening the store", &e);
    }
    LOG_I("serve", "ctxd ready: database %s (%s), backend %s", masked, ctx->url_origin, st->vt->name);
    LOG_W("serve", "this build has the storage core only: no MCP transport is served yet");
    free(masked);

    maintenance(st, retention);
    for (;;) {
        struct timespec ts = {.tv_sec = interval, .tv_nsec = 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            LOG_I("serve", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            LOG_E("serve", "waiting for signals failed: %s", strerror(errno));
            rc = CLI_FAIL;
            break;
        }
        maintenance(st, retention);
    }
    store_close(st);
    return rc;
}
