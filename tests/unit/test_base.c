/* tests/unit/test_base.c — base/: buffers and string helpers (hex, lists of
 * strings, look-up by name in a table), UTC time parse and format (offsets, Z,
 * naive = UTC, microseconds), deadlines on both clocks, ids from the CSPRNG, error
 * classes, log levels, civil-time fields, hex digits, reading a stream with a
 * size limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/port.h"
#include "base/utc.h"

static void test_sbuf_grows_and_detaches(void **state)
{
    (void)state;
    sbuf_t b = SBUF_INIT;
    assert_string_equal(sbuf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        sbuf_printf(&b, "%d,", i);
    assert_true(b.len > 3000);
    assert_int_equal(strncmp(b.p, "0,1,2,", 6), 0);
    assert_int_equal(b.p[b.len], '\0');
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sbuf_reset(&b);
    sbuf_printf(&b, "<%s>", big); /* longer than the internal fast-path buffer */
    assert_int_equal(b.len, 601);
    char *s = sbuf_detach(&b);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[600], '>');
    assert_null(b.p);
    free(s);
}

static void test_str_numbers_and_bools(void **state)
{
    (void)state;
    long v = 0;
    assert_true(str_to_long("42", 0, 100, &v));
    assert_int_equal(v, 42);
    assert_false(str_to_long("101", 0, 100, &v));
    assert_false(str_to_long("4x", 0, 100, &v));
    assert_false(str_to_long("", 0, 100, &v));
    assert_false(str_to_long(" 4", 0, 100, &v));
    assert_false(str_to_long("99999999999999999999999", 0, 100, &v));
    assert_true(str_to_long("-1", -1, 5, &v));
    assert_int_equal(v, -1);
    bool b = false;
    assert_true(str_to_bool("TRUE", &b) && b);
    assert_true(str_to_bool("off", &b) && !b);
    assert_false(str_to_bool("maybe", &b));
    double d;
    assert_true(str_to_double("2.5", &d));
    assert_true(d == 2.5);
    assert_false(str_to_double("nan", &d));
}

static void test_str_percent_decode(void **state)
{
    (void)state;
    char *out = NULL;
    assert_true(str_percent_decode("p%40ss%2Fw", 10, &out));
    assert_string_equal(out, "p@ss/w");
    free(out);
    assert_false(str_percent_decode("bad%4", 5, &out));
    assert_false(str_percent_decode("bad%zz", 6, &out));
    assert_false(str_percent_decode("%", 1, &out));
}

