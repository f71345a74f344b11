/* search/termidx.c — the term index of termidx.h: a vocabulary (code points in one
 * arena, open-addressing table), postings of message slots per term, a trigram table
 * over the vocabulary, an id table, and the query: term lookup, pre-rank accumulation
 * over the postings and the selection of the best candidates.
 * Must not: touch a database, score messages, or count memory it does not hold
 * (search_tidx_bytes is what the owner bounds). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/sbuf.h"
#include "search/search_int.h"
#include "search/termidx.h"

#define MALLOC_OVERHEAD 16 /* counted per small list: what the allocator keeps beside it */
#define TERM_MAX_CPS 256u  /* longer tokens are not indexed */
#define GRAM_TERM_CPS 64u  /* trigrams of a term's first 64 code points */

typedef struct term {
    uint32_t off;   /* code points in x->cps */
    uint16_t len;   /* <= TERM_MAX_CPS */
    bool comp;      /* a compound ("cache_shard90"), else a token */
    uint32_t *post; /* message slots, ascending (a slot appears once) */
    uint32_t npost, cap;
} term;

typedef struct gram {
    uint64_t key; /* 0: empty slot */
    uint32_t *terms;
    uint32_t n, cap;
} gram;

struct search_tidx {
    size_t bytes;
    /* messages: slot -> id, and an open-addressing id -> slot+1 table */
    int64_t *ids;
    size_t nids, ids_cap;
    uint32_t *idtab;
    size_t idtab_n;
    int64_t max_id;
    /* vocabulary */
    uint32_t *cps;
    size_t ncps, cps_cap;
    term *terms;
    size_t nterms, terms_cap;
    uint32_t *ttab; /* term index + 1, 0 empty */
    size_t ttab_n;
    gram *grams;
    size_t ngrams, grams_n;
    /* scratch of one add / one query */
    uint32_t *dec;
    size_t dec_cap;
    stok *toks;
    size_t toks_cap;
    uint32_t *tstamp, *tcnt; /* per term */
    size_t tscr_cap;
    uint32_t *dstamp; /* per message slot */
    float *acc;
    uint16_t *cov;
    uint16_t *exn; /* query tokens that are terms of the message (exactly) */
    uint32_t *exl; /* their length in all */
    float *cmx;    /* the best sim of a compound of the message to one of the query's */
    size_t dscr_cap;
    uint32_t dnext;        /* the next query's first dstamp */
    uint32_t epoch;        /* the current lookup's tstamp */
    size_t work, work_max; /* the current query's term comparisons and postings read */
    spat pat;
    lcs_scratch sc;
};

/* ---- memory ------------------------------------------------------------------------ */

/* search_grow that keeps x->bytes in step; the new part is zeroed */
static void tgrow(search_tidx *x, void **p, size_t *cap, size_t need, size_t el)
{
    size_t before = *cap;
    search_grow(p, cap, need, el);
    if (*cap > before) {
        memset((char *)*p + before * el, 0, (*cap - before) * el);
        x->bytes += (*cap - before) * el;
    }
}
#define TGROW(x, ptr, cap, need) tgrow((x), (void **)&(ptr), &(cap), (need), sizeof *(ptr))

/* Grows a list of uint32_t (postings, a trigram's terms) by half: most lists stay short
 * (a number or an identifier is a term of one message), so they start at one. */
static void tgrow32(search_tidx *x, uint32_t **p, uint32_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = (size_t)*cap + *cap / 2 + 1;
    if (n < need)
        n = need;
    *p = xrealloc(*p, n * sizeof **p);
    x->bytes += (n - *cap) * sizeof **p + (*cap ? 0 : MALLOC_OVERHEAD);
    *cap = (uint32_t)n;
}

search_tidx *search_tidx_new(void)
{
    search_tidx *x = xcalloc(1, sizeof *x);
    x->bytes = sizeof *x;
    x->work_max = SEARCH_TIDX_WORK_MAX;
    return x;
}

void search_tidx_set_work_max(search_tidx *x, size_t units)
{
    x->work_max = units;
}

