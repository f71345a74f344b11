/* cli/client_formats.c — the snippet each MCP client reads to connect to ctxd (see
 * client_formats.h). One table row per client; JSON clients share one builder, Claude
 * Code (a shell command) and Codex (TOML) have their own.
 *
 * Which documented format each snippet follows, and where it was confirmed:
 *
 * | client         | file / root key                              | HTTP entry                                  | key by variable                        | documented in |
 * |----------------|----------------------------------------------|---------------------------------------------|----------------------------------------|---------------|
 * | claude         | `claude mcp add` (stored in ~/.claude.json)  | --transport http URL --header 'X-API-Key: K'| no: key literal                        | Claude Code docs, "MCP" (claude mcp add) |
 * | claude-desktop | claude_desktop_config.json, mcpServers       | npx -y mcp-remote URL --header X-API-Key:${CTXD_API_KEY}, env | mcp-remote expands ${VAR} from "env"; the key sits in "env" | mcp-remote README (geelen/mcp-remote), "Custom headers" |
 * | cursor         | .cursor/mcp.json, mcpServers                 | url, headers                                | ${env:CTXD_API_KEY}                     | Cursor docs, "Model Context Protocol" (variable interpolation) |
 * | vscode         | .vscode/mcp.json, servers (+ inputs)         | type "http", url, headers                   | ${input:ctxd-api-key} (promptString, password) | VS Code docs, "MCP configuration reference" (input variables) |
 * | gemini         | ~/.gemini/settings.json, mcpServers          | httpUrl, headers                            | ${CTXD_API_KEY} ($VAR in settings.json)  | Gemini CLI docs, configuration.md + tools/mcp-server.md |
 * | windsurf       | ~/.codeium/windsurf/mcp_config.json, mcpServers | serverUrl, headers                       | ${env:CTXD_API_KEY}                     | Windsurf docs, "Cascade MCP" (config interpolation) |
 * | codex          | ~/.codex/config.toml, [mcp_servers.ctxd]     | url, env_http_headers / http_headers        | env_http_headers names the variable     | Codex docs, developers.openai.com/codex/mcp and config reference |
 * | qwen           | ~/.qwen/settings.json, mcpServers            | httpUrl, headers                            | ${CTXD_API_KEY} ($VAR in settings.json)  | Qwen Code docs, "MCP servers" and settings (inherited from Gemini CLI) |
 * | kiro           | .kiro/settings/mcp.json, mcpServers          | url, headers                                | ${CTXD_API_KEY} (after the user approves it) | Kiro docs, kiro.dev/docs/mcp/configuration |
 * | copilot        | ~/.copilot/mcp-config.json, mcpServers       | type "http", url, headers, tools ["*"]      | ${CTXD_API_KEY}                         | GitHub docs, "Adding MCP servers for GitHub Copilot CLI" |
 * | zed            | settings.json, context_servers               | url, headers                                | no: key literal                        | Zed docs, docs/src/ai/mcp.md |
 * | opencode       | opencode.json, mcp (+ $schema)               | type "remote", url, headers, enabled        | {env:CTXD_API_KEY}                      | opencode docs, "MCP servers" and "Config" (variables) |
 * | cline          | cline_mcp_settings.json, mcpServers          | type "streamableHttp", url, headers, disabled | no: key literal                      | Cline docs, "Connecting to a remote server" / "Configuring MCP servers" |
 *
 * Over stdio every client gets the absolute command and its arguments ("command" +
 * "args"; opencode: one "command" array and "environment"; Copilot "type": "local";
 * VS Code "type": "stdio"), and an API_KEY in the environment only when no .env is
 * named (Claude Desktop: always, as before).
 * Must not: print; guess a variable syntax a client's documentation does not give. */
#include "cli/client_formats.h"

#include <stdlib.h>
#include <string.h>

