/* base/conf.c — configuration: the declaration table of every known variable, the
 * `.env` reader (python-dotenv rules for the common cases), the precedence
 * default < .env < environment < flag, typed getters and validation with messages
 * that name the variable, its source and what is accepted.
 * Must not: print, log or put into an error message a secret value (CONF_SECRET
 * values are shown as "(hidden)", URLs with the password masked); call setenv()
 * (the environment is read, never written); know about databases beyond the names.
 * Thread-safety: a conf_t is built by one thread (conf_load/conf_set) and is
 * read-only afterwards; readers need no lock. No global mutable state here.
 *
 * Rules worth knowing:
 * - An empty value ("KEY=" in .env, KEY="" in the environment, an empty flag) means
 *   "not set here": it never overrides a lower source, so template placeholders
 *   such as `SUPABASE_REGION=` do not turn into invalid values.
 * - conf_set with a source lower than the one a variable already has is ignored
 *   (an environment value cannot be overwritten by a later .env value).
 * - Unknown names in .env and the environment are ignored; conf_set/conf_get on
 *   an undeclared name is ERR_INVALID / NULL.
 * - Values are checked by conf_validate and the typed getters, not at load time:
 *   loading only fails for an unreadable or malformed .env file. */
#include "base/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sbuf.h"
#include "base/urlmask.h"

#define DB_TYPES "sqlite|postgresql|mysql|mongodb|supabase"
#define LOG_LEVELS "debug|info|warning|error|critical"

