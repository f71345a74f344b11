/* tests/store/contract.c — the store contract: what every store implementation
 * (SQL on SQLite/PostgreSQL/MariaDB, MongoDB) must do, written once against
 * store/store.h. Usage: store_contract [URL] (else $CTXD_TEST_DATABASE_URL,
 * else sqlite:///:memory:); every test gets a fresh migrated database from
 * backend_setup.c. Must not: include backend headers (db/, migrate/, sqlite3)
 * or assert anything a user of the store could not observe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "backend_setup.h"
#include "test_support.h"
#include "store/store.h"
#include "base/utc.h"
#include "base/log.h"
#include "search/prefilter.h"
#include "search/search.h"

static const char *g_url;
static err_t E;

#define OK(x) TS_OK(E, x)

#define FAILS(code, x) \
    do { \
        err_clear(&E); \
        err_code rc_ = (x); \
        if (rc_ != (code)) \
            fail_msg("%s -> %s (%s), expected %s", #x, err_code_name(rc_), E.msg, \
                     err_code_name(code)); \
    } while (0)

#define ST (((tb_db *)*state)->st)
#define C(s) ((char *)(s))

/* ---- helpers --------------------------------------------------------------------- */

static utc_us T(const char *iso)
{
    utc_us t = 0;
    err_t e;
    if (utc_parse(iso, &t, &e) != ERR_OK)
        fail_msg("bad time %s: %s", iso, e.msg);
    return t;
}

#define SEC 1000000LL

static const store_vis VIS_ALL = {.any = STORE_VIS_EVERY};
static const store_vis VIS_PUBLIC = {.any = STORE_VIS_BIT(STORE_VIS_PUBLIC)};
#define ANY(v) STORE_VIS_BIT(STORE_VIS_##v)

/* The visibility named `name` (the tests spell the stored names). */
static store_visibility V(const char *name)
{
    store_visibility v = STORE_VIS_COUNT;
    if (!store_visibility_parse(name, &v))
        fail_msg("unknown visibility %s", name);
    return v;
}
#define VNAME(v) store_visibility_name(v)

static void mk_session_at(store_t *st, const char *id, const char *by, bool active, utc_us at)
{
    store_session s = {.id = C(id),
                       .purpose = C("contract test"),
                       .created_by = C(by),
                       .is_active = active,
                       .created_at = at};
    store_audit_in a = {.event_type = "session_created", .agent_id = by};
    OK(store_session_create(st, &s, &a, &E));
}

static void mk_session(store_t *st, const char *id)
{
    mk_session_at(st, id, "creator", true, 0);
}

static store_message add_full(store_t *st, const char *sid, const char *sender, const char *stype,
                              const char *vis, const char *content, int64_t parent)
{
    store_message m = {.session_id = C(sid),
                       .sender = C(sender),
                       .sender_type = C(stype),
                       .visibility = V(vis),
                       .content = C(content),
                       .parent_id = parent,
                       .parent_vis = &VIS_ALL};
    store_audit_in a = {.event_type = "message_added"};
    OK(store_message_add(st, &m, &a, &E));
    assert_true(m.id > 0);
    return m;
}

static int64_t add_msg(store_t *st, const char *sid, const char *sender, const char *content)
{
    return add_full(st, sid, sender, "claude", "public", content, 0).id;
}

static size_t count_audit(store_t *st, const char *event, const char *session)
{
    store_audits l;
    store_audit_query q = {.event_type = event, .session_id = session, .limit = 100000};
    OK(store_audit_list(st, &q, &l, &E));
    size_t n = l.n;
    store_audits_free(&l);
    return n;
}

static int64_t count_messages(store_t *st, const char *sid)
{
    store_messages l;
    int64_t total = -1;
    store_msg_query q = {.session_id = sid, .vis = VIS_ALL, .limit = 1};
    OK(store_message_list(st, &q, &l, &total, &E));
    store_messages_free(&l);
    return total;
}

/* Runs q and checks the ids (in order) and, when total >= 0, the total. */
static void expect_ids(store_t *st, store_msg_query q, const int64_t *ids, size_t n, int64_t total)
{
    store_messages l;
    int64_t got_total = -1;
    OK(store_message_list(st, &q, &l, total >= 0 ? &got_total : NULL, &E));
    if (l.n != n) {
        char buf[512] = "";
        for (size_t i = 0; i < l.n && strlen(buf) < 480; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%lld ", (long long)l.v[i].id);
        fail_msg("expected %zu messages, got %zu: %s", n, l.n, buf);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(l.v[i].id, ids[i]);
    if (total >= 0)
        assert_int_equal(got_total, total);
    store_messages_free(&l);
}

static void assert_json_same(const char *want, const char *got)
{
    if (!want || !got) {
        assert_null(want);
        assert_null(got);
        return;
    }
    json_error_t je;
    json_t *a = json_loads(want, JSON_DECODE_ANY, &je);
    json_t *b = json_loads(got, JSON_DECODE_ANY, &je);
    assert_non_null(a);
    if (!b)
        fail_msg("not JSON: %s", got);
    if (!json_equal(a, b))
        fail_msg("JSON differs: want %s got %s", want, got);
    assert_int_equal(json_typeof(a), json_typeof(b));
    json_decref(a);
    json_decref(b);
}

/* ---- sessions -------------------------------------------------------------------- */

static void test_session_roundtrip(void **state)
{
    store_t *st = ST;
    utc_us t = T("2024-02-29T23:59:58.123456Z");
    store_session in = {.id = C("session_00000000000000a1"),
                        .purpose = C("Plan the release"),
                        .created_by = C("alice"),
                        .metadata = C("{\"k\":\"v\",\"n\":1}"),
                        .is_active = true,
                        .created_at = t};
    store_audit_in a = {.event_type = "session_created", .agent_id = "alice"};
    OK(store_session_create(st, &in, &a, &E));

    store_session s;
    OK(store_session_get(st, in.id, &s, &E));
    assert_string_equal(s.id, in.id);
    assert_string_equal(s.purpose, "Plan the release");
    assert_string_equal(s.created_by, "alice");
    assert_json_same("{\"k\":\"v\",\"n\":1}", s.metadata);
    assert_true(s.is_active);
    assert_int_equal(s.created_at, t);
    assert_int_equal(s.updated_at, t);
    assert_int_equal(s.message_count, 0);
    assert_int_equal(s.last_activity, t);
    store_session_clear(&s);
    assert_int_equal(count_audit(st, "session_created", in.id), 1);

    /* duplicate id: refused, nothing audited */
    FAILS(ERR_UNIQUE, store_session_create(st, &in, &a, &E));
    assert_int_equal(count_audit(st, "session_created", in.id), 1);

    FAILS(ERR_NOTFOUND, store_session_get(st, "session_ffffffffffffffff", &s, &E));

    /* created_at 0 = now; no metadata */
    utc_us before = utc_now();
    store_session in2 = {.id = C("session_00000000000000a2"),
                         .purpose = C("p"),
                         .created_by = C("bob"),
                         .is_active = true};
    OK(store_session_create(st, &in2, NULL, &E));
    utc_us after = utc_now();
    OK(store_session_get(st, in2.id, &s, &E));
    assert_true(s.created_at >= before && s.created_at <= after);
    assert_null(s.metadata);
    store_session_clear(&s);
    assert_int_equal(count_audit(st, NULL, in2.id), 0); /* NULL audit: none */

    store_session bad = {.id = C("session_00000000000000a3"), .created_by = C("x")};
    FAILS(ERR_INVALID, store_session_create(st, &bad, &a, &E));
    store_session badmeta = {.id = C("session_00000000000000a4"),
                             .purpose = C("p"),
                             .created_by = C("x"),
                             .metadata = C("{not json")};
    FAILS(ERR_INVALID, store_session_create(st, &badmeta, &a, &E));
    FAILS(ERR_NOTFOUND, store_session_get(st, badmeta.id, &s, &E));
}

static bool has_participants(const store_session *s, const char *const *want, size_t n)
{
    if (s->nparticipants != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->participants[i], want[i]) != 0)
            return false;
    return true;
}

static void test_session_list(void **state)
{
    store_t *st = ST;
    mk_session_at(st, "session_000000000000000a", "alice", true, T("2021-01-01T00:00:01Z"));
    mk_session_at(st, "session_000000000000000b", "bob", true, T("2021-01-01T00:00:02Z"));
    mk_session_at(st, "session_000000000000000c", "alice", false, T("2021-01-01T00:00:03Z"));
    add_msg(st, "session_000000000000000a", "carol", "1");
    add_msg(st, "session_000000000000000a", "alice", "2");
    store_message last =
        add_full(st, "session_000000000000000a", "carol", "claude", "private", "3", 0);

    store_sessions l;
    int64_t total = -1;
    store_session_query q = {.limit = 10, .vis = VIS_ALL};
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(total, 3);
    assert_int_equal(l.n, 3);
    /* most recent activity first: a (a message now), c, b */
    assert_string_equal(l.v[0].id, "session_000000000000000a");
    assert_string_equal(l.v[1].id, "session_000000000000000c");
    assert_string_equal(l.v[2].id, "session_000000000000000b");
    assert_int_equal(l.v[0].message_count, 3);
    assert_int_equal(l.v[0].last_activity, last.created_at);
    assert_int_equal(l.v[0].updated_at, last.created_at);
    static const char *const parts[] = {"alice", "carol"};
    assert_true(has_participants(&l.v[0], parts, 2));
    assert_false(l.v[1].is_active);
    assert_int_equal(l.v[2].message_count, 0);
    assert_int_equal(l.v[2].nparticipants, 0);
    assert_int_equal(l.v[2].last_activity, T("2021-01-01T00:00:02Z"));
    store_sessions_free(&l);

    q.active_only = true;
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(total, 2);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].id, "session_000000000000000a");
    assert_string_equal(l.v[1].id, "session_000000000000000b");
    store_sessions_free(&l);

    q = (store_session_query){.limit = 10, .created_by = "alice", .vis = VIS_ALL};
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(total, 2);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].id, "session_000000000000000a");
    assert_string_equal(l.v[1].id, "session_000000000000000c");
    store_sessions_free(&l);
    q.active_only = true;
    OK(store_session_list(st, &q, &l, NULL, &E));
    assert_int_equal(l.n, 1);
    store_sessions_free(&l);

    q = (store_session_query){.limit = 1, .offset = 1, .vis = VIS_ALL};
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(total, 3);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].id, "session_000000000000000c");
    store_sessions_free(&l);
    q.offset = 5;
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(l.n, 0);
    assert_int_equal(total, 3);
    store_sessions_free(&l);

    q = (store_session_query){.limit = 0, .vis = VIS_ALL};
    FAILS(ERR_INVALID, store_session_list(st, &q, &l, &total, &E));

    /* session_get also counts and finds the last activity */
    store_session s;
    OK(store_session_get(st, "session_000000000000000a", &s, &E));
    assert_int_equal(s.message_count, 3);
    assert_int_equal(s.last_activity, last.created_at);
    store_session_clear(&s);
}

/* session_list counts and lists participants over the messages the query's visibility
 * filter matches (the reader's), in the same page and paging as before; last_activity
 * and updated_at stay those of every message; the filter is required to be one. */
static void test_session_list_visibility(void **state)
{
    store_t *st = ST;
    const char *a = "session_00000000000000aa", *b = "session_00000000000000bb";
    mk_session_at(st, a, "alice", true, T("2021-01-01T00:00:01Z"));
    mk_session_at(st, b, "bob", true, T("2021-01-01T00:00:02Z"));
    add_full(st, b, "gina", "gemini", "private", "gina in b", 0);
    add_full(st, a, "alice", "claude", "public", "hello", 0);
    add_full(st, a, "alice", "claude", "private", "alice only", 0);
    add_full(st, a, "carol", "claude", "agent_only", "claude agents", 0);
    add_full(st, a, "gina", "gemini", "private", "gina only", 0);
    store_message last = add_full(st, a, "root", "admin", "admin_only", "admins", 0);
    static const struct {
        store_vis vis;
        int64_t count_a, count_b;
        const char *parts_a[4];
        size_t nparts_a;
        size_t nparts_b;
    } cases[] = {
        /* every message (an admin) */
        {{.any = STORE_VIS_EVERY}, 5, 1, {"alice", "carol", "gina", "root"}, 4, 1},
        /* gina, a gemini agent: public, her own private, gemini agent_only */
        {{.any = ANY(PUBLIC), .private_of = "gina", .agent_only_of = "gemini"},
         2,
         1,
         {"alice", "gina"},
         2,
         1},
        /* alice, a claude agent */
        {{.any = ANY(PUBLIC), .private_of = "alice", .agent_only_of = "claude"},
         3,
         0,
         {"alice", "carol"},
         2,
         0},
        /* public only; nothing at all */
        {{.any = ANY(PUBLIC)}, 1, 0, {"alice"}, 1, 0},
        {{0}, 0, 0, {NULL}, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        store_session_query q = {.limit = 10, .vis = cases[i].vis};
        store_sessions l;
        int64_t total = -1;
        OK(store_session_list(st, &q, &l, &total, &E));
        assert_int_equal(total, 2);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.v[0].id, a); /* the newest activity first, visible or not */
        assert_int_equal(l.v[0].message_count, cases[i].count_a);
        assert_int_equal(l.v[1].message_count, cases[i].count_b);
        if (!has_participants(&l.v[0], cases[i].parts_a, cases[i].nparts_a))
            fail_msg("case %zu: participants of a", i);
        assert_int_equal(l.v[1].nparticipants, cases[i].nparts_b);
        assert_int_equal(l.v[0].last_activity, last.created_at);
        store_sessions_free(&l);
    }
    /* paging with a filter: the second page, counted the same */
    store_session_query q = {.limit = 1, .offset = 1, .vis = cases[1].vis};
    store_sessions l;
    int64_t total = -1;
    OK(store_session_list(st, &q, &l, &total, &E));
    assert_int_equal(total, 2);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].id, b);
    assert_int_equal(l.v[0].message_count, 1);
    store_sessions_free(&l);
    /* a filter saying one thing twice is refused, as for every read */
    q.vis = (store_vis){.any = ANY(PRIVATE), .private_of = "gina"};
    FAILS(ERR_INVALID, store_session_list(st, &q, &l, &total, &E));
    assert_non_null(strstr(E.msg, "session_list"));
}

/* ---- messages -------------------------------------------------------------------- */

static void test_message_add(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000001";
    mk_session_at(st, sid, "alice", true, T("2022-01-01T00:00:00Z"));
    mk_session(st, "session_0000000000000002");

    utc_us before = utc_now();
    store_message m = {.session_id = C(sid), .sender = C("alice"), .content = C("hello")};
    store_audit_in a = {.event_type = "message_added", .agent_id = "alice"};
    OK(store_message_add(st, &m, &a, &E));
    utc_us after = utc_now();
    assert_true(m.id > 0);
    assert_true(m.created_at >= before && m.created_at <= after);

    store_message g;
    OK(store_message_get(st, m.id, &VIS_ALL, &g, &E));
    assert_int_equal(g.id, m.id);
    assert_string_equal(g.session_id, sid);
    assert_string_equal(g.sender, "alice");
    assert_string_equal(g.sender_type, "generic");
    assert_string_equal(g.content, "hello");
    assert_string_equal(VNAME(g.visibility), "public");
    assert_string_equal(g.message_type, "agent_response");
    assert_null(g.metadata);
    assert_int_equal(g.parent_id, 0);
    assert_int_equal(g.created_at, m.created_at);
    store_message_clear(&g);

    store_message m2 = {.session_id = C(sid),
                        .sender = C("bob"),
                        .sender_type = C("gemini"),
                        .content = C("reply"),
                        .visibility = V("agent_only"),
                        .message_type = C("question"),
                        .metadata = C("{\"tags\":[\"a\",1]}"),
                        .parent_id = m.id,
                        .parent_vis = &VIS_ALL};
    OK(store_message_add(st, &m2, &a, &E));
    assert_true(m2.id > m.id);
    OK(store_message_get(st, m2.id, &VIS_ALL, &g, &E));
    assert_string_equal(g.sender_type, "gemini");
    assert_string_equal(VNAME(g.visibility), "agent_only");
    assert_string_equal(g.message_type, "question");
    assert_json_same("{\"tags\":[\"a\",1]}", g.metadata);
    assert_int_equal(g.parent_id, m.id);
    store_message_clear(&g);

    /* the session's activity moves */
    store_session s;
    OK(store_session_get(st, sid, &s, &E));
    assert_int_equal(s.updated_at, m2.created_at);
    assert_int_equal(s.message_count, 2);
    store_session_clear(&s);

    /* one audit record per message, naming it */
    assert_int_equal(count_audit(st, "message_added", sid), 2);
    store_audits al;
    store_audit_query aq = {.event_type = "message_added", .limit = 1};
    OK(store_audit_list(st, &aq, &al, &E));
    assert_int_equal(al.n, 1);
    char res[64];
    snprintf(res, sizeof res, "message:%lld", (long long)m2.id);
    assert_string_equal(al.v[0].resource, res);
    assert_string_equal(al.v[0].agent_id, "alice");
    assert_string_equal(al.v[0].session_id, sid);
    store_audits_free(&al);

    /* failures: nothing written, nothing audited */
    store_message bad = {
        .session_id = C("session_ffffffffffffffff"), .sender = C("alice"), .content = C("x")};
    FAILS(ERR_NOTFOUND, store_message_add(st, &bad, &a, &E));
    bad.session_id = C(sid);
    bad.parent_vis = &VIS_ALL;
    bad.parent_id = m2.id + 1000;
    FAILS(ERR_INVALID, store_message_add(st, &bad, &a, &E));
    int64_t other = add_msg(st, "session_0000000000000002", "carol", "elsewhere");
    bad.parent_id = other;
    FAILS(ERR_INVALID, store_message_add(st, &bad, &a, &E));
    bad.parent_id = 0;
    bad.visibility = (store_visibility)STORE_VIS_COUNT; /* outside the enum */
    FAILS(ERR_INVALID, store_message_add(st, &bad, &a, &E));
    bad.visibility = STORE_VIS_PUBLIC;
    bad.metadata = C("{broken");
    FAILS(ERR_INVALID, store_message_add(st, &bad, &a, &E));
    bad.metadata = NULL;
    bad.content = NULL;
    FAILS(ERR_INVALID, store_message_add(st, &bad, &a, &E));
    assert_int_equal(count_messages(st, sid), 2);
    assert_int_equal(count_audit(st, "message_added", sid), 2);
}

