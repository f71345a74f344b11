/* base/err.h — the error struct every layer fills, and the small set of error
 * codes (classes) that retries and user-facing messages are decided from.
 * Must not: know about SQL, MCP or any particular library's codes. */
#ifndef CTXD_BASE_ERR_H
#define CTXD_BASE_ERR_H

#include <stdbool.h>

typedef enum err_code {
    ERR_OK = 0,
    ERR_INVALID,    /* bad input: URL, flag, variable, argument (user must fix) */
    ERR_NOMEM,      /* allocation failed */
    ERR_IO,         /* file system / OS error */
    ERR_NOTFOUND,   /* the thing asked for does not exist */
    ERR_EXISTS,     /* refused because it already exists (e.g. overwrite=false) */
    ERR_BUSY,       /* database busy/locked/serialization failure: retry */
    ERR_CONN,       /* connection lost or refused: reconnect and retry */
    ERR_UNIQUE,     /* unique-constraint violation */
    ERR_CONSTRAINT, /* other constraint violation (FK, NOT NULL, CHECK) */
    ERR_TIMEOUT,    /* a deadline passed (pool wait, statement timeout) */
    ERR_SYNTAX,     /* SQL syntax / schema mismatch: a bug or wrong schema */
    ERR_SCHEMA,     /* schema version problem: newer than binary, edited migration */
    ERR_AUTH,       /* authentication / permission refused by the server */
    ERR_FATAL,      /* anything else from a dependency: not retryable */
    ERR_INTERNAL    /* a bug in ctxd */
} err_code;

typedef struct err {
    err_code code;
    int native;    /* the library's own code (sqlite extended code, errno...) or 0 */
    char msg[512]; /* one line a user can act on; never contains a password */
} err_t;

/* Fills *e (if e is not NULL) and returns code. printf-style message. */
err_code err_set(err_t *e, err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "<prefix>: " (context as it bubbles up). */
err_code err_prefix(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(err_t *e);
/* "busy", "connection", "unique", ... stable lowercase names for logs/metrics. */
const char *err_code_name(err_code code);
/* True for classes where retrying the same call may succeed (busy, conn, timeout). */
bool err_retryable(err_code code);

#endif
