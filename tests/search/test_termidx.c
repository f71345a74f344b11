/* tests/search/test_termidx.c — the term index (search/termidx.h): exact, typo and
 * partial-word lookup, postings and the candidates' order (pre-rank desc, id asc, the
 * top tier in id order), since_id, ids added out of order and twice, what it cannot
 * serve, and that its memory is counted (and grows with what it holds).
 * Must not: use a database, or depend on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "search/prefilter.h"
#include "search/termidx.h"

/* adds a message the way the app does: its index text I(m) */
static void add(search_tidx *x, int64_t id, const char *sender, const char *content,
                const char *meta)
{
    char *t = search_message_index_text(sender, content, strlen(content), meta);
    assert_true(search_tidx_add(x, id, t, strlen(t)));
    free(t);
}

/* the candidates of query (threshold-like min_sim 60) */
static search_tidx_result query(search_tidx *x, const char *q, int64_t since, size_t max)
{
    search_query *sq = search_query_new(q, strlen(q));
    search_tidx_result r;
    search_tidx_query(x, sq, 60, since, max, &r);
    search_query_free(sq);
    return r;
}

static bool has(const search_tidx_result *r, int64_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].id == id)
            return true;
    return false;
}

static search_tidx *sample(void)
{
    search_tidx *x = search_tidx_new();
    add(x, 10, "alice", "The deployment pipeline failed after the rollback.", NULL);
    add(x, 11, "bob", "Cache invalidation in the Café module", "{\"file\":\"src/cache/lru.c\"}");
    add(x, 12, "carol", "deployment of the database migration", NULL);
    add(x, 13, "dave", "nothing relevant here", "{\"tags\":[\"kubernetes\",\"alpha\"]}");
    add(x, 14, "erin", "the pipeline", NULL);
    return x;
}

static void test_exact_and_order(void **state)
{
    (void)state;
    search_tidx *x = sample();
    assert_int_equal(search_tidx_count(x), 5);
    assert_int_equal(search_tidx_max_id(x), 14);
    search_tidx_result r = query(x, "deployment", 0, 10);
    assert_true(r.usable);
    /* both messages holding the word, in id order, as the top tier */
    assert_true(r.n >= 2);
    assert_int_equal(r.top, 2);
    assert_int_equal(r.v[0].id, 10);
    assert_int_equal(r.v[1].id, 12);
    assert_true(r.v[0].pre >= 100.0);
    assert_false(has(&r, 13));
    search_tidx_result_free(&r);
    /* two tokens: the message with both first, then the ones with one */
    r = query(x, "deployment pipeline", 0, 10);
    assert_int_equal(r.top, 1);
    assert_int_equal(r.v[0].id, 10);
    assert_true(has(&r, 12) && has(&r, 14));
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.v[i - 1].pre > r.v[i].pre ||
                    (r.v[i - 1].pre == r.v[i].pre && r.v[i - 1].id < r.v[i].id));
    search_tidx_result_free(&r);
    /* at most max, the best kept */
    r = query(x, "deployment pipeline", 0, 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].id, 10);
    assert_true(r.matched >= 3);
    search_tidx_result_free(&r);
    search_tidx_free(x);
}

static void test_typos_partial_metadata(void **state)
{
    (void)state;
    search_tidx *x = sample();
    /* a transposition, a substitution, a deletion */
    const char *typos[] = {"deploymnet", "deploiment", "deplyment"};
    for (size_t i = 0; i < 3; i++) {
        search_tidx_result r = query(x, typos[i], 0, 10);
        assert_true(has(&r, 10) && has(&r, 12));
        assert_int_equal(r.top, 0); /* not inside a term: not the top tier */
        search_tidx_result_free(&r);
    }
    /* a word holding the typo's letters in order ranks by how close it is, as the
     * scorer's ratio of the two words does: "zenqui" (90.9) before a longer word
     * scattering them, which came first by id when both counted 99 */
    search_tidx *y = search_tidx_new();
    add(y, 1, "a", "zenxxuxixx", NULL);
    add(y, 2, "a", "zenqui", NULL);
    search_tidx_result z = query(y, "zenui", 0, 10);
    assert_int_equal(z.n, 2);
    assert_int_equal(z.v[0].id, 2);
    assert_true(z.v[0].pre > z.v[1].pre);
    search_tidx_result_free(&z);
    search_tidx_free(y);
    /* an identifier ranks by the whole of it, as the scorer's window does: the message
     * with "kasto_error14" (84.6) before the one with "stoka error99" (76.9), which
     * its tokens alone rank alike (83.3, first by id) */
    y = search_tidx_new();
    add(y, 1, "a", "stoka error99", NULL);
    add(y, 2, "a", "kasto_error14", NULL);
    z = query(y, "stoka_error14", 0, 10);
    assert_int_equal(z.n, 2);
    assert_int_equal(z.v[0].id, 2);
    assert_true(z.v[0].pre > z.v[1].pre);
    search_tidx_result_free(&z);
    search_tidx_free(y);
    /* typos breaking every trigram still find the word (the vocabulary fallback) */
    search_tidx_result r = query(x, "pipleine", 0, 10);
    assert_true(has(&r, 10) && has(&r, 14));
    search_tidx_result_free(&r);
    /* partial words: a prefix and an infix are inside the term */
    r = query(x, "deplo", 0, 10);
    assert_int_equal(r.top, 2);
    search_tidx_result_free(&r);
    r = query(x, "ollbac", 0, 10);
    assert_int_equal(r.top, 1);
    assert_int_equal(r.v[0].id, 10);
    search_tidx_result_free(&r);
    /* metadata values, senders, accents folded as the scorer folds them */
    r = query(x, "kubernetes", 0, 10);
    assert_int_equal(r.top, 1);
    assert_int_equal(r.v[0].id, 13);
    search_tidx_result_free(&r);
    r = query(x, "lru", 0, 10);
    assert_int_equal(r.v[0].id, 11);
    search_tidx_result_free(&r);
    r = query(x, "CAFE", 0, 10);
    assert_int_equal(r.v[0].id, 11);
    search_tidx_result_free(&r);
    r = query(x, "carol", 0, 10);
    assert_int_equal(r.v[0].id, 12);
    search_tidx_result_free(&r);
    /* nothing alike: usable, no candidate */
    r = query(x, "xylophone", 0, 10);
    assert_true(r.usable);
    assert_int_equal(r.n, 0);
    search_tidx_result_free(&r);
    search_tidx_free(x);
}