enum {
    NV = 7
};

static void test_visibility_matrix(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000003";
    mk_session(st, sid);
    int64_t m[NV];
    m[0] = add_full(st, sid, "alice", "claude", "public", "m1", 0).id;
    m[1] = add_full(st, sid, "alice", "claude", "private", "m2", 0).id;
    m[2] = add_full(st, sid, "bob", "gemini", "private", "m3", 0).id;
    m[3] = add_full(st, sid, "alice", "claude", "agent_only", "m4", 0).id;
    m[4] = add_full(st, sid, "bob", "gemini", "agent_only", "m5", 0).id;
    m[5] = add_full(st, sid, "root", "admin", "admin_only", "m6", 0).id;
    m[6] = add_full(st, sid, "carol", "claude", "agent_only", "m7", 0).id;

    static const struct {
        const char *what;
        store_vis vis;
        const char *visible; /* '1' per message m1..m7 */
    } cases[] = {
        {"no clause", {0}, "0000000"},
        {"all", {.any = STORE_VIS_EVERY}, "1111111"},
        {"public", {.any = ANY(PUBLIC)}, "1000000"},
        {"private of alice", {.private_of = "alice"}, "0100000"},
        {"private of bob", {.private_of = "bob"}, "0010000"},
        {"agent_only claude", {.agent_only_of = "claude"}, "0001001"},
        {"agent_only gemini", {.agent_only_of = "gemini"}, "0000100"},
        {"admin_only", {.any = ANY(ADMIN_ONLY)}, "0000010"},
        {"reader alice/claude",
         {.any = ANY(PUBLIC), .private_of = "alice", .agent_only_of = "claude"},
         "1101001"},
        {"reader bob/gemini",
         {.any = ANY(PUBLIC), .private_of = "bob", .agent_only_of = "gemini"},
         "1010100"},
        {"reader dave/generic",
         {.any = ANY(PUBLIC), .private_of = "dave", .agent_only_of = "generic"},
         "1000000"},
        {"admin reader root",
         {.any = ANY(PUBLIC) | ANY(ADMIN_ONLY), .private_of = "root", .agent_only_of = "admin"},
         "1000010"},
        {"private, any sender", {.any = ANY(PRIVATE)}, "0110000"},
        {"agent_only, any sender", {.any = ANY(AGENT_ONLY)}, "0001101"},
        {"private, any sender, or agent_only claude",
         {.any = ANY(PRIVATE), .agent_only_of = "claude"},
         "0111001"},
        {"agent_only, any sender, or private of bob",
         {.any = ANY(AGENT_ONLY), .private_of = "bob"},
         "0011101"},
        {"every visibility but admin_only",
         {.any = ANY(PUBLIC) | ANY(PRIVATE) | ANY(AGENT_ONLY)},
         "1111101"},
        {"private of the type name", {.private_of = "claude"}, "0000000"},
        {"agent_only of a sender name", {.agent_only_of = "alice"}, "0000000"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t want[NV];
        size_t n = 0;
        for (int i = 0; i < NV; i++)
            if (cases[c].visible[i] == '1')
                want[n++] = m[i];
        print_message("  visibility: %s\n", cases[c].what);
        store_msg_query q = {.session_id = sid, .vis = cases[c].vis, .limit = 50};
        expect_ids(st, q, want, n, (int64_t)n);
        for (int i = 0; i < NV; i++) {
            store_message g;
            if (cases[c].visible[i] == '1') {
                OK(store_message_get(st, m[i], &cases[c].vis, &g, &E));
                assert_int_equal(g.id, m[i]);
                store_message_clear(&g);
            } else {
                FAILS(ERR_NOTFOUND, store_message_get(st, m[i], &cases[c].vis, &g, &E));
            }
        }
        /* in one read, asked out of order, with an absent id and one twice: the same */
        int64_t ask[NV + 2];
        for (int i = 0; i < NV; i++)
            ask[i] = m[NV - 1 - i];
        ask[NV] = m[NV - 1] + 100;
        ask[NV + 1] = m[0];
        store_messages l;
        OK(store_message_get_many(st, ask, NV + 2, &cases[c].vis, &l, &E));
        assert_int_equal(l.n, n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(l.v[i].id, want[i]);
        store_messages_free(&l);
    }
    store_message g;
    FAILS(ERR_NOTFOUND, store_message_get(st, m[NV - 1] + 100, &VIS_ALL, &g, &E));
    /* none asked, and more than a read takes */
    store_messages l;
    OK(store_message_get_many(st, NULL, 0, &VIS_ALL, &l, &E));
    assert_int_equal(l.n, 0);
    int64_t many[STORE_GET_MANY_MAX + 1];
    for (size_t i = 0; i <= STORE_GET_MANY_MAX; i++)
        many[i] = m[0];
    FAILS(ERR_INVALID, store_message_get_many(st, many, STORE_GET_MANY_MAX + 1, &VIS_ALL, &l, &E));
    OK(store_message_get_many(st, many, STORE_GET_MANY_MAX, &VIS_ALL, &l, &E));
    assert_int_equal(l.n, 1);
    store_messages_free(&l);
}

/* A filter that says one thing two ways, or names no visibility, is refused by every
 * read that takes one. */
static void test_visibility_filter_refused(void **state)
{
    store_t *st = ST;
    const char *sid = "session_00000000000000f1";
    mk_session(st, sid);
    int64_t id = add_msg(st, sid, "alice", "hello");
    const store_vis bad[] = {
        {.any = STORE_VIS_EVERY + 1},
        {.any = ANY(PRIVATE), .private_of = "alice"},
        {.any = ANY(AGENT_ONLY), .agent_only_of = "claude"},
        {.any = STORE_VIS_EVERY, .private_of = "alice"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        store_msg_query q = {.session_id = sid, .vis = bad[k], .limit = 5};
        store_messages l;
        store_message g;
        FAILS(ERR_INVALID, store_message_list(st, &q, &l, NULL, &E));
        FAILS(ERR_INVALID, store_message_get(st, id, &bad[k], &g, &E));
        FAILS(ERR_INVALID, store_message_get_many(st, &id, 1, &bad[k], &l, &E));
        FAILS(ERR_INVALID, store_message_thread(st, id, &bad[k], &l, &E));
        store_search_query sq = {.session_id = sid,
                                 .vis = bad[k],
                                 .terms = (const char *const[]){"hel"},
                                 .nterms = 1,
                                 .limit = 5};
        FAILS(ERR_INVALID, store_message_search(st, &sq, &l, &E));
        store_message m = {.session_id = C(sid),
                           .sender = C("bob"),
                           .content = C("re"),
                           .parent_id = id,
                           .parent_vis = &bad[k]};
        FAILS(ERR_INVALID, store_message_add(st, &m, NULL, &E));
    }
    assert_int_equal(count_messages(st, sid), 1);
}

enum {
    NA = 60
};

/* "visibility = X, any sender" pages as any other filter: since_id, offset, limit,
 * order and total count over the matching messages only. */
static void test_any_sender_paging(void **state)
{
    store_t *st = ST;
    const char *sid = "session_00000000000000f2";
    mk_session(st, sid);
    mk_session(st, "session_00000000000000f3");
    static const char *const vis[] = {"public", "private", "agent_only", "private", "admin_only"};
    static const char *const who[] = {"alice", "bob", "carol"};
    static const char *const type[] = {"claude", "gemini"};
    int64_t ids[NA];
    const char *v[NA];
    for (int i = 0; i < NA; i++) {
        v[i] = vis[i % 5];
        ids[i] = add_full(st, sid, who[i % 3], type[i % 2], v[i], "m", 0).id;
        if (i % 7 == 0) /* the same visibility in another session: never counted */
            add_full(st, "session_00000000000000f3", who[i % 3], type[i % 2], v[i], "x", 0);
    }
    static const struct {
        const char *vis;
        int since; /* index of the since_id message, or -1 */
        int offset, limit;
        bool desc;
    } cases[] = {
        {"private", -1, 0, 100, false}, {"private", -1, 5, 7, false},
        {"private", 20, 0, 100, false}, {"private", 20, 3, 4, false},
        {"private", 20, 3, 4, true},    {"private", NA - 1, 0, 10, false},
        {"private", -1, 40, 10, false}, {"agent_only", -1, 0, 100, false},
        {"agent_only", 9, 2, 3, false}, {"agent_only", 9, 1, 100, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t since = cases[k].since >= 0 ? ids[cases[k].since] : 0;
        int64_t match[NA], want[NA];
        size_t nm = 0, nw = 0;
        for (int i = 0; i < NA; i++)
            if (ids[i] > since && !strcmp(v[i], cases[k].vis))
                match[nm++] = ids[i];
        for (size_t i = (size_t)cases[k].offset; i < nm && nw < (size_t)cases[k].limit; i++)
            want[nw++] = cases[k].desc ? match[nm - 1 - i] : match[i];
        print_message("  %s, any sender: since #%d offset %d limit %d%s\n", cases[k].vis,
                      cases[k].since, cases[k].offset, cases[k].limit,
                      cases[k].desc ? " newest first" : "");
        store_msg_query q = {.session_id = sid,
                             .vis = {.any = STORE_VIS_BIT(V(cases[k].vis))},
                             .since_id = since,
                             .limit = cases[k].limit,
                             .offset = cases[k].offset,
                             .newest_first = cases[k].desc};
        expect_ids(st, q, want, nw, (int64_t)nm);
    }
}

/* The parent rule (store_message_add): the parent must exist, be visible to the
 * poster and belong to the same session; a hidden parent is answered as an absent
 * one, and a missing session before either. Nothing is written on a refusal. */
static void test_message_parent(void **state)
{
    store_t *st = ST;
    const char *s1 = "session_00000000000000f4", *s2 = "session_00000000000000f5";
    mk_session(st, s1);
    mk_session(st, s2);
    int64_t pub = add_full(st, s1, "alice", "claude", "public", "pub", 0).id;
    int64_t priv = add_full(st, s1, "alice", "claude", "private", "priv", 0).id;
    int64_t other = add_full(st, s2, "carol", "claude", "public", "other", 0).id;
    int64_t other_priv = add_full(st, s2, "carol", "claude", "private", "other priv", 0).id;
    const store_vis bob = {.any = ANY(PUBLIC), .private_of = "bob", .agent_only_of = "gemini"};
    const store_vis alice = {.any = ANY(PUBLIC), .private_of = "alice", .agent_only_of = "claude"};
    store_audit_in a = {.event_type = "message_added"};
    static const struct {
        int parent; /* 0 pub, 1 priv, 2 other, 3 other_priv, 4 absent */
        bool as_alice;
        err_code rc;
        store_reason why;
    } cases[] = {
        {0, false, ERR_OK, STORE_REASON_NONE},
        {1, true, ERR_OK, STORE_REASON_NONE},
        {1, false, ERR_INVALID, STORE_REASON_PARENT_NOT_FOUND}, /* hidden = absent */
        {4, false, ERR_INVALID, STORE_REASON_PARENT_NOT_FOUND},
        {2, false, ERR_INVALID, STORE_REASON_PARENT_ELSEWHERE},
        {3, false, ERR_INVALID, STORE_REASON_PARENT_NOT_FOUND}, /* hidden, elsewhere */
    };
    const int64_t parents[] = {pub, priv, other, other_priv, other_priv + 1000};
    int64_t n = count_messages(st, s1);
    size_t audits = count_audit(st, "message_added", s1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        store_message m = {.session_id = C(s1),
                           .sender = C(cases[k].as_alice ? "alice" : "bob"),
                           .content = C("reply"),
                           .parent_id = parents[cases[k].parent],
                           .parent_vis = cases[k].as_alice ? &alice : &bob};
        FAILS(cases[k].rc, store_message_add(st, &m, &a, &E));
        assert_int_equal(store_err_reason(&E), cases[k].why);
        /* a message that was not added has no id or time */
        assert_true(cases[k].rc == ERR_OK ? m.id > 0 && m.created_at > 0
                                          : m.id == 0 && m.created_at == 0);
        n += cases[k].rc == ERR_OK;
        audits += cases[k].rc == ERR_OK;
    }
    /* a reply needs the poster's filter */
    store_message m = {
        .session_id = C(s1), .sender = C("bob"), .content = C("x"), .parent_id = pub};
    FAILS(ERR_INVALID, store_message_add(st, &m, &a, &E));
    assert_int_equal(store_err_reason(&E), STORE_REASON_NONE);
    /* a missing session comes first: not found, whatever the parent */
    m.parent_vis = &bob;
    m.session_id = C("session_ffffffffffffffff");
    FAILS(ERR_NOTFOUND, store_message_add(st, &m, &a, &E));
    assert_int_equal(store_err_reason(&E), STORE_REASON_NONE);
    m.parent_id = priv;
    FAILS(ERR_NOTFOUND, store_message_add(st, &m, &a, &E));
    assert_int_equal(count_messages(st, s1), n);
    assert_int_equal(count_audit(st, "message_added", s1), audits);
}

enum {
    NP = 25
};

static void test_pages_and_cursor(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000004";
    mk_session(st, sid);
    mk_session(st, "session_0000000000000005");
    int64_t ids[NP], rev[NP];
    for (int i = 0; i < NP; i++) {
        char c[16];
        snprintf(c, sizeof c, "msg %d", i);
        ids[i] = add_msg(st, sid, i % 2 ? "alice" : "bob", c);
        if (i % 5 == 0)
            add_msg(st, "session_0000000000000005", "noise", c); /* interleaved */
    }
    for (int i = 0; i < NP; i++)
        rev[i] = ids[NP - 1 - i];

    store_msg_query q = {.session_id = sid, .vis = VIS_ALL, .limit = 10};
    expect_ids(st, q, ids, 10, NP);
    q.offset = 10;
    expect_ids(st, q, ids + 10, 10, NP);
    q.offset = 20;
    expect_ids(st, q, ids + 20, 5, NP);
    q.offset = 30;
    expect_ids(st, q, NULL, 0, NP);

    q = (store_msg_query){.session_id = sid, .vis = VIS_ALL, .limit = 10, .newest_first = true};
    expect_ids(st, q, rev, 10, NP);
    q.offset = 20;
    expect_ids(st, q, rev + 20, 5, NP);

    /* since_id: everything after the cursor, total counts after the cursor too */
    q = (store_msg_query){.session_id = sid, .vis = VIS_ALL, .limit = 100, .since_id = ids[9]};
    expect_ids(st, q, ids + 10, NP - 10, NP - 10);
    q.since_id = ids[NP - 1];
    expect_ids(st, q, NULL, 0, 0);
    q = (store_msg_query){
        .session_id = sid, .vis = VIS_ALL, .limit = 3, .since_id = ids[20], .newest_first = true};
    int64_t tail[3] = {ids[24], ids[23], ids[22]};
    expect_ids(st, q, tail, 3, -1);

    /* a cursor loop sees every message once, in order */
    int64_t seen[NP];
    size_t n = 0;
    int64_t cursor = 0;
    for (int guard = 0; guard < 20; guard++) {
        store_messages l;
        q = (store_msg_query){.session_id = sid, .vis = VIS_ALL, .limit = 7, .since_id = cursor};
        OK(store_message_list(st, &q, &l, NULL, &E));
        if (l.n == 0) {
            store_messages_free(&l);
            break;
        }
        for (size_t i = 0; i < l.n; i++) {
            assert_true(n < NP);
            seen[n++] = l.v[i].id;
        }
        cursor = l.v[l.n - 1].id;
        store_messages_free(&l);
    }
    assert_int_equal(n, NP);
    assert_memory_equal(seen, ids, sizeof ids);

    /* visibility and total agree under paging */
    store_message p = add_full(st, sid, "eve", "claude", "private", "hidden", 0);
    q = (store_msg_query){.session_id = sid, .vis = VIS_PUBLIC, .limit = 5, .offset = 20};
    expect_ids(st, q, ids + 20, 5, NP);
    (void)p;

    store_messages l;
    int64_t total = -1;
    q = (store_msg_query){.session_id = "session_ffffffffffffffff", .vis = VIS_ALL, .limit = 5};
    FAILS(ERR_NOTFOUND, store_message_list(st, &q, &l, &total, &E));
    FAILS(ERR_NOTFOUND, store_message_list(st, &q, &l, NULL, &E));
    mk_session(st, "session_0000000000000006");
    q.session_id = "session_0000000000000006";
    OK(store_message_list(st, &q, &l, &total, &E));
    assert_int_equal(l.n, 0);
    assert_int_equal(total, 0);
    store_messages_free(&l);
    q.limit = 0;
    FAILS(ERR_INVALID, store_message_list(st, &q, &l, &total, &E));
    q.limit = 1;
    q.offset = -1;
    FAILS(ERR_INVALID, store_message_list(st, &q, &l, &total, &E));
}

enum {
    NS = 6
};

static void test_sender_and_time_range(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000007";
    mk_session(st, sid);
    store_message m[NS];
    const char *senders[NS] = {"alice", "bob", "alice", "bob", "alice", "Alice"};
    for (int i = 0; i < NS; i++)
        m[i] = add_full(st, sid, senders[i], "claude", "public", "x", 0);

    /* the stored time is the returned one, to the microsecond */
    for (int i = 0; i < NS; i++) {
        store_message g;
        OK(store_message_get(st, m[i].id, &VIS_ALL, &g, &E));
        assert_int_equal(g.created_at, m[i].created_at);
        store_message_clear(&g);
    }

    int64_t alice[3] = {m[0].id, m[2].id, m[4].id};
    int64_t alice_rev[3] = {m[4].id, m[2].id, m[0].id};
    store_msg_query q = {.session_id = sid, .vis = VIS_ALL, .limit = 50, .sender = "alice"};
    expect_ids(st, q, alice, 3, 3); /* "Alice" is another sender */
    q.newest_first = true;
    expect_ids(st, q, alice_rev, 3, 3);
    q = (store_msg_query){.session_id = sid, .vis = VIS_ALL, .limit = 50, .sender = "nobody"};
    expect_ids(st, q, NULL, 0, 0);

    /* inclusive bounds, exact to the microsecond; expectations from the times */
    struct {
        utc_us from, to;
        const char *sender;
    } ranges[] = {
        {m[2].created_at, m[2].created_at, NULL},
        {m[1].created_at, m[3].created_at, NULL},
        {m[1].created_at + 1, m[3].created_at, NULL},
        {m[1].created_at, m[3].created_at - 1, NULL},
        {m[3].created_at, 0, NULL},
        {0, m[2].created_at, NULL},
        {m[1].created_at, m[4].created_at, "alice"},
        {m[0].created_at - SEC, m[0].created_at - 1, NULL},
    };
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t want[NS];
        size_t n = 0;
        for (int i = 0; i < NS; i++) {
            utc_us t = m[i].created_at;
            if ((!ranges[r].from || t >= ranges[r].from) && (!ranges[r].to || t <= ranges[r].to) &&
                (!ranges[r].sender || strcmp(ranges[r].sender, senders[i]) == 0))
                want[n++] = m[i].id;
        }
        q = (store_msg_query){.session_id = sid,
                              .vis = VIS_ALL,
                              .limit = 50,
                              .from = ranges[r].from,
                              .to = ranges[r].to,
                              .sender = ranges[r].sender};
        expect_ids(st, q, want, n, (int64_t)n);
    }
    /* the single-instant range finds its message */
    q = (store_msg_query){.session_id = sid,
                          .vis = VIS_ALL,
                          .limit = 50,
                          .from = m[2].created_at,
                          .to = m[2].created_at};
    store_messages l;
    OK(store_message_list(st, &q, &l, NULL, &E));
    bool found = false;
    for (size_t i = 0; i < l.n; i++)
        found |= l.v[i].id == m[2].id;
    assert_true(found);
    store_messages_free(&l);
}

static void test_thread(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000008";
    mk_session(st, sid);
    int64_t r = add_full(st, sid, "alice", "claude", "public", "root", 0).id;
    int64_t a = add_full(st, sid, "bob", "claude", "public", "a", r).id;
    int64_t unrelated = add_msg(st, sid, "zed", "unrelated");
    int64_t b = add_full(st, sid, "carol", "claude", "private", "b", a).id;
    int64_t c = add_full(st, sid, "dave", "claude", "public", "c", b).id;
    int64_t d = add_full(st, sid, "erin", "claude", "public", "d", r).id;
    (void)unrelated;

    struct {
        int64_t root;
        store_vis vis;
        int64_t want[5];
        size_t n;
    } cases[] = {
        {r, {.any = STORE_VIS_EVERY}, {r, a, b, c, d}, 5},
        {r, {.any = ANY(PUBLIC)}, {r, a, c, d}, 4}, /* c below hidden b is still shown */
        {a, {.any = STORE_VIS_EVERY}, {a, b, c}, 3},
        {c, {.any = STORE_VIS_EVERY}, {c}, 1},
        {b, {.private_of = "carol"}, {b}, 1},
        {b, {.any = ANY(PRIVATE)}, {b}, 1}, /* private from any sender: c below is not */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        store_messages l;
        OK(store_message_thread(st, cases[k].root, &cases[k].vis, &l, &E));
        assert_int_equal(l.n, cases[k].n);
        for (size_t i = 0; i < l.n; i++)
            assert_int_equal(l.v[i].id, cases[k].want[i]);
        store_messages_free(&l);
    }
    store_messages l;
    FAILS(ERR_NOTFOUND, store_message_thread(st, b, &VIS_PUBLIC, &l, &E));
    FAILS(ERR_NOTFOUND, store_message_thread(st, d + 100, &VIS_ALL, &l, &E));

    store_message g;
    FAILS(ERR_NOTFOUND, store_message_get(st, b, &VIS_PUBLIC, &g, &E));
    store_vis carol = {.private_of = "carol"};
    OK(store_message_get(st, b, &carol, &g, &E));
    assert_int_equal(g.parent_id, a);
    assert_string_equal(g.content, "b");
    store_message_clear(&g);
}

/* thread pages: the root, then the visible replies past since_id, at most limit; the
 * root is checked on every page */
static void test_thread_pages(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000018";
    mk_session(st, sid);
    int64_t r = add_full(st, sid, "alice", "claude", "public", "root", 0).id;
    int64_t id[7];
    for (int i = 0; i < 7; i++) /* replies, one of them private, one below another */
        id[i] = add_full(st, sid, "bob", "claude", i == 3 ? "private" : "public", "x",
                         i == 5 ? id[4] : r)
                    .id;
    const int64_t want[] = {r, id[0], id[1], id[2], id[4], id[5], id[6]}; /* public */
    int64_t since = 0;
    size_t got = 0, pages = 0;
    for (;;) {
        store_thread_query q = {.root_id = r, .vis = &VIS_PUBLIC, .since_id = since, .limit = 3};
        store_messages l;
        OK(store_message_thread_page(st, &q, &l, &E));
        assert_true(l.n <= 3);
        for (size_t i = 0; i < l.n; i++)
            assert_int_equal(l.v[i].id, want[got++]);
        pages++;
        bool last = l.n < 3;
        if (l.n)
            since = l.v[l.n - 1].id;
        store_messages_free(&l);
        if (last)
            break;
    }
    assert_int_equal(got, 7);
    assert_int_equal(pages, 3);
    store_thread_query q = {.root_id = r, .vis = &VIS_PUBLIC, .since_id = id[6], .limit = 3};
    store_messages l;
    OK(store_message_thread_page(st, &q, &l, &E)); /* past the end: empty */
    assert_int_equal(l.n, 0);
    store_messages_free(&l);
    /* a root the reader cannot see is not found on later pages either */
    q = (store_thread_query){.root_id = id[3], .vis = &VIS_PUBLIC, .since_id = id[3], .limit = 1};
    FAILS(ERR_NOTFOUND, store_message_thread_page(st, &q, &l, &E));
    q = (store_thread_query){.root_id = r, .vis = &VIS_PUBLIC, .limit = 0};
    FAILS(ERR_INVALID, store_message_thread_page(st, &q, &l, &E));
}

/* ---- memory ------------------------------------------------------------------------ */

static void mem_put(store_t *st, const char *agent, const char *sid, const char *key,
                    const char *value, utc_us now, utc_us expires, bool overwrite)
{
    store_mem_set in = {.agent_id = agent,
                        .session_id = sid,
                        .key = key,
                        .value = value,
                        .now = now,
                        .expires_at = expires,
                        .overwrite = overwrite};
    store_audit_in a = {.event_type = "memory_set"};
    OK(store_memory_set(st, &in, &a, NULL, &E));
}

static void mem_expect(store_t *st, const char *agent, const char *sid, const char *key, utc_us now,
                       const char *value)
{
    store_memory m;
    if (!value) {
        FAILS(ERR_NOTFOUND, store_memory_get(st, agent, sid, key, now, &m, &E));
        return;
    }
    OK(store_memory_get(st, agent, sid, key, now, &m, &E));
    assert_json_same(value, m.value);
    assert_string_equal(m.key, key);
    assert_string_equal(m.agent_id, agent);
    if (sid)
        assert_string_equal(m.session_id, sid);
    else
        assert_null(m.session_id);
    store_memory_clear(&m);
}

static void test_memory_scopes(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000009";
    mk_session(st, sid);
    utc_us t0 = T("2025-06-01T12:00:00.000001Z");

    store_mem_set in = {.agent_id = "alice",
                        .key = "k",
                        .value = "1",
                        .metadata = "{\"src\":\"test\"}",
                        .now = t0,
                        .overwrite = true};
    store_audit_in a = {.event_type = "memory_set"};
    store_memory out;
    OK(store_memory_set(st, &in, &a, &out, &E));
    assert_string_equal(out.key, "k");
    assert_null(out.session_id);
    assert_int_equal(out.created_at, t0);
    assert_int_equal(out.updated_at, t0);
    assert_int_equal(out.expires_at, 0);
    store_memory_clear(&out);

    mem_put(st, "alice", sid, "k", "2", t0, 0, true); /* same key, session scope */
    mem_expect(st, "alice", NULL, "k", t0, "1");
    mem_expect(st, "alice", sid, "k", t0, "2");
    mem_expect(st, "bob", NULL, "k", t0, NULL); /* private to its agent */
    mem_expect(st, "bob", sid, "k", t0, NULL);

    /* overwrite keeps created_at, moves updated_at, keeps one entry */
    utc_us t1 = t0 + 5 * SEC;
    in = (store_mem_set){
        .agent_id = "alice", .key = "k", .value = "3", .now = t1, .overwrite = true};
    OK(store_memory_set(st, &in, &a, &out, &E));
    store_memory_clear(&out);
    store_memory g;
    OK(store_memory_get(st, "alice", NULL, "k", t1, &g, &E));
    assert_json_same("3", g.value);
    assert_null(g.metadata);
    assert_int_equal(g.created_at, t0);
    assert_int_equal(g.updated_at, t1);
    store_memory_clear(&g);

    size_t audits = count_audit(st, "memory_set", NULL);
    assert_int_equal(audits, 3);
    in.overwrite = false;
    in.value = "4";
    FAILS(ERR_EXISTS, store_memory_set(st, &in, &a, NULL, &E));
    mem_expect(st, "alice", NULL, "k", t1, "3");
    in.session_id = sid;
    FAILS(ERR_EXISTS, store_memory_set(st, &in, &a, NULL, &E));
    in.session_id = "session_ffffffffffffffff";
    in.overwrite = true;
    FAILS(ERR_NOTFOUND, store_memory_set(st, &in, &a, NULL, &E));
    in.session_id = NULL;
    in.value = "{not json";
    FAILS(ERR_INVALID, store_memory_set(st, &in, &a, NULL, &E));
    assert_int_equal(count_audit(st, "memory_set", NULL), audits);

    store_memories l;
    store_mem_query q = {.agent_id = "alice", .scope = STORE_MEM_ALL, .limit = 50, .now = t1};
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 2);
    assert_null(l.v[0].session_id); /* global first */
    assert_string_equal(l.v[1].session_id, sid);
    assert_json_same("3", l.v[0].value);
    store_memories_free(&l);
    q.scope = STORE_MEM_GLOBAL;
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_null(l.v[0].session_id);
    store_memories_free(&l);
    q.scope = STORE_MEM_SESSION;
    q.session_id = sid;
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].session_id, sid);
    assert_json_same("2", l.v[0].value);
    store_memories_free(&l);
    q.agent_id = "bob";
    q.scope = STORE_MEM_ALL;
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 0);
    store_memories_free(&l);

    bool deleted = false;
    store_audit_in da = {.event_type = "memory_deleted"};
    OK(store_memory_delete(st, "alice", NULL, "k", &da, &deleted, &E));
    assert_true(deleted);
    mem_expect(st, "alice", NULL, "k", t1, NULL);
    mem_expect(st, "alice", sid, "k", t1, "2");
    OK(store_memory_delete(st, "alice", NULL, "k", &da, &deleted, &E));
    assert_false(deleted);
    OK(store_memory_delete(st, "bob", sid, "k", &da, &deleted, &E));
    assert_false(deleted);
    assert_int_equal(count_audit(st, "memory_deleted", NULL), 1);
    OK(store_memory_delete(st, "alice", sid, "k", &da, &deleted, &E));
    assert_true(deleted);
    mem_expect(st, "alice", sid, "k", t1, NULL);
}

