/* base/log.h — leveled logging to stderr, thread-safe, one line per record, as text
 * "2026-11-22T10:08:37.123456Z WARN  db: message key=value" or (LOG_FORMAT=json) as one
 * JSON object {"ts":...,"level":"warning","module":"db","msg":"message","key":"value"}.
 * Callers must never pass a password or token (use db_url_masked() and friends).
 * Must not: write to stdout (stdout belongs to the MCP stdio transport). */
#ifndef CTXD_BASE_LOG_H
#define CTXD_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
    LOG_OFF
} log_level;

void log_set_level(log_level lvl);
log_level log_get_level(void);
bool log_enabled(log_level lvl);
/* "debug","info","warning"/"warn","error","critical"(=error),"off" case-insensitive. */
bool log_parse_level(const char *s, log_level *out);
const char *log_level_name(log_level lvl);

typedef enum log_format {
    LOG_FMT_TEXT = 0,
    LOG_FMT_JSON
} log_format;
void log_set_format(log_format f);
bool log_parse_format(const char *s, log_format *out); /* "text" | "json", any case */

void log_msg(log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A record with named fields besides its message: " key=value" after the text (a value
 * with a blank or a quote is quoted), or keys of the JSON object. A NULL value is left
 * out; keys are the caller's constants. */
typedef struct log_field {
    const char *key;
    const char *value;
} log_field;
void log_fields(log_level lvl, const char *module, const log_field *f, size_t n, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

#define LOG_D(mod, ...) \
    do { \
        if (log_enabled(LOG_DEBUG)) \
            log_msg(LOG_DEBUG, mod, __VA_ARGS__); \
    } while (0)
#define LOG_I(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define LOG_W(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define LOG_E(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
