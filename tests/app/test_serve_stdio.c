/* tests/app/test_serve_stdio.c — runs the real `ctxd serve --stdio` binary as a child
 * over pipes on a fresh SQLite file and speaks MCP to it line by line: initialize,
 * authenticate_agent (API key from the server's environment), create_session,
 * add_message, get_messages; a call without a token is denied; closing stdin ends the
 * server with status 0. Must not: sleep (reads block on the pipe), write to the
 * repository. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "test_support.h"

typedef struct child {
    pid_t pid;
    FILE *in;  /* to the server */
    FILE *out; /* from the server */
    int id;
} child;

static void start(child *c, const char *dir)
{
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        char *url = ts_strf("sqlite:///%s/stdio.db", dir);
        setenv("DATABASE_URL", url, 1);
        setenv("API_KEY", "stdio-test-key", 1);
        setenv("JWT_SECRET_KEY", "stdio-test-secret-0123456789abcdef0123", 1);
        setenv("LOG_LEVEL", "warning", 1);
        if (chdir(dir) != 0)
            _exit(126);
        execl(CTXD_BIN, CTXD_BIN, "serve", "--stdio", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->in = fdopen(to[1], "w");
    c->out = fdopen(from[0], "r");
    assert_non_null(c->in);
    assert_non_null(c->out);
}

/* sends a request and reads lines until the response with that id (notifications
 * in between are skipped). Returns the response (new ref). Steals params. */
static json_t *request(child *c, const char *method, json_t *params)
{
    int id = ++c->id;
    json_t *req = json_pack("{s:s s:i s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (params)
        json_object_set_new(req, "params", params);
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    fprintf(c->in, "%s\n", s);
    fflush(c->in);
    free(s);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        ssize_t n = getline(&line, &cap, c->out);
        assert_true(n > 0);
        json_error_t je;
        json_t *m = json_loads(line, 0, &je);
        assert_non_null(m);
        if (json_integer_value(json_object_get(m, "id")) == id) {
            free(line);
            return m;
        }
        json_decref(m);
    }
}

static json_t *call(child *c, const char *tool, json_t *args)
{
    json_t *r = request(c, "tools/call", json_pack("{s:s s:o}", "name", tool, "arguments", args));
    json_t *sc = json_object_get(json_object_get(r, "result"), "structuredContent");
    assert_non_null(sc);
    json_incref(sc);
    json_decref(r);
    return sc;
}

static void test_stdio_roundtrip(void **state)
{
    (void)state;
    char *dir = ts_mkdtemp("app-stdio");
    child c = {0};
    start(&c, dir);
    json_t *r = request(&c, "initialize",
                        json_pack("{s:s s:{} s:{s:s s:s}}", "protocolVersion", "2025-11-25",
                                  "capabilities", "clientInfo", "name", "t", "version", "1"));
    json_t *info = json_object_get(json_object_get(r, "result"), "serverInfo");
    assert_string_equal(json_string_value(json_object_get(info, "name")), "ctxd");
    /* the version the build declares (project()), as `ctxd --version` prints it */
    assert_string_equal(json_string_value(json_object_get(info, "version")), CTXD_VERSION);
    json_decref(r);
    fprintf(c.in, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
    fflush(c.in);
    r = request(&c, "tools/list", NULL);
    assert_true(json_array_size(json_object_get(json_object_get(r, "result"), "tools")) >= 18);
    json_decref(r);

    json_t *sc = call(&c, "create_session", json_pack("{s:s}", "purpose", "no token"));
    assert_string_equal(json_string_value(json_object_get(sc, "code")), "AUTH_FAILED");
    json_decref(sc);
    sc = call(&c, "authenticate_agent",
              json_pack("{s:s s:s}", "agent_id", "cli-agent", "agent_type", "claude"));
    assert_true(json_is_true(json_object_get(sc, "success")));
    char *tok = strdup(json_string_value(json_object_get(sc, "token")));
    json_decref(sc);
    sc = call(&c, "create_session",
              json_pack("{s:s s:s}", "purpose", "stdio test", "auth_token", tok));
    assert_true(json_is_true(json_object_get(sc, "success")));
    char *sid = strdup(json_string_value(json_object_get(sc, "session_id")));
    json_decref(sc);
    sc = call(&c, "add_message",
              json_pack("{s:s s:s s:s}", "session_id", sid, "content", "hello over stdio",
                        "auth_token", tok));
    assert_true(json_integer_value(json_object_get(sc, "message_id")) > 0);
    json_decref(sc);
    sc = call(&c, "get_messages", json_pack("{s:s s:s}", "session_id", sid, "auth_token", tok));
    assert_int_equal(json_array_size(json_object_get(sc, "messages")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(sc, "messages"), 0), "content")),
                        "hello over stdio");
    json_decref(sc);
    /* the connection remembers the identity for resources */
    char uri[96];
    snprintf(uri, sizeof uri, "session://%s", sid);
    r = request(&c, "resources/read", json_pack("{s:s}", "uri", uri));
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);

    fclose(c.in);
    int st;
    assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    fclose(c.out);
    free(tok);
    free(sid);
    ts_rm_rf(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stdio_roundtrip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
