/* db/sqltok.h — a small lexical scanner for SQL text: count `?` placeholders,
 * rewrite `?` to `$1..$n` (PostgreSQL), split a script into statements on `;`,
 * and tell whether text is only whitespace/comments. It skips, and never looks
 * inside: '...' strings ('' escapes), E'...' strings (backslash escapes), "..."
 * and `...` identifiers, -- line comments, / * * / block comments (nested, as in
 * PostgreSQL), and $$...$$ / $tag$...$tag$ bodies. CREATE TRIGGER bodies
 * (BEGIN ... END, with CASE ... END inside) are kept whole by the splitter.
 * Must not: parse SQL grammar, allocate except where it returns a new string,
 * or treat the PostgreSQL jsonb operators `?|`, `?&` specially (ctxd's SQL
 * does not use them: write jsonb_exists_any() instead). */
#ifndef CTXD_DB_SQLTOK_H
#define CTXD_DB_SQLTOK_H

#include <stdbool.h>
#include <stddef.h>

/* Number of `?` placeholders outside strings, identifiers, comments, bodies. */
int sqltok_count_params(const char *sql);

/* A new string (caller frees) with each placeholder `?` replaced by `$1`,
 * `$2`, ... in order; *nparams (if not NULL) gets the count. */
char *sqltok_rewrite_dollar(const char *sql, int *nparams);

/* Statement splitter. Iterates the statements of a script: on each call finds
 * the next statement that is not only whitespace/comments, starting at *pos,
 * and returns true with [*start, *start + *len) spanning it (trimmed, without
 * the terminating `;`); *pos advances past it. Returns false at the end.
 *     size_t pos = 0, st, n;
 *     while (sqltok_next_stmt(script, &pos, &st, &n)) run(script + st, n);   */
bool sqltok_next_stmt(const char *sql, size_t *pos, size_t *start, size_t *len);

/* Number of statements sqltok_next_stmt would return. */
size_t sqltok_count_stmts(const char *sql);

/* True when s[0..n) holds only whitespace and comments (or nothing). */
bool sqltok_is_blank(const char *s, size_t n);

#endif
