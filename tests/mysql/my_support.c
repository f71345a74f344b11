/* tests/mysql/my_support.c — see my_support.h: fixture URL, fresh databases and
 * admin statements on the MariaDB test server, with Connector/C directly.
 * Must not: go through ctxd's db/ layer, or leave databases behind. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mysql.h>
#include "my_support.h"
#include "test_support.h"
#include "base/ids.h"
#include "base/sbuf.h"
#include "db/url.h"

char *my_fixture_url(void)
{
    char *u = ts_server_var("mariadb", "CTXD_TEST_MYSQL_URL");
    if (!u) {
        fprintf(stderr, "mysql tests: the mariadb fixture published no CTXD_TEST_MYSQL_URL "
                        "(run through ctest, or set CTXD_TEST_MYSQL_URL)\n");
        exit(1);
    }
    return u;
}

char *my_url_with_db(const char *url, const char *db)
{
    const char *q = strchr(url, '?');
    size_t head = q ? (size_t)(q - url) : strlen(url);
    const char *hostpart = strstr(url, "://");
    hostpart = hostpart ? hostpart + 3 : url;
    const char *slash = memchr(hostpart, '/', head - (size_t)(hostpart - url));
    size_t keep = slash ? (size_t)(slash - url) : head;
    return ts_strf("%.*s/%s%s", (int)keep, url, db, q ? q : "");
}

unsigned my_admin(const char *url, const char *db, const char *sql)
{
    db_url *u = NULL;
    err_t e;
    if (db_url_parse(url, &u, &e) != ERR_OK) {
        fprintf(stderr, "mysql tests: %s\n", e.msg);
        exit(1);
    }
    MYSQL *m = mysql_init(NULL);
    unsigned rc = 0;
    if (!mysql_real_connect(m, u->host, u->user, u->password, db,
                            (unsigned)(u->port ? u->port : 3306), NULL, 0)) {
        rc = mysql_errno(m);
        fprintf(stderr, "mysql tests: cannot reach MariaDB: %s\n", mysql_error(m));
    } else if (mysql_query(m, sql) != 0) {
        rc = mysql_errno(m);
    } else {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
    }
    mysql_close(m);
    db_url_free(u);
    return rc;
}

static atomic_int counter;

char *my_fresh_db(const char *url, char **name)
{
    char r[4];
    ids_random(r, sizeof r);
    *name = ts_strf("ctxd_my_%ld_%d_%02x%02x%02x", (long)getpid(), atomic_fetch_add(&counter, 1),
                    (unsigned char)r[0], (unsigned char)r[1], (unsigned char)r[2]);
    char *sql =
        ts_strf("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", *name);
    unsigned rc = my_admin(url, NULL, sql);
    free(sql);
    if (rc != 0) {
        fprintf(stderr, "mysql tests: CREATE DATABASE %s failed (%u)\n", *name, rc);
        exit(1);
    }
    return my_url_with_db(url, *name);
}

void my_drop_db(const char *url, const char *name)
{
    char *sql = ts_strf("DROP DATABASE IF EXISTS %s", name);
    unsigned rc = my_admin(url, NULL, sql);
    if (rc != 0)
        fprintf(stderr, "mysql tests: DROP DATABASE %s failed (%u)\n", name, rc);
    free(sql);
}
