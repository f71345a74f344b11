/* cli/cmd_serve.c — `ctxd serve`: prepares the configured database (migrating it
 * unless told not to), opens the store and serves MCP: over Streamable HTTP on
 * HTTP_HOST:HTTP_PORT (--host/--port) by default, until SIGINT/SIGTERM, then shuts down
 * gracefully (in-flight requests finish); with --stdio (or MCP_TRANSPORT=stdio) on
 * stdin/stdout until EOF. Background maintenance (app/maintenance.c: expired memory,
 * expired tokens and revocations, audit records past AUDIT_LOG_RETENTION_DAYS) runs in
 * both modes. A copy or import into the database that did not finish is logged as a
 * warning at start (serving goes on). The HTTP wiring (auth hook, sessions, /health, /metrics) is
 * cli/serve_http.c.
 * Must not: hold a database connection while idle; write anything but MCP to stdout;
 * log secrets (API key, JWT secret, database password). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "cli/cli.h"
#include "store/store.h"
#include "app/app.h"
#include "mcp/mcp_stdio.h"
#include "cli/serve_http.h"

static void serve_usage(FILE *f)
{
    fputs("Usage: ctxd serve [--stdio] [--host H] [--port P] [--no-migrate]\n"
          "                  [--maintenance-interval SECONDS]\n"
          "\n"
          "Prepares the configured database and serves MCP, by default over Streamable\n"
          "HTTP at http://HTTP_HOST:HTTP_PORT/mcp (127.0.0.1:23456), with GET /health,\n"
          "/health/database and /metrics. Agents present their own key (`ctxd agent add`)\n"
          "or the shared API_KEY as X-API-Key to authenticate_agent (the shared key claims\n"
          "what SHARED_KEY_AGENT_TYPES and SHARED_KEY_PERMISSIONS allow: by default no\n"
          "admin); `Authorization: Bearer <token>` is accepted as auth_token.\n"
          "SIGINT/SIGTERM stop the server after in-flight requests finish.\n"
          "  --host H                     address to listen on (HTTP_HOST)\n"
          "  --port P                     port to listen on (HTTP_PORT; 0 = any free port)\n"
          "  --stdio                      serve MCP over stdin/stdout until EOF (also\n"
          "                               MCP_TRANSPORT=stdio); stdout carries only MCP\n"
          "                               messages, logs go to stderr. authenticate_agent\n"
          "                               accepts the API_KEY of the server's environment,\n"
          "                               and then any identity: stdio is the local user\n"
          "                               who started the server.\n"
          "                               Needs JWT_SECRET_KEY.\n"
          "  --no-migrate                 do not apply pending migrations at start-up\n"
          "                               (also CTXD_AUTO_MIGRATE=false); a database whose\n"
          "                               schema is not current is then refused\n"
          "  --maintenance-interval S     seconds between maintenance passes (default 60):\n"
          "                               expired memory entries, expired tokens and audit\n"
          "                               records older than AUDIT_LOG_RETENTION_DAYS\n",
          f);
}

typedef struct serve_args {
    bool stdio;
    const char *host;
    long port;
    long retention, interval;
    const char *db_desc; /* masked URL + origin, for the ready line */
    sigset_t *signals;   /* blocked SIGINT/SIGTERM (HTTP mode waits on them) */
} serve_args;