void search_tidx_free(search_tidx *x)
{
    if (x) {
        for (size_t i = 0; i < x->nterms; i++)
            free(x->terms[i].post);
        for (size_t i = 0; i < x->grams_n; i++)
            free(x->grams[i].terms);
        void *own[] = {x->ids, x->idtab, x->cps,    x->terms, x->ttab,   x->grams,
                       x->dec, x->toks,  x->tstamp, x->tcnt,  x->dstamp, x->acc,
                       x->cov, x->exn,   x->exl,    x->cmx,   x->sc.S,   x};
        spat_free(&x->pat);
        for (size_t i = 0; i < sizeof own / sizeof *own; i++)
            free(own[i]);
    }
}

size_t search_tidx_count(const search_tidx *x)
{
    return x->nids;
}
int64_t search_tidx_max_id(const search_tidx *x)
{
    return x->max_id;
}
size_t search_tidx_terms(const search_tidx *x)
{
    return x->nterms;
}
size_t search_tidx_bytes(const search_tidx *x)
{
    return x->bytes;
}

/* ---- ids ----------------------------------------------------------------------------- */

static size_t id_hash(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17);
}

/* The slot of id's entry in idtab, or the empty slot where it would go. */
static size_t id_probe(const search_tidx *x, int64_t id)
{
    size_t mask = x->idtab_n - 1, h = id_hash(id) & mask;
    while (x->idtab[h] && x->ids[x->idtab[h] - 1] != id)
        h = (h + 1) & mask;
    return h;
}

bool search_tidx_has(const search_tidx *x, int64_t id)
{
    return x->idtab_n && x->idtab[id_probe(x, id)] != 0;
}

static void id_rehash(search_tidx *x, size_t n)
{
    x->bytes += (n - x->idtab_n) * sizeof *x->idtab;
    free(x->idtab);
    x->idtab = xcalloc(n, sizeof *x->idtab);
    x->idtab_n = n;
    for (size_t i = 0; i < x->nids; i++)
        x->idtab[id_probe(x, x->ids[i])] = (uint32_t)i + 1;
}

/* ---- vocabulary ---------------------------------------------------------------------- */

