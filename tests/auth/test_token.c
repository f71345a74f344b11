/* tests/auth/test_token.c — protected tokens and the resolver on a real store
 * (argv[1] or sqlite:///:memory:): issue, resolve (sct_, raw JWT, Bearer), expiry,
 * refresh (fresh JWT, old token deleted, old jti revoked, one winner among
 * concurrent refreshes), revocation, purge, permission narrowing, the API key, the
 * context from configuration, that nothing secret reaches the log, and the
 * verified-token cache (revocation and refresh in this process refuse at once,
 * another process's revocation within AUTH_TOKCACHE_TTL_S, expiry honoured).
 * Must not: sleep (the clock is injected) or leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "auth/tokcache.h"
#include "backend_setup.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "test_support.h"

#define SECRET "unit-test-jwt-secret-0123456789abcdef0123456789"
#define S_ 1000000LL
#define R AUTH_PERM_READ
#define W AUTH_PERM_WRITE
#define A AUTH_PERM_ADMIN
#define D AUTH_PERM_DEBUG

static const char *g_url;
static tb_db g_db;
static auth_ctx *g_auth;
static utc_us g_now;

static utc_us fake_clock(void *ud)
{
    (void)ud;
    return g_now;
}

static auth_ctx *mk_ctx(auth_permmap *perms, const char *api_key)
{
    auth_opts o = {.jwt_secret = SECRET,
                   .api_key = api_key,
                   .perms = perms,
                   .store = g_db.st,
                   .clock = fake_clock};
    auth_ctx *a = NULL;
    err_t e;
    if (auth_ctx_new(&o, &a, &e) != ERR_OK)
        fail_msg("auth_ctx_new: %s", e.msg);
    return a;
}

static int setup(void **state)
{
    (void)state;
    err_t e;
    if (tb_fresh(g_url, &g_db, &e) != ERR_OK) {
        fprintf(stderr, "tb_fresh(%s): %s\n", g_url, e.msg);
        return -1;
    }
    g_now = utc_now() / S_ * S_;
    g_auth = mk_ctx(NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    auth_ctx_free(g_auth);
    g_auth = NULL;
    tb_drop(&g_db);
    return 0;
}

static auth_status resolve(const char *tok, auth_identity *id)
{
    err_t e;
    err_clear(&e);
    auth_status st = auth_resolve(g_auth, tok, id, &e);
    if (st == AUTH_STORE_ERROR)
        fail_msg("store error: %s", e.msg);
    return st;
}

static void test_issue_resolve(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-1", "claude", R | W | A | D, &t, &e), ERR_OK);
    assert_true(str_starts_with(t.token, "sct_"));
    assert_int_equal(auth_token_classify(t.token, strlen(t.token)), AUTH_FMT_PROTECTED);
    assert_string_equal(t.id.agent_id, "agent-1");
    assert_string_equal(t.id.agent_type, "claude");
    assert_int_equal(t.id.permissions, R | W); /* requested ∩ claude */
    assert_int_equal(t.id.issued_at, g_now);
    assert_int_equal(t.id.expires_at, g_now + 3600 * S_);
    assert_int_equal(t.id.token_format, AUTH_FMT_PROTECTED);
    assert_true(ids_is_uuid(t.id.jti));

    /* the store holds the identity under the token's digest (no JWT: issue 11, finding 7),
     * with the protected expiry */
    store_token row = {0};
    char digest[AUTH_DIGEST_HEX];
    auth_token_digest(g_auth, t.token, strlen(t.token), digest);
    assert_int_equal(store_token_get(g_db.st, digest, &row, &e), ERR_OK);
    assert_string_equal(row.agent_id, "agent-1");
    assert_string_equal(row.agent_type, "claude");
    assert_int_equal(row.expires_at, g_now + 3600 * S_);
    assert_string_equal(row.jti, t.id.jti);
    assert_string_equal(row.permissions, "read,write");
    store_token_clear(&row);
    assert_int_equal(store_token_get(g_db.st, t.token, &row, &e), ERR_NOTFOUND);

    auth_identity id;
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    assert_string_equal(id.agent_id, "agent-1");
    assert_int_equal(id.permissions, R | W);
    assert_string_equal(id.jti, t.id.jti);
    assert_int_equal(id.token_format, AUTH_FMT_PROTECTED);
    assert_int_equal(id.expires_at, t.id.expires_at);

    /* as an Authorization header value */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Bearer %s", t.token);
    assert_int_equal(resolve(hdr, &id), AUTH_OK);
    snprintf(hdr, sizeof hdr, "  bearer \t%s \r\n", t.token);
    assert_int_equal(resolve(hdr, &id), AUTH_OK);
    snprintf(hdr, sizeof hdr, "Basic %s", t.token);
    assert_int_equal(resolve(hdr, &id), AUTH_INVALID_TOKEN_FORMAT);

    /* an sct_ id that was never issued; shapes that are no token at all */
    assert_int_equal(resolve("sct_9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5f", &id),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
    static const char *const junk[] = {
        "",        "sct_",
        "sct_123", "sct_9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5fX",
        "Bearer",  "Bearer ",
        "hello",   "a.b",
        "a.b.c.d", "SCT_9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5f",
        "x y.z.w",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        if (resolve(junk[i], &id) != AUTH_INVALID_TOKEN_FORMAT)
            fail_msg("'%s' not INVALID_TOKEN_FORMAT", junk[i]);
    assert_int_equal(resolve(NULL, &id), AUTH_INVALID_TOKEN_FORMAT);
    assert_string_equal(id.agent_id, "");

    /* bad input to issue */
    assert_int_equal(auth_issue(g_auth, "", "claude", R, &t, &e), ERR_INVALID);
    assert_int_equal(auth_issue(g_auth, "a", "", R, &t, &e), ERR_INVALID);
    assert_int_equal(auth_issue(g_auth, "a\nb", "claude", R, &t, &e), ERR_INVALID);
    assert_int_equal(auth_issue(g_auth, "a", "\xff\xfe", R, &t, &e), ERR_INVALID);
    char big[120];
    memset(big, 'x', 101);
    big[101] = '\0';
    assert_int_equal(auth_issue(g_auth, big, "claude", R, &t, &e), ERR_INVALID);
    big[100] = '\0';
    assert_int_equal(auth_issue(g_auth, big, "claude", R, &t, &e), ERR_OK);
    /* unknown agent types get the default */
    assert_int_equal(auth_issue(g_auth, "x", "my-bot", R | W, &t, &e), ERR_OK);
    assert_int_equal(t.id.permissions, R);
    assert_int_equal(auth_issue(g_auth, "x", "admin", R | W | A | D, &t, &e), ERR_OK);
    assert_int_equal(t.id.permissions, R | W | A | D);
}

static void test_expiry(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-2", "gemini", R | W, &t, &e), ERR_OK);
    auth_identity id;
    g_now += 3599 * S_;
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    g_now += 1 * S_; /* expires_at == now: expired, answered as unknown (see
                        test_expired_answer_stable) */
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    auth_issued r;
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* a raw JWT lives JWT_TOKEN_EXPIRY (+ leeway) */
    char *jwt = auth_issue_jwt(g_auth, "agent-3", "test", R | D | A, &id, &e);
    assert_non_null(jwt);
    assert_int_equal(id.permissions, R | D);
    assert_int_equal(resolve(jwt, &id), AUTH_OK);
    assert_int_equal(id.token_format, AUTH_FMT_JWT);
    g_now += 86400 * S_ + AUTH_JWT_LEEWAY_S * S_ - S_;
    assert_int_equal(resolve(jwt, &id), AUTH_OK);
    g_now += S_;
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_EXPIRED);
    free(jwt);

    /* purge removes the expired protected token */
    int64_t removed = 0;
    assert_int_equal(auth_purge_expired(g_auth, &removed, &e), ERR_OK);
    assert_true(removed >= 1);
    store_token row = {0};
    assert_int_equal(store_token_get(g_db.st, t.token, &row, &e), ERR_NOTFOUND);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
}

