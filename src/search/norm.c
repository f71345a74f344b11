/* search/norm.c — normalisation of queries and texts into code point arrays for the
 * scorers (definition in search.h): utf8proc NFKD + case fold + lump + ignorables,
 * generic diacritics dropped, white space collapsed, a source byte range per code
 * point (for previews). Also the growable-array helper of search/.
 * Must not: read outside (s, len), fail on invalid UTF-8, or allocate once the
 * output arrays are large enough. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/sbuf.h"
#include "search/search_int.h"

void search_grow(void **p, size_t *cap, size_t need, size_t el)
{
    if (need <= *cap && *p)
        return;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    *p = xrealloc(*p, n * el);
    *cap = n;
}

void stext_free(stext *t)
{
    free(t->cp);
    free(t->sb);
    free(t->se);
    memset(t, 0, sizeof *t);
}

static bool is_generic_mark(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
           (c >= 0xFE20 && c <= 0xFE2F);
}

/* Latin letters that have no canonical decomposition but users expect folded. */
static const char *latin_extra(uint32_t c)
{
    switch (c) {
    case 0x00F8: return "o";  /* ø */
    case 0x0111: return "d";  /* đ */
    case 0x00F0: return "d";  /* ð */
    case 0x0142: return "l";  /* ł */
    case 0x0127: return "h";  /* ħ */
    case 0x0131: return "i";  /* ı */
    case 0x00E6: return "ae"; /* æ */
    case 0x0153: return "oe"; /* œ */
    case 0x00FE: return "th"; /* þ */
    default: return NULL;
    }
}

typedef struct emitter {
    stext *t;
    size_t max;
    bool pending_space;
    uint32_t space_b, space_e;
} emitter;

static inline void put(emitter *e, uint32_t c, uint32_t b, uint32_t en)
{
    stext *t = e->t;
    if (t->len >= e->max)
        return;
    if (search_is_space(c)) {
        if (!e->pending_space) {
            e->pending_space = true;
            e->space_b = b;
        }
        e->space_e = en;
        return;
    }
    if (e->pending_space) {
        e->pending_space = false;
        if (t->len > 0 && t->len + 1 < e->max) {
            t->cp[t->len] = ' ';
            t->sb[t->len] = e->space_b;
            t->se[t->len] = e->space_e;
            t->len++;
        }
    }
    if (t->len >= e->max)
        return;
    t->cp[t->len] = c;
    t->sb[t->len] = b;
    t->se[t->len] = en;
    t->len++;
}

static void ensure(stext *t, size_t need)
{
    if (need <= t->cap && t->cp)
        return;
    size_t c1 = t->cap, c2 = t->cap, c3 = t->cap;
    SGROW(t->cp, c1, need);
    SGROW(t->sb, c2, need);
    SGROW(t->se, c3, need);
    t->cap = c1;
}

void stext_norm(stext *t, const char *s, size_t len, size_t max_cps)
{
    t->len = 0;
    if (len > (size_t)UINT32_MAX - 8)
        len = (size_t)UINT32_MAX - 8;
    if (!s)
        len = 0;
    emitter e = {t, max_cps, false, 0, 0};
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    int bound = 0;
    utf8proc_int32_t buf[64];
    while (i < len && t->len < max_cps) {
        /* room for one source char's expansion (<= 64) plus a pending space */
        ensure(t, t->len + 66);
        uint32_t b = (uint32_t)i;
        unsigned char c0 = u[i];
        if (c0 < 0x80) {
            uint32_t c = c0;
            if (c >= 'A' && c <= 'Z')
                c += 32;
            i++;
            put(&e, c, b, (uint32_t)i);
            continue;
        }
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t n = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0 || cp < 0) {
            i++;
            put(&e, 0xFFFD, b, (uint32_t)i);
            continue;
        }
        i += (size_t)n;
        uint32_t en = (uint32_t)i;
        uint32_t c = (uint32_t)cp;
        if (c >= 0xAC00 && c <= 0xD7A3) { /* Hangul syllable: keep whole */
            put(&e, c, b, en);
            continue;
        }
        const char *x = latin_extra(c);
        if (!x && c >= 0xC0 && c < 0x250) {
            /* capital forms of the extra letters fold first */
            utf8proc_int32_t lc = utf8proc_tolower(cp);
            x = latin_extra((uint32_t)lc);
        }
        if (x) {
            for (; *x; x++)
                put(&e, (uint32_t)(unsigned char)*x, b, en);
            continue;
        }
        utf8proc_ssize_t k =
            utf8proc_decompose_char(cp, buf, (utf8proc_ssize_t)(sizeof buf / sizeof buf[0]),
                                    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                                        UTF8PROC_LUMP | UTF8PROC_IGNORE,
                                    &bound);
        if (k < 0 || k > (utf8proc_ssize_t)(sizeof buf / sizeof buf[0])) {
            put(&e, c, b, en);
            continue;
        }
        for (utf8proc_ssize_t j = 0; j < k; j++) {
            uint32_t d = (uint32_t)buf[j];
            if (is_generic_mark(d))
                continue;
            if (d >= 'A' && d <= 'Z')
                d += 32;
            const char *y = latin_extra(d);
            if (y) {
                for (; *y; y++)
                    put(&e, (uint32_t)(unsigned char)*y, b, en);
                continue;
            }
            put(&e, d, b, en);
        }
    }
}

size_t search_normalize_utf8(search_ws *ws, const char *s, size_t len, char *out, size_t cap)
{
    stext_norm(&ws->a, s, len, SEARCH_TEXT_MAX_CPS);
    size_t need = 0, w = 0;
    bool full = false;
    for (size_t i = 0; i < ws->a.len; i++) {
        utf8proc_uint8_t tmp[4];
        utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)ws->a.cp[i], tmp);
        if (n <= 0)
            continue;
        if (!full && cap > 0 && w + (size_t)n < cap) {
            memcpy(out + w, tmp, (size_t)n);
            w += (size_t)n;
        } else {
            full = true;
        }
        need += (size_t)n;
    }
    if (cap > 0)
        out[w] = '\0';
    return need;
}
