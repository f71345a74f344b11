/* base/log.c — leveled, thread-safe logging to stderr with UTC timestamps, as text or
 * as JSON lines (the JSON string escaping is written here: a record is built in a stack
 * buffer without allocating, and bytes that are not UTF-8 become U+FFFD so the line stays
 * valid JSON). One write(2) per record so lines from threads and processes never
 * interleave; a record longer than the buffer is cut (at a character, JSON kept whole).
 * Must not: write to stdout, allocate, or format secrets (callers mask them first). */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/utc.h"

static _Atomic int g_level = LOG_INFO;
static _Atomic int g_format = LOG_FMT_TEXT;

void log_set_format(log_format f)
{
    atomic_store(&g_format, (int)f);
}

bool log_parse_format(const char *s, log_format *out)
{
    if (s && strcasecmp(s, "text") == 0)
        *out = LOG_FMT_TEXT;
    else if (s && strcasecmp(s, "json") == 0)
        *out = LOG_FMT_JSON;
    else
        return false;
    return true;
}

void log_set_level(log_level lvl)
{
    atomic_store(&g_level, (int)lvl);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load(&g_level);
}

bool log_enabled(log_level lvl)
{
    return (int)lvl >= atomic_load(&g_level) && lvl != LOG_OFF;
}

bool log_parse_level(const char *s, log_level *out)
{
    static const struct {
        const char *name;
        log_level lvl;
    } t[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO},      {"warning", LOG_WARN}, {"warn", LOG_WARN},
        {"error", LOG_ERROR}, {"critical", LOG_ERROR}, {"off", LOG_OFF},
    };
    if (!s)
        return false;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcasecmp(s, t[i].name) == 0) {
            *out = t[i].lvl;
            return true;
        }
    }
    return false;
}

const char *log_level_name(log_level lvl)
{
    switch (lvl) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_WARN: return "WARN";
    case LOG_ERROR: return "ERROR";
    case LOG_OFF: return "OFF";
    }
    return "?";
}

#define LOG_LINE_MAX 2048

/* A record under construction: text or JSON, never past cap (room kept for the end). */
typedef struct rec {
    char b[LOG_LINE_MAX];
    size_t n;
    size_t reserve; /* bytes kept free for what must close the record */
    bool json, full;
} rec;

static size_t room(const rec *r)
{
    size_t used = r->n + r->reserve + 4; /* "}\n" always fits after it */
    return used < sizeof r->b ? sizeof r->b - used : 0;
}

static void put(rec *r, const char *s, size_t len)
{
    if (len > room(r)) {
        len = room(r);
        r->full = true;
    }
    memcpy(r->b + r->n, s, len);
    r->n += len;
}

/* Length of the UTF-8 character at s (1..4), or 0 if s does not start a valid one. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t k = s[0] < 0x80             ? 1
               : (s[0] & 0xE0) == 0xC0 ? 2
               : (s[0] & 0xF0) == 0xE0 ? 3
               : (s[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    if (k == 0 || k > left || (k == 2 && s[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* Appends s: in JSON escaped (control characters, quote, backslash; invalid UTF-8 as
 * U+FFFD), in text with line breaks folded to blanks. Stops whole at the buffer's end. */
static void put_str(rec *r, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        char esc[8];
        const char *out = (const char *)p + i;
        size_t olen, adv;
        size_t k = utf8_len(p + i, len - i);
        if (k == 0) {
            out = r->json ? "\\ufffd" : "?";
            olen = strlen(out);
            adv = 1;
        } else if (k == 1 &&
                   (p[i] < 0x20 || p[i] == 0x7f || (r->json && (p[i] == '"' || p[i] == '\\')))) {
            if (!r->json)
                esc[0] = ' ', esc[1] = 0;
            else if (p[i] == '"' || p[i] == '\\')
                esc[0] = '\\', esc[1] = (char)p[i], esc[2] = 0;
            else
                snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            out = esc;
            olen = strlen(esc);
            adv = 1;
        } else {
            olen = adv = k;
        }
        if (olen > room(r)) {
            r->full = true;
            return;
        }
        memcpy(r->b + r->n, out, olen);
        r->n += olen;
        i += adv;
    }
}

/* ,"key":"value" (value escaped, len bytes; cut when the record is full, the closing
 * quote always written); nothing once the record is full. */
static void put_json_pair(rec *r, const char *key, const char *v, size_t len)
{
    size_t k = strlen(key);
    if (r->full || room(r) < k + 8) {
        r->full = true;
        return;
    }
    put(r, ",\"", 2);
    put_str(r, key, k);
    put(r, "\":\"", 3);
    r->reserve = 1; /* the closing quote */
    put_str(r, v, len);
    r->reserve = 0;
    memcpy(r->b + r->n++, "\"", 1);
}

__attribute__((format(printf, 5, 0))) static void
emit(log_level lvl, const char *module, const log_field *f, size_t nf, const char *fmt, va_list ap)
{
    rec r = {.n = 0, .reserve = 0, .json = atomic_load(&g_format) == LOG_FMT_JSON, .full = false};
    char ts[UTC_ISO_LEN];
    utc_format(utc_now(), ts);
    module = module ? module : "ctxd";
    char msg[LOG_LINE_MAX];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    if (r.json) {
        static const char *const names[] = {"debug", "info", "warning", "error", "off"};
        put(&r, "{\"ts\":\"", 7);
        put(&r, ts, strlen(ts));
        put(&r, "\"", 1);
        put_json_pair(&r, "level", names[lvl], strlen(names[lvl]));
        put_json_pair(&r, "module", module, strlen(module));
        put_json_pair(&r, "msg", msg, mlen);
        for (size_t i = 0; i < nf; i++)
            if (f[i].value)
                put_json_pair(&r, f[i].key, f[i].value, strlen(f[i].value));
        memcpy(r.b + r.n, "}\n", 2); /* room() kept space for it */
        r.n += 2;
    } else {
        char head[UTC_ISO_LEN + 64];
        int n = snprintf(head, sizeof head, "%s %-5s %s: ", ts, log_level_name(lvl), module);
        put(&r, head, n < 0 ? 0 : (size_t)n);
        put_str(&r, msg, mlen);
        for (size_t i = 0; i < nf; i++)
            if (f[i].value) {
                const char *v = f[i].value;
                bool quote = !*v || strpbrk(v, " \t\"=") != NULL;
                put(&r, " ", 1);
                put(&r, f[i].key, strlen(f[i].key));
                put(&r, quote ? "=\"" : "=", quote ? 2 : 1);
                put_str(&r, v, strlen(v)); /* a quote inside stays: text is for people */
                if (quote)
                    put(&r, "\"", 1);
            }
        r.b[r.n++] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, r.b, r.n);
    (void)w;
}

void log_msg(log_level lvl, const char *module, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(lvl, module, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(log_level lvl, const char *module, const log_field *f, size_t n, const char *fmt,
                ...)
{
    if (!log_enabled(lvl))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(lvl, module, f, n, fmt, ap);
    va_end(ap);
}