static const conf_var VARS[] = {
    {"DATABASE_URL", CONF_URL, NULL, 0, 0, NULL,
     "database URL (sqlite:///path, postgresql://, mysql://, mongodb://...); wins over "
     "DATABASE_TYPE"},
    {"DATABASE_PATH", CONF_STRING, "./chat_history.db", 0, 0, NULL,
     "SQLite file used when no DATABASE_URL is given"},
    {"DATABASE_TYPE", CONF_ENUM, NULL, 0, 0, DB_TYPES,
     "backend when DATABASE_URL is absent (postgres and mariadb are accepted as aliases)"},
    {"SUPABASE_URL", CONF_URL, NULL, 0, 0, NULL,
     "Supabase project URL https://<project-ref>.supabase.co (DATABASE_TYPE=supabase)"},
    {"SUPABASE_DB_PASSWORD", CONF_SECRET, NULL, 0, 0, NULL,
     "Supabase database password (DATABASE_TYPE=supabase)"},
    {"SUPABASE_REGION", CONF_STRING, NULL, 0, 0, NULL,
     "Supabase region (e.g. us-east-1): connect through the pooler on port 6543"},
    {"DB_POOL_SIZE", CONF_INT, "5", 1, 1000, NULL,
     "connections kept in the pool (SQLite readers; unset: 20 on PostgreSQL and MariaDB)"},
    {"DB_MAX_OVERFLOW", CONF_INT, "10", 0, 1000, NULL,
     "extra connections allowed above DB_POOL_SIZE under load"},
    {"DB_POOL_IDLE_TIMEOUT", CONF_INT, "300", 0, 86400, NULL,
     "seconds an extra (overflow) connection stays open unused (0 = closed on return)"},
    {"DB_POOL_TIMEOUT", CONF_INT, "30", 1, 3600, NULL, "seconds to wait for a free connection"},
    {"DB_POOL_RECYCLE", CONF_INT, "3600", -1, 604800, NULL,
     "seconds after which a connection is replaced (-1 = never)"},
    {"ENABLE_QUERY_LOGGING", CONF_BOOL, "false", 0, 0, NULL,
     "log every statement (parameters redacted)"},
    {"SLOW_QUERY_THRESHOLD_MS", CONF_INT, "1000", 0, 3600000, NULL,
     "log statements slower than this many milliseconds (0 = off)"},
    {"MCP_TRANSPORT", CONF_ENUM, "http", 0, 0, "http|stdio", "MCP transport"},
    {"HTTP_HOST", CONF_STRING, "127.0.0.1", 0, 0, NULL, "address the HTTP server listens on"},
    {"HTTP_PORT", CONF_INT, "23456", 1, 65535, NULL, "port the HTTP server listens on"},
    {"HTTP_MAX_CONNECTIONS", CONF_INT, "4096", 16, 1000000, NULL, "HTTP connections at once"},
    {"HTTP_MAX_CONNECTIONS_PER_CLIENT", CONF_INT, "512", 1, 1000000, NULL,
     "HTTP connections at once from one client address (behind a proxy: the proxy's)"},
    {"HTTP_HEADER_TIMEOUT", CONF_INT, "30", 1, 3600, NULL, "seconds to send a request head"},
    {"ALLOWED_HOSTS", CONF_STRING, NULL, 0, 0, NULL,
     "host names (comma-separated) the Host header may carry besides localhost, 127.0.0.1 "
     "and [::1]; * = any (behind a proxy that checks it)"},
    {"ALLOWED_ORIGINS", CONF_STRING, NULL, 0, 0, NULL,
     "browser origins (http(s)://host[:port], comma-separated) accepted besides those of "
     "allowed hosts; * = any"},
    {"HTTP_TLS_CERT_FILE", CONF_STRING, NULL, 0, 0, NULL,
     "PEM certificate (chain): serve HTTPS (with HTTP_TLS_KEY_FILE)"},
    {"HTTP_TLS_KEY_FILE", CONF_STRING, NULL, 0, 0, NULL,
     "PEM private key of HTTP_TLS_CERT_FILE, unencrypted, mode 0600"},
    {"MCP_WRITE_WORKERS", CONF_INT, "8", 1, 256, NULL, "HTTP worker threads for writes"},
    {"MCP_HEAVY_WORKERS", CONF_INT, "8", 1, 256, NULL, "HTTP worker threads for heavy tools"},
    {"API_KEY", CONF_SECRET, NULL, 0, 0, NULL, "API key clients must present"},
    {"JWT_SECRET_KEY", CONF_SECRET, NULL, 0, 0, NULL, "HS256 key for signing agent tokens"},
    {"JWT_TOKEN_EXPIRY", CONF_INT, "86400", 60, 31536000, NULL, "token lifetime in seconds"},
    {"PERMISSIONS_CONFIG_FILE", CONF_STRING, NULL, 0, 0, NULL,
     "file mapping agent types to permissions"},
    {"PROTECTED_TOKEN_EXPIRY", CONF_INT, "3600", 60, 31536000, NULL,
     "lifetime in seconds of protected (sct_) tokens"},
    {"SHARED_KEY_AGENT_TYPES", CONF_STRING, NULL, 0, 0, NULL,
     "agent types the shared API_KEY may claim: * (any) or types separated by commas; unset: "
     "every type that cannot hold admin"},
    {"SHARED_KEY_PERMISSIONS", CONF_LIST, "read,write,debug", 0, 0, "read|write|admin|debug",
     "permissions the shared API_KEY may claim, separated by commas"},
    {"RATE_LIMIT_PER_MINUTE", CONF_INT, "60000", 0, 60000000, NULL,
     "requests per minute allowed per agent (and per client before authentication; 0 = off)"},
    {"RATE_LIMIT_BURST", CONF_INT, "1000", 1, 1000000, NULL,
     "requests an agent may make at once above the steady rate"},
    {"MCP_MAX_SESSIONS", CONF_INT, "10000", 1, 10000000, NULL, "MCP sessions held at once (HTTP)"},
    {"MCP_MAX_SESSIONS_PER_PEER", CONF_INT, "1000", 1, 10000000, NULL,
     "MCP sessions one client address may hold (HTTP)"},
    {"MCP_MAX_SUBSCRIPTIONS_PER_SESSION", CONF_INT, "100", 1, 10000000, NULL,
     "resource subscriptions per MCP session"},
    {"MCP_MAX_SUBSCRIPTIONS", CONF_INT, "100000", 1, 100000000, NULL, "subscriptions in all"},
    {"SEARCH_MAX_SCAN_BYTES", CONF_INT, "33554432", 65536, 2147483647, NULL,
     "bytes of message text one search_context scores before it stops (cut_short)"},
    {"SEARCH_TIME_BUDGET_MS", CONF_INT, "5000", 10, 600000, NULL, "search_context time budget"},
    {"SEARCH_INDEX_MAX_BYTES", CONF_INT, "536870912", 1048576, 1099511627776, NULL,
     "bytes the in-memory term indexes of searched sessions may hold in all"},
    {"MAX_RESPONSE_BYTES", CONF_INT, "4194304", 65536, 1073741824, NULL,
     "bytes of rows one list or read answer carries before it stops adding rows"},
    {"HEAVY_CALLS_PER_AGENT", CONF_INT, "4", 1, 1000, NULL, "heavy calls one agent runs at once"},
    {"LOG_LEVEL", CONF_ENUM, "info", 0, 0, LOG_LEVELS, "log level (case-insensitive)"},
    {"LOG_FORMAT", CONF_ENUM, "text", 0, 0, "text|json",
     "log lines as text, or as one JSON object each (for log collectors)"},
    {"AUDIT_LOG_RETENTION_DAYS", CONF_INT, "30", 0, 36500, NULL,
     "days audit log entries are kept (0 = forever)"},
    {"CTXD_AUTO_MIGRATE", CONF_BOOL, "true", 0, 0, NULL,
     "apply pending schema migrations at start-up"},
};
#define NVARS (sizeof VARS / sizeof VARS[0])

