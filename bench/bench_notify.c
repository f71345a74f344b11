/* bench/bench_notify.c — what MCP sessions and resources/subscribe subscriptions that
 * have nothing to do with a write cost that write: add_message through the app
 * (in-process mcp_server, tools/call as JSON, a SQLite store) with
 *   - nothing else,
 *   - 62,000 idle MCP sessions,
 *   - and 150,000 subscriptions of one other MCP session (session://X/messages/{1..1000}
 *     of 150 other ctxd sessions, made in JSON-RPC batches of 1000),
 * and with 100 sessions subscribed to the written session (who must hear of it): the
 * rate of add_message and its mean latency, in one run. Before the subscription index,
 * every write walked every MCP session and every subscribed URI under one server-wide
 * lock. Build the same file against an older tree with -DBENCH_BEFORE (it then sets no
 * caps, which did not exist) for the figures before.
 * Usage: bench_notify [URL|""] [SECONDS per figure, default 2]; default (or "") a SQLite
 * file in /tmp, removed afterwards.
 * Must not: run as a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "base/utc.h"
#include "store/store.h"

#define KEY "bench-api-key-0123456789"
#define SECRET "bench-jwt-secret-0123456789abcdef0123456789"

static int sink(void *ud, void *stream, const char *json, size_t len)
{
    (void)stream, (void)json, (void)len;
    ++*(long *)ud;
    return 0;
}
static const mcp_transport_ops ops = {sink};

typedef struct cl {
    mcp_session *s;
    app_req req;
    long heard;
} cl;

static mcp_server *g_srv;
static long g_id;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_notify: %s: %s\n", what, msg);
    exit(1);
}

/* One request on c; the response (new reference). Steals params (may be NULL). */
static json_t *call(cl *c, const char *method, json_t *params)
{
    char *p = params ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    size_t n = strlen(method) + (p ? strlen(p) : 0) + 96;
    char *body = malloc(n);
    snprintf(body, n, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\"%s%s}", ++g_id, method,
             p ? ",\"params\":" : "", p ? p : "");
    free(p);
    mcp_reply rep;
    mcp_session_handle(c->s, body, strlen(body), &(mcp_request_ctx){NULL, &c->req}, &rep);
    free(body);
    json_t *r = rep.json ? json_loadb(rep.json, rep.len, 0, NULL) : NULL;
    mcp_reply_free(&rep);
    return r ? r : json_object();
}

static void open_client(cl *c)
{
    memset(c, 0, sizeof *c);
    c->req = (app_req){.api_key_ok = true, .rate_key = "127.0.0.1"};
    c->s = mcp_session_new(g_srv, &ops, &c->heard);
    app_session_open(c->s, false);
    json_decref(call(c, "initialize",
                     json_pack("{s:s s:{} s:{s:s s:s}}", "protocolVersion", "2025-03-26",
                               "capabilities", "clientInfo", "name", "bench", "version", "1")));
}

static void close_client(cl *c)
{
    app_session_close(c->s);
    mcp_session_free(c->s);
}

/* tools/call; the structured result's string field `want` (malloc'd) or NULL. */
static char *tool(cl *c, const char *name, json_t *args, const char *want)
{
    json_t *r = call(c, "tools/call", json_pack("{s:s s:o}", "name", name, "arguments", args));
    json_t *sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    if (!json_is_true(json_object_get(sc, "success"))) {
        char *t = json_dumps(r, JSON_COMPACT);
        die(name, t);
    }
    const char *v = want ? json_string_value(json_object_get(sc, want)) : NULL;
    char *out = v ? strdup(v) : NULL;
    json_decref(r);
    return out;
}

/* Subscribes c to uris[0..n) in JSON-RPC batches of 1000 (2025-03-26). */
static void subscribe_many(cl *c, char **uris, size_t n)
{
    for (size_t i = 0; i < n; i += 1000) {
        json_t *batch = json_array();
        for (size_t k = i; k < n && k < i + 1000; k++)
            json_array_append_new(batch,
                                  json_pack("{s:s s:I s:s s:{s:s}}", "jsonrpc", "2.0", "id",
                                            (json_int_t)++g_id, "method", "resources/subscribe",
                                            "params", "uri", uris[k]));
        char *body = json_dumps(batch, JSON_COMPACT);
        json_decref(batch);
        mcp_reply rep;
        mcp_session_handle(c->s, body, strlen(body), &(mcp_request_ctx){NULL, &c->req}, &rep);
        if (rep.json && strstr(rep.json, "\"error\""))
            die("subscribe", rep.json);
        mcp_reply_free(&rep);
        free(body);
    }
}

/* add_message on sid for about `secs` seconds: the rate; *mean_ms the mean latency. */
static double writes(cl *w, const char *tok, const char *sid, double secs, double *mean_ms)
{
    int64_t t0 = utc_mono_us(), t;
    long n = 0;
    do {
        free(tool(w, "add_message",
                  json_pack("{s:s s:s s:s}", "session_id", sid, "content", "a finding",
                            "auth_token", tok),
                  NULL));
        n++;
        t = utc_mono_us();
    } while ((double)(t - t0) < secs * 1e6);
    *mean_ms = (double)(t - t0) / 1e3 / (double)n;
    return (double)n / ((double)(t - t0) / 1e6);
}

