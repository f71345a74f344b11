/* xfer/scs_conv.c — the value conversions of `ctxd import-scs` (see scs_int.h): the time
 * encodings shared-context-server really stores (float or integer epoch seconds,
 * ISO-8601 text with or without an offset, CURRENT_TIMESTAMP text, epoch seconds as
 * text) to UTC microseconds; text made valid UTF-8 without NUL characters; metadata and
 * memory values parsed, kept as text under a key when they are not JSON; and the
 * warnings that say which row lost or guessed what.
 * Must not: read a table (scs_read.c does), or drop a row (only its reader decides). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "xfer/scs_int.h"

/* 10000-01-01T00:00:00Z: utc_format writes years up to 9999 */
#define SCS_MAX_EPOCH_S INT64_C(253402300800)

void scs_warn(scs_ctx *c, const char *fmt, ...)
{
    c->row_warned = true;
    if (c->warnings[c->kind]++ >= SCS_WARN_SHOWN || !c->o->progress)
        return;
    char msg[400], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "warning: %s %s: %s", scs_kind_name(c->kind), c->row, msg);
    str_utf8_cut(line);
    xfer_event ev = {.kind = XFER_EV_NOTE, .text = line};
    c->o->progress(c->o->progress_ud, &ev);
}

/* ---- times ---------------------------------------------------------------------------- */

static err_code epoch_us(int64_t sec, int64_t usec, utc_us *out, err_t *e)
{
    if (sec < 0 || sec >= SCS_MAX_EPOCH_S)
        return err_set(e, ERR_INVALID, "%lld epoch seconds is out of range", (long long)sec);
    *out = sec * 1000000 + usec;
    return ERR_OK;
}

static err_code epoch_real(double d, utc_us *out, err_t *e)
{
    if (!isfinite(d) || d < 0 || d >= (double)SCS_MAX_EPOCH_S)
        return err_set(e, ERR_INVALID, "%g epoch seconds is out of range", d);
    double sec = floor(d);
    int64_t us = llround((d - sec) * 1e6);
    return epoch_us((int64_t)sec + us / 1000000, us % 1000000, out, e);
}

/* "1765025012" or "1765025012.483221": epoch seconds written as text, read exactly
 * (fraction digits beyond the sixth are dropped, as utc_parse does). false when the
 * text is not of that form. */
static bool epoch_text(const char *s, utc_us *out, err_t *e, err_code *rc)
{
    int64_t sec = 0, usec = 0;
    size_t i = 0, nd = 0;
    for (; isdigit((unsigned char)s[i]); i++, nd++) {
        if (nd >= 12)
            return false;
        sec = sec * 10 + (s[i] - '0');
    }
    if (nd == 0)
        return false;
    if (s[i] == '.') {
        int k = 0;
        for (i++; isdigit((unsigned char)s[i]); i++, k++)
            if (k < 6)
                usec = usec * 10 + (s[i] - '0');
        for (; k < 6; k++)
            usec *= 10;
    }
    if (s[i])
        return false;
    *rc = epoch_us(sec, usec, out, e);
    return true;
}

static err_code time_text(const char *s, utc_us *out, err_t *e)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return err_set(e, ERR_INVALID, "'%.40s' is not a time", s);
    memcpy(buf, s, n);
    buf[n] = 0;
    err_code rc;
    if (epoch_text(buf, out, e, &rc))
        return rc;
    if (utc_parse(buf, out, e) != ERR_OK)
        return err_set(e, ERR_INVALID, "'%.40s' is not a time", buf);
    return ERR_OK;
}

err_code scs_time_at(db_stmt *s, int i, utc_us *out, err_t *e)
{
    const char *ty = db_col_text(s, i, NULL);
    if (!ty || strcmp(ty, "null") == 0)
        return ERR_NOTFOUND;
    if (strcmp(ty, "real") == 0)
        return epoch_real(db_col_double(s, i + 1), out, e);
    if (strcmp(ty, "integer") == 0)
        return epoch_us(db_col_int64(s, i + 1), 0, out, e);
    if (strcmp(ty, "text") == 0)
        return time_text(db_col_text(s, i + 1, NULL), out, e);
    return err_set(e, ERR_INVALID, "a %s value is not a time", ty);
}

