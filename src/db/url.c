/* db/url.c — the database URL: parsing every accepted scheme form (SQLAlchemy
 * compatible: driver suffixes ignored, sqlite:///relative vs sqlite:////absolute),
 * deriving the URL from DATABASE_TYPE / DATABASE_PATH / SUPABASE_* and masking
 * passwords for display.
 * Must not: connect to anything, log, or put a password into an error message or
 * any returned text other than db_url.password and the db_url_from_conf URL.
 *
 * Parsing rules for network URLs (postgresql, mysql, mongodb):
 *   scheme[+driver]://[user[:password]@]host[:port][,host[:port]...][/database][?k=v&...]
 * The user part ends at the last '@' before the first '/' or '?', so an unencoded
 * '@' in a password works; '/', '?' in a password must be percent-encoded (the
 * error then says so). Query options are percent-decoded ('+' stays '+', as in
 * libpq). Multiple hosts are accepted for mongodb only. */
#include "db/url.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sbuf.h"
#include "base/urlmask.h"

#define ACCEPTED_SCHEMES \
    "sqlite, postgresql, postgres, mysql, mariadb, mongodb, mongodb+srv; a driver suffix " \
    "such as +asyncpg is ignored"
#define AT_HINT \
    " (if the user name or password contains '@', '/', '?' or '#', percent-encode it: " \
    "%40 %2F %3F %23)"

static const struct {
    const char *name;
    db_backend backend;
} SCHEMES[] = {
    {"sqlite", DB_BACKEND_SQLITE},     {"postgresql", DB_BACKEND_POSTGRES},
    {"postgres", DB_BACKEND_POSTGRES}, {"mysql", DB_BACKEND_MYSQL},
    {"mariadb", DB_BACKEND_MYSQL},     {"mongodb", DB_BACKEND_MONGODB},
};

const char *db_backend_name(db_backend b)
{
    switch (b) {
    case DB_BACKEND_SQLITE: return "sqlite";
    case DB_BACKEND_POSTGRES: return "postgresql";
    case DB_BACKEND_MYSQL: return "mysql";
    case DB_BACKEND_MONGODB: return "mongodb";
    }
    return "unknown";
}

bool db_backend_built(db_backend b)
{
    switch (b) {
    case DB_BACKEND_SQLITE: return true;
    case DB_BACKEND_POSTGRES: return CTXD_WITH_POSTGRESQL;
    case DB_BACKEND_MYSQL: return CTXD_WITH_MYSQL;
    case DB_BACKEND_MONGODB: return CTXD_WITH_MONGODB;
    }
    return false;
}

err_code db_backend_require(const db_url *u, err_t *e)
{
    static const char *const option[] = {
        [DB_BACKEND_POSTGRES] = "CTXD_WITH_POSTGRESQL",
        [DB_BACKEND_MYSQL] = "CTXD_WITH_MYSQL",
        [DB_BACKEND_MONGODB] = "CTXD_WITH_MONGODB",
    };
    if (db_backend_built(u->backend))
        return ERR_OK;
    const char *opt = u->backend <= DB_BACKEND_MONGODB ? option[u->backend] : NULL;
    return err_set(e, ERR_INVALID,
                   "this ctxd was built without %s support, so %s:// URLs cannot be opened: "
                   "rebuild with cmake -D%s=ON (or use another backend)",
                   db_backend_name(u->backend), u->scheme ? u->scheme : "?", opt ? opt : "?");
}

char *db_url_where(const db_url *u, const char *default_host, int default_port)
{
    sbuf_t b = SBUF_INIT;
    sbuf_printf(&b, "%s://", u->scheme ? u->scheme : db_backend_name(u->backend));
    if (u->user)
        sbuf_printf(&b, "%s%s@", u->user, u->password ? ":***" : "");
    const char *host = u->host && *u->host ? u->host : default_host;
    if (host)
        sbuf_printf(&b, strchr(host, ':') ? "[%s]" : "%s", host);
    int port = u->port ? u->port : default_port;
    if (port)
        sbuf_printf(&b, ":%d", port);
    sbuf_printf(&b, "/%s", u->database ? u->database : "");
    return sbuf_detach(&b);
}

