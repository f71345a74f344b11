/* tests/app/test_app_identity.c — who may claim which identity with which credential.
 * Must not: sleep or leave files behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app_harness.h"

/* The operator's configuration: keys only, every policy at its default. */
static int setup_default(void **state)
{
    conf_t *c = conf_defaults();
    err_t e;
    assert_int_equal(conf_set(c, "JWT_SECRET_KEY", SECRET, CONF_SRC_ENV, &e), ERR_OK);
    assert_int_equal(conf_set(c, "API_KEY", API_KEY, CONF_SRC_ENV, &e), ERR_OK);
    int rc = fx_setup_conf(state, c);
    conf_free(c);
    return rc;
}

static size_t audits(fx *f, const char *event)
{
    store_audits l;
    store_audit_query q = {.event_type = event, .limit = 100};
    err_t e;
    assert_int_equal(store_audit_list(f->db.st, &q, &l, &e), ERR_OK);
    size_t n = l.n;
    store_audits_free(&l);
    return n;
}

/* The shared key under the default policy: never admin. */
static void test_shared_key_default_no_admin(void **state)
{
    fx *f = *state;
    json_t *sc = tool(f, "authenticate_agent",
                      json_pack("{s:s s:s s:[sss]}", "agent_id", "root", "agent_type", "admin",
                                "requested_permissions", "read", "write", "admin"));
    expect_code(sc, "PERMISSION_DENIED");
    assert_int_equal(audits(f, "auth_refused"), 1);
}

int main(int argc, char **argv)
{
    g_url = tb_url(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_key_default_no_admin, setup_default, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