static void test_memory_ttl(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-01-01T00:00:00Z");
    mem_put(st, "a", NULL, "k1", "\"one\"", t, t + 10 * SEC, true);
    mem_put(st, "a", NULL, "k2", "\"two\"", t, 0, true);
    mem_put(st, "a", NULL, "k3", "\"three\"", t, t + 20 * SEC, true);

    mem_expect(st, "a", NULL, "k1", t + 5 * SEC, "\"one\"");
    mem_expect(st, "a", NULL, "k1", t + 10 * SEC - 1, "\"one\"");
    mem_expect(st, "a", NULL, "k1", t + 10 * SEC, NULL); /* expires_at itself: gone */
    mem_expect(st, "a", NULL, "k2", t + 1000000 * SEC, "\"two\"");

    store_memory g;
    OK(store_memory_get(st, "a", NULL, "k3", t, &g, &E));
    assert_int_equal(g.expires_at, t + 20 * SEC);
    store_memory_clear(&g);

    store_memories l;
    store_mem_query q = {.agent_id = "a", .scope = STORE_MEM_ALL, .limit = 50, .now = t + 10 * SEC};
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].key, "k2");
    assert_string_equal(l.v[1].key, "k3");
    store_memories_free(&l);

    /* an expired entry is replaced even without overwrite, as a new entry */
    utc_us t15 = t + 15 * SEC;
    mem_put(st, "a", NULL, "k1", "\"new\"", t15, 0, false);
    OK(store_memory_get(st, "a", NULL, "k1", t15, &g, &E));
    assert_json_same("\"new\"", g.value);
    assert_int_equal(g.created_at, t15);
    assert_int_equal(g.expires_at, 0);
    store_memory_clear(&g);
    store_mem_set in = {.agent_id = "a", .key = "k3", .value = "1", .now = t15};
    FAILS(ERR_EXISTS, store_memory_set(st, &in, NULL, NULL, &E));
    /* at exactly expires_at the old entry counts as expired */
    mem_put(st, "a", NULL, "k4", "\"four\"", t, t + 30 * SEC, true);
    in = (store_mem_set){.agent_id = "a", .key = "k4", .value = "4", .now = t + 30 * SEC - 1};
    FAILS(ERR_EXISTS, store_memory_set(st, &in, NULL, NULL, &E));
    mem_put(st, "a", NULL, "k4", "4", t + 30 * SEC, 0, false);
    mem_expect(st, "a", NULL, "k4", t, "4");

    int64_t removed = -1;
    OK(store_memory_sweep(st, t + 20 * SEC, &removed, &E));
    assert_int_equal(removed, 1);
    q.now = t; /* k3 would be live at t, but the sweep removed it */
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].key, "k1");
    assert_string_equal(l.v[1].key, "k2");
    assert_string_equal(l.v[2].key, "k4");
    store_memories_free(&l);
    OK(store_memory_sweep(st, t + 1000 * SEC, &removed, &E));
    assert_int_equal(removed, 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_memory_prefix(void **state)
{
    store_t *st = ST;
    const char *sid = "session_000000000000000f";
    mk_session(st, sid);
    utc_us t = T("2025-01-01T00:00:00Z");
    static const char *keys[] = {
        "a%b",
        "a_b",
        "axb",
        "A%b",
        "a%bc",
        "ab",
        "a",
        "b",
        "aB",
        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", /* 日本語 */
        "\xE6\x97\xA5\xE6\x9C\xAC",             /* 日本 */
        "\xE6\x97\xA5",                         /* 日 */
        "a\xF4\x8F\xBF\xBF",
        ("a\xF4\x8F\xBF\xBF"
         "b"),
        "a\\b",
        "a\\%",
    };
    enum {
        NK = sizeof keys / sizeof keys[0]
    };
    for (size_t i = 0; i < NK; i++)
        mem_put(st, "alice", NULL, keys[i], "0", t, 0, true);
    mem_put(st, "bob", NULL, "a%b", "0", t, 0, true); /* another agent */
    mem_put(st, "alice", NULL, "a%zexpired", "0", t, t + 1, true);

    static const char *prefixes[] = {
        "a%",
        "a_",
        "A",
        "a",
        "\xE6\x97\xA5\xE6\x9C\xAC",
        "",
        "a\xF4\x8F\xBF\xBF",
        "ax",
        "nomatch",
        "%",
        "_",
        "a\\",
        "a\\%",
    };
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        const char *want[NK];
        size_t n = 0, pl = strlen(prefixes[p]);
        for (size_t i = 0; i < NK; i++)
            if (strncmp(keys[i], prefixes[p], pl) == 0)
                want[n++] = keys[i];
        qsort(want, n, sizeof want[0], cmp_str);
        store_memories l;
        store_mem_query q = {.agent_id = "alice",
                             .scope = STORE_MEM_GLOBAL,
                             .prefix = prefixes[p],
                             .limit = 100,
                             .now = t + 1};
        OK(store_memory_list(st, &q, &l, &E));
        if (l.n != n)
            fail_msg("prefix '%s': %zu entries, expected %zu", prefixes[p], l.n, n);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(l.v[i].key, want[i]);
        store_memories_free(&l);
        /* limit takes the first ones */
        if (n >= 2) {
            q.limit = 2;
            OK(store_memory_list(st, &q, &l, &E));
            assert_int_equal(l.n, 2);
            assert_string_equal(l.v[0].key, want[0]);
            assert_string_equal(l.v[1].key, want[1]);
            store_memories_free(&l);
        }
    }

    /* both scopes: same key twice (global first), ordered by key */
    mem_put(st, "alice", sid, "a%b", "1", t, 0, true);
    store_memories l;
    store_mem_query q = {
        .agent_id = "alice", .scope = STORE_MEM_ALL, .prefix = "a%", .limit = 100, .now = t};
    OK(store_memory_list(st, &q, &l, &E));
    assert_int_equal(l.n, 4); /* a%b (global), a%b (session), a%bc, a%zexpired (live at t) */
    assert_string_equal(l.v[0].key, "a%b");
    assert_null(l.v[0].session_id);
    assert_string_equal(l.v[1].key, "a%b");
    assert_string_equal(l.v[1].session_id, sid);
    assert_string_equal(l.v[2].key, "a%bc");
    assert_string_equal(l.v[3].key, "a%zexpired");
    store_memories_free(&l);

    q.limit = 0;
    FAILS(ERR_INVALID, store_memory_list(st, &q, &l, &E));
}