void db_url_free(db_url *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->driver);
    free(u->user);
    if (u->password) {
        /* do not leave the password lying around in freed memory */
        volatile char *p = u->password;
        while (*p)
            *p++ = '\0';
        free(u->password);
    }
    free(u->host);
    free(u->hosts);
    free(u->database);
    free(u->path);
    for (size_t i = 0; i < u->nopts; i++) {
        free(u->opts[i].key);
        free(u->opts[i].value);
    }
    free(u->opts);
    free(u);
}

const char *db_url_opt_get(const db_url *u, const char *key)
{
    if (!u || !key)
        return NULL;
    for (size_t i = 0; i < u->nopts; i++)
        if (strcmp(u->opts[i].key, key) == 0)
            return u->opts[i].value;
    return NULL;
}

/* ------------------------------------------------------------- masking --- */

/* Masked text for error messages: at most ~200 bytes, control characters as '?'. */
static void masked_for_msg(const char *url, char *buf, size_t cap)
{
    char *m = urlmask(url);
    size_t n = strlen(m), lim = 200;
    if (n > lim) {
        while (lim > 0 && ((unsigned char)m[lim] & 0xC0) == 0x80)
            lim--; /* do not cut a UTF-8 sequence */
        snprintf(buf, cap, "%.*s...", (int)lim, m);
    } else {
        snprintf(buf, cap, "%s", m);
    }
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    free(m);
}

static err_code bad(err_t *e, const char *url, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static err_code bad(err_t *e, const char *url, const char *fmt, ...)
{
    char why[300], shown[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    masked_for_msg(url, shown, sizeof shown);
    return err_set(e, ERR_INVALID, "invalid database URL \"%s\": %s", shown, why);
}

/* ------------------------------------------------------------- parsing --- */

/* Percent-decodes s[0..n): NULL and *why set on a malformed escape, %00 or bytes
 * that are not UTF-8. */
static char *decode(const char *s, size_t n, const char **why)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '%' && s[i + 1] == '0' && s[i + 2] == '0') {
            *why = "%00 (NUL) is not allowed";
            return NULL;
        }
    char *out = NULL;
    if (!str_percent_decode(s, n, &out)) {
        *why = "bad percent escape (expected % followed by two hex digits)";
        return NULL;
    }
    if (!str_utf8_valid(out, strlen(out))) {
        free(out);
        *why = "not valid UTF-8 after percent-decoding";
        return NULL;
    }
    return out;
}

static err_code parse_query(const char *url, const char *q, db_url *u, err_t *e)
{
    size_t cap = 0;
    const char *p = q;
    while (*p) {
        const char *end = p + strcspn(p, "&");
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *kend = eq ? eq : end;
            if (kend == p)
                return bad(e, url, "query option without a name");
            const char *why = NULL;
            char *k = decode(p, (size_t)(kend - p), &why);
            if (!k)
                return bad(e, url, "query option name: %s", why);
            char *v = eq ? decode(eq + 1, (size_t)(end - eq - 1), &why) : xstrdup("");
            if (!v) {
                err_code rc = bad(e, url, "value of query option '%.60s': %s", k, why);
                free(k);
                return rc;
            }
            if (u->nopts == cap) {
                cap = cap ? cap * 2 : 4;
                u->opts = xrealloc(u->opts, cap * sizeof *u->opts);
            }
            u->opts[u->nopts].key = k;
            u->opts[u->nopts].value = v;
            u->nopts++;
        }
        p = *end ? end + 1 : end;
    }
    return ERR_OK;
}

static err_code parse_sqlite(const char *url, const char *rest, db_url *u, err_t *e)
{
    size_t blen = strcspn(rest, "?");
    if (blen == 0) { /* sqlite:// */
        u->memory = true;
        u->path = xstrdup(":memory:");
    } else if (rest[0] != '/') {
        return bad(e, url,
                   "a sqlite URL has no host: write sqlite:///relative/file.db or "
                   "sqlite:////absolute/file.db");
    } else if (blen == 1) {
        return bad(e, url,
                   "no file path after sqlite:/// (use sqlite:///:memory: for an in-memory "
                   "database)");
    } else {
        const char *why = NULL;
        u->path = decode(rest + 1, blen - 1, &why);
        if (!u->path)
            return bad(e, url, "file path: %s", why);
        u->memory = strcmp(u->path, ":memory:") == 0;
    }
    if (rest[blen] == '?')
        return parse_query(url, rest + blen + 1, u, e);
    return ERR_OK;
}