static uint64_t cps_hash(const uint32_t *c, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t term_probe(const search_tidx *x, const uint32_t *c, size_t n, uint64_t h)
{
    size_t mask = x->ttab_n - 1, p = (size_t)(h ^ (h >> 31)) & mask;
    while (x->ttab[p]) {
        const term *t = &x->terms[x->ttab[p] - 1];
        if (t->len == n && memcmp(x->cps + t->off, c, n * sizeof *c) == 0)
            break;
        p = (p + 1) & mask;
    }
    return p;
}

static void term_rehash(search_tidx *x, size_t n)
{
    x->bytes += (n - x->ttab_n) * sizeof *x->ttab;
    free(x->ttab);
    x->ttab = xcalloc(n, sizeof *x->ttab);
    x->ttab_n = n;
    for (size_t i = 0; i < x->nterms; i++) {
        const term *t = &x->terms[i];
        const uint32_t *c = x->cps + t->off;
        x->ttab[term_probe(x, c, t->len, cps_hash(c, t->len))] = (uint32_t)i + 1;
    }
}

/* a trigram's key: three code points (< 2^21 each) packed, never 0 */
static uint64_t gram_key(const uint32_t *c)
{
    return ((uint64_t)c[0] << 42 | (uint64_t)c[1] << 21 | c[2]) + 1;
}

static size_t gram_probe(const search_tidx *x, uint64_t key)
{
    size_t mask = x->grams_n - 1, p = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (x->grams[p].key && x->grams[p].key != key)
        p = (p + 1) & mask;
    return p;
}

static void gram_rehash(search_tidx *x, size_t n)
{
    gram *old = x->grams;
    size_t on = x->grams_n;
    x->bytes += (n - on) * sizeof *x->grams;
    x->grams = xcalloc(n, sizeof *x->grams);
    x->grams_n = n;
    for (size_t i = 0; i < on; i++)
        if (old[i].key)
            x->grams[gram_probe(x, old[i].key)] = old[i];
    free(old);
}

/* Adds term ti to the lists of its distinct trigrams. */
static void gram_add_term(search_tidx *x, uint32_t ti)
{
    const term *t = &x->terms[ti];
    size_t n = t->len < GRAM_TERM_CPS ? t->len : GRAM_TERM_CPS;
    for (size_t i = 0; i + 3 <= n; i++) {
        if ((x->ngrams + 1) * 2 > x->grams_n)
            gram_rehash(x, x->grams_n ? x->grams_n * 2 : 1024);
        const uint32_t *c = x->cps + x->terms[ti].off + i;
        uint64_t key = gram_key(c);
        gram *g = &x->grams[gram_probe(x, key)];
        if (!g->key) {
            g->key = key;
            x->ngrams++;
        }
        if (g->n && g->terms[g->n - 1] == ti)
            continue; /* the same trigram twice in this term */
        tgrow32(x, &g->terms, &g->cap, g->n + 1);
        g->terms[g->n++] = ti;
    }
}

/* The index of the term c[0..n), added when new (comp: it is a compound). */
static uint32_t term_get(search_tidx *x, const uint32_t *c, size_t n, bool comp)
{
    if ((x->nterms + 1) * 2 > x->ttab_n)
        term_rehash(x, x->ttab_n ? x->ttab_n * 2 : 1024);
    uint64_t h = cps_hash(c, n);
    size_t p = term_probe(x, c, n, h);
    if (x->ttab[p])
        return x->ttab[p] - 1;
    TGROW(x, x->cps, x->cps_cap, x->ncps + n);
    memcpy(x->cps + x->ncps, c, n * sizeof *c);
    TGROW(x, x->terms, x->terms_cap, x->nterms + 1);
    uint32_t ti = (uint32_t)x->nterms++;
    x->terms[ti] = (term){(uint32_t)x->ncps, (uint16_t)n, comp, NULL, 0, 0};
    x->ncps += n;
    x->ttab[p] = ti + 1;
    gram_add_term(x, ti);
    return ti;
}

static int32_t term_find(const search_tidx *x, const uint32_t *c, size_t n)
{
    if (!x->ttab_n)
        return -1;
    size_t p = term_probe(x, c, n, cps_hash(c, n));
    return x->ttab[p] ? (int32_t)x->ttab[p] - 1 : -1;
}

/* ---- adding a message ---------------------------------------------------------------- */

bool search_tidx_add(search_tidx *x, int64_t id, const char *text, size_t len)
{
    if (search_tidx_has(x, id))
        return false;
    if ((x->nids + 1) * 2 > x->idtab_n)
        id_rehash(x, x->idtab_n ? x->idtab_n * 2 : 1024);
    TGROW(x, x->ids, x->ids_cap, x->nids + 1);
    uint32_t slot = (uint32_t)x->nids++;
    x->ids[slot] = id;
    x->idtab[id_probe(x, id)] = slot + 1;
    if (id > x->max_id)
        x->max_id = id;
    /* decode (the text is normalised already: no folding here) and tokenise */
    TGROW(x, x->dec, x->dec_cap, len + 1);
    size_t n = 0;
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)text;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0 || c < 0) {
            i++;
            c = 0xFFFD;
        } else {
            i += (size_t)k;
        }
        x->dec[n++] = (uint32_t)c;
    }
    size_t nt = 0;
    tokenize(x->dec, n, &x->toks, &x->toks_cap, &nt);
    size_t nwords = nt;
    tokenize_compounds(x->dec, n, &x->toks, &x->toks_cap, &nt);
    for (size_t i = 0; i < nt; i++) {
        const stok *tk = &x->toks[i];
        if (tk->len > TERM_MAX_CPS)
            continue;
        /* may move x->terms; a compound holds '_' or '-', a token never: no clash */
        uint32_t ti = term_get(x, x->dec + tk->beg, tk->len, i >= nwords);
        term *t = &x->terms[ti];
        if (t->npost && t->post[t->npost - 1] == slot)
            continue; /* a term once per message */
        tgrow32(x, &t->post, &t->cap, t->npost + 1);
        t->post[t->npost++] = slot;
    }
    return true;
}

/* ---- the query ----------------------------------------------------------------------- */