static void test_memory_value_types(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-01-01T00:00:00Z");
    static const char *values[] = {
        "\"123\"",
        "123",
        "12.5",
        "-7",
        "0",
        "true",
        "false",
        "null",
        "\"\"",
        "\"true\"",
        "\"null\"",
        "{}",
        "[]",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}",
        "[1,\"x\",true,null]",
        "\"\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\"",
        "9007199254740993",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char key[16];
        snprintf(key, sizeof key, "v%02zu", i);
        mem_put(st, "alice", NULL, key, values[i], t, 0, true);
        mem_expect(st, "alice", NULL, key, t, values[i]);
    }
    /* "123" stays a string, 123 stays a number */
    store_memory g;
    OK(store_memory_get(st, "alice", NULL, "v00", t, &g, &E));
    json_t *v = json_loads(g.value, JSON_DECODE_ANY, NULL);
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), "123");
    json_decref(v);
    store_memory_clear(&g);
    OK(store_memory_get(st, "alice", NULL, "v01", t, &g, &E));
    v = json_loads(g.value, JSON_DECODE_ANY, NULL);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 123);
    json_decref(v);
    store_memory_clear(&g);

    store_mem_set in = {.agent_id = "alice",
                        .key = "meta",
                        .value = "1",
                        .metadata = "{\"n\":1,\"s\":\"x\"}",
                        .now = t,
                        .overwrite = true};
    OK(store_memory_set(st, &in, NULL, NULL, &E));
    OK(store_memory_get(st, "alice", NULL, "meta", t, &g, &E));
    assert_json_same("{\"n\":1,\"s\":\"x\"}", g.metadata);
    store_memory_clear(&g);
}

/* ---- text fidelity ----------------------------------------------------------------- */

static void test_unicode(void **state)
{
    store_t *st = ST;
    static const char *texts[] = {
        "emoji \xF0\x9F\x8E\x89\xF0\x9F\x9A\x80 family \xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9"
        "\xE2\x80\x8D\xF0\x9F\x91\xA7 flag \xF0\x9F\x87\xAF\xF0\x9F\x87\xB5",
        "CJK \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xE4\xB8\xAD\xE6\x96\x87 "
        "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
        "combining e\xCC\x81 n\xCC\x83 vs precomposed \xC3\xA9 \xC3\xB1",
        "RTL \xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA and zero width \xE2\x80\x8B|\xEF\xBB\xBF|",
        "quotes ' \" \\ ; -- /* */ %s %d \t tab\nnewline\r\n",
        "max \xF4\x8F\xBF\xBF and U+FFFD \xEF\xBF\xBD",
    };
    const char *sid = "session_000000000000000e";
    store_session s = {
        .id = C(sid), .purpose = C(texts[0]), .created_by = C(texts[1]), .is_active = true};
    OK(store_session_create(st, &s, NULL, &E));
    store_session gs;
    OK(store_session_get(st, sid, &gs, &E));
    assert_string_equal(gs.purpose, texts[0]);
    assert_string_equal(gs.created_by, texts[1]);
    store_session_clear(&gs);

    int64_t ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] =
            add_full(st, sid, texts[i], texts[(i + 1) % 6], "public", texts[(i + 2) % 6], 0).id;
    for (int i = 0; i < 6; i++) {
        store_message g;
        OK(store_message_get(st, ids[i], &VIS_ALL, &g, &E));
        assert_int_equal(strlen(g.content), strlen(texts[(i + 2) % 6]));
        assert_memory_equal(g.content, texts[(i + 2) % 6], strlen(g.content));
        assert_string_equal(g.sender, texts[i]);
        assert_string_equal(g.sender_type, texts[(i + 1) % 6]);
        store_message_clear(&g);
    }
    /* senders are compared exactly: no normalisation, no case folding */
    int64_t dec = add_msg(st, sid, "e\xCC\x81", "decomposed");
    int64_t pre = add_msg(st, sid, "\xC3\xA9", "precomposed");
    store_msg_query q = {.session_id = sid, .vis = VIS_ALL, .limit = 10, .sender = "e\xCC\x81"};
    expect_ids(st, q, &dec, 1, 1);
    q.sender = "\xC3\xA9";
    expect_ids(st, q, &pre, 1, 1);
    store_vis v = {.private_of = texts[0]};
    int64_t priv = add_full(st, sid, texts[0], "claude", "private", "p", 0).id;
    q = (store_msg_query){.session_id = sid, .vis = v, .limit = 10};
    expect_ids(st, q, &priv, 1, -1);

    /* memory keys and values */
    utc_us t = T("2025-01-01T00:00:00Z");
    for (int i = 0; i < 6; i++) {
        json_t *js = json_string(texts[i]);
        char *val = json_dumps(js, JSON_ENCODE_ANY);
        char key[64];
        snprintf(key, sizeof key, "k\xF0\x9F\x94\x91%d", i);
        mem_put(st, texts[1], NULL, key, val, t, 0, true);
        store_memory g;
        OK(store_memory_get(st, texts[1], NULL, key, t, &g, &E));
        json_t *back = json_loads(g.value, JSON_DECODE_ANY, NULL);
        assert_true(json_is_string(back));
        assert_string_equal(json_string_value(back), texts[i]);
        assert_string_equal(g.key, key);
        json_decref(back);
        store_memory_clear(&g);
        free(val);
        json_decref(js);
    }
}

/* ---- audit --------------------------------------------------------------------------- */

static void test_audit(void **state)
{
    store_t *st = ST;
    utc_us before = utc_now();
    store_audit_in a1 = {.event_type = "x",
                         .agent_id = "a",
                         .session_id = "s1",
                         .resource = "r1",
                         .metadata = "{\"n\":1}"};
    store_audit_in a2 = {.event_type = "y", .agent_id = "b"};
    store_audit_in a3 = {.event_type = "x", .agent_id = "b", .session_id = "s2"};
    OK(store_audit_append(st, &a1, &E));
    OK(store_audit_append(st, &a2, &E));
    OK(store_audit_append(st, &a3, &E));
    utc_us after = utc_now();

    store_audits l;
    store_audit_query q = {.limit = 10};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].event_type, "x"); /* newest first */
    assert_string_equal(l.v[0].session_id, "s2");
    assert_string_equal(l.v[1].event_type, "y");
    assert_null(l.v[1].session_id);
    assert_null(l.v[1].resource);
    assert_null(l.v[1].metadata);
    assert_string_equal(l.v[2].resource, "r1");
    assert_json_same("{\"n\":1}", l.v[2].metadata);
    assert_true(l.v[0].id > l.v[1].id && l.v[1].id > l.v[2].id);
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.v[i].at >= before && l.v[i].at <= after);
    store_audits_free(&l);

    q = (store_audit_query){.event_type = "x", .limit = 10};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 2);
    store_audits_free(&l);
    q = (store_audit_query){.agent_id = "b", .limit = 10};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 2);
    store_audits_free(&l);
    q = (store_audit_query){.agent_id = "b", .event_type = "x", .session_id = "s2", .limit = 10};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    store_audits_free(&l);
    q = (store_audit_query){.limit = 1};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].session_id, "s2");
    store_audits_free(&l);
    q.limit = 0;
    FAILS(ERR_INVALID, store_audit_list(st, &q, &l, &E));

    store_audit_in bad = {.agent_id = "a"};
    FAILS(ERR_INVALID, store_audit_append(st, &bad, &E));

    int64_t removed = -1;
    OK(store_audit_purge(st, before, &removed, &E));
    assert_int_equal(removed, 0);
    OK(store_audit_purge(st, after + 1, &removed, &E));
    assert_int_equal(removed, 3);
    assert_int_equal(count_audit(st, NULL, NULL), 0);
}

/* Audit records are part of the write: exactly one per successful write, none
 * for a refused one, and the caller's fields are kept. */
static void test_audit_same_transaction(void **state)
{
    store_t *st = ST;
    const char *sid = "session_0000000000000010";
    store_session s = {
        .id = C(sid), .purpose = C("p"), .created_by = C("alice"), .is_active = true};
    store_audit_in custom = {.event_type = "custom_event",
                             .agent_id = "operator",
                             .session_id = "other",
                             .resource = "thing:1",
                             .metadata = "{\"why\":\"test\"}"};
    OK(store_session_create(st, &s, &custom, &E));
    store_audits l;
    store_audit_query q = {.limit = 10};
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].event_type, "custom_event");
    assert_string_equal(l.v[0].agent_id, "operator");
    assert_string_equal(l.v[0].session_id, "other");
    assert_string_equal(l.v[0].resource, "thing:1");
    assert_json_same("{\"why\":\"test\"}", l.v[0].metadata);
    store_audits_free(&l);

    /* defaults from the write when fields are NULL */
    store_audit_in empty = {0};
    store_message m = {.session_id = C(sid), .sender = C("bob"), .content = C("c")};
    OK(store_message_add(st, &m, &empty, &E));
    q.limit = 1;
    OK(store_audit_list(st, &q, &l, &E));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].event_type, "message_added");
    assert_string_equal(l.v[0].agent_id, "bob");
    assert_string_equal(l.v[0].session_id, sid);
    store_audits_free(&l);

    size_t n = count_audit(st, NULL, NULL);
    assert_int_equal(n, 2);
    FAILS(ERR_UNIQUE, store_session_create(st, &s, &custom, &E));
    store_message bad = {
        .session_id = C("session_ffffffffffffffff"), .sender = C("bob"), .content = C("c")};
    FAILS(ERR_NOTFOUND, store_message_add(st, &bad, &custom, &E));
    bad.session_id = C(sid);
    bad.visibility = (store_visibility)-1; /* outside the enum */
    FAILS(ERR_INVALID, store_message_add(st, &bad, &custom, &E));
    store_mem_set in = {.agent_id = "a", .key = "k", .value = "1", .now = 1, .overwrite = false};
    OK(store_memory_set(st, &in, &custom, NULL, &E));
    FAILS(ERR_EXISTS, store_memory_set(st, &in, &custom, NULL, &E));
    in.session_id = "session_ffffffffffffffff";
    FAILS(ERR_NOTFOUND, store_memory_set(st, &in, &custom, NULL, &E));
    bool deleted;
    OK(store_memory_delete(st, "a", NULL, "missing", &custom, &deleted, &E));
    assert_false(deleted);
    assert_int_equal(count_audit(st, NULL, NULL), n + 1); /* only the memory_set */
    OK(store_memory_delete(st, "a", NULL, "k", &custom, &deleted, &E));
    assert_true(deleted);
    assert_int_equal(count_audit(st, NULL, NULL), n + 2);

    /* NULL audit: the write happens, no record */
    store_message m2 = {.session_id = C(sid), .sender = C("bob"), .content = C("c2")};
    OK(store_message_add(st, &m2, NULL, &E));
    assert_int_equal(count_audit(st, NULL, NULL), n + 2);
}

/* ---- tokens ---------------------------------------------------------------------------- */

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "3333333333333333333333333333333333333333333333333333333333333333"

static void test_tokens(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-03-01T10:00:00.654321Z");
    store_token t1 = {.token_hash = C(H1),
                      .agent_id = C("alice"),
                      .agent_type = C("claude"),
                      .permissions = C("read,write"),
                      .jti = C("9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5f"),
                      .created_at = t,
                      .expires_at = t + 3600 * SEC};
    OK(store_token_put(st, &t1, &E));
    store_token g;
    OK(store_token_get(st, t1.token_hash, &g, &E));
    assert_string_equal(g.token_hash, t1.token_hash);
    assert_string_equal(g.jti, "9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5f");
    assert_string_equal(g.permissions, "read,write");
    assert_string_equal(g.agent_id, "alice");
    assert_string_equal(g.agent_type, "claude");
    assert_int_equal(g.created_at, t);
    assert_int_equal(g.expires_at, t + 3600 * SEC);
    store_token_clear(&g);
    FAILS(ERR_UNIQUE, store_token_put(st, &t1, &E));

    store_token t2 = t1;
    t2.token_hash = C(H2);
    t2.expires_at = t - SEC;
    OK(store_token_put(st, &t2, &E));
    OK(store_token_get(st, t2.token_hash, &g, &E)); /* expired: still returned */
    assert_int_equal(g.expires_at, t - SEC);
    store_token_clear(&g);
    FAILS(ERR_NOTFOUND, store_token_get(st, H3, &g, &E));

    bool rev = true;
    OK(store_jti_is_revoked(st, "j1", &rev, &E));
    assert_false(rev);
    OK(store_jti_revoke(st, "j1", t + 3600 * SEC, &E));
    OK(store_jti_revoke(st, "j1", t + 3600 * SEC, &E)); /* idempotent */
    OK(store_jti_is_revoked(st, "j1", &rev, &E));
    assert_true(rev);
    OK(store_jti_revoke(st, "j3", t - SEC, &E));
    OK(store_jti_revoke(st, "j4", t + SEC, &E));
    OK(store_jti_revoke(st, "j4", t + 7200 * SEC, &E)); /* the later expiry wins */

    int64_t removed = -1;
    OK(store_token_purge(st, t, &removed, &E));
    assert_int_equal(removed, 2); /* t2 and j3 */
    FAILS(ERR_NOTFOUND, store_token_get(st, t2.token_hash, &g, &E));
    OK(store_token_get(st, t1.token_hash, &g, &E));
    store_token_clear(&g);
    OK(store_jti_is_revoked(st, "j3", &rev, &E));
    assert_false(rev);
    OK(store_token_purge(st, t + 3600 * SEC, &removed, &E));
    assert_int_equal(removed, 2); /* t1 and j1 (expires_at <= now) */
    OK(store_jti_is_revoked(st, "j4", &rev, &E));
    assert_true(rev);

    OK(store_token_put(st, &t2, &E));
    bool deleted = false;
    OK(store_token_delete(st, t2.token_hash, &deleted, &E));
    assert_true(deleted);
    OK(store_token_delete(st, t2.token_hash, &deleted, &E));
    assert_false(deleted);
    FAILS(ERR_NOTFOUND, store_token_get(st, t2.token_hash, &g, &E));
}

/* A protected token is kept under its digest only (64 hex digits: anything else is
 * refused, so no token can be stored as its own key), and an agent's tokens go at once. */