/* Every spelling an enum accepts (matched case-insensitively) and its canonical
 * form. Each choice of VARS[].choices must appear here mapping to itself (the
 * unit tests check this). */
static const struct enum_word {
    const char *var, *word, *canon;
} ENUM_WORDS[] = {
    {"DATABASE_TYPE", "sqlite", "sqlite"},
    {"DATABASE_TYPE", "postgresql", "postgresql"},
    {"DATABASE_TYPE", "postgres", "postgresql"},
    {"DATABASE_TYPE", "mysql", "mysql"},
    {"DATABASE_TYPE", "mariadb", "mysql"},
    {"DATABASE_TYPE", "mongodb", "mongodb"},
    {"DATABASE_TYPE", "supabase", "supabase"},
    {"MCP_TRANSPORT", "http", "http"},
    {"MCP_TRANSPORT", "stdio", "stdio"},
    {"LOG_LEVEL", "debug", "debug"},
    {"LOG_LEVEL", "info", "info"},
    {"LOG_LEVEL", "warning", "warning"},
    {"LOG_LEVEL", "warn", "warning"},
    {"LOG_LEVEL", "error", "error"},
    {"LOG_LEVEL", "critical", "critical"},
    {"LOG_FORMAT", "text", "text"},
    {"LOG_FORMAT", "json", "json"},
};

#define DOTENV_MAX_BYTES (1u << 20)

typedef struct conf_entry {
    char *value; /* owned; NULL = the declared default (or unset) */
    conf_src src;
    char *flag; /* owned; spelling of the flag when src == CONF_SRC_FLAG */
} conf_entry;

struct conf {
    conf_entry e[NVARS];
};

/* ---------------------------------------------------------------- table --- */

const conf_var *conf_vars(size_t *count)
{
    if (count)
        *count = NVARS;
    return VARS;
}

static int var_index(const char *name)
{
    return str_table_index(VARS, NVARS, sizeof VARS[0], name);
}

const conf_var *conf_var_find(const char *name)
{
    int i = var_index(name);
    return i < 0 ? NULL : &VARS[i];
}

const char *conf_src_name(conf_src s)
{
    switch (s) {
    case CONF_SRC_DEFAULT: return "default";
    case CONF_SRC_DOTENV: return ".env";
    case CONF_SRC_ENV: return "environment";
    case CONF_SRC_FLAG: return "flag";
    case CONF_SRC_UNSET: break;
    }
    return "unset";
}

/* ---------------------------------------------------------- life cycle --- */

static conf_t *conf_new(void)
{
    conf_t *c = xcalloc(1, sizeof *c);
    for (size_t i = 0; i < NVARS; i++)
        c->e[i].src = VARS[i].def ? CONF_SRC_DEFAULT : CONF_SRC_UNSET;
    return c;
}

conf_t *conf_defaults(void)
{
    return conf_new();
}

void conf_free(conf_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NVARS; i++) {
        free(c->e[i].value);
        free(c->e[i].flag);
    }
    free(c);
}