static void test_refresh(void **state)
{
    (void)state;
    auth_issued t, r;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-4", "test", R | W | D, &t, &e), ERR_OK);
    utc_us issued = g_now;
    g_now += 1800 * S_;
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), AUTH_OK);
    assert_string_not_equal(r.token, t.token);
    assert_string_not_equal(r.id.jti, t.id.jti);
    assert_string_equal(r.id.agent_id, "agent-4");
    assert_string_equal(r.id.agent_type, "test");
    assert_int_equal(r.id.permissions, R | W | D);
    assert_int_equal(r.id.issued_at, g_now);              /* a fresh iat */
    assert_int_equal(r.id.expires_at, g_now + 3600 * S_); /* and expiry */
    assert_true(r.id.expires_at > t.id.expires_at);
    (void)issued;

    auth_identity id;
    assert_int_equal(resolve(r.token, &id), AUTH_OK);
    assert_string_equal(id.jti, r.id.jti);
    /* the old protected token is gone and its jti revoked */
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    bool revoked = false;
    assert_int_equal(store_jti_is_revoked(g_db.st, t.id.jti, &revoked, &e), ERR_OK);
    assert_true(revoked);
    /* refreshing the old one again fails: one refresh per token */
    auth_issued r2;
    assert_int_equal(auth_refresh(g_auth, t.token, &r2, &e), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* a refresh accepts the Bearer form and chains */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Bearer %s", r.token);
    assert_int_equal(auth_refresh(g_auth, hdr, &r2, &e), AUTH_OK);
    assert_int_equal(resolve(r.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(resolve(r2.token, &id), AUTH_OK);

    /* a raw JWT can be refreshed into a protected token; the JWT is then revoked */
    char *jwt = auth_issue_jwt(g_auth, "agent-5", "claude", R | W, &id, &e);
    assert_non_null(jwt);
    assert_int_equal(auth_refresh(g_auth, jwt, &r, &e), AUTH_OK);
    assert_true(str_starts_with(r.token, "sct_"));
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(resolve(r.token, &id), AUTH_OK);
    assert_string_equal(id.agent_id, "agent-5");
    free(jwt);
    /* garbage */
    assert_int_equal(auth_refresh(g_auth, "nope", &r, &e), AUTH_INVALID_TOKEN_FORMAT);
    assert_string_equal(r.token, "");
}

static void test_revoke(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    auth_identity id;
    /* logout */
    assert_int_equal(auth_issue(g_auth, "agent-6", "claude", R, &t, &e), ERR_OK);
    assert_int_equal(auth_revoke(g_auth, t.token, &e), AUTH_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(auth_revoke(g_auth, t.token, &e), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* by jti: the sct_ row still exists, but its JWT is refused */
    assert_int_equal(auth_issue(g_auth, "agent-6", "claude", R, &t, &e), ERR_OK);
    assert_int_equal(auth_revoke_jti(g_auth, t.id.jti, 0, &e), ERR_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(auth_revoke_jti(g_auth, t.id.jti, 0, &e), ERR_OK); /* idempotent */
    assert_int_equal(auth_revoke_jti(g_auth, "not-a-uuid", 0, &e), ERR_INVALID);
    /* a raw JWT by jti; the revocation outlives the JWT's leeway */
    char *jwt = auth_issue_jwt(g_auth, "agent-7", "claude", R, &id, &e);
    char jti[IDS_UUID_LEN];
    strcpy(jti, id.jti);
    utc_us exp = id.expires_at;
    assert_int_equal(auth_revoke_jti(g_auth, jti, exp, &e), ERR_OK);
    g_now = exp + (AUTH_JWT_LEEWAY_S - 1) * S_; /* still within the leeway */
    int64_t removed;
    assert_int_equal(auth_purge_expired(g_auth, &removed, &e), ERR_OK);
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    g_now = exp + AUTH_JWT_LEEWAY_S * S_;
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_EXPIRED);
    free(jwt);
}

/* Without a store, refresh and revocation are refused with a store error naming
 * the operation (a raw JWT still resolves). */
static void test_no_store(void **state)
{
    (void)state;
    auth_opts o = {.jwt_secret = SECRET, .clock = fake_clock};
    auth_ctx *a = NULL;
    err_t e;
    assert_int_equal(auth_ctx_new(&o, &a, &e), ERR_OK);
    auth_identity id;
    char *jwt = auth_issue_jwt(a, "agent-9", "claude", R, &id, &e);
    assert_non_null(jwt);
    assert_int_equal(auth_resolve(a, jwt, &id, &e), AUTH_OK);
    auth_issued t;
    assert_int_equal(auth_refresh(a, jwt, &t, &e), AUTH_STORE_ERROR);
    assert_string_equal(e.msg, "refresh needs a store");
    assert_string_equal(t.token, ""); /* nothing issued */
    assert_int_equal(auth_revoke(a, jwt, &e), AUTH_STORE_ERROR);
    assert_string_equal(e.msg, "revocation needs a store");
    assert_int_equal(auth_resolve(a, jwt, &id, &e), AUTH_OK); /* nothing was retired */
    free(jwt);
    auth_ctx_free(a);
}

static void test_permission_narrowing(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-8", "test", R | W | D, &t, &e), ERR_OK);
    /* the operator tightens the map: existing tokens lose the permission at once */
    auth_permmap *m = auth_permmap_default();
    auth_permmap_set(m, "test", R);
    auth_ctx *tight = mk_ctx(m, NULL);
    auth_identity id;
    assert_int_equal(auth_resolve(tight, t.token, &id, &e), AUTH_OK);
    assert_int_equal(id.permissions, R);
    auth_ctx_free(tight);
    /* a context with another key refuses the same token */
    auth_opts o = {.jwt_secret = "a-different-secret-0123456789abcdef012345",
                   .store = g_db.st,
                   .clock = fake_clock};
    auth_ctx *other = NULL;
    assert_int_equal(auth_ctx_new(&o, &other, &e), ERR_OK);
    assert_int_equal(auth_resolve(other, t.token, &id, &e), AUTH_TOKEN_AUTHENTICATION_FAILED);
    auth_ctx_free(other);
}

static void test_api_key(void **state)
{
    (void)state;
    assert_false(auth_api_key_configured(g_auth));
    assert_false(auth_check_api_key(g_auth, ""));
    assert_false(auth_check_api_key(g_auth, "anything"));
    auth_ctx *a = mk_ctx(NULL, "k-0123456789");
    assert_true(auth_api_key_configured(a));
    assert_true(auth_check_api_key(a, "k-0123456789"));
    assert_false(auth_check_api_key(a, "k-012345678"));
    assert_false(auth_check_api_key(a, "k-01234567890"));
    assert_false(auth_check_api_key(a, "K-0123456789"));
    assert_false(auth_check_api_key(a, ""));
    assert_false(auth_check_api_key(a, NULL));
    auth_ctx_free(a);
}

static void test_from_conf(void **state)
{
    (void)state;
    conf_t *c = conf_defaults();
    err_t e;
    auth_ctx *a = NULL;
    assert_int_equal(auth_ctx_from_conf(c, g_db.st, &a, &e), ERR_INVALID);
    assert_null(a);
    assert_non_null(strstr(e.msg, "JWT_SECRET_KEY"));
    assert_int_equal(conf_set(c, "JWT_SECRET_KEY", SECRET, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "PROTECTED_TOKEN_EXPIRY", "120", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "JWT_TOKEN_EXPIRY", "600", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "API_KEY", "the-api-key", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(auth_ctx_from_conf(c, g_db.st, &a, &e), ERR_OK);
    assert_int_equal(auth_ctx_protected_expiry(a), 120);
    assert_int_equal(auth_ctx_jwt_expiry(a), 600);
    assert_true(auth_check_api_key(a, "the-api-key"));
    auth_issued t;
    assert_int_equal(auth_issue(a, "agent-9", "claude", R, &t, &e), ERR_OK);
    assert_int_equal(t.id.expires_at - t.id.issued_at, 120 * S_);
    auth_ctx_free(a);
    /* a bad permissions file stops start-up with a message naming it */
    char *dir = ts_mkdtemp("auth-conf");
    char *p = ts_path(dir, "perm.json");
    FILE *f = fopen(p, "w");
    fputs("{\"default\": [\"read\", \"fly\"]}", f);
    fclose(f);
    assert_int_equal(conf_set(c, "PERMISSIONS_CONFIG_FILE", p, CONF_SRC_DOTENV, &e), ERR_OK);
    assert_int_equal(auth_ctx_from_conf(c, g_db.st, &a, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "PERMISSIONS_CONFIG_FILE"));
    assert_non_null(strstr(e.msg, "fly"));
    assert_null(strstr(e.msg, SECRET));
    assert_int_equal(conf_set(c, "JWT_TOKEN_EXPIRY", "abc", CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(auth_ctx_from_conf(c, g_db.st, &a, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "JWT_TOKEN_EXPIRY"));
    ts_rm_rf(dir);
    free(p);
    free(dir);
    conf_free(c);
}

#define RACERS 4
static const char *g_race_token;
static auth_status g_race[RACERS];

static void *racer(void *arg)
{
    int i = (int)(intptr_t)arg;
    auth_issued r;
    err_t e;
    g_race[i] = auth_refresh(g_auth, g_race_token, &r, &e);
    return NULL;
}

static void test_concurrent_refresh(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-10", "claude", R | W, &t, &e), ERR_OK);
    g_race_token = t.token;
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
    int ok = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        if (g_race[i] == AUTH_OK)
            ok++;
        else
            assert_int_equal(g_race[i], AUTH_TOKEN_AUTHENTICATION_FAILED);
    }
    assert_int_equal(ok, 1);
}

/* Runs the whole token life cycle at LOG_DEBUG with stderr captured: the log
 * names jti values but never a token, a JWT or the key. */
static void test_no_secrets_logged(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("auth-log");
    char *path = ts_path(dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    log_level old = log_get_level();
    log_set_level(LOG_DEBUG);

    auth_issued t, r;
    err_t e;
    auth_identity id;
    assert_int_equal(auth_issue(g_auth, "agent-log", "claude", R | W, &t, &e), ERR_OK);
    store_token row = {0};
    char digest[AUTH_DIGEST_HEX];
    auth_token_digest(g_auth, t.token, strlen(t.token), digest);
    assert_int_equal(store_token_get(g_db.st, digest, &row, &e), ERR_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), AUTH_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(auth_revoke(g_auth, r.token, &e), AUTH_OK);
    char *jwt = auth_issue_jwt(g_auth, "agent-log", "claude", R, &id, &e);

    fflush(stderr);
    log_set_level(old);
    dup2(saved, 2);
    close(saved);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    sbuf_t b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    fclose(f);
    const char *log = sbuf_cstr(&b);
    assert_non_null(strstr(log, t.id.jti)); /* ids are logged */
    assert_null(strstr(log, t.token));
    assert_null(strstr(log, r.token));
    assert_null(strstr(log, "sct_"));
    assert_null(strstr(log, row.token_hash));
    assert_null(strstr(log, jwt));
    assert_null(strstr(log, "eyJ")); /* no JWT segment at all */
    assert_null(strstr(log, SECRET));
    sbuf_free(&b);
    free(jwt);
    store_token_clear(&row);
    ts_rm_rf(dir);
    free(path);
    free(dir);
}

static void test_token_cache(void **state)
{
    (void)state;
    auth_issued t;
    err_t e;
    auth_identity id;
    /* a cached token revoked in this process is refused at once */
    assert_int_equal(auth_issue(g_auth, "agent-c1", "claude", R | W, &t, &e), ERR_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_OK); /* from the cache */
    assert_string_equal(id.agent_id, "agent-c1");
    assert_int_equal(id.token_format, AUTH_FMT_PROTECTED);
    assert_int_equal(auth_revoke_jti(g_auth, t.id.jti, 0, &e), ERR_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* logout of a cached token, raw JWT and Bearer form */
    char *jwt = auth_issue_jwt(g_auth, "agent-c2", "claude", R, &id, &e);
    assert_non_null(jwt);
    char hdr[1024];
    snprintf(hdr, sizeof hdr, "Bearer %s", jwt);
    assert_int_equal(resolve(hdr, &id), AUTH_OK);
    assert_int_equal(resolve(jwt, &id), AUTH_OK);
    assert_int_equal(auth_revoke(g_auth, jwt, &e), AUTH_OK);
    assert_int_equal(resolve(hdr, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    free(jwt);
    /* a refresh retires the cached old token at once */
    assert_int_equal(auth_issue(g_auth, "agent-c3", "claude", R, &t, &e), ERR_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    auth_issued r;
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), AUTH_OK);
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(resolve(r.token, &id), AUTH_OK);
    /* another process (another context on the same store) revokes it: this one
     * keeps accepting it until its entry's TTL ends, then refuses */
    auth_ctx *other = mk_ctx(NULL, NULL);
    assert_int_equal(auth_revoke(other, r.token, &e), AUTH_OK);
    auth_ctx_free(other);
    assert_int_equal(resolve(r.token, &id), AUTH_OK);
    g_now += (AUTH_TOKCACHE_TTL_S - 1) * S_;
    assert_int_equal(resolve(r.token, &id), AUTH_OK);
    g_now += S_;
    assert_int_equal(resolve(r.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* expiry: an entry never outlives the credential */
    assert_int_equal(auth_issue(g_auth, "agent-c4", "claude", R, &t, &e), ERR_OK);
    g_now += (3600 - 10) * S_;
    assert_int_equal(resolve(t.token, &id), AUTH_OK); /* cached 10 s */
    g_now += 9 * S_;
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    g_now += S_;
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    /* a refusal is never cached: a garbled token stays refused */
    assert_int_equal(resolve("sct_00000000-0000-4000-8000-000000000000", &id),
                     AUTH_TOKEN_AUTHENTICATION_FAILED);
}

/* A protected token answers the same before and after the maintenance deletes it once
 * expired, and the same as one never issued or revoked: an expired sct_ token cannot be
 * told from an unknown one (the answer never depends on what the database still holds).
 * A raw JWT carries its own signed expiry, so it answers TOKEN_EXPIRED for good. */
static void test_expired_answer_stable(void **state)
{
    (void)state;
    auth_issued t, r;
    err_t e;
    auth_identity id;
    assert_int_equal(auth_issue(g_auth, "agent-s", "claude", R | W, &t, &e), ERR_OK);
    char *jwt = auth_issue_jwt(g_auth, "agent-j", "claude", R, &id, &e);
    assert_non_null(jwt);
    g_now += 3600 * S_; /* the protected token's expiry */
    auth_status before = resolve(t.token, &id);
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), before);
    int64_t removed = 0;
    assert_int_equal(auth_purge_expired(g_auth, &removed, &e), ERR_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(resolve(t.token, &id), before);
    assert_int_equal(auth_refresh(g_auth, t.token, &r, &e), before);
    assert_int_equal(before, AUTH_TOKEN_AUTHENTICATION_FAILED);
    assert_int_equal(resolve("sct_9b2d4f5e-1c3a-4d7b-8e9f-0a1b2c3d4e5f", &id), before);
    /* the JWT past its expiry (and leeway), before and after a purge */
    g_now += 86400 * S_;
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_EXPIRED);
    assert_int_equal(auth_purge_expired(g_auth, &removed, &e), ERR_OK);
    assert_int_equal(resolve(jwt, &id), AUTH_TOKEN_EXPIRED);
    free(jwt);
}

/* What the store keeps of protected tokens is no credential: no row of secure_tokens (or
 * revoked_jtis) holds the sct_ token, and no value stored there is accepted as a token,
 * while the protected token lives nor after it expired (a JWT kept beside it used to be
 * accepted on its own for JWT_TOKEN_EXPIRY, long after the protected token was gone). */
typedef struct at_rest {
    json_t *strings; /* every string value of the token tables */
} at_rest;

static err_code collect_strings(void *ud, const char *table, json_t *row, err_t *e)
{
    (void)e;
    at_rest *r = ud;
    if (strcmp(table, "secure_tokens") != 0 && strcmp(table, "revoked_jtis") != 0)
        return ERR_OK;
    const char *k;
    json_t *v;
    json_object_foreach (row, k, v)
        if (json_is_string(v))
            json_array_append(r->strings, v);
    return ERR_OK;
}

static void test_nothing_usable_at_rest(void **state)
{
    (void)state;
    auth_issued t, r;
    err_t e;
    assert_int_equal(auth_issue(g_auth, "agent-rest", "claude", R | W, &t, &e), ERR_OK);
    assert_int_equal(auth_issue(g_auth, "agent-rest2", "claude", R | W, &r, &e), ERR_OK);
    auth_issued r2;
    assert_int_equal(auth_refresh(g_auth, r.token, &r2, &e), AUTH_OK);
    at_rest acc = {json_array()};
    assert_int_equal(store_iterate(g_db.st, collect_strings, &acc, &e), ERR_OK);
    assert_true(json_array_size(acc.strings) > 0);
    utc_us issued = g_now;
    const utc_us when[] = {issued, issued + 3599 * S_, issued + 3600 * S_ + S_, issued + 7200 * S_};
    size_t clear = 0, usable = 0;
    long long usable_late = -1; /* the latest moment (s after issue) one was accepted */
    for (size_t w = 0; w < sizeof when / sizeof when[0]; w++) {
        g_now = when[w];
        size_t i;
        json_t *v;
        json_array_foreach (acc.strings, i, v) {
            const char *s = json_string_value(v);
            if (w == 0 && (strstr(s, t.token) || strstr(s, r.token) || strstr(s, r2.token)))
                clear++;
            auth_identity id;
            if (resolve(s, &id) == AUTH_OK) {
                usable++;
                usable_late = (long long)((when[w] - issued) / S_);
            }
        }
    }
    if (clear || usable)
        fail_msg("the store holds %zu protected token(s) in clear and %zu value(s) accepted "
                 "as a token (the last %lld s after issue)",
                 clear, usable, usable_late);
    /* the tokens themselves: valid for their hour, then refused */
    auth_identity id;
    g_now = issued + 3599 * S_;
    assert_int_equal(resolve(t.token, &id), AUTH_OK);
    g_now = issued + 3600 * S_;
    assert_int_equal(resolve(t.token, &id), AUTH_TOKEN_AUTHENTICATION_FAILED);
    json_decref(acc.strings);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_answer_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permission_narrowing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_conf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secrets_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_usable_at_rest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
