/* tests/search/test_search.c — the search/ layer: normalisation (case, accents,
 * ß, combining marks, CJK, emoji, invalid UTF-8), the score definitions of
 * search.h checked against rapidfuzz's documented examples, hand-computed values
 * and brute-force references, the search score properties users rely on, message
 * fields with metadata, previews and relevance labels.
 * Must not: need a database or the network; exact numbers must come from the
 * definitions (comments show the derivation). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"
#include "search/search.h"

static search_ws *ws;

static int setup(void **state)
{
    (void)state;
    ws = search_ws_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    search_ws_free(ws);
    return 0;
}

#define EPS 1e-6
#define S(x) (x), strlen(x)

static double score(const char *q, const char *t)
{
    search_query *sq = search_query_new(S(q));
    double r = search_score(sq, ws, S(t), 0.0, NULL);
    search_query_free(sq);
    return r;
}

static void assert_norm(const char *in, const char *want)
{
    char out[512];
    size_t n = search_normalize_utf8(ws, S(in), out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
    assert_int_equal(n, strlen(want));
}

/* ---- reference values ----------------------------------------------------------- */

static void test_rapidfuzz_reference_values(void **state)
{
    (void)state;
    /* fuzz.ratio("this is a test", "this is a test!") = 96.55: indel 1, lengths 14+15 */
    assert_float_equal(search_ratio(ws, S("this is a test"), S("this is a test!")),
                       100.0 * (1.0 - 1.0 / 29.0), EPS);
    assert_float_equal(search_partial_ratio(ws, S("this is a test"), S("this is a test!")), 100.0,
                       EPS);
    assert_float_equal(
        search_token_set_ratio(ws, S("fuzzy was a bear"), S("fuzzy fuzzy was a bear")), 100.0, EPS);
}

static void test_hand_computed_values(void **state)
{
    (void)state;
    /* kitten/sitting: LCS "ittn" = 4 -> 100 * 8 / 13 */
    assert_float_equal(search_ratio(ws, S("kitten"), S("sitting")), 800.0 / 13.0, EPS);
    /* needle "abcd" in "xxabxdxx": best window "abxd" has LCS 3 -> 100*3/4 */
    assert_float_equal(search_partial_ratio(ws, S("abcd"), S("xxabxdxx")), 75.0, EPS);
    /* "new york mets" / "new york yankees": S="new york" (8), A="mets" (4),
     * B="yankees" (7). ratio(S, S+A) = 100(1 - 5/21) = 76.19 beats
     * ratio(S+A, S+B) = 100(1 - 7/29) (LCS(mets,yankees)=2) and 100(1 - 8/24) */
    assert_float_equal(search_token_set_ratio(ws, S("new york mets"), S("new york yankees")),
                       100.0 * (1.0 - 5.0 / 21.0), EPS);
    /* no common token: ratio of the sorted joins "ab"/"cd" = 0 */
    assert_float_equal(search_token_set_ratio(ws, S("ab"), S("cd")), 0.0, EPS);
    /* both empty: ratio 100, partial 100; one empty: 0; token set with no tokens: 0 */
    assert_float_equal(search_ratio(ws, S(""), S("")), 100.0, EPS);
    assert_float_equal(search_partial_ratio(ws, S(""), S("")), 100.0, EPS);
    assert_float_equal(search_partial_ratio(ws, S(""), S("x")), 0.0, EPS);
    assert_float_equal(search_token_set_ratio(ws, S("!!"), S("abc")), 0.0, EPS);
}

/* brute force LCS by DP */
static size_t lcs_dp(const char *a, size_t la, const char *b, size_t lb)
{
    size_t *row = calloc(lb + 1, sizeof *row), *prev = calloc(lb + 1, sizeof *prev);
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            if (a[i - 1] == b[j - 1])
                row[j] = prev[j - 1] + 1;
            else
                row[j] = row[j - 1] > prev[j] ? row[j - 1] : prev[j];
        }
        size_t *t = prev;
        prev = row;
        row = t;
    }
    size_t r = prev[lb];
    free(row);
    free(prev);
    return r;
}

static double ratio_ref(const char *a, size_t la, const char *b, size_t lb)
{
    if (la + lb == 0)
        return 100.0;
    return 100.0 * (double)(2 * lcs_dp(a, la, b, lb)) / (double)(la + lb);
}

