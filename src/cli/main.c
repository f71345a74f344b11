/* cli/main.c — the `ctxd` command: global options, configuration loading and
 * dispatch to the commands (serve, setup, client-config, agent, migrate, db, copy,
 * export, import, import-scs, status: the table `commands` below). Exit
 * codes: 0 success, 1 the operation failed, 2 the command line was wrong.
 * Passwords and secrets given as arguments are masked in the process's own argv once
 * copied (scrub_argv), so `ps` stops showing them.
 * Must not: implement a command itself, or print secrets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/urlmask.h"
#include "cli/cli.h"
#include "db/url.h"

static void usage(FILE *f)
{
    fputs(
        "ctxd " CTXD_VERSION " — shared context server for AI agents (MCP)\n"
        "\n"
        "Usage: ctxd [global options] <command> [command options]\n"
        "\n"
        "Commands:\n"
        "  serve              prepare the database and serve MCP over HTTP (default\n"
        "                     127.0.0.1:23456) or --stdio; [--host H] [--port P]\n"
        "  setup              write .env with a fresh API_KEY and JWT_SECRET_KEY (0600)\n"
        "  client-config      print the snippet connecting a client (claude, cursor, codex,\n"
        "                     ... or all; see `ctxd client-config --help`) [--stdio] [-o FILE]\n"
        "  agent              agents' own keys: add NAME --type T [--permissions P] | list |\n"
        "                     revoke NAME | rotate NAME (see `ctxd agent --help`)\n"
        "  migrate            show or change the database schema version (status|up|down|to N)\n"
        "  db                 database tools: `db check` (health), `db url` (effective URL)\n"
        "  status             is the server up: versions, uptime, sessions, database counts\n"
        "  copy               copy all data between databases: --from URL --to URL\n"
        "                     [--batch N] [--dry-run] [--verify] [--allow-nonempty]\n"
        "                     (a target holding rows not identical to the source's is\n"
        "                     refused unless --allow-nonempty; see `ctxd copy --help`)\n"
        "  export             write the database as a JSON Lines dump [--out FILE]\n"
        "                     [--include-tokens]\n"
        "  import             load a dump: import FILE [--batch N] [--allow-nonempty]\n"
        "  import-scs         adopt a shared-context-server database: import-scs FILE\n"
        "                     [--dry-run] [--allow-nonempty] [--batch N]\n"
        "\n"
        "Global options (each overrides the variable named in brackets):\n"
        "  --database-url URL     database to use [DATABASE_URL], e.g.\n"
        "                         sqlite:///./chat_history.db, sqlite:///:memory:,\n"
        "                         postgresql://user:pass@host:5432/db, mysql://..., mongodb://...\n"
        "                         A password given here (or in copy --from/--to, or a secret\n"
        "                         in --set) is masked in the process's arguments once read,\n"
        "                         but other users may see it in `ps` for the first moments:\n"
        "                         prefer DATABASE_URL in .env (readable by you alone)\n"
        "  --database-path PATH   SQLite file when no URL is given [DATABASE_PATH]\n"
        "  --database-type TYPE   sqlite|postgresql|mysql|mongodb|supabase [DATABASE_TYPE]\n"
        "  --pool-size N          connections kept open [DB_POOL_SIZE]\n"
        "  --log-level LEVEL      debug|info|warning|error [LOG_LEVEL]\n"
        "  --env-file PATH        read this file instead of ./.env\n"
        "  --set NAME=VALUE       set any configuration variable\n"
        "  -h, --help             this help; `ctxd <command> --help` for a command\n"
        "  --version              print the version\n"
        "\n"
        "Configuration is read from built-in defaults, then ./.env, then the environment,\n"
        "then these options; later sources win. `ctxd db url` shows where each setting came\n"
        "from. Variables: DATABASE_URL, DATABASE_PATH, DATABASE_TYPE, SUPABASE_URL,\n"
        "SUPABASE_DB_PASSWORD, SUPABASE_REGION, DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT,\n"
        "DB_POOL_RECYCLE, ENABLE_QUERY_LOGGING, SLOW_QUERY_THRESHOLD_MS, LOG_LEVEL, "
        "MCP_TRANSPORT,\n"
        "HTTP_HOST, HTTP_PORT, API_KEY, JWT_SECRET_KEY, ...\n",
        f);
}

/* "ctxd 0.1.0 (backends: sqlite postgresql mysql mongodb)": the backends this build
 * holds (CMake's CTXD_WITH_<NAME> options). */
