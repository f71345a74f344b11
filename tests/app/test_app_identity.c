/* tests/app/test_app_identity.c — who may claim which identity with which credential
 * (issue 11, finding 8), through the real app/ on a real store: every way to claim
 * another identity or more rights with each kind of credential — the shared API key
 * (under the default and an operator's policy), an agent's own key, a revoked or rotated
 * key, a raw JWT (forged, tampered, valid), a protected sct_ token (guessed, expired,
 * refreshed), none — is refused and audited; the shared key alone becomes neither an
 * admin nor an agent that has its own key, and reads no one else's private messages or
 * memory; restricted sessions (create_session allowed_agents / allowed_types) are
 * invisible to everyone they do not admit on every path: tools, search, resources,
 * subscriptions, notifications, prompts and completions.
 * Usage: test_app_identity <store url or fixture:...>.
 * Must not: sleep (the clock is injected) or leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"
#include "auth/codec.h"

#define S_ 1000000LL

static int setup_default(void **state)
{
    return fx_setup_policy(state, NULL, NULL);
}

/* ---- credentials and calls ---- */

/* The credential client cl presents from now on. */
static void use_shared(client *cl)
{
    cl->req.api_key_ok = true;
    cl->req.agent_key = NULL;
}
static void use_key(client *cl, const char *key)
{
    cl->req.api_key_ok = false;
    cl->req.agent_key = key;
}
static void use_none(client *cl)
{
    cl->req.api_key_ok = false;
    cl->req.agent_key = NULL;
}

/* Agent id's own key, issued as `ctxd agent add` does (the key into key). */
static void add_key(fx *f, const char *id, const char *type, const char *perms,
                    char key[AUTH_AGENT_KEY_LEN])
{
    char d[AUTH_DIGEST_HEX];
    auth_agent_key_new(key, d);
    store_cred c = {.agent_id = (char *)id,
                    .agent_type = (char *)type,
                    .permissions = (char *)perms,
                    .key_hash = d};
    err_t e;
    assert_int_equal(store_cred_add(f->db.st, &c, NULL, &e), ERR_OK);
}

/* alice (claude; read, write) gets her key (into key); client 1 presents it. */
static client *alice_with_key(fx *f, char key[AUTH_AGENT_KEY_LEN])
{
    add_key(f, "alice", "claude", "read,write", key);
    use_key(&f->c[1], key);
    return &f->c[1];
}

/* authenticate_agent on cl (perms: a JSON array or NULL); the result (new ref). */
static json_t *login(client *cl, const char *id, const char *type, const char *perms)
{
    json_t *a = json_pack("{s:s s:s}", "agent_id", id, "agent_type", type);
    if (perms) {
        json_error_t je;
        json_object_set_new(a, "requested_permissions", json_loads(perms, 0, &je));
    }
    return toolc(cl, "authenticate_agent", a);
}

/* A login that must succeed: its token (malloc'd); *perms_out = its permissions as JSON. */
static char *login_ok(client *cl, const char *id, const char *type, const char *perms,
                      char **perms_out)
{
    json_t *sc = login(cl, id, type, perms);
    expect_ok(sc);
    assert_string_equal(json_string_value(json_object_get(sc, "agent_id")), id);
    if (perms_out)
        *perms_out = json_dumps(json_object_get(sc, "permissions"), JSON_COMPACT);
    char *t = strdup(json_string_value(json_object_get(sc, "token")));
    json_decref(sc);
    return t;
}

/* The audit records of an event: how many, and (when must_not is set) none of them holds
 * that text. */
static size_t audits(fx *f, const char *event, const char *must_not)
{
    store_audits l;
    store_audit_query q = {.event_type = event, .limit = 1000};
    err_t e;
    assert_int_equal(store_audit_list(f->db.st, &q, &l, &e), ERR_OK);
    for (size_t i = 0; must_not && i < l.n; i++)
        if (l.v[i].metadata && strstr(l.v[i].metadata, must_not))
            fail_msg("audit record %s holds what it must not: %s", event, l.v[i].metadata);
    size_t n = l.n;
    store_audits_free(&l);
    return n;
}

/* The newest audit record of an event names agent, and its metadata (a JSON object: the
 * backends space it differently) has `key`, equal to `value` when that is given. */
static void last_audit(fx *f, const char *event, const char *agent, const char *key,
                       const char *value)
{
    store_audits l;
    store_audit_query q = {.event_type = event, .limit = 1};
    err_t e;
    assert_int_equal(store_audit_list(f->db.st, &q, &l, &e), ERR_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].agent_id, agent);
    json_error_t je;
    json_t *m = l.v[0].metadata ? json_loads(l.v[0].metadata, 0, &je) : NULL;
    json_t *v = json_object_get(m, key);
    if (!v || (value && (!json_is_string(v) || strcmp(json_string_value(v), value) != 0)))
        fail_msg("%s: expected %s = %s in %s", event, key, value ? value : "(any)",
                 l.v[0].metadata);
    json_decref(m);
    store_audits_free(&l);
}

