/* search/message.c — scoring one message across its fields (content, sender, scalar
 * metadata values, flattened as documented in search.h), the UTF-8-safe match
 * preview and nothing else.
 * Must not: decide visibility or thresholds for the caller, match metadata keys, or
 * write past the fixed buffers of search_match. */
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "search/search_int.h"

/* ---- metadata ------------------------------------------------------------------ */

typedef struct meta_walk {
    const search_query *q;
    search_ws *ws;
    double min_score;
    search_match *out;
    int values;
    char path[SEARCH_KEY_MAX];
} meta_walk;

/* Appends ".part" (or "part" at the start) to path, truncated at a UTF-8 boundary. */
static size_t path_push(char *path, size_t at, const char *part)
{
    size_t cap = SEARCH_KEY_MAX - 1;
    size_t n = at;
    if (n && n < cap)
        path[n++] = '.';
    size_t pl = strlen(part);
    if (n + pl > cap) {
        pl = n < cap ? cap - n : 0;
        while (pl > 0 && ((unsigned char)part[pl] & 0xC0) == 0x80)
            pl--;
    }
    memcpy(path + n, part, pl);
    n += pl;
    path[n] = '\0';
    return n;
}

static bool meta_value(meta_walk *w, const json_t *v, size_t plen, int depth)
{
    if (depth > SEARCH_META_MAX_DEPTH || w->values >= SEARCH_META_MAX_VALUES)
        return false;
    char num[64];
    const char *s = NULL;
    size_t sl = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x) {
            size_t pl = path_push(w->path, plen, k);
            if (meta_value(w, x, pl, depth + 1))
                return true;
            w->path[plen] = '\0';
        }
        return false;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x) {
            snprintf(num, sizeof num, "%zu", i);
            size_t pl = path_push(w->path, plen, num);
            if (meta_value(w, x, pl, depth + 1))
                return true;
            w->path[plen] = '\0';
        }
        return false;
    }
    case JSON_STRING:
        s = json_string_value(v);
        sl = json_string_length(v);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
        sl = strlen(num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        s = num;
        sl = strlen(num);
        break;
    case JSON_TRUE:
        s = "true";
        sl = 4;
        break;
    case JSON_FALSE:
        s = "false";
        sl = 5;
        break;
    default: return false; /* null */
    }
    w->values++;
    double sc = search_score(w->q, w->ws, s, sl, w->min_score, NULL);
    if (sc > w->out->score) {
        w->out->score = sc;
        w->out->field = SEARCH_FIELD_METADATA;
        memcpy(w->out->meta_key, w->path, sizeof w->out->meta_key);
    }
    return w->out->score >= 100.0; /* nothing can beat it: stop */
}

double search_score_message(const search_query *q, search_ws *ws, const char *sender,
                            const char *content, size_t content_len, const json_t *metadata,
                            double min_score, search_match *out)
{
    out->score = 0.0;
    out->field = SEARCH_FIELD_NONE;
    out->meta_key[0] = '\0';
    out->preview[0] = '\0';
    out->preview_len = 0;
    if (!content)
        content_len = 0;
    search_span cs = {0, 0};
    double c = search_score(q, ws, content, content_len, min_score, &cs);
    if (c > 0.0) {
        out->score = c;
        out->field = SEARCH_FIELD_CONTENT;
    }
    if (out->score < 100.0 && sender) {
        double s = search_score(q, ws, sender, strlen(sender), min_score, NULL);
        if (s > out->score) {
            out->score = s;
            out->field = SEARCH_FIELD_SENDER;
        }
    }
    if (out->score < 100.0 && metadata && json_is_object(metadata)) {
        meta_walk w = {q, ws, min_score, out, 0, {0}};
        meta_value(&w, metadata, 0, 0);
    }
    if (out->score > 0.0 && out->score >= min_score) {
        if (c <= 0.0)
            cs.begin = cs.end = 0;
        out->preview_len =
            search_preview(content, content_len, cs, out->preview, sizeof out->preview);
    } else {
        out->score = 0.0;
        out->field = SEARCH_FIELD_NONE;
    }
    return out->score;
}