static void test_str_utf8(void **state)
{
    (void)state;
    const char *ok = "h\xC3\xA9llo \xF0\x9F\x98\x80 \xE4\xB8\xAD e\xCC\x81";
    assert_true(str_utf8_valid(ok, strlen(ok)));
    assert_false(str_utf8_valid("\xC0\xAF", 2));         /* overlong */
    assert_false(str_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(str_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(str_utf8_valid("\xE4\xB8", 2));         /* truncated */
    assert_false(str_utf8_valid("\xFF", 1));
    /* a string snprintf cut inside a character goes back to its last whole one */
    char cut[] = "ab\xF0\x9F\x98", whole[] = "ab\xF0\x9F\x98\x80", one[] = "\xE4";
    assert_int_equal(str_utf8_cut(cut), 2);
    assert_string_equal(cut, "ab");
    assert_int_equal(str_utf8_cut(whole), 6);
    assert_int_equal(str_utf8_cut(one), 0);
    char *t = xstrdup("  spaced \n");
    assert_string_equal(str_trim(t), "spaced");
    free(t);
    assert_true(str_eq_ci("SQLite", "sqlite"));
    assert_true(str_eq(NULL, NULL));
    assert_false(str_eq("a", NULL));
}

/* str_hex: lowercase digits, two per byte, NUL-terminated; every byte value. */
static void test_str_hex(void **state)
{
    (void)state;
    char out[2 * 256 + 1];
    memset(out, 'x', sizeof out);
    const unsigned char some[] = {0x00, 0x0f, 0xa5, 0xff};
    assert_ptr_equal(str_hex(some, sizeof some, out), out);
    assert_string_equal(out, "000fa5ff");
    assert_string_equal(str_hex("", 0, out), "");
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    str_hex(all, sizeof all, out);
    assert_int_equal(strlen(out), 512);
    for (int i = 0; i < 256; i++) /* round trip through str_hex_digit */
        assert_int_equal(str_hex_digit(out[2 * i]) << 4 | str_hex_digit(out[2 * i + 1]), i);
}

/* str_list_free frees every string and the array (ASan checks for leaks);
 * str_table_index finds an entry of a static table by its name. */
static void test_str_list_and_table(void **state)
{
    (void)state;
    char **v = xcalloc(3, sizeof *v);
    v[0] = xstrdup("a");
    v[1] = NULL; /* a hole is fine */
    v[2] = xstrdup("c");
    str_list_free(v, 3);
    str_list_free(NULL, 0);

    static const struct {
        const char *name;
        int value;
    } table[] = {{"one", 1}, {"two", 2}, {NULL, 0}, {"three", 3}, {"two", 22}};
    size_t n = sizeof table / sizeof table[0];
    assert_int_equal(str_table_index(table, n, sizeof table[0], "one"), 0);
    assert_int_equal(str_table_index(table, n, sizeof table[0], "two"), 1); /* the first */
    assert_int_equal(str_table_index(table, n, sizeof table[0], "three"), 3);
    assert_int_equal(table[str_table_index(table, n, sizeof table[0], "three")].value, 3);
    assert_int_equal(str_table_index(table, n, sizeof table[0], "TWO"), -1); /* exact */
    assert_int_equal(str_table_index(table, n, sizeof table[0], "four"), -1);
    assert_int_equal(str_table_index(table, n, sizeof table[0], NULL), -1);
    assert_int_equal(str_table_index(table, 1, sizeof table[0], "two"), -1); /* n counts */
}

static utc_us parse_ok(const char *s)
{
    utc_us t = 0;
    err_t e;
    err_code rc = utc_parse(s, &t, &e);
    if (rc != ERR_OK)
        fail_msg("utc_parse(%s): %s", s, e.msg);
    return t;
}

static void test_utc_parse_forms(void **state)
{
    (void)state;
    utc_us base = parse_ok("2026-11-22T10:08:37.123456Z");
    assert_int_equal(base, INT64_C(1795342117123456));
    assert_int_equal(parse_ok("2026-11-22T10:08:37.123456"), base); /* naive = UTC */
    assert_int_equal(parse_ok("2026-11-22 10:08:37.123456+00:00"), base);
    assert_int_equal(parse_ok("2026-11-22T12:08:37.123456+02:00"), base);
    assert_int_equal(parse_ok("2026-11-22T05:38:37.123456-0430"), base);
    assert_int_equal(parse_ok("2026-11-22T10:08:37.123456789Z"), base); /* nanos truncated */
    assert_int_equal(parse_ok("2026-11-22T10:08:37.1Z"), base - 23456);
    assert_int_equal(parse_ok("2026-11-22"), parse_ok("2026-11-22T00:00:00Z"));
    assert_int_equal(parse_ok("2026-11-22T10:08Z"), parse_ok("2026-11-22T10:08:00.000000Z"));
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999999Z"), -1);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"),
                     parse_ok("2024-02-28T00:00:00Z") + INT64_C(86400000000));
}

static void test_utc_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "yesterday",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-22T25:00:00",
                         "2026-11-22T10:61",
                         "2026-11-22T10:08:37.Z",
                         "2026-11-22T10:08:37+25:00",
                         "2026-11-22T10:08:37Zjunk",
                         "2026/11/22"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        utc_us t;
        err_t e;
        if (utc_parse(bad[i], &t, &e) != ERR_INVALID)
            fail_msg("accepted bad time '%s'", bad[i]);
        assert_true(strlen(e.msg) > 10);
    }
}