static void test_tokens_digest_and_agent(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-03-01T10:00:00Z");
    store_token tk = {.token_hash = C("sct_11111111-1111-4111-8111-111111111111"),
                      .agent_id = C("alice"),
                      .agent_type = C("claude"),
                      .permissions = C("read"),
                      .jti = C("j"),
                      .expires_at = t + 3600 * SEC};
    FAILS(ERR_INVALID, store_token_put(st, &tk, &E));
    tk.token_hash = C("1111111111111111111111111111111111111111111111111111111111111111F");
    FAILS(ERR_INVALID, store_token_put(st, &tk, &E));
    tk.token_hash = C("ABCDEF1111111111111111111111111111111111111111111111111111111111");
    FAILS(ERR_INVALID, store_token_put(st, &tk, &E));
    tk.permissions = NULL;
    tk.token_hash = C(H1);
    FAILS(ERR_INVALID, store_token_put(st, &tk, &E));
    tk.permissions = C("read");
    const char *hashes[] = {H1, H2, H3};
    const char *agents[] = {"alice", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        tk.token_hash = C(hashes[i]);
        tk.agent_id = C(agents[i]);
        OK(store_token_put(st, &tk, &E));
    }
    int64_t removed = -1;
    OK(store_token_delete_agent(st, "alice", &removed, &E));
    assert_int_equal(removed, 2);
    store_token g;
    FAILS(ERR_NOTFOUND, store_token_get(st, H1, &g, &E));
    FAILS(ERR_NOTFOUND, store_token_get(st, H2, &g, &E));
    OK(store_token_get(st, H3, &g, &E));
    assert_string_equal(g.agent_id, "bob");
    store_token_clear(&g);
    OK(store_token_delete_agent(st, "alice", &removed, &E));
    assert_int_equal(removed, 0);
    OK(store_token_delete_agent(st, "nobody", NULL, &E));
    FAILS(ERR_INVALID, store_token_delete_agent(st, NULL, &removed, &E));
}

/* ---- agent credentials -------------------------------------------------------------- */

#define K1 "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define K2 "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
#define K3 "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"

/* Add, get (by agent and by key digest), list (by agent id), rekey and revoke, each with
 * its audit record; one credential per agent and per key; errors for what is missing. */
static void test_credentials(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-04-01T08:00:00.000123Z");
    store_cred c1 = {.agent_id = C("zed"),
                     .agent_type = C("claude"),
                     .permissions = C("read,write"),
                     .key_hash = C(K1),
                     .created_at = t,
                     .updated_at = t};
    store_audit_in au = {.metadata = "{\"by\":\"test\"}"};
    OK(store_cred_add(st, &c1, &au, &E));
    store_cred c2 = {.agent_id = C("\xc3\xa5sa"), /* byte-wise: after "zed" */
                     .agent_type = C("admin"),
                     .permissions = C("read,write,admin"),
                     .key_hash = C(K2)};
    OK(store_cred_add(st, &c2, NULL, &E));
    store_cred c3 = {.agent_id = C("Bob"),
                     .agent_type = C("gemini"),
                     .permissions = C("read"),
                     .key_hash = C(K3)};
    OK(store_cred_add(st, &c3, &au, &E));
    /* one per agent, one per key */
    store_cred dup = c1;
    dup.key_hash = C(K3);
    FAILS(ERR_UNIQUE, store_cred_add(st, &dup, &au, &E));
    dup = c3;
    dup.agent_id = C("other");
    FAILS(ERR_UNIQUE, store_cred_add(st, &dup, &au, &E));
    dup.key_hash = C("not-a-digest");
    FAILS(ERR_INVALID, store_cred_add(st, &dup, &au, &E));
    dup.key_hash = NULL;
    FAILS(ERR_INVALID, store_cred_add(st, &dup, &au, &E));
    assert_int_equal(count_audit(st, "credential_added", NULL), 2);

    store_cred g;
    OK(store_cred_get(st, "zed", &g, &E));
    assert_string_equal(g.agent_type, "claude");
    assert_string_equal(g.permissions, "read,write");
    assert_string_equal(g.key_hash, K1);
    assert_int_equal(g.created_at, t);
    assert_int_equal(g.updated_at, t);
    assert_int_equal(g.revoked_at, 0);
    store_cred_clear(&g);
    OK(store_cred_find_key(st, K3, &g, &E));
    assert_string_equal(g.agent_id, "Bob");
    assert_true(g.created_at > 0 && g.updated_at == g.created_at);
    store_cred_clear(&g);
    FAILS(ERR_NOTFOUND, store_cred_get(st, "nobody", &g, &E));
    FAILS(ERR_NOTFOUND, store_cred_find_key(st, H1, &g, &E));
    FAILS(ERR_INVALID, store_cred_get(st, NULL, &g, &E));

    store_creds l;
    OK(store_cred_list(st, &l, &E));
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].agent_id, "Bob");
    assert_string_equal(l.v[1].agent_id, "zed");
    assert_string_equal(l.v[2].agent_id, "\xc3\xa5sa");
    store_creds_free(&l);

    /* revoke: once (audited), again changes nothing */
    bool changed = false;
    utc_us t2 = t + 60 * SEC;
    OK(store_cred_revoke(st, "zed", t2, &au, &changed, &E));
    assert_true(changed);
    OK(store_cred_revoke(st, "zed", t2 + SEC, &au, &changed, &E));
    assert_false(changed);
    FAILS(ERR_NOTFOUND, store_cred_revoke(st, "nobody", t2, &au, &changed, &E));
    assert_false(changed);
    assert_int_equal(count_audit(st, "credential_revoked", NULL), 1);
    OK(store_cred_find_key(st, K1, &g, &E)); /* still there: the id stays reserved */
    assert_int_equal(g.revoked_at, t2);
    assert_int_equal(g.updated_at, t2);
    store_cred_clear(&g);

    /* rekey: a new digest, active again; the old digest is nobody's */
    utc_us t3 = t + 120 * SEC;
    OK(store_cred_rekey(st, "zed", H1, t3, &au, &E));
    FAILS(ERR_NOTFOUND, store_cred_find_key(st, K1, &g, &E));
    OK(store_cred_find_key(st, H1, &g, &E));
    assert_string_equal(g.agent_id, "zed");
    assert_int_equal(g.revoked_at, 0);
    assert_int_equal(g.updated_at, t3);
    assert_int_equal(g.created_at, t);
    store_cred_clear(&g);
    FAILS(ERR_UNIQUE, store_cred_rekey(st, "zed", K3, t3, &au, &E)); /* Bob's key */
    FAILS(ERR_NOTFOUND, store_cred_rekey(st, "nobody", H2, t3, &au, &E));
    FAILS(ERR_INVALID, store_cred_rekey(st, "zed", "xyz", t3, &au, &E));
    assert_int_equal(count_audit(st, "credential_rotated", NULL), 1);
    /* the audit records name the agent and its resource */
    store_audits al;
    store_audit_query q = {.event_type = "credential_rotated", .limit = 5};
    OK(store_audit_list(st, &q, &al, &E));
    assert_int_equal(al.n, 1);
    assert_string_equal(al.v[0].agent_id, "zed");
    assert_string_equal(al.v[0].resource, "agent:zed");
    store_audits_free(&al);
}

/* ---- restricted sessions -------------------------------------------------------------- */

#define SO "session_00000000000000a0" /* open */
#define SR "session_00000000000000a1" /* alice's: bob and gemini agents */
#define SE "session_00000000000000a2" /* carol's: nobody else */

/* The reader's filter: every visibility, and the session clause of (id, type). */
static store_vis member(const char *id, const char *type)
{
    store_vis v = {.any = STORE_VIS_EVERY, .member_id = id, .member_type = type};
    return v;
}

/* The sessions session_list gives vis, as "a0,a1" (the last two characters of each id,
 * in order of id), and its total. */
static void listed_sessions(store_t *st, const store_vis *vis, char *out, size_t n, int64_t *tot)
{
    store_session_query q = {.limit = 100, .vis = *vis};
    store_sessions l;
    OK(store_session_list(st, &q, &l, tot, &E));
    out[0] = '\0';
    for (const char *want = "a0\0a1\0a2\0"; *want; want += 3)
        for (size_t i = 0; i < l.n; i++)
            if (strcmp(l.v[i].id + strlen(l.v[i].id) - 2, want) == 0)
                snprintf(out + strlen(out), n - strlen(out), "%s%s", *out ? "," : "", want);
    assert_int_equal((int64_t)l.n, *tot);
    store_sessions_free(&l);
}

/* A restricted session (store_session.access) admits its creator and the agents and
 * types it lists; for anyone else (store_vis.member_id/member_type) its messages are not
 * there on any read (list, get, thread, search, session_list and its counts, a reply's
 * parent), on every backend; without a session clause every session is read. */
static void test_restricted_sessions(void **state)
{
    store_t *st = ST;
    mk_session_at(st, SO, "alice", true, 0);
    store_session r = {.id = C(SR),
                       .purpose = C("inner"),
                       .created_by = C("alice"),
                       .access = C("{\"agents\":[\"bob\",\"b\\u00f6b\"],\"types\":[\"gemini\"]}"),
                       .is_active = true};
    OK(store_session_create(st, &r, NULL, &E));
    store_session x = {.id = C(SE),
                       .purpose = C("alone"),
                       .created_by = C("carol"),
                       .access = C("{\"agents\":[],\"types\":[]}"),
                       .is_active = true};
    OK(store_session_create(st, &x, NULL, &E));
    store_session bad = x;
    bad.id = C("session_00000000000000a3");
    bad.access = C("{\"agents\":\"bob\",\"types\":[]}");
    FAILS(ERR_INVALID, store_session_create(st, &bad, NULL, &E));
    add_msg(st, SO, "alice", "open hello");
    int64_t rm = add_msg(st, SR, "alice", "inner hello");
    add_full(st, SR, "bob", "claude", "public", "inner reply", rm);
    int64_t em = add_msg(st, SE, "carol", "alone hello");

    /* the access round-trips (JSON, equal as values) */
    store_session g;
    OK(store_session_head(st, SR, &g, &E));
    json_t *want =
        json_loads("{\"agents\":[\"bob\",\"b\\u00f6b\"],\"types\":[\"gemini\"]}", 0, NULL);
    json_t *got = json_loads(g.access, 0, NULL);
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    assert_int_equal(g.message_count, 0); /* the head only */
    store_session_clear(&g);
    OK(store_session_get(st, SO, &g, &E));
    assert_null(g.access);
    store_session_clear(&g);

    static const struct {
        const char *id, *type, *sessions;
    } readers[] = {
        {"alice", "claude", "a0,a1"}, /* creator of a1 */
        {"bob", "claude", "a0,a1"},   /* listed */
        {"b\xc3\xb6"
         "b",
         "x", "a0,a1"},               /* listed (not ASCII) */
        {"gina", "gemini", "a0,a1"},  /* its type listed */
        {"gina", "Gemini", "a0"},     /* the type as stored, exactly */
        {"Bob", "claude", "a0"},      /* ids are exact */
        {"carol", "claude", "a0,a2"}, /* creator of a2 */
        {"dave", "generic", "a0"},
    };
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
        store_vis v = member(readers[i].id, readers[i].type);
        char ids[64];
        int64_t tot = -1;
        listed_sessions(st, &v, ids, sizeof ids, &tot);
        if (strcmp(ids, readers[i].sessions) != 0)
            fail_msg("%s/%s: sessions %s, expected %s", readers[i].id, readers[i].type, ids,
                     readers[i].sessions);
        bool in_r = strstr(readers[i].sessions, "a1") != NULL;
        bool in_e = strstr(readers[i].sessions, "a2") != NULL;
        /* message_list */
        store_messages l;
        int64_t total = -1;
        store_msg_query q = {.session_id = SR, .vis = v, .limit = 10};
        OK(store_message_list(st, &q, &l, &total, &E));
        assert_int_equal(l.n, in_r ? 2 : 0);
        assert_int_equal(total, in_r ? 2 : 0);
        store_messages_free(&l);
        q.session_id = SO;
        OK(store_message_list(st, &q, &l, &total, &E));
        assert_int_equal(l.n, 1);
        store_messages_free(&l);
        /* message_get, thread */
        store_message m;
        if (in_r) {
            OK(store_message_get(st, rm, &v, &m, &E));
            store_message_clear(&m);
            OK(store_message_thread(st, rm, &v, &l, &E));
            assert_int_equal(l.n, 2);
            store_messages_free(&l);
        } else {
            FAILS(ERR_NOTFOUND, store_message_get(st, rm, &v, &m, &E));
            FAILS(ERR_NOTFOUND, store_message_thread(st, rm, &v, &l, &E));
        }
        if (in_e) {
            OK(store_message_get(st, em, &v, &m, &E));
            store_message_clear(&m);
        } else {
            FAILS(ERR_NOTFOUND, store_message_get(st, em, &v, &m, &E));
        }
        /* the same in one read */
        OK(store_message_get_many(st, (const int64_t[]){em, rm}, 2, &v, &l, &E));
        assert_int_equal(l.n, (size_t)in_r + (size_t)in_e);
        if (l.n)
            assert_int_equal(l.v[0].id, in_r ? rm : em);
        store_messages_free(&l);
        /* search candidates */
        const char *terms[] = {"hel"};
        store_search_query sq = {
            .session_id = SR, .vis = v, .terms = terms, .nterms = 1, .limit = 10};
        OK(store_message_search(st, &sq, &l, &E));
        assert_int_equal(l.n, in_r ? 2 : 0);
        store_messages_free(&l);
    }
    /* a reply's parent as the poster sees it */
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
        store_vis v = member(readers[i].id, readers[i].type);
        bool in_r = strstr(readers[i].sessions, "a1") != NULL;
        store_message reply = {.session_id = C(SR),
                               .sender = C(readers[i].id),
                               .sender_type = C(readers[i].type),
                               .visibility = STORE_VIS_PUBLIC,
                               .content = C("reply"),
                               .parent_id = rm,
                               .parent_vis = &v};
        if (in_r)
            OK(store_message_add(st, &reply, NULL, &E));
        else
            assert_int_not_equal(store_message_add(st, &reply, NULL, &E), ERR_OK);
    }
    /* no session clause: everything; half of one: refused */
    char ids[64];
    int64_t tot = -1;
    listed_sessions(st, &VIS_ALL, ids, sizeof ids, &tot);
    assert_int_equal(tot, 3);
    store_vis half = {.any = STORE_VIS_EVERY, .member_id = "alice"};
    store_messages l;
    store_msg_query q = {.session_id = SR, .vis = half, .limit = 10};
    FAILS(ERR_INVALID, store_message_list(st, &q, &l, NULL, &E));
}

/* ---- counts against a brute-force count -------------------------------------------- */

#define CN_SESS 2
#define CN_SND 5
#define CN_MSG 60

static const struct {
    const char *id, *type;
} cn_senders[CN_SND] = {{"alice", "claude"},
                        {"bob", "claude"},
                        {"gina", "gemini"},
                        {"dave", "generic"},
                        {"root", "admin"}};
static const char *const cn_sessions[CN_SESS] = {"session_00000000000000d0",
                                                 "session_00000000000000d1"};

typedef struct {
    int sess, snd;
    store_visibility vis;
} cn_msg;

/* Whether vis lets its reader see m, computed from the rules in store.h: an any bit,
 * private to its sender, agent_only to its sender's type; and for a reader with a
 * session clause, session d1 (restricted to alice's, bob and gemini agents) admits
 * only those. */
static bool cn_visible(const store_vis *vis, const cn_msg *m)
{
    if (vis->member_id && m->sess == 1) {
        bool in = strcmp(vis->member_id, "alice") == 0 || strcmp(vis->member_id, "bob") == 0 ||
                  strcmp(vis->member_type, "gemini") == 0;
        if (!in)
            return false;
    }
    if (vis->any & STORE_VIS_BIT(m->vis))
        return true;
    if (m->vis == STORE_VIS_PRIVATE && vis->private_of &&
        strcmp(vis->private_of, cn_senders[m->snd].id) == 0)
        return true;
    return m->vis == STORE_VIS_AGENT_ONLY && vis->agent_only_of &&
           strcmp(vis->agent_only_of, cn_senders[m->snd].type) == 0;
}

/* Compares every count the store gives reader `vis` (message_list's total, with and
 * without a sender; session_list's message_count and participants) with the count
 * over msgs. */