/* partial ratio exactly as defined in search.h (needle = shorter). */
static double partial_dir_ref(const char *n, size_t m, const char *h, size_t hl)
{
    double best = 0;
    for (size_t i = 1; i < m; i++) {
        double r = ratio_ref(n, m, h, i);
        best = r > best ? r : best;
        r = ratio_ref(n, m, h + hl - i, i);
        best = r > best ? r : best;
    }
    for (size_t s = 0; s + m <= hl; s++) {
        double r = ratio_ref(n, m, h + s, m);
        best = r > best ? r : best;
    }
    return best;
}

static double partial_ref(const char *a, size_t la, const char *b, size_t lb)
{
    if (!la || !lb)
        return la == lb ? 100.0 : 0.0;
    if (la < lb)
        return partial_dir_ref(a, la, b, lb);
    if (lb < la)
        return partial_dir_ref(b, lb, a, la);
    double r1 = partial_dir_ref(a, la, b, lb), r2 = partial_dir_ref(b, lb, a, la);
    return r1 > r2 ? r1 : r2;
}

static void rand_str(char *s, size_t n, int alpha)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + rand() % alpha);
    s[n] = '\0';
}

static void test_bitparallel_matches_brute_force(void **state)
{
    (void)state;
    srand(12345);
    static const size_t lens[] = {1, 2, 7, 31, 63, 64, 65, 100, 128, 129, 200};
    char a[256], b[512];
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            for (int rep = 0; rep < 3; rep++) {
                int alpha = 2 + rep * 5;
                rand_str(a, lens[i], alpha);
                rand_str(b, lens[j], alpha);
                assert_float_equal(search_ratio(ws, S(a), S(b)), ratio_ref(a, lens[i], b, lens[j]),
                                   EPS);
            }
        }
    }
    /* partial: needles up to 130 against haystacks up to 300 */
    static const size_t nl[] = {1, 3, 10, 64, 65, 130};
    for (size_t i = 0; i < sizeof nl / sizeof nl[0]; i++) {
        for (int rep = 0; rep < 4; rep++) {
            size_t hl = nl[i] + (size_t)(rand() % 170);
            int alpha = 3 + rep * 4;
            rand_str(a, nl[i], alpha);
            rand_str(b, hl, alpha);
            double got = search_partial_ratio(ws, S(a), S(b));
            double want = partial_ref(a, nl[i], b, hl);
            if (got < want - EPS || got > want + EPS)
                fail_msg("partial(%s, %s) = %f want %f", a, b, got, want);
        }
    }
}

static void test_symmetric_scores(void **state)
{
    (void)state;
    const char *pairs[][2] = {
        {"hello world", "world hello"},         {"kitten", "sitting"},   {"Café crème", "cafe"},
        {"the quick brown fox", "quick brown"}, {"abc", "abd"},          {"", "x"},
        {"new york mets", "new york yankees"},  {"same len", "sane lem"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *x = pairs[i][0], *y = pairs[i][1];
        assert_float_equal(search_ratio(ws, S(x), S(y)), search_ratio(ws, S(y), S(x)), EPS);
        assert_float_equal(search_partial_ratio(ws, S(x), S(y)),
                           search_partial_ratio(ws, S(y), S(x)), EPS);
        assert_float_equal(search_token_set_ratio(ws, S(x), S(y)),
                           search_token_set_ratio(ws, S(y), S(x)), EPS);
    }
}

/* random word soup over a small vocabulary with typos: exercises the window
 * pruning (multiset bound, sliding bound, min_score cut-off) on longer texts */
static size_t soup(char *s, size_t n, unsigned typo_every)
{
    static const char *v[] = {"dead", "lock",  "pool",    "worker", "sched", "uler",
                              "in",   "queue", "deadlok", "wrker",  "a",     "the"};
    size_t w = 0;
    while (w + 10 < n) {
        const char *x = v[(size_t)rand() % (sizeof v / sizeof v[0])];
        size_t l = strlen(x);
        memcpy(s + w, x, l);
        if (typo_every && rand() % (int)typo_every == 0)
            s[w + (size_t)rand() % l] = (char)('a' + rand() % 26);
        w += l;
        s[w++] = ' ';
    }
    s[w] = '\0';
    return w;
}

static void test_pruning_never_changes_scores(void **state)
{
    (void)state;
    srand(4242);
    static char t[4000], q[100];
    static const double cuts[] = {30, 60, 80, 95};
    for (int it = 0; it < 60; it++) {
        size_t tl = soup(t, 200 + (size_t)(rand() % 3500), 5);
        size_t ql = soup(q, 8 + (size_t)(rand() % 60), 3);
        while (ql > 0 && q[ql - 1] == ' ')
            q[--ql] = '\0';
        if (ql == 0)
            continue;
        /* the partial window search against brute force on long haystacks */
        if (it < 12) {
            double got = search_partial_ratio(ws, q, ql, t, tl);
            double want = partial_ref(q, ql, t, tl);
            if (got < want - EPS || got > want + EPS)
                fail_msg("partial(%s, ...) = %f want %f", q, got, want);
        }
        search_query *sq = search_query_new(q, ql);
        double exact = search_score(sq, ws, t, tl, 0, NULL);
        assert_true(exact + EPS >= search_partial_ratio(ws, q, ql, t, tl));
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            double pr = search_score(sq, ws, t, tl, cuts[c], NULL);
            double want = exact >= cuts[c] ? exact : 0.0;
            if (pr < want - EPS || pr > want + EPS)
                fail_msg("cut %f: %f, exact %f (q=%s)", cuts[c], pr, exact, q);
        }
        search_query_free(sq);
    }
}

