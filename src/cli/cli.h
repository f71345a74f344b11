/* cli/cli.h — what the command implementations share: the parsed global
 * options, loading configuration (defaults < .env < environment < flags),
 * opening the store on the database named by it, and printing errors in one clear line.
 * Must not: contain a command's own logic (each lives in cmd_<name>.c). */
#ifndef CTXD_CLI_CLI_H
#define CTXD_CLI_CLI_H

#include <stdbool.h>
#include "base/conf.h"
#include "base/err.h"
#include "store/store.h"

enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2
};

typedef struct cli_ctx {
    conf_t *conf;
    char *url;        /* effective database URL (may hold a password: never print) */
    char *url_origin; /* where it came from, in words */
    const char *prog; /* "ctxd" */
} cli_ctx;

/* Prints "ctxd: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the err_t as "ctxd: <what>: <msg>" and returns CLI_FAIL. */
int cli_fail(const char *what, const err_t *e);
/* True when argv[i] is -h/--help. */
bool cli_is_help(const char *arg);

/* Resolves the database URL from ctx->conf into ctx->url/url_origin. */
int cli_resolve_url(cli_ctx *ctx);
/* Opens the configured database as a store (store_open_with `mode`, pool options
 * from configuration); on failure prints one line naming the masked URL and
 * returns CLI_FAIL. */
int cli_open_store(cli_ctx *ctx, store_open_mode mode, store_t **out);

int cmd_serve(cli_ctx *ctx, int argc, char **argv);
int cmd_migrate(cli_ctx *ctx, int argc, char **argv);
int cmd_db(cli_ctx *ctx, int argc, char **argv);
int cmd_copy(cli_ctx *ctx, int argc, char **argv); /* cmd_xfer.c */
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_setup(cli_ctx *ctx, int argc, char **argv);         /* cmd_setup.c */
int cmd_client_config(cli_ctx *ctx, int argc, char **argv); /* cmd_client_config.c */

#endif