static void cn_check(store_t *st, const store_vis *vis, const char *what, const cn_msg *msgs,
                     size_t n)
{
    int64_t want[CN_SESS] = {0};
    bool sent[CN_SESS][CN_SND] = {{false}};
    for (size_t i = 0; i < n; i++)
        if (cn_visible(vis, &msgs[i])) {
            want[msgs[i].sess]++;
            sent[msgs[i].sess][msgs[i].snd] = true;
        }
    for (int s = 0; s < CN_SESS; s++) {
        int64_t total = -1;
        store_messages l;
        store_msg_query q = {.session_id = cn_sessions[s], .vis = *vis, .limit = 1};
        OK(store_message_list(st, &q, &l, &total, &E));
        store_messages_free(&l);
        if (total != want[s])
            fail_msg("%s: %s total %lld, expected %lld", what, cn_sessions[s], (long long)total,
                     (long long)want[s]);
        for (int k = 0; k < CN_SND; k++) {
            int64_t ws = 0;
            for (size_t i = 0; i < n; i++)
                ws += msgs[i].sess == s && msgs[i].snd == k && cn_visible(vis, &msgs[i]);
            q.sender = cn_senders[k].id;
            OK(store_message_list(st, &q, &l, &total, &E));
            store_messages_free(&l);
            if (total != ws)
                fail_msg("%s: %s sender %s total %lld, expected %lld", what, cn_sessions[s],
                         cn_senders[k].id, (long long)total, (long long)ws);
        }
    }
    store_session_query sq = {.limit = 10, .vis = *vis};
    store_sessions sl;
    int64_t stotal = -1;
    OK(store_session_list(st, &sq, &sl, &stotal, &E));
    bool restricted_out = vis->member_id && !cn_visible(vis, &(cn_msg){1, 0, STORE_VIS_PUBLIC});
    assert_int_equal(sl.n, restricted_out ? 1 : 2);
    for (size_t j = 0; j < sl.n; j++) {
        int s = strcmp(sl.v[j].id, cn_sessions[0]) == 0 ? 0 : 1;
        if (sl.v[j].message_count != want[s])
            fail_msg("%s: %s message_count %lld, expected %lld", what, cn_sessions[s],
                     (long long)sl.v[j].message_count, (long long)want[s]);
        const char *parts[CN_SND];
        size_t np = 0;
        for (int k = 0; k < CN_SND; k++)
            if (sent[s][k])
                parts[np++] = cn_senders[k].id;
        qsort(parts, np, sizeof *parts, cmp_str);
        if (!has_participants(&sl.v[j], parts, np))
            fail_msg("%s: %s participants differ (%zu, expected %zu)", what, cn_sessions[s],
                     sl.v[j].nparticipants, np);
    }
    store_sessions_free(&sl);
}

/* Every reader kind, checked by cn_check. */
static void cn_check_all(store_t *st, const cn_msg *msgs, size_t n)
{
    cn_check(st, &VIS_ALL, "admin (any)", msgs, n);
    for (int k = 0; k < CN_SND; k++) {
        store_vis v = {.any = ANY(PUBLIC),
                       .private_of = cn_senders[k].id,
                       .agent_only_of = cn_senders[k].type};
        if (strcmp(cn_senders[k].type, "admin") == 0)
            v.any |= ANY(ADMIN_ONLY);
        cn_check(st, &v, cn_senders[k].id, msgs, n);
        v.member_id = cn_senders[k].id;
        v.member_type = cn_senders[k].type;
        cn_check(st, &v, "member reader", msgs, n);
        store_vis m = member(cn_senders[k].id, cn_senders[k].type);
        cn_check(st, &m, "member, every visibility", msgs, n);
    }
    static const store_vis filters[] = {
        {.any = ANY(PUBLIC)},
        {.any = ANY(PRIVATE)},
        {.any = ANY(AGENT_ONLY)},
        {.any = ANY(ADMIN_ONLY)},
        {.any = ANY(PRIVATE), .agent_only_of = "claude"},
        {.any = ANY(AGENT_ONLY), .private_of = "gina"},
        {.private_of = "bob"},
        {.agent_only_of = "gemini"},
        {0},
    };
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
        cn_check(st, &filters[i], "visibility filter", msgs, n);
    for (int s = 0; s < CN_SESS; s++) {
        int64_t all = 0;
        for (size_t i = 0; i < n; i++)
            all += msgs[i].sess == s;
        store_session g;
        OK(store_session_get(st, cn_sessions[s], &g, &E));
        assert_int_equal(g.message_count, all);
        store_session_clear(&g);
    }
}

static err_code cn_copy(void *ud, const char *table, json_t *row, err_t *e)
{
    return store_import_rows(ud, table, &row, 1, NULL, e);
}

/* Totals, session message_count and participants for every reader kind equal a count
 * over what was written: messages of every visibility from senders of several types in
 * an open and a restricted session; after more messages; and in a fresh store the rows
 * were copied to (iterate + import_rows, as export/import do); and after migrating down
 * below the counters, writing more, and up again (the backfill). */
static void test_counts_brute_force(void **state)
{
    store_t *st = ST;
    mk_session_at(st, cn_sessions[0], "alice", true, 0);
    store_session r = {.id = C(cn_sessions[1]),
                       .purpose = C("restricted"),
                       .created_by = C("alice"),
                       .access = C("{\"agents\":[\"bob\"],\"types\":[\"gemini\"]}"),
                       .is_active = true};
    OK(store_session_create(st, &r, NULL, &E));
    cn_msg msgs[CN_MSG];
    size_t n = 0;
    for (size_t i = 0; i < CN_MSG; i++) {
        if (i == CN_MSG / 2)
            cn_check_all(st, msgs, n);
        cn_msg m = {(int)(i % 3 == 0), (int)((i * 7 / 3) % CN_SND),
                    (store_visibility)((i + i / 5) % STORE_VIS_COUNT)};
        add_full(st, cn_sessions[m.sess], cn_senders[m.snd].id, cn_senders[m.snd].type,
                 VNAME(m.vis), "counted", 0);
        msgs[n++] = m;
    }
    cn_check_all(st, msgs, n);

    tb_db fresh = {0};
    OK(tb_fresh(g_url, &fresh, &E));
    OK(store_iterate(st, cn_copy, fresh.st, &E));
    OK(store_import_finish(fresh.st, &E));
    cn_check_all(fresh.st, msgs, n);
    tb_drop(&fresh);

    /* below migration 0004 (no counters) messages are written without them; going up
     * again counts every message (where migrations can be reverted) */
    store_schema sc;
    OK(store_schema_status(st, &sc, &E));
    bool up_only = sc.up_only != NULL;
    store_schema_clear(&sc);
    if (up_only)
        return;
    int changed = -1;
    OK(store_migrate_to(st, 3, &changed, &E));
    cn_msg more[CN_MSG + 8];
    memcpy(more, msgs, sizeof msgs);
    for (size_t i = 0; i < 8; i++) {
        cn_msg m = {(int)(i % 2), (int)(i % CN_SND), (store_visibility)(i % STORE_VIS_COUNT)};
        add_full(st, cn_sessions[m.sess], cn_senders[m.snd].id, cn_senders[m.snd].type,
                 VNAME(m.vis), "uncounted", 0);
        more[n++] = m;
    }
    OK(store_migrate_up(st, &changed, &E));
    cn_check_all(st, more, n);
}

/* ---- iterate ------------------------------------------------------------------------- */

typedef struct {
    json_t *rows;   /* [[table, row], ...] */
    int stop_after; /* > 0: return ERR_IO after that many rows */
} iter_acc;

static err_code collect(void *ud, const char *table, json_t *row, err_t *e)
{
    iter_acc *acc = ud;
    json_array_append_new(acc->rows, json_pack("[sO]", table, row));
    if (acc->stop_after > 0 && json_array_size(acc->rows) >= (size_t)acc->stop_after)
        return err_set(e, ERR_IO, "stop");
    return ERR_OK;
}

static int table_index(const char *t)
{
    const char *const *order = store_table_order();
    for (int i = 0; order[i]; i++)
        if (strcmp(order[i], t) == 0)
            return i;
    return -1;
}

static void check_keys(json_t *row, const char *keys)
{
    /* keys: space-separated, exactly the object's keys */
    size_t n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", keys);
    for (char *save = NULL, *k = strtok_r(buf, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
        if (!json_object_get(row, k)) {
            char *d = json_dumps(row, 0);
            fail_msg("row lacks key %s: %s", k, d);
        }
        n++;
    }
    assert_int_equal(json_object_size(row), n);
}

static json_t *find_row(json_t *rows, const char *table, const char *key, json_t *val)
{
    size_t i;
    json_t *pair;
    json_array_foreach (rows, i, pair) {
        if (strcmp(json_string_value(json_array_get(pair, 0)), table) == 0 &&
            json_equal(json_object_get(json_array_get(pair, 1), key), val))
            return json_array_get(pair, 1);
    }
    return NULL;
}

static void assert_time_field(json_t *row, const char *key, utc_us want)
{
    json_t *v = json_object_get(row, key);
    if (!want) {
        assert_true(json_is_null(v));
        return;
    }
    assert_true(json_is_string(v));
    assert_int_equal(T(json_string_value(v)), want);
}

static void test_iterate(void **state)
{
    store_t *st = ST;
    utc_us t = T("2025-05-05T05:05:05.050505Z");
    store_audit_in a = {.event_type = "e"};
    store_session s1 = {.id = C("session_00000000000000b1"),
                        .purpose = C("p1"),
                        .created_by = C("alice"),
                        .metadata = C("{\"x\":[1,2]}"),
                        .is_active = true,
                        .created_at = t};
    store_session s2 = {.id = C("session_00000000000000b2"),
                        .purpose = C("p2"),
                        .created_by = C("bob"),
                        .is_active = false,
                        .created_at = t};
    OK(store_session_create(st, &s1, &a, &E));
    OK(store_session_create(st, &s2, &a, &E));
    store_message m1 = {.session_id = s1.id,
                        .sender = C("alice"),
                        .content = C("hi"),
                        .metadata = C("{\"k\":true}")};
    OK(store_message_add(st, &m1, &a, &E));
    store_message m2 = {.session_id = s1.id,
                        .sender = C("bob"),
                        .content = C("re"),
                        .parent_id = m1.id,
                        .parent_vis = &VIS_ALL};
    OK(store_message_add(st, &m2, &a, &E));
    store_mem_set ms = {
        .agent_id = "alice", .key = "str", .value = "\"123\"", .now = t, .overwrite = true};
    OK(store_memory_set(st, &ms, &a, NULL, &E));
    ms = (store_mem_set){.agent_id = "alice",
                         .session_id = s1.id,
                         .key = "num",
                         .value = "123",
                         .metadata = "{\"m\":1}",
                         .now = t,
                         .expires_at = t + SEC,
                         .overwrite = true};
    OK(store_memory_set(st, &ms, &a, NULL, &E));
    store_token tok = {.token_hash = C(H3),
                       .permissions = C("read"),
                       .jti = C("jti-3"),
                       .agent_id = C("alice"),
                       .agent_type = C("claude"),
                       .created_at = t,
                       .expires_at = t + SEC};
    OK(store_token_put(st, &tok, &E));
    OK(store_jti_revoke(st, "jti-1", t + SEC, &E));

    store_cred cr = {.agent_id = C("alice"),
                     .agent_type = C("claude"),
                     .permissions = C("read,write"),
                     .key_hash = C(K1),
                     .created_at = t,
                     .updated_at = t};
    OK(store_cred_add(st, &cr, NULL, &E));

    iter_acc acc = {json_array(), 0};
    OK(store_iterate(st, collect, &acc, &E));
    size_t counts[7] = {0};
    int last = -1;
    size_t i;
    json_t *pair;
    json_array_foreach (acc.rows, i, pair) {
        const char *table = json_string_value(json_array_get(pair, 0));
        json_t *row = json_array_get(pair, 1);
        int ti = table_index(table);
        assert_true(ti >= 0);
        assert_true(ti >= last); /* foreign-key order */
        last = ti;
        counts[ti]++;
        switch (ti) {
        case 0:
            check_keys(row,
                       "id purpose created_by metadata is_active created_at updated_at access");
            break;
        case 1:
            check_keys(row, "id session_id sender sender_type content visibility message_type "
                            "metadata parent_message_id created_at");
            break;
        case 2:
            check_keys(row, "agent_id session_id key value metadata created_at updated_at "
                            "expires_at");
            break;
        case 3:
            check_keys(row, "id created_at event_type agent_id session_id resource metadata");
            break;
        case 4:
            check_keys(row, "token_hash agent_id agent_type permissions jti created_at expires_at");
            break;
        case 5: check_keys(row, "jti expires_at"); break;
        case 6:
            check_keys(row, "agent_id agent_type permissions key_hash created_at updated_at "
                            "revoked_at");
            break;
        }
    }
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[3], 6);
    assert_int_equal(counts[4], 1);
    assert_int_equal(counts[5], 1);
    assert_int_equal(counts[6], 1);

    json_t *k;
    json_t *r = find_row(acc.rows, "sessions", "id", k = json_string(s1.id));
    json_decref(k);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "is_active")));
    assert_true(json_is_array(json_object_get(json_object_get(r, "metadata"), "x")));
    assert_time_field(r, "created_at", t);
    r = find_row(acc.rows, "sessions", "id", k = json_string(s2.id));
    json_decref(k);
    assert_true(json_is_false(json_object_get(r, "is_active")));
    assert_true(json_is_null(json_object_get(r, "metadata")));

    r = find_row(acc.rows, "messages", "id", k = json_integer(m1.id));
    json_decref(k);
    assert_non_null(r);
    assert_true(json_is_null(json_object_get(r, "parent_message_id")));
    assert_true(json_is_true(json_object_get(json_object_get(r, "metadata"), "k")));
    assert_string_equal(json_string_value(json_object_get(r, "visibility")), "public");
    assert_time_field(r, "created_at", m1.created_at);
    r = find_row(acc.rows, "messages", "id", k = json_integer(m2.id));
    json_decref(k);
    assert_true(json_is_integer(json_object_get(r, "parent_message_id")));
    assert_int_equal(json_integer_value(json_object_get(r, "parent_message_id")), m1.id);

    r = find_row(acc.rows, "agent_memory", "key", k = json_string("str"));
    json_decref(k);
    assert_true(json_is_string(json_object_get(r, "value")));
    assert_string_equal(json_string_value(json_object_get(r, "value")), "123");
    assert_true(json_is_null(json_object_get(r, "session_id")));
    assert_true(json_is_null(json_object_get(r, "expires_at")));
    r = find_row(acc.rows, "agent_memory", "key", k = json_string("num"));
    json_decref(k);
    assert_true(json_is_integer(json_object_get(r, "value")));
    assert_int_equal(json_integer_value(json_object_get(r, "metadata")
                                            ? json_object_get(json_object_get(r, "metadata"), "m")
                                            : NULL),
                     1);
    assert_time_field(r, "expires_at", t + SEC);
    assert_time_field(r, "created_at", t);

    r = find_row(acc.rows, "agent_credentials", "agent_id", k = json_string("alice"));
    json_decref(k);
    assert_string_equal(json_string_value(json_object_get(r, "key_hash")), K1);
    assert_true(json_is_null(json_object_get(r, "revoked_at")));
    assert_time_field(r, "updated_at", t);
    r = find_row(acc.rows, "secure_tokens", "token_hash", k = json_string(tok.token_hash));
    json_decref(k);
    assert_time_field(r, "expires_at", t + SEC);
    r = find_row(acc.rows, "revoked_jtis", "jti", k = json_string("jti-1"));
    json_decref(k);
    assert_time_field(r, "expires_at", t + SEC);
    r = find_row(acc.rows, "audit_log", "event_type", k = json_string("e"));
    json_decref(k);
    assert_true(json_is_integer(json_object_get(r, "id")));
    assert_true(json_is_string(json_object_get(r, "created_at")));
    json_decref(acc.rows);

    /* a callback error stops the walk and is returned */
    acc = (iter_acc){json_array(), 3};
    FAILS(ERR_IO, store_iterate(st, collect, &acc, &E));
    assert_int_equal(json_array_size(acc.rows), 3);
    json_decref(acc.rows);
}

/* Bulk import (copy/import): rows kept exactly as given, rows whose key exists
 * skipped, a bad batch refused as a whole, sequences moved past imported ids,
 * rows counted, and iterate ordered by key byte-wise on every backend. */
static json_t *jl(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad JSON in test: %s", je.text);
    return j;
}

#define MSG_ROW(id, sess, parent) \
    "{\"id\":" #id ",\"session_id\":\"" sess "\",\"sender\":\"a\",\"sender_type\":\"generic\"," \
    "\"content\":\"c " #id "\",\"visibility\":\"private\",\"message_type\":\"agent_response\"," \
    "\"metadata\":{\"n\":" #id "},\"parent_message_id\":" #parent "," \
    "\"created_at\":\"2024-01-02T03:04:05.0000" #id "Z\"}"
#define MEM_ROW(agent, sess, key) \
    "{\"agent_id\":\"" agent "\",\"session_id\":" sess ",\"key\":\"" key "\",\"value\":[1,\"x\"]," \
    "\"metadata\":null,\"created_at\":\"2024-01-01T00:00:00.000001Z\"," \
    "\"updated_at\":\"2024-01-01T00:00:00.000002Z\",\"expires_at\":null}"
#define SC1 "session_00000000000000c1"

/* What a SQL schema refuses with a CHECK constraint every backend refuses before
 * writing: a visibility outside the four values, metadata that is not an object
 * (sessions, messages, memory; an audit record's metadata may be any JSON). */
