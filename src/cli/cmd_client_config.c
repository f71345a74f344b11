/* cli/cmd_client_config.c — `ctxd client-config <client> [--stdio] [--url URL]`: prints
 * the snippet that connects an MCP client to ctxd: a `claude mcp add` command for
 * Claude Code, JSON for Cursor (.cursor/mcp.json), VS Code (.vscode/mcp.json), Gemini
 * CLI (settings.json), Windsurf (mcp_config.json) and Claude Desktop
 * (claude_desktop_config.json, stdio only). Over HTTP the API key goes in the X-API-Key
 * header; over stdio the client starts `ctxd --env-file <abs .env> serve --stdio`, so the
 * secrets stay in the .env. The snippet goes to stdout, hints to stderr.
 * Must not: print JWT_SECRET_KEY or a database password; print anything but the snippet
 * on stdout. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/sbuf.h"
#include "cli/cli.h"

static const char *const clients[] = {"claude", "cursor",   "vscode",
                                      "gemini", "windsurf", "claude-desktop"};
#define KEY_PLACEHOLDER "YOUR_API_KEY"

static void cc_usage(FILE *f)
{
    fputs("Usage: ctxd client-config <claude|cursor|vscode|gemini|windsurf|claude-desktop>\n"
          "                          [--stdio] [--url URL]\n"
          "\n"
          "Prints the configuration that connects the client to ctxd over HTTP\n"
          "(http://HTTP_HOST:HTTP_PORT/mcp, or --url) with the API_KEY as X-API-Key, or with\n"
          "--stdio the command the client should start. Claude Desktop always uses stdio.\n"
          "Without an API_KEY a placeholder is printed (run `ctxd setup`).\n",
          f);
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(j);
}

/* sh-quotes s for a command line. */
static void shq(sbuf_t *b, const char *s)
{
    if (s[0] &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./:=@") ==
            strlen(s)) {
        sbuf_puts(b, s);
        return;
    }
    sbuf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            sbuf_puts(b, "'\\''");
        else
            sbuf_putc(b, *s);
    }
    sbuf_putc(b, '\'');
}