/* Streamable HTTP until SIGINT/SIGTERM. */
static int serve_http_loop(cli_ctx *ctx, store_t *st, auth_ctx *auth, app_t *app, mcp_server *srv,
                           const serve_args *a)
{
    err_t e;
    serve_http_opts o = {.host = a->host,
                         .port = (uint16_t)a->port,
                         .srv = srv,
                         .app = app,
                         .auth = auth,
                         .version = CTXD_VERSION,
                         .conf = ctx->conf};
    serve_http *h = serve_http_start(&o, &e);
    if (!h)
        return cli_fail("starting the HTTP server", &e);
    bool v6 = strchr(a->host, ':') != NULL;
    LOG_I("serve", "ctxd ready: %s://%s%s%s:%u/mcp (database %s, backend %s)",
          serve_http_tls(h) ? "https" : "http", v6 ? "[" : "", a->host, v6 ? "]" : "",
          (unsigned)serve_http_port(h), a->db_desc, store_name(st));
    int rc = CLI_OK;
    for (;;) {
        int sig = sigwaitinfo(a->signals, NULL);
        if (sig == SIGINT || sig == SIGTERM) {
            LOG_I("serve", "received %s, shutting down (finishing in-flight requests)",
                  sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig < 0 && errno != EINTR) {
            LOG_E("serve", "waiting for signals failed: %s", strerror(errno));
            rc = CLI_FAIL;
            break;
        }
    }
    serve_http_stop(h);
    LOG_I("serve", "stopped");
    return rc;
}

/* MCP over stdio or HTTP with the store already open; returns a CLI_* code. */
static int serve_app(cli_ctx *ctx, store_t *st, const serve_args *a)
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
    /* search index upkeep in the background (searching is correct without it) */
    if (app_indexer_start(app, &e) != ERR_OK)
        LOG_W("serve", "%s: search_context will scan unindexed messages", e.msg);
    if (!auth_api_key_configured(auth))
        LOG_W("serve", "API_KEY is not set: authenticate_agent will refuse every agent without "
                       "a key of its own (`ctxd setup` writes API_KEY to .env; `ctxd agent add` "
                       "gives an agent its key)");
    int rc;
    app_maint *m = app_maint_start(st, a->retention, a->interval);
    if (a->stdio) {
        app_conn *conn = app_conn_new(false);
        app_req req = {.conn = conn,
                       .api_key_ok = auth_api_key_configured(auth),
                       .rate_key = "stdio",
                       .local = true};
        mcp_stdio_opts o = MCP_STDIO_OPTS_INIT;
        o.auth = &req;
        LOG_I("serve", "serving MCP on stdio (database %s, backend %s)", a->db_desc,
              store_name(st));
        rc = mcp_stdio_run(srv, &o) == 0 ? CLI_OK : CLI_FAIL;
        app_conn_free(conn);
    } else {
        rc = serve_http_loop(ctx, st, auth, app, srv, a);
    }
    app_maint_stop(m);
    mcp_server_free(srv);
    app_free(app);
    auth_ctx_free(auth);
    return rc;
}

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
    long port = 23456;
    if (conf_get_int(ctx->conf, "HTTP_PORT", 23456, &port, &e) != ERR_OK)
        return cli_fail("configuration", &e);
    const char *host = conf_get(ctx->conf, "HTTP_HOST");
    if (!host || !*host)
        host = "127.0.0.1";
    bool no_migrate = false;
    const cli_opt opts[] = {
        {.name = "--stdio", .flag = &stdio},
        {.name = "--no-migrate", .flag = &no_migrate},
        {.name = "--host", .text = &host},
        {.name = "--port", .num = &port, .min = 0, .max = 65535, .what = "a port number"},
        {.name = "--maintenance-interval",
         .num = &interval,
         .min = 1,
         .max = 86400,
         .what = "seconds"},
    };
    int args = cli_parse_args("serve", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0,
                              serve_usage);
    if (args != CLI_RUN)
        return args;
    if (no_migrate)
        migrate = false;
    long retention = 30;
    if (conf_get_int(ctx->conf, "AUDIT_LOG_RETENTION_DAYS", 30, &retention, &e) != ERR_OK)
        return cli_fail("configuration", &e);

    /* Block the signals before any thread exists so every thread inherits the mask
     * and only sigwaitinfo (HTTP mode) receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    store_t *st = NULL;
    sbuf_t desc = SBUF_INIT;
    int rc = cli_open_store(ctx, migrate ? STORE_OPEN_MIGRATE : STORE_OPEN_CHECK, &st);
    if (rc != CLI_OK)
        return rc;
    sbuf_printf(&desc, "%s (%s)", store_url_masked(st), ctx->url_origin);
    char load[1200];
    bool unfinished = false;
    err_t le;
    if (cli_unfinished_load(st, load, sizeof load, &unfinished, NULL, &le) == ERR_OK && unfinished)
        LOG_W("serve", "%s: the database may lack data (serving it all the same)", load);
    /* stdio: the client ends the session by closing stdin; SIGINT/SIGTERM keep
     * their default action (terminate) */
    if (stdio)
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    app_maintenance_run(st, utc_now(), retention);
    serve_args a = {.stdio = stdio,
                    .host = host,
                    .port = port,
                    .retention = retention,
                    .interval = interval,
                    .db_desc = sbuf_cstr(&desc),
                    .signals = &set};
    rc = serve_app(ctx, st, &a);
    store_close(st);
    sbuf_free(&desc);
    return rc;
}