static void test_import_rows_checked_values(void **state)
{
    store_t *st = ST;
    json_t *sess =
        jl("{\"id\":\"" SC1 "\",\"purpose\":\"p\",\"created_by\":\"a\","
           "\"metadata\":null,\"is_active\":true,\"access\":null,"
           "\"created_at\":\"2024-01-01T00:00:00Z\",\"updated_at\":\"2024-01-01T00:00:00Z\"}");
    OK(store_import_rows(st, "sessions", &sess, 1, NULL, &E));
    json_object_set_new(sess, "id", json_string("session_00000000000000c2"));
    json_object_set_new(sess, "metadata", json_pack("[i]", 1));
    FAILS(ERR_INVALID, store_import_rows(st, "sessions", &sess, 1, NULL, &E));
    assert_non_null(strstr(E.msg, "sessions.metadata"));
    /* a restricted session's access: {"agents": [strings], "types": [strings]} only */
    json_object_set_new(sess, "metadata", json_null());
    const char *bad_access[] = {"[]", "{\"agents\":[\"a\"]}", "{\"agents\":[1],\"types\":[]}",
                                "{\"agents\":[],\"types\":[],\"x\":[]}", "[\"open\"]"};
    for (size_t i = 0; i < sizeof bad_access / sizeof bad_access[0]; i++) {
        json_object_set_new(sess, "access", jl(bad_access[i]));
        FAILS(ERR_INVALID, store_import_rows(st, "sessions", &sess, 1, NULL, &E));
        assert_non_null(strstr(E.msg, "sessions.access"));
    }
    json_decref(sess);

    json_t *msg = jl(MSG_ROW(40, SC1, null));
    json_object_set_new(msg, "visibility", json_string("everyone"));
    FAILS(ERR_INVALID, store_import_rows(st, "messages", &msg, 1, NULL, &E));
    assert_non_null(strstr(E.msg, "messages.visibility"));
    assert_non_null(strstr(E.msg, "agent_only"));
    json_object_set_new(msg, "visibility", json_string("public"));
    json_object_set_new(msg, "metadata", json_string("text"));
    FAILS(ERR_INVALID, store_import_rows(st, "messages", &msg, 1, NULL, &E));
    assert_non_null(strstr(E.msg, "messages.metadata"));
    json_decref(msg);

    json_t *mem = jl(MEM_ROW("a", "null", "k"));
    json_object_set_new(mem, "metadata", json_integer(3));
    FAILS(ERR_INVALID, store_import_rows(st, "agent_memory", &mem, 1, NULL, &E));
    assert_non_null(strstr(E.msg, "agent_memory.metadata"));
    json_decref(mem);

    int64_t n = -1;
    OK(store_count_rows(st, "messages", &n, &E));
    assert_int_equal(n, 0);
    OK(store_count_rows(st, "agent_memory", &n, &E));
    assert_int_equal(n, 0);
    OK(store_count_rows(st, "sessions", &n, &E));
    assert_int_equal(n, 1);
}

static void test_import_rows(void **state)
{
    store_t *st = ST;
    json_t *sess =
        jl("{\"id\":\"" SC1 "\",\"purpose\":\"p\",\"created_by\":\"a\","
           "\"metadata\":{\"b\":1,\"a\":[true,null]},\"is_active\":false,\"access\":null,"
           "\"created_at\":\"2024-02-29T23:59:59.999999Z\","
           "\"updated_at\":\"2024-03-01T00:00:00.000001Z\"}");
    int64_t n = -1;
    OK(store_import_rows(st, "sessions", &sess, 1, &n, &E));
    assert_int_equal(n, 1);
    OK(store_import_rows(st, "sessions", &sess, 1, NULL, &E)); /* exists: skipped */
    OK(store_count_rows(st, "sessions", &n, &E));
    assert_int_equal(n, 1);
    json_decref(sess);
    store_session s;
    OK(store_session_get(st, SC1, &s, &E));
    assert_false(s.is_active);
    assert_int_equal(s.created_at, T("2024-02-29T23:59:59.999999Z"));
    assert_int_equal(s.updated_at, T("2024-03-01T00:00:00.000001Z"));
    json_t *meta = jl(s.metadata);
    json_t *want = jl("{\"a\":[true,null],\"b\":1}");
    assert_true(json_equal(meta, want));
    json_decref(meta);
    json_decref(want);
    store_session_clear(&s);

    json_t *msgs[2] = {jl(MSG_ROW(10, SC1, null)), jl(MSG_ROW(20, SC1, 10))};
    OK(store_import_rows(st, "messages", msgs, 2, NULL, &E));
    OK(store_import_rows(st, "messages", msgs, 2, NULL, &E)); /* re-run: no duplicates */
    OK(store_count_rows(st, "messages", &n, &E));
    assert_int_equal(n, 2);
    store_message m;
    OK(store_message_get(st, 20, &VIS_ALL, &m, &E));
    assert_int_equal(m.parent_id, 10);
    assert_string_equal(VNAME(m.visibility), "private");
    assert_int_equal(m.created_at, T("2024-01-02T03:04:05.000020Z"));
    store_message_clear(&m);

    /* a bad row refuses the whole batch before anything is written */
    json_t *bad[2] = {jl(MSG_ROW(30, SC1, null)), jl("{\"id\":\"x\"}")};
    FAILS(ERR_INVALID, store_import_rows(st, "messages", bad, 2, NULL, &E));
    assert_non_null(strstr(E.msg, "row 2"));
    FAILS(ERR_INVALID, store_import_rows(st, "nope", bad, 1, NULL, &E));
    /* a row the database refuses (unknown session) rolls the batch back */
    json_t *orphan[2] = {jl(MSG_ROW(31, SC1, null)), jl(MSG_ROW(32, "session_nope", null))};
    assert_int_not_equal(store_import_rows(st, "messages", orphan, 2, NULL, &E), ERR_OK);
    OK(store_count_rows(st, "messages", &n, &E));
    assert_int_equal(n, 2);
    for (int i = 0; i < 2; i++) {
        json_decref(msgs[i]);
        json_decref(bad[i]);
        json_decref(orphan[i]);
    }

    /* memory: identity (agent, scope, key); iterate orders it byte-wise with the
     * global entry of an agent before its session entries */
    json_t *mem[4] = {jl(MEM_ROW("b", "null", "k")), jl(MEM_ROW("a", "\"" SC1 "\"", "k")),
                      jl(MEM_ROW("a", "null", "z")), jl(MEM_ROW("B", "null", "k"))};
    OK(store_import_rows(st, "agent_memory", mem, 4, NULL, &E));
    OK(store_import_rows(st, "agent_memory", mem, 4, NULL, &E));
    OK(store_count_rows(st, "agent_memory", &n, &E));
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++)
        json_decref(mem[i]);
    iter_acc acc = {json_array(), 0};
    OK(store_iterate(st, collect, &acc, &E));
    const char *order[4][2] = {{"B", NULL}, {"a", NULL}, {"a", SC1}, {"b", NULL}};
    size_t k = 0, i;
    json_t *pair;
    json_array_foreach (acc.rows, i, pair) {
        if (strcmp(json_string_value(json_array_get(pair, 0)), "agent_memory") != 0)
            continue;
        json_t *row = json_array_get(pair, 1);
        assert_true(k < 4);
        assert_string_equal(json_string_value(json_object_get(row, "agent_id")), order[k][0]);
        const char *sid = json_string_value(json_object_get(row, "session_id"));
        if (order[k][1])
            assert_string_equal(sid, order[k][1]);
        else
            assert_null(sid);
        k++;
    }
    assert_int_equal(k, 4);
    json_decref(acc.rows);

    /* sequences continue after the imported ids */
    OK(store_import_finish(st, &E));
    store_message next = {.session_id = C(SC1), .sender = C("a"), .content = C("next")};
    OK(store_message_add(st, &next, NULL, &E));
    /* after the largest id; InnoDB may also have moved past ids of the rolled
     * back batch above (gaps are allowed, reuse is not) */
    assert_true(next.id >= 21 && next.id <= 33);
    json_t *aud = jl("{\"id\":77,\"created_at\":\"2024-01-01T00:00:00Z\",\"event_type\":\"x\","
                     "\"agent_id\":\"a\",\"session_id\":null,\"resource\":null,\"metadata\":[1]}");
    OK(store_import_rows(st, "audit_log", &aud, 1, NULL, &E));
    json_decref(aud);
    OK(store_import_finish(st, &E));
    OK(store_import_finish(st, &E)); /* idempotent, never backwards */
    store_audit_in ai = {.event_type = "after", .agent_id = "a"};
    OK(store_audit_append(st, &ai, &E));
    store_audits al;
    store_audit_query aq = {.event_type = "after", .limit = 1};
    OK(store_audit_list(st, &aq, &al, &E));
    assert_int_equal(al.n, 1);
    assert_int_equal(al.v[0].id, 78);
    store_audits_free(&al);
}

/* ---- message_search (index-backed search candidates) --------------------------- */

#define SC2 "session_00000000000000c2"

static void expect_search(store_t *st, const char *sid, store_vis vis, const char *const *terms,
                          size_t nterms, int64_t since, int limit, const int64_t *ids, size_t n)
{
    store_search_query q = {.session_id = sid,
                            .vis = vis,
                            .terms = terms,
                            .nterms = nterms,
                            .since_id = since,
                            .limit = limit};
    store_messages l;
    OK(store_message_search(st, &q, &l, &E));
    if (l.n != n) {
        char buf[512] = "";
        for (size_t i = 0; i < l.n && strlen(buf) < 480; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%lld ", (long long)l.v[i].id);
        fail_msg("search '%s': expected %zu messages, got %zu: %s", terms[0], n, l.n, buf);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(l.v[i].id, ids[i]);
    store_messages_free(&l);
}

#define TERMS(...) \
    ((const char *const[]){__VA_ARGS__}), \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define IDS(...) \
    ((const int64_t[]){__VA_ARGS__}), sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)
#define NO_IDS NULL, 0

/* What ctxd serve's background indexer does: message_reindex until complete. */
static void flush_index(store_t *st)
{
    int64_t done = 1;
    for (int i = 0; done > 0; i++) {
        OK(store_message_reindex(st, 2, &done, &E)); /* small batches: several passes */
        assert_true(i < 10000);
    }
}

/* Every message in ids is among the candidates (a backend may return more). */
static void expect_search_has(store_t *st, const char *sid, const char *term, const int64_t *ids,
                              size_t n)
{
    store_search_query q = {
        .session_id = sid, .vis = VIS_ALL, .terms = &term, .nterms = 1, .limit = 1000};
    store_messages l;
    OK(store_message_search(st, &q, &l, &E));
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < l.n; j++)
            found |= l.v[j].id == ids[i];
        if (!found)
            fail_msg("search '%s': message %lld missing from the candidates", term,
                     (long long)ids[i]);
    }
    store_messages_free(&l);
}

static void test_message_search(void **state)
{
    store_t *st = ST;
    store_set_index_fn(st, search_message_index_text);
    mk_session(st, SC1);
    mk_session(st, SC2);
    int64_t m1 = add_full(st, SC1, "Alice", "claude", "public", "Deploy the DATABASE", 0).id;
    int64_t m2 = add_full(st, SC1, "bob", "claude", "public", "100% done_ok", 0).id;
    int64_t m3 =
        add_full(st, SC1, "bob", "claude", "private", "Caf\xc3\xa9 \"quoted\" back\\slash a|b.c", 0)
            .id;
    store_message m = {.session_id = C(SC1),
                       .sender = C("carol"),
                       .content = C("nothing here"),
                       .metadata = C("{\"k\":{\"deep\":[\"Zebra\", 12, null]}}")};
    OK(store_message_add(st, &m, NULL, &E));
    int64_t m4 = m.id;
    add_full(st, SC2, "alice", "claude", "public", "deploy elsewhere", 0);
    /* before the index upkeep: every matching message is a candidate already */
    expect_search_has(st, SC1, "dep", IDS(m1));
    expect_search_has(st, SC1, "ebr", IDS(m4));
    flush_index(st);

    /* normalised (case, accents), only the session, in id order */
    expect_search(st, SC1, VIS_ALL, TERMS("dep"), 0, 10, IDS(m1));
    expect_search(st, SC1, VIS_ALL, TERMS("afe"), 0, 10, IDS(m3)); /* "Café" */
    expect_search(st, SC1, VIS_ALL, TERMS("ice"), 0, 10, IDS(m1)); /* sender */
    expect_search(st, SC1, VIS_ALL, TERMS("ebr"), 0, 10, IDS(m4)); /* nested metadata value */
    /* LIKE / regex / FTS5 special characters are literal */
    expect_search(st, SC1, VIS_ALL, TERMS("0% "), 0, 10, IDS(m2));
    expect_search(st, SC1, VIS_ALL, TERMS("e_o"), 0, 10, IDS(m2));
    expect_search(st, SC1, VIS_ALL, TERMS("e%o"), 0, 10, NO_IDS);
    expect_search(st, SC1, VIS_ALL, TERMS("o_e"), 0, 10, NO_IDS);
    expect_search(st, SC1, VIS_ALL, TERMS("\"qu"), 0, 10, IDS(m3));
    expect_search(st, SC1, VIS_ALL, TERMS("k\\s"), 0, 10, IDS(m3));
    expect_search(st, SC1, VIS_ALL, TERMS("a|b"), 0, 10, IDS(m3));
    expect_search(st, SC1, VIS_ALL, TERMS("b.c"), 0, 10, IDS(m3));
    expect_search(st, SC1, VIS_ALL, TERMS("a.c"), 0, 10, NO_IDS);
    expect_search(st, SC1, VIS_ALL, TERMS("x|y"), 0, 10, NO_IDS);
    expect_search(st, SC1, VIS_ALL, TERMS("(de"), 0, 10, NO_IDS);
    /* any of several terms; visibility; cursor and limit */
    expect_search(st, SC1, VIS_ALL, TERMS("zzz", "dep", "ebr", "caf"), 0, 10, IDS(m1, m3, m4));
    expect_search(st, SC1, VIS_PUBLIC, TERMS("zzz", "dep", "ebr", "caf"), 0, 10, IDS(m1, m4));
    store_vis bob = {.any = ANY(PUBLIC), .private_of = "bob"};
    expect_search(st, SC1, bob, TERMS("dep", "caf"), 0, 10, IDS(m1, m3));
    store_vis priv = {.any = ANY(PRIVATE)};
    expect_search(st, SC1, priv, TERMS("zzz", "dep", "ebr", "caf"), 0, 10, IDS(m3));
    expect_search(st, SC1, priv, TERMS("zzz", "dep", "ebr", "caf"), m3, 10, NO_IDS);
    expect_search(st, SC1, VIS_ALL, TERMS("dep", "ebr", "caf"), 0, 2, IDS(m1, m3));
    expect_search(st, SC1, VIS_ALL, TERMS("dep", "ebr", "caf"), m3, 2, IDS(m4));
    expect_search(st, SC1, VIS_ALL, TERMS("dep"), m4, 2, NO_IDS);
    /* errors */
    store_messages l;
    store_search_query q = {.session_id = "session_00000000000000ff",
                            .vis = VIS_ALL,
                            .terms = (const char *const[]){"dep"},
                            .nterms = 1,
                            .limit = 5};
    FAILS(ERR_NOTFOUND, store_message_search(st, &q, &l, &E));
    q.session_id = SC1;
    q.nterms = 0;
    FAILS(ERR_INVALID, store_message_search(st, &q, &l, &E));
    q.nterms = 1;
    q.terms = (const char *const[]){"\xc3\xa9"
                                    "a"}; /* 2 characters: no trigram */
    FAILS(ERR_INVALID, store_message_search(st, &q, &l, &E));

    /* imported messages get their index text too */
    json_t *row = jl(MSG_ROW(90, SC1, null));
    OK(store_import_rows(st, "messages", &row, 1, NULL, &E));
    json_decref(row);
    OK(store_import_finish(st, &E));
    expect_search_has(st, SC1, "c 9", IDS(90));
    flush_index(st);
    expect_search(st, SC1, VIS_ALL, TERMS("c 9"), 0, 10, IDS(90));

    /* messages written without an index function (copy/import, or before migration
     * 0002) are candidates of every search until message_reindex gives them text */
    store_set_index_fn(st, NULL);
    int64_t done = 0;
    FAILS(ERR_INVALID, store_message_reindex(st, 10, &done, &E));
    int64_t m5 = add_full(st, SC1, "dave", "claude", "public", "unrelated words", 0).id;
    row = jl(MSG_ROW(95, SC1, null));
    OK(store_import_rows(st, "messages", &row, 1, NULL, &E));
    json_decref(row);
    OK(store_import_finish(st, &E));
    expect_search(st, SC1, VIS_ALL, TERMS("dep"), 0, 10, IDS(m1, m5, 95));
    expect_search(st, SC1, VIS_ALL, TERMS("ebr"), 0, 10, IDS(m4, m5, 95));
    store_set_index_fn(st, search_message_index_text);
    flush_index(st);
    expect_search(st, SC1, VIS_ALL, TERMS("dep"), 0, 10, IDS(m1));
    expect_search(st, SC1, VIS_ALL, TERMS("rel"), 0, 10, IDS(m5));
    expect_search(st, SC1, VIS_ALL, TERMS("c 9"), 0, 10, IDS(90, 95));
    OK(store_message_reindex(st, 10, &done, &E));
    assert_int_equal(done, 0); /* complete */
    /* new messages after that: candidates at once, found through the index later */
    int64_t m6 = add_full(st, SC1, "erin", "claude", "public", "a zebra crossing", 0).id;
    expect_search_has(st, SC1, "ebr", IDS(m4, m6));
    flush_index(st);
    expect_search(st, SC1, VIS_ALL, TERMS("ebr"), 0, 10, IDS(m4, m6));
}

