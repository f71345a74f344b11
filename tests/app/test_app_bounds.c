/* tests/app/test_app_bounds.c — every call does bounded work (issue 11, "one agent must
 * not stall every tool call"): get_thread on a 10,000-reply thread answers one page (the
 * cap) with has_more and a cursor that reaches every reply once; list answers stop adding
 * rows at the response size and say so (truncated, has_more); search_context over a huge
 * session at threshold 0 comes back cut short, and its byte budget is exact and resumable
 * with since_id; one agent runs at most HEAVY_CALLS_PER_AGENT heavy calls at once (the
 * next is RATE_LIMITED with retry_after) while another agent is served.
 * Must not: sleep or assert durations (the held searches wait on a gate the test opens). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"

/* deterministic text of n bytes: lowercase words of 2..9 letters (seeded) */
static char *words(size_t n, unsigned seed)
{
    char *s = malloc(n + 1);
    uint32_t x = seed * 2654435761u + 1;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        size_t w = 2 + (x >> 16) % 8;
        for (size_t k = 0; k < w && i < n; k++) {
            x = x * 1103515245u + 12345u;
            s[i++] = (char)('a' + (x >> 16) % 26);
        }
        if (i < n)
            s[i++] = ' ';
    }
    if (n && s[n - 1] == ' ')
        s[n - 1] = 'z';
    s[n] = '\0';
    return s;
}

static int64_t post_reply(fx *f, const char *tok, const char *sid, const char *content,
                          int64_t parent)
{
    json_t *a =
        json_pack("{s:s s:s s:s}", "session_id", sid, "content", content, "auth_token", tok);
    if (parent)
        json_object_set_new(a, "parent_message_id", json_integer(parent));
    json_t *sc = tool(f, "add_message", a);
    expect_ok(sc);
    int64_t id = json_integer_value(json_object_get(sc, "message_id"));
    json_decref(sc);
    return id;
}

/* n messages of `size` bytes of words (seeds seed, seed + 1, ...) into sid; their ids
 * into ids (when not NULL) */
static void post_words(fx *f, const char *tok, const char *sid, int n, size_t size, unsigned seed,
                       int64_t *ids)
{
    for (int i = 0; i < n; i++) {
        char *c = words(size, seed + (unsigned)i);
        int64_t id = post_reply(f, tok, sid, c, 0);
        if (ids)
            ids[i] = id;
        free(c);
    }
}

static int64_t num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* get_thread on a thread of 10,000 replies: the default page is the cap (100) with
 * has_more; pages of the maximum (1000) reach every message once, in id order */
static void test_thread_cap(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    int64_t root = post_reply(f, t, sid, "root", 0);
    enum {
        REPLIES = 10000
    };
    int64_t last = root, newest = root;
    for (int i = 0; i < REPLIES; i++) { /* chains and direct replies, mixed */
        newest = post_reply(f, t, sid, "reply", i % 3 == 0 ? last : root);
        if (i % 3 == 0)
            last = newest;
    }

    json_t *sc = tool(f, "get_thread",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)root, "auth_token", t));
    expect_ok(sc);
    assert_int_equal(num(sc, "count"), 100);
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 100);
    assert_true(json_is_true(json_object_get(sc, "has_more")));
    assert_true(json_is_false(json_object_get(sc, "truncated")));
    json_t *msgs = json_object_get(sc, "messages");
    assert_int_equal(num(json_array_get(msgs, 0), "id"), root);
    assert_int_equal(num(sc, "next_since_id"), num(json_array_get(msgs, 99), "id"));
    json_decref(sc);

    int64_t since = 0, prev = 0;
    size_t seen = 0, pages = 0;
    for (bool more = true; more; pages++) {
        sc = tool(f, "get_thread",
                  json_pack("{s:I s:i s:I s:s}", "message_id", (json_int_t)root, "limit", 1000,
                            "since_id", (json_int_t)since, "auth_token", t));
        expect_ok(sc);
        msgs = json_object_get(sc, "messages");
        assert_true(json_array_size(msgs) <= 1000);
        for (size_t i = 0; i < json_array_size(msgs); i++) {
            int64_t id = num(json_array_get(msgs, i), "id");
            assert_true(id > prev);
            prev = id;
            seen++;
        }
        more = json_is_true(json_object_get(sc, "has_more"));
        since = num(sc, "next_since_id");
        assert_int_equal(root, num(sc, "root_message_id"));
        json_decref(sc);
    }
    assert_int_equal(seen, REPLIES + 1);
    assert_int_equal(pages, 11);
    assert_int_equal(prev, newest);

    expect_code(tool(f, "get_thread",
                     json_pack("{s:I s:i s:s}", "message_id", (json_int_t)root, "limit", 1001,
                               "auth_token", t)),
                "INVALID_INPUT");
    free(sid);
    free(t);
}