/* sc is an error with code `want`, and one more `event` audit record was written. */
static void refused(fx *f, json_t *sc, const char *want, const char *event, size_t *count)
{
    expect_code(sc, want);
    size_t n = audits(f, event, NULL);
    if (n != *count + 1)
        fail_msg("%s: %zu audit record(s) of %s, expected %zu", want, n, event, *count + 1);
    *count = n;
}

/* ---- the shared key ---- */

/* Under the default policy the shared key claims any type that cannot hold admin and at
 * most read, write, debug; never admin, never an admin-capable type. */
static void test_shared_key_default_policy(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    use_shared(s);
    size_t ref = 0;
    refused(f, login(s, "root", "admin", "[\"read\",\"write\",\"admin\"]"), "PERMISSION_DENIED",
            "auth_refused", &ref);
    last_audit(f, "auth_refused", "root", "credential", "shared_key");
    refused(f, login(s, "root", "admin", "[\"read\"]"), "PERMISSION_DENIED", "auth_refused",
            &ref); /* the type itself */
    refused(f, login(s, "sys", "system", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "sys", "SYSTEM", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "carol", "claude", "[\"read\",\"admin\"]"), "PERMISSION_DENIED",
            "auth_refused", &ref);
    last_audit(f, "auth_refused", "carol", "requested_permissions", NULL);
    /* what it may: as before, limited by the type */
    char *p = NULL;
    char *t = login_ok(s, "carol", "claude", NULL, &p);
    assert_string_equal(p, "[\"read\",\"write\"]");
    free(p);
    free(t);
    t = login_ok(s, "tess", "test", "[\"read\",\"write\",\"debug\"]", &p);
    assert_string_equal(p, "[\"read\",\"write\",\"debug\"]");
    free(p);
    free(t);
    t = login_ok(s, "rob", "robot", NULL, &p); /* an unknown type: read (the map's default) */
    assert_string_equal(p, "[\"read\"]");
    free(p);
    free(t);
    assert_int_equal(audits(f, "auth_refused", API_KEY), 5); /* never the key */
}

/* Over stdio the client is the local user who started the server (it holds API_KEY and
 * JWT_SECRET_KEY): under the default policy it may still claim any identity, an admin
 * included; without API_KEY configured, nothing. */
static void test_stdio_local_user(void **state)
{
    fx *f = *state;
    client *l = &f->c[2];
    l->req.local = true;
    use_shared(l); /* stdio: API_KEY is set in the server's environment */
    char *p = NULL;
    char *t = login_ok(l, "root", "admin", "[\"read\",\"write\",\"admin\"]", &p);
    assert_string_equal(p, "[\"read\",\"write\",\"admin\"]");
    free(p);
    free(t);
    last_audit(f, "agent_authenticated", "root", "credential", "local");
    use_none(l);
    size_t failed = 0;
    refused(f, login(l, "root", "admin", NULL), "AUTH_FAILED", "auth_failed", &failed);
}

/* The operator's policy, from the configuration as `ctxd serve` reads it. */
static int setup_policy_conf(void **state)
{
    conf_t *c = conf_defaults();
    err_t e;
    assert_int_equal(conf_set(c, "JWT_SECRET_KEY", SECRET, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "API_KEY", API_KEY, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "SHARED_KEY_AGENT_TYPES", " claude, Gemini ", CONF_SRC_ENV, &e),
                     ERR_OK);
    assert_int_equal(conf_set(c, "SHARED_KEY_PERMISSIONS", "read", CONF_SRC_ENV, &e), ERR_OK);
    int rc = fx_setup_conf(state, c);
    conf_free(c);
    return rc;
}

static void test_shared_key_policy_from_conf(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    use_shared(s);
    size_t ref = 0;
    char *p = NULL;
    char *t = login_ok(s, "carol", "claude", NULL, &p); /* no request: what the policy allows */
    assert_string_equal(p, "[\"read\"]");
    free(p);
    free(t);
    t = login_ok(s, "gina", "gemini", "[\"read\"]", NULL); /* types match case-insensitively */
    free(t);
    refused(f, login(s, "carol", "claude", "[\"read\",\"write\"]"), "PERMISSION_DENIED",
            "auth_refused", &ref);
    refused(f, login(s, "gus", "generic", "[\"read\"]"), "PERMISSION_DENIED", "auth_refused", &ref);
}