/* How a client refers to an environment variable in its configuration. */
typedef enum cc_ref {
    REF_NONE,     /* it does not: the key itself */
    REF_ENV,      /* ${env:NAME} */
    REF_BRACES,   /* ${NAME} */
    REF_OPENCODE, /* {env:NAME} */
    REF_INPUT,    /* VS Code: ${input:ID}, asked once and stored by the editor */
} cc_ref;

enum {
    CC_TOOLS_ALL = 1 << 0,     /* "tools": ["*"] (Copilot CLI requires it) */
    CC_CMD_ARRAY = 1 << 1,     /* "command": [exe, args...], "environment" (opencode) */
    CC_ENABLED = 1 << 2,       /* "enabled": true (opencode) */
    CC_NOT_DISABLED = 1 << 3,  /* "disabled": false (Cline) */
    CC_SCHEMA = 1 << 4,        /* "$schema" of opencode.json */
    CC_KEY_ENV_ALWAYS = 1 << 5 /* stdio: API_KEY in "env" even with --env-file */
};

typedef enum cc_kind {
    KIND_JSON,
    KIND_CLAUDE_CODE, /* a `claude mcp add` command */
    KIND_DESKTOP,     /* JSON; over HTTP through mcp-remote */
    KIND_CODEX        /* TOML */
} cc_kind;

struct cc_client {
    const char *name;
    const char *title;
    const char *where;
    const char *ext;
    cc_kind kind;
    const char *root;       /* the object holding the servers */
    const char *url_field;  /* "url", "httpUrl", "serverUrl" */
    const char *http_type;  /* "type" over HTTP, or NULL */
    const char *stdio_type; /* "type" over stdio, or NULL */
    cc_ref ref;
    unsigned flags;
    const char *note; /* one more hint, or NULL */
};

#define INPUT_ID "ctxd-api-key"

static const cc_client CLIENTS[] = {
    {"claude", "Claude Code", "a shell (`claude mcp add`)", "sh", KIND_CLAUDE_CODE, NULL, NULL,
     NULL, NULL, REF_NONE, 0,
     "the command stores the key in ~/.claude.json (or .mcp.json with --scope project)"},
    {"claude-desktop", "Claude Desktop", "claude_desktop_config.json", "json", KIND_DESKTOP,
     "mcpServers", NULL, NULL, NULL, REF_NONE, CC_KEY_ENV_ALWAYS, NULL},
    {"cursor", "Cursor", ".cursor/mcp.json (project) or ~/.cursor/mcp.json", "json", KIND_JSON,
     "mcpServers", "url", NULL, NULL, REF_ENV, 0, NULL},
    {"vscode", "VS Code", ".vscode/mcp.json", "json", KIND_JSON, "servers", "url", "http", "stdio",
     REF_INPUT, 0, NULL},
    {"gemini", "Gemini CLI", "~/.gemini/settings.json (or .gemini/settings.json)", "json",
     KIND_JSON, "mcpServers", "httpUrl", NULL, NULL, REF_BRACES, 0, NULL},
    {"windsurf", "Windsurf", "~/.codeium/windsurf/mcp_config.json", "json", KIND_JSON, "mcpServers",
     "serverUrl", NULL, NULL, REF_ENV, 0, NULL},
    {"codex", "Codex CLI", "~/.codex/config.toml (or .codex/config.toml in a trusted project)",
     "toml", KIND_CODEX, NULL, NULL, NULL, NULL, REF_ENV, 0, NULL},
    {"qwen", "Qwen Code", "~/.qwen/settings.json (or .qwen/settings.json)", "json", KIND_JSON,
     "mcpServers", "httpUrl", NULL, NULL, REF_BRACES, 0, NULL},
    {"kiro", "Kiro", ".kiro/settings/mcp.json (or ~/.kiro/settings/mcp.json)", "json", KIND_JSON,
     "mcpServers", "url", NULL, NULL, REF_BRACES, 0,
     "Kiro expands " CC_KEY_VAR " once you approve the variable when it asks"},
    {"copilot", "GitHub Copilot CLI", "~/.copilot/mcp-config.json", "json", KIND_JSON, "mcpServers",
     "url", "http", "local", REF_BRACES, CC_TOOLS_ALL, NULL},
    {"zed", "Zed", "Zed's settings.json", "json", KIND_JSON, "context_servers", "url", NULL, NULL,
     REF_NONE, 0, NULL},
    {"opencode", "opencode", "opencode.json (or ~/.config/opencode/opencode.json)", "json",
     KIND_JSON, "mcp", "url", "remote", "local", REF_OPENCODE,
     CC_CMD_ARRAY | CC_ENABLED | CC_SCHEMA, NULL},
    {"cline", "Cline", "cline_mcp_settings.json (Cline: MCP Servers > Configure)", "json",
     KIND_JSON, "mcpServers", "url", "streamableHttp", NULL, REF_NONE, CC_NOT_DISABLED, NULL},
};
#define NCLIENTS (sizeof CLIENTS / sizeof CLIENTS[0])

