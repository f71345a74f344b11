/* tests/store/mongo_real.c — the MongoDB store cases that need a real MongoDB
 * 6/7, which the CI emulator (CongoDB) cannot prove: unique indexes enforced
 * under races (N writers of one session id / token id / memory key / imported
 * row started on a barrier: exactly one wins, the others get ERR_UNIQUE /
 * ERR_EXISTS or are skipped, one row stored), and transaction rollback (a write
 * whose audit record the server rejects, or whose audit id cannot be taken,
 * leaves no trace). Usage: store_mongo_real URL|fixture:mongo:VAR[?options].
 * Exits 77 (skipped) unless the mongo fixture is a real server
 * (CTXD_TEST_MONGO_REAL=1, from CTXD_TEST_MONGODB_URL); CTXD_TEST_MONGO_FORCE=1
 * runs it on the emulator anyway (with transactions=on), where it must fail
 * (all but the import race, which the emulator cannot lose: it runs each upsert
 * atomically, so only a real server's index is tested there).
 * libmongoc is used directly only to install and remove the fault (a validator,
 * a broken counter). Must not: pass on a server that does not enforce these. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mongoc/mongoc.h>
#include "backend_setup.h"
#include "test_support.h"
#include "store/store.h"
#include "store/store_mongo.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/utc.h"
#include "db/url.h"

/* the store's collection names (store_mongo_int.h is private to the store) */
#define COLL_AUDIT "audit_log"
#define COLL_COUNTERS "counters"

#define RACERS 8  /* writers per round */
#define ROUNDS 12 /* rounds per race: a race the server loses shows up in one */

static const char *g_url;
static err_t E;

#define OK(x) TS_OK(E, x)

#define DB ((tb_db *)*state)
#define ST (DB->st)

static int64_t rows(store_t *st, const char *table)
{
    int64_t n = -1;
    OK(store_count_rows(st, table, &n, &E));
    return n;
}

static size_t audits(store_t *st, const char *event)
{
    store_audits l;
    store_audit_query q = {.event_type = event, .limit = 10000};
    OK(store_audit_list(st, &q, &l, &E));
    size_t n = l.n;
    store_audits_free(&l);
    return n;
}

/* ---- races ------------------------------------------------------------------------ */

typedef enum {
    RACE_SESSION,
    RACE_TOKEN,
    RACE_MEMORY,
    RACE_IMPORT
} race_kind;

typedef struct {
    store_t *st;
    race_kind kind;
    int round, idx;
    const char *session; /* RACE_MEMORY: scope (NULL = global) */
    pthread_barrier_t *bar;
    err_code rc;
    int64_t inserted; /* RACE_IMPORT */
    char msg[512];
} racer;

static void *race_thread(void *arg)
{
    racer *r = arg;
    err_t e;
    err_clear(&e);
    char id[80], value[32];
    snprintf(value, sizeof value, "%d", r->idx);
    store_audit_in audit = {0};
    pthread_barrier_wait(r->bar);
    switch (r->kind) {
    case RACE_SESSION: {
        snprintf(id, sizeof id, "session_%016x", 0xabc000 + r->round);
        store_session s = {.id = id, .purpose = "race", .created_by = value, .is_active = true};
        r->rc = store_session_create(r->st, &s, &audit, &e);
        break;
    }
    case RACE_TOKEN: {
        snprintf(id, sizeof id, "%064x", 0xace000 + r->round); /* a token digest */
        store_token t = {.token_hash = id,
                         .jti = value,
                         .agent_id = "racer",
                         .agent_type = "generic",
                         .permissions = "read",
                         .expires_at = utc_now() + 3600000000LL};
        r->rc = store_token_put(r->st, &t, &e);
        break;
    }
    case RACE_MEMORY: {
        snprintf(id, sizeof id, "key-%d", r->round);
        store_mem_set in = {.agent_id = "racer",
                            .session_id = r->session,
                            .key = id,
                            .value = value,
                            .overwrite = false};
        r->rc = store_memory_set(r->st, &in, &audit, NULL, &e);
        break;
    }
    case RACE_IMPORT: {
        snprintf(id, sizeof id, "session_%016x", 0xdef000 + r->round);
        json_t *row =
            json_pack("{s:s, s:s, s:s, s:n, s:b, s:s, s:s}", "id", id, "purpose", "imported",
                      "created_by", value, "metadata", "is_active", 1, "created_at",
                      "2025-01-02T03:04:05.000006Z", "updated_at", "2025-01-02T03:04:05.000006Z");
        r->rc = store_import_rows(r->st, "sessions", &row, 1, &r->inserted, &e);
        json_decref(row);
        break;
    }
    }
    snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    return NULL;
}

