/* tests/mcp/test_mcp_stdio.c — runs the fixture server (mcp_fixture_server) as a child
 * process over pipes, as an MCP client would: a full session line by line (CRLF and blank
 * lines tolerated, one compact JSON message per output line), concurrency (a blocked tool
 * does not delay a ping), cancellation (no response for a cancelled request), a large
 * line, malformed input (NUL characters too), and EOF (in-flight work finishes, then a clean exit).
 * Must not: synchronise by sleeping (it waits for the server's own messages; poll
 * timeouts only turn a hang into a failure). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

typedef struct child {
    pid_t pid;
    int in;  /* we write */
    int out; /* we read */
    char *buf;
    size_t len, cap;
} child;

static void start(child *c)
{
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execl(MCP_FIXTURE_SERVER, MCP_FIXTURE_SERVER, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c->in = to[1];
    c->out = from[0];
    c->buf = NULL;
    c->len = c->cap = 0;
}

static void send_raw(child *c, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(c->in, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void sendf(child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(child *c, const char *fmt, ...)
{
    char b[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    send_raw(c, b);
    send_raw(c, "\n");
}

/* Next output line as JSON, NULL at EOF. Fails after 20 s without output. */
static json_t *next(child *c)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - c->buf);
            json_error_t je;
            json_t *v = json_loadb(c->buf, l, 0, &je);
            if (!v)
                fail_msg("server wrote a non-JSON line: %.*s", (int)(l > 200 ? 200 : l), c->buf);
            memmove(c->buf, nl + 1, c->len - l - 1);
            c->len -= l + 1;
            return v;
        }
        struct pollfd p = {c->out, POLLIN, 0};
        int pr = poll(&p, 1, 20000);
        if (pr == 0)
            fail_msg("no output from the server within 20 s");
        if (pr < 0 && errno == EINTR)
            continue;
        if (c->cap - c->len < 65536) {
            c->cap = c->cap * 2 + 65536;
            c->buf = realloc(c->buf, c->cap);
        }
        ssize_t n = read(c->out, c->buf + c->len, c->cap - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0) {
            assert_int_equal(c->len, 0); /* no partial line at EOF */
            return NULL;
        }
        c->len += (size_t)n;
    }
}

static json_int_t id_of(json_t *m)
{
    json_t *id = json_object_get(m, "id");
    return json_is_integer(id) ? json_integer_value(id) : -1;
}

/* Next message that is a response (skipping notifications). */
static json_t *next_response(child *c)
{
    for (;;) {
        json_t *m = next(c);
        if (!m || json_object_get(m, "id"))
            return m;
        json_decref(m);
    }
}

static int finish(child *c)
{
    close(c->in);
    json_t *m;
    while ((m = next(c)) != NULL)
        json_decref(m);
    int st;
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    close(c->out);
    free(c->buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void handshake(child *c)
{
    send_raw(c, "\n\r\n");
    send_raw(
        c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
           "\"protocolVersion\":\"2025-11-25\","
           "\"capabilities\":{},\"clientInfo\":{\"name\":\"stdio-test\",\"version\":\"1\"}}}\r\n");
    json_t *r = next(c);
    assert_non_null(r);
    assert_int_equal(id_of(r), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
        "2025-11-25");
    json_decref(r);
    sendf(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
}

static void test_session(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    json_t *r = next(&c);
    assert_int_equal(id_of(r), 2);
    assert_true(json_array_size(json_object_get(json_object_get(r, "result"), "tools")) >= 8);
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_simple_text\",\"arguments\":{}}}");
    r = next(&c);
    assert_int_equal(id_of(r), 3);
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/"
              "read\",\"params\":{\"uri\":\"test://template/77/data\"}}");
    r = next(&c);
    assert_int_equal(id_of(r), 4);
    assert_non_null(strstr(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(r, "result"), "contents"), 0), "text")),
        "77"));
    json_decref(r);
    /* malformed line: -32700 with id null, and the server keeps going */
    sendf(&c, "{\"jsonrpc\": nope");
    r = next(&c);
    assert_true(json_is_null(json_object_get(r, "id")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                     -32700);
    json_decref(r);
    /* a notification gets nothing: the next line is the ping's answer */
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}");
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
    r = next(&c);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "p");
    json_decref(r);
    /* subscription: the update arrives on stdout */
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/"
              "subscribe\",\"params\":{\"uri\":\"test://watched-resource\"}}");
    r = next(&c);
    assert_int_equal(id_of(r), 5);
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_touch_watched\"}}");
    int got_update = 0, got_resp = 0;
    while (!got_update || !got_resp) {
        r = next(&c);
        assert_non_null(r);
        if (id_of(r) == 6)
            got_resp = 1;
        else if (strcmp(json_string_value(json_object_get(r, "method")),
                        "notifications/resources/updated") == 0)
            got_update = 1;
        json_decref(r);
    }
    /* a 1 MiB line */
    size_t big = 1 << 20;
    char *name = malloc(big + 1);
    memset(name, 'x', big);
    name[big] = '\0';
    send_raw(&c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
                 "call\",\"params\":{\"name\":\"test_validate\",\"arguments\":{\"name\":\"");
    send_raw(&c, name);
    send_raw(&c, "\"}}}\n");
    free(name);
    r = next(&c);
    assert_int_equal(id_of(r), 7);
    const char *txt = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(r, "result"), "content"), 0), "text"));
    assert_non_null(txt);
    assert_true(strncmp(txt, "hello xxx", 9) == 0);
    json_decref(r);
    assert_int_equal(finish(&c), 0);
}