/* The configuration is checked: a bad policy names its variable. */
static void test_shared_key_policy_errors(void **state)
{
    (void)state;
    err_t e;
    conf_t *c = conf_defaults();
    assert_int_equal(conf_set(c, "JWT_SECRET_KEY", SECRET, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "SHARED_KEY_PERMISSIONS", "read,owner", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_validate(c, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "SHARED_KEY_PERMISSIONS"));
    assert_non_null(strstr(e.msg, "owner"));
    assert_int_equal(conf_set(c, "SHARED_KEY_PERMISSIONS", "read", CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "SHARED_KEY_AGENT_TYPES", "*,claude", CONF_SRC_ENV, &e), ERR_OK);
    auth_ctx *a = NULL;
    assert_int_equal(auth_ctx_from_conf(c, NULL, &a, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "SHARED_KEY_AGENT_TYPES"));
    conf_free(c);
}

/* ---- what a login was not granted, and why ---- */

/* sc (a login's result) granted `perms` and denied `denied` (JSON arrays, compact); when
 * something was denied, its note names each of `why` (NULL-terminated). */
static void expect_grant(json_t *sc, const char *perms, const char *denied, const char *const *why)
{
    expect_ok(sc);
    char *p = json_dumps(json_object_get(sc, "permissions"), JSON_COMPACT);
    char *d = json_dumps(json_object_get(sc, "permissions_denied"), JSON_COMPACT);
    const char *note = json_string_value(json_object_get(sc, "note"));
    if (!p || !d || strcmp(p, perms) != 0 || strcmp(d, denied) != 0)
        fail_msg("granted %s, denied %s; expected %s, %s", p ? p : "(none)", d ? d : "(none)",
                 perms, denied);
    if (strcmp(denied, "[]") == 0 && note)
        fail_msg("nothing was denied, yet a note: %s", note);
    for (size_t i = 0; why && why[i]; i++)
        if (!note || !strstr(note, why[i]))
            fail_msg("the note does not name \"%s\": %s", why[i], note ? note : "(none)");
    free(p);
    free(d);
    json_decref(sc);
}

/* The coding agents' types read and write, with any credential, like claude; asking for
 * more gets what the type allows and says what was left out and why. */
static void test_coding_agent_types(void **state)
{
    fx *f = *state;
    static const char *const types[] = {"codex", "cursor",   "copilot", "qwen",  "windsurf",
                                        "kiro",  "opencode", "zed",     "cline", "Cursor"};
    client *s = &f->c[0], *l = &f->c[2];
    use_shared(s);
    l->req.local = true;
    use_shared(l);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "agent-%zu", i);
        /* the shared key, no request: read, write; nothing denied */
        expect_grant(login(s, id, types[i], NULL), "[\"read\",\"write\"]", "[]", NULL);
        /* debug, which the shared key may claim, is beyond the type */
        const char *const ceiling[] = {"debug", types[i], "permission map", NULL};
        expect_grant(login(s, id, types[i], "[\"read\",\"write\",\"debug\"]"),
                     "[\"read\",\"write\"]", "[\"debug\"]", ceiling);
        /* the local user may claim any identity, but the type still caps it */
        const char *const admin[] = {"admin", types[i], "read,write", NULL};
        expect_grant(login(l, id, types[i], "[\"read\",\"write\",\"admin\"]"),
                     "[\"read\",\"write\"]", "[\"admin\"]", admin);
    }
    last_audit(f, "agent_authenticated", "agent-9", "permissions_denied", NULL);
    /* a type not in the map: read (the default), write denied */
    const char *const unknown[] = {"write", "robot", NULL};
    expect_grant(login(s, "rob", "robot", NULL), "[\"read\"]", "[\"write\"]", unknown);
    /* an agent key holding more than its type allows: the type's share, and why */
    char key[AUTH_AGENT_KEY_LEN];
    add_key(f, "zed-1", "zed", "read,write,admin", key);
    client *k = &f->c[1];
    use_key(k, key);
    const char *const zed_admin[] = {"admin", "zed", NULL};
    expect_grant(login(k, "zed-1", "zed", NULL), "[\"read\",\"write\"]", "[\"admin\"]", zed_admin);
    expect_grant(login(k, "zed-1", "zed", "[\"read\"]"), "[\"read\"]", "[]", NULL);
}

/* Under SHARED_KEY_PERMISSIONS=read (types claude, gemini), a login asking nothing gets
 * read: write is reported as denied by the shared key's policy. */
static void test_shared_key_policy_denial_reported(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    use_shared(s);
    const char *const why[] = {"write", "SHARED_KEY_PERMISSIONS", NULL};
    expect_grant(login(s, "carol", "claude", NULL), "[\"read\"]", "[\"write\"]", why);
    expect_grant(login(s, "gina", "gemini", NULL), "[\"read\"]", "[\"write\"]", why);
    expect_grant(login(s, "gina", "gemini", "[\"read\"]"), "[\"read\"]", "[]", NULL);
}

/* ---- agent keys ---- */

/* An agent key is exactly its agent: its id, its type, at most its permissions; an agent
 * with a key cannot be claimed with the shared key; an unknown or malformed key is no
 * credential. */