/* ---- normalisation ------------------------------------------------------------ */

static void test_normalisation(void **state)
{
    (void)state;
    assert_norm("Café", "cafe");
    assert_norm("CAFÉ", "cafe");
    assert_norm("Cafe\xCC\x81", "cafe"); /* e + U+0301 */
    assert_norm("STRASSE", "strasse");
    assert_norm("straße", "strasse");
    assert_norm("Ångström", "angstrom");
    assert_norm("\xE2\x84\xAB", "a"); /* U+212B ANGSTROM SIGN */
    assert_norm("ﬁle", "file");       /* ligature (NFKD) */
    assert_norm("Ｆｕｌｌ", "full");  /* fullwidth */
    assert_norm("Søren Łódź", "soren lodz");
    assert_norm("Œuvre", "oeuvre");
    assert_norm("  hello \t\n\r  world  ", "hello world");
    assert_norm("a\xC2\xA0"
                "b",
                "a b");                                /* NBSP */
    assert_norm("soft\xC2\xADhyphen", "softhyphen");   /* default ignorable */
    assert_norm("‘quoted’ — dash", "'quoted' - dash"); /* LUMP */
    assert_norm("漢字テスト", "漢字テスト");           /* CJK unchanged */
    assert_norm("한국어", "한국어");                   /* Hangul kept whole */
    assert_norm("🎉 Party", "🎉 party");
    assert_norm("", "");
    assert_norm(" \t ", "");
    /* invalid and truncated UTF-8 -> U+FFFD, never an over-read */
    assert_norm("a\xFF"
                "b",
                "a\xEF\xBF\xBD"
                "b");
    assert_norm("ab\xC3", "ab\xEF\xBF\xBD");
    assert_norm("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate */
    /* a truncated output buffer stays a prefix on a code point boundary */
    char small[4];
    size_t need = search_normalize_utf8(ws, S("éé"), small, sizeof small);
    assert_int_equal(need, 2);
    assert_string_equal(small, "ee");
    need = search_normalize_utf8(ws, S("日本"), small, sizeof small);
    assert_int_equal(need, 6);
    assert_string_equal(small, "日");
}

/* ---- search score properties ---------------------------------------------------- */

static void test_containment_scores_100(void **state)
{
    (void)state;
    assert_float_equal(score("connection pool", "the connection pool was exhausted"), 100, EPS);
    assert_float_equal(score("CAFÉ", "we met at the cafe downtown"), 100, EPS);
    assert_float_equal(score("cafe", "Le CAFÉ est ouvert"), 100, EPS);
    assert_float_equal(score("Straße", "STRASSE 5"), 100, EPS);
    assert_float_equal(score("Åre", "skiing in are"), 100, EPS);
    assert_float_equal(score("テスト", "これはテストです"), 100, EPS);
    assert_float_equal(score("🎉", "release done 🎉🎉"), 100, EPS);
    assert_float_equal(score("👨‍👩‍👧", "family 👨‍👩‍👧 photo"), 100, EPS);
    /* identical */
    assert_float_equal(score("deploy the database migration", "deploy the database migration"), 100,
                       EPS);
    /* a long query (> 64 code points) contained verbatim */
    const char *lq = "the quick brown fox jumps over the lazy dog while the cat watches it";
    char text[400];
    snprintf(text, sizeof text, "prefix words here. %s. and more", lq);
    assert_float_equal(score(lq, text), 100, EPS);
}

static void test_disjoint_scores_low(void **state)
{
    (void)state;
    double s = score("database", "qwzjk pvv");
    assert_true(s < 40);
    assert_string_equal(search_relevance(s), "low");
    assert_true(score("kubernetes", "the weather is lovely today and we had lunch") < 60);
    /* a kana voicing mark is a letter, not an accent: ガ is not カ */
    assert_true(score("ガ", "カ") < 100);
}

static void test_monotonic_in_typos(void **state)
{
    (void)state;
    const char *q = "authentication";
    double one = score(q, "the authentixation service failed");   /* 1 substitution */
    double two = score(q, "the aubhentixation service failed");   /* 2 */
    double three = score(q, "the aubhentixatiom service failed"); /* 3 */
    assert_true(one > two);
    assert_true(two > three);
    /* one substitution: best window has LCS 13 of 14 */
    assert_float_equal(one, 100.0 * 13.0 / 14.0, EPS);
    assert_true(one >= 80);
}

static void test_token_order_irrelevant(void **state)
{
    (void)state;
    assert_float_equal(
        search_token_set_ratio(ws, S("fuzzy wuzzy was a bear"), S("wuzzy fuzzy was a bear")), 100,
        EPS);
    assert_float_equal(score("bear fuzzy", "fuzzy was a bear"), 100, EPS);
    assert_float_equal(score("pool connection", "the connection pool was exhausted"), 100, EPS);
    /* punctuation separates tokens */
    assert_float_equal(score("error database", "database: error!"), 100, EPS);
}

static void test_query_is_the_needle(void **state)
{
    (void)state;
    /* a short text inside a long query does not score 100:
     * P = ratio("claude bug report", "claude") = 100*12/23;
     * K = 100*(1 - (x+1)/(2s+1+x)) with s=6, x=10 = 100*(1 - 11/23) */
    assert_float_equal(score("claude bug report", "claude"), 1200.0 / 23.0, EPS);
    /* the symmetric partial ratio does (rapidfuzz semantics) */
    assert_float_equal(search_partial_ratio(ws, S("claude bug report"), S("claude")), 100, EPS);
}

static void test_long_texts(void **state)
{
    (void)state;
    size_t n = 100000;
    char *big = malloc(n + 64);
    static const char *words[] = {"lorem ", "ipsum ", "dolor ", "sit ", "amet ", "consectetur "};
    size_t w = 0, i = 0;
    while (w + 16 < n) {
        const char *x = words[i++ % 6];
        memcpy(big + w, x, strlen(x));
        w += strlen(x);
    }
    memcpy(big + w, "kubernetes", 10);
    w += 10;
    big[w] = '\0';
    search_query *q = search_query_new(S("kubernetes"));
    search_span sp;
    assert_float_equal(search_score(q, ws, big, w, 0, &sp), 100, EPS);
    assert_int_equal(sp.begin, w - 10);
    assert_int_equal(sp.end, w);
    /* one typo at the end of 100000 chars: the partial window finds it */
    big[w - 3] = 'x'; /* kubernxtes */
    double s = search_score(q, ws, big, w, 0, &sp);
    assert_float_equal(s, 90.0, EPS);
    assert_int_equal(sp.end, w);
    /* min_score cut-off: below it, 0 */
    assert_float_equal(search_score(q, ws, big, w, 95, NULL), 0, EPS);
    search_query_free(q);

    /* a 100-char query with one substitution inside a 2000-char text: LCS 99/100 */
    char lq[101];
    for (int k = 0; k < 100; k++)
        lq[k] = (char)('a' + (k * 7) % 26);
    lq[100] = '\0';
    memset(big, ' ', 2000);
    memcpy(big + 900, lq, 100);
    big[950] = (big[950] == 'z') ? 'y' : 'z';
    q = search_query_new(S(lq));
    assert_float_equal(search_score(q, ws, big, 2000, 0, NULL), 99.0, EPS);
    search_query_free(q);
    free(big);
}

static void test_empty_inputs(void **state)
{
    (void)state;
    assert_float_equal(score("", "anything"), 0, EPS);
    assert_float_equal(score("   ", "anything"), 0, EPS);
    assert_float_equal(score("x", ""), 0, EPS);
    search_query *q = search_query_new(NULL, 0);
    assert_int_equal(search_query_cps(q), 0);
    assert_float_equal(search_score(q, ws, NULL, 0, 0, NULL), 0, EPS);
    search_query_free(q);
}

static void test_invalid_utf8_never_crashes(void **state)
{
    (void)state;
    srand(99);
    search_query *q = search_query_new(S("caf\xC3")); /* truncated query */
    search_query *q2 = search_query_new(S("héllo wörld"));
    char buf[600];
    for (int it = 0; it < 3000; it++) {
        size_t n = (size_t)(rand() % 600);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rand() % 4 == 0 ? (0x80 | rand() % 64) : rand() % 256);
        search_match m;
        search_score_message(it % 2 ? q : q2, ws, "s\xFF", buf, n, NULL, 0, &m);
        assert_true(m.score >= 0 && m.score <= 100);
        assert_true(str_utf8_valid(m.preview, m.preview_len));
        char pv[SEARCH_PREVIEW_MAX];
        search_span sp = {(size_t)rand() % (n + 2), (size_t)rand() % (n + 3)};
        size_t pl = search_preview(buf, n, sp, pv, sizeof pv);
        assert_true(str_utf8_valid(pv, pl));
        assert_int_equal(strlen(pv), pl);
    }
    search_query_free(q);
    search_query_free(q2);
}

