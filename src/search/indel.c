/* search/indel.c — bit-parallel LCS (hence Indel distance = len1 + len2 - 2*LCS) on
 * code point arrays, and the partial-ratio window search built on it.
 * Hand-written because no C library available here computes LCS/Indel on code
 * points (utf8proc only normalises; rapidfuzz-cpp is C++). Algorithm: Hyyrö's
 * bit-vector LCS (Allison–Dix recurrence): with V = all ones and match masks PM[c],
 *     U = V & PM[c];  V = (V + U) | (V - U)
 * after the whole text, LCS = number of zero bits of V in the pattern's length.
 * One 64-bit word for patterns <= 64 code points; above, ceil(m/64) words with the
 * addition's carry propagated word to word (blocked).
 * Must not: allocate in the kernels (callers pass scratch), or exceed the work budget
 * documented in search.h. */
#include <stdlib.h>
#include <string.h>

#include "search/search_int.h"

static inline uint64_t mask_bits(size_t m)
{
    return m >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << m) - 1);
}

void spat_free(spat *p)
{
    free(p->hkey);
    free(p->hval);
    free(p->pm);
    free(p->pmr);
    free(p->cnt);
    memset(p, 0, sizeof *p);
}

static int32_t slot_add(spat *p, uint32_t c)
{
    if (c < 128) {
        if (p->ascii[c] < 0)
            p->ascii[c] = (int32_t)p->nslots++;
        return p->ascii[c];
    }
    size_t h = spat_probe(p, c);
    if (p->hval[h] < 0) {
        p->hkey[h] = c;
        p->hval[h] = (int32_t)p->nslots++;
    }
    return p->hval[h];
}

void spat_build(spat *p, const uint32_t *s, size_t m)
{
    p->len = m;
    p->words = m ? (m + 63) / 64 : 1;
    p->nslots = 0;
    for (size_t i = 0; i < 128; i++)
        p->ascii[i] = -1;
    size_t hc = 16;
    while (hc < 2 * m)
        hc *= 2;
    p->hcap = hc;
    SGROW(p->hkey, p->hkey_cap, hc);
    SGROW(p->hval, p->hval_cap, hc);
    for (size_t i = 0; i < hc; i++)
        p->hval[i] = -1;
    for (size_t i = 0; i < m; i++)
        slot_add(p, s[i]);
    size_t ns = p->nslots ? p->nslots : 1;
    size_t cells = ns * p->words;
    SGROW(p->pm, p->pm_cap, cells);
    SGROW(p->pmr, p->pmr_cap, cells);
    SGROW(p->cnt, p->cnt_cap, ns);
    memset(p->pm, 0, cells * sizeof *p->pm);
    memset(p->pmr, 0, cells * sizeof *p->pmr);
    memset(p->cnt, 0, ns * sizeof *p->cnt);
    for (size_t i = 0; i < m; i++) {
        size_t k = (size_t)spat_slot(p, s[i]);
        p->pm[k * p->words + i / 64] |= (uint64_t)1 << (i % 64);
        size_t r = m - 1 - i;
        p->pmr[k * p->words + r / 64] |= (uint64_t)1 << (r % 64);
        p->cnt[k]++;
    }
}

/* ---- kernels --------------------------------------------------------------- */

static inline uint64_t step1(uint64_t V, uint64_t M)
{
    uint64_t U = V & M;
    return (V + U) | (V - U);
}

static inline void stepN(uint64_t *V, const uint64_t *M, size_t words)
{
    uint64_t carry = 0;
    for (size_t w = 0; w < words; w++) {
        uint64_t U = V[w] & M[w];
        uint64_t x = V[w] + U;
        uint64_t c1 = x < U;
        uint64_t y = x + carry;
        uint64_t c2 = y < x;
        carry = c1 | c2;
        V[w] = y | (V[w] - U);
    }
}

static inline size_t count1(uint64_t V, size_t m)
{
    return (size_t)__builtin_popcountll(~V & mask_bits(m));
}

static size_t countN(const uint64_t *V, size_t words, size_t m)
{
    size_t n = 0;
    for (size_t w = 0; w + 1 < words; w++)
        n += (size_t)__builtin_popcountll(~V[w]);
    n += (size_t)__builtin_popcountll(~V[words - 1] & mask_bits(m - 64 * (words - 1)));
    return n;
}

static uint64_t *scratch(lcs_scratch *sc, size_t words)
{
    SGROW(sc->S, sc->S_cap, words);
    for (size_t w = 0; w < words; w++)
        sc->S[w] = ~(uint64_t)0;
    return sc->S;
}

size_t lcs_slots(const spat *p, const int32_t *hs, size_t n, lcs_scratch *sc)
{
    if (p->len == 0 || n == 0)
        return 0;
    if (p->words == 1) {
        uint64_t V = ~(uint64_t)0;
        for (size_t j = 0; j < n; j++)
            if (hs[j] >= 0)
                V = step1(V, p->pm[hs[j]]);
        return count1(V, p->len);
    }
    uint64_t *V = scratch(sc, p->words);
    for (size_t j = 0; j < n; j++)
        if (hs[j] >= 0)
            stepN(V, p->pm + (size_t)hs[j] * p->words, p->words);
    return countN(V, p->words, p->len);
}