/* Stores value for VARS[i] from src, respecting precedence and the empty rule. */
static void put(conf_t *c, size_t i, const char *value, size_t n, conf_src src, const char *flag)
{
    if (n == 0 || src < c->e[i].src)
        return;
    free(c->e[i].value);
    free(c->e[i].flag);
    c->e[i].value = xstrndup(value, n);
    c->e[i].src = src;
    c->e[i].flag = NULL;
    if (src == CONF_SRC_FLAG) {
        if (flag) {
            c->e[i].flag = xstrdup(flag);
        } else {
            /* DB_POOL_SIZE -> --db-pool-size */
            size_t len = strlen(VARS[i].name);
            char *f = xmalloc(len + 3);
            f[0] = f[1] = '-';
            for (size_t k = 0; k < len; k++) {
                char ch = VARS[i].name[k];
                f[k + 2] = ch == '_' ? '-' : (char)tolower((unsigned char)ch);
            }
            f[len + 2] = '\0';
            c->e[i].flag = f;
        }
    }
}

static err_code set_common(conf_t *c, const char *name, const char *value, conf_src src,
                           const char *flag, err_t *e)
{
    if (!c)
        return err_set(e, ERR_INTERNAL, "conf_set: no configuration");
    int i = var_index(name);
    if (i < 0)
        return err_set(e, ERR_INVALID, "unknown configuration variable '%s'",
                       name ? name : "(null)");
    if (!value)
        return err_set(e, ERR_INVALID, "%s: no value given", name);
    if (src < CONF_SRC_DEFAULT || src > CONF_SRC_FLAG)
        return err_set(e, ERR_INVALID, "%s: invalid configuration source", name);
    put(c, (size_t)i, value, strlen(value), src, flag);
    return ERR_OK;
}

err_code conf_set(conf_t *c, const char *name, const char *value, conf_src src, err_t *e)
{
    return set_common(c, name, value, src, NULL, e);
}

err_code conf_set_flag(conf_t *c, const char *name, const char *value, const char *flag, err_t *e)
{
    return set_common(c, name, value, CONF_SRC_FLAG, flag, e);
}

/* ---------------------------------------------------------------- .env --- */

typedef struct dotenv {
    const char *s;
    size_t n, pos;
    int line;
    const char *label; /* ".env" or the path given */
} dotenv;

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static void skip_blanks(dotenv *d)
{
    while (d->pos < d->n && is_blank(d->s[d->pos]))
        d->pos++;
}

static void skip_line(dotenv *d)
{
    while (d->pos < d->n && d->s[d->pos] != '\n')
        d->pos++;
    if (d->pos < d->n) {
        d->pos++;
        d->line++;
    }
}

static err_code dotenv_bad(const dotenv *d, int line, err_t *e, const char *what)
{
    return err_set(e, ERR_INVALID, "%s line %d: %s", d->label, line, what);
}

/* After a closing quote: only blanks and an optional comment may follow. */
static bool rest_of_line_empty(dotenv *d)
{
    skip_blanks(d);
    if (d->pos >= d->n || d->s[d->pos] == '\n')
        return true;
    return d->s[d->pos] == '#';
}

static err_code dotenv_value(dotenv *d, int line, const char *key, sbuf_t *v, err_t *e)
{
    char msg[160];
    char q = d->pos < d->n ? d->s[d->pos] : '\0';
    if (q == '\'' || q == '"') {
        d->pos++;
        bool closed = false;
        while (d->pos < d->n) {
            char ch = d->s[d->pos++];
            if (ch == q) {
                closed = true;
                break;
            }
            if (ch == '\n')
                d->line++;
            if (ch == '\\' && q == '"' && d->pos < d->n) {
                char x = d->s[d->pos];
                const char *map = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
                const char *hit = NULL;
                for (const char *m = map; *m; m += 2)
                    if (*m == x) {
                        hit = m;
                        break;
                    }
                if (hit) {
                    sbuf_putc(v, hit[1]);
                    d->pos++;
                    continue;
                }
                /* unknown escape: kept as written, like python-dotenv */
            }
            sbuf_putc(v, ch);
        }
        if (!closed) {
            snprintf(msg, sizeof msg, "unterminated %s-quoted value for %.60s",
                     q == '"' ? "double" : "single", key);
            return dotenv_bad(d, line, e, msg);
        }
        if (!rest_of_line_empty(d)) {
            snprintf(msg, sizeof msg, "unexpected text after the closing quote of %.60s", key);
            return dotenv_bad(d, line, e, msg);
        }
        skip_line(d);
        return ERR_OK;
    }
    /* Unquoted: to the end of the line; " #..." starts a comment. */
    size_t start = d->pos;
    while (d->pos < d->n && d->s[d->pos] != '\n')
        d->pos++;
    size_t end = d->pos;
    for (size_t k = start + 1; k < end; k++)
        if (d->s[k] == '#' && is_blank(d->s[k - 1])) {
            end = k;
            break;
        }
    while (end > start && is_blank(d->s[end - 1]))
        end--;
    sbuf_append(v, d->s + start, end - start);
    skip_line(d);
    return ERR_OK;
}

