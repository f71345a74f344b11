/* search/search_int.h — internals shared by the search/ sources: normalised texts,
 * bit-parallel pattern tables, token sets and the workspace layout.
 * Must not: be included from outside src/search/ (the API is search.h). */
#ifndef CTXD_SEARCH_INT_H
#define CTXD_SEARCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/search.h"

/* Grows *p (of element size el) so that it holds at least need elements. */
void search_grow(void **p, size_t *cap, size_t need, size_t el);
#define SGROW(ptr, cap, need) search_grow((void **)&(ptr), &(cap), (need), sizeof *(ptr))

/* A normalised text: code points, and for each the byte range of the source
 * character it came from. */
typedef struct stext {
    uint32_t *cp;
    uint32_t *sb, *se; /* source byte begin / end */
    size_t len, cap;
} stext;

/* Unicode white space and control characters (collapsed to one space). */
static inline bool search_is_space(uint32_t c)
{
    if (c <= 0x20 || (c >= 0x7F && c <= 0xA0))
        return true; /* C0, space, DEL, C1, NBSP */
    switch (c) {
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
    }
}
void stext_norm(stext *t, const char *s, size_t len, size_t max_cps);
void stext_free(stext *t);

/* Pattern tables for bit-parallel LCS (indel.c). Slots number the distinct code
 * points of the pattern; pm[slot*words + w] has bit i set where s[64w+i] has that
 * slot, pmr the same for the reversed pattern. */
typedef struct spat {
    size_t len, words, nslots;
    int32_t ascii[128];
    uint32_t *hkey;
    int32_t *hval;
    size_t hcap, hkey_cap, hval_cap;
    uint64_t *pm, *pmr;
    size_t pm_cap, pmr_cap;
    uint32_t *cnt; /* multiplicity of each slot in the pattern */
    size_t cnt_cap;
} spat;

void spat_build(spat *p, const uint32_t *s, size_t m);
void spat_free(spat *p);

/* The position of code point c (>= 128) in the pattern's open-addressing table:
 * where it is, or the empty position (hval < 0) where it would go. */
static inline size_t spat_probe(const spat *p, uint32_t c)
{
    size_t mask = p->hcap - 1;
    size_t h = (size_t)((c * 2654435761u) >> 7) & mask;
    while (p->hval[h] >= 0 && p->hkey[h] != c)
        h = (h + 1) & mask;
    return h;
}

/* The slot of code point c, -1 when the pattern does not hold it. */
static inline int32_t spat_slot(const spat *p, uint32_t c)
{
    return c < 128 ? p->ascii[c] : p->hval[spat_probe(p, c)];
}

/* Scratch for the LCS kernels. */
typedef struct lcs_scratch {
    uint64_t *S;
    size_t S_cap;
} lcs_scratch;

/* LCS of pattern p against the slot sequence hs[0..n) (slot < 0 = not in p). */
size_t lcs_slots(const spat *p, const int32_t *hs, size_t n, lcs_scratch *sc);
/* LCS of pattern p against the code points t[0..n). */
size_t lcs_cps(const spat *p, const uint32_t *t, size_t n, lcs_scratch *sc);

/* Partial-ratio core: needle = pattern p (len m >= 1), haystack slots hs[0..n),
 * n >= m. Only windows that can beat max(best_in, min_score) are evaluated;
 * returns the best ratio found that beats best_in (else best_in) and its window in
 * haystack positions. wc is scratch of >= p->nslots counters. */
double partial_core(const spat *p, const int32_t *hs, size_t n, double best_in, double min_score,
                    size_t *wb, size_t *we, lcs_scratch *sc, uint32_t *wc);

static inline double ratio_from_lcs(size_t lcs, size_t la, size_t lb)
{
    if (la + lb == 0)
        return 100.0;
    return 100.0 * (double)(2 * lcs) / (double)(la + lb);
}

/* Tokens of a normalised text. */
typedef struct stok {
    uint32_t beg, len;
    uint64_t hash;
} stok;

/* A set of unique tokens, sorted by code points, with an open-addressing table. */
typedef struct stokset {
    const uint32_t *base; /* code points the tokens point into */
    stok *tok;            /* unique tokens, sorted */
    size_t n, tok_cap;
    int32_t *tab;          /* indices into tok, -1 empty */
    size_t tab_cap, tab_n; /* tab_n: power of two */
    size_t joined_len;     /* length of the space-joined sorted tokens */
} stokset;

/* A token character of the scorer (search.h): L*, M*, N*, not U+FFFD. */
bool search_word_cp(uint32_t c);
void tokenize(const uint32_t *cp, size_t n, stok **out, size_t *cap, size_t *count);
/* Appends to (*out, *count) the compounds of cp[0..n): runs of two or more tokens each
 * joined to the next by one '_' or '-' ("cache_shard90", "claude-main"), which tokenize
 * splits and the scorer's windows see whole. */
void tokenize_compounds(const uint32_t *cp, size_t n, stok **out, size_t *cap, size_t *count);
void stokset_build(stokset *ts, const uint32_t *cp, size_t n, stok **tmp, size_t *tmp_cap);
int32_t stokset_find(const stokset *ts, const uint32_t *cp, uint32_t beg, uint32_t len,
                     uint64_t hash);
void stokset_free(stokset *ts);
int tok_cmp(const uint32_t *a, size_t alen, const uint32_t *b, size_t blen);

struct search_query {
    stext t;
    spat pat;
    stokset ts;
    size_t ntok_total;
};

struct search_ws {
    stext a, b;  /* normalised texts */
    int32_t *hs; /* haystack slots */
    size_t hs_cap;
    uint32_t *wc; /* window counters */
    size_t wc_cap;
    lcs_scratch sc;
    spat pat;   /* ad-hoc pattern (generic scores, token remainders) */
    stokset ts; /* ad-hoc token set (generic token_set) */
    stok *toks; /* text tokens */
    size_t toks_cap;
    stok *tmp;
    size_t tmp_cap;
    int32_t *ttab; /* text-side unique-token table */
    size_t ttab_cap;
    uint32_t *rest; /* indices of text-only unique tokens */
    size_t rest_cap;
    uint8_t *qhit; /* query tokens seen in the text */
    size_t qhit_cap;
    uint32_t *ja, *jb; /* joined remainders */
    size_t ja_cap, jb_cap;
};

/* Token-set core: Q = ts (tokens of some text), T = tokens of t[0..n).
 * asym: the search variant (see search.h). *first_hit receives the token index in
 * t of the first text token that is in S (or SIZE_MAX). */
double token_set_core(search_ws *ws, const stokset *ts, const uint32_t *t, size_t n, bool asym,
                      double best_in, size_t *hit_beg, size_t *hit_end);

#endif