/* Found by fuzz/fuzz_utc: an offset may move an instant of 0001-01-01 or 9999-12-31
 * outside the years utc_format can write back in a parseable form. Such instants are out
 * of range; the first and last instants with an offset still parse and round trip. */
static void test_utc_parse_offset_range(void **state)
{
    (void)state;
    const char *bad[] = {"0001-01-01T00:30:00+01:00", "0001-01-01T00:00+01",
                         "9999-12-31T23:59-0101", "9999-12-31T23:00:00-01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        utc_us t = 42;
        err_t e;
        if (utc_parse(bad[i], &t, &e) != ERR_INVALID)
            fail_msg("accepted '%s', an instant outside the years 0001..9999", bad[i]);
        assert_non_null(strstr(e.msg, "out of range"));
        assert_int_equal(t, 42);
    }
    char buf[UTC_ISO_LEN];
    utc_us first = parse_ok("0001-01-01T01:00:00+01:00");
    utc_us last = parse_ok("9999-12-31T22:59:59.999999-01:00");
    assert_int_equal(first, INT64_C(-62135596800000000));
    assert_int_equal(last, INT64_C(253402300799999999));
    assert_int_equal(parse_ok(utc_format(first, buf)), first);
    assert_int_equal(parse_ok(utc_format(last, buf)), last);
}

static void test_utc_format_round_trip(void **state)
{
    (void)state;
    char buf[UTC_ISO_LEN];
    assert_string_equal(utc_format(INT64_C(1795342117123456), buf), "2026-11-22T10:08:37.123456Z");
    assert_string_equal(utc_format_offset(0, buf), "1970-01-01T00:00:00.000000+00:00");
    assert_string_equal(utc_format(-1, buf), "1969-12-31T23:59:59.999999Z");
    /* every microsecond form survives format -> parse */
    utc_us samples[] = {0,
                        1,
                        999999,
                        INT64_C(951782400000001) /* 2000-02-29 */,
                        INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999 */,
                        INT64_C(-62135596800000000) /* 0001-01-01 */};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        utc_format(samples[i], buf);
        assert_int_equal(parse_ok(buf), samples[i]);
    }
    utc_us now = utc_now();
    assert_int_equal(parse_ok(utc_format(now, buf)), now);
    assert_true(now > INT64_C(1700000000000000));
    int64_t m1 = utc_mono_us(), m2 = utc_mono_us();
    assert_true(m2 >= m1);
}

static void test_utc_civil(void **state)
{
    (void)state;
    utc_civil c;
    utc_to_civil(INT64_C(-14182939876544), &c);
    const utc_civil want = {1969, 7, 20, 20, 17, 40, 123456}; /* 1969-07-20T20:17:40.123456Z */
    assert_memory_equal(&c, &want, sizeof c);
    assert_int_equal(utc_from_civil(&c), INT64_C(-14182939876544));
    utc_us samples[] = {0,
                        -1,
                        INT64_C(951782400000001),
                        INT64_C(253402300799999999),
                        INT64_C(-62135596800000000),
                        utc_now()};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        utc_to_civil(samples[i], &c);
        assert_true(c.month >= 1 && c.month <= 12 && c.day >= 1 && c.day <= 31);
        assert_true(c.hour < 24 && c.minute < 60 && c.second < 60 && c.usec < 1000000);
        assert_int_equal(utc_from_civil(&c), samples[i]);
    }
    /* a condition variable's deadline: ms from now on the clock it waits on (monotonic on
     * Linux, the wall clock in the portable build), nanoseconds normalised */
    int64_t before = PORT_LINUX ? utc_mono_us() : utc_now();
    struct timespec ts;
    utc_cond_deadline(&ts, 1999);
    int64_t at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    assert_true(at >= before + 1999000 && at <= (PORT_LINUX ? utc_mono_us() : utc_now()) + 1999000);
    /* and such a condition variable, never signalled, times out: not before the deadline */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    utc_cond_init(&cv);
    int64_t t0 = utc_mono_us();
    utc_cond_deadline(&ts, 30);
    pthread_mutex_lock(&mu);
    int w;
    while ((w = pthread_cond_timedwait(&cv, &mu, &ts)) == 0) {
    }
    pthread_mutex_unlock(&mu);
    assert_int_equal(w, ETIMEDOUT);
    assert_true(utc_mono_us() - t0 >= 29000);
    pthread_cond_destroy(&cv);
    /* the same on the wall clock, for condition variables with default attributes */
    utc_us wall = utc_now();
    utc_real_deadline(&ts, 2500);
    at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    assert_true(at >= wall + 2500000 && at <= utc_now() + 2500000);
    utc_real_deadline(&ts, 0);
    at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_true(at >= wall && at <= utc_now());
    /* fields are not range-checked: 25 hours is the next day's 01:00 */
    utc_civil over = {1970, 1, 1, 25, 0, 0, 0};
    assert_int_equal(utc_from_civil(&over), INT64_C(90000000000));
}

