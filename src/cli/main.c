/* cli/main.c — the `ctxd` command: global options, configuration loading and
 * dispatch to the commands (serve, setup, client-config, migrate, db, copy, export,
 * import). Exit
 * codes: 0 success, 1 the operation failed, 2 the command line was wrong.
 * Must not: implement a command itself, or print secrets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "cli/cli.h"

#ifndef CTXD_VERSION
#define CTXD_VERSION "0.0.0"
#endif

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
        "  client-config      print the snippet connecting a client: claude, cursor,\n"
        "                     vscode, gemini, windsurf, claude-desktop [--stdio]\n"
        "  migrate            show or change the database schema version (status|up|down|to N)\n"
        "  db                 database tools: `db check` (health), `db url` (effective URL)\n"
        "  copy               copy all data between databases: --from URL --to URL\n"
        "                     [--batch N] [--dry-run] [--verify] [--allow-nonempty]\n"
        "                     (a target holding rows not identical to the source's is\n"
        "                     refused unless --allow-nonempty; see `ctxd copy --help`)\n"
        "  export             write the database as a JSON Lines dump [--out FILE]\n"
        "  import             load a dump: import FILE [--allow-nonempty]\n"
        "\n"
        "Global options (each overrides the variable named in brackets):\n"
        "  --database-url URL     database to use [DATABASE_URL], e.g.\n"
        "                         sqlite:///./chat_history.db, sqlite:///:memory:,\n"
        "                         postgresql://user:pass@host:5432/db, mysql://..., mongodb://...\n"
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

static const struct {
    const char *flag;
    const char *var;
} flag_vars[] = {
    {"--database-url", "DATABASE_URL"},   {"--database-path", "DATABASE_PATH"},
    {"--database-type", "DATABASE_TYPE"}, {"--pool-size", "DB_POOL_SIZE"},
    {"--log-level", "LOG_LEVEL"},
};

/* Splits "--flag=value" or "--flag value"; returns the value or NULL. */
/* Returned by flag_value when the option is last and has no value. */
static const char MISSING_VALUE[] = "";

static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value (see ctxd --help)", flag);
        return MISSING_VALUE;
    }
    (*i)++;
    return argv[*i];
}

typedef struct pending_set {
    const char *name;
    char *value;
    const char *flag; /* as the user spelled it, for messages */
} pending_set;

/* Releases the collected options; returns rc (for the early exits of main). */
static int free_sets(pending_set *sets, int nsets, int rc)
{
    for (int k = 0; k < nsets; k++) {
        free((char *)sets[k].name);
        free(sets[k].value);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *env_file = NULL;
    pending_set sets[64];
    int nsets = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *v;
        if (cli_is_help(a)) {
            usage(stdout);
            return free_sets(sets, nsets, CLI_OK);
        }
        if (strcmp(a, "--version") == 0) {
            printf("ctxd %s\n", CTXD_VERSION);
            return free_sets(sets, nsets, CLI_OK);
        }
        if ((v = flag_value(argc, argv, &i, "--env-file"))) {
            if (v == MISSING_VALUE)
                return free_sets(sets, nsets, CLI_USAGE);
            env_file = v;
            continue;
        }
        if ((v = flag_value(argc, argv, &i, "--set"))) {
            if (v == MISSING_VALUE)
                return free_sets(sets, nsets, CLI_USAGE);
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                cli_error("--set expects NAME=VALUE, got '%s'", v);
                return free_sets(sets, nsets, CLI_USAGE);
            }
            if (nsets == 64) {
                cli_error("too many --set options");
                return free_sets(sets, nsets, CLI_USAGE);
            }
            sets[nsets].name = xstrndup(v, (size_t)(eq - v));
            sets[nsets].value = xstrdup(eq + 1);
            sets[nsets].flag = "--set";
            nsets++;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof flag_vars / sizeof flag_vars[0]; k++) {
            if ((v = flag_value(argc, argv, &i, flag_vars[k].flag))) {
                if (v == MISSING_VALUE)
                    return free_sets(sets, nsets, CLI_USAGE);
                if (nsets == 64) {
                    cli_error("too many options");
                    return free_sets(sets, nsets, CLI_USAGE);
                }
                sets[nsets].name = xstrdup(flag_vars[k].var);
                sets[nsets].value = xstrdup(v);
                sets[nsets].flag = flag_vars[k].flag;
                nsets++;
                matched = true;
                break;
            }
        }
        if (!matched) {
            cli_error("unknown option '%s' (see ctxd --help)", a);
            return free_sets(sets, nsets, CLI_USAGE);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return free_sets(sets, nsets, CLI_USAGE);
    }

    cli_ctx ctx = {.prog = "ctxd"};
    err_t e;
    int rc = CLI_OK;
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

    const char *cmd = argv[i];
    int cargc = argc - i;
    char **cargv = argv + i;
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(&ctx, cargc, cargv);
    else if (strcmp(cmd, "setup") == 0)
        rc = cmd_setup(&ctx, cargc, cargv);
    else if (strcmp(cmd, "client-config") == 0)
        rc = cmd_client_config(&ctx, cargc, cargv);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(&ctx, cargc, cargv);
    else if (strcmp(cmd, "db") == 0)
        rc = cmd_db(&ctx, cargc, cargv);
    else if (strcmp(cmd, "copy") == 0)
        rc = cmd_copy(&ctx, cargc, cargv);
    else if (strcmp(cmd, "export") == 0)
        rc = cmd_export(&ctx, cargc, cargv);
    else if (strcmp(cmd, "import") == 0)
        rc = cmd_import(&ctx, cargc, cargv);
    else if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        rc = CLI_OK;
    } else {
        cli_error("unknown command '%s' (commands: serve, setup, client-config, migrate, db, copy, "
                  "export, import; "
                  "see ctxd --help)",
                  cmd);
        rc = CLI_USAGE;
    }
out:
    for (int k = 0; k < nsets; k++) {
        free((char *)sets[k].name);
        free(sets[k].value);
    }
    free(ctx.url);
    free(ctx.url_origin);
    conf_free(ctx.conf);
    return rc;
}
