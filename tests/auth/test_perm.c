/* tests/auth/test_perm.c — permission names and bits, the built-in agent-type map
 * of the contract, requested ∩ allowed, and the permissions file (good files, JSON
 * syntax errors with line and column, unknown permissions and keys).
 * Must not: touch files outside its private temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/perm.h"
#include "base/sbuf.h"
#include "test_support.h"

#define R AUTH_PERM_READ
#define W AUTH_PERM_WRITE
#define A AUTH_PERM_ADMIN
#define D AUTH_PERM_DEBUG

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = ts_mkdtemp("auth-perm");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_rm_rf(g_dir);
    free(g_dir);
    return 0;
}

static char *write_file(const char *name, const char *text)
{
    char *p = ts_path(g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_names(void **state)
{
    (void)state;
    auth_perms b = 0;
    assert_true(auth_perm_parse("read", &b));
    assert_int_equal(b, R);
    assert_true(auth_perm_parse("debug", &b));
    assert_int_equal(b, D);
    assert_false(auth_perm_parse("READ", &b));
    assert_false(auth_perm_parse("root", &b));
    assert_false(auth_perm_parse("", &b));
    assert_false(auth_perm_parse(NULL, &b));
    assert_string_equal(auth_perm_name(A), "admin");
    assert_null(auth_perm_name(R | W));
    char buf[64];
    assert_string_equal(auth_perms_format(D | R | A, buf, sizeof buf), "read,admin,debug");
    assert_string_equal(auth_perms_format(0, buf, sizeof buf), "");
    json_t *j = auth_perms_to_json(AUTH_PERM_ALL);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "[\"read\",\"write\",\"admin\",\"debug\"]");
    free(s);
    json_decref(j);

    err_t e;
    auth_perms p = 99;
    j = json_loads("[\"write\",\"read\",\"write\"]", 0, NULL);
    assert_int_equal(auth_perms_from_json(j, &p, &e), ERR_OK);
    assert_int_equal(p, R | W);
    json_decref(j);
    j = json_loads("[\"read\",\"superuser\"]", 0, NULL);
    assert_int_equal(auth_perms_from_json(j, &p, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "superuser"));
    assert_non_null(strstr(e.msg, "element 1"));
    json_decref(j);
    j = json_loads("[1]", 0, NULL);
    assert_int_equal(auth_perms_from_json(j, &p, &e), ERR_INVALID);
    json_decref(j);
    j = json_loads("{\"read\":true}", 0, NULL);
    assert_int_equal(auth_perms_from_json(j, &p, &e), ERR_INVALID);
    json_decref(j);
}

static void test_defaults(void **state)
{
    (void)state;
    auth_permmap *m = auth_permmap_default();
    static const struct {
        const char *type;
        auth_perms p;
    } want[] = {
        {"claude", R | W},
        {"gemini", R | W},
        {"admin", R | W | A | D},
        {"system", R | W | A | D},
        {"test", R | W | D},
        {"generic", R},
        {"unknown-type", R},
        {"reviewer", R},
        {"", R},
        {NULL, R},
        {"Claude", R | W},
        {"ADMIN", R | W | A | D},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (auth_permmap_lookup(m, want[i].type) != want[i].p)
            fail_msg("%s -> %u, expected %u", want[i].type ? want[i].type : "(null)",
                     auth_permmap_lookup(m, want[i].type), want[i].p);
    assert_int_equal(auth_permmap_default_perms(m), R);
    /* requested ∩ allowed */
    assert_int_equal(auth_perms_grant(m, "claude", AUTH_PERM_ALL), R | W);
    assert_int_equal(auth_perms_grant(m, "claude", R), R);
    assert_int_equal(auth_perms_grant(m, "generic", R | W), R);
    assert_int_equal(auth_perms_grant(m, "test", A | D), D);
    assert_int_equal(auth_perms_grant(m, "admin", A), A);
    assert_int_equal(auth_perms_grant(m, "nobody", W), 0);
    auth_permmap_free(m);
    auth_permmap_free(NULL);
}

/* The coding agents' types read and write, like claude (case-insensitively), and no
 * more. */
