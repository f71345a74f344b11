/* base/urlmask.c — see urlmask.h.
 * Must not: keep the unmasked text anywhere but the caller's input. */
#include "base/urlmask.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/sbuf.h"

/* Whether k[0..n), percent-decoded as a URL parser does before a driver sees it, is a
 * password-like option name. */
static bool is_pw_key(const char *k, size_t n)
{
    static const char *keys[] = {"password", "pass", "passwd", "pwd", "sslpassword", "secret"};
    char *name = NULL;
    if (!str_percent_decode(k, n, &name))
        return false; /* a parser refuses the URL: no driver gets the option */
    bool hit = false;
    for (size_t i = 0; !hit && i < sizeof keys / sizeof keys[0]; i++)
        hit = strcasecmp(name, keys[i]) == 0;
    free(name);
    return hit;
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

/* Where the user part of s starts: after "scheme://" when s starts with a scheme (a
 * letter, then letters, digits, '+', '-', '.'), else at s: a "://" further on (in a
 * path or an option value) must not hide a password written before it. */
static const char *user_part(const char *s)
{
    const char *sep = strstr(s, "://");
    if (!sep || !isalpha((unsigned char)s[0]))
        return s;
    for (const char *p = s; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return s;
    return sep + 3;
}

/* Where the password of s is (see urlmask.h); false when s shows none. */
static bool find_password(const char *s, size_t *off, size_t *len)
{
    const char *user = user_part(s);
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
