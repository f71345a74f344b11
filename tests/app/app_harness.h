/* tests/app/app_harness.h — what the app/ test programs share: an in-process
 * mcp_server with app/ registered on a fresh store (g_url), three MCP client sessions
 * whose notifications are captured, an injected clock, and helpers that call tools with
 * JSON built in C and check the contract's envelope.
 * Must not: sleep (the clock is injected) or leave files behind. */
#ifndef CTXD_TESTS_APP_HARNESS_H
#define CTXD_TESTS_APP_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "app/app_int.h"
#include "backend_setup.h"
#include "base/utc.h"

#define SECRET "test-secret-0123456789abcdef-0123456789"
#define API_KEY "test-api-key"

extern const char *g_url;   /* the store every fixture starts fresh (set by main) */
extern app_limits g_limits; /* the app's limits in every fixture (zero: the defaults) */

typedef struct cap {
    pthread_mutex_t mu;
    json_t *msgs;
} cap;

typedef struct client {
    mcp_session *s;
    cap cap;
    app_conn *conn;
    app_req req;
    int next_id;
} client;

typedef struct fx {
    tb_db db;
    utc_us now;
    int64_t mono;
    auth_ctx *auth;
    auth_ratelimit *rl;
    app_t *app;
    mcp_server *srv;
    client c[3];
} fx;

utc_us fake_clock(void *ud);
int64_t fake_mono(void *ud);
void client_open(fx *f, client *cl);
void client_close(client *cl);
/* cmocka setup: a fresh store, app, server and three initialised clients holding the
 * shared API key (under a policy that lets it claim any identity); with a rate limiter
 * when rate > 0 */
int fx_setup_rl(void **state, double rate, double burst);
/* The same, with the auth context made from a configuration (auth_ctx_from_conf: what
 * `ctxd serve` does), no rate limiter, and the store's clock. */
int fx_setup_conf(void **state, const conf_t *conf);
/* The same with the injected clock and the shared key under this policy (auth_opts
 * shared_key_types / shared_key_permissions; NULL: the defaults). */
int fx_setup_policy(void **state, const char *types, const char *perms);
int setup(void **state);
int setup_rl(void **state);
int teardown(void **state);

/* one JSON-RPC request; returns the parsed response (new ref). Steals params. */
json_t *rpc(client *cl, const char *method, json_t *params);
/* tools/call; returns structuredContent (new ref); steals args. The text content must be
 * the same JSON. */
json_t *toolc(client *cl, const char *name, json_t *args);
#define tool(f, name, args) toolc(&(f)->c[0], name, args)
bool ok(json_t *sc);
const char *code(json_t *sc);
/* asserts an error result with that code (checks the envelope) and frees it */
void expect_code(json_t *sc, const char *want);
void expect_ok(json_t *sc);
/* authenticate_agent on cl; returns the token (caller frees) */
char *authc(client *cl, const char *id, const char *type, const char *perms);
#define auth_agent(f, id, type, perms) authc(&(f)->c[0], id, type, perms)
char *new_session(fx *f, const char *tok);
int64_t post(fx *f, const char *tok, const char *sid, const char *content, const char *vis);
size_t nvisible(fx *f, const char *tok, const char *sid);

#endif
