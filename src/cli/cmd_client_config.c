/* cli/cmd_client_config.c — `ctxd client-config <client|all> [--stdio] [--url URL]
 * [--inline-key] [-o FILE|DIR [--force]]`: prints (or writes, mode 0600) the snippet that
 * connects an MCP client to ctxd; the clients and their formats are in client_formats.c.
 * Over HTTP the key goes in the X-API-Key header, as a reference to CTXD_API_KEY where
 * the client expands variables; over stdio the client starts this binary with absolute
 * paths: `ctxd --env-file <abs .env> --database-url sqlite:////abs/db serve --stdio`, so
 * it opens the same database from any working directory. The snippet goes to stdout
 * (or the file), hints to stderr.
 * Must not: print JWT_SECRET_KEY or a database password; print anything but snippets on
 * stdout; overwrite a file without --force. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "cli/cli.h"
#include "cli/client_formats.h"
#include "db/url.h"

#define KEY_PLACEHOLDER "YOUR_API_KEY"

static void cc_usage(FILE *f)
{
    fprintf(f,
            "Usage: ctxd client-config <client|all> [--stdio] [--url URL] [--inline-key]\n"
            "                          [-o FILE|DIR] [--force]\n"
            "\n"
            "Clients: %s.\n"
            "\n"
            "Prints the configuration that connects the client to ctxd over HTTP\n"
            "(http://HTTP_HOST:HTTP_PORT/mcp, or --url) with the API_KEY as X-API-Key, or with\n"
            "--stdio the command the client should start (absolute paths to this ctxd, the\n"
            ".env and the SQLite database). Where the client expands environment variables\n"
            "the snippet names " CC_KEY_VAR " instead of the key (set it to your API_KEY);\n"
            "--inline-key writes the key itself. claude-desktop joins the running server\n"
            "through mcp-remote (npx), or with --stdio starts its own.\n"
            "`all` prints every client's snippet, each after a line `### <client>: <file>`.\n"
            "-o FILE writes the snippet to FILE (mode 0600); with `all`, -o DIR writes\n"
            "DIR/<client>.<json|toml|sh>. An existing file is kept unless --force.\n"
            "Without an API_KEY a placeholder is printed (run `ctxd setup`).\n",
            cc_client_names());
}

/* ---- what the stdio server is started with ---- */

/* Appends "--database-url sqlite:////abs" when the database is a SQLite file (a
 * relative path would resolve against the client's working directory). */
static int add_database(cli_ctx *ctx, const char *cwd, json_t *args)
{
    int rc = cli_resolve_url(ctx);
    if (rc != CLI_OK)
        return rc;
    db_url *u = NULL;
    err_t e;
    if (db_url_parse(ctx->url, &u, &e) != ERR_OK)
        return cli_fail("database URL", &e);
    if (u->backend == DB_BACKEND_SQLITE && u->memory) {
        fputs("# the database is in memory: each stdio server has its own, empty one\n", stderr);
    } else if (u->backend == DB_BACKEND_SQLITE) {
        sbuf_t path = SBUF_INIT, url = SBUF_INIT;
        if (u->path[0] != '/')
            sbuf_printf(&path, "%s/", cwd);
        sbuf_puts(&path, strncmp(u->path, "./", 2) == 0 ? u->path + 2 : u->path);
        sbuf_puts(&url, "sqlite:///");
        for (const char *q = sbuf_cstr(&path); *q; q++) { /* what the parser decodes */
            if (*q == '%' || *q == '?' || *q == '#' || (unsigned char)*q < 0x20)
                sbuf_printf(&url, "%%%02X", (unsigned char)*q);
            else
                sbuf_putc(&url, *q);
        }
        const char *query = strchr(ctx->url, '?');
        sbuf_puts(&url, query ? query : "");
        json_array_append_new(args, json_string("--database-url"));
        json_array_append_new(args, json_string(sbuf_cstr(&url)));
        sbuf_free(&path);
        sbuf_free(&url);
    } else if (conf_source(ctx->conf, "DATABASE_URL") == CONF_SRC_ENV ||
               conf_source(ctx->conf, "DATABASE_URL") == CONF_SRC_FLAG) {
        fprintf(stderr,
                "# the stdio server reads the database from the .env it is given, but "
                "DATABASE_URL comes from %s: put it in the .env\n",
                conf_source_label(ctx->conf, "DATABASE_URL"));
    }
    db_url_free(u);
    return CLI_OK;
}

/* Fills exe and args: this binary, --env-file <abs>, the database, serve --stdio.
 * *have_env: an .env is named (it holds API_KEY and JWT_SECRET_KEY). */
static int stdio_command(cli_ctx *ctx, char *exe, size_t exe_size, json_t *args, bool *have_env)
{
    ssize_t n = readlink("/proc/self/exe", exe, exe_size - 1);
    if (n > 0) {
        exe[n] = '\0';
    } else {
        snprintf(exe, exe_size, "ctxd");
        fputs("# cannot tell where this ctxd is: write its absolute path in \"command\"\n", stderr);
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        cli_error("client-config: the working directory: %s", strerror(errno));
        return CLI_FAIL;
    }
    char envf[PATH_MAX];
    const char *given = ctx->env_file ? ctx->env_file : ".env";
    *have_env = access(given, R_OK) == 0 && realpath(given, envf) != NULL;
    if (*have_env) {
        json_array_append_new(args, json_string("--env-file"));
        json_array_append_new(args, json_string(envf));
    } else {
        fputs("# no ./.env here: the stdio server reads API_KEY from \"env\" and needs "
              "JWT_SECRET_KEY too (run `ctxd setup` in this directory, then rerun this "
              "command)\n",
              stderr);
    }
    int rc = add_database(ctx, cwd, args);
    json_array_append_new(args, json_string("serve"));
    json_array_append_new(args, json_string("--stdio"));
    return rc;
}

