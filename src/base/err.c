/* base/err.c — filling err_t, naming error classes, retry decisions.
 * Must not: allocate (errors must be reportable when memory is short). */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

err_code err_set(err_t *e, err_code code, const char *fmt, ...)
{
    if (e) {
        e->code = code;
        e->native = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

err_code err_prefix(err_t *e, const char *fmt, ...)
{
    if (!e)
        return ERR_OK;
    char head[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    char old[sizeof e->msg];
    memcpy(old, e->msg, sizeof old);
    size_t hl = strlen(head), ol = strlen(old), cap = sizeof e->msg - 1;
    if (hl > cap)
        hl = cap;
    memcpy(e->msg, head, hl);
    size_t n = hl;
    if (n + 2 <= cap) {
        memcpy(e->msg + n, ": ", 2);
        n += 2;
    }
    if (ol > cap - n)
        ol = cap - n;
    memcpy(e->msg + n, old, ol);
    e->msg[n + ol] = '\0';
    return e->code;
}

void err_clear(err_t *e)
{
    if (e) {
        e->code = ERR_OK;
        e->native = 0;
        e->msg[0] = '\0';
    }
}

const char *err_code_name(err_code code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_INVALID: return "invalid";
    case ERR_NOMEM: return "nomem";
    case ERR_IO: return "io";
    case ERR_NOTFOUND: return "notfound";
    case ERR_EXISTS: return "exists";
    case ERR_BUSY: return "busy";
    case ERR_CONN: return "connection";
    case ERR_UNIQUE: return "unique";
    case ERR_CONSTRAINT: return "constraint";
    case ERR_TIMEOUT: return "timeout";
    case ERR_SYNTAX: return "syntax";
    case ERR_SCHEMA: return "schema";
    case ERR_AUTH: return "auth";
    case ERR_FATAL: return "fatal";
    case ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

bool err_retryable(err_code code)
{
    return code == ERR_BUSY || code == ERR_CONN || code == ERR_TIMEOUT;
}
