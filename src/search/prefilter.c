/* search/prefilter.c — the trigram prefilter plan for search_context and the
 * normalised index text of a message (see prefilter.h for the guarantee and its
 * proof). Must not: touch a database, or declare a plan sound outside the proof. */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/sbuf.h"
#include "search/prefilter.h"
#include "search/search_int.h"

#define PF_EPS 1e-9

/* N(s) malloc'ed; *n = its length in bytes. */
static char *norm_dup(search_ws *ws, const char *s, size_t len, size_t *n)
{
    char small[256];
    size_t need = search_normalize_utf8(ws, s, len, small, sizeof small);
    char *out = xmalloc(need + 1);
    if (need < sizeof small)
        memcpy(out, small, need + 1);
    else
        search_normalize_utf8(ws, s, len, out, need + 1);
    *n = need;
    return out;
}

/* 200L/(m+k) >= T, conservatively */
static bool reaches(long L, long den, double t)
{
    return 200.0 * (double)L >= (t - PF_EPS) * (double)den;
}

/* Alignment count: q-side length qa with g countable trigram positions, other side
 * length k in kmin..kmax. Returns the least number of countable positions that
 * survive over every (k, L) reaching T (LONG_MAX when none reaches it); the plan
 * needs it > 0. */
static long align_min(long qa, long g, long kmin, long kmax, double t)
{
    long best = LONG_MAX;
    for (long k = kmin; k <= kmax; k++)
        for (long L = 0; L <= k && L <= qa; L++)
            if (reaches(L, qa + k, t)) {
                long left = g - 3 * (qa - L) - 2 * (k - L);
                if (left < best)
                    best = left;
            }
    return best;
}

static bool tri_eq(const int32_t *cp, size_t a, size_t b)
{
    return cp[a] == cp[b] && cp[a + 1] == cp[b + 1] && cp[a + 2] == cp[b + 2];
}

/* Whether a picked position before `limit` starts the same trigram as position x. */
static bool picked_before(const bool *pick, const int32_t *cp, size_t limit, size_t x)
{
    for (size_t p = 0; p < limit; p++)
        if (pick[p] && tri_eq(cp, p, x))
            return true;
    return false;
}

