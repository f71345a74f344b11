/* search/search.h — fuzzy scoring for search_context: query/text normalisation
 * (case- and accent-insensitive, on code points), a partial-ratio and a token-set
 * score in the style of rapidfuzz, the per-message helper (sender, content, scalar
 * metadata values) and the UTF-8-safe match preview.
 * Must not: touch a database, know about sessions, visibility or MCP, allocate per
 * comparison once a workspace is warm, or read outside the (pointer, length) given.
 *
 * Why hand-written: utf8proc (used here) only normalises; no library packaged for C
 * on this system provides Indel/LCS distances or rapidfuzz-style partial/token-set
 * ratios (rapidfuzz-cpp is C++ and header-only), so the bit-parallel LCS (Hyyrö's
 * formulation of Allison–Dix, 64-bit words, blocked with carries above 64 code
 * points) is implemented in indel.c.
 *
 * ---------------------------------------------------------------------------------
 * SCORES are doubles in [0, 100] (not rounded; round for display if you like).
 *
 * Normalisation N(s) (norm.c), applied to both query and text:
 *   - UTF-8 is decoded with utf8proc_iterate; every invalid or truncated sequence
 *     becomes U+FFFD and decoding resumes at the next byte (never an over-read).
 *   - each code point is mapped with utf8proc: compatibility decomposition (NFKD),
 *     full case folding, LUMP (typographic quotes/dashes/spaces -> ASCII), default
 *     ignorables removed (soft hyphen, ZWJ, variation selectors...). Hangul
 *     syllables are kept whole. Then the generic combining diacritics (U+0300-036F,
 *     U+1AB0-1AFF, U+1DC0-1DFF, U+20D0-20FF, U+FE20-FE2F) are dropped; marks of other
 *     scripts (kana voicing marks, Indic vowel signs) are kept, because there they are
 *     letters, not accents. A few Latin letters without a decomposition are folded:
 *     ø->o, đ/ð->d, ł->l, ħ->h, ı->i, æ->ae, œ->oe, þ->th.
 *     So "Café" = "cafe", "STRASSE" = "straße" = "strasse", "Å" = "a", "ﬁ" = "fi".
 *   - white space (Unicode White_Space, and all other control characters) runs
 *     collapse to one U+0020; leading/trailing white space is dropped.
 *   - the result is at most SEARCH_TEXT_MAX_CPS code points (the rest is ignored);
 *     a query is at most SEARCH_QUERY_MAX_CPS code points.
 * Tokens (for the token-set score) are maximal runs of letters, digits and marks
 * (Unicode categories L*, N*, M*) of N(s); punctuation, symbols (emoji) and spaces
 * separate tokens and are not part of any token.
 *
 * Let len(x) be the length in code points. indel(a,b) = len(a)+len(b)-2*LCS(a,b).
 *   ratio(a,b)   = 100 * (1 - indel(a,b) / (len(a)+len(b)));  100 if both empty.
 *                  (= rapidfuzz fuzz.ratio; "this is a test" vs "this is a test!" =
 *                  100*(1 - 1/29) = 96.55)
 *   partial(n,h) with len(n) <= len(h), n non-empty = the max of ratio(n, w) over the
 *                  windows w of h used by rapidfuzz fuzz.partial_ratio: every
 *                  substring of h of length len(n), every prefix and every suffix of
 *                  h shorter than len(n). Empty n: 100 if h is empty, else 0.
 *   search_partial_ratio(a,b) = partial(shorter, longer); for equal lengths the max
 *                  of both directions (symmetric, like rapidfuzz >= 3).
 *   token_set(a,b) = rapidfuzz fuzz.token_set_ratio over our tokens: Q, T = sets of
 *                  tokens of a, b; S = Q∩T, A = Q\T, B = T\Q; s, x, y = lengths of the
 *                  sorted (code point order), space-joined S, A, B; SA = S+" "+A etc.
 *                  Q or T empty -> 0; S empty -> ratio(join A, join B);
 *                  A or B empty -> 100; otherwise the max of
 *                  ratio(SA, SB), 100*(1-(x+1)/(2s+1+x)), 100*(1-(y+1)/(2s+1+y)).
 *                  Symmetric.
 * The SEARCH score of query q against one text t (search_score), on N(q), N(t):
 *   - N(q) empty or N(t) empty -> 0;
 *   - N(q) is a substring of N(t) -> 100 (verbatim containment);
 *   - otherwise max(P, K) where
 *       P = partial(N(q), N(t))   if len(q) <= len(t), else ratio(N(q), N(t))
 *           (the query is always the needle: a short sender name inside a long
 *           query does not score 100);
 *       K = token_set(q, t) except that it is asymmetric in the same way: the
 *           "subset -> 100" rule applies only when A is empty (every query token is a
 *           token of the text); when B is empty but A is not, K = 100*(1-(x+1)/(2s+1+x))
 *           (how much of the query the text covers).
 * Relevance: "high" if score >= 80, "medium" if >= 60, else "low".
 *
 * Work limits (bounded on 100000-char texts): normalisation and containment are
 * O(n); the token-set score is O(n) with hashing (the text-side remainder is sorted
 * only when its length bound can still beat the best score); the partial score
 * computes all prefix and all suffix windows in one pass each, and evaluates a
 * full-length window only when (a) its last char occurs in the query, (b) the
 * multiset overlap of window and query could beat the best score so far (initially
 * the token-set score) and min_score, (c) it is not skipped by the sliding bound
 * (a window's LCS changes by at most 1 per shift, so after a window with LCS l, the
 * next lreq-l-1 windows cannot reach the required lreq); it stops at the first
 * perfect window. Each evaluation is
 * O(len(q)) word operations for queries <= 64 code points (one machine word),
 * O(len(q)*ceil(len(q)/64)) above, and at most SEARCH_WORK_BUDGET word operations are
 * spent on windows per call: past it, the partial score is the best found so far
 * (a lower bound). This budget is never hit for queries <= 64 code points and
 * texts <= 100000 code points. Measured (bench/bench_search, one core, gcc -O2):
 * 90k-390k messages/s of 200 chars, 20k-80k/s of 2000 chars and 380-2200/s of
 * 100000 chars (0.5-2.5 ms each, about a third of it normalisation), on a shared,
 * loaded 2-core machine.
 * The generic search_ratio / search_token_set_ratio have no budget: O(len(a) *
 * len(b) / 64); use them on short strings (tests, tools), not on whole messages.
 * ---------------------------------------------------------------------------------
 *
 * Threads: a search_query is immutable after search_query_new and may be shared;
 * a search_ws is a per-thread workspace (scratch buffers that grow and are reused).
 */