size_t cc_client_count(void)
{
    return NCLIENTS;
}

const cc_client *cc_client_at(size_t i)
{
    return i < NCLIENTS ? &CLIENTS[i] : NULL;
}

const cc_client *cc_client_find(const char *name)
{
    for (size_t i = 0; name && i < NCLIENTS; i++)
        if (strcmp(name, CLIENTS[i].name) == 0)
            return &CLIENTS[i];
    return NULL;
}

const char *cc_client_name(const cc_client *c)
{
    return c->name;
}

const char *cc_client_where(const cc_client *c)
{
    return c->where;
}

const char *cc_client_ext(const cc_client *c)
{
    return c->ext;
}

const char *cc_client_names(void)
{
    return "claude, claude-desktop, cursor, vscode, gemini, windsurf, codex, qwen, kiro, "
           "copilot, zed, opencode, cline";
}

/* ---- the key: a reference to CTXD_API_KEY, or the key itself ---- */

static bool uses_ref(const cc_client *c, const cc_conn *k)
{
    return c->ref != REF_NONE && !k->inline_key;
}

/* What stands in the key's place (caller frees). */
static char *key_value(const cc_client *c, const cc_conn *k)
{
    sbuf_t b = SBUF_INIT;
    switch (uses_ref(c, k) ? c->ref : REF_NONE) {
    case REF_ENV: sbuf_puts(&b, "${env:" CC_KEY_VAR "}"); break;
    case REF_BRACES: sbuf_puts(&b, "${" CC_KEY_VAR "}"); break;
    case REF_OPENCODE: sbuf_puts(&b, "{env:" CC_KEY_VAR "}"); break;
    case REF_INPUT: sbuf_puts(&b, "${input:" INPUT_ID "}"); break;
    case REF_NONE: sbuf_puts(&b, k->key); break;
    }
    return sbuf_detach(&b);
}

/* Whether the snippet carries a key at all (stdio with a .env does not). */
static bool carries_key(const cc_client *c, const cc_conn *k)
{
    return !k->stdio || k->need_key_env || (c->flags & CC_KEY_ENV_ALWAYS);
}

static void key_hints(const cc_client *c, const cc_conn *k, bool literal, sbuf_t *hints)
{
    if (!carries_key(c, k))
        return;
    if (!literal && c->ref == REF_INPUT)
        sbuf_printf(hints, "# %s asks for the key once (input " INPUT_ID ") and keeps it itself\n",
                    c->title);
    else if (!literal)
        sbuf_printf(hints,
                    "# the snippet names the variable " CC_KEY_VAR
                    ", not the key: set it to your API_KEY where %s starts\n",
                    c->title);
    else if (k->key_set)
        sbuf_printf(hints,
                    "# the snippet holds the API key itself%s: keep it out of version "
                    "control\n",
                    c->ref == REF_NONE ? "" : " (--inline-key)");
}

/* ---- JSON clients ---- */

static json_t *str_array(const char *first, const json_t *rest)
{
    json_t *a = json_array();
    if (first)
        json_array_append_new(a, json_string(first));
    for (size_t i = 0; i < json_array_size(rest); i++)
        json_array_append(a, json_array_get(rest, i));
    return a;
}