static void test_hex_digit_and_read_stream(void **state)
{
    (void)state;
    assert_int_equal(str_hex_digit('0'), 0);
    assert_int_equal(str_hex_digit('9'), 9);
    assert_int_equal(str_hex_digit('a'), 10);
    assert_int_equal(str_hex_digit('F'), 15);
    assert_int_equal(str_hex_digit('g'), -1);
    assert_int_equal(str_hex_digit('\xc3'), -1);
    assert_int_equal(str_hex_digit(0), -1);

    char data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, sizeof data, f), sizeof data);
    rewind(f);
    sbuf_t b = SBUF_INIT;
    sbuf_puts(&b, ">"); /* appends to what the buffer holds */
    assert_int_equal(sbuf_read_stream(&b, f, 1u << 20), 0);
    assert_int_equal(b.len, sizeof data + 1);
    assert_memory_equal(b.p + 1, data, sizeof data);
    /* a limit: reading stops soon after it is passed, and the caller can tell */
    rewind(f);
    sbuf_reset(&b);
    assert_int_equal(sbuf_read_stream(&b, f, 100), 0);
    assert_true(b.len > 100 && b.len < sizeof data);
    sbuf_free(&b);
    fclose(f);
    /* a read error comes back as an errno */
    f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_not_equal(sbuf_read_stream(&b, f, 100), 0);
    fclose(f);
    sbuf_free(&b);
}

static void test_ids(void **state)
{
    (void)state;
    char a[IDS_SESSION_LEN], b[IDS_SESSION_LEN];
    ids_session(a);
    ids_session(b);
    assert_true(ids_is_session(a));
    assert_int_equal(strlen(a), 24);
    assert_string_not_equal(a, b);
    assert_false(ids_is_session("session_XYZ"));
    assert_false(ids_is_session("session_0123456789abcdeF"));
    char u[IDS_UUID_LEN];
    ids_uuid4(u);
    assert_true(ids_is_uuid(u));
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
    assert_false(ids_is_uuid("not-a-uuid"));
    /* 1000 ids, no collision among them */
    enum {
        N = 1000
    };
    static char many[N][IDS_UUID_LEN];
    for (int i = 0; i < N; i++)
        ids_uuid4(many[i]);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(many[i], many[j]);
}