#ifndef CTXD_SEARCH_SEARCH_H
#define CTXD_SEARCH_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define SEARCH_TEXT_MAX_CPS (1u << 22)         /* normalised code points kept per text */
#define SEARCH_QUERY_MAX_CPS 512u              /* normalised code points kept per query */
#define SEARCH_WORK_BUDGET ((uint64_t)1 << 26) /* window word-ops per partial */
#define SEARCH_HIGH_MIN 80.0
#define SEARCH_MEDIUM_MIN 60.0
#define SEARCH_PREVIEW_CPS 160u                            /* target preview width, code points */
#define SEARCH_PREVIEW_MAX (SEARCH_PREVIEW_CPS * 4u + 16u) /* bytes incl. NUL */
#define SEARCH_META_MAX_DEPTH 4    /* nesting levels of metadata flattened */
#define SEARCH_META_MAX_VALUES 128 /* scalar metadata values scored */
#define SEARCH_KEY_MAX 128         /* bytes of a metadata key path incl. NUL */

typedef struct search_ws search_ws;
typedef struct search_query search_query;

/* ---- workspace --------------------------------------------------------------- */
search_ws *search_ws_new(void);
void search_ws_free(search_ws *ws);

/* ---- normalisation ----------------------------------------------------------- */
/* Writes N(s) as UTF-8 into out (NUL-terminated, truncated at a code point boundary
 * if cap is too small) and returns the full length in bytes it needs (excluding the
 * NUL), like snprintf. For tests and tools, not the hot path. */