static void test_since_short_and_ids(void **state)
{
    (void)state;
    search_tidx *x = sample();
    search_tidx_result r = query(x, "deployment", 10, 10);
    assert_false(has(&r, 10));
    assert_true(has(&r, 12));
    search_tidx_result_free(&r);
    /* a token under 3 characters is looked up whole only; none found: not servable */
    r = query(x, "zq", 0, 10);
    assert_false(r.usable);
    search_tidx_result_free(&r);
    r = query(x, "!!", 0, 10);
    assert_false(r.usable);
    search_tidx_result_free(&r);
    /* an id below the largest (a late commit) is found; an id twice is refused */
    add(x, 7, "zed", "late deployment", NULL);
    assert_true(search_tidx_has(x, 7));
    assert_int_equal(search_tidx_max_id(x), 14);
    char *t = search_message_index_text("zed", "again", 5, NULL);
    assert_false(search_tidx_add(x, 7, t, strlen(t)));
    free(t);
    r = query(x, "deployment", 0, 10);
    assert_int_equal(r.top, 3);
    assert_int_equal(r.v[0].id, 7);
    assert_int_equal(r.v[1].id, 10);
    search_tidx_result_free(&r);
    search_tidx_free(x);
}

/* many messages: postings past every growth step, quickselect of the best, memory */
static void test_many(void **state)
{
    (void)state;
    search_tidx *x = search_tidx_new();
    size_t empty = search_tidx_bytes(x);
    char buf[128];
    for (int i = 1; i <= 20000; i++) {
        snprintf(buf, sizeof buf, "finding %d in module m%d word%d %s", i, i % 97, i % 1000,
                 i % 3 ? "common" : "rare");
        add(x, i, "agent", buf, NULL);
    }
    size_t full = search_tidx_bytes(x);
    assert_true(full > empty + 20000 * sizeof(uint32_t));
    assert_true(search_tidx_terms(x) > 1000);
    search_tidx_result r = query(x, "common", 0, 50);
    assert_int_equal(r.n, 50);
    assert_int_equal(r.top, 50);
    int64_t want = 1;
    for (size_t i = 0; i < r.n; i++, want++) { /* the lowest ids holding "common" */
        while (want % 3 == 0)
            want++;
        assert_int_equal(r.v[i].id, want);
    }
    search_tidx_result_free(&r);
    r = query(x, "rare m5", 0, 20);
    assert_int_equal(r.n, 20);
    for (size_t i = 0; i < r.top; i++) /* both tokens inside: multiples of 3 in module 5x */
        assert_true(r.v[i].id % 3 == 0);
    assert_true(r.top > 0);
    search_tidx_result_free(&r);
    /* queries reuse their scratch: a second one holds no more */
    size_t after = search_tidx_bytes(x);
    r = query(x, "common", 0, 50);
    search_tidx_result_free(&r);
    assert_int_equal(search_tidx_bytes(x), after);
    search_tidx_free(x);
}

/* A query whose lookup would cost more than the work bound (many tokens that share no
 * trigram with any term: each is compared with the whole vocabulary) is not served (the
 * caller scans, within its own budget); under the bound the same query is served. */
static void test_work_bound(void **state)
{
    (void)state;
    search_tidx *x = search_tidx_new();
    char buf[128];
    for (int i = 1; i <= 2000; i++) {
        snprintf(buf, sizeof buf, "finding %d word%d module%d", i, i, i % 50);
        add(x, i, "agent", buf, NULL);
    }
    /* 40 distinct tokens like "qzx7", none sharing a trigram with the vocabulary */
    char q[400] = "";
    for (int i = 0; i < 40; i++) {
        char t[16];
        snprintf(t, sizeof t, "%sqz%c%c", i ? " " : "", 'a' + i % 26, 'a' + i / 26);
        strcat(q, t);
    }
    size_t terms = search_tidx_terms(x);
    search_tidx_set_work_max(x, terms * 10); /* less than 40 whole-vocabulary passes */
    search_tidx_result r = query(x, q, 0, 10);
    assert_false(r.usable);
    assert_int_equal(r.n, 0);
    search_tidx_result_free(&r);
    search_tidx_set_work_max(x, SEARCH_TIDX_WORK_MAX);
    r = query(x, q, 0, 10);
    assert_true(r.usable);
    search_tidx_result_free(&r);
    /* an ordinary query stays well within a small bound */
    search_tidx_set_work_max(x, terms * 10);
    r = query(x, "finding module7", 0, 10);
    assert_true(r.usable);
    assert_int_equal(r.n, 10);
    search_tidx_result_free(&r);
    search_tidx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_order),     cmocka_unit_test(test_typos_partial_metadata),
        cmocka_unit_test(test_since_short_and_ids), cmocka_unit_test(test_many),
        cmocka_unit_test(test_work_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
