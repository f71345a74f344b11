/* tests/support/test_support.c — see test_support.h: scratch directories, rm -rf,
 * paths, full reads/writes. Must not: depend on ctxd modules or on cmocka state
 * (it is usable from helper programs that tests fork/exec). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test_support.h"

static void die(const char *what, const char *path)
{
    fprintf(stderr, "test support: %s %s: %s\n", what, path ? path : "", strerror(errno));
    abort();
}

const char *ts_tmp_root(void)
{
    const char *r = getenv("CTXD_TEST_TMP");
    if (r && *r) {
        if (ts_mkdir_p(r) != 0)
            die("cannot create", r);
        return r;
    }
    r = getenv("TMPDIR");
    return r && *r ? r : "/tmp";
}

char *ts_strf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("out of memory", NULL);
    return s;
}

char *ts_path(const char *dir, const char *name)
{
    return ts_strf("%s/%s", dir, name);
}

char *ts_mkdtemp(const char *tag)
{
    char *tmpl = ts_strf("%s/%s-XXXXXX", ts_tmp_root(), tag ? tag : "test");
    if (!mkdtemp(tmpl))
        die("mkdtemp", tmpl);
    return tmpl;
}

int ts_mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

int ts_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    int rc = 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *child = ts_path(path, de->d_name);
        if (ts_rm_rf(child) != 0)
            rc = -1;
        free(child);
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

ssize_t ts_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int ts_write_full(int fd, const void *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = write(fd, (const char *)buf + put, n - put);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        put += (size_t)r;
    }
    return 0;
}

char *ts_server_var(const char *server, const char *var)
{
    const char *env = getenv(var);
    if (env && *env)
        return strdup(env);
    const char *dir = getenv("CTXD_TEST_SERVERS");
    if (!dir || !*dir)
        return NULL;
    char *path = ts_strf("%s/%s.env", dir, server);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return NULL;
    char line[4096];
    size_t n = strlen(var);
    char *val = NULL;
    while (!val && fgets(line, sizeof line, f)) {
        if (strncmp(line, var, n) != 0 || line[n] != '=')
            continue;
        /* bash printf %q: undo backslash escapes */
        const char *p = line + n + 1;
        val = malloc(strlen(p) + 1);
        size_t j = 0;
        for (; *p && *p != '\n'; p++) {
            if (*p == '\\' && p[1])
                p++;
            val[j++] = *p;
        }
        val[j] = '\0';
    }
    fclose(f);
    return val;
}
