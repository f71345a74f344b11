/* cli/cli_common.c — helpers shared by the commands: error printing and opening
 * the store on the configured database (URL resolution, masked messages).
 * Must not: print the unmasked URL or any secret. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "db/url.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ctxd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const char *what, const err_t *e)
{
    cli_error("%s: %s", what, e->msg[0] ? e->msg : err_code_name(e->code));
    return CLI_FAIL;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_resolve_url(cli_ctx *ctx)
{
    if (ctx->url)
        return CLI_OK;
    err_t e;
    if (db_url_from_conf(ctx->conf, &ctx->url, &ctx->url_origin, &e) != ERR_OK)
        return cli_fail("database URL", &e);
    return CLI_OK;
}

int cli_open_store(cli_ctx *ctx, store_open_mode mode, store_t **out)
{
    *out = NULL;
    int rc = cli_resolve_url(ctx);
    if (rc != CLI_OK)
        return rc;
    err_t e;
    if (store_open_with(ctx->url, ctx->conf, mode, out, &e) == ERR_OK)
        return CLI_OK;
    /* drivers usually name the (masked) URL themselves: do not say it twice */
    char *m = db_url_masked(ctx->url);
    char what[600];
    if (strstr(e.msg, m))
        snprintf(what, sizeof what, "cannot open database");
    else
        snprintf(what, sizeof what, "cannot open database %s", m);
    free(m);
    return cli_fail(what, &e);
}