static json_t *one(const char *name, const char *value)
{
    json_t *o = json_object();
    json_object_set_new(o, name, json_string(value));
    return o;
}

static void set_type(json_t *e, const char *type)
{
    if (type)
        json_object_set_new(e, "type", json_string(type));
}

/* The entry that starts ctxd over stdio. */
static json_t *stdio_entry(const cc_client *c, const cc_conn *k, const char *keyval)
{
    json_t *e = json_object();
    set_type(e, c->stdio_type);
    if (c->flags & CC_CMD_ARRAY) {
        json_object_set_new(e, "command", str_array(k->exe, k->args));
    } else {
        json_object_set_new(e, "command", json_string(k->exe));
        json_object_set_new(e, "args", str_array(NULL, k->args));
    }
    if (carries_key(c, k))
        json_object_set_new(e, c->flags & CC_CMD_ARRAY ? "environment" : "env",
                            one("API_KEY", keyval));
    return e;
}

/* Claude Desktop over HTTP: mcp-remote bridges its stdio to ctxd's /mcp; the key goes
 * in its "env" and mcp-remote puts it in the header. */
static json_t *desktop_remote_entry(const cc_conn *k)
{
    json_t *args = json_pack("[s s s s s]", "-y", "mcp-remote", k->url, "--header",
                             "X-API-Key:${" CC_KEY_VAR "}");
    if (strncmp(k->url, "http://", 7) == 0)
        json_array_append_new(args, json_string("--allow-http"));
    return json_pack("{s:s s:o s:o}", "command", "npx", "args", args, "env",
                     one(CC_KEY_VAR, k->key));
}

static bool render_json(const cc_client *c, const cc_conn *k, sbuf_t *out, const char *keyval)
{
    json_t *e;
    if (k->stdio) {
        e = stdio_entry(c, k, keyval);
    } else if (c->kind == KIND_DESKTOP) {
        e = desktop_remote_entry(k);
    } else {
        e = json_object();
        set_type(e, c->http_type);
        json_object_set_new(e, c->url_field, json_string(k->url));
        json_object_set_new(e, "headers", one("X-API-Key", keyval));
    }
    if (c->flags & CC_TOOLS_ALL)
        json_object_set_new(e, "tools", json_pack("[s]", "*"));
    if (c->flags & CC_ENABLED)
        json_object_set_new(e, "enabled", json_true());
    if (c->flags & CC_NOT_DISABLED)
        json_object_set_new(e, "disabled", json_false());
    json_t *doc = json_object();
    if (c->flags & CC_SCHEMA)
        json_object_set_new(doc, "$schema", json_string("https://opencode.ai/config.json"));
    if (uses_ref(c, k) && c->ref == REF_INPUT && carries_key(c, k))
        json_object_set_new(doc, "inputs",
                            json_pack("[{s:s s:s s:s s:b}]", "type", "promptString", "id", INPUT_ID,
                                      "description", "ctxd API key (API_KEY in .env)", "password",
                                      1));
    json_t *servers = json_object();
    json_object_set_new(servers, "ctxd", e);
    json_object_set_new(doc, c->root, servers);
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!s)
        return false;
    sbuf_puts(out, s);
    sbuf_putc(out, '\n');
    free(s);
    return true;
}

/* ---- Claude Code: a shell command ---- */

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

static void render_claude(const cc_conn *k, sbuf_t *out)
{
    sbuf_t kv = SBUF_INIT;
    if (k->stdio) {
        sbuf_puts(out, "claude mcp add ctxd");
        if (k->need_key_env) {
            sbuf_printf(&kv, "API_KEY=%s", k->key);
            sbuf_puts(out, " --env ");
            shq(out, sbuf_cstr(&kv));
        }
        sbuf_puts(out, " -- ");
        shq(out, k->exe);
        for (size_t i = 0; i < json_array_size(k->args); i++) {
            sbuf_putc(out, ' ');
            shq(out, json_string_value(json_array_get(k->args, i)));
        }
    } else {
        sbuf_puts(out, "claude mcp add --transport http ctxd ");
        shq(out, k->url);
        sbuf_puts(out, " --header ");
        sbuf_printf(&kv, "X-API-Key: %s", k->key);
        shq(out, sbuf_cstr(&kv));
    }
    sbuf_putc(out, '\n');
    sbuf_free(&kv);
}