int cmd_client_config(cli_ctx *ctx, int argc, char **argv)
{
    const char *client = NULL, *url_flag = NULL;
    bool stdio = false;
    const cli_opt opts[] = {{.name = "--stdio", .flag = &stdio},
                            {.name = "--url", .text = &url_flag}};
    int rc = cli_parse_args("client-config", argc, argv, opts, sizeof opts / sizeof opts[0],
                            &client, 1, cc_usage);
    if (rc != CLI_RUN)
        return rc;
    int which = -1;
    for (int k = 0; client && k < (int)(sizeof clients / sizeof clients[0]); k++)
        if (strcmp(client, clients[k]) == 0)
            which = k;
    if (which < 0) {
        cli_error("client-config: name a client: claude, cursor, vscode, gemini, windsurf or "
                  "claude-desktop");
        return CLI_USAGE;
    }
    bool desktop = strcmp(client, "claude-desktop") == 0;
    if (desktop && !stdio) {
        fputs(
            "# Claude Desktop starts local servers over stdio: printing the stdio configuration\n",
            stderr);
        stdio = true;
    }

    const char *key = conf_get(ctx->conf, "API_KEY");
    if (!key || !*key) {
        key = KEY_PLACEHOLDER;
        fputs("# API_KEY is not set: replace " KEY_PLACEHOLDER
              " (run `ctxd setup` to create one)\n",
              stderr);
    }
    sbuf_t url = SBUF_INIT;
    if (url_flag) {
        sbuf_puts(&url, url_flag);
    } else {
        const char *host = conf_get(ctx->conf, "HTTP_HOST");
        if (!host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
            host = "127.0.0.1";
        long port = 23456;
        err_t e;
        if (conf_get_int(ctx->conf, "HTTP_PORT", 23456, &port, &e) != ERR_OK) {
            sbuf_free(&url);
            return cli_fail("configuration", &e);
        }
        bool v6 = strchr(host, ':') != NULL;
        sbuf_printf(&url, "http://%s%s%s:%ld/mcp", v6 ? "[" : "", host, v6 ? "]" : "", port);
    }

    /* stdio: absolute paths to this binary and to the .env that holds the secrets */
    char exe[PATH_MAX] = "ctxd";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = '\0';
    char cwd[PATH_MAX] = ".";
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, ".");
    sbuf_t envf = SBUF_INIT;
    sbuf_printf(&envf, "%s/.env", cwd);
    bool have_env = access(sbuf_cstr(&envf), R_OK) == 0;
    json_t *args = json_array();
    if (have_env) {
        json_array_append_new(args, json_string("--env-file"));
        json_array_append_new(args, json_string(sbuf_cstr(&envf)));
    } else {
        fputs("# no ./.env here: the stdio server reads API_KEY from \"env\" and needs "
              "JWT_SECRET_KEY "
              "too (run `ctxd setup` in this directory, then rerun this command)\n",
              stderr);
    }
    /* a relative SQLite path would resolve against the client's working directory */
    const char *dburl =
        conf_get(ctx->conf, "DATABASE_URL") ? NULL : conf_get(ctx->conf, "DATABASE_PATH");
    if (dburl && *dburl && dburl[0] != '/' && strcmp(dburl, ":memory:") != 0) {
        sbuf_t abs = SBUF_INIT;
        sbuf_printf(&abs, "%s/%s", cwd, strncmp(dburl, "./", 2) == 0 ? dburl + 2 : dburl);
        json_array_append_new(args, json_string("--database-path"));
        json_array_append_new(args, json_string(sbuf_cstr(&abs)));
        sbuf_free(&abs);
    }
    json_array_append_new(args, json_string("serve"));
    json_array_append_new(args, json_string("--stdio"));

    const char *u = sbuf_cstr(&url);
    json_t *entry;
    if (strcmp(client, "claude") == 0) {
        sbuf_t cmd = SBUF_INIT;
        if (stdio) {
            sbuf_puts(&cmd, "claude mcp add ctxd");
            if (!have_env) {
                sbuf_puts(&cmd, " --env ");
                sbuf_t kv = SBUF_INIT;
                sbuf_printf(&kv, "API_KEY=%s", key);
                shq(&cmd, sbuf_cstr(&kv));
                sbuf_free(&kv);
            }
            sbuf_puts(&cmd, " -- ");
            shq(&cmd, exe);
            for (size_t i = 0; i < json_array_size(args); i++) {
                sbuf_putc(&cmd, ' ');
                shq(&cmd, json_string_value(json_array_get(args, i)));
            }
        } else {
            sbuf_puts(&cmd, "claude mcp add --transport http ctxd ");
            shq(&cmd, u);
            sbuf_puts(&cmd, " --header ");
            sbuf_t h = SBUF_INIT;
            sbuf_printf(&h, "X-API-Key: %s", key);
            shq(&cmd, sbuf_cstr(&h));
            sbuf_free(&h);
        }
        puts(sbuf_cstr(&cmd));
        sbuf_free(&cmd);
        json_decref(args);
        sbuf_free(&url);
        sbuf_free(&envf);
        return CLI_OK;
    }
    if (stdio) {
        entry = json_pack("{s:s s:o}", "command", exe, "args", args);
        if (strcmp(client, "vscode") == 0)
            json_object_set_new(entry, "type", json_string("stdio"));
        if (!have_env || desktop)
            json_object_set_new(entry, "env", json_pack("{s:s}", "API_KEY", key));
    } else {
        json_decref(args);
        const char *url_field = strcmp(client, "gemini") == 0     ? "httpUrl"
                                : strcmp(client, "windsurf") == 0 ? "serverUrl"
                                                                  : "url";
        entry = json_object();
        if (strcmp(client, "vscode") == 0)
            json_object_set_new(entry, "type", json_string("http"));
        json_object_set_new(entry, url_field, json_string(u));
        json_object_set_new(entry, "headers", json_pack("{s:s}", "X-API-Key", key));
    }
    const char *where =
        strcmp(client, "cursor") == 0     ? ".cursor/mcp.json (project) or ~/.cursor/mcp.json"
        : strcmp(client, "vscode") == 0   ? ".vscode/mcp.json"
        : strcmp(client, "gemini") == 0   ? "~/.gemini/settings.json (or .gemini/settings.json)"
        : strcmp(client, "windsurf") == 0 ? "~/.codeium/windsurf/mcp_config.json"
                                          : "claude_desktop_config.json";
    fprintf(stderr, "# merge into %s\n", where);
    print_json(json_pack("{s:{s:o}}", strcmp(client, "vscode") == 0 ? "servers" : "mcpServers",
                         "ctxd", entry));
    sbuf_free(&url);
    sbuf_free(&envf);
    return CLI_OK;
}