/* The HTTP endpoint: --url, else http://HTTP_HOST:HTTP_PORT/mcp (a wildcard host is
 * reached on the loopback address). */
static int endpoint(cli_ctx *ctx, const char *url_flag, sbuf_t *url)
{
    if (url_flag) {
        sbuf_puts(url, url_flag);
        return CLI_OK;
    }
    const char *host = conf_get(ctx->conf, "HTTP_HOST");
    if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    long port = 23456;
    err_t e;
    if (conf_get_int(ctx->conf, "HTTP_PORT", 23456, &port, &e) != ERR_OK)
        return cli_fail("configuration", &e);
    bool v6 = strchr(host, ':') != NULL;
    sbuf_printf(url, "http://%s%s%s:%ld/mcp", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return CLI_OK;
}

/* ---- output ---- */

/* Writes data to path, created with mode 0600; an existing file is an error unless
 * force (then it is replaced, never written through a symbolic link). */
static int write_file(const char *path, const char *data, bool force)
{
    if (force && unlink(path) != 0 && errno != ENOENT) {
        cli_error("client-config: cannot replace %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        cli_error("client-config: %s exists: not overwritten (use --force to replace it)", path);
        return CLI_FAIL;
    }
    FILE *f = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
    bool ok = f && fputs(data, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    if (!ok) {
        cli_error("client-config: cannot write %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    fprintf(stderr, "# wrote %s (mode 0600)\n", path);
    return CLI_OK;
}

/* Renders client c; prints it (after a heading when `all`) or writes it to out. */
static int emit(const cc_client *c, const cc_conn *k, bool all, const char *out, bool force)
{
    sbuf_t snip = SBUF_INIT, hints = SBUF_INIT, path = SBUF_INIT;
    const char *why;
    int rc = CLI_OK;
    if (!cc_render(c, k, &snip, &hints, &why)) {
        cli_error("client-config %s: %s", cc_client_name(c), why);
        rc = CLI_FAIL;
    } else if (out) {
        if (all)
            sbuf_printf(&path, "%s/%s.%s", out, cc_client_name(c), cc_client_ext(c));
        else
            sbuf_puts(&path, out);
        rc = write_file(sbuf_cstr(&path), sbuf_cstr(&snip), force);
    } else {
        if (all)
            printf("### %s: %s\n", cc_client_name(c), cc_client_where(c));
        fputs(sbuf_cstr(&snip), stdout);
        if (all)
            putchar('\n');
    }
    fflush(stdout);
    if (rc == CLI_OK)
        fputs(sbuf_cstr(&hints), stderr);
    sbuf_free(&snip);
    sbuf_free(&hints);
    sbuf_free(&path);
    return rc;
}

/* -o DIR with `all`: the directory, created (0700) when missing. */
static int out_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return CLI_OK;
    cli_error("client-config all -o %s: %s", dir,
              errno == EEXIST ? "exists and is not a directory" : strerror(errno));
    return CLI_FAIL;
}

int cmd_client_config(cli_ctx *ctx, int argc, char **argv)
{
    const char *client = NULL, *url_flag = NULL, *out = NULL;
    bool stdio = false, inline_key = false, force = false;
    const cli_opt opts[] = {{.name = "--stdio", .flag = &stdio},
                            {.name = "--url", .text = &url_flag},
                            {.name = "--inline-key", .flag = &inline_key},
                            {.name = "--output", .text = &out},
                            {.name = "-o", .text = &out},
                            {.name = "--force", .flag = &force}};
    int rc = cli_parse_args("client-config", argc, argv, opts, sizeof opts / sizeof opts[0],
                            &client, 1, cc_usage);
    if (rc != CLI_RUN)
        return rc;
    bool all = client && strcmp(client, "all") == 0;
    const cc_client *one = cc_client_find(client);
    if (!client || (!one && !all)) {
        if (client)
            cli_error("client-config: unknown client '%s' (clients: %s, or all)", client,
                      cc_client_names());
        else
            cli_error("client-config: name a client: %s, or all", cc_client_names());
        return CLI_USAGE;
    }

    cc_conn k = {.inline_key = inline_key, .stdio = stdio, .key_set = true};
    k.key = conf_get(ctx->conf, "API_KEY");
    if (!k.key || !*k.key) {
        k.key = KEY_PLACEHOLDER;
        k.key_set = false;
        fputs("# API_KEY is not set: replace " KEY_PLACEHOLDER
              " (run `ctxd setup` to create one)\n",
              stderr);
    }
    sbuf_t url = SBUF_INIT;
    char exe[PATH_MAX];
    json_t *args = json_array();
    bool have_env = false;
    rc = endpoint(ctx, url_flag, &url);
    if (rc == CLI_OK && stdio)
        rc = stdio_command(ctx, exe, sizeof exe, args, &have_env);
    if (rc == CLI_OK && all && out)
        rc = out_dir(out);
    k.url = sbuf_cstr(&url);
    k.exe = exe;
    k.args = args;
    k.need_key_env = !have_env;
    for (size_t i = 0; rc == CLI_OK && i < cc_client_count(); i++)
        if (all || cc_client_at(i) == one)
            rc = emit(cc_client_at(i), &k, all, out, force);
    json_decref(args);
    sbuf_free(&url);
    return rc;
}