static err_code dotenv_parse(conf_t *c, dotenv *d, err_t *e)
{
    if (d->n >= 3 && memcmp(d->s, "\xEF\xBB\xBF", 3) == 0)
        d->pos = 3; /* UTF-8 byte order mark */
    if (memchr(d->s, '\0', d->n)) {
        int line = 1;
        for (const char *p = d->s; *p; p++)
            line += *p == '\n';
        return dotenv_bad(d, line, e, "contains a NUL byte");
    }
    sbuf_t v = SBUF_INIT;
    err_code rc = ERR_OK;
    while (d->pos < d->n) {
        skip_blanks(d);
        int line = d->line;
        if (d->pos >= d->n)
            break;
        char ch = d->s[d->pos];
        if (ch == '\n' || ch == '#') {
            skip_line(d);
            continue;
        }
        if (d->n - d->pos >= 7 && memcmp(d->s + d->pos, "export", 6) == 0 &&
            is_blank(d->s[d->pos + 6])) {
            d->pos += 6;
            skip_blanks(d);
        }
        size_t ks = d->pos;
        while (d->pos < d->n) {
            ch = d->s[d->pos];
            if (ch == '=' || ch == '#' || ch == '\n' || is_blank(ch))
                break;
            d->pos++;
        }
        size_t kn = d->pos - ks;
        skip_blanks(d);
        if (kn == 0 || d->pos >= d->n || d->s[d->pos] != '=') {
            rc = dotenv_bad(d, line, e, "expected KEY=VALUE");
            break;
        }
        d->pos++; /* '=' */
        skip_blanks(d);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(kn < 127 ? kn : 127), d->s + ks);
        sbuf_reset(&v);
        rc = dotenv_value(d, line, key, &v, e);
        if (rc != ERR_OK)
            break;
        int i = kn < sizeof key ? var_index(key) : -1;
        if (i >= 0) /* later lines win; unknown keys are ignored */
            put(c, (size_t)i, sbuf_cstr(&v), v.len, CONF_SRC_DOTENV, NULL);
    }
    sbuf_free(&v);
    return rc;
}

static err_code dotenv_load(conf_t *c, const char *path, err_t *e)
{
    const char *label = path ? path : ".env";
    const char *file = path ? path : "./.env";
    FILE *f = fopen(file, "rb");
    if (!f) {
        if (errno == ENOENT)
            return ERR_OK;
        int en = errno;
        err_set(e, ERR_INVALID, "cannot read %s: %s", label, strerror(en));
        if (e)
            e->native = en;
        return ERR_INVALID;
    }
    sbuf_t b = SBUF_INIT;
    int en = sbuf_read_stream(&b, f, DOTENV_MAX_BYTES);
    fclose(f);
    err_code rc = ERR_OK;
    if (en) {
        rc = err_set(e, ERR_INVALID, "cannot read %s: %s", label, strerror(en));
        if (e)
            e->native = en;
    } else if (b.len > DOTENV_MAX_BYTES) {
        rc = err_set(e, ERR_INVALID, "%s is larger than %u bytes", label, DOTENV_MAX_BYTES);
    } else {
        dotenv d = {b.p ? b.p : "", b.len, 0, 1, label};
        rc = dotenv_parse(c, &d, e);
    }
    sbuf_free(&b);
    return rc;
}

err_code conf_load(conf_t **out, const char *dotenv_path, err_t *e)
{
    if (!out)
        return err_set(e, ERR_INTERNAL, "conf_load: no output");
    *out = NULL;
    conf_t *c = conf_new();
    err_code rc = dotenv_load(c, dotenv_path, e);
    if (rc != ERR_OK) {
        conf_free(c);
        return rc;
    }
    for (size_t i = 0; i < NVARS; i++) {
        const char *v = getenv(VARS[i].name);
        if (v)
            put(c, i, v, strlen(v), CONF_SRC_ENV, NULL);
    }
    *out = c;
    return ERR_OK;
}