/* RACERS writers of the same identity, released together by a barrier. */
static void run_racers(store_t *st, race_kind kind, int round, const char *session, racer r[RACERS])
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, RACERS);
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){.st = st,
                       .kind = kind,
                       .round = round,
                       .idx = i,
                       .session = session,
                       .bar = &bar,
                       .rc = ERR_INTERNAL};
        if (pthread_create(&th[i], NULL, race_thread, &r[i]) != 0)
            fail_msg("pthread_create");
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
}

/* Exactly one writer succeeds, every other one gets loser_rc; *winner = its index. */
static void race(store_t *st, race_kind kind, int round, const char *session, err_code loser_rc,
                 int *winner)
{
    racer r[RACERS];
    run_racers(st, kind, round, session, r);
    int ok = 0;
    *winner = -1;
    for (int i = 0; i < RACERS; i++) {
        if (r[i].rc == ERR_OK) {
            ok++;
            *winner = i;
        } else if (r[i].rc != loser_rc) {
            fail_msg("round %d, writer %d: %s (%s), expected OK or %s", round, i,
                     err_code_name(r[i].rc), r[i].msg, err_code_name(loser_rc));
        }
    }
    if (ok != 1)
        fail_msg("round %d: %d of %d concurrent writers of one identity succeeded, expected "
                 "exactly 1 (the unique index did not refuse the others)",
                 round, ok, RACERS);
}

static void test_race_session_create(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        int w;
        race(ST, RACE_SESSION, round, NULL, ERR_UNIQUE, &w);
        assert_int_equal(rows(ST, "sessions"), round + 1);
        assert_int_equal(audits(ST, "session_created"), round + 1);
        char id[64], who[16];
        snprintf(id, sizeof id, "session_%016x", 0xabc000 + round);
        snprintf(who, sizeof who, "%d", w);
        store_session s;
        OK(store_session_get(ST, id, &s, &E));
        assert_string_equal(s.created_by, who); /* the winner's, not overwritten */
        store_session_clear(&s);
    }
}

static void test_race_token_put(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        int w;
        race(ST, RACE_TOKEN, round, NULL, ERR_UNIQUE, &w);
        assert_int_equal(rows(ST, "secure_tokens"), round + 1);
        char id[80], jwt[16];
        snprintf(id, sizeof id, "%064x", 0xace000 + round);
        snprintf(jwt, sizeof jwt, "%d", w);
        store_token t;
        OK(store_token_get(ST, id, &t, &E));
        assert_string_equal(t.jti, jwt);
        store_token_clear(&t);
    }
}

/* overwrite=false: one entry, the winner's value, one audit record; global and
 * session scope alternate. */
static void test_race_memory_set(void **state)
{
    const char *sid = "session_00000000000000aa";
    store_session s = {.id = (char *)sid, .purpose = "p", .created_by = "racer", .is_active = true};
    OK(store_session_create(ST, &s, NULL, &E));
    for (int round = 0; round < ROUNDS; round++) {
        const char *scope = round % 2 ? sid : NULL;
        int w;
        race(ST, RACE_MEMORY, round, scope, ERR_EXISTS, &w);
        assert_int_equal(rows(ST, "agent_memory"), round + 1);
        assert_int_equal(audits(ST, "memory_set"), round + 1);
        char key[32], value[16];
        snprintf(key, sizeof key, "key-%d", round);
        snprintf(value, sizeof value, "%d", w);
        store_memory m;
        OK(store_memory_get(ST, "racer", scope, key, 0, &m, &E));
        assert_string_equal(m.value, value); /* no loser overwrote it */
        store_memory_clear(&m);
    }
}

