/* search/termidx.h — an in-memory term index for search_context at thresholds where
 * no trigram prefilter is sound (prefilter.h): the normalised tokens ("terms") of each
 * message's index text I(m) with their postings, a trigram index over the vocabulary
 * for typo-tolerant and partial-word term lookup, and candidates pre-ranked cheaply
 * for the exact scorer (search.h) to confirm.
 * Must not: touch a database, know about sessions or visibility, decide a message's
 * score (the scorer does), or be used by two threads at once (its owner locks).
 *
 * TERMS are the tokens of I(m) and its COMPOUNDS: runs of tokens joined by single '_'
 * or '-' ("cache_shard90", "claude-main"), which the scorer's windows see whole.
 *
 * TERM LOOKUP for a query token t of L code points (the tokens of N(query), search.h),
 * among the tokens (a compound of the query: among the compounds, and only those
 * sharing at least a quarter of its distinct trigrams are measured):
 *   - L >= 3: every term sharing one of t's trigrams, verified: sim(t, term) = 100 when
 *     t is a substring of the term, 200*L/(L + len(term)) when every char of t is in
 *     it in order (the scorer's ratio of the two words), else 100*LCS(t, term)/L (as
 *     the scorer's partial ratio: the share of t found in order);
 *     kept when sim >= min_sim. When none is kept (typos close together break every
 *     trigram: "grqiui" for "griqui") every token is measured the same way.
 *   - L < 3: the term equal to t only (sim 100).
 * PRE-RANK of a message: sum over the distinct query tokens of L * (best sim of its
 * terms), over the sum of L, raised to the scorer's token-set bound 100(1-(x+1)/(2s+1+x))
 * when some query tokens are terms of it (s, x: joined lengths of those present and
 * absent), and to the best sim of its compounds to a compound of the query (the
 * scorer's window over "kasto_error14" for "stoka_error14" is that sim, 84.6, where its
 * tokens alone rank it with every message holding "error14"); 100 exactly when every
 * query token lies inside one of its tokens (then the message very likely scores 100:
 * verbatim or every token present). Candidates are
 * ordered by pre-rank desc, then id asc (the exhaustive ranking's tie order).
 */
#ifndef CTXD_SEARCH_TERMIDX_H
#define CTXD_SEARCH_TERMIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/search.h"

typedef struct search_tidx search_tidx;

search_tidx *search_tidx_new(void);
void search_tidx_free(search_tidx *x); /* NULL is fine */

/* Adds message id under its index text text[0..len) (UTF-8, prefilter.h's I(m)); false
 * and nothing changes when id is indexed already. */
bool search_tidx_add(search_tidx *x, int64_t id, const char *text, size_t len);
bool search_tidx_has(const search_tidx *x, int64_t id);
size_t search_tidx_count(const search_tidx *x);   /* messages indexed */
int64_t search_tidx_max_id(const search_tidx *x); /* the largest id indexed, 0 if none */
size_t search_tidx_terms(const search_tidx *x);   /* distinct terms */
size_t search_tidx_bytes(const search_tidx *x);   /* heap bytes held (capacities) */

typedef struct search_cand {
    int64_t id;
    double pre; /* pre-rank 0..100 */
} search_cand;

typedef struct search_tidx_result {
    bool usable;    /* false: the query has no token of 3 or more code points and none of
                       its shorter tokens is a term, or it would cost more than the work
                       bound: the index cannot serve it (scan) */
    search_cand *v; /* best first (pre desc, id asc), malloc'ed */
    size_t n;
    size_t top;     /* v[0..top) have pre == 100 (so they are in id order) */
    size_t matched; /* messages with pre > 0 (before the cut to max) */
} search_tidx_result;

/* The work one query may cost, in term comparisons plus postings read (default
 * SEARCH_TIDX_WORK_MAX: about a second of one core); past it the query is not served
 * (usable = false, no candidates) and the caller scans within its own budget. */
#define SEARCH_TIDX_WORK_MAX ((size_t)32 << 20)
void search_tidx_set_work_max(search_tidx *x, size_t units);

/* The best `max` candidates of q among the messages with id > since_id. */
void search_tidx_query(search_tidx *x, const search_query *q, double min_sim, int64_t since_id,
                       size_t max, search_tidx_result *out);
void search_tidx_result_free(search_tidx_result *r);

#endif