/* ---- messages, previews, metadata ------------------------------------------------ */

static void test_preview_contains_match(void **state)
{
    (void)state;
    char content[4000];
    size_t w = 0;
    while (w < 1500)
        w += (size_t)snprintf(content + w, sizeof content - w, "Ünïcödé filler %zu. ", w);
    size_t dpos = w;
    w += (size_t)snprintf(content + w, sizeof content - w, "The DEADLOCK happened here. ");
    while (w < 3000)
        w += (size_t)snprintf(content + w, sizeof content - w, "more ☃ text %zu. ", w);
    search_query *q = search_query_new(S("deadlock"));
    search_match m;
    assert_float_equal(search_score_message(q, ws, "bob", content, w, NULL, 60, &m), 100, EPS);
    assert_int_equal(m.field, SEARCH_FIELD_CONTENT);
    assert_true(str_utf8_valid(m.preview, m.preview_len));
    assert_non_null(strstr(m.preview, "DEADLOCK"));
    assert_int_equal(strncmp(m.preview, "\xE2\x80\xA6", 3), 0);
    assert_int_equal(strcmp(m.preview + m.preview_len - 3, "\xE2\x80\xA6"), 0);
    assert_true(m.preview_len <= SEARCH_PREVIEW_MAX - 1);
    assert_true(m.preview_len >= 100);
    /* short content: whole text, no ellipsis, white space collapsed */
    assert_float_equal(search_score_message(q, ws, NULL, S("a\n\n deadlock  b"), NULL, 0, &m), 100,
                       EPS);
    assert_string_equal(m.preview, "a deadlock b");
    /* match at the start: no leading ellipsis */
    assert_float_equal(search_score_message(q, ws, NULL, content + dpos, w - dpos, NULL, 0, &m),
                       100, EPS);
    assert_int_equal(strncmp(m.preview, "The DEADLOCK happened", 21), 0);
    search_query_free(q);
    search_query_free(search_query_new(S("x")));
    /* the match itself is longer than the preview: it starts at the match */
    char longm[1000];
    memset(longm, 'z', sizeof longm);
    char pv[SEARCH_PREVIEW_MAX];
    size_t pl = search_preview(longm, sizeof longm, (search_span){400, 900}, pv, sizeof pv);
    assert_int_equal(strncmp(pv, "\xE2\x80\xA6zzz", 6), 0);
    assert_int_equal(pl, 3 + SEARCH_PREVIEW_CPS + 3);
    /* tiny buffers are safe */
    assert_int_equal(search_preview(longm, sizeof longm, (search_span){0, 1}, pv, 4), 0);
    assert_string_equal(pv, "");
}

