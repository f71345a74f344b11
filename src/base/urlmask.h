/* base/urlmask.h — hiding passwords in URL-looking text before it is shown: in
 * the user part ("scheme://user:***@host") and in password-like query options
 * ("?password=***", also pass, passwd, pwd, sslpassword, secret; any case, also
 * percent-encoded: "?%70assword=***").
 * The one implementation behind configuration display (base/conf.c) and the
 * database URL's masking (db/url.c).
 * Must not: print or log anything, or return text holding the password. */
#ifndef CTXD_BASE_URLMASK_H
#define CTXD_BASE_URLMASK_H

#include <stddef.h>
#include <stdint.h>

/* Any text, well-formed URL or not (caller frees; NULL -> NULL). The password is
 * what follows the first ':' of the user part up to the LAST '@' (so one holding
 * '/', '?', '#' or '@' is still hidden); without an '@', everything after a ':'
 * that does not start a port ("host:5432", "[::1]:27017", "h1:1,h2:2") is
 * hidden. Over-masking a malformed URL is acceptable, leaking is not. */
char *urlmask(const char *s);

/* s with its password s[off, off + len) replaced by "***" (an empty one too),
 * or none replaced when off is URLMASK_NONE, and the password-like query
 * options masked. For a URL whose password a parser has located. */
#define URLMASK_NONE SIZE_MAX
char *urlmask_at(const char *s, size_t off, size_t len);

#endif