/* import_rows skips a row whose identity exists, also when the other importer
 * is running at the same moment: one row, inserted once. */
static void test_race_import_rows(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        racer r[RACERS];
        run_racers(ST, RACE_IMPORT, round, NULL, r);
        for (int i = 0; i < RACERS; i++)
            if (r[i].rc != ERR_OK)
                fail_msg("round %d, importer %d: %s (%s), expected OK (an existing row is "
                         "skipped)",
                         round, i, err_code_name(r[i].rc), r[i].msg);
        int64_t n = rows(ST, "sessions"), inserted = 0;
        if (n != round + 1)
            fail_msg("round %d: %lld session rows after %d concurrent imports of one row, "
                     "expected %d",
                     round, (long long)n, RACERS, round + 1);
        for (int i = 0; i < RACERS; i++)
            inserted += r[i].inserted;
        assert_int_equal(inserted, 1);
    }
}

/* ---- rollback ------------------------------------------------------------------------ */

/* A libmongoc client on the test database (ctxd's own URL options removed). */
static mongoc_client_t *admin_client(const char *url)
{
    char *u = xstrdup(url);
    char *p = strstr(u, "transactions=");
    if (p) {
        size_t len = strcspn(p, "&");
        if (p[len] == '&')
            len++;
        memmove(p, p + len, strlen(p + len) + 1);
        size_t n = strlen(u);
        if (n && (u[n - 1] == '?' || u[n - 1] == '&'))
            u[n - 1] = '\0';
    }
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(u, &be);
    free(u);
    if (!uri)
        fail_msg("admin client: %s", be.message);
    mongoc_client_t *c = mongoc_client_new_from_uri(uri);
    mongoc_uri_destroy(uri);
    mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
    return c;
}

static void run_command(const tb_db *d, const bson_t *cmd)
{
    mongoc_client_t *c = admin_client(d->url);
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_client_command_simple(c, d->server_db, cmd, NULL, &reply, &be);
    bson_destroy(&reply);
    mongoc_client_destroy(c);
    if (!ok)
        fail_msg("command on %s: %s", d->server_db, be.message);
}

/* audit_log refuses records with event_type "message_added" (or, with
 * on = false, accepts everything again). */
static void audit_validator(const tb_db *d, bool on)
{
    bson_t *cmd =
        on ? BCON_NEW("collMod", BCON_UTF8(COLL_AUDIT), "validator", "{", "$jsonSchema", "{",
                      "properties", "{", "event_type", "{", "not", "{", "enum", "[",
                      BCON_UTF8("message_added"), "]", "}", "}", "}", "}", "}", "validationLevel",
                      BCON_UTF8("strict"), "validationAction", BCON_UTF8("error"))
           : BCON_NEW("collMod", BCON_UTF8(COLL_AUDIT), "validator", "{", "}");
    run_command(d, cmd);
    bson_destroy(cmd);
}

/* Sets the audit id counter's seq to `seq` (a string breaks $inc). */
static void audit_counter(const tb_db *d, const bson_value_t *seq)
{
    mongoc_client_t *c = admin_client(d->url);
    mongoc_collection_t *col = mongoc_client_get_collection(c, d->server_db, COLL_COUNTERS);
    bson_t *q = BCON_NEW("name", BCON_UTF8(COLL_AUDIT));
    bson_t upd = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_VALUE(&set, "seq", seq);
    bson_append_document_end(&upd, &set);
    bson_t reply;
    bson_error_t be;
    bool ok = mongoc_collection_update_one(col, q, &upd, NULL, &reply, &be);
    int64_t matched = 0;
    bson_iter_t it;
    if (ok && bson_iter_init_find(&it, &reply, "matchedCount"))
        matched = bson_iter_as_int64(&it);
    bson_destroy(&reply);
    bson_destroy(&upd);
    bson_destroy(q);
    mongoc_collection_destroy(col);
    mongoc_client_destroy(c);
    if (!ok)
        fail_msg("counter update: %s", be.message);
    if (matched != 1)
        fail_msg("the store has no audit id counter named %s", COLL_AUDIT);
}

