/* tests/mysql/my_support.h — helpers shared by the MariaDB test programs: the
 * fixture server's URL, fresh uniquely named databases made and dropped with
 * Connector/C directly (as an operator would), and one-off admin statements.
 * Must not: go through ctxd's db/ layer (the tests check that layer) or be
 * used outside tests/mysql. */
#ifndef CTXD_TESTS_MY_SUPPORT_H
#define CTXD_TESTS_MY_SUPPORT_H

/* The URL the mariadb fixture published (aborts the test if there is none). */
char *my_fixture_url(void);
/* A new empty database on the server `url` names (utf8mb4); returns the URL
 * pointing at it and sets *name (both caller frees). Aborts on failure. */
char *my_fresh_db(const char *url, char **name);
/* Drops it (errors printed, not fatal). */
void my_drop_db(const char *url, const char *name);
/* Runs one statement on the server of `url` (database `db`, or none); 0 or the
 * MariaDB errno. */
unsigned my_admin(const char *url, const char *db, const char *sql);
/* The URL with its database replaced by `db` (query options kept). */
char *my_url_with_db(const char *url, const char *db);

#endif
