/* base/urlmask.c — see urlmask.h.
 * Must not: keep the unmasked text anywhere but the caller's input. */
#include "base/urlmask.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/sbuf.h"

static bool is_pw_key(const char *k, size_t n)
{
    static const char *keys[] = {"password", "pass", "passwd", "pwd", "sslpassword", "secret"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == n && strncasecmp(k, keys[i], n) == 0)
            return true;
    return false;
}

/* Appends s to b with the values of password-like query options masked. */
static void put_query_masked(sbuf_t *b, const char *s)
{
    const char *q = strchr(s, '?');
    if (!q) {
        sbuf_puts(b, s);
        return;
    }
    sbuf_append(b, s, (size_t)(q - s));
    const char *p = q;
    while (*p) {
        sbuf_putc(b, *p++); /* '?' or '&' */
        const char *end = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && is_pw_key(p, (size_t)(eq - p))) {
            sbuf_append(b, p, (size_t)(eq - p) + 1);
            sbuf_puts(b, "***");
        } else {
            sbuf_append(b, p, (size_t)(end - p));
        }
        p = end;
    }
}

char *urlmask_at(const char *s, size_t off, size_t len)
{
    if (!s)
        return NULL;
    if (off == URLMASK_NONE) {
        sbuf_t b = SBUF_INIT;
        put_query_masked(&b, s);
        return sbuf_detach(&b);
    }
    sbuf_t tmp = SBUF_INIT;
    sbuf_append(&tmp, s, off);
    sbuf_puts(&tmp, "***");
    sbuf_puts(&tmp, s + off + len);
    char *res = urlmask_at(sbuf_cstr(&tmp), URLMASK_NONE, 0);
    sbuf_free(&tmp);
    return res;
}

/* Where the password of s is (see urlmask.h); false when s shows none. */
static bool find_password(const char *s, size_t *off, size_t *len)
{
    const char *sep = strstr(s, "://");
    const char *user = sep ? sep + 3 : s;
    const char *at = strrchr(user, '@');
    if (at) {
        const char *colon = memchr(user, ':', (size_t)(at - user));
        if (!colon)
            return false;
        *off = (size_t)(colon + 1 - s);
        *len = (size_t)(at - colon - 1);
        return true;
    }
    /* No '@': "host:port[,host:port]" is fine; "user:secret..." is not. */
    int depth = 0;
    for (const char *p = user; *p && *p != '/' && *p != '?'; p++) {
        if (*p == '[') {
            depth++;
        } else if (*p == ']' && depth > 0) {
            depth--;
        } else if (*p == ':' && depth == 0) {
            size_t dn = strspn(p + 1, "0123456789");
            char nx = p[1 + dn];
            if (nx != '\0' && nx != '/' && nx != '?' && nx != ',') {
                *off = (size_t)(p + 1 - s);
                *len = strlen(p + 1); /* the rest: nothing after it can be trusted */
                return true;
            }
        }
    }
    return false;
}

char *urlmask(const char *s)
{
    if (!s)
        return NULL;
    size_t off = 0, len = 0;
    if (!find_password(s, &off, &len))
        off = URLMASK_NONE;
    return urlmask_at(s, off, len);
}