static void test_coding_agents(void **state)
{
    (void)state;
    static const char *const types[] = {"claude", "gemini",   "codex",  "cursor",   "copilot",
                                        "qwen",   "windsurf", "kiro",   "opencode", "zed",
                                        "cline",  "ZED",      "Copilot"};
    auth_permmap *m = auth_permmap_default();
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (auth_permmap_lookup(m, types[i]) != (R | W))
            fail_msg("%s -> %u, expected read,write", types[i], auth_permmap_lookup(m, types[i]));
        assert_int_equal(auth_perms_grant(m, types[i], AUTH_PERM_ALL), R | W);
    }
    /* the default admits no admin among them: the shared key's default policy covers them */
    assert_int_equal(auth_permmap_lookup(m, "codex") & A, 0);
    auth_permmap_free(m);
}

static void test_file_good(void **state)
{
    (void)state;
    char *p = write_file("good.json", "{\n"
                                      "  \"agent_types\": {\n"
                                      "    \"claude\": [\"read\"],\n"
                                      "    \"reviewer\": [\"read\", \"debug\"],\n"
                                      "    \"locked\": []\n"
                                      "  },\n"
                                      "  \"default\": []\n"
                                      "}\n");
    auth_permmap *m = NULL;
    err_t e;
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_OK);
    assert_int_equal(auth_permmap_lookup(m, "claude"), R);       /* replaced */
    assert_int_equal(auth_permmap_lookup(m, "reviewer"), R | D); /* added */
    assert_int_equal(auth_permmap_lookup(m, "Reviewer"), R | D);
    assert_int_equal(auth_permmap_lookup(m, "locked"), 0);
    assert_int_equal(auth_permmap_lookup(m, "admin"), AUTH_PERM_ALL); /* built-in kept */
    assert_int_equal(auth_permmap_lookup(m, "stranger"), 0);          /* default replaced */
    auth_permmap_free(m);
    free(p);

    /* only a default; an empty object */
    p = write_file("default.json", "{\"default\": [\"read\", \"write\"]}");
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_OK);
    assert_int_equal(auth_permmap_lookup(m, "stranger"), R | W);
    assert_int_equal(auth_permmap_lookup(m, "generic"), R);
    auth_permmap_free(m);
    free(p);
    p = write_file("empty.json", "{}");
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_OK);
    assert_int_equal(auth_permmap_lookup(m, "test"), R | W | D);
    auth_permmap_free(m);

    /* through the configuration */
    conf_t *c = conf_defaults();
    assert_int_equal(auth_permmap_from_conf(c, &m, &e), ERR_OK); /* unset: built-in */
    assert_int_equal(auth_permmap_lookup(m, "claude"), R | W);
    auth_permmap_free(m);
    assert_int_equal(conf_set(c, "PERMISSIONS_CONFIG_FILE", p, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(auth_permmap_from_conf(c, &m, &e), ERR_OK);
    auth_permmap_free(m);
    free(p);
    p = ts_path(g_dir, "missing.json");
    assert_int_equal(conf_set(c, "PERMISSIONS_CONFIG_FILE", p, CONF_SRC_FLAG, &e), ERR_OK);
    assert_int_equal(auth_permmap_from_conf(c, &m, &e), ERR_IO);
    assert_null(m);
    assert_non_null(strstr(e.msg, "PERMISSIONS_CONFIG_FILE"));
    assert_non_null(strstr(e.msg, "missing.json"));
    conf_free(c);
    free(p);
}

/* shared-context-server's form of the file is read as the same map */
static void test_scs_file(void **state)
{
    (void)state;
    char *p = write_file(
        "scs.json", "{\"config\": {\n"
                    "  \"available_permissions\": [\"read\", \"write\", \"admin\", \"debug\"],\n"
                    "  \"default_permissions\": [\"read\", \"debug\"],\n"
                    "  \"agent_types\": {\n"
                    "    \"claude\": {\"permissions\": [\"read\"], \"description\": \"x\"},\n"
                    "    \"reviewer\": {\"permissions\": [\"read\", \"write\"]}\n"
                    "  }}}\n");
    auth_permmap *m = NULL;
    err_t e;
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_OK);
    assert_int_equal(auth_permmap_lookup(m, "claude"), R);
    assert_int_equal(auth_permmap_lookup(m, "reviewer"), R | W);
    assert_int_equal(auth_permmap_lookup(m, "admin"), AUTH_PERM_ALL); /* built-in kept */
    assert_int_equal(auth_permmap_lookup(m, "stranger"), R | D);      /* default_permissions */
    auth_permmap_free(m);
    free(p);
}

