/* cli/cli.h — what the command implementations share: the parsed global
 * options, loading configuration (defaults < .env < environment < flags),
 * opening the store on the database named by it, and printing errors in one clear line.
 * Must not: contain a command's own logic (each lives in cmd_<name>.c). */
#ifndef CTXD_CLI_CLI_H
#define CTXD_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "base/conf.h"
#include "base/err.h"
#include "store/store.h"
#include "xfer/xfer.h"

enum {
    CLI_OK = 0,
    CLI_FAIL = 1,
    CLI_USAGE = 2
};

typedef struct cli_ctx {
    conf_t *conf;
    char *url;            /* effective database URL (may hold a password: never print) */
    char *url_origin;     /* where it came from, in words */
    const char *prog;     /* "ctxd" */
    const char *env_file; /* --env-file as given, or NULL (./.env) */
} cli_ctx;

/* Prints "ctxd: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the err_t as "ctxd: <what>: <msg>" and returns CLI_FAIL. */
int cli_fail(const char *what, const err_t *e);
/* True when argv[i] is -h/--help. */
bool cli_is_help(const char *arg);

/* ---- a command's arguments (cli_args.c) ---- */

/* "--name value" or "--name=value" at argv[*i]: the value (*i moves past a
 * separate one), or NULL when argv[*i] is another argument. A missing value
 * prints "option --name needs a value (see ctxd <cmd> --help)" (cmd NULL: the
 * global options) and sets *missing. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, const char *cmd,
                          bool *missing);

/* One option of a command, for cli_parse_args; exactly one of flag, text and num
 * is set. */
typedef struct cli_opt {
    const char *name;  /* "--batch" */
    bool *flag;        /* a flag: set to true when given */
    const char **text; /* an option with a value: the value */
    long *num;         /* an option with a whole number from min to max */
    long min, max;
    const char *what; /* the number in messages: "a number of rows", "seconds" */
} cli_opt;

/* cli_parse_args: the command line is fine, run the command. */
enum {
    CLI_RUN = -1
};

/* Reads argv[1..argc) of command `cmd` against opts[0..nopts): -h/--help prints
 * usage on stdout; the arguments that do not start with '-' (and "-" alone) go
 * to pos[0..npos) in order. An unknown option, a missing or bad value, or one
 * argument too many prints one line naming it, e.g. "copy: unknown option '--x'
 * (see ctxd copy --help)". Returns CLI_RUN, CLI_OK after the help, or CLI_USAGE. */
int cli_parse_args(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts,
                   const char **pos, size_t npos, void (*usage)(FILE *f));

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
/* The progress display of copy, export, import and import-scs (cmd_xfer.c): a bar on a
 * terminal, a line per table otherwise, notes as "ctxd: <text>", all on stderr. ud is a
 * cli_xfer_progress_state. */
typedef struct cli_xfer_progress_state {
    bool tty;
    const char *verb; /* "copied", "exported", "imported" */
} cli_xfer_progress_state;
void cli_xfer_progress(void *ud, const xfer_event *ev);
/* The verification lines of a report (tables verified), and its exit status (CLI_FAIL
 * naming each table that differs). */
void cli_xfer_print_verify(const xfer_report *r, FILE *f);
int cli_xfer_verify_status(const xfer_report *r, const char *what);
/* Interruption of copy, import and import-scs: SIGINT and SIGTERM set a flag that o->cancel
 * reads, so xfer stops at the next batch boundary; a second signal ends the process at once
 * (the default action: the batch being written is rolled back by the database). */
void cli_xfer_signals_catch(xfer_opts *o);
/* Restores the default actions. After an interrupted load (r->interrupted) prints what
 * happened and returns the exit status 128 + the signal (130 SIGINT, 143 SIGTERM); else
 * CLI_RUN. */
int cli_xfer_signals_done(const xfer_report *r);
/* The warning about an unfinished load recorded in st (store_load_get; cmd_db.c):
 * "unfinished <command>: started <time> from <source>; run the same command again to
 * finish" into buf and ERR_OK with *found; the record's fields into *l when not NULL
 * (store_load_clear it). */
err_code cli_unfinished_load(store_t *st, char *buf, size_t n, bool *found, store_load *l,
                             err_t *e);
int cmd_import_scs(cli_ctx *ctx, int argc, char **argv);    /* cmd_import_scs.c */
int cmd_setup(cli_ctx *ctx, int argc, char **argv);         /* cmd_setup.c */
int cmd_client_config(cli_ctx *ctx, int argc, char **argv); /* cmd_client_config.c */
int cmd_agent(cli_ctx *ctx, int argc, char **argv);         /* cmd_agent.c */
int cmd_status(cli_ctx *ctx, int argc, char **argv);        /* cmd_status.c */

#endif
