/* search/fuzz.c — the scores of search.h: ratio, partial ratio, token set (symmetric
 * rapidfuzz-style and the asymmetric search variant), compiled queries, workspaces
 * and the per-text search score with its match location.
 * Must not: allocate per comparison once the workspace buffers have grown, or
 * change the score definitions without updating the header comment in search.h. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/port.h"
#include "base/sbuf.h"
#include "search/search_int.h"

/* ---- tokens ------------------------------------------------------------------- */

bool search_word_cp(uint32_t c)
{
    if (c < 128)
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
    if (c == 0xFFFD)
        return false;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NO; /* L*, M*, N* */
}

/* Appends the token cp[b..e) to (*out, *c), with its FNV-1a hash. */
static void tok_push(const uint32_t *cp, size_t b, size_t e, stok **out, size_t *cap, size_t *c)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t k = b; k < e; k++) {
        h ^= cp[k];
        h *= 1099511628211ull;
    }
    search_grow((void **)out, cap, *c + 1, sizeof **out);
    (*out)[(*c)++] = (stok){(uint32_t)b, (uint32_t)(e - b), h};
}

void tokenize(const uint32_t *cp, size_t n, stok **out, size_t *cap, size_t *count)
{
    size_t c = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !search_word_cp(cp[i]))
            i++;
        if (i >= n)
            break;
        size_t b = i;
        while (i < n && search_word_cp(cp[i]))
            i++;
        tok_push(cp, b, i, out, cap, &c);
    }
    *count = c;
}

static bool joiner(const uint32_t *cp, size_t n, size_t i)
{
    return (cp[i] == '_' || cp[i] == '-') && i + 1 < n && search_word_cp(cp[i + 1]);
}

void tokenize_compounds(const uint32_t *cp, size_t n, stok **out, size_t *cap, size_t *count)
{
    size_t c = *count, i = 0;
    while (i < n) {
        while (i < n && !search_word_cp(cp[i]))
            i++;
        size_t b = i;
        int parts = 0;
        while (i < n && search_word_cp(cp[i])) {
            while (i < n && search_word_cp(cp[i]))
                i++;
            parts++;
            if (i < n && joiner(cp, n, i))
                i++; /* the next part follows */
        }
        if (parts >= 2)
            tok_push(cp, b, i, out, cap, &c);
    }
    *count = c;
}

int tok_cmp(const uint32_t *a, size_t alen, const uint32_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int tok_cmp_r(const void *x, const void *y, void *arg)
{
    const uint32_t *base = arg;
    const stok *a = x, *b = y;
    return tok_cmp(base + a->beg, a->len, base + b->beg, b->len);
}

static size_t tab_size(size_t n)
{
    size_t c = 16;
    while (c < 2 * n + 1)
        c *= 2;
    return c;
}

static bool tok_same(const uint32_t *ab, const stok *a, const uint32_t *bb, uint32_t bbeg,
                     uint32_t blen, uint64_t bhash)
{
    return a->hash == bhash && a->len == blen &&
           memcmp(ab + a->beg, bb + bbeg, blen * sizeof *ab) == 0;
}

int32_t stokset_find(const stokset *ts, const uint32_t *cp, uint32_t beg, uint32_t len,
                     uint64_t hash)
{
    if (ts->n == 0)
        return -1;
    size_t mask = ts->tab_n - 1;
    size_t h = (size_t)(hash ^ (hash >> 29)) & mask;
    while (ts->tab[h] >= 0) {
        const stok *t = &ts->tok[ts->tab[h]];
        if (tok_same(ts->base, t, cp, beg, len, hash))
            return ts->tab[h];
        h = (h + 1) & mask;
    }
    return -1;
}

void stokset_build(stokset *ts, const uint32_t *cp, size_t n, stok **tmp, size_t *tmp_cap)
{
    size_t nt = 0;
    tokenize(cp, n, tmp, tmp_cap, &nt);
    ts->base = cp;
    ts->n = 0;
    ts->tab_n = tab_size(nt);
    SGROW(ts->tab, ts->tab_cap, ts->tab_n);
    SGROW(ts->tok, ts->tok_cap, nt ? nt : 1);
    for (size_t i = 0; i < ts->tab_n; i++)
        ts->tab[i] = -1;
    /* dedup through the table (insertion order), then sort and re-index */
    for (size_t i = 0; i < nt; i++) {
        const stok *t = &(*tmp)[i];
        if (stokset_find(ts, cp, t->beg, t->len, t->hash) >= 0)
            continue;
        size_t mask = ts->tab_n - 1;
        size_t h = (size_t)(t->hash ^ (t->hash >> 29)) & mask;
        while (ts->tab[h] >= 0)
            h = (h + 1) & mask;
        ts->tok[ts->n] = *t;
        ts->tab[h] = (int32_t)ts->n;
        ts->n++;
    }
    if (ts->n > 1)
        port_qsort_r(ts->tok, ts->n, sizeof *ts->tok, tok_cmp_r, (void *)cp);
    for (size_t i = 0; i < ts->tab_n; i++)
        ts->tab[i] = -1;
    ts->joined_len = 0;
    for (size_t i = 0; i < ts->n; i++) {
        const stok *t = &ts->tok[i];
        size_t mask = ts->tab_n - 1;
        size_t h = (size_t)(t->hash ^ (t->hash >> 29)) & mask;
        while (ts->tab[h] >= 0)
            h = (h + 1) & mask;
        ts->tab[h] = (int32_t)i;
        ts->joined_len += t->len + (i ? 1 : 0);
    }
}

void stokset_free(stokset *ts)
{
    free(ts->tok);
    free(ts->tab);
    memset(ts, 0, sizeof *ts);
}

/* ---- token set ---------------------------------------------------------------- */

static size_t join_into(uint32_t **buf, size_t *cap, const uint32_t *base, const stok *toks,
                        const uint32_t *idx, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const stok *t = &toks[idx ? idx[i] : i];
        search_grow((void **)buf, cap, len + t->len + 1, sizeof **buf);
        if (i)
            (*buf)[len++] = ' ';
        memcpy(*buf + len, base + t->beg, t->len * sizeof **buf);
        len += t->len;
    }
    return len;
}