/* ---- preview ------------------------------------------------------------------- */

/* Decodes one char at i: returns its byte length (>= 1); *cp = U+FFFD if invalid. */
static size_t dec(const char *t, size_t len, size_t i, int32_t *cp)
{
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t n =
        utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(len - i), &c);
    if (n <= 0 || c < 0) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return (size_t)n;
}

/* Start of the char that ends at i (i > 0). */
static size_t back(const char *t, size_t len, size_t i)
{
    size_t k = i - 1;
    while (k > 0 && i - k < 4 && ((unsigned char)t[k] & 0xC0) == 0x80)
        k--;
    int32_t c;
    if (k + dec(t, len, k, &c) == i && c != 0xFFFD)
        return k;
    return i - 1;
}

static bool is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

size_t search_preview(const char *text, size_t len, search_span span, char *out, size_t cap)
{
    static const char ell[] = "\xE2\x80\xA6"; /* … */
    if (!out || cap == 0)
        return 0;
    out[0] = '\0';
    if (cap < 8 || !text || len == 0)
        return 0;
    if (span.begin > len)
        span.begin = len;
    if (span.end > len || span.end < span.begin)
        span.end = span.begin;
    /* realign begin to a char boundary as the decoder sees it */
    size_t b = span.begin;
    while (b > 0 && b < len && ((unsigned char)text[b] & 0xC0) == 0x80 && span.begin - b < 3)
        b--;
    /* match width in chars (capped) */
    size_t mcps = 0;
    for (size_t i = b; i < span.end && mcps < SEARCH_PREVIEW_CPS; mcps++) {
        int32_t c;
        i += dec(text, len, i, &c);
    }
    size_t left = mcps >= SEARCH_PREVIEW_CPS ? 0 : (SEARCH_PREVIEW_CPS - mcps) / 2;
    size_t start = b;
    for (size_t k = 0; k < left && start > 0; k++)
        start = back(text, len, start);
    for (int k = 0; k < 8 && start > 0; k++) { /* do not start on a combining mark */
        int32_t c;
        dec(text, len, start, &c);
        if (!is_mark(c))
            break;
        start = back(text, len, start);
    }
    size_t w = 0;
    const size_t room = cap - 1 - 3; /* keep space for a trailing "…" and the NUL */
    if (start > 0) {
        memcpy(out, ell, 3);
        w = 3;
    }
    size_t i = start, cps = 0;
    bool space = false;
    while (i < len && cps < SEARCH_PREVIEW_CPS) {
        int32_t c;
        size_t n = dec(text, len, i, &c);
        if (search_is_space((uint32_t)c)) {
            space = true;
            i += n;
            continue;
        }
        utf8proc_uint8_t enc[4];
        size_t el = c == 0xFFFD ? 3 : n;
        if (space && w > 0 && !(w == 3 && start > 0))
            el += 1;
        if (w + el > room)
            break;
        if (space && w > 0 && !(w == 3 && start > 0)) {
            out[w++] = ' ';
            cps++;
        }
        space = false;
        if (c == 0xFFFD) {
            utf8proc_encode_char(0xFFFD, enc);
            memcpy(out + w, enc, 3);
            w += 3;
        } else {
            memcpy(out + w, text + i, n);
            w += n;
        }
        i += n;
        cps++;
    }
    /* anything but white space left? */
    size_t j = i;
    while (j < len) {
        int32_t c;
        size_t n = dec(text, len, j, &c);
        if (!search_is_space((uint32_t)c))
            break;
        j += n;
    }
    if (j < len) {
        memcpy(out + w, ell, 3);
        w += 3;
    }
    out[w] = '\0';
    return w;
}
