/* tests/cli/test_cli_args.c — the argument reader every command uses (cli/cli_args.c):
 * flags, "--name value" and "--name=value", whole numbers with their range, positional
 * arguments, -h/--help, and the one line printed for each mistake (unknown option,
 * missing or bad value, an argument too many), with the exit code the command returns.
 * Must not: run a command (the CLI shell tests do). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/sbuf.h"
#include "cli/cli.h"

static int g_usage_calls;
static FILE *g_usage_to;

static void usage(FILE *f)
{
    g_usage_calls++;
    g_usage_to = f;
}

/* The options of a command like `copy`. */
typedef struct parsed {
    bool dry, verify;
    const char *from, *to;
    long batch;
    const char *pos[2];
} parsed;

/* Runs cli_parse_args("cmd", the arguments up to NULL) with stderr captured into
 * *err (caller frees). */
static int parse(parsed *p, size_t npos, char **err, ...) __attribute__((sentinel));
static int parse(parsed *p, size_t npos, char **err, ...)
{
    memset(p, 0, sizeof *p);
    const cli_opt opts[] = {
        {.name = "--dry-run", .flag = &p->dry},
        {.name = "--verify", .flag = &p->verify},
        {.name = "--from", .text = &p->from},
        {.name = "--to", .text = &p->to},
        {.name = "--batch", .num = &p->batch, .min = 1, .max = 1000, .what = "a number of rows"},
    };
    char *argv[16] = {"cmd"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    fflush(stderr);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(cap), STDERR_FILENO);
    g_usage_calls = 0;
    int rc =
        cli_parse_args("cmd", argc, argv, opts, sizeof opts / sizeof opts[0], p->pos, npos, usage);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(cap);
    sbuf_t b = SBUF_INIT;
    assert_int_equal(sbuf_read_stream(&b, cap, 4096), 0);
    fclose(cap);
    *err = xstrdup(sbuf_cstr(&b));
    sbuf_free(&b);
    return rc;
}

static void test_values_and_flags(void **state)
{
    (void)state;
    parsed p;
    char *err;
    assert_int_equal(
        parse(&p, 0, &err, "--from", "a", "--to=b", "--dry-run", "--batch", "25", NULL), CLI_RUN);
    assert_string_equal(err, "");
    free(err);
    assert_string_equal(p.from, "a");
    assert_string_equal(p.to, "b");
    assert_true(p.dry);
    assert_false(p.verify);
    assert_int_equal(p.batch, 25);
    /* a value may look like an option or be empty; the last one given wins */
    assert_int_equal(parse(&p, 0, &err, "--from", "-", "--from=", "--batch=1000", NULL), CLI_RUN);
    assert_string_equal(p.from, "");
    assert_int_equal(p.batch, 1000);
    free(err);
    /* nothing at all */
    assert_int_equal(parse(&p, 0, &err, NULL), CLI_RUN);
    assert_null(p.from);
    free(err);
}

static void test_positionals(void **state)
{
    (void)state;
    parsed p;
    char *err;
    assert_int_equal(parse(&p, 2, &err, "one", "--verify", "-", "--to", "x", NULL), CLI_RUN);
    assert_string_equal(p.pos[0], "one");
    assert_string_equal(p.pos[1], "-"); /* "-" alone is an argument (stdin) */
    assert_true(p.verify);
    free(err);
}

/* Each mistake: exit code 2 (CLI_USAGE) and exactly one line naming it. */
static void test_mistakes(void **state)
{
    (void)state;
    static const struct {
        size_t npos;
        const char *a, *b; /* the arguments (b may be NULL) */
        const char *line;
    } cases[] = {
        {1, "one", "two", "cmd: unexpected argument 'two' (see ctxd cmd --help)"},
        {0, "one", NULL, "cmd: unexpected argument 'one' (see ctxd cmd --help)"},
        {0, "--bogus", NULL, "cmd: unknown option '--bogus' (see ctxd cmd --help)"},
        /* a prefix of a known option is not that option; flags take no value */
        {0, "--fro", "x", "cmd: unknown option '--fro' (see ctxd cmd --help)"},
        {0, "--dry-run=yes", NULL, "cmd: unknown option '--dry-run=yes' (see ctxd cmd --help)"},
        {0, "--verify", "--to", "option --to needs a value (see ctxd cmd --help)"},
        {0, "--batch", "0", "cmd: --batch expects a number of rows 1..1000, got '0'"},
        {0, "--batch=12x", NULL, "cmd: --batch expects a number of rows 1..1000, got '12x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p;
        char *err;
        assert_int_equal(parse(&p, cases[i].npos, &err, cases[i].a, cases[i].b, NULL), CLI_USAGE);
        char *want = xmalloc(strlen(cases[i].line) + 8);
        sprintf(want, "ctxd: %s\n", cases[i].line);
        assert_string_equal(err, want);
        free(want);
        free(err);
    }
}

static void test_help(void **state)
{
    (void)state;
    parsed p;
    char *err;
    assert_int_equal(parse(&p, 0, &err, "--verify", "-h", NULL), CLI_OK);
    assert_int_equal(g_usage_calls, 1);
    assert_ptr_equal(g_usage_to, stdout);
    free(err);
    /* help wins over what follows, even a mistake */
    assert_int_equal(parse(&p, 0, &err, "--help", "--bogus", NULL), CLI_OK);
    assert_int_equal(g_usage_calls, 1);
    assert_string_equal(err, "");
    free(err);
}

/* cli_opt_value on its own, as the global options use it. */
static void test_opt_value(void **state)
{
    (void)state;
    char *argv[] = {"ctxd", "--set=A=1", "--settle", "--set", "B=2", "--set"};
    int argc = 6, i = 1;
    bool missing = false;
    assert_string_equal(cli_opt_value(argc, argv, &i, "--set", NULL, &missing), "A=1");
    assert_int_equal(i, 1);
    i = 2;
    assert_null(cli_opt_value(argc, argv, &i, "--set", NULL, &missing));
    assert_false(missing);
    i = 3;
    assert_string_equal(cli_opt_value(argc, argv, &i, "--set", NULL, &missing), "B=2");
    assert_int_equal(i, 4); /* past the value */
    i = 5;
    fflush(stderr);
    FILE *null = fopen("/dev/null", "w");
    int saved = dup(STDERR_FILENO);
    dup2(fileno(null), STDERR_FILENO);
    assert_null(cli_opt_value(argc, argv, &i, "--set", NULL, &missing));
    dup2(saved, STDERR_FILENO);
    close(saved);
    fclose(null);
    assert_true(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_flags), cmocka_unit_test(test_positionals),
        cmocka_unit_test(test_mistakes),         cmocka_unit_test(test_help),
        cmocka_unit_test(test_opt_value),
    };
    return cmocka_run_group_tests_name("cli arguments", tests, NULL, NULL);
}