typedef struct rest_ctx {
    const stok *toks;
    const uint32_t *base;
} rest_ctx;

static int rest_cmp(const void *x, const void *y, void *arg)
{
    const rest_ctx *c = arg;
    const stok *a = &c->toks[*(const uint32_t *)x], *b = &c->toks[*(const uint32_t *)y];
    return tok_cmp(c->base + a->beg, a->len, c->base + b->beg, b->len);
}

static size_t lcs_len(search_ws *ws, const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
    if (la > lb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tl = la;
        la = lb;
        lb = tl;
    }
    spat_build(&ws->pat, a, la);
    return lcs_cps(&ws->pat, b, lb, &ws->sc);
}

static double sim(size_t dist, size_t total)
{
    return total ? 100.0 * (1.0 - (double)dist / (double)total) : 100.0;
}

double token_set_core(search_ws *ws, const stokset *ts, const uint32_t *t, size_t n, bool asym,
                      double best_in, size_t *hit_beg, size_t *hit_end)
{
    *hit_beg = *hit_end = 0;
    if (ts->n == 0)
        return 0.0;
    size_t nt = 0;
    tokenize(t, n, &ws->toks, &ws->toks_cap, &nt);
    if (nt == 0)
        return 0.0;
    SGROW(ws->qhit, ws->qhit_cap, ts->n);
    memset(ws->qhit, 0, ts->n);
    size_t tn = tab_size(nt);
    SGROW(ws->ttab, ws->ttab_cap, tn);
    for (size_t i = 0; i < tn; i++)
        ws->ttab[i] = -1;
    SGROW(ws->rest, ws->rest_cap, nt);
    size_t nrest = 0, ba_sum = 0;
    bool hit = false;
    for (size_t i = 0; i < nt; i++) {
        const stok *tk = &ws->toks[i];
        int32_t k = stokset_find(ts, t, tk->beg, tk->len, tk->hash);
        if (k >= 0) {
            ws->qhit[k] = 1;
            if (!hit) {
                hit = true;
                *hit_beg = tk->beg;
                *hit_end = (size_t)tk->beg + tk->len;
            }
            continue;
        }
        size_t mask = tn - 1;
        size_t h = (size_t)(tk->hash ^ (tk->hash >> 29)) & mask;
        bool dup = false;
        while (ws->ttab[h] >= 0) {
            if (tok_same(t, &ws->toks[ws->ttab[h]], t, tk->beg, tk->len, tk->hash)) {
                dup = true;
                break;
            }
            h = (h + 1) & mask;
        }
        if (dup)
            continue;
        ws->ttab[h] = (int32_t)i;
        ws->rest[nrest++] = (uint32_t)i;
        ba_sum += tk->len;
    }
    size_t s_cnt = 0, s_sum = 0, a_cnt = 0, a_sum = 0;
    for (size_t k = 0; k < ts->n; k++) {
        if (ws->qhit[k]) {
            s_cnt++;
            s_sum += ts->tok[k].len;
        } else {
            a_cnt++;
            a_sum += ts->tok[k].len;
        }
    }
    size_t s = s_cnt ? s_sum + s_cnt - 1 : 0;
    size_t x = a_cnt ? a_sum + a_cnt - 1 : 0;
    size_t y = nrest ? ba_sum + nrest - 1 : 0;

    if (s_cnt == 0 || a_cnt == 0 || nrest == 0) {
        if (s_cnt > 0 && (a_cnt == 0 || (!asym && nrest == 0)))
            return 100.0;
    }
    double res = 0.0;
    size_t la = x, lb = y; /* lengths of S+A and S+B */
    if (s_cnt) {
        la = s + (x ? 1 + x : 0);
        lb = s + (y ? 1 + y : 0);
        res = sim(x + 1, 2 * s + 1 + x); /* ratio(S, S+A) */
        if (nrest)
            res = res > sim(y + 1, 2 * s + 1 + y) ? res : sim(y + 1, 2 * s + 1 + y);
        else
            return res; /* asym, B empty */
    }
    /* ratio(S+A, S+B) = ratio over indel(join A, join B); indel >= |x - y| */
    size_t diff = x > y ? x - y : y - x;
    double bound = sim(diff, la + lb);
    if (bound <= res || bound < best_in)
        return res;
    /* A: the query tokens not hit, already sorted */
    size_t ja = 0;
    for (size_t k = 0; k < ts->n; k++) {
        if (ws->qhit[k])
            continue;
        const stok *tk = &ts->tok[k];
        SGROW(ws->ja, ws->ja_cap, ja + tk->len + 1);
        if (ja)
            ws->ja[ja++] = ' ';
        memcpy(ws->ja + ja, ts->base + tk->beg, tk->len * sizeof *ws->ja);
        ja += tk->len;
    }
    rest_ctx ctx = {ws->toks, t};
    if (nrest > 1)
        port_qsort_r(ws->rest, nrest, sizeof *ws->rest, rest_cmp, &ctx);
    size_t jb = join_into(&ws->jb, &ws->jb_cap, t, ws->toks, ws->rest, nrest);
    size_t dist = ja + jb - 2 * lcs_len(ws, ws->ja, ja, ws->jb, jb);
    double r = sim(dist, la + lb);
    return r > res ? r : res;
}

