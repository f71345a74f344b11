/* search/prefilter.h — index support for search_context: the normalised text a
 * message is indexed under (search_index_text) and, for a query and threshold, the
 * trigram prefilter plan (search_prefilter_plan) with a PROVEN guarantee that no
 * message the scorer (search.h) ranks at or above the threshold is filtered out.
 * Must not: touch a database or know about sessions/visibility; claim "sound" for a
 * (query, threshold) the proof below does not cover (the caller then scans).
 *
 * INDEX TEXT I(m) = N(sender) "\n" N(content) "\n" N(v1) "\n" N(v2) ... where N is
 * search_normalize_utf8 and v1, v2, ... are ALL scalar metadata values at any depth,
 * formatted exactly like search_score_message (strings as they are, %lld, %.15g,
 * true/false; null skipped). It is a superset of what the scorer reads: every field
 * text the scorer scores, N(field) (also its truncation to SEARCH_TEXT_MAX_CPS), is a
 * substring of I(m). '\n' never occurs inside N(...) (white space collapses to ' ').
 *
 * THE GUARANTEE. Let Q = N(query) (m code points), T = threshold, and call a trigram
 * any 3 consecutive code points of Q. When plan.sound is true:
 *     for every field text t: score(Q, t) >= T  ==>  t contains a trigram of Q,
 * hence I(m) contains one of plan.terms (all distinct trigrams of Q), so a backend that
 * returns every message whose index text contains at least one term (a superset is
 * fine) never misses a message the scorer ranks >= T. Proof sketch, per score path:
 *  - containment (100): every trigram of Q is in t (m >= 3).
 *  - partial/ratio P = 200L/(m+k) over a window (or whole text) w of length k <= m,
 *    L = LCS(Q, w). In an LCS alignment, a trigram of Q survives (is a substring of w)
 *    unless it touches one of the m-L unmatched query chars (<= 3 trigrams each) or
 *    spans a gap between two matched chars filled by unmatched w chars (<= k-L gaps,
 *    <= 2 trigrams each). Sound when (m-2) - 3(m-L) - 2(k-L) > 0 for every k, L with
 *    200L/(m+k) >= T.
 *  - token set K: let the distinct query tokens have joined length a and G = sum of
 *    max(0, len-2) (within-token trigrams). (1) every query token in t: sound iff some
 *    query token has >= 3 code points. (2) ratio(join A, join B) and ratio(SA, SB):
 *    the same alignment count on strings of length a and nb, counting only
 *    within-token trigrams of the query side (their images contain no space, so they
 *    lie inside a text token, i.e. inside t): sound when G - 3(a-L) - 2(nb-L) > 0 for
 *    every nb, L with 200L/(a+nb) >= T. (3) 100(1-(x+1)/(2s+1+x)) and
 *    100(1-(y+1)/(2s+1+y)) when the common tokens S are all shorter than 3 (else a
 *    shared token gives a trigram): bounded by S = all short query tokens, x = joined
 *    long tokens, y = 1; sound when both bounds are < T.
 *  Comparisons use T - 1e-9 so floating-point rounding can only make the plan
 *  "unsound" more often. Typical result: sound for T >= ~85-90 and queries of >= 5
 *  characters; NOT sound at the default T = 60 (e.g. "hello" vs "hxlxo" scores 60 and
 *  shares no trigram — no n-gram index with n >= 2 can serve it), nor for queries
 *  shorter than 3 or made only of tokens shorter than 3. Then: full scan.
 */
#ifndef CTXD_SEARCH_PREFILTER_H
#define CTXD_SEARCH_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include "search/search.h"

typedef struct search_prefilter {
    bool sound;   /* true: candidates sharing one term are a safe superset */
    char **terms; /* distinct trigrams of N(query), NUL-terminated UTF-8 */
    size_t nterms;
} search_prefilter;

/* Fills *out (never fails; aborts on OOM). Free with search_prefilter_free. */
void search_prefilter_plan(search_ws *ws, const char *query, size_t len, double threshold,
                           search_prefilter *out);
void search_prefilter_free(search_prefilter *p);

/* I(m) as above, malloc'ed, NUL-terminated (never NULL). metadata_json: a JSON
 * object's text or NULL (unparseable text contributes nothing). */
char *search_index_text(search_ws *ws, const char *sender, const char *content, size_t content_len,
                        const char *metadata_json, size_t *out_len);

/* search_index_text with a workspace of its own: the store's index function
 * (store_set_index_fn in store/store.h has exactly this signature). */
char *search_message_index_text(const char *sender, const char *content, size_t content_len,
                                const char *metadata_json);

#endif
