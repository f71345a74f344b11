/* base/sbuf.h — growable byte/string buffer and small string helpers.
 * Must not: log, or abort on bad input (allocation failure aborts: ctxd cannot
 * recover from OOM meaningfully, and this keeps every caller simple). */
#ifndef CTXD_BASE_SBUF_H
#define CTXD_BASE_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct sbuf {
    char *p; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} sbuf_t;

#define SBUF_INIT \
    { \
        NULL, 0, 0 \
    }

void sbuf_init(sbuf_t *b);
void sbuf_free(sbuf_t *b);
void sbuf_reset(sbuf_t *b); /* len = 0, keeps memory */
void sbuf_reserve(sbuf_t *b, size_t extra);
void sbuf_append(sbuf_t *b, const void *data, size_t n);
void sbuf_puts(sbuf_t *b, const char *s);
void sbuf_putc(sbuf_t *b, char c);
void sbuf_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sbuf_detach(sbuf_t *b); /* caller frees; b is reset to empty */
/* Appends the rest of f, stopping once b holds more than max bytes (then
 * b->len > max tells the caller the input was too large). 0, or the errno of a
 * read error. */
int sbuf_read_stream(sbuf_t *b, FILE *f, size_t max);
const char *sbuf_cstr(sbuf_t *b); /* "" when empty */

/* Allocation wrappers: abort with a message on OOM. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL -> NULL */
char *xstrndup(const char *s, size_t n);

bool str_eq(const char *a, const char *b);    /* NULL-safe */
bool str_eq_ci(const char *a, const char *b); /* ASCII case-insensitive, NULL-safe */
bool str_starts_with(const char *s, const char *prefix);
bool str_starts_with_ci(const char *s, const char *prefix);
char *str_trim(char *s); /* in place, returns s advanced */
/* Parses a whole decimal integer in [min,max]; false on junk, overflow or range. */
bool str_to_long(const char *s, long min, long max, long *out);
bool str_to_double(const char *s, double *out);
/* "1","true","yes","on" / "0","false","no","off" (case-insensitive). */
bool str_to_bool(const char *s, bool *out);
/* The value of a hexadecimal digit (either case), -1 for any other character. */
int str_hex_digit(int c);
/* Writes the n bytes at p as 2n lowercase hexadecimal digits and a NUL into out
 * (2n + 1 bytes); returns out. */
char *str_hex(const void *p, size_t n, char *out);
/* Percent-decodes s[0..n) into a new string; false on a malformed escape. */
bool str_percent_decode(const char *s, size_t n, char **out);
/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool str_utf8_valid(const char *s, size_t n);
/* Cuts the NUL-terminated s, valid UTF-8 but maybe truncated by snprintf inside a
 * character, back to its last whole character; returns its length. */
size_t str_utf8_cut(char *s);

/* Frees the n strings of v, then v (NULL is fine). */
void str_list_free(char **v, size_t n);
/* The index of the entry named `name` (exactly) in a table of n structs stride
 * bytes apart, each starting with its `const char *` name; -1 when no entry has
 * it, or name is NULL. E.g. str_table_index(t, sizeof t / sizeof t[0], sizeof t[0], n). */
int str_table_index(const void *table, size_t n, size_t stride, const char *name);

#endif