static bool reg_name_char(char ch)
{
    return isalnum((unsigned char)ch) || (ch && strchr("-._~%!$&'()*+;=", ch) != NULL) ||
           (unsigned char)ch >= 0x80;
}

/* One "host[:port]" or "[v6][:port]" of s[0..n). host is decoded. */
static err_code parse_hostport(const char *url, const char *s, size_t n, bool stray_at, char **host,
                               int *port, err_t *e)
{
    const char *hint = stray_at ? AT_HINT : "";
    const char *hend, *portp = NULL;
    const char *hs = s;
    size_t hn;
    *host = NULL;
    *port = 0;
    if (n == 0)
        return bad(e, url, "empty host name in the host list%s", hint);
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return bad(e, url, "unterminated '[' in the host (IPv6 addresses are written [::1])");
        hs = s + 1;
        hn = (size_t)(close - hs);
        bool ok = hn > 0 && memchr(hs, ':', hn) != NULL;
        for (size_t i = 0; ok && i < hn; i++)
            ok = isalnum((unsigned char)hs[i]) || hs[i] == ':' || hs[i] == '.' || hs[i] == '%';
        if (!ok)
            return bad(e, url, "invalid IPv6 address between '[' and ']'");
        hend = close + 1;
        if (hend < s + n) {
            if (*hend != ':')
                return bad(e, url, "unexpected text after ']' (expected :port)%s", hint);
            portp = hend + 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hn = colon ? (size_t)(colon - s) : n;
        if (colon && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
            return bad(e, url,
                       "more than one ':' after the host (IPv6 addresses must be in brackets, "
                       "e.g. [::1]:5432)%s",
                       hint);
        if (hn == 0)
            return bad(e, url, "missing host name before ':port'%s", hint);
        for (size_t i = 0; i < hn; i++)
            if (!reg_name_char(s[i]))
                return bad(e, url, "invalid character in the host name%s", hint);
        if (colon)
            portp = colon + 1;
    }
    if (portp) {
        size_t pn = (size_t)(s + n - portp);
        if (pn == 0)
            return bad(e, url, "empty port after ':'%s", hint);
        for (size_t i = 0; i < pn; i++)
            if (!isdigit((unsigned char)portp[i])) /* may be a password: not echoed */
                return bad(e, url, "the port is not a number%s", hint);
        long v = 0;
        for (size_t i = 0; i < pn && v <= 65535; i++)
            v = v * 10 + (portp[i] - '0');
        if (v < 1 || v > 65535)
            return bad(e, url, "port %.*s is out of range (1-65535)", (int)(pn > 12 ? 12 : pn),
                       portp);
        *port = (int)v;
    }
    const char *why = NULL;
    *host = decode(hs, hn, &why);
    if (!*host)
        return bad(e, url, "host name: %s", why);
    for (const char *p = *host; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            free(*host);
            *host = NULL;
            return bad(e, url, "host name contains a control character");
        }
    return ERR_OK;
}

static err_code parse_network(const char *url, const char *rest, db_url *u, size_t *pw_off,
                              size_t *pw_len, err_t *e)
{
    const char *name = db_backend_name(u->backend);
    size_t region = strcspn(rest, "/?");
    const char *at = NULL;
    for (const char *p = rest; p < rest + region; p++)
        if (*p == '@')
            at = p;
    bool stray_at = strchr(rest + region, '@') != NULL;
    const char *hint = stray_at ? AT_HINT : "";
    const char *hp = rest;
    const char *why = NULL;
    if (at) {
        size_t un = (size_t)(at - rest);
        const char *colon = memchr(rest, ':', un);
        size_t usern = colon ? (size_t)(colon - rest) : un;
        if (usern > 0) {
            u->user = decode(rest, usern, &why);
            if (!u->user)
                return bad(e, url, "user name: %s", why);
        }
        if (colon) {
            *pw_off = (size_t)(colon + 1 - url);
            *pw_len = (size_t)(at - colon - 1);
            u->password = decode(colon + 1, *pw_len, &why);
            if (!u->password)
                return bad(e, url, "password: %s", why);
        }
        hp = at + 1;
    }
    size_t hn = (size_t)(rest + region - hp);
    if (hn == 0)
        return bad(e, url, "a %s URL needs a host, e.g. %s://user:password@host/database%s", name,
                   u->scheme, hint);
    const char *comma = memchr(hp, ',', hn);
    if (comma && u->backend != DB_BACKEND_MONGODB)
        return bad(e, url, "several hosts are only supported in mongodb URLs");
    if (comma && u->srv)
        return bad(e, url, "a mongodb+srv URL takes exactly one host name");
    if (comma)
        u->hosts = xstrndup(hp, hn);
    const char *item = hp, *end = hp + hn;
    for (;;) {
        const char *ie = memchr(item, ',', (size_t)(end - item));
        if (!ie)
            ie = end;
        char *h = NULL;
        int port = 0;
        err_code rc = parse_hostport(url, item, (size_t)(ie - item), stray_at, &h, &port, e);
        if (rc != ERR_OK)
            return rc;
        if (!u->host) {
            u->host = h;
            u->port = port;
        } else {
            free(h);
        }
        if (ie == end)
            break;
        item = ie + 1;
    }
    if (u->srv && u->port != 0)
        return bad(e, url, "a mongodb+srv URL must not have a port (DNS SRV records give it)");
    const char *p = rest + region;
    if (*p == '/') {
        p++;
        size_t dn = strcspn(p, "?");
        if (memchr(p, '@', dn))
            return bad(e, url, "unexpected '@' after the host%s", AT_HINT);
        if (memchr(p, '/', dn))
            return bad(e, url, "the database name must not contain '/'%s", hint);
        if (dn > 0) {
            u->database = decode(p, dn, &why);
            if (!u->database)
                return bad(e, url, "database name: %s", why);
        }
        p += dn;
    }
    if (*p == '?')
        return parse_query(url, p + 1, u, e);
    return ERR_OK;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* The parser; *pw_off and *pw_len locate the raw password (pw_len = SIZE_MAX: none). */
static err_code parse(const char *url, db_url **out, size_t *pw_off, size_t *pw_len, err_t *e)
{
    *out = NULL;
    *pw_off = 0;
    *pw_len = (size_t)-1;
    if (!url || !*url)
        return err_set(e, ERR_INVALID,
                       "the database URL is empty (expected e.g. sqlite:///chat_history.db or "
                       "postgresql://user:password@host/database)");
    if (!str_utf8_valid(url, strlen(url)))
        return err_set(e, ERR_INVALID, "invalid database URL: not valid UTF-8");
    if (has_ctl(url))
        return bad(e, url, "contains a control character (a stray newline or tab?)");
    const char *sep = strstr(url, "://");
    bool scheme_ok = sep && sep > url && isalpha((unsigned char)url[0]);
    for (const char *p = url; scheme_ok && p < sep; p++)
        scheme_ok = isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.';
    if (!scheme_ok)
        return bad(e, url,
                   "no scheme; expected e.g. sqlite:///path/to/file.db or "
                   "postgresql://user:password@host/database");
    size_t sn = (size_t)(sep - url);
    char *scheme = xstrndup(url, sn);
    for (char *p = scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    size_t blen = strcspn(scheme, "+"), pos = blen;
    bool srv = false;
    if (blen == 7 && strncmp(scheme, "mongodb", 7) == 0 && pos < sn &&
        strncmp(scheme + pos + 1, "srv", 3) == 0 && (pos + 4 == sn || scheme[pos + 4] == '+')) {
        srv = true;
        pos += 4;
    }
    const char *driver = NULL; /* into url: the suffix as written */
    if (pos < sn) {
        driver = url + pos + 1;
        size_t dlen = sn - pos - 1;
        if (dlen == 0 || memchr(driver, '+', dlen)) {
            free(scheme);
            return bad(e, url, "empty or repeated driver suffix after '+' in the scheme");
        }
    }
    scheme[blen] = '\0';
    int k = str_table_index(SCHEMES, sizeof SCHEMES / sizeof SCHEMES[0], sizeof SCHEMES[0], scheme);
    db_backend backend = k < 0 ? 0 : SCHEMES[k].backend;
    if (!backend) {
        err_code rc =
            bad(e, url, "unknown scheme '%.40s' (accepted: %s)", scheme, ACCEPTED_SCHEMES);
        free(scheme);
        return rc;
    }
    db_url *u = xcalloc(1, sizeof *u);
    u->backend = backend;
    u->srv = srv;
    if (srv) {
        free(scheme);
        scheme = xstrdup("mongodb+srv");
    }
    u->scheme = scheme;
    if (driver)
        u->driver = xstrndup(driver, (size_t)(sep - driver));
    const char *rest = sep + 3;
    err_code rc = backend == DB_BACKEND_SQLITE ? parse_sqlite(url, rest, u, e)
                                               : parse_network(url, rest, u, pw_off, pw_len, e);
    if (rc != ERR_OK) {
        db_url_free(u);
        *pw_len = (size_t)-1;
        return rc;
    }
    *out = u;
    return ERR_OK;
}

err_code db_url_parse(const char *url, db_url **out, err_t *e)
{
    size_t off, len;
    if (!out)
        return err_set(e, ERR_INTERNAL, "db_url_parse: no output");
    return parse(url, out, &off, &len, e);
}

char *db_url_masked(const char *url)
{
    if (!url)
        return NULL;
    db_url *u = NULL;
    size_t off, len;
    if (parse(url, &u, &off, &len, NULL) != ERR_OK)
        return urlmask(url); /* malformed: the lenient rule */
    db_url_free(u);
    return urlmask_at(url, len != (size_t)-1 ? off : URLMASK_NONE, len);
}

/* ---------------------------------------------------------- from conf --- */

static void put_pct(sbuf_t *b, const char *s, const char *keep)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr(keep, *p))
            sbuf_putc(b, (char)*p);
        else
            sbuf_printf(b, "%%%02X", *p);
    }
}

