/* cli/cmd_serve.c — `ctxd serve`: prepares the configured database (migrating it
 * unless told not to), opens the store and runs the server process, doing the
 * background maintenance the data needs (expired memory, expired tokens and
 * revocations, audit records past AUDIT_LOG_RETENTION_DAYS). With --stdio (or
 * MCP_TRANSPORT=stdio) it serves MCP on stdin/stdout until EOF (app/ registered into an
 * mcp_server, mcp_stdio_run); otherwise it runs until SIGINT/SIGTERM (the Streamable
 * HTTP transport plugs in there when it exists).
 * Must not: hold a database connection while idle; write anything but MCP to stdout. */
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
#ifdef CTXD_HAVE_APP
#include "app/app.h"
#include "mcp/mcp_stdio.h"
#endif

static void serve_usage(FILE *f)
{
    fputs("Usage: ctxd serve [--stdio] [--no-migrate] [--maintenance-interval SECONDS]\n"
          "\n"
          "Prepares the configured database and serves MCP.\n"
          "  --stdio                      serve MCP over stdin/stdout until EOF (also\n"
          "                               MCP_TRANSPORT=stdio); stdout carries only MCP\n"
          "                               messages, logs go to stderr. authenticate_agent\n"
          "                               accepts the API_KEY of the server's environment.\n"
          "                               Needs JWT_SECRET_KEY.\n"
          "  --no-migrate                 do not apply pending migrations at start-up\n"
          "                               (also CTXD_AUTO_MIGRATE=false); a database whose\n"
          "                               schema is not current is then refused\n"
          "  --maintenance-interval S     seconds between maintenance passes (default 60):\n"
          "                               expired memory entries, expired tokens and audit\n"
          "                               records older than AUDIT_LOG_RETENTION_DAYS\n"
          "\n"
          "Without --stdio the process runs until SIGINT/SIGTERM doing maintenance only:\n"
          "the Streamable HTTP transport (HTTP_HOST:HTTP_PORT) is not built in yet.\n",
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

#ifdef CTXD_HAVE_APP
typedef struct maint_thread {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    store_t *st;
    long retention, interval;
} maint_thread;

static void *maint_main(void *p)
{
    maint_thread *m = p;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += m->interval;
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT) {
        }
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->mu);
        maintenance(m->st, m->retention);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* MCP over stdin/stdout with the store already open; returns a CLI_* code. */
static int serve_stdio(cli_ctx *ctx, store_t *st, long retention, long interval)
{
    err_t e;
    auth_ctx *auth = NULL;
    if (auth_ctx_from_conf(ctx->conf, st, &auth, &e) != ERR_OK)
        return cli_fail("configuring authentication", &e);
    app_t *app = NULL;
    if (app_from_conf(ctx->conf, st, auth, &app, &e) != ERR_OK) {
        auth_ctx_free(auth);
        return cli_fail("configuring the server", &e);
    }
    mcp_server_info info = app_server_info();
    mcp_server *srv = mcp_server_new(&info);
    if (app_register(app, srv, &e) != ERR_OK) {
        mcp_server_free(srv);
        app_free(app);
        auth_ctx_free(auth);
        return cli_fail("registering the tools", &e);
    }
    if (!auth_api_key_configured(auth))
        LOG_W("serve", "API_KEY is not set: authenticate_agent will refuse every agent");
    app_conn *conn = app_conn_new(false);
    app_req req = {.conn = conn, .api_key_ok = auth_api_key_configured(auth), .rate_key = "stdio"};
    mcp_stdio_opts o = MCP_STDIO_OPTS_INIT;
    o.auth = &req;

    maint_thread m = {.st = st, .retention = retention, .interval = interval};
    pthread_mutex_init(&m.mu, NULL);
    pthread_cond_init(&m.cv, NULL);
    pthread_t th;
    bool have_th = pthread_create(&th, NULL, maint_main, &m) == 0;

    LOG_I("serve", "serving MCP on stdio");
    int rc = mcp_stdio_run(srv, &o) == 0 ? CLI_OK : CLI_FAIL;

    pthread_mutex_lock(&m.mu);
    m.stop = true;
    pthread_cond_signal(&m.cv);
    pthread_mutex_unlock(&m.mu);
    if (have_th)
        pthread_join(th, NULL);
    pthread_cond_destroy(&m.cv);
    pthread_mutex_destroy(&m.mu);
    mcp_server_free(srv);
    app_conn_free(conn);
    app_free(app);
    auth_ctx_free(auth);
    return rc;
}
#endif

int cmd_serve(cli_ctx *ctx, int argc, char **argv)
{
    bool migrate = true;
    long interval = 60;
    bool stdio = false;
    err_t e;
    const char *transport = NULL;
    if (conf_get_enum(ctx->conf, "MCP_TRANSPORT", &transport, &e) != ERR_OK)
        return cli_fail("configuration", &e);
    stdio = transport && strcmp(transport, "stdio") == 0;
    if (conf_get_bool(ctx->conf, "CTXD_AUTO_MIGRATE", true, &migrate, &e) != ERR_OK)
        return cli_fail("configuration", &e);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            serve_usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--stdio") == 0) {
            stdio = true;
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

#ifndef CTXD_HAVE_APP
    if (stdio) {
        cli_error("serve: this build has no MCP application layer (src/app): --stdio is unavailable");
        return CLI_FAIL;
    }
#endif
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
    free(masked);
#ifdef CTXD_HAVE_APP
    if (stdio) {
        /* stdio: the client ends the session by closing stdin; SIGINT/SIGTERM keep
         * their default action (terminate) */
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        maintenance(st, retention);
        rc = serve_stdio(ctx, st, retention, interval);
        store_close(st);
        return rc;
    }
#endif
    LOG_W("serve", "the Streamable HTTP transport is not built in yet: serving maintenance only");

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
