/* cli/cli_args.c — the arguments of a command, read against a table of its
 * options (see cli_opt in cli.h): flags, "--name value" / "--name=value", whole
 * numbers in a range, positional arguments, -h/--help, and one clear line for each
 * mistake.
 * Must not: know any command's options (each command declares its own table). */
#include <string.h>

#include "base/sbuf.h"
#include "cli/cli.h"

const char *cli_opt_value(int argc, char **argv, int *i, const char *name, const char *cmd,
                          bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value (see ctxd %s%s--help)", name, cmd ? cmd : "",
                  cmd ? " " : "");
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* The option of opts that argv[*i] is, with its value in *value (NULL for a flag);
 * NULL when none is (or the value is missing: *missing). */
static const cli_opt *find_opt(const char *cmd, int argc, char **argv, int *i, const cli_opt *opts,
                               size_t nopts, const char **value, bool *missing)
{
    for (size_t k = 0; k < nopts; k++) {
        if (opts[k].flag) {
            if (strcmp(argv[*i], opts[k].name) == 0)
                return &opts[k];
        } else if ((*value = cli_opt_value(argc, argv, i, opts[k].name, cmd, missing)) != NULL) {
            return &opts[k];
        } else if (*missing) {
            return NULL;
        }
    }
    return NULL;
}

int cli_parse_args(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts,
                   const char **pos, size_t npos, void (*usage)(FILE *f))
{
    size_t npos_seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            return CLI_OK;
        }
        if (a[0] != '-' || a[1] == '\0') { /* "-" alone is an argument (stdin) */
            if (npos_seen == npos) {
                cli_error("%s: unexpected argument '%s' (see ctxd %s --help)", cmd, a, cmd);
                return CLI_USAGE;
            }
            pos[npos_seen++] = a;
            continue;
        }
        const char *v = NULL;
        bool missing = false;
        const cli_opt *o = find_opt(cmd, argc, argv, &i, opts, nopts, &v, &missing);
        if (missing)
            return CLI_USAGE;
        if (!o) {
            cli_error("%s: unknown option '%s' (see ctxd %s --help)", cmd, a, cmd);
            return CLI_USAGE;
        }
        if (o->flag) {
            *o->flag = true;
        } else if (o->text) {
            *o->text = v;
        } else if (!str_to_long(v, o->min, o->max, o->num)) {
            cli_error("%s: %s expects %s %ld..%ld, got '%s'", cmd, o->name, o->what, o->min, o->max,
                      v);
            return CLI_USAGE;
        }
    }
    return CLI_RUN;
}