static json_t *time_json(utc_us t)
{
    char iso[UTC_ISO_LEN];
    return json_string(utc_format(t, iso));
}

json_t *scs_time_req(scs_ctx *c, db_stmt *s, int i, const char *name, int alt, const char *alt_name)
{
    utc_us t = 0;
    err_t e;
    err_code rc = scs_time_at(s, i, &t, &e);
    if (rc == ERR_OK)
        return time_json(t);
    char why[200];
    snprintf(why, sizeof why, "%s %s", name, rc == ERR_NOTFOUND ? "is NULL" : e.msg);
    if (alt >= 0 && scs_time_at(s, alt, &t, &e) == ERR_OK) {
        scs_warn(c, "%s; %s used instead", why, alt_name);
        return time_json(t);
    }
    scs_warn(c, "%s; 1970-01-01T00:00:00Z used instead", why);
    return time_json(0);
}

/* ---- text -------------------------------------------------------------------------------- */

/* The length of the valid UTF-8 character at p (left bytes remain), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    size_t n = *p < 0x80             ? 1
               : (*p & 0xE0) == 0xC0 ? 2
               : (*p & 0xF0) == 0xE0 ? 3
               : (*p & 0xF8) == 0xF0 ? 4
                                     : 0;
    return n && n <= left && str_utf8_valid((const char *)p, n) ? n : 0;
}

json_t *scs_text(scs_ctx *c, db_stmt *s, int i, const char *name, const char *dflt)
{
    size_t n = 0;
    const char *t = db_col_text(s, i, &n);
    if (!t)
        return dflt ? json_string(dflt) : json_null();
    if (!memchr(t, 0, n) && str_utf8_valid(t, n))
        return json_stringn(t, n);
    sbuf_t b = SBUF_INIT;
    size_t nuls = 0, bad = 0;
    for (size_t k = 0; k < n;) {
        size_t len = utf8_len((const unsigned char *)t + k, n - k);
        if (len == 1 && t[k] == 0)
            nuls++;
        else if (len)
            sbuf_append(&b, t + k, len);
        else {
            sbuf_puts(&b, "\xEF\xBF\xBD"); /* U+FFFD */
            bad++;
        }
        k += len ? len : 1;
    }
    if (bad)
        scs_warn(c, "%s holds %zu byte(s) that are not UTF-8; replaced by U+FFFD", name, bad);
    if (nuls)
        scs_warn(c, "%s holds %zu NUL character(s); dropped", name, nuls);
    json_t *v = json_stringn(sbuf_cstr(&b), b.len);
    sbuf_free(&b);
    return v;
}

/* ---- JSON -------------------------------------------------------------------------------- */

/* The column's text parsed as any JSON value; NULL when it is not JSON (or not UTF-8).
 * *text: the column's text (NULL for SQL NULL). */
static json_t *json_at(db_stmt *s, int i, const char **text, size_t *n)
{
    *text = db_col_text(s, i, n);
    if (!*text)
        return NULL;
    json_error_t je;
    return json_loadb(*text, *n, JSON_DECODE_ANY, &je);
}

json_t *scs_json(scs_ctx *c, db_stmt *s, int i, const char *name, bool object)
{
    const char *text;
    size_t n;
    json_t *v = json_at(s, i, &text, &n);
    if (!text)
        return json_null();
    if (v && (!object || json_is_object(v) || json_is_null(v)))
        return v;
    json_t *kept = v;
    if (v)
        scs_warn(c, "%s is JSON but not an object; kept under \"" SCS_META_KEY "\"", name);
    else {
        kept = scs_text(c, s, i, name, NULL);
        scs_warn(c, "%s is not valid JSON; its text kept under \"" SCS_META_KEY "\"", name);
    }
    json_t *o = json_object();
    json_object_set_new(o, SCS_META_KEY, kept);
    return o;
}

json_t *scs_value(scs_ctx *c, db_stmt *s, int i)
{
    const char *text;
    size_t n;
    json_t *v = json_at(s, i, &text, &n);
    if (v)
        return v;
    if (!text) {
        scs_warn(c, "value is NULL; stored as JSON null");
        return json_null();
    }
    scs_warn(c, "value is not valid JSON; kept as a string");
    return scs_text(c, s, i, "value", NULL);
}
