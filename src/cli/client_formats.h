/* cli/client_formats.h — the MCP clients `ctxd client-config` knows and the snippet each
 * one reads: file, format (JSON, TOML, a shell command), field names, and whether the
 * client expands an environment variable in the key's place.
 * Must not: read configuration or files, or print anything; the caller decides where
 * the snippet and the hints go. */
#ifndef CTXD_CLI_CLIENT_FORMATS_H
#define CTXD_CLI_CLIENT_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/sbuf.h"

/* The variable the snippets name instead of the key, where the client expands one. */
#define CC_KEY_VAR "CTXD_API_KEY"

/* How to reach ctxd: over HTTP (url + key) or by starting it (exe + args). */
typedef struct cc_conn {
    const char *url;    /* http://host:port/mcp */
    const char *key;    /* the API key, or a placeholder */
    bool key_set;       /* key is a real key, not the placeholder */
    bool inline_key;    /* --inline-key: the key itself even where a variable works */
    bool stdio;         /* the client starts exe args... */
    const char *exe;    /* absolute path of this ctxd */
    const json_t *args; /* its arguments (strings), ending in serve --stdio */
    bool need_key_env;  /* stdio without --env-file: the server needs API_KEY */
} cc_conn;

typedef struct cc_client cc_client;

size_t cc_client_count(void);
const cc_client *cc_client_at(size_t i);
/* The client named `name` ("cursor"), or NULL. */
const cc_client *cc_client_find(const char *name);
const char *cc_client_name(const cc_client *c);
/* Where the snippet goes, in words: ".cursor/mcp.json (project) or ~/.cursor/mcp.json". */
const char *cc_client_where(const cc_client *c);
/* The file name extension of the snippet: "json", "toml" or "sh". */
const char *cc_client_ext(const cc_client *c);
/* "claude, claude-desktop, cursor, ..." for messages. */
const char *cc_client_names(void);

/* Appends the snippet (ending in a newline) to out and the hints for the user, each a
 * line starting with "# ", to hints. False when a path cannot be written in the
 * snippet's format (it is not UTF-8); *why says which. */
bool cc_render(const cc_client *c, const cc_conn *k, sbuf_t *out, sbuf_t *hints, const char **why);

#endif