static void test_err_and_log(void **state)
{
    (void)state;
    err_t e;
    assert_int_equal(err_set(&e, ERR_BUSY, "database %s", "busy"), ERR_BUSY);
    err_prefix(&e, "add_message");
    assert_string_equal(e.msg, "add_message: database busy");
    assert_true(err_retryable(ERR_BUSY));
    assert_true(err_retryable(ERR_CONN));
    assert_false(err_retryable(ERR_UNIQUE));
    assert_false(err_retryable(ERR_SYNTAX));
    assert_string_equal(err_code_name(ERR_UNIQUE), "unique");
    assert_int_equal(err_set(NULL, ERR_IO, "x"), ERR_IO);
    log_level l;
    assert_true(log_parse_level("WARNING", &l) && l == LOG_WARN);
    assert_true(log_parse_level("critical", &l) && l == LOG_ERROR);
    assert_false(log_parse_level("verbose", &l));
    log_set_level(LOG_ERROR);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    log_set_level(LOG_INFO);
}

/* Runs fn with stderr going to a file; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    sbuf_t b = SBUF_INIT;
    rewind(tmp);
    assert_int_equal(sbuf_read_stream(&b, tmp, 1 << 20), 0);
    fclose(tmp);
    return sbuf_detach(&b);
}

static void log_samples(void)
{
    char big[3000];
    for (size_t i = 0; i < sizeof big - 1; i++) /* quotes, backslashes, a tab, cut UTF-8 */
        big[i] = "\"\\\t\xc3x"[i % 5];
    big[sizeof big - 1] = '\0';
    log_field f[] = {{"tool", "add_message"}, {"agent", "a \"b\"\n"}, {"skip", NULL}};
    log_fields(LOG_INFO, "call", f, 3, "tool call");
    log_msg(LOG_WARN, "http", "%s", big);
    log_fields(LOG_INFO, "call", f, 2, "%s", big); /* the fields do not fit: still JSON */
    log_msg(LOG_DEBUG, "x", "below the level: not written");
}

static void test_log_lines(void **state)
{
    (void)state;
    log_set_format(LOG_FMT_JSON);
    char *out = capture_stderr(log_samples);
    log_set_format(LOG_FMT_TEXT);
    /* JSON: one valid object a line, the fields as keys, long records cut but whole */
    size_t lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        assert_non_null(j);
        assert_true(strlen(line) < 2048);
        assert_non_null(json_string_value(json_object_get(j, "ts")));
        if (lines == 0) {
            assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
            assert_string_equal(json_string_value(json_object_get(j, "module")), "call");
            assert_string_equal(json_string_value(json_object_get(j, "msg")), "tool call");
            assert_string_equal(json_string_value(json_object_get(j, "tool")), "add_message");
            assert_string_equal(json_string_value(json_object_get(j, "agent")), "a \"b\"\n");
            assert_null(json_object_get(j, "skip"));
        } else {
            const char *msg = json_string_value(json_object_get(j, "msg"));
            assert_non_null(msg);
            assert_true(strncmp(msg, "\"\\\t\xef\xbf\xbdx\"", 7) == 0); /* bad byte: U+FFFD */
            assert_true(strlen(msg) > 400);
        }
        json_decref(j);
    }
    assert_int_equal(lines, 3);
    free(out);
    /* text: key=value after the message, a value with blanks or quotes quoted, one line */
    out = capture_stderr(log_samples);
    assert_non_null(strstr(out, "INFO  call: tool call tool=add_message agent=\"a \"b\" \"\n"));
    size_t nl = 0;
    for (const char *p = out; *p; p++)
        nl += *p == '\n';
    assert_int_equal(nl, 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sbuf_grows_and_detaches),
        cmocka_unit_test(test_str_numbers_and_bools),
        cmocka_unit_test(test_str_percent_decode),
        cmocka_unit_test(test_str_utf8),
        cmocka_unit_test(test_str_hex),
        cmocka_unit_test(test_str_list_and_table),
        cmocka_unit_test(test_utc_parse_forms),
        cmocka_unit_test(test_utc_parse_rejects),
        cmocka_unit_test(test_utc_parse_offset_range),
        cmocka_unit_test(test_utc_format_round_trip),
        cmocka_unit_test(test_utc_civil),
        cmocka_unit_test(test_hex_digit_and_read_stream),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_err_and_log),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