static bool is_sub(const uint32_t *n, size_t m, const uint32_t *h, size_t hn)
{
    for (size_t j = 0; j + m <= hn; j++)
        if (h[j] == n[0] && memcmp(h + j, n, m * sizeof *n) == 0)
            return true;
    return false;
}

/* sim of the query token (x->pat, code points q[0..m)) and term t (termidx.h): as the
 * scorer's partial ratio, the share of the token found in order in a window around the
 * term; a term holding every char of the token in order but not as a substring gets
 * the scorer's ratio of the two words (its token-set score of a one-word field:
 * "zenui" in "zenqui" 90.9, not more) */
static double term_sim(search_tidx *x, const uint32_t *q, size_t m, const term *t)
{
    x->work++;
    const uint32_t *c = x->cps + t->off;
    size_t l = lcs_cps(&x->pat, c, t->len, &x->sc);
    if (l == m)
        return is_sub(q, m, c, t->len) ? 100.0 : 200.0 * (double)l / (double)(m + t->len);
    return 100.0 * (double)l / (double)m;
}

typedef struct kept {
    uint32_t term;
    double sim;
    bool exact; /* the term is the query token itself */
} kept;

/* best first; the token itself before the terms holding it */
static int kept_cmp(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    if (x->sim != y->sim)
        return x->sim > y->sim ? -1 : 1;
    if (x->exact != y->exact)
        return x->exact ? -1 : 1;
    return (x->term > y->term) - (x->term < y->term);
}

/* The terms of query token q[0..m) with their sims, best first, into *kv. */
static size_t lookup(search_tidx *x, const uint32_t *q, size_t m, bool comp, double min_sim,
                     kept **kv, size_t *kcap)
{
    size_t nk = 0;
    if (m < 3) {
        int32_t ti = term_find(x, q, m);
        if (ti >= 0) {
            search_grow((void **)kv, kcap, 1, sizeof **kv);
            (*kv)[nk++] = (kept){(uint32_t)ti, 100.0, true};
        }
        return nk;
    }
    size_t c2 = x->tscr_cap;
    TGROW(x, x->tstamp, x->tscr_cap, x->nterms);
    tgrow(x, (void **)&x->tcnt, &c2, x->tscr_cap, sizeof *x->tcnt);
    if (++x->epoch == 0) { /* wrapped: forget every stamp */
        memset(x->tstamp, 0, x->tscr_cap * sizeof *x->tstamp);
        x->epoch = 1;
    }
    uint32_t *touched = NULL;
    size_t ntouched = 0, tcap = 0, ng = 0;
    /* count the shared distinct trigrams per term */
    for (size_t i = 0; i + 3 <= m; i++) {
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = memcmp(q + j, q + i, 3 * sizeof *q) == 0;
        if (dup)
            continue;
        ng++;
        if (!x->grams_n)
            continue;
        const gram *g = &x->grams[gram_probe(x, gram_key(q + i))];
        for (uint32_t k = 0; g->key && k < g->n; k++) {
            uint32_t ti = g->terms[k];
            if (x->terms[ti].comp != comp)
                continue; /* tokens look up tokens, compounds compounds */
            if (x->tstamp[ti] != x->epoch) {
                x->tstamp[ti] = x->epoch;
                x->tcnt[ti] = 0;
                search_grow((void **)&touched, &tcap, ntouched + 1, sizeof *touched);
                touched[ntouched++] = ti;
            }
            x->tcnt[ti]++;
        }
    }
    spat_build(&x->pat, q, m);
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t ti = touched[i];
        /* compounds share long common parts ("_pipeline"): only those sharing a quarter
         * of the query compound's trigrams are measured (a close one shares more) */
        if (comp && 4 * x->tcnt[ti] < ng)
            continue;
        double s = term_sim(x, q, m, &x->terms[ti]);
        if (s < min_sim)
            continue;
        search_grow((void **)kv, kcap, nk + 1, sizeof **kv);
        (*kv)[nk++] = (kept){ti, s, s >= 100.0 && x->terms[ti].len == m};
    }
    free(touched);
    /* no term shares a trigram (typos close together, "grqiui" for "griqui"): the
     * whole vocabulary, by the same measure (a compound shares trigrams with any close
     * one: its parts are long enough) */
    bool all = nk == 0 && !comp;
    for (size_t ti = 0; all && ti < x->nterms && x->work <= x->work_max; ti++) {
        if (x->terms[ti].comp)
            continue;
        double s = term_sim(x, q, m, &x->terms[ti]);
        if (s < min_sim)
            continue;
        search_grow((void **)kv, kcap, nk + 1, sizeof **kv);
        (*kv)[nk++] = (kept){(uint32_t)ti, s, s >= 100.0 && x->terms[ti].len == m};
    }
    if (nk > 1)
        qsort(*kv, nk, sizeof **kv, kept_cmp);
    return nk;
}

