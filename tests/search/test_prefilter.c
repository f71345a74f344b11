/* tests/search/test_prefilter.c — the trigram prefilter guarantee (search/prefilter.h)
 * checked by brute force against the scorer: for random and adversarial (typo,
 * reordered, short-token) query/text pairs, whenever the plan is sound and the text
 * scores >= the threshold, the text's index text contains one of the plan's terms.
 * Also pins where the plan must say "not sound" and the index text's shape.
 * Must not: use a database, or depend on timing (deterministic PRNG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "search/prefilter.h"
#include "search/search.h"

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

static const char *const ALPHA[] = {"a", "b", "c", "d", "e", " ", ",", "É", "é", "ß", "s"};
#define NALPHA (sizeof ALPHA / sizeof ALPHA[0])

static void rand_str(char *out, size_t cap, size_t n, size_t nalpha)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *c = ALPHA[rnd((uint32_t)nalpha)];
        if (strlen(out) + strlen(c) + 1 < cap)
            strcat(out, c);
    }
}

/* one random edit of an ASCII string (insert / delete / substitute / swap) */
static void mutate(char *s, size_t cap)
{
    size_t n = strlen(s);
    int op = (int)rnd(4);
    size_t p = n ? rnd((uint32_t)n) : 0;
    char c = "abcde ,"[rnd(7)];
    if (op == 0 && n + 2 < cap) {
        memmove(s + p + 1, s + p, n - p + 1);
        s[p] = c;
    } else if (op == 1 && n) {
        memmove(s + p, s + p + 1, n - p);
    } else if (op == 2 && n) {
        s[p] = c;
    } else if (op == 3 && n > 1 && p + 1 < n) {
        char t = s[p];
        s[p] = s[p + 1];
        s[p + 1] = t;
    }
}

static bool contains_term(const search_prefilter *p, const char *idx)
{
    for (size_t i = 0; i < p->nterms; i++)
        if (strstr(idx, p->terms[i]))
            return true;
    return false;
}

static const double TH[] = {0.5, 30, 60, 75, 80, 85, 88, 90, 93, 95, 98, 100};

static long checked, sound_plans;

static void check_pair(search_ws *ws, const char *q, double th, const search_prefilter *p,
                       const char *text)
{
    search_query *sq = search_query_new(q, strlen(q));
    search_match mt;
    double s = search_score_message(sq, ws, "zz", text, strlen(text), NULL, th, &mt);
    search_query_free(sq);
    if (!(s >= th && s > 0))
        return;
    checked++;
    size_t il;
    char *idx = search_index_text(ws, "zz", text, strlen(text), NULL, &il);
    if (!contains_term(p, idx))
        fail_msg("missed: query '%s' threshold %g text '%s' score %g", q, th, text, s);
    free(idx);
}

static void test_guarantee_brute_force(void **state)
{
    (void)state;
    search_ws *ws = search_ws_new();
    char q[64], t[96];
    for (int iter = 0; iter < 2500; iter++) {
        size_t na = iter % 3 == 0 ? 5 : iter % 3 == 1 ? 7 : NALPHA;
        rand_str(q, sizeof q, 1 + rnd(iter % 2 ? 14 : 30), na);
        for (size_t ti = 0; ti < sizeof TH / sizeof TH[0]; ti++) {
            search_prefilter p;
            search_prefilter_plan(ws, q, strlen(q), TH[ti], &p);
            if (p.sound) {
                sound_plans++;
                for (int k = 0; k < 60; k++) {
                    if (k < 30) {
                        /* edits of the query (typos), maybe embedded in noise */
                        snprintf(t, sizeof t, "%s", q);
                        for (uint32_t e = rnd(4); e > 0; e--)
                            mutate(t, sizeof t);
                        if (k & 1) {
                            char pre[32];
                            rand_str(pre, sizeof pre, rnd(6), na);
                            char tmp[96];
                            snprintf(tmp, sizeof tmp, "%s%s", pre, t);
                            snprintf(t, sizeof t, "%s", tmp);
                        }
                    } else {
                        rand_str(t, sizeof t, rnd(20), na);
                    }
                    check_pair(ws, q, TH[ti], &p, t);
                }
            }
            search_prefilter_free(&p);
        }
    }
    search_ws_free(ws);
    print_message("prefilter: %ld sound plans, %ld matching pairs checked\n", sound_plans, checked);
    assert_true(sound_plans > 1000);
    assert_true(checked > 10000);
}

static bool plan_sound(const char *q, double th)
{
    search_ws *ws = search_ws_new();
    search_prefilter p;
    search_prefilter_plan(ws, q, strlen(q), th, &p);
    bool s = p.sound;
    search_prefilter_free(&p);
    search_ws_free(ws);
    return s;
}

static void test_unsound_cases(void **state)
{
    (void)state;
    /* "hello" vs "hxlxo" scores 60 without a shared trigram */
    assert_false(plan_sound("hello", 60));
    assert_false(plan_sound("ab", 100));    /* shorter than a trigram */
    assert_false(plan_sound("ab cd", 100)); /* "cd,ab" scores 100 (token set) */
    assert_false(plan_sound("deployment", 0));
    assert_true(plan_sound("deployment", 90));
    assert_true(plan_sound("database migration", 90));
    assert_true(plan_sound("abc", 100));
    /* the counter-examples really score as claimed */
    search_ws *ws = search_ws_new();
    search_query *sq = search_query_new("hello", 5);
    assert_true(search_score(sq, ws, "hxlxo", 5, 0, NULL) >= 60);
    search_query_free(sq);
    sq = search_query_new("ab cd", 5);
    assert_true(search_score(sq, ws, "cd,ab", 5, 0, NULL) >= 99.99);
    search_query_free(sq);
    search_ws_free(ws);
}

static void test_index_text(void **state)
{
    (void)state;
    search_ws *ws = search_ws_new();
    size_t n;
    char *s = search_index_text(ws, "Agent-É", "Café  DÉJÀ", strlen("Café  DÉJÀ"),
                                "{\"a\":{\"b\":[1,2.5,true,null,\"Straße\"]},\"c\":false}", &n);
    assert_string_equal(s, "agent-e\ncafe deja\n1\n2.5\ntrue\nstrasse\nfalse");
    assert_int_equal(n, strlen(s));
    free(s);
    s = search_index_text(ws, "x", "y", 1, "not json", &n);
    assert_string_equal(s, "x\ny");
    free(s);
    search_ws_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsound_cases),
        cmocka_unit_test(test_index_text),
        cmocka_unit_test(test_guarantee_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