/* ---- Codex: TOML ---- */

/* A TOML basic string: UTF-8 as is, '"', '\\' and control characters escaped. */
static void tomlq(sbuf_t *b, const char *s)
{
    sbuf_putc(b, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sbuf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            sbuf_printf(b, "\\u%04X", ch);
        else
            sbuf_putc(b, (char)ch);
    }
    sbuf_putc(b, '"');
}

static void render_codex(const cc_client *c, const cc_conn *k, sbuf_t *out, const char *keyval)
{
    sbuf_puts(out, "[mcp_servers.ctxd]\n");
    if (k->stdio) {
        sbuf_puts(out, "command = ");
        tomlq(out, k->exe);
        sbuf_puts(out, "\nargs = [");
        for (size_t i = 0; i < json_array_size(k->args); i++) {
            sbuf_puts(out, i ? ", " : "");
            tomlq(out, json_string_value(json_array_get(k->args, i)));
        }
        sbuf_puts(out, "]\n");
        if (k->need_key_env) { /* Codex passes "env" as written: no variables */
            sbuf_puts(out, "env = { API_KEY = ");
            tomlq(out, k->key);
            sbuf_puts(out, " }\n");
        }
        return;
    }
    sbuf_puts(out, "url = ");
    tomlq(out, k->url);
    /* env_http_headers maps a header to the variable that holds its value */
    sbuf_printf(out,
                "\n%s = { \"X-API-Key\" = ", uses_ref(c, k) ? "env_http_headers" : "http_headers");
    tomlq(out, uses_ref(c, k) ? CC_KEY_VAR : keyval);
    sbuf_puts(out, " }\n");
}

/* ---- all of them ---- */

/* Whether every path in the snippet is UTF-8 (JSON and TOML hold nothing else). */
static bool paths_utf8(const cc_conn *k, const char **why)
{
    if (!k->stdio)
        return true;
    bool ok = str_utf8_valid(k->exe, strlen(k->exe));
    for (size_t i = 0; ok && i < json_array_size(k->args); i++)
        ok = json_string_value(json_array_get(k->args, i)) != NULL;
    if (!ok)
        *why = "a path (of ctxd, the .env or the database) is not UTF-8";
    return ok;
}

bool cc_render(const cc_client *c, const cc_conn *k, sbuf_t *out, sbuf_t *hints, const char **why)
{
    *why = "the snippet could not be built";
    if (c->kind != KIND_CLAUDE_CODE && !paths_utf8(k, why))
        return false;
    /* Claude Desktop reads "env" as written; mcp-remote expands the header from it */
    bool literal = !uses_ref(c, k) || (k->stdio && c->kind == KIND_CODEX);
    char *keyval = key_value(c, k);
    bool ok = true;
    switch (c->kind) {
    case KIND_CLAUDE_CODE: render_claude(k, out); break;
    case KIND_CODEX: render_codex(c, k, out, keyval); break;
    case KIND_JSON:
    case KIND_DESKTOP: ok = render_json(c, k, out, keyval); break;
    }
    free(keyval);
    if (!ok)
        return false;
    if (c->kind == KIND_CLAUDE_CODE)
        sbuf_printf(hints, "# %s: run the command in a shell\n", c->title);
    else
        sbuf_printf(hints, "# %s: merge into %s\n", c->title, c->where);
    key_hints(c, k, literal, hints);
    if (c->note && carries_key(c, k) && !literal)
        sbuf_printf(hints, "# %s\n", c->note);
    else if (c->note && c->kind == KIND_CLAUDE_CODE && !k->stdio)
        sbuf_printf(hints, "# %s\n", c->note);
    return true;
}