/* candidates order: pre desc, id asc */
static int cand_before(const search_cand *a, const search_cand *b)
{
    if (a->pre != b->pre)
        return a->pre > b->pre;
    return a->id < b->id;
}

static int cand_cmp(const void *a, const void *b)
{
    const search_cand *x = a, *y = b;
    return cand_before(x, y) ? -1 : cand_before(y, x) ? 1 : 0;
}

/* Moves the k best of v[0..n) into v[0..k) (quickselect, k < n; ids are distinct, so
 * the order is total). */
static void select_best(search_cand *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    while (lo < hi) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        size_t p = lo + (size_t)(r % (hi - lo + 1)), st = lo;
        search_cand t = v[p];
        v[p] = v[hi];
        v[hi] = t;
        for (size_t i = lo; i < hi; i++)
            if (cand_before(&v[i], &v[hi])) {
                t = v[i];
                v[i] = v[st];
                v[st++] = t;
            }
        t = v[st];
        v[st] = v[hi];
        v[hi] = t;
        if (st == k)
            return;
        if (st < k)
            lo = st + 1;
        else
            hi = st - 1;
    }
}

/* The query's distinct tokens in query order into x->toks; their count. */
static size_t query_tokens(search_tidx *x, const search_query *q)
{
    size_t nt = 0, n = 0;
    tokenize(q->t.cp, q->t.len, &x->toks, &x->toks_cap, &nt);
    for (size_t i = 0; i < nt; i++) {
        const stok *a = &x->toks[i];
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup =
                x->toks[j].hash == a->hash && x->toks[j].len == a->len &&
                memcmp(q->t.cp + x->toks[j].beg, q->t.cp + a->beg, a->len * sizeof(uint32_t)) == 0;
        if (!dup)
            x->toks[n++] = *a;
    }
    return n;
}