/* ---- workspace, queries ---------------------------------------------------------- */

search_ws *search_ws_new(void)
{
    return xcalloc(1, sizeof(search_ws));
}

void search_ws_free(search_ws *ws)
{
    if (!ws)
        return;
    stext_free(&ws->a);
    stext_free(&ws->b);
    free(ws->hs);
    free(ws->wc);
    free(ws->sc.S);
    spat_free(&ws->pat);
    stokset_free(&ws->ts);
    free(ws->toks);
    free(ws->tmp);
    free(ws->ttab);
    free(ws->rest);
    free(ws->qhit);
    free(ws->ja);
    free(ws->jb);
    free(ws);
}

search_query *search_query_new(const char *q, size_t len)
{
    search_query *sq = xcalloc(1, sizeof *sq);
    stext_norm(&sq->t, q, len, SEARCH_QUERY_MAX_CPS);
    spat_build(&sq->pat, sq->t.cp, sq->t.len);
    stok *tmp = NULL;
    size_t tmp_cap = 0;
    stokset_build(&sq->ts, sq->t.cp, sq->t.len, &tmp, &tmp_cap);
    free(tmp);
    return sq;
}

void search_query_free(search_query *q)
{
    if (!q)
        return;
    stext_free(&q->t);
    spat_free(&q->pat);
    stokset_free(&q->ts);
    free(q);
}

size_t search_query_cps(const search_query *q)
{
    return q ? q->t.len : 0;
}

/* ---- generic scores ------------------------------------------------------------- */

static const int32_t *slots_of(search_ws *ws, const spat *p, const uint32_t *t, size_t n)
{
    SGROW(ws->hs, ws->hs_cap, n ? n : 1);
    for (size_t j = 0; j < n; j++)
        ws->hs[j] = spat_slot(p, t[j]);
    SGROW(ws->wc, ws->wc_cap, p->nslots ? p->nslots : 1);
    return ws->hs;
}

double search_ratio(search_ws *ws, const char *a, size_t alen, const char *b, size_t blen)
{
    stext_norm(&ws->a, a, alen, SEARCH_TEXT_MAX_CPS);
    stext_norm(&ws->b, b, blen, SEARCH_TEXT_MAX_CPS);
    return ratio_from_lcs(lcs_len(ws, ws->a.cp, ws->a.len, ws->b.cp, ws->b.len), ws->a.len,
                          ws->b.len);
}