static void print_version(void)
{
    printf("ctxd %s (backends:", CTXD_VERSION);
    for (db_backend b = DB_BACKEND_SQLITE; b <= DB_BACKEND_MONGODB; b++)
        if (db_backend_built(b))
            printf(" %s", db_backend_name(b));
    printf(")\n");
}

static const struct {
    const char *flag;
    const char *var;
} flag_vars[] = {
    {"--database-url", "DATABASE_URL"},   {"--database-path", "DATABASE_PATH"},
    {"--database-type", "DATABASE_TYPE"}, {"--pool-size", "DB_POOL_SIZE"},
    {"--log-level", "LOG_LEVEL"},
};

typedef struct pending_set {
    const char *name;
    char *value;
    const char *flag; /* as the user spelled it, for messages */
} pending_set;

#define MAX_SETS 64

/* Remembers NAME (name[0..n)) = value, set once the configuration is loaded;
 * false (with a message) when there are too many. */
static bool add_set(pending_set *sets, int *nsets, const char *name, size_t n, const char *value,
                    const char *flag)
{
    if (*nsets == MAX_SETS) {
        cli_error("too many options (%s): at most %d", flag, MAX_SETS);
        return false;
    }
    sets[*nsets] = (pending_set){xstrndup(name, n), xstrdup(value), flag};
    (*nsets)++;
    return true;
}

/* The global options before the command. Returns -1 with *cmd_at = the index of
 * the command, else the exit code (help, version, a wrong command line). */
static int parse_globals(int argc, char **argv, int *cmd_at, pending_set *sets, int *nsets,
                         const char **env_file)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *v;
        bool missing = false;
        if (cli_is_help(a)) {
            usage(stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            print_version();
            return CLI_OK;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--env-file", NULL, &missing))) {
            *env_file = v;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--set", NULL, &missing))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                cli_error("--set expects NAME=VALUE, got '%s'", v);
                return CLI_USAGE;
            }
            if (!add_set(sets, nsets, v, (size_t)(eq - v), eq + 1, "--set"))
                return CLI_USAGE;
            continue;
        }
        size_t k = 0, nf = sizeof flag_vars / sizeof flag_vars[0];
        while (k < nf && !missing &&
               !(v = cli_opt_value(argc, argv, &i, flag_vars[k].flag, NULL, &missing)))
            k++;
        if (missing) /* reported by cli_opt_value */
            return CLI_USAGE;
        if (k == nf) {
            cli_error("unknown option '%s' (see ctxd --help)", a);
            return CLI_USAGE;
        }
        if (!add_set(sets, nsets, flag_vars[k].var, strlen(flag_vars[k].var), v, flag_vars[k].flag))
            return CLI_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    *cmd_at = i;
    return -1;
}

/* Overwrites the argument arg in place with shown, cut to arg's length and padded with
 * NUL bytes: Linux shows a process's arguments (/proc/PID/cmdline, what ps prints) from
 * this very memory. A prefix of a masked text holds nothing of the secret. */
static void argv_overwrite(char *arg, const char *shown)
{
    size_t n = strlen(arg), m = strlen(shown);
    if (m > n)
        m = n;
    memmove(arg, shown, m);
    memset(arg + m, 0, n - m);
}

/* Hides from other users the secrets given on the command line, once the program holds
 * its own copies: the password of every URL argument (--database-url, --set
 * DATABASE_URL=..., copy --from/--to) and the value of --set for a secret variable
 * (API_KEY, JWT_SECRET_KEY, SUPABASE_DB_PASSWORD). Until this runs (the first
 * milliseconds) they are visible: DATABASE_URL in .env is the way to keep them out. */