static int64_t audit_counter_seq(const tb_db *d)
{
    mongoc_client_t *c = admin_client(d->url);
    mongoc_collection_t *col = mongoc_client_get_collection(c, d->server_db, COLL_COUNTERS);
    bson_t *q = BCON_NEW("name", BCON_UTF8(COLL_AUDIT));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, q, NULL, NULL);
    const bson_t *doc;
    int64_t seq = -1;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "seq") &&
        BSON_ITER_HOLDS_NUMBER(&it))
        seq = bson_iter_as_int64(&it);
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    mongoc_collection_destroy(col);
    mongoc_client_destroy(c);
    if (seq < 0)
        fail_msg("the store has no audit id counter named %s", COLL_AUDIT);
    return seq;
}

static bool need_transactions(store_t *st)
{
    if (store_mongo_uses_transactions(st))
        return true;
    print_message("SKIP: this MongoDB is a standalone server: writes run without "
                  "transactions (ordered single-document writes), so there is no rollback "
                  "to test; use a replica set or mongos\n");
    return false;
}

static const char *RB_SID = "session_00000000000000bb";

/* A session with one message; *updated = the session's updated_at. */
static void rb_setup(store_t *st, utc_us *updated)
{
    store_session s = {
        .id = (char *)RB_SID, .purpose = "p", .created_by = "alice", .is_active = true};
    store_audit_in audit = {0};
    OK(store_session_create(st, &s, &audit, &E));
    store_message m = {.session_id = (char *)RB_SID, .sender = "alice", .content = "first"};
    OK(store_message_add(st, &m, &audit, &E));
    store_session g;
    OK(store_session_get(st, RB_SID, &g, &E));
    *updated = g.updated_at;
    store_session_clear(&g);
}

/* After a failed message_add: only "first" is stored, no audit record for the
 * failed one, the session's updated_at unchanged. */
static void rb_check_nothing_written(store_t *st, utc_us updated, size_t audits_before)
{
    store_messages l;
    store_msg_query q = {.session_id = RB_SID, .vis = {.any = STORE_VIS_EVERY}, .limit = 100};
    OK(store_message_list(st, &q, &l, NULL, &E));
    size_t n = l.n;
    bool only_first = n == 1 && strcmp(l.v[0].content, "first") == 0;
    store_messages_free(&l);
    if (!only_first)
        fail_msg("the failed message_add was not rolled back: the session lists %zu "
                 "messages, expected only the earlier one",
                 n);
    assert_int_equal(rows(st, "messages"), 1);
    assert_int_equal(audits(st, "message_added"), audits_before);
    store_session g;
    OK(store_session_get(st, RB_SID, &g, &E));
    utc_us now_updated = g.updated_at;
    store_session_clear(&g);
    if (now_updated != updated)
        fail_msg("the failed message_add was not rolled back: the session's updated_at moved");
}

static void rb_check_write_works(store_t *st, size_t audits_before)
{
    store_audit_in audit = {0};
    store_message m = {.session_id = (char *)RB_SID, .sender = "bob", .content = "after"};
    OK(store_message_add(st, &m, &audit, &E));
    assert_int_equal(rows(st, "messages"), 2);
    assert_int_equal(audits(st, "message_added"), audits_before + 1);
}

/* The server refuses the audit record (a collection validator): the message
 * and the session's new updated_at, written before it in the same
 * transaction, are rolled back. */