size_t search_normalize_utf8(search_ws *ws, const char *s, size_t len, char *out, size_t cap);

/* ---- generic scores on two UTF-8 strings (both normalised first) -------------- */
double search_ratio(search_ws *ws, const char *a, size_t alen, const char *b, size_t blen);
double search_partial_ratio(search_ws *ws, const char *a, size_t alen, const char *b, size_t blen);
double search_token_set_ratio(search_ws *ws, const char *a, size_t alen, const char *b,
                              size_t blen);

/* ---- compiled query ---------------------------------------------------------- */
/* Normalises, tokenises and builds the bit tables once. Never NULL (aborts on OOM). */
search_query *search_query_new(const char *q, size_t len);
void search_query_free(search_query *q);
size_t search_query_cps(const search_query *q); /* len(N(q)) */

/* Where a score was found, in bytes of the ORIGINAL text: [begin, end). */
typedef struct search_span {
    size_t begin, end;
} search_span;

/* The SEARCH score of q against text[0..len) (see above). When the score is below
 * min_score the function may stop early and returns 0. where (optional) receives the
 * best match's byte range in text (the start of the text when nothing matched). */
double search_score(const search_query *q, search_ws *ws, const char *text, size_t len,
                    double min_score, search_span *where);

/* ---- messages ---------------------------------------------------------------- */
typedef enum search_field {
    SEARCH_FIELD_NONE = 0,
    SEARCH_FIELD_CONTENT,
    SEARCH_FIELD_SENDER,
    SEARCH_FIELD_METADATA
} search_field;

typedef struct search_match {
    double score;                     /* best over the fields; 0 if below min_score */
    search_field field;               /* which field gave it (content wins ties, then
                                         sender, then metadata in document order) */
    char meta_key[SEARCH_KEY_MAX];    /* SEARCH_FIELD_METADATA: key path "a.b.0" */
    char preview[SEARCH_PREVIEW_MAX]; /* always valid UTF-8, NUL-terminated */
    size_t preview_len;
} search_match;

/* Scores one message: sender (may be NULL), content[0..content_len) (may be NULL if
 * 0), and, if metadata is a JSON object (else ignored), its scalar values: strings
 * as they are, integers as %lld, reals as %.15g, booleans as "true"/"false"; null is
 * skipped. Nested objects and arrays are FLATTENED up to SEARCH_META_MAX_DEPTH levels
 * (deeper values ignored), at most SEARCH_META_MAX_VALUES scalars in document order;
 * keys are never matched, only values; meta_key is the dotted path (array indices as
 * numbers). The preview is filled only when the message passes (score > 0 and
 * >= min_score; else out->preview is "") and is always taken from the content:
 * around the content's best match when the content scored > 0, else the start of the
 * content (see search_preview). Returns out->score. */
double search_score_message(const search_query *q, search_ws *ws, const char *sender,
                            const char *content, size_t content_len, const json_t *metadata,
                            double min_score, search_match *out);

/* A preview of text around the byte range [span.begin, span.end): about
 * SEARCH_PREVIEW_CPS code points, centred on the match (the match start is kept
 * when the match is longer), white space runs shown as one space, invalid UTF-8
 * shown as U+FFFD, "…" where text was cut at either end. Writes at most cap bytes
 * including the NUL (cap >= 8 needed; SEARCH_PREVIEW_MAX always suffices) and
 * returns the length written. */
size_t search_preview(const char *text, size_t len, search_span span, char *out, size_t cap);

/* "high" (>= 80), "medium" (>= 60), "low". */
const char *search_relevance(double score);

#endif