static void row(const char *what, double rate, double ms)
{
    printf("%-56s %10.0f %10.3f\n", what, rate, ms);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char def[128];
    snprintf(def, sizeof def, "sqlite:////tmp/ctxd-bench-notify-%d.db", (int)getpid());
    const char *url = argc > 1 && *argv[1] ? argv[1] : def;
    double secs = argc > 2 ? atof(argv[2]) : 2.0;
    err_t e;
    store_t *st;
    if (store_open_with(url, NULL, STORE_OPEN_MIGRATE, &st, &e) != ERR_OK)
        die("store", e.msg);
    auth_ctx *auth;
    auth_opts ao = {.jwt_secret = SECRET, .api_key = KEY, .store = st};
    if (auth_ctx_new(&ao, &auth, &e) != ERR_OK)
        die("auth", e.msg);
    app_opts o = {.store = st, .auth = auth};
#ifndef BENCH_BEFORE
    /* room for what this benchmark builds (the defaults are far lower) */
    o.max_sessions = o.max_sessions_per_peer = 100000;
    o.max_subscriptions_per_session = o.max_subscriptions = 1000000;
#endif
    app_t *app;
    if (app_new(&o, &app, &e) != ERR_OK)
        die("app", e.msg);
    mcp_server_info info = app_server_info();
    g_srv = mcp_server_new(&info);
    if (app_register(app, g_srv, &e) != ERR_OK)
        die("register", e.msg);

    cl w, x;
    open_client(&w);
    open_client(&x);
    char *tok = tool(&w, "authenticate_agent",
                     json_pack("{s:s s:s}", "agent_id", "writer", "agent_type", "claude"), "token");
    free(tool(&x, "authenticate_agent",
              json_pack("{s:s s:s}", "agent_id", "watcher", "agent_type", "claude"), "token"));
    char *sid = tool(&w, "create_session",
                     json_pack("{s:s s:s}", "purpose", "w", "auth_token", tok), "session_id");
    printf("bench_notify: add_message on %s, %.1f s per figure\n", store_name(st), secs);
    printf("%-56s %10s %10s\n", "condition", "add_msg/s", "mean ms");
    double ms, base = writes(&w, tok, sid, secs, &ms);
    row("no subscriptions, 2 MCP sessions", base, ms);

    /* 62,000 idle MCP sessions */
    enum {
        NIDLE = 62000
    };
    cl *idle = malloc(NIDLE * sizeof *idle);
    for (size_t i = 0; i < NIDLE; i++)
        open_client(&idle[i]);
    double r = writes(&w, tok, sid, secs, &ms);
    row("62000 idle MCP sessions", r, ms);

    /* 150,000 subscriptions of one session to URIs of 150 other ctxd sessions */
    enum {
        NSUB = 150000,
        PER = 1000
    };
    char **uris = malloc(NSUB * sizeof *uris);
    for (size_t i = 0; i < NSUB / PER; i++) {
        char *other =
            tool(&w, "create_session",
                 json_pack("{s:s s:s}", "purpose", "other", "auth_token", tok), "session_id");
        for (size_t k = 0; k < PER; k++) {
            char u[96];
            snprintf(u, sizeof u, "session://%s/messages/%zu", other, k + 1);
            uris[i * PER + k] = strdup(u);
        }
        free(other);
    }
    int64_t t0 = utc_mono_us();
    subscribe_many(&x, uris, NSUB);
    fprintf(stderr, "  (150000 subscriptions made in %.1f s)\n",
            (double)(utc_mono_us() - t0) / 1e6);
    r = writes(&w, tok, sid, secs, &ms);
    row("+ 150000 subscriptions of 1 session to other sessions", r, ms);

    /* 100 sessions that do watch the written session: each hears every write */
    enum {
        NWATCH = 100
    };
    char wuri[96];
    snprintf(wuri, sizeof wuri, "session://%s", sid);
    for (size_t i = 0; i < NWATCH; i++) {
        idle[i].heard = 0;
        free(tool(&idle[i], "authenticate_agent",
                  json_pack("{s:s s:s}", "agent_id", "reader", "agent_type", "claude"), "token"));
        json_decref(call(&idle[i], "resources/subscribe", json_pack("{s:s}", "uri", wuri)));
    }
    r = writes(&w, tok, sid, secs, &ms);
    row("+ 100 sessions subscribed to the written session", r, ms);
    long heard = 0;
    for (size_t i = 0; i < NWATCH; i++)
        heard += idle[i].heard;
    fprintf(stderr, "  (%ld notifications delivered to the 100 watchers)\n", heard);

    for (size_t i = 0; i < NIDLE; i++)
        close_client(&idle[i]);
    free(idle);
    for (size_t i = 0; i < NSUB; i++)
        free(uris[i]);
    free(uris);
    close_client(&w);
    close_client(&x);
    free(tok);
    free(sid);
    mcp_server_free(g_srv);
    app_free(app);
    auth_ctx_free(auth);
    store_close(st);
    if (url == def) {
        unlink(def + strlen("sqlite:///"));
        char side[160];
        snprintf(side, sizeof side, "%s-wal", def + strlen("sqlite:///"));
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", def + strlen("sqlite:///"));
        unlink(side);
    }
    return 0;
}
