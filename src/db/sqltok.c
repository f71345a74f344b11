/* db/sqltok.c — the SQL lexical scanner behind sqltok.h: placeholder counting,
 * `?` -> `$n` rewriting and script splitting, all built on one function that
 * recognises (and skips) the spans where `?` and `;` mean nothing: strings,
 * quoted identifiers, comments and dollar-quoted bodies.
 * Must not: understand SQL grammar beyond the CREATE TRIGGER/FUNCTION/PROCEDURE
 * BEGIN...END heuristic of the splitter, or allocate outside the rewrite. */
#include "db/sqltok.h"

#include <string.h>
#include "base/sbuf.h"

typedef enum span_kind {
    SPAN_NONE = 0,
    SPAN_STRING,
    SPAN_IDENT,
    SPAN_COMMENT,
    SPAN_BODY
} span_kind;

static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static bool is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}
static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Scans a quoted span starting at s[i] == q; doubled quotes are escapes;
 * backslash escapes when `bs`. Returns the index after the closing quote, or n. */
static size_t skip_quoted(const char *s, size_t n, size_t i, char q, bool bs)
{
    i++;
    while (i < n) {
        char c = s[i];
        if (bs && c == '\\') {
            i += 2;
            continue;
        }
        if (c == q) {
            if (i + 1 < n && s[i + 1] == q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return n;
}

/* If a span that hides `?` and `;` starts at s[i], returns the index just after
 * it and sets *kind; otherwise returns i with *kind = SPAN_NONE. Unterminated
 * spans run to the end. */
static size_t skip_span(const char *s, size_t n, size_t i, span_kind *kind)
{
    unsigned char c = (unsigned char)s[i];
    unsigned char prev = i > 0 ? (unsigned char)s[i - 1] : ' ';
    *kind = SPAN_NONE;
    switch (c) {
    case '\'': *kind = SPAN_STRING; return skip_quoted(s, n, i, '\'', false);
    case 'E':
    case 'e':
        if (i + 1 < n && s[i + 1] == '\'' && !is_ident_char(prev)) {
            *kind = SPAN_STRING;
            return skip_quoted(s, n, i + 1, '\'', true);
        }
        return i;
    case '"': *kind = SPAN_IDENT; return skip_quoted(s, n, i, '"', false);
    case '`': *kind = SPAN_IDENT; return skip_quoted(s, n, i, '`', false);
    case '-':
        if (i + 1 < n && s[i + 1] == '-') {
            *kind = SPAN_COMMENT;
            const char *nl = memchr(s + i, '\n', n - i);
            return nl ? (size_t)(nl - s) + 1 : n;
        }
        return i;
    case '/':
        if (i + 1 < n && s[i + 1] == '*') {
            int depth = 1;
            *kind = SPAN_COMMENT;
            i += 2;
            while (i < n && depth > 0) {
                if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else
                    i++;
            }
            return i;
        }
        return i;
    case '$': {
        if (is_ident_char(prev))
            return i; /* part of an identifier: a$b */
        size_t j = i + 1;
        if (j < n && is_ident_start((unsigned char)s[j])) {
            j++;
            while (j < n && is_ident_char((unsigned char)s[j]) && s[j] != '$')
                j++;
        }
        if (j >= n || s[j] != '$')
            return i;            /* $1, a lone $ */
        size_t tlen = j + 1 - i; /* "$tag$" */
        const char *tag = s + i;
        size_t k = j + 1;
        *kind = SPAN_BODY;
        while (k + tlen <= n) {
            if (s[k] == '$' && memcmp(s + k, tag, tlen) == 0)
                return k + tlen;
            k++;
        }
        return n;
    }
    default: return i;
    }
}

/* Calls on_param(ud, index_of_question_mark) for every placeholder. */
static int scan_params(const char *sql, void (*on_param)(void *, size_t), void *ud)
{
    size_t n = strlen(sql), i = 0;
    int count = 0;
    while (i < n) {
        span_kind k;
        size_t j = skip_span(sql, n, i, &k);
        if (k != SPAN_NONE) {
            i = j;
            continue;
        }
        if (sql[i] == '?') {
            count++;
            if (on_param)
                on_param(ud, i);
        } else if (is_ident_char((unsigned char)sql[i])) {
            /* skip the whole word so E/e inside identifiers is never a prefix */
            while (i + 1 < n && is_ident_char((unsigned char)sql[i + 1]))
                i++;
        }
        i++;
    }
    return count;
}

int sqltok_count_params(const char *sql)
{
    return sql ? scan_params(sql, NULL, NULL) : 0;
}

typedef struct rewrite_ctx {
    const char *sql;
    size_t copied;
    int n;
    sbuf_t out;
} rewrite_ctx;

static void rewrite_one(void *ud, size_t at)
{
    rewrite_ctx *r = ud;
    sbuf_append(&r->out, r->sql + r->copied, at - r->copied);
    sbuf_printf(&r->out, "$%d", ++r->n);
    r->copied = at + 1;
}

char *sqltok_rewrite_dollar(const char *sql, int *nparams)
{
    rewrite_ctx r = {sql ? sql : "", 0, 0, SBUF_INIT};
    scan_params(r.sql, rewrite_one, &r);
    sbuf_puts(&r.out, r.sql + r.copied);
    if (nparams)
        *nparams = r.n;
    if (r.out.cap == 0)
        sbuf_reserve(&r.out, 1); /* "" -> an allocated "" */
    return sbuf_detach(&r.out);
}

bool sqltok_is_blank(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (is_space((unsigned char)s[i])) {
            i++;
            continue;
        }
        span_kind k;
        size_t j = skip_span(s, n, i, &k);
        if (k != SPAN_COMMENT)
            return false;
        i = j;
    }
    return true;
}

static bool word_is(const char *w, size_t wl, const char *kw)
{
    size_t kl = strlen(kw);
    if (wl != kl)
        return false;
    for (size_t i = 0; i < kl; i++) {
        char c = w[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != kw[i])
            return false;
    }
    return true;
}

bool sqltok_next_stmt(const char *sql, size_t *pos, size_t *start, size_t *len)
{
    if (!sql)
        return false;
    size_t n = strlen(sql);
    size_t i = *pos;
    while (i < n) {
        size_t first = (size_t)-1, last_end = 0; /* first token, end of last token */
        int nwords = 0, depth = 0;
        bool create = false; /* statement starts with CREATE */
        bool block = false;  /* CREATE [OR REPLACE] [TEMP] TRIGGER|FUNCTION|PROCEDURE */
        while (i < n) {
            unsigned char c = (unsigned char)sql[i];
            if (c == ';' && depth == 0)
                break;
            if (is_space(c)) {
                i++;
                continue;
            }
            span_kind k;
            size_t j = skip_span(sql, n, i, &k);
            if (k == SPAN_COMMENT) {
                i = j;
                continue;
            }
            if (first == (size_t)-1)
                first = i;
            if (k != SPAN_NONE) {
                i = j;
                last_end = j;
                continue;
            }
            if (!is_ident_start(c)) {
                i++;
                last_end = i;
                continue;
            } /* also ';' in a body */
            size_t w = i;
            while (i < n && is_ident_char((unsigned char)sql[i]))
                i++;
            const char *wp = sql + w;
            size_t wl = i - w;
            last_end = i;
            nwords++;
            if (nwords == 1) {
                create = word_is(wp, wl, "CREATE");
            } else if (create && !block && nwords <= 5) {
                if (word_is(wp, wl, "TRIGGER") || word_is(wp, wl, "FUNCTION") ||
                    word_is(wp, wl, "PROCEDURE"))
                    block = true;
                else if (!(word_is(wp, wl, "OR") || word_is(wp, wl, "REPLACE") ||
                           word_is(wp, wl, "TEMP") || word_is(wp, wl, "TEMPORARY")))
                    create = false;
            } else if (block) {
                if (word_is(wp, wl, "BEGIN") || word_is(wp, wl, "CASE"))
                    depth++;
                else if (word_is(wp, wl, "END") && depth > 0)
                    depth--;
            }
        }
        size_t next = i < n ? i + 1 : n;
        if (first != (size_t)-1) {
            *start = first;
            *len = last_end - first;
            *pos = next;
            return true;
        }
        i = next;
    }
    *pos = n;
    return false;
}

size_t sqltok_count_stmts(const char *sql)
{
    size_t pos = 0, st, len, count = 0;
    while (sqltok_next_stmt(sql, &pos, &st, &len))
        count++;
    return count;
}