/* ------------------------------------------------------------- getters --- */

const char *conf_get(const conf_t *c, const char *name)
{
    int i = var_index(name);
    if (!c || i < 0)
        return NULL;
    return c->e[i].value ? c->e[i].value : VARS[i].def;
}

conf_src conf_source(const conf_t *c, const char *name)
{
    int i = var_index(name);
    if (!c || i < 0)
        return CONF_SRC_UNSET;
    return c->e[i].src;
}

const char *conf_source_label(const conf_t *c, const char *name)
{
    int i = var_index(name);
    if (!c || i < 0 || c->e[i].src == CONF_SRC_UNSET)
        return NULL;
    if (c->e[i].src == CONF_SRC_FLAG && c->e[i].flag)
        return c->e[i].flag;
    return conf_src_name(c->e[i].src);
}

char *conf_display(const conf_t *c, const char *name)
{
    const char *v = conf_get(c, name);
    if (!v)
        return NULL;
    const conf_var *d = conf_var_find(name);
    if (d->type == CONF_SECRET)
        return xstrdup("(hidden)");
    if (d->type == CONF_URL)
        return urlmask(v);
    return xstrdup(v);
}

/* "DB_POOL_SIZE=abc (from environment)" / "API_KEY=(hidden) (from .env)" into buf. */
static void describe(const conf_t *c, int i, char *buf, size_t cap)
{
    const char *v = c->e[i].value ? c->e[i].value : VARS[i].def;
    char *shown = NULL;
    if (VARS[i].type == CONF_SECRET)
        shown = xstrdup("(hidden)");
    else if (VARS[i].type == CONF_URL)
        shown = urlmask(v);
    else
        shown = xstrdup(v);
    /* keep messages one line of valid UTF-8: control characters (and every
     * non-ASCII byte of a value that is not UTF-8) become '?' */
    bool utf8 = str_utf8_valid(shown, strlen(shown));
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || (!utf8 && (unsigned char)*p >= 0x80))
            *p = '?';
    const char *label = conf_source_label(c, VARS[i].name);
    if (c->e[i].src == CONF_SRC_DEFAULT)
        snprintf(buf, cap, "%s=%.200s (default)", VARS[i].name, shown);
    else
        snprintf(buf, cap, "%s=%.200s (from %s)", VARS[i].name, shown, label);
    free(shown);
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static const char *enum_canon(const char *var, const char *v)
{
    for (size_t k = 0; k < sizeof ENUM_WORDS / sizeof ENUM_WORDS[0]; k++)
        if (strcmp(ENUM_WORDS[k].var, var) == 0 && strcasecmp(ENUM_WORDS[k].word, v) == 0)
            return ENUM_WORDS[k].canon;
    return NULL;
}