/* a fixture whose app has the limits l (the rest: defaults) */
static int setup_limits(void **state, app_limits l)
{
    g_limits = l;
    int rc = setup(state);
    g_limits = (app_limits){0};
    return rc;
}

static int setup_small_answers(void **state)
{
    return setup_limits(state, (app_limits){.response_max_bytes = 65536});
}

/* answers stop adding rows at the response size: get_messages, get_thread and
 * search_by_sender say so (truncated; has_more and the cursor where there is one), and
 * the cursor reaches the rest; one row bigger than the size still comes back */
static void test_response_cap(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    char *text = words(10000, 1);
    int64_t root = post_reply(f, t, sid, text, 0);
    for (int i = 0; i < 19; i++)
        post_reply(f, t, sid, text, root);

    json_t *sc =
        tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", t));
    expect_ok(sc);
    size_t n = (size_t)num(sc, "count");
    assert_true(n >= 1 && n < 20);
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), n);
    assert_true(json_is_true(json_object_get(sc, "truncated")));
    assert_true(json_is_true(json_object_get(sc, "has_more")));
    assert_int_equal(num(sc, "total_count"), 20);
    size_t got = n;
    int64_t since = num(sc, "next_since_id");
    json_decref(sc);
    while (got < 20) {
        sc = tool(f, "get_messages",
                  json_pack("{s:s s:I s:s}", "session_id", sid, "since_id", (json_int_t)since,
                            "auth_token", t));
        expect_ok(sc);
        assert_true(num(sc, "count") >= 1);
        got += (size_t)num(sc, "count");
        since = num(sc, "next_since_id");
        json_decref(sc);
    }
    assert_int_equal(got, 20);

    sc = tool(f, "get_thread",
              json_pack("{s:I s:s}", "message_id", (json_int_t)root, "auth_token", t));
    expect_ok(sc);
    assert_true(num(sc, "count") >= 1 && num(sc, "count") < 20);
    assert_true(json_is_true(json_object_get(sc, "truncated")));
    assert_true(json_is_true(json_object_get(sc, "has_more")));
    json_decref(sc);

    sc = tool(f, "search_by_sender",
              json_pack("{s:s s:s s:s}", "session_id", sid, "sender", "claude-1", "auth_token", t));
    expect_ok(sc);
    assert_true(num(sc, "count") >= 1 && num(sc, "count") < 20);
    assert_true(json_is_true(json_object_get(sc, "truncated")));
    json_decref(sc);

    /* one message over the size on its own: it still comes back, whole */
    char *big = words(100000, 2);
    char *sid2 = new_session(f, t);
    post_reply(f, t, sid2, big, 0);
    sc = tool(f, "get_messages", json_pack("{s:s s:s}", "session_id", sid2, "auth_token", t));
    expect_ok(sc);
    assert_int_equal(num(sc, "count"), 1);
    assert_true(json_is_false(json_object_get(sc, "truncated")));
    assert_false(json_is_true(json_object_get(sc, "has_more")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(sc, "messages"), 0), "content")),
                        big);
    json_decref(sc);
    free(big);
    free(sid2);
    free(text);
    free(sid);
    free(t);
}

static json_t *search(fx *f, const char *t, const char *sid, const char *query, int64_t since)
{
    json_t *a = json_pack("{s:s s:s s:f s:s}", "session_id", sid, "query", query, "fuzzy_threshold",
                          0.0, "auth_token", t);
    if (since)
        json_object_set_new(a, "since_id", json_integer(since));
    json_t *sc = tool(f, "search_context", a);
    expect_ok(sc);
    return sc;
}

/* the default budgets: a session of 600 messages of 60,000 characters (36 MB) searched
 * at threshold 0 with a query of 1000 characters comes back cut short, with the best
 * results of what it scored and where to go on */
