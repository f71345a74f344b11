/* base/log.c — leveled, thread-safe logging to stderr with UTC timestamps.
 * One write(2) per record so lines from threads and processes never interleave.
 * Must not: write to stdout, or format secrets (callers mask them first). */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/utc.h"

static _Atomic int g_level = LOG_INFO;

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

void log_msg(log_level lvl, const char *module, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;
    char line[2048];
    char ts[UTC_ISO_LEN];
    int n = snprintf(line, sizeof line, "%s %-5s %s: ", utc_format(utc_now(), ts),
                     log_level_name(lvl), module ? module : "ctxd");
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* one record, one line: fold embedded newlines */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