static void test_concurrency(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":\"b\"}}}");
    json_t *r = next(&c); /* the blocked tool announces itself */
    assert_string_equal(json_string_value(json_object_get(r, "method")), "notifications/progress");
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\"}");
    r = next(&c);
    assert_int_equal(id_of(r), 11);
    json_decref(r);
    /* a list request (on a worker) also answers while the tool is blocked */
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"prompts/list\"}");
    r = next(&c);
    assert_int_equal(id_of(r), 12);
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_release\"}}");
    int seen10 = 0, seen13 = 0;
    while (!seen10 || !seen13) {
        r = next_response(&c);
        assert_non_null(r);
        if (id_of(r) == 10) {
            seen10 = 1;
            assert_non_null(strstr(
                json_string_value(json_object_get(
                    json_array_get(json_object_get(json_object_get(r, "result"), "content"), 0),
                    "text")),
                "released"));
        }
        if (id_of(r) == 13)
            seen13 = 1;
        json_decref(r);
    }
    assert_int_equal(finish(&c), 0);
}

static void test_cancel(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":20}}}");
    json_t *r = next(&c);
    assert_string_equal(json_string_value(json_object_get(r, "method")), "notifications/progress");
    json_decref(r);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":20,\"reason\":\"test\"}}");
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"ping\"}");
    r = next(&c);
    assert_int_equal(id_of(r), 21);
    json_decref(r);
    close(c.in);
    while ((r = next(&c)) != NULL) {
        assert_int_not_equal(id_of(r), 20);
        json_decref(r);
    }
    c.in = open("/dev/null", 0);
    assert_int_equal(finish(&c), 0);
}

/* All four workers blocked, a fifth request queued: cancelling it removes it from the
 * queue (otherwise it would run later and block forever). */
static void test_cancel_queued(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    for (int i = 1; i <= 4; i++) {
        sendf(&c,
              "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":%d}}}",
              100 + i, i);
        json_t *r = next(&c);
        assert_string_equal(json_string_value(json_object_get(r, "method")),
                            "notifications/progress");
        json_decref(r);
    }
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":150,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_block\"}}");
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":150}}");
    for (int i = 1; i <= 4; i++)
        sendf(&c,
              "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":%d}}",
              100 + i);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":160,\"method\":\"ping\"}");
    json_t *r = next(&c);
    assert_int_equal(id_of(r), 160);
    json_decref(r);
    close(c.in);
    while ((r = next(&c)) != NULL) {
        assert_true(id_of(r) < 100 || id_of(r) > 150);
        json_decref(r);
    }
    c.in = open("/dev/null", 0);
    assert_int_equal(finish(&c), 0);
}

/* A line with a NUL character (\u0000): a request gets Invalid Request with its id; a
 * cancellation carrying one is ignored, so it neither is answered nor drops the queued
 * request it names. */
static void test_nul_lines(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"ping\\u0000x\"}");
    json_t *r = next(&c);
    assert_int_equal(id_of(r), 30);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                     -32600);
    json_decref(r);
    for (int i = 1; i <= 4; i++) {
        sendf(&c,
              "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_block\",\"_meta\":{\"progressToken\":%d}}}",
              100 + i, i);
        r = next(&c);
        assert_string_equal(json_string_value(json_object_get(r, "method")),
                            "notifications/progress");
        json_decref(r);
    }
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":150,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_simple_text\"}}");
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":150,\"reason\":\"a\\u0000b\"}}");
    for (int i = 1; i <= 4; i++)
        sendf(&c,
              "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":%d}}",
              100 + i);
    close(c.in);
    bool got150 = false;
    while ((r = next(&c)) != NULL) {
        if (json_object_get(r, "id")) {
            assert_int_equal(id_of(r), 150); /* nothing else: no error for the notification */
            got150 = true;
        }
        json_decref(r);
    }
    assert_true(got150);
    c.in = open("/dev/null", 0);
    assert_int_equal(finish(&c), 0);
}

static void test_eof_finishes_inflight(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    sendf(&c, "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"test_tool_with_progress\",\"_meta\":{"
              "\"progressToken\":1}}}");
    close(c.in);
    int progress = 0, resp = 0;
    json_t *r;
    while ((r = next(&c)) != NULL) {
        if (id_of(r) == 30)
            resp++;
        else
            progress++;
        json_decref(r);
    }
    assert_int_equal(resp, 1);
    assert_int_equal(progress, 3);
    c.in = open("/dev/null", 0);
    assert_int_equal(finish(&c), 0);
}

static void test_stdout_closed(void **state)
{
    (void)state;
    child c;
    start(&c);
    handshake(&c);
    close(c.out); /* the client goes away: the server must not die of SIGPIPE */
    c.out = open("/dev/null", 0);
    /* Once its answer to the ping meets the closed pipe the server stops reading and
     * exits, so the second line may find its stdin closed already (EPIPE here): that
     * is the behaviour under test, not a failure. */
    static const char lines[] = "{\"jsonrpc\":\"2.0\",\"id\":40,\"method\":\"ping\"}\n"
                                "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"tools/list\"}\n";
    for (size_t off = 0; off < sizeof lines - 1;) {
        ssize_t w = write(c.in, lines + off, sizeof lines - 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EPIPE)
            break;
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(c.in);
    int st;
    assert_int_equal(waitpid(c.pid, &st, 0), c.pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(c.out);
    free(c.buf);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),       cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_cancel),        cmocka_unit_test(test_cancel_queued),
        cmocka_unit_test(test_nul_lines),     cmocka_unit_test(test_eof_finishes_inflight),
        cmocka_unit_test(test_stdout_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