static void test_search_huge_session(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    post_words(f, t, sid, 600, 60000, 10, NULL);
    char *q = words(1000, 7);
    json_t *sc = search(f, t, sid, q, 0);
    assert_true(json_is_true(json_object_get(sc, "cut_short")));
    const char *why = json_string_value(json_object_get(sc, "cut_short_reason"));
    assert_non_null(why);
    assert_true(!strcmp(why, "scan_bytes") || !strcmp(why, "time"));
    int64_t searched = num(sc, "message_count");
    assert_true(searched >= 1 && searched < 600);
    /* threshold 0: every message scored is a result, up to the limit of 10 (a loaded
     * machine may score fewer than 10 within the time budget) */
    assert_int_equal(num(sc, "count"), searched < 10 ? searched : 10);
    assert_true(num(sc, "next_since_id") > 0);
    json_decref(sc);
    free(q);
    free(sid);
    free(t);
}

static int setup_small_scan(void **state)
{
    return setup_limits(state, (app_limits){.search_max_bytes = 65536, .search_time_ms = 600000});
}

/* the scan budget is exact: it stops before the first message once the budget is spent,
 * next_since_id resumes right after the last message scored, and the pieces cover the
 * session once; a small session is searched whole (cut_short false) */
static void test_search_budget_resumes(void **state)
{
    fx *f = *state;
    char *t = auth_agent(f, "claude-1", "claude", NULL);
    char *sid = new_session(f, t);
    enum {
        N = 40
    };
    int64_t ids[N];
    post_words(f, t, sid, N, 10000, 100, ids);
    /* 10000 bytes of content + 8 of sender each: 7 messages spend 70056 >= 65536 */
    json_t *sc = search(f, t, sid, "alpha beta", 0);
    assert_true(json_is_true(json_object_get(sc, "cut_short")));
    assert_string_equal(json_string_value(json_object_get(sc, "cut_short_reason")), "scan_bytes");
    assert_int_equal(num(sc, "message_count"), 7);
    assert_int_equal(num(sc, "next_since_id"), ids[6]);
    assert_int_equal(num(sc, "count"), 7);
    json_decref(sc);
    int64_t since = ids[6], total = 7;
    for (bool cut = true; cut;) {
        sc = search(f, t, sid, "alpha beta", since);
        cut = json_is_true(json_object_get(sc, "cut_short"));
        total += num(sc, "message_count");
        json_t *res = json_object_get(sc, "results");
        for (size_t i = 0; i < json_array_size(res); i++)
            assert_true(num(json_object_get(json_array_get(res, i), "message"), "id") > since);
        if (cut)
            since = num(sc, "next_since_id");
        else
            assert_null(json_object_get(sc, "next_since_id"));
        json_decref(sc);
    }
    assert_int_equal(total, N);

    char *sid2 = new_session(f, t);
    post_reply(f, t, sid2, "alpha beta gamma", 0);
    sc = search(f, t, sid2, "alpha beta", 0);
    assert_true(json_is_false(json_object_get(sc, "cut_short")));
    assert_null(json_object_get(sc, "cut_short_reason"));
    assert_int_equal(num(sc, "message_count"), 1);
    json_decref(sc);
    free(sid2);
    free(sid);
    free(t);
}

/* ---- heavy calls per agent ----------------------------------------------------------- */

/* Sessions whose transport holds a call at its first progress notification until the
 * gate opens: a search that reports progress is then running (holding its slot). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int held;
    bool open;
} gate;

static gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

static int gate_send(void *ud, void *stream, const char *json, size_t len)
{
    (void)ud;
    (void)stream;
    if (!memmem(json, len, "notifications/progress", 22))
        return 0;
    pthread_mutex_lock(&g_gate.mu);
    g_gate.held++;
    pthread_cond_broadcast(&g_gate.cv);
    while (!g_gate.open)
        pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);
    return 0;
}
static const mcp_transport_ops gate_ops = {gate_send};

typedef struct held_call {
    pthread_t th;
    mcp_session *s;
    app_conn *conn;
    app_req req;
    char body[1024];
    json_t *result; /* structuredContent */
} held_call;

static void *held_main(void *arg)
{
    held_call *h = arg;
    mcp_reply rep;
    mcp_session_handle(h->s, h->body, strlen(h->body), &(mcp_request_ctx){NULL, &h->req}, &rep);
    json_t *r = json_loads(rep.json, 0, NULL);
    mcp_reply_free(&rep);
    h->result = json_incref(json_object_get(json_object_get(r, "result"), "structuredContent"));
    json_decref(r);
    return NULL;
}