static void test_rollback_audit_rejected(void **state)
{
    if (!need_transactions(ST))
        skip();
    utc_us updated;
    rb_setup(ST, &updated);
    size_t before = audits(ST, "message_added");
    audit_validator(DB, true);
    store_audit_in audit = {0};
    store_message m = {.session_id = (char *)RB_SID, .sender = "bob", .content = "refused"};
    err_clear(&E);
    err_code rc = store_message_add(ST, &m, &audit, &E);
    if (rc == ERR_OK) {
        audit_validator(DB, false);
        fail_msg("message_add succeeded although the server must refuse its audit record "
                 "(collMod validator on %s ignored)",
                 COLL_AUDIT);
    }
    print_message("message_add with its audit record refused: %s: %s\n", err_code_name(rc), E.msg);
    rb_check_nothing_written(ST, updated, before);
    audit_validator(DB, false);
    rb_check_write_works(ST, before);
}

/* The audit id cannot be taken (its counter holds a string, so $inc fails)
 * after the message was inserted: the transaction is aborted. */
static void test_rollback_counter_broken(void **state)
{
    if (!need_transactions(ST))
        skip();
    utc_us updated;
    rb_setup(ST, &updated);
    size_t before = audits(ST, "message_added");
    int64_t seq = audit_counter_seq(DB);
    bson_value_t broken = {.value_type = BSON_TYPE_UTF8};
    broken.value.v_utf8.str = "not a number";
    broken.value.v_utf8.len = (uint32_t)strlen(broken.value.v_utf8.str);
    audit_counter(DB, &broken);
    store_audit_in audit = {0};
    store_message m = {.session_id = (char *)RB_SID, .sender = "bob", .content = "refused"};
    err_clear(&E);
    err_code rc = store_message_add(ST, &m, &audit, &E);
    bson_value_t ok = {.value_type = BSON_TYPE_INT64};
    ok.value.v_int64 = seq;
    if (rc == ERR_OK) {
        audit_counter(DB, &ok);
        fail_msg("message_add succeeded although its audit id counter was broken");
    }
    print_message("message_add with a broken audit counter: %s: %s\n", err_code_name(rc), E.msg);
    rb_check_nothing_written(ST, updated, before);
    audit_counter(DB, &ok);
    rb_check_write_works(ST, before);
}

int main(int argc, char **argv)
{
    char *real = ts_server_var("mongo", "CTXD_TEST_MONGO_REAL");
    const char *force = getenv("CTXD_TEST_MONGO_FORCE");
    bool is_real = real && strcmp(real, "1") == 0;
    bool forced = force && strcmp(force, "1") == 0;
    free(real);
    if (!is_real && !forced) {
        printf("SKIP: needs a real MongoDB (set CTXD_TEST_MONGODB_URL); the emulator does not "
               "enforce unique indexes and does not roll back transactions\n");
        return 77;
    }
    g_url = tb_url(argc, argv);
    char *url = NULL;
    if (!is_real) {
        /* the emulator says standalone: force the transaction path so the
         * rollback cases run (and fail) there too */
        if (!strstr(g_url, "transactions="))
            g_url = url = ts_strf("%s%stransactions=on", g_url, strchr(g_url, '?') ? "&" : "?");
        printf("CTXD_TEST_MONGO_FORCE=1: running on a server that is not a real MongoDB; "
               "these cases are expected to FAIL there (all but the import race)\n");
    }
    log_set_level(LOG_WARN);
    mongoc_init();
    const struct CMUnitTest tests[] = {
#define T_(f) cmocka_unit_test_setup_teardown(f, tb_setup, tb_teardown)
        T_(test_race_session_create),     T_(test_race_token_put),
        T_(test_race_memory_set),         T_(test_race_import_rows),
        T_(test_rollback_audit_rejected), T_(test_rollback_counter_broken),
#undef T_
    };
    char *masked = db_url_masked(g_url);
    printf("store cases needing a real MongoDB on %s\n", masked);
    free(masked);
    int failed = cmocka_run_group_tests_name("store_mongo_real", tests, NULL, NULL);
    mongoc_cleanup();
    free(url);
    return failed;
}