static void test_sender_and_metadata(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *meta = json_loads("{\"nothing\": null, \"priority\": 5, \"ratio\": 0.25,"
                              " \"urgent\": true, \"tags\": [\"alpha\", \"deploy\"],"
                              " \"owner\": {\"name\": \"Zoë\"}, \"needle_key\": \"x\","
                              " \"a\": {\"b\": {\"c\": {\"d\": \"fourlevels\"}}},"
                              " \"p\": {\"q\": {\"r\": {\"s\": {\"t\": \"fivelevels\"}}}}}",
                              0, &jerr);
    assert_non_null(meta);
    search_match m;
    struct {
        const char *q, *key;
    } cases[] = {{"deploy", "tags.1"}, {"zoe", "owner.name"}, {"true", "urgent"},
                 {"0.25", "ratio"},    {"5", "priority"},     {"fourlevels", "a.b.c.d"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        search_query *q = search_query_new(S(cases[i].q));
        assert_float_equal(search_score_message(q, ws, "alice", S("unrelated words"), meta, 60, &m),
                           100, EPS);
        assert_int_equal(m.field, SEARCH_FIELD_METADATA);
        assert_string_equal(m.meta_key, cases[i].key);
        /* the preview is the start of the content */
        assert_string_equal(m.preview, "unrelated words");
        /* without metadata (search_metadata=false) it does not match */
        assert_float_equal(search_score_message(q, ws, "alice", S("unrelated words"), NULL, 60, &m),
                           0, EPS);
        assert_int_equal(m.field, SEARCH_FIELD_NONE);
        search_query_free(q);
    }
    /* deeper than SEARCH_META_MAX_DEPTH: ignored; keys never match; null skipped */
    const char *nomatch[] = {"fivelevels", "needle_key", "nothing", "null"};
    for (size_t i = 0; i < sizeof nomatch / sizeof nomatch[0]; i++) {
        search_query *q = search_query_new(S(nomatch[i]));
        search_score_message(q, ws, "alice", S("unrelated words"), meta, 0, &m);
        assert_true(m.score < 80);
        search_query_free(q);
    }
    /* sender */
    search_query *q = search_query_new(S("claude"));
    assert_float_equal(search_score_message(q, ws, "claude-code", S("hello"), meta, 60, &m), 100,
                       EPS);
    assert_int_equal(m.field, SEARCH_FIELD_SENDER);
    assert_string_equal(m.preview, "hello");
    /* content wins ties */
    assert_float_equal(search_score_message(q, ws, "claude", S("ask claude"), meta, 60, &m), 100,
                       EPS);
    assert_int_equal(m.field, SEARCH_FIELD_CONTENT);
    /* non-object metadata is ignored */
    json_t *arr = json_pack("[s]", "claude");
    assert_float_equal(search_score_message(q, ws, NULL, S("x"), arr, 0, &m), 0, EPS);
    json_decref(arr);
    search_query_free(q);
    json_decref(meta);
}

static void test_relevance_thresholds(void **state)
{
    (void)state;
    assert_string_equal(search_relevance(100), "high");
    assert_string_equal(search_relevance(80), "high");
    assert_string_equal(search_relevance(79.999), "medium");
    assert_string_equal(search_relevance(60), "medium");
    assert_string_equal(search_relevance(59.999), "low");
    assert_string_equal(search_relevance(0), "low");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rapidfuzz_reference_values),
        cmocka_unit_test(test_hand_computed_values),
        cmocka_unit_test(test_bitparallel_matches_brute_force),
        cmocka_unit_test(test_symmetric_scores),
        cmocka_unit_test(test_pruning_never_changes_scores),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_containment_scores_100),
        cmocka_unit_test(test_disjoint_scores_low),
        cmocka_unit_test(test_monotonic_in_typos),
        cmocka_unit_test(test_token_order_irrelevant),
        cmocka_unit_test(test_query_is_the_needle),
        cmocka_unit_test(test_long_texts),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_invalid_utf8_never_crashes),
        cmocka_unit_test(test_preview_contains_match),
        cmocka_unit_test(test_sender_and_metadata),
        cmocka_unit_test(test_relevance_thresholds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