/* Is w one of choices ("a|b|c"), exactly? */
static bool choice_listed(const char *choices, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, w, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Checks the current value of VARS[i] against its declaration. */
static err_code check_var(const conf_t *c, int i, err_t *e)
{
    const conf_var *d = &VARS[i];
    const char *v = c->e[i].value ? c->e[i].value : d->def;
    if (!v)
        return ERR_OK;
    char who[300];
    if (d->type != CONF_SECRET && !str_utf8_valid(v, strlen(v))) {
        describe(c, i, who, sizeof who);
        return err_set(e, ERR_INVALID, "%s: not valid UTF-8", who);
    }
    switch (d->type) {
    case CONF_INT: {
        long n;
        if (!str_to_long(v, d->min, d->max, &n)) {
            describe(c, i, who, sizeof who);
            return err_set(e, ERR_INVALID, "%s: expected an integer between %ld and %ld", who,
                           d->min, d->max);
        }
        return ERR_OK;
    }
    case CONF_BOOL: {
        bool b;
        if (!str_to_bool(v, &b)) {
            describe(c, i, who, sizeof who);
            return err_set(e, ERR_INVALID, "%s: expected true or false (or 1/0, yes/no, on/off)",
                           who);
        }
        return ERR_OK;
    }
    case CONF_ENUM:
        if (!enum_canon(d->name, v)) {
            describe(c, i, who, sizeof who);
            char choices[160];
            snprintf(choices, sizeof choices, "%s", d->choices);
            for (char *p = choices; *p; p++)
                if (*p == '|')
                    *p = ',';
            sbuf_t list = SBUF_INIT;
            for (const char *p = choices; *p; p++) {
                sbuf_putc(&list, *p);
                if (*p == ',')
                    sbuf_putc(&list, ' ');
            }
            err_set(e, ERR_INVALID, "%s: expected one of %s", who, sbuf_cstr(&list));
            sbuf_free(&list);
            return ERR_INVALID;
        }
        return ERR_OK;
    case CONF_URL: {
        const char *sep = strstr(v, "://");
        bool ok = sep && sep > v && !has_ctl(v) && isalpha((unsigned char)v[0]);
        for (const char *p = v; ok && p < sep; p++)
            ok = isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.';
        if (!ok) {
            describe(c, i, who, sizeof who);
            return err_set(e, ERR_INVALID, "%s: expected a URL (scheme://...)", who);
        }
        return ERR_OK;
    }
    case CONF_LIST: {
        char *copy = xstrdup(v), *save = NULL, *bad = NULL;
        for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
            char *w = str_trim(t);
            if (*w && !choice_listed(d->choices, w))
                bad = w;
        }
        if (bad) {
            describe(c, i, who, sizeof who);
            err_set(e, ERR_INVALID,
                    "%s: unknown \"%.40s\": expected names from %s separated by "
                    "commas",
                    who, bad, d->choices);
        }
        free(copy);
        return bad ? ERR_INVALID : ERR_OK;
    }
    case CONF_STRING:
        if (has_ctl(v)) {
            describe(c, i, who, sizeof who);
            return err_set(e, ERR_INVALID, "%s: contains a control character", who);
        }
        return ERR_OK;
    case CONF_SECRET: return ERR_OK;
    }
    return ERR_OK;
}

/* The value of the declared variable `name` of type want, checked against its
 * declaration; *v NULL when unset. */
static err_code checked(const conf_t *c, const char *name, conf_type want, const char **v, err_t *e)
{
    int i = var_index(name);
    if (!c || i < 0)
        return err_set(e, ERR_INVALID, "unknown configuration variable '%s'",
                       name ? name : "(null)");
    if (VARS[i].type != want)
        return err_set(e, ERR_INTERNAL, "configuration variable %s is not of the requested type",
                       name);
    *v = conf_get(c, name);
    return *v ? check_var(c, i, e) : ERR_OK;
}

err_code conf_get_int(const conf_t *c, const char *name, long def, long *out, err_t *e)
{
    const char *v;
    err_code rc = checked(c, name, CONF_INT, &v, e);
    if (rc == ERR_OK)
        *out = v ? strtol(v, NULL, 10) : def; /* checked: a whole number in range */
    return rc;
}

err_code conf_get_bool(const conf_t *c, const char *name, bool def, bool *out, err_t *e)
{
    const char *v;
    err_code rc = checked(c, name, CONF_BOOL, &v, e);
    if (rc == ERR_OK && !(v && str_to_bool(v, out)))
        *out = def; /* unset (a set value was checked) */
    return rc;
}

err_code conf_get_enum(const conf_t *c, const char *name, const char **out, err_t *e)
{
    const char *v;
    err_code rc = checked(c, name, CONF_ENUM, &v, e);
    *out = rc == ERR_OK && v ? enum_canon(name, v) : NULL;
    return rc;
}

err_code conf_validate(const conf_t *c, err_t *e)
{
    if (!c)
        return err_set(e, ERR_INTERNAL, "conf_validate: no configuration");
    err_code first = ERR_OK;
    int more = 0;
    err_t tmp;
    for (size_t i = 0; i < NVARS; i++) {
        err_code rc = check_var(c, (int)i, first == ERR_OK ? e : &tmp);
        if (rc == ERR_OK)
            continue;
        if (first == ERR_OK)
            first = rc;
        else
            more++;
    }
    if (more > 0 && e) {
        size_t len = strlen(e->msg);
        snprintf(e->msg + len, sizeof e->msg - len, " (and %d more invalid variable%s)", more,
                 more == 1 ? "" : "s");
    }
    return first;
}