static double partial_dir(search_ws *ws, const uint32_t *nd, size_t m, const uint32_t *hy, size_t n)
{
    spat_build(&ws->pat, nd, m);
    const int32_t *hs = slots_of(ws, &ws->pat, hy, n);
    size_t wb = 0, we = 0;
    return partial_core(&ws->pat, hs, n, 0.0, 0.0, &wb, &we, &ws->sc, ws->wc);
}

double search_partial_ratio(search_ws *ws, const char *a, size_t alen, const char *b, size_t blen)
{
    stext_norm(&ws->a, a, alen, SEARCH_TEXT_MAX_CPS);
    stext_norm(&ws->b, b, blen, SEARCH_TEXT_MAX_CPS);
    size_t la = ws->a.len, lb = ws->b.len;
    if (la == 0 || lb == 0)
        return la == lb ? 100.0 : 0.0;
    if (la < lb)
        return partial_dir(ws, ws->a.cp, la, ws->b.cp, lb);
    if (lb < la)
        return partial_dir(ws, ws->b.cp, lb, ws->a.cp, la);
    double r1 = partial_dir(ws, ws->a.cp, la, ws->b.cp, lb);
    if (r1 >= 100.0)
        return r1;
    double r2 = partial_dir(ws, ws->b.cp, lb, ws->a.cp, la);
    return r1 > r2 ? r1 : r2;
}

double search_token_set_ratio(search_ws *ws, const char *a, size_t alen, const char *b, size_t blen)
{
    stext_norm(&ws->a, a, alen, SEARCH_TEXT_MAX_CPS);
    stext_norm(&ws->b, b, blen, SEARCH_TEXT_MAX_CPS);
    stokset_build(&ws->ts, ws->a.cp, ws->a.len, &ws->tmp, &ws->tmp_cap);
    size_t hb, he;
    return token_set_core(ws, &ws->ts, ws->b.cp, ws->b.len, false, 0.0, &hb, &he);
}

/* ---- the search score ---------------------------------------------------------- */

static bool contains(const search_query *q, const uint32_t *t, const int32_t *hs, size_t n,
                     size_t *at)
{
    const size_t m = q->t.len;
    if (m > n)
        return false;
    if (m <= 64) {
        const uint64_t top = (uint64_t)1 << (m - 1);
        uint64_t D = 0;
        for (size_t j = 0; j < n; j++) {
            int32_t k = hs[j];
            D = k < 0 ? 0 : (((D << 1) | 1) & q->pat.pm[k]);
            if (D & top) {
                *at = j + 1 - m;
                return true;
            }
        }
        return false;
    }
    const uint32_t *s = q->t.cp;
    for (size_t j = 0; j + m <= n; j++)
        if (t[j] == s[0] && memcmp(t + j, s, m * sizeof *s) == 0) {
            *at = j;
            return true;
        }
    return false;
}

double search_score(const search_query *q, search_ws *ws, const char *text, size_t len,
                    double min_score, search_span *where)
{
    if (where)
        where->begin = where->end = 0;
    stext_norm(&ws->a, text, len, SEARCH_TEXT_MAX_CPS);
    const size_t m = q->t.len, n = ws->a.len;
    if (m == 0 || n == 0)
        return 0.0;
    const uint32_t *t = ws->a.cp;
    size_t bb = 0, be = 0, at = 0;
    double best;
    const int32_t *hs = slots_of(ws, &q->pat, t, n);
    if (contains(q, t, hs, n, &at)) {
        best = 100.0;
        bb = at;
        be = at + m;
    } else {
        best = token_set_core(ws, &q->ts, t, n, true, min_score, &bb, &be);
        if (best < 100.0) {
            if (m <= n) {
                size_t wb = 0, we = 0;
                double p = partial_core(&q->pat, hs, n, best, min_score, &wb, &we, &ws->sc, ws->wc);
                if (p > best) {
                    best = p;
                    bb = wb;
                    be = we;
                }
            } else {
                double p = ratio_from_lcs(lcs_cps(&q->pat, t, n, &ws->sc), m, n);
                if (p > best) {
                    best = p;
                    bb = 0;
                    be = n;
                }
            }
        }
    }
    if (best <= 0.0 || best < min_score)
        return 0.0;
    if (where && be > bb) {
        where->begin = ws->a.sb[bb];
        where->end = ws->a.se[be - 1];
    }
    return best;
}

const char *search_relevance(double score)
{
    if (score >= SEARCH_HIGH_MIN)
        return "high";
    if (score >= SEARCH_MEDIUM_MIN)
        return "medium";
    return "low";
}