static void test_agent_key_exact_identity(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    char alice[AUTH_AGENT_KEY_LEN], root[AUTH_AGENT_KEY_LEN];
    client *k = alice_with_key(f, alice);
    add_key(f, "root", "admin", "read,write,admin,debug", root);
    char *p = NULL;
    char *t = login_ok(k, "alice", "claude", NULL, &p); /* no request: the key's */
    assert_string_equal(p, "[\"read\",\"write\"]");
    free(p);
    free(t);
    t = login_ok(k, "alice", "claude", "[\"read\"]", &p); /* less is fine */
    assert_string_equal(p, "[\"read\"]");
    free(p);
    free(t);
    last_audit(f, "agent_authenticated", "alice", "credential", "agent_key");
    size_t ref = 0, failed = 0;
    refused(f, login(k, "bob", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    last_audit(f, "auth_refused", "bob", "credential", "agent_key");
    refused(f, login(k, "root", "admin", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(k, "alice", "admin", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(k, "alice", "claude", "[\"read\",\"write\",\"admin\"]"), "PERMISSION_DENIED",
            "auth_refused", &ref);
    refused(f, login(k, "alice", "claude", "[\"debug\"]"), "PERMISSION_DENIED", "auth_refused",
            &ref);
    /* the admin's key is the admin */
    use_key(k, root);
    t = login_ok(k, "root", "admin", NULL, &p);
    assert_string_equal(p, "[\"read\",\"write\",\"admin\",\"debug\"]");
    free(p);
    free(t);
    refused(f, login(k, "alice", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    /* the shared key cannot be an agent that has a key, even under a policy allowing all */
    use_shared(s);
    refused(f, login(s, "alice", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "root", "claude", "[\"read\"]"), "PERMISSION_DENIED", "auth_refused", &ref);
    /* unknown, malformed, or no key at all: no credential */
    char other[AUTH_AGENT_KEY_LEN], d[AUTH_DIGEST_HEX];
    auth_agent_key_new(other, d);
    use_key(k, other);
    refused(f, login(k, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    use_key(k, "ctxd_ak_short");
    refused(f, login(k, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    use_none(k);
    refused(f, login(k, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    /* no key reaches an audit record */
    assert_int_equal(audits(f, "auth_refused", alice), ref);
    assert_int_equal(audits(f, "auth_refused", root), ref);
    assert_int_equal(audits(f, "auth_failed", other), failed);
    assert_int_equal(audits(f, "auth_refused", "ctxd_ak_"), ref);
}

static void test_agent_key_policy_allows_all(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    char alice[AUTH_AGENT_KEY_LEN];
    add_key(f, "alice", "claude", "read,write", alice);
    use_shared(s);
    /* the operator let the shared key be an admin: it is, but still not alice */
    char *t = login_ok(s, "root", "admin", "[\"read\",\"admin\"]", NULL);
    free(t);
    size_t ref = 0;
    refused(f, login(s, "alice", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
}

static int setup_permissive(void **state)
{
    return fx_setup_policy(state, "*", "read,write,admin,debug");
}

/* A revoked key and a rotated-away key are no credential (looked up at every login); the
 * new key works; a revoked agent stays out of the shared key's reach. */
static void test_revoked_and_rotated_keys(void **state)
{
    fx *f = *state;
    client *s = &f->c[0];
    char alice[AUTH_AGENT_KEY_LEN];
    client *k = alice_with_key(f, alice);
    free(login_ok(k, "alice", "claude", NULL, NULL));
    err_t e;
    bool changed = false;
    assert_int_equal(store_cred_revoke(f->db.st, "alice", 0, NULL, &changed, &e), ERR_OK);
    assert_true(changed);
    size_t ref = 0, failed = 0;
    refused(f, login(k, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    use_shared(s);
    refused(f, login(s, "alice", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    /* rotate: the old key stays refused, the new one is alice again */
    char fresh[AUTH_AGENT_KEY_LEN], d[AUTH_DIGEST_HEX];
    auth_agent_key_new(fresh, d);
    assert_int_equal(store_cred_rekey(f->db.st, "alice", d, 0, NULL, &e), ERR_OK);
    refused(f, login(k, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    use_key(k, fresh);
    free(login_ok(k, "alice", "claude", NULL, NULL));
    refused(f, login(k, "mallory", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
}

/* ---- tokens ---- */

/* A JWT payload of claims (base64url of the JSON). */
static char *b64_json(const char *json)
{
    return auth_b64url_encode(json, strlen(json));
}

/* Tokens carry exactly the identity they were issued for: forged, tampered, guessed or
 * expired ones are refused and audited (token_refused); a valid one asking for more than
 * it holds is refused and audited (permission_denied); a token is no login credential;
 * refresh keeps the identity. */
static void test_tokens_claim_nothing_more(void **state)
{
    fx *f = *state;
    client *x = &f->c[2];
    char alice[AUTH_AGENT_KEY_LEN];
    client *k = alice_with_key(f, alice);
    char *ta = login_ok(k, "alice", "claude", NULL, NULL);
    use_none(x);
    size_t tok = 0, den = 0, failed = 0;
    /* more rights than it holds */
    refused(f, toolc(x, "get_performance_metrics", json_pack("{s:s}", "auth_token", ta)),
            "PERMISSION_DENIED", "permission_denied", &den);
    last_audit(f, "permission_denied", "alice", "request", "get_performance_metrics");
    char *sid = new_session(f, ta);
    refused(f,
            toolc(x, "get_messages",
                  json_pack("{s:s s:s s:s}", "session_id", sid, "visibility_filter", "admin_only",
                            "auth_token", ta)),
            "PERMISSION_DENIED", "permission_denied", &den);
    /* refresh: the same agent, the same rights */
    json_t *sc = toolc(x, "refresh_token", json_pack("{s:s}", "current_token", ta));
    expect_ok(sc);
    char *tr = strdup(json_string_value(json_object_get(sc, "token")));
    json_decref(sc);
    refused(f, toolc(x, "get_performance_metrics", json_pack("{s:s}", "auth_token", tr)),
            "PERMISSION_DENIED", "permission_denied", &den);
    refused(f, toolc(x, "list_sessions", json_pack("{s:s}", "auth_token", ta)),
            "TOKEN_AUTHENTICATION_FAILED", "token_refused", &tok); /* refreshed away */
    /* a token is no credential for authenticate_agent */
    x->req.bearer = tr;
    refused(f, login(x, "alice", "claude", NULL), "AUTH_FAILED", "auth_failed", &failed);
    refused(f, login(x, "root", "admin", NULL), "AUTH_FAILED", "auth_failed", &failed);
    x->req.bearer = NULL;
    /* a JWT signed with another key, claiming an admin */
    auth_opts o = {.jwt_secret = "another-secret-0123456789abcdef-0123456789"};
    auth_ctx *other = NULL;
    err_t e;
    assert_int_equal(auth_ctx_new(&o, &other, &e), ERR_OK);
    auth_identity id;
    char *forged = auth_issue_jwt(other, "root", "admin", AUTH_PERM_ALL, &id, &e);
    assert_non_null(forged);
    auth_ctx_free(other);
    refused(f, toolc(x, "get_performance_metrics", json_pack("{s:s}", "auth_token", forged)),
            "TOKEN_AUTHENTICATION_FAILED", "token_refused", &tok);
    last_audit(f, "token_refused", "unknown", "reason", "TOKEN_AUTHENTICATION_FAILED");
    /* a genuine JWT with its claims rewritten to admin (the signature no longer fits) */
    char *jwt = auth_issue_jwt(f->auth, "carol", "claude", AUTH_PERM_READ, &id, &e);
    assert_non_null(jwt);
    char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
    char claims[512];
    snprintf(claims, sizeof claims,
             "{\"agent_id\":\"root\",\"agent_type\":\"admin\",\"permissions\":[\"read\",\"write\","
             "\"admin\",\"debug\"],\"jti\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
             id.jti, (long long)(id.issued_at / S_), (long long)(id.expires_at / S_));
    char *pl = b64_json(claims);
    char *tampered = NULL;
    size_t hl = (size_t)(dot1 - jwt);
    tampered = malloc(hl + strlen(pl) + strlen(dot2) + 2);
    sprintf(tampered, "%.*s.%s%s", (int)hl, jwt, pl, dot2);
    refused(f, toolc(x, "get_performance_metrics", json_pack("{s:s}", "auth_token", tampered)),
            "TOKEN_AUTHENTICATION_FAILED", "token_refused", &tok);
    /* the genuine one is carol, reading: no more */
    refused(f, toolc(x, "get_performance_metrics", json_pack("{s:s}", "auth_token", jwt)),
            "PERMISSION_DENIED", "permission_denied", &den);
    refused(f,
            toolc(x, "create_session", json_pack("{s:s s:s}", "purpose", "p", "auth_token", jwt)),
            "PERMISSION_DENIED", "permission_denied", &den);
    last_audit(f, "permission_denied", "carol", "reason", "permission 'write' required");
    /* a guessed protected token; one past its life */
    refused(f,
            toolc(x, "list_sessions",
                  json_pack("{s:s}", "auth_token", "sct_00000000-0000-4000-8000-000000000000")),
            "TOKEN_AUTHENTICATION_FAILED", "token_refused", &tok);
    f->now += 3600 * S_ + S_;
    refused(f, toolc(x, "list_sessions", json_pack("{s:s}", "auth_token", tr)),
            "TOKEN_AUTHENTICATION_FAILED", "token_refused", &tok);
    /* no token reaches an audit record */
    assert_int_equal(audits(f, "token_refused", "sct_"), tok);
    assert_int_equal(audits(f, "token_refused", "eyJ"), tok);
    free(pl);
    free(tampered);
    free(jwt);
    free(forged);
    free(sid);
    free(tr);
    free(ta);
}

/* ---- issue 11, finding 8: what the shared key alone can do ---- */

static size_t count_text(json_t *sc, const char *text)
{
    char *t = json_dumps(sc, JSON_COMPACT);
    size_t n = 0;
    for (const char *p = t; (p = strstr(p, text)) != NULL; p++)
        n++;
    free(t);
    return n;
}

/* alice and root have their own keys; alice writes a private message and memory, root an
 * admin_only message. The shared key can become neither; as anyone else it reads none of
 * it — by tools, search, resources or prompts. */
static void test_shared_key_reads_no_one_elses(void **state)
{
    fx *f = *state;
    client *s = &f->c[0], *r = &f->c[2];
    char alice[AUTH_AGENT_KEY_LEN], root[AUTH_AGENT_KEY_LEN];
    client *k = alice_with_key(f, alice);
    add_key(f, "root", "admin", "read,write,admin", root);
    char *ta = login_ok(k, "alice", "claude", NULL, NULL);
    use_key(r, root);
    char *tr = login_ok(r, "root", "admin", "[\"read\",\"write\",\"admin\"]", NULL);
    char *sid = new_session(f, ta);
    post(f, ta, sid, "public hello", "public");
    int64_t priv = post(f, ta, sid, "alice private secret", "private");
    int64_t adm = post(f, tr, sid, "admin eyes secret", "admin_only");
    json_t *sc = toolc(k, "set_memory",
                       json_pack("{s:s s:s s:s}", "key", "plan", "value", "alice memory secret",
                                 "auth_token", ta));
    expect_ok(sc);
    json_decref(sc);

    use_shared(s);
    size_t ref = 0;
    refused(f, login(s, "alice", "claude", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "root", "admin", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "eve", "admin", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    refused(f, login(s, "eve", "system", NULL), "PERMISSION_DENIED", "auth_refused", &ref);
    char *te = login_ok(s, "eve", "claude", NULL, NULL);
    /* tools */
    sc = toolc(s, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", te));
    expect_ok(sc);
    assert_int_equal(count_text(sc, "public hello"), 1);
    assert_int_equal(count_text(sc, "secret"), 0);
    json_decref(sc);
    sc = toolc(s, "get_session", json_pack("{s:s s:s}", "session_id", sid, "auth_token", te));
    expect_ok(sc);
    assert_int_equal(count_text(sc, "secret"), 0);
    json_decref(sc);
    expect_code(toolc(s, "get_message",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)priv, "auth_token", te)),
                "MESSAGE_NOT_FOUND");
    expect_code(toolc(s, "get_message",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)adm, "auth_token", te)),
                "MESSAGE_NOT_FOUND");
    sc = toolc(s, "search_context",
               json_pack("{s:s s:s s:s}", "session_id", sid, "query", "secret", "auth_token", te));
    expect_ok(sc);
    assert_int_equal(count_text(sc, "private secret") + count_text(sc, "eyes secret"), 0);
    json_decref(sc);
    sc = toolc(s, "search_by_sender",
               json_pack("{s:s s:s s:s}", "session_id", sid, "sender", "alice", "auth_token", te));
    assert_int_equal(count_text(sc, "secret"), 0);
    json_decref(sc);
    sc = toolc(s, "get_memory", json_pack("{s:s s:s}", "key", "plan", "auth_token", te));
    expect_code(sc, "MEMORY_NOT_FOUND");
    /* resources and prompts (the connection remembers eve's token) */
    char uri[128];
    snprintf(uri, sizeof uri, "session://%s", sid);
    json_t *res = rpc(s, "resources/read", json_pack("{s:s}", "uri", uri));
    assert_int_equal(count_text(res, "public hello"), 1);
    assert_int_equal(count_text(res, "secret"), 0);
    json_decref(res);
    res = rpc(s, "resources/read", json_pack("{s:s}", "uri", "agent://alice/memory"));
    assert_non_null(json_object_get(res, "error"));
    assert_int_equal(count_text(res, "secret"), 0);
    json_decref(res);
    res = rpc(s, "prompts/get",
              json_pack("{s:s s:{s:s}}", "name", "debug-session", "arguments", "session_id", sid));
    assert_int_equal(count_text(res, "public hello"), 1);
    assert_int_equal(count_text(res, "secret"), 0);
    json_decref(res);
    /* alice herself and root still read theirs */
    sc = toolc(k, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", ta));
    assert_int_equal(count_text(sc, "alice private secret"), 1);
    json_decref(sc);
    sc = toolc(r, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", tr));
    assert_int_equal(count_text(sc, "admin eyes secret"), 1);
    json_decref(sc);
    free(te);
    free(sid);
    free(ta);
    free(tr);
}

/* ---- restricted sessions ---- */

/* Does the JSON of sc mention text? */
static bool mentions(json_t *sc, const char *text)
{
    return count_text(sc, text) > 0;
}

static size_t updates(client *cl)
{
    size_t n = 0, i;
    json_t *m;
    pthread_mutex_lock(&cl->cap.mu);
    json_array_foreach (cl->cap.msgs, i, m) {
        const char *meth = json_string_value(json_object_get(m, "method"));
        n += meth && strcmp(meth, "notifications/resources/updated") == 0;
    }
    pthread_mutex_unlock(&cl->cap.mu);
    return n;
}

/* Every path of an agent the session does not admit: the session reads as missing (a
 * writing tool of an agent that may not write: PERMISSION_DENIED before that). */
static void outsider_sees_nothing(client *o, const char *tok, bool writer, const char *sid,
                                  int64_t mid)
{
    json_t *args[] = {
        json_pack("{s:s s:s}", "session_id", sid, "auth_token", tok),
        json_pack("{s:s s:s}", "session_id", sid, "auth_token", tok),
        json_pack("{s:s s:s s:s}", "session_id", sid, "content", "let me in", "auth_token", tok),
        json_pack("{s:s s:s s:s}", "session_id", sid, "query", "restricted", "auth_token", tok),
        json_pack("{s:s s:s s:s}", "session_id", sid, "sender", "alice", "auth_token", tok),
        json_pack("{s:s s:s s:s s:s}", "session_id", sid, "start_time", "2000-01-01T00:00:00Z",
                  "end_time", "2100-01-01T00:00:00Z", "auth_token", tok),
        json_pack("{s:s s:s s:s s:s}", "session_id", sid, "key", "k", "value", "v", "auth_token",
                  tok),
        json_pack("{s:s s:s s:s}", "session_id", sid, "key", "k", "auth_token", tok),
    };
    const char *tools[] = {"get_session",    "get_messages",     "add_message",
                           "search_context", "search_by_sender", "search_by_timerange",
                           "set_memory",     "get_memory"};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        json_t *sc = toolc(o, tools[i], args[i]);
        bool writes = i == 2 || i == 6;
        const char *want = writes && !writer ? "PERMISSION_DENIED" : "SESSION_NOT_FOUND";
        if (!code(sc) || strcmp(code(sc), want) != 0)
            fail_msg("%s on a restricted session: %s", tools[i], json_dumps(sc, 0));
        json_decref(sc);
    }
    expect_code(toolc(o, "get_message",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)mid, "auth_token", tok)),
                "MESSAGE_NOT_FOUND");
    expect_code(toolc(o, "get_thread",
                      json_pack("{s:I s:s}", "message_id", (json_int_t)mid, "auth_token", tok)),
                "MESSAGE_NOT_FOUND");
    json_t *sc = toolc(o, "list_sessions", json_pack("{s:s}", "auth_token", tok));
    expect_ok(sc);
    assert_false(mentions(sc, sid));
    json_decref(sc);
    /* resources, subscriptions, prompts, completions (the connection remembers tok) */
    char uri[128];
    snprintf(uri, sizeof uri, "session://%s", sid);
    json_t *r = rpc(o, "resources/read", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "error"));
    assert_false(mentions(r, "restricted hello"));
    json_decref(r);
    snprintf(uri, sizeof uri, "session://%s/messages/10", sid);
    r = rpc(o, "resources/read", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);
    r = rpc(o, "resources/subscribe", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);
    r = rpc(o, "prompts/get",
            json_pack("{s:s s:{s:s}}", "name", "debug-session", "arguments", "session_id", sid));
    assert_non_null(json_object_get(r, "error"));
    assert_false(mentions(r, "restricted hello"));
    json_decref(r);
    r = rpc(o, "completion/complete",
            json_pack("{s:{s:s s:s} s:{s:s s:s}}", "ref", "type", "ref/resource", "uri",
                      "session://{session_id}", "argument", "name", "session_id", "value",
                      "session_"));
    assert_non_null(json_object_get(r, "result"));
    assert_false(mentions(r, sid));
    json_decref(r);
}

/* Everyone the session admits reads it. */
static void member_sees_it(client *m, const char *tok, const char *sid)
{
    json_t *sc =
        toolc(m, "get_session", json_pack("{s:s s:s}", "session_id", sid, "auth_token", tok));
    expect_ok(sc);
    assert_true(mentions(sc, "restricted hello"));
    json_decref(sc);
    sc = toolc(m, "list_sessions", json_pack("{s:s}", "auth_token", tok));
    assert_true(mentions(sc, sid));
    json_decref(sc);
    char uri[128];
    snprintf(uri, sizeof uri, "session://%s", sid);
    json_t *r = rpc(m, "resources/read", json_pack("{s:s}", "uri", uri));
    assert_true(mentions(r, "restricted hello"));
    json_decref(r);
    r = rpc(m, "completion/complete",
            json_pack("{s:{s:s s:s} s:{s:s s:s}}", "ref", "type", "ref/resource", "uri",
                      "session://{session_id}", "argument", "name", "session_id", "value",
                      "session_"));
    assert_true(mentions(r, sid));
    json_decref(r);
}

/* A session restricted to listed agents and types admits them, its creator and admins;
 * to everyone else it does not exist, on every path; an open session is as before. */
static void test_restricted_sessions(void **state)
{
    fx *f = *state;
    client *a = &f->c[0], *b = &f->c[1], *o = &f->c[2];
    use_shared(a);
    use_shared(b);
    use_shared(o);
    char *ta = authc(a, "alice", "claude", NULL);
    json_t *sc = toolc(a, "create_session",
                       json_pack("{s:s s:[s] s:[s] s:s}", "purpose", "restricted", "allowed_agents",
                                 "bob", "allowed_types", "gemini", "auth_token", ta));
    expect_ok(sc);
    char *sid = strdup(json_string_value(json_object_get(sc, "session_id")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(sc, "allowed_agents"), 0)),
                        "bob");
    assert_string_equal(json_string_value(json_array_get(json_object_get(sc, "allowed_types"), 0)),
                        "gemini");
    json_decref(sc);
    int64_t mid = post(f, ta, sid, "restricted hello", "public");
    /* open sessions answer as they always did: no allowed_* */
    char *open = new_session(f, ta);
    sc = toolc(a, "get_session", json_pack("{s:s s:s}", "session_id", open, "auth_token", ta));
    assert_null(json_object_get(json_object_get(sc, "session"), "allowed_agents"));
    json_decref(sc);
    sc = toolc(a, "get_session", json_pack("{s:s s:s}", "session_id", sid, "auth_token", ta));
    assert_non_null(json_object_get(json_object_get(sc, "session"), "allowed_agents"));
    json_decref(sc);

    /* an outsider of another type (and an outsider of the creator's own type) */
    char *tc = authc(o, "carol", "claude", NULL);
    outsider_sees_nothing(o, tc, true, sid, mid);
    free(tc);
    char *tg = authc(o, "gus", "generic", NULL);
    outsider_sees_nothing(o, tg, false, sid, mid);
    /* listed by id, listed by type, an admin, the creator */
    char *tb = authc(b, "bob", "claude", NULL);
    member_sees_it(b, tb, sid);
    char uri[128];
    snprintf(uri, sizeof uri, "session://%s", sid);
    json_t *r = rpc(b, "resources/subscribe", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
    size_t before = updates(b), before_o = updates(o);
    post(f, ta, sid, "restricted news", "public");
    assert_int_equal(updates(b), before + 1); /* a member hears of it, an outsider not */
    assert_int_equal(updates(o), before_o);
    sc = toolc(b, "add_message",
               json_pack("{s:s s:s s:I s:s}", "session_id", sid, "content", "bob replies",
                         "parent_message_id", (json_int_t)mid, "auth_token", tb));
    expect_ok(sc);
    json_decref(sc);
    free(tb);
    char *tgem = authc(b, "gina", "gemini", NULL);
    member_sees_it(b, tgem, sid);
    free(tgem);
    char *tadm = authc(b, "root", "admin", "[\"read\",\"write\",\"admin\"]");
    member_sees_it(b, tadm, sid);
    free(tadm);
    member_sees_it(a, ta, sid);
    /* the open session is everyone's */
    sc = toolc(o, "get_session", json_pack("{s:s s:s}", "session_id", open, "auth_token", tg));
    expect_ok(sc);
    json_decref(sc);
    free(tg);
    free(open);
    free(sid);
    free(ta);
}

/* allowed_agents / allowed_types are checked: arrays of valid names, at most 100 each. */
static void test_restricted_session_arguments(void **state)
{
    fx *f = *state;
    client *a = &f->c[0];
    use_shared(a);
    char *ta = authc(a, "alice", "claude", NULL);
    json_t *big = json_array();
    for (int i = 0; i < 101; i++)
        json_array_append_new(big, json_sprintf("agent-%d", i));
    json_t *bad[] = {json_string("bob"), json_pack("[s]", ""), json_pack("[i]", 1), big};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *sc = toolc(
            a, "create_session",
            json_pack("{s:s s:o s:s}", "purpose", "p", "allowed_agents", bad[i], "auth_token", ta));
        assert_true(mentions(sc, "allowed_agents"));
        expect_code(sc, "INVALID_INPUT");
    }
    json_t *sc = toolc(a, "create_session",
                       json_pack("{s:s s:n s:[] s:s}", "purpose", "p", "allowed_agents",
                                 "allowed_types", "auth_token", ta));
    expect_ok(sc); /* an empty list: only its creator (and admins) */
    const char *sid = json_string_value(json_object_get(sc, "session_id"));
    client *o = &f->c[1];
    use_shared(o);
    char *tb = authc(o, "bob", "claude", NULL);
    expect_code(
        toolc(o, "get_session", json_pack("{s:s s:s}", "session_id", sid, "auth_token", tb)),
        "SESSION_NOT_FOUND");
    json_decref(sc);
    free(tb);
    free(ta);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_key_default_policy, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_stdio_local_user, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_shared_key_policy_from_conf, setup_policy_conf,
                                        teardown),
        cmocka_unit_test(test_shared_key_policy_errors),
        cmocka_unit_test_setup_teardown(test_coding_agent_types, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_shared_key_policy_denial_reported, setup_policy_conf,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_key_exact_identity, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_agent_key_policy_allows_all, setup_permissive,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revoked_and_rotated_keys, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_claim_nothing_more, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_shared_key_reads_no_one_elses, setup_default,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restricted_sessions, setup_permissive, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_session_arguments, setup_default, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