static void scrub_argv(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        char *nv = NULL; /* NAME=VALUE of --set */
        if (strcmp(a, "--set") == 0 && i + 1 < argc)
            nv = argv[++i];
        else if (strncmp(a, "--set=", 6) == 0)
            nv = a + 6;
        char *eq = nv ? strchr(nv, '=') : NULL;
        if (eq) {
            char *name = xstrndup(nv, (size_t)(eq - nv));
            const conf_var *var = conf_var_find(name);
            free(name);
            if (var && var->type == CONF_SECRET) {
                argv_overwrite(eq + 1, "***");
                continue;
            }
            a = eq + 1; /* the value: a URL starts it, not NAME= */
        }
        if (strstr(a, "://")) {
            char *masked = urlmask(a);
            if (masked && strcmp(masked, a) != 0)
                argv_overwrite(a, masked);
            free(masked);
        }
    }
}

static const struct {
    const char *name;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
} commands[] = {
    {"serve", cmd_serve},           {"setup", cmd_setup},   {"client-config", cmd_client_config},
    {"migrate", cmd_migrate},       {"db", cmd_db},         {"copy", cmd_copy},
    {"export", cmd_export},         {"import", cmd_import}, {"agent", cmd_agent},
    {"import-scs", cmd_import_scs}, {"status", cmd_status},
};

/* Runs the command argv[0]. */
static int dispatch(cli_ctx *ctx, int argc, char **argv)
{
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(argv[0], commands[k].name) == 0)
            return commands[k].run(ctx, argc, argv);
    if (strcmp(argv[0], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    sbuf_t names = SBUF_INIT; /* the table's own names, so the list never lags behind it */
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        sbuf_printf(&names, "%s%s", k ? ", " : "", commands[k].name);
    cli_error("unknown command '%s' (commands: %s; see ctxd --help)", argv[0], sbuf_cstr(&names));
    sbuf_free(&names);
    return CLI_USAGE;
}

int main(int argc, char **argv)
{
    const char *env_file = NULL;
    pending_set sets[MAX_SETS];
    int nsets = 0, i = 0;
    cli_ctx ctx = {.prog = "ctxd"};
    err_t e;
    char **cargv = NULL; /* the command's arguments: copies, argv gets scrubbed */
    int cargc = 0;
    char *env_copy = NULL;
    int rc = parse_globals(argc, argv, &i, sets, &nsets, &env_file);
    if (rc >= 0)
        goto out;
    cargc = argc - i;
    cargv = xcalloc((size_t)cargc + 1, sizeof *cargv);
    for (int k = 0; k < cargc; k++)
        cargv[k] = xstrdup(argv[i + k]);
    env_file = env_copy = env_file ? xstrdup(env_file) : NULL;
    ctx.env_file = env_file;
    scrub_argv(argc, argv);
    if (env_file && access(env_file, R_OK) != 0) {
        cli_error("--env-file %s: %s", env_file, strerror(errno));
        rc = CLI_USAGE;
        goto out;
    }
    if (conf_load(&ctx.conf, env_file, &e) != ERR_OK) {
        rc = cli_fail("configuration", &e);
        goto out;
    }
    for (int k = 0; k < nsets; k++) {
        if (conf_set_flag(ctx.conf, sets[k].name, sets[k].value, sets[k].flag, &e) != ERR_OK) {
            rc = cli_fail("command line", &e);
            goto out;
        }
    }
    if (conf_validate(ctx.conf, &e) != ERR_OK) {
        rc = cli_fail("configuration", &e);
        goto out;
    }
    log_level lvl = LOG_INFO;
    if (conf_get(ctx.conf, "LOG_LEVEL") && log_parse_level(conf_get(ctx.conf, "LOG_LEVEL"), &lvl))
        log_set_level(lvl);
    log_format fmt = LOG_FMT_TEXT;
    if (log_parse_format(conf_get(ctx.conf, "LOG_FORMAT"), &fmt))
        log_set_format(fmt);
    rc = dispatch(&ctx, cargc, cargv);
out:
    for (int k = 0; k < nsets; k++) {
        free((char *)sets[k].name);
        free(sets[k].value);
    }
    for (int k = 0; k < cargc; k++)
        free(cargv[k]);
    free(cargv);
    free(env_copy);
    free(ctx.url);
    free(ctx.url_origin);
    conf_free(ctx.conf);
    return rc;
}