/* Loads text; expects ERR_INVALID with every fragment in the message. */
static void bad_file(const char *text, const char *frag1, const char *frag2)
{
    char *p = write_file("bad.json", text);
    auth_permmap *m = (auth_permmap *)&m;
    err_t e;
    err_code rc = auth_permmap_load(p, &m, &e);
    if (rc != ERR_INVALID)
        fail_msg("accepted (%d): %s", (int)rc, text);
    assert_null(m);
    if (!strstr(e.msg, "bad.json"))
        fail_msg("no file name in: %s", e.msg);
    if (frag1 && !strstr(e.msg, frag1))
        fail_msg("'%s' not in: %s", frag1, e.msg);
    if (frag2 && !strstr(e.msg, frag2))
        fail_msg("'%s' not in: %s", frag2, e.msg);
    free(p);
}

static void test_file_bad(void **state)
{
    (void)state;
    /* JSON syntax: line and column from jansson */
    bad_file("{\n  \"agent_types\": {\n    \"claude\": [\"read\",]\n  }\n}\n", "line 3", "column");
    bad_file("{\"default\": [\"read\"]", "line 1", NULL);
    bad_file("", "line", NULL);
    /* shared-context-server's form: the same strictness, paths under config */
    bad_file("{\"config\": {\"agent_types\": {\"x\": [\"read\"]}}}", "config.agent_types.x",
             "permissions");
    bad_file("{\"config\": {\"agent_types\": {\"x\": {\"permissions\": [\"fly\"]}}}}",
             "agent_types.x", "fly");
    bad_file("{\"config\": {\"default_permissions\": \"read\"}}", "default", NULL);
    bad_file("{\"config\": {\"other\": 1}}", "config: unknown key \"other\"", NULL);
    bad_file("{\"config\": {}, \"default\": []}", "{\"config\": {...}} alone", NULL);
    bad_file("{\"config\": {\"available_permissions\": [\"root\"]}}", "available_permissions",
             "root");
    bad_file("{\"config\": {\"agent_types\": {\"x\": {\"permissions\": [], \"color\": 1}}}}",
             "not the key color", NULL);
    bad_file("{\"agent_types\": {\"a\": [\"read\"], \"a\": [\"write\"]}}", "line 1", "duplicate");
    /* meaning */
    bad_file("{\"agent_types\": {\"claude\": [\"read\", \"wirte\"]}}", "agent_types.claude",
             "unknown permission \"wirte\"");
    bad_file("{\"default\": [\"everything\"]}", "default", "everything");
    bad_file("{\"default\": \"read\"}", "default", "array");
    bad_file("{\"agent_typez\": {}}", "unknown key \"agent_typez\"", NULL);
    bad_file("{\"agent_types\": {}, \"version\": 1}", "unknown key \"version\"", NULL);
    bad_file("[\"read\"]", "JSON object", NULL);
    bad_file("{\"agent_types\": [\"claude\"]}", "agent_types", "object");
    bad_file("{\"agent_types\": {\"claude\": \"read\"}}", "agent_types.claude", "array");
    bad_file("{\"agent_types\": {\"claude\": [\"read\"], \"CLAUDE\": [\"write\"]}}",
             "agent_types.CLAUDE", "twice");
    bad_file("{\"agent_types\": {\"\": [\"read\"]}}", "agent type", NULL);
    bad_file("{\"agent_types\": {\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": []}}",
             "1..50", NULL);
}

/* Every message about a file starts with "permissions file '<path>': ". */
static void test_file_message_form(void **state)
{
    (void)state;
    auth_permmap *m = NULL;
    err_t e;
    char *p = ts_path(g_dir, "absent.json");
    char *want = ts_strf("permissions file '%s': cannot open: ", p);
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_IO);
    assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
    free(want);
    free(p);
    p = write_file("form.json", "{\"agent_types\": {\"claude\": \"read\"}}");
    want = ts_strf("permissions file '%s': agent_types.claude: ", p);
    assert_int_equal(auth_permmap_load(p, &m, &e), ERR_INVALID);
    assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
    free(want);
    free(p);
    assert_int_equal(auth_permmap_load("", &m, &e), ERR_INVALID);
    assert_string_equal(e.msg, "permissions file: empty path");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_coding_agents), cmocka_unit_test(test_file_good),
        cmocka_unit_test(test_file_bad),      cmocka_unit_test(test_file_message_form),
        cmocka_unit_test(test_scs_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