/* "(environment)" / " default" style suffix for origin text. */
static void put_origin(sbuf_t *b, const conf_t *c, const char *name)
{
    if (conf_source(c, name) == CONF_SRC_DEFAULT)
        sbuf_printf(b, "%s default", name);
    else
        sbuf_printf(b, "%s (%s)", name, conf_source_label(c, name));
}

static err_code var_problem(const conf_t *c, const char *name, err_t *e, const char *expect)
{
    char *shown = conf_display(c, name);
    err_set(e, ERR_INVALID, "%s=%.200s (from %s): expected %s", name, shown ? shown : "",
            conf_source_label(c, name), expect);
    free(shown);
    return ERR_INVALID;
}

static err_code supabase_url(const conf_t *c, sbuf_t *b, err_t *e)
{
    const char *su = conf_get(c, "SUPABASE_URL");
    const char *pw = conf_get(c, "SUPABASE_DB_PASSWORD");
    const char *region = conf_get(c, "SUPABASE_REGION");
    if (!su)
        return err_set(e, ERR_INVALID,
                       "DATABASE_TYPE=supabase needs SUPABASE_URL "
                       "(https://<project-ref>.supabase.co)");
    if (!pw)
        return err_set(e, ERR_INVALID,
                       "DATABASE_TYPE=supabase needs SUPABASE_DB_PASSWORD (the database "
                       "password from the Supabase dashboard)");
    const char *h = su;
    if (strncasecmp(h, "https://", 8) == 0)
        h += 8;
    else if (strncasecmp(h, "http://", 7) == 0)
        h += 7;
    size_t hn = strcspn(h, "/");
    bool ok = h[hn] == '\0' || strcmp(h + hn, "/") == 0;
    static const char suffix[] = ".supabase.co";
    size_t sl = sizeof suffix - 1;
    ok = ok && hn > sl && strncasecmp(h + hn - sl, suffix, sl) == 0;
    size_t rn = ok ? hn - sl : 0;
    for (size_t i = 0; ok && i < rn; i++)
        ok = isalnum((unsigned char)h[i]);
    if (!ok)
        return var_problem(c, "SUPABASE_URL", e, "https://<project-ref>.supabase.co");
    char *ref = xstrndup(h, rn);
    for (char *p = ref; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (region) {
        bool rok = *region != '\0';
        for (const char *p = region; rok && *p; p++)
            rok = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-';
        if (!rok) {
            free(ref);
            return var_problem(c, "SUPABASE_REGION", e, "a region such as us-east-1");
        }
        sbuf_printf(b, "postgresql://postgres.%s:", ref);
        put_pct(b, pw, "-._~");
        sbuf_printf(b,
                    "@aws-0-%s.pooler.supabase.com:6543/postgres?sslmode=require"
                    "&prepared_statements=false",
                    region);
    } else {
        sbuf_puts(b, "postgresql://postgres:");
        put_pct(b, pw, "-._~");
        sbuf_printf(b, "@db.%s.supabase.co:5432/postgres?sslmode=require", ref);
    }
    free(ref);
    return ERR_OK;
}

err_code db_url_from_conf(const conf_t *c, char **url_text, char **origin, err_t *e)
{
    if (!c || !url_text || !origin)
        return err_set(e, ERR_INTERNAL, "db_url_from_conf: missing argument");
    *url_text = NULL;
    *origin = NULL;
    sbuf_t url = SBUF_INIT, org = SBUF_INIT;
    err_code rc = ERR_OK;
    const char *dburl = conf_get(c, "DATABASE_URL");
    const char *type_raw = conf_get(c, "DATABASE_TYPE");
    if (dburl) {
        sbuf_puts(&url, dburl);
        put_origin(&org, c, "DATABASE_URL");
    } else {
        const char *type = NULL;
        if (type_raw && (rc = conf_get_enum(c, "DATABASE_TYPE", &type, e)) != ERR_OK)
            goto fail;
        if (!type || strcmp(type, "sqlite") == 0) {
            const char *path = conf_get(c, "DATABASE_PATH");
            if (!path)
                path = "./chat_history.db";
            /* only what the parser would decode or cut must be escaped */
            sbuf_puts(&url, "sqlite:///");
            for (const char *q = path; *q; q++) {
                if (*q == '%' || *q == '?' || (unsigned char)*q < 0x20)
                    sbuf_printf(&url, "%%%02X", (unsigned char)*q);
                else
                    sbuf_putc(&url, *q);
            }
            if (type)
                sbuf_printf(&org, "DATABASE_TYPE=%s (%s), ", type_raw,
                            conf_source_label(c, "DATABASE_TYPE"));
            put_origin(&org, c, "DATABASE_PATH");
        } else if (strcmp(type, "supabase") == 0) {
            rc = supabase_url(c, &url, e);
            if (rc != ERR_OK)
                goto fail;
            sbuf_printf(&org, "DATABASE_TYPE=%s (%s)", type_raw,
                        conf_source_label(c, "DATABASE_TYPE"));
        } else {
            const char *ex =
                strcmp(type, "mongodb") == 0 ? "mongodb://user:password@host:27017/database"
                : strcmp(type, "mysql") == 0 ? "mysql://user:password@host:3306/database"
                                             : "postgresql://user:password@host:5432/database";
            rc = err_set(e, ERR_INVALID, "DATABASE_TYPE=%s needs DATABASE_URL (e.g. %s)", type_raw,
                         ex);
            goto fail;
        }
    }
    db_url *u = NULL;
    rc = db_url_parse(sbuf_cstr(&url), &u, e);
    if (rc != ERR_OK) {
        err_prefix(e, "%s", sbuf_cstr(&org));
        goto fail;
    }
    db_url_free(u);
    *url_text = sbuf_detach(&url);
    *origin = sbuf_detach(&org);
    return ERR_OK;
fail:
    sbuf_free(&url);
    sbuf_free(&org);
    return rc;
}