/* The randomized equivalence: for many queries and thresholds, scoring only the
 * candidates of a sound prefilter plan gives exactly the full scan's results. */
static const char *const WORDS[] = {"deploy", "database", "migration", "agent",  "review", "Café",
                                    "straße", "token",    "ab",        "cd",     "x",      "server",
                                    "error",  "rollback", "index",     "trigram"};
#define NWORDS (sizeof WORDS / sizeof WORDS[0])
static uint64_t eq_rs = 0x9E3779B97F4A7C15ull;
static uint32_t eq_rnd(uint32_t n)
{
    eq_rs ^= eq_rs << 13;
    eq_rs ^= eq_rs >> 7;
    eq_rs ^= eq_rs << 17;
    return (uint32_t)(eq_rs % n);
}

/* a random phrase of 1..maxw words, each maybe with one typo */
static void phrase(char *out, size_t cap, int maxw)
{
    out[0] = '\0';
    int nw = 1 + (int)eq_rnd((uint32_t)maxw);
    for (int w = 0; w < nw; w++) {
        char word[32];
        snprintf(word, sizeof word, "%s", WORDS[eq_rnd(NWORDS)]);
        size_t wl = strlen(word);
        if (eq_rnd(3) == 0 && wl > 2) {
            size_t p = eq_rnd((uint32_t)wl);
            if ((unsigned char)word[p] < 0x80)
                word[p] = "aeioxz"[eq_rnd(6)];
        }
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", w ? (eq_rnd(4) ? " " : ", ") : "",
                 word);
    }
}

typedef struct {
    int64_t id;
    double score;
} eq_hit;

static size_t score_list(search_ws *ws, const search_query *sq, double th, store_messages *l,
                         eq_hit *out, size_t n)
{
    search_match mt;
    for (size_t i = 0; i < l->n; i++) {
        store_message *m = &l->v[i];
        json_error_t je;
        json_t *md = m->metadata ? json_loads(m->metadata, 0, &je) : NULL;
        double s =
            search_score_message(sq, ws, m->sender, m->content, strlen(m->content), md, th, &mt);
        json_decref(md);
        if (s >= th && s > 0)
            out[n++] = (eq_hit){m->id, s};
    }
    return n;
}

static void test_search_equivalence(void **state)
{
    store_t *st = ST;
    store_set_index_fn(st, search_message_index_text);
    mk_session(st, SC1);
    mk_session(st, SC2);
    enum {
        NMSG = 240
    };
    char text[256], meta[128];
    static const char *const senders[] = {"alice", "bob", "Agent-Δ", "deployer"};
    static const char *const vis[] = {"public", "private", "public", "agent_only"};
    for (int i = 0; i < NMSG; i++) {
        phrase(text, sizeof text, 8);
        snprintf(meta, sizeof meta, "{\"tag\":\"%s\",\"n\":%d,\"f\":[true,%d.5]}",
                 WORDS[eq_rnd(NWORDS)], i, i);
        store_message m = {.session_id = C(i % 7 ? SC1 : SC2),
                           .sender = C(senders[eq_rnd(4)]),
                           .sender_type = C("claude"),
                           .visibility = V(vis[eq_rnd(4)]),
                           .content = text,
                           .metadata = i % 3 ? meta : NULL};
        OK(store_message_add(st, &m, NULL, &E));
        if (i == NMSG / 2)
            flush_index(st); /* half in the index, half only candidates by position */
    }
    store_vis rv = {.any = ANY(PUBLIC), .private_of = "bob"};
    store_messages all;
    store_msg_query lq = {.session_id = SC1, .vis = rv, .limit = 100000};
    OK(store_message_list(st, &lq, &all, NULL, &E));
    search_ws *ws = search_ws_new();
    static const double th[] = {50, 60, 80, 85, 88, 90, 95, 100};
    eq_hit *full = malloc(NMSG * sizeof *full), *cand = malloc(NMSG * sizeof *cand);
    int sound = 0, nonempty = 0, queries = 0;
    for (int qi = 0; qi < 150; qi++) {
        char query[128];
        phrase(query, sizeof query, 3);
        search_query *sq = search_query_new(query, strlen(query));
        for (size_t ti = 0; ti < sizeof th / sizeof th[0]; ti++) {
            queries++;
            search_prefilter pf;
            search_prefilter_plan(ws, query, strlen(query), th[ti], &pf);
            if (!pf.sound) {
                search_prefilter_free(&pf);
                continue;
            }
            sound++;
            size_t nf = score_list(ws, sq, th[ti], &all, full, 0);
            size_t nc = 0;
            int64_t cursor = 0;
            for (;;) { /* pages of 16 through the cursor */
                store_search_query q = {.session_id = SC1,
                                        .vis = rv,
                                        .terms = (const char *const *)pf.terms,
                                        .nterms = pf.nterms,
                                        .since_id = cursor,
                                        .limit = 16};
                store_messages l;
                OK(store_message_search(st, &q, &l, &E));
                nc = score_list(ws, sq, th[ti], &l, cand, nc);
                size_t got = l.n;
                if (got)
                    cursor = l.v[got - 1].id;
                store_messages_free(&l);
                if (got < 16)
                    break;
            }
            nonempty += nf > 0;
            if (nf != nc)
                fail_msg("query '%s' threshold %g: full scan %zu results, candidates %zu", query,
                         th[ti], nf, nc);
            for (size_t i = 0; i < nf; i++)
                if (full[i].id != cand[i].id || full[i].score != cand[i].score)
                    fail_msg("query '%s' threshold %g: result %zu differs", query, th[ti], i);
            search_prefilter_free(&pf);
        }
        search_query_free(sq);
    }
    print_message("search equivalence: %d (query, threshold) pairs, %d sound, %d with results\n",
                  queries, sound, nonempty);
    assert_true(sound >= 100);
    assert_true(nonempty >= 50);
    free(full);
    free(cand);
    search_ws_free(ws);
    store_messages_free(&all);
}

/* ---- schema lifecycle ------------------------------------------------------------------ */

/* A second store on the same database is possible except for SQLite :memory:
 * (each connection there is a database of its own). */
static bool reopenable(void)
{
    return !strstr(g_url, ":memory:");
}

static void expect_status(store_t *st, int current, store_schema *s)
{
    OK(store_schema_status(st, s, &E));
    assert_true(s->latest >= 1);
    assert_int_equal(s->current, current);
    assert_int_equal(s->db_newest, current);
    assert_int_equal(s->n, (size_t)s->latest); /* every known migration, nothing else */
    for (size_t i = 0; i < s->n; i++) {
        const store_migration *m = &s->v[i];
        assert_int_equal(m->version, (int)i + 1);
        assert_true(m->known);
        assert_true(m->name && *m->name);
        assert_int_equal(m->applied, m->version <= current);
        assert_int_equal(m->applied_at > 0, m->version <= current);
        assert_false(m->checksum_mismatch);
    }
}

/* After setup: current == latest, every migration listed as applied, the check
 * passes, and migrating up or to the current version changes nothing. */
static void test_schema_current(void **state)
{
    store_t *st = ST;
    store_schema s;
    OK(store_schema_status(st, &s, &E));
    int latest = s.latest;
    store_schema_clear(&s);
    expect_status(st, latest, &s);
    store_schema_clear(&s);
    OK(store_schema_check(st, &E));
    int n = -1;
    OK(store_migrate_up(st, &n, &E));
    assert_int_equal(n, 0);
    n = -1;
    OK(store_migrate_to(st, latest, &n, &E));
    assert_int_equal(n, 0);
    FAILS(ERR_INVALID, store_migrate_to(st, latest + 1, &n, &E));
    assert_non_null(strstr(E.msg, "out of range"));
    FAILS(ERR_INVALID, store_migrate_to(st, -1, &n, &E));
    expect_status(st, latest, &s);
    store_schema_clear(&s);
    assert_true(strlen(store_url_masked(st)) > 0);
    if (reopenable()) {
        store_t *st2 = NULL;
        OK(store_open(((tb_db *)*state)->url, NULL, &st2, &E));
        store_close(st2);
    }
}

/* Going down: reverts one migration where migrations can be reverted (and up
 * again re-applies it); elsewhere refused with the reason, nothing changed. */
static void test_schema_down(void **state)
{
    store_t *st = ST;
    store_schema s;
    OK(store_schema_status(st, &s, &E));
    int latest = s.latest;
    const char *up_only = s.up_only;
    store_schema_clear(&s);
    int n = -1;
    if (up_only) {
        FAILS(ERR_INVALID, store_migrate_to(st, latest - 1, &n, &E));
        assert_non_null(strstr(E.msg, up_only));
        assert_int_equal(n, 0);
        expect_status(st, latest, &s);
        store_schema_clear(&s);
        return;
    }
    OK(store_migrate_to(st, latest - 1, &n, &E));
    assert_int_equal(n, 1);
    expect_status(st, latest - 1, &s);
    store_schema_clear(&s);
    FAILS(ERR_SCHEMA, store_schema_check(st, &E));
    assert_non_null(strstr(E.msg, "ctxd migrate up"));
    OK(store_migrate_up(st, &n, &E));
    assert_int_equal(n, 1);
    OK(store_schema_check(st, &E));
}

/* An empty database: nothing applied, the check and an open in check mode say
 * what to run, migrate up applies every migration; store_drop empties it again. */
static void test_schema_empty(void **state)
{
    tb_db *d = *state;
    store_schema s;
    expect_status(d->st, 0, &s);
    int latest = s.latest;
    store_schema_clear(&s);
    FAILS(ERR_SCHEMA, store_schema_check(d->st, &E));
    assert_non_null(strstr(E.msg, "ctxd migrate up"));
    store_t *st2 = (store_t *)&s;
    FAILS(ERR_SCHEMA, store_open(d->url, NULL, &st2, &E));
    assert_null(st2);
    assert_non_null(strstr(E.msg, "ctxd migrate up"));
    int n = -1;
    OK(store_migrate_up(d->st, &n, &E));
    assert_int_equal(n, latest);
    OK(store_schema_check(d->st, &E));
    expect_status(d->st, latest, &s);
    store_schema_clear(&s);
    if (reopenable()) {
        OK(store_open(d->url, NULL, &st2, &E));
        store_close(st2);
    }
    OK(store_drop(d->st, &E));
    expect_status(d->st, 0, &s);
    store_schema_clear(&s);
    FAILS(ERR_SCHEMA, store_schema_check(d->st, &E));
}

/* ---- the record of an unfinished load ------------------------------------------------ */

static int64_t rows_everywhere(store_t *st)
{
    size_t nt;
    const store_table *t = store_tables(&nt);
    int64_t all = 0;
    for (size_t i = 0; i < nt; i++) {
        int64_t n = -1;
        OK(store_count_rows(st, t[i].name, &n, &E));
        all += n;
    }
    return all;
}

static err_code count_cb(void *ud, const char *table, json_t *row, err_t *e)
{
    (void)table, (void)row, (void)e;
    ++*(int64_t *)ud;
    return ERR_OK;
}

/* A load records itself, is read back (by another store too), replaced by the next one,
 * removed; it is never a row of the logical tables, leaves the schema as it is, and
 * store_drop takes it away with everything else. */
static void test_load_record(void **state)
{
    tb_db *d = *state;
    store_t *st = d->st;
    store_load l;
    bool found = true;
    OK(store_load_get(st, &l, &found, &E));
    assert_false(found);
    assert_null(l.command);
    OK(store_load_unmark(st, &E)); /* none: nothing to do */
    FAILS(ERR_INVALID, store_load_mark(st, &(store_load){.source = C("x")}, &E));

    int64_t before = rows_everywhere(st);
    store_load in = {C("copy"),
                     C("sqlite:///tmp/gr\xc3\xbc\xc3\x9f"
                       "e.db"),
                     T("2024-05-06T07:08:09.123456Z")};
    OK(store_load_mark(st, &in, &E));
    OK(store_load_get(st, &l, &found, &E));
    assert_true(found);
    assert_string_equal(l.command, "copy");
    assert_string_equal(l.source, in.source);
    assert_true(l.started_at == in.started_at);
    store_load_clear(&l);
    assert_int_equal(rows_everywhere(st), before);
    int64_t iterated = 0;
    OK(store_iterate(st, count_cb, &iterated, &E));
    assert_int_equal(iterated, before);
    OK(store_schema_check(st, &E));
    if (reopenable()) {
        store_t *st2 = NULL;
        OK(store_open(d->url, NULL, &st2, &E));
        OK(store_load_get(st2, &l, &found, &E));
        assert_true(found);
        assert_string_equal(l.command, "copy");
        store_load_clear(&l);
        store_close(st2);
    }

    store_load again = {C("import"), C("dump.jsonl"), T("2024-05-07T00:00:00Z")};
    OK(store_load_mark(st, &again, &E));
    OK(store_load_get(st, &l, &found, &E));
    assert_true(found);
    assert_string_equal(l.command, "import");
    assert_string_equal(l.source, "dump.jsonl");
    store_load_clear(&l);

    OK(store_load_unmark(st, &E));
    OK(store_load_get(st, &l, &found, &E));
    assert_false(found);

    OK(store_load_mark(st, &again, &E));
    OK(store_drop(st, &E));
    OK(store_load_get(st, &l, &found, &E)); /* no schema at all: read all the same */
    assert_false(found);
    OK(store_migrate_up(st, NULL, &E));
    OK(store_load_get(st, &l, &found, &E));
    assert_false(found);
}

/* ---- health figures ------------------------------------------------------------------ */

/* The backend name store_get_stats must report for the URL under test. */
static const char *expected_backend(const char *url)
{
    static const struct {
        const char *prefix, *backend;
    } m[] = {{"sqlite", "sqlite"},
             {"postgres", "postgresql"},
             {"mysql", "mysql"},
             {"mariadb", "mysql"},
             {"mongodb", "mongodb"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strncmp(url, m[i].prefix, strlen(m[i].prefix)) == 0)
            return m[i].backend;
    return "?";
}

static void test_health(void **state)
{
    store_t *st = ST;
    int64_t rtt = -1;
    OK(store_ping(st, &rtt, &E));
    assert_true(rtt >= 0);
    char ver[128] = "";
    OK(store_server_version(st, ver, sizeof ver, &E));
    assert_true(strlen(ver) > 0);

    store_stats before, after;
    store_get_stats(st, &before);
    assert_string_equal(before.backend, expected_backend(g_url));
    assert_true(before.pool.size >= 1);
    assert_int_equal(before.pool.in_use, 0);

    store_session in = {.id = C("session_00000000000000e1"),
                        .purpose = C("health"),
                        .created_by = C("alice"),
                        .is_active = true};
    OK(store_session_create(st, &in, NULL, &E));
    store_message m = {.session_id = in.id, .sender = C("alice"), .content = C("hi")};
    OK(store_message_add(st, &m, NULL, &E));
    store_session s;
    OK(store_session_get(st, in.id, &s, &E));
    store_session_clear(&s);
    /* "not found" is an answer, not a database error */
    FAILS(ERR_NOTFOUND, store_session_get(st, "session_00000000000000e2", &s, &E));

    store_get_stats(st, &after);
    assert_true(after.queries.statements >= before.queries.statements + 3);
    assert_true(after.queries.total_us >= before.queries.total_us);
    assert_int_equal(after.queries.errors, before.queries.errors);
    assert_true(after.pool.acquired >= before.pool.acquired + 3);
    assert_true(after.pool.created >= 1);
    assert_int_equal(after.pool.in_use, 0);
    assert_true(after.pool.idle >= 1);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    log_set_level(LOG_WARN); /* no per-test "applied migration" lines */
    const struct CMUnitTest tests[] = {
#define T_(f) cmocka_unit_test_setup_teardown(f, tb_setup, tb_teardown)
        T_(test_session_roundtrip),
        T_(test_session_list),
        T_(test_session_list_visibility),
        T_(test_message_add),
        T_(test_visibility_matrix),
        T_(test_visibility_filter_refused),
        T_(test_any_sender_paging),
        T_(test_message_parent),
        T_(test_pages_and_cursor),
        T_(test_sender_and_time_range),
        T_(test_thread),
        T_(test_thread_pages),
        T_(test_memory_scopes),
        T_(test_memory_ttl),
        T_(test_memory_prefix),
        T_(test_memory_value_types),
        T_(test_unicode),
        T_(test_audit),
        T_(test_audit_same_transaction),
        T_(test_tokens),
        T_(test_tokens_digest_and_agent),
        T_(test_credentials),
        T_(test_restricted_sessions),
        T_(test_counts_brute_force),
        T_(test_iterate),
        T_(test_import_rows),
        T_(test_import_rows_checked_values),
        T_(test_load_record),
        T_(test_message_search),
        T_(test_search_equivalence),
        T_(test_health),
        T_(test_schema_current),
        T_(test_schema_down),
        cmocka_unit_test_setup_teardown(test_schema_empty, tb_setup_empty, tb_teardown),
#undef T_
    };
    printf("store contract on %s\n", g_url);
    return cmocka_run_group_tests_name("store_contract", tests, NULL, NULL);
}