void search_prefilter_plan(search_ws *ws, const char *query, size_t len, double threshold,
                           search_prefilter *out)
{
    memset(out, 0, sizeof *out);
    size_t nb;
    char *nq = norm_dup(ws, query, len, &nb);
    /* code points and their byte offsets */
    int32_t *cp = xmalloc((nb + 1) * sizeof *cp);
    size_t *off = xmalloc((nb + 2) * sizeof *off);
    size_t m = 0, i = 0;
    while (i < nb && m < SEARCH_QUERY_MAX_CPS) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r =
            utf8proc_iterate((const utf8proc_uint8_t *)nq + i, (utf8proc_ssize_t)(nb - i), &c);
        if (r <= 0) { /* N() output is valid UTF-8; be defensive anyway */
            c = 0xFFFD;
            r = 1;
        }
        off[m] = i;
        cp[m++] = c;
        i += (size_t)r;
    }
    off[m] = i;
    size_t np = m >= 3 ? m - 2 : 0; /* trigram positions of Q */

    /* distinct tokens: first occurrence and length */
    size_t *ts = xmalloc((m + 1) * sizeof *ts), *tl = xmalloc((m + 1) * sizeof *tl);
    size_t nt = 0;
    for (size_t p = 0; p < m;) {
        if (!search_word_cp((uint32_t)cp[p])) {
            p++;
            continue;
        }
        size_t st = p;
        while (p < m && search_word_cp((uint32_t)cp[p]))
            p++;
        bool dup = false;
        for (size_t j = 0; j < nt && !dup; j++)
            dup = tl[j] == p - st && !memcmp(cp + ts[j], cp + st, (p - st) * sizeof *cp);
        if (!dup) {
            ts[nt] = st;
            tl[nt++] = p - st;
        }
    }

    bool sound = np > 0 && threshold > 0;
    /* P: windows / texts of length k <= m; pp = surviving positions of Q */
    long pp = sound ? align_min((long)m, (long)np, 1, (long)m, threshold) : 0;
    sound = sound && pp > 0;

    /* K (token set): pk = surviving within-token positions of the joined tokens */
    long a = 0, g = 0, sshort = -1, xlong = -1, pk = LONG_MAX;
    bool has_long = false;
    for (size_t j = 0; j < nt; j++) {
        a += (long)tl[j] + (j ? 1 : 0);
        if (tl[j] >= 3) {
            has_long = true;
            g += (long)tl[j] - 2;
            xlong += (long)tl[j] + 1;
        } else {
            sshort += (long)tl[j] + 1;
        }
    }
    if (sound && nt > 0) {
        /* (1) every query token in the text: needs a long token */
        if (!has_long)
            sound = false;
        /* (2) ratio over joined tokens, text side of any length */
        if (sound) {
            long kmax = 1;
            while (reaches(a, a + kmax + 1, threshold))
                kmax++;
            pk = align_min(a, g, 1, kmax, threshold);
            sound = pk > 0;
        }
        /* (3) common tokens all short */
        if (sound && sshort > 0) {
            double sv = (double)sshort, x = (double)xlong;
            double f2 = 100.0 * (1.0 - (x + 1.0) / (2.0 * sv + 1.0 + x));
            double f3 = 100.0 * (1.0 - 2.0 / (2.0 * sv + 2.0));
            if (f2 >= threshold - PF_EPS || f3 >= threshold - PF_EPS)
                sound = false;
        }
    }

    /* Choose the trigrams (pigeonhole): at least pp of the np positions of Q survive,
     * so any np-pp+1 of them contain a survivor; likewise g-pk+1 of the within-token
     * positions of the joined distinct tokens; and one trigram of every long token
     * (a shared long token: paths (1) and (3)). Fewer terms = fewer candidates. */
    bool *pick = xmalloc((np + 1) * sizeof *pick);
    for (size_t p = 0; p < np; p++)
        pick[p] = !sound; /* not sound: every trigram (unused by callers) */
    if (sound) {
        long needp = (long)np - pp + 1, needk = nt > 0 ? g - pk + 1 : 0;
        /* within-token positions of the distinct tokens, round-robin over tokens
         * starting at each token's middle (spread, most specific first) */
        size_t nk = 0;
        size_t *kpos = xmalloc((m + 1) * sizeof *kpos);
        size_t maxl = 0;
        for (size_t j = 0; j < nt; j++)
            if (tl[j] > maxl)
                maxl = tl[j];
        for (size_t r = 0; maxl >= 3 && r < maxl - 2; r++)
            for (size_t j = 0; j < nt; j++)
                if (tl[j] >= 3 && r < tl[j] - 2) {
                    size_t n3 = tl[j] - 2, mid = n3 / 2;
                    kpos[nk++] = ts[j] + (mid + r) % n3;
                }
        long coverp = 0, coverk = 0;
        size_t ki = 0, pi = 0;
        size_t longs_done = 0;
        for (;;) {
            size_t cand;
            if (longs_done < nt) { /* one trigram of each long token */
                size_t j = longs_done++;
                if (tl[j] < 3)
                    continue;
                cand = ts[j] + (tl[j] - 2) / 2;
            } else if (coverk < needk && ki < nk) {
                cand = kpos[ki++];
            } else if (coverp < needp && ki < nk) {
                cand = kpos[ki++]; /* within-token first: more specific */
            } else if (coverp < needp && pi < np) {
                cand = pi++;
            } else {
                break;
            }
            if (picked_before(pick, cp, np, cand))
                continue;
            /* mark every position with this trigram; count the covers */
            for (size_t p = 0; p < np; p++)
                if (tri_eq(cp, p, cand)) {
                    pick[p] = true;
                    coverp++;
                }
            for (size_t j = 0; j < nt; j++)
                for (size_t o = 0; tl[j] >= 3 && o < tl[j] - 2; o++)
                    coverk += tri_eq(cp, ts[j] + o, cand);
        }
        free(kpos);
        if (coverp < needp || coverk < needk) /* cannot happen; stay safe */
            for (size_t p = 0; p < np; p++)
                pick[p] = true;
    }
    /* distinct strings of the picked positions */
    if (np > 0) {
        out->terms = xmalloc(np * sizeof *out->terms);
        for (size_t p = 0; p < np; p++) {
            if (!pick[p])
                continue;
            if (picked_before(pick, cp, p, p))
                continue;
            size_t bl = off[p + 3] - off[p];
            char *t = xmalloc(bl + 1);
            memcpy(t, nq + off[p], bl);
            t[bl] = '\0';
            out->terms[out->nterms++] = t;
        }
    }
    out->sound = sound && out->nterms > 0;
    free(pick);
    free(ts);
    free(tl);
    free(cp);
    free(off);
    free(nq);
}

void search_prefilter_free(search_prefilter *p)
{
    if (!p)
        return;
    str_list_free(p->terms, p->nterms);
    memset(p, 0, sizeof *p);
}

static void put_norm(search_ws *ws, sbuf_t *b, const char *s, size_t len)
{
    size_t n;
    char *t = norm_dup(ws, s, len, &n);
    sbuf_putc(b, '\n');
    sbuf_append(b, t, n);
    free(t);
}

static void put_meta(search_ws *ws, sbuf_t *b, const json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x)
            put_meta(ws, b, x);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
            put_meta(ws, b, x);
        return;
    }
    case JSON_STRING: put_norm(ws, b, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: snprintf(num, sizeof num, "%.15g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(num, sizeof num, "true"); break;
    case JSON_FALSE: snprintf(num, sizeof num, "false"); break;
    default: return;
    }
    put_norm(ws, b, num, strlen(num));
}

char *search_index_text(search_ws *ws, const char *sender, const char *content, size_t content_len,
                        const char *metadata_json, size_t *out_len)
{
    sbuf_t b = SBUF_INIT;
    size_t n;
    char *t = norm_dup(ws, sender ? sender : "", sender ? strlen(sender) : 0, &n);
    sbuf_append(&b, t, n);
    free(t);
    put_norm(ws, &b, content ? content : "", content ? content_len : 0);
    if (metadata_json) {
        json_error_t je;
        json_t *md = json_loads(metadata_json, 0, &je);
        if (md && json_is_object(md))
            put_meta(ws, &b, md);
        json_decref(md);
    }
    if (out_len)
        *out_len = b.len;
    char *r = sbuf_detach(&b);
    return r ? r : calloc(1, 1);
}

char *search_message_index_text(const char *sender, const char *content, size_t content_len,
                                const char *metadata_json)
{
    search_ws *ws = search_ws_new();
    char *t = search_index_text(ws, sender, content, content_len, metadata_json, NULL);
    search_ws_free(ws);
    return t;
}