size_t lcs_cps(const spat *p, const uint32_t *t, size_t n, lcs_scratch *sc)
{
    if (p->len == 0 || n == 0)
        return 0;
    if (p->words == 1) {
        uint64_t V = ~(uint64_t)0;
        for (size_t j = 0; j < n; j++) {
            int32_t k = spat_slot(p, t[j]);
            if (k >= 0)
                V = step1(V, p->pm[k]);
        }
        return count1(V, p->len);
    }
    uint64_t *V = scratch(sc, p->words);
    for (size_t j = 0; j < n; j++) {
        int32_t k = spat_slot(p, t[j]);
        if (k >= 0)
            stepN(V, p->pm + (size_t)k * p->words, p->words);
    }
    return countN(V, p->words, p->len);
}

/* ---- partial ratio ------------------------------------------------------------ */

double partial_core(const spat *p, const int32_t *hs, size_t n, double best_in, double min_score,
                    size_t *wb, size_t *we, lcs_scratch *sc, uint32_t *wc)
{
    const size_t m = p->len, words = p->words;
    double best = best_in;
    uint64_t budget = SEARCH_WORK_BUDGET;

    /* prefixes h[0:i], i = 1..m-1: one forward pass */
    if (words == 1) {
        uint64_t V = ~(uint64_t)0;
        for (size_t i = 0; i + 1 < m && i < n; i++) {
            if (hs[i] < 0)
                continue;
            V = step1(V, p->pm[hs[i]]);
            double r = ratio_from_lcs(count1(V, m), m, i + 1);
            if (r > best) {
                best = r;
                *wb = 0;
                *we = i + 1;
            }
        }
        /* suffixes h[n-i:], i = 1..m-1: one backward pass on the reversed pattern */
        V = ~(uint64_t)0;
        for (size_t i = 1; i < m && i <= n; i++) {
            int32_t k = hs[n - i];
            if (k < 0)
                continue;
            V = step1(V, p->pmr[k]);
            double r = ratio_from_lcs(count1(V, m), m, i);
            if (r > best) {
                best = r;
                *wb = n - i;
                *we = n;
            }
        }
    } else {
        uint64_t *V = scratch(sc, words);
        for (size_t i = 0; i + 1 < m && i < n; i++) {
            if (hs[i] < 0)
                continue;
            stepN(V, p->pm + (size_t)hs[i] * words, words);
            double r = ratio_from_lcs(countN(V, words, m), m, i + 1);
            if (r > best) {
                best = r;
                *wb = 0;
                *we = i + 1;
            }
        }
        V = scratch(sc, words);
        for (size_t i = 1; i < m && i <= n; i++) {
            int32_t k = hs[n - i];
            if (k < 0)
                continue;
            stepN(V, p->pmr + (size_t)k * words, words);
            double r = ratio_from_lcs(countN(V, words, m), m, i);
            if (r > best) {
                best = r;
                *wb = n - i;
                *we = n;
            }
        }
    }
    if (best >= 100.0)
        return best;

    /* full-length windows h[s:s+m]; ratio = 100*LCS/m. LCS <= multiset overlap. */
    memset(wc, 0, p->nslots * sizeof *wc);
    size_t inter = 0;
    for (size_t j = 0; j < m; j++) {
        int32_t k = hs[j];
        if (k >= 0 && wc[k]++ < p->cnt[k])
            inter++;
    }
    const double per = 100.0 / (double)m;
    /* smallest LCS of a full window that beats best and reaches min_score */
#define LREQ() \
    do { \
        lreq = (size_t)(best / per); \
        while (lreq <= m && per * (double)lreq <= best) \
            lreq++; \
        while (lreq <= m && per * (double)lreq < min_score) \
            lreq++; \
    } while (0)
    size_t lreq;
    LREQ();
    size_t next = 0; /* windows before this one cannot reach lreq */
    for (size_t s = 0; s + m <= n; s++) {
        if (s > 0) {
            int32_t ko = hs[s - 1], kn = hs[s + m - 1];
            if (ko >= 0 && --wc[ko] < p->cnt[ko])
                inter--;
            if (kn >= 0 && wc[kn]++ < p->cnt[kn])
                inter++;
        }
        if (lreq > m)
            break;
        /* a window ending in a char not in the needle is never better than the
         * window one to the left (or the prefix of length m-1) */
        if (s < next || hs[s + m - 1] < 0 || inter < lreq)
            continue;
        if (budget < m * words)
            break;
        budget -= m * words;
        size_t l = lcs_slots(p, hs + s, m, sc);
        if (l >= lreq) {
            best = per * (double)l;
            *wb = s;
            *we = s + m;
            if (l == m)
                break;
            LREQ();
        } else {
            /* sliding by one changes a window's LCS by at most one */
            next = s + (lreq - l);
        }
    }
#undef LREQ
    return best;
}