static void held_open(fx *f, held_call *h)
{
    h->conn = app_conn_new(false);
    h->req = (app_req){.conn = h->conn, .api_key_ok = true, .rate_key = "test"};
    h->s = mcp_session_new(f->srv, &gate_ops, NULL);
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{"
                       "\"name\":\"t\",\"version\":\"1\"}}}";
    mcp_reply rep;
    mcp_session_handle(h->s, init, strlen(init), &(mcp_request_ctx){NULL, &h->req}, &rep);
    mcp_reply_free(&rep);
}

static int setup_heavy(void **state)
{
    return setup_limits(state, (app_limits){.heavy_per_agent = 8});
}

/* One agent runs 8 searches at once (each held after its first page); its 9th heavy call
 * (a search, or get_thread) is RATE_LIMITED with retry_after while they run; another
 * agent's get_session and search are answered meanwhile; once they finish, the agent may
 * search again. */
static void test_heavy_per_agent(void **state)
{
    fx *f = *state;
    char *ta = auth_agent(f, "agent-a", "claude", NULL);
    char *tb = auth_agent(f, "agent-b", "claude", NULL);
    char *sid = new_session(f, ta);
    int64_t root = 0;
    for (int i = 0; i < 150; i++) { /* more than the first page of a search */
        int64_t id = post_reply(f, ta, sid, "deploy the pipeline", 0);
        root = root ? root : id;
    }
    enum {
        HELD = 8
    };
    held_call h[HELD];
    memset(h, 0, sizeof h);
    for (int i = 0; i < HELD; i++) {
        held_open(f, &h[i]);
        snprintf(h[i].body, sizeof h[i].body,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"search_context\",\"_meta\":{\"progressToken\":%d},\"arguments\":{"
                 "\"session_id\":\"%s\",\"query\":\"deploy\",\"auth_token\":\"%s\"}}}",
                 i + 1, sid, ta);
        assert_int_equal(pthread_create(&h[i].th, NULL, held_main, &h[i]), 0);
    }
    pthread_mutex_lock(&g_gate.mu);
    while (g_gate.held < HELD)
        pthread_cond_wait(&g_gate.cv, &g_gate.mu);
    pthread_mutex_unlock(&g_gate.mu);

    /* the 9th heavy call of agent-a, while its 8 run */
    json_t *sc =
        tool(f, "search_context",
             json_pack("{s:s s:s s:s}", "session_id", sid, "query", "deploy", "auth_token", ta));
    assert_string_equal(code(sc), "RATE_LIMITED");
    assert_true(num(sc, "retry_after") >= 1);
    assert_true(json_is_true(json_object_get(sc, "recoverable")));
    expect_code(sc, "RATE_LIMITED");
    expect_code(tool(f, "get_thread",
                     json_pack("{s:I s:s}", "message_id", (json_int_t)root, "auth_token", ta)),
                "RATE_LIMITED");
    /* its light calls, and another agent, are served meanwhile */
    expect_ok(
        sc = tool(f, "get_messages",
                  json_pack("{s:s s:i s:s}", "session_id", sid, "limit", 1, "auth_token", ta)));
    json_decref(sc);
    expect_ok(sc = toolc(&f->c[1], "get_session",
                         json_pack("{s:s s:s}", "session_id", sid, "auth_token", tb)));
    json_decref(sc);
    expect_ok(sc = toolc(&f->c[1], "search_context",
                         json_pack("{s:s s:s s:s}", "session_id", sid, "query", "deploy",
                                   "auth_token", tb)));
    json_decref(sc);
    for (int i = 0; i < HELD; i++) /* none of the held searches has answered */
        assert_null(h[i].result);

    pthread_mutex_lock(&g_gate.mu);
    g_gate.open = true;
    pthread_cond_broadcast(&g_gate.cv);
    pthread_mutex_unlock(&g_gate.mu);
    for (int i = 0; i < HELD; i++) {
        pthread_join(h[i].th, NULL);
        expect_ok(h[i].result);
        assert_int_equal(num(h[i].result, "message_count"), 150);
        json_decref(h[i].result);
        mcp_session_free(h[i].s);
        app_conn_free(h[i].conn);
    }
    /* the slots are back */
    expect_ok(sc = tool(f, "search_context",
                        json_pack("{s:s s:s s:s}", "session_id", sid, "query", "deploy",
                                  "auth_token", ta)));
    json_decref(sc);
    free(sid);
    free(ta);
    free(tb);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thread_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, setup_small_answers, teardown),
        cmocka_unit_test_setup_teardown(test_search_budget_resumes, setup_small_scan, teardown),
        cmocka_unit_test_setup_teardown(test_heavy_per_agent, setup_heavy, teardown),
        cmocka_unit_test_setup_teardown(test_search_huge_session, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