void search_tidx_query(search_tidx *x, const search_query *q, double min_sim, int64_t since_id,
                       size_t max, search_tidx_result *out)
{
    memset(out, 0, sizeof *out);
    size_t ntok = max ? query_tokens(x, q) : 0;
    if (ntok == 0)
        return;
    size_t nall = ntok; /* the tokens, then the query's compounds */
    tokenize_compounds(q->t.cp, q->t.len, &x->toks, &x->toks_cap, &nall);
    x->work = 0;
    size_t c2 = x->dscr_cap, c3 = x->dscr_cap, c4 = x->dscr_cap, c5 = x->dscr_cap, c6 = x->dscr_cap;
    TGROW(x, x->dstamp, x->dscr_cap, x->nids ? x->nids : 1);
    tgrow(x, (void **)&x->acc, &c2, x->dscr_cap, sizeof *x->acc);
    tgrow(x, (void **)&x->cov, &c3, x->dscr_cap, sizeof *x->cov);
    tgrow(x, (void **)&x->exn, &c4, x->dscr_cap, sizeof *x->exn);
    tgrow(x, (void **)&x->exl, &c5, x->dscr_cap, sizeof *x->exl);
    tgrow(x, (void **)&x->cmx, &c6, x->dscr_cap, sizeof *x->cmx);
    /* dstamp: base + i + 1 = met by query token (or compound) i in this call; < base:
     * stale */
    static const uint32_t span = 1u << 16;
    if (nall > span - 2)
        nall = span - 2;
    if (ntok > nall)
        ntok = nall;
    uint32_t base = x->dnext;
    if (base == 0 || base > UINT32_MAX - span) {
        memset(x->dstamp, 0, x->dscr_cap * sizeof *x->dstamp);
        base = 1;
    }
    x->dnext = base + (uint32_t)nall + 1;
    uint32_t *touched = NULL;
    size_t ntouched = 0, tcap = 0;
    kept *kv = NULL;
    size_t kcap = 0;
    double wsum = 0;
    size_t qlen = 0; /* the query tokens' length in all */
    for (size_t i = 0; i < nall; i++) {
        const stok *tk = &x->toks[i];
        const uint32_t *qc = q->t.cp + tk->beg;
        bool comp = i >= ntok;
        double w = (double)tk->len;
        if (!comp) {
            wsum += w;
            qlen += tk->len;
        }
        size_t nk = !comp || tk->len <= TERM_MAX_CPS
                        ? lookup(x, qc, tk->len, comp, min_sim, &kv, &kcap)
                        : 0;
        for (size_t k = 0; k < nk; k++)
            x->work += x->terms[kv[k].term].npost;
        if (x->work > x->work_max) {
            /* a query that would cost more than the bound (hundreds of tokens that share
             * no trigram with any term, each compared with the whole vocabulary): the
             * index does not serve it, the caller scans within its own budget */
            free(kv);
            free(touched);
            out->usable = false;
            return;
        }
        if (nk || tk->len >= 3)
            out->usable = true; /* a token the trigrams look up, or one found */
        uint32_t mine = base + (uint32_t)i + 1;
        for (size_t k = 0; k < nk; k++) {
            const term *t = &x->terms[kv[k].term];
            float add = (float)(w * kv[k].sim);
            bool full = kv[k].sim >= 100.0;
            for (uint32_t p = 0; p < t->npost; p++) {
                uint32_t s = t->post[p];
                uint32_t st = x->dstamp[s];
                if (st == mine)
                    continue; /* this token met a better term of s already */
                if (st < base) {
                    x->acc[s] = 0;
                    x->cov[s] = 0;
                    x->exn[s] = 0;
                    x->exl[s] = 0;
                    x->cmx[s] = 0;
                    search_grow((void **)&touched, &tcap, ntouched + 1, sizeof *touched);
                    touched[ntouched++] = s;
                }
                x->dstamp[s] = mine;
                if (comp) { /* the best of its compounds, on its own */
                    if ((float)kv[k].sim > x->cmx[s])
                        x->cmx[s] = (float)kv[k].sim;
                    continue;
                }
                x->acc[s] += add;
                x->cov[s] += full;
                if (kv[k].exact) {
                    x->exn[s]++;
                    x->exl[s] += tk->len;
                }
            }
        }
    }
    free(kv);
    search_cand *v = xmalloc((ntouched ? ntouched : 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t s = touched[i];
        if (x->ids[s] <= since_id)
            continue;
        double pre = x->cov[s] == ntok ? 100.0 : (double)x->acc[s] / wsum;
        if (x->exn[s] && x->cov[s] != ntok) {
            /* the scorer's token-set score is at least 100(1 - (x+1)/(2s+1+x)) with s, x
             * the joined lengths of the query tokens present and absent (search.h) */
            double sj = (double)(x->exl[s] + x->exn[s] - 1),
                   xj = (double)(qlen - x->exl[s] + (ntok - x->exn[s]) - 1);
            double lb = 100.0 * (1.0 - (xj + 1) / (2 * sj + 1 + xj));
            if (lb > pre)
                pre = lb;
        }
        /* a compound of the query close to one of the message: the scorer's window over
         * the whole identifier scores about the same */
        if (x->cmx[s] > pre)
            pre = x->cmx[s];
        if (pre >= 100.0 && x->cov[s] != ntok)
            pre = 99.99;
        v[n++] = (search_cand){x->ids[s], pre};
    }
    free(touched);
    out->matched = n;
    if (n > max) {
        select_best(v, n, max);
        n = max;
    }
    qsort(v, n, sizeof *v, cand_cmp);
    out->v = v;
    out->n = n;
    while (out->top < n && v[out->top].pre >= 100.0)
        out->top++;
}

void search_tidx_result_free(search_tidx_result *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}
