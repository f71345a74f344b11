/* tests/support/test_support.h — small helpers shared by every test program:
 * private temporary directories (under $CTXD_TEST_TMP, else $TMPDIR, else /tmp),
 * recursive removal, path joining, and reading a whole pipe/fd. Failures abort
 * the test with a message (a test cannot continue without its scratch space).
 * Must not: know about ctxd modules (stores, databases, MCP) — keep it generic. */
#ifndef CTXD_TEST_SUPPORT_H
#define CTXD_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* In a cmocka test: fails the test unless `x` (an expression returning err_code
 * and filling the err_t `err`) is ERR_OK, printing the expression, the code and
 * err's message. Files define OK(x) as TS_OK(<their err_t>, x). */
#define TS_OK(err, x) \
    do { \
        err_clear(&(err)); \
        err_code rc_ = (x); \
        if (rc_ != ERR_OK) \
            fail_msg("%s -> %s: %s", #x, err_code_name(rc_), (err).msg); \
    } while (0)

/* The root for scratch files: $CTXD_TEST_TMP (created if missing), else $TMPDIR,
 * else /tmp. Static string. */
const char *ts_tmp_root(void);
/* A new, empty, private directory "<root>/<tag>-XXXXXX" (mkdtemp). Caller frees
 * the path (and removes the directory with ts_rm_rf). */
char *ts_mkdtemp(const char *tag);
/* mkdir -p; 0 or -1 with errno. */
int ts_mkdir_p(const char *path);
/* rm -rf (does not follow symlinks); 0, or -1 if something could not be removed.
 * A missing path is success. */
int ts_rm_rf(const char *path);
/* "<dir>/<name>", newly allocated. */
char *ts_path(const char *dir, const char *name);
/* printf into a new string (aborts on failure). */
char *ts_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads exactly n bytes unless EOF comes first; returns bytes read, -1 on error.
 * Retries on EINTR. */
ssize_t ts_read_full(int fd, void *buf, size_t n);
/* Writes all n bytes; 0 or -1. Retries on EINTR. */
int ts_write_full(int fd, const void *buf, size_t n);

/* A value published by a test server fixture (tests/servers/server.sh):
 * the environment variable `var` if set, else the line `var=...` of
 * $CTXD_TEST_SERVERS/<server>.env. NULL when neither exists (the fixture did not
 * run: such a test should fail, not skip). Caller frees. */
char *ts_server_var(const char *server, const char *var);

#endif
