/* base/utc.h — time as int64 microseconds since the Unix epoch, UTC only, and
 * ISO-8601 parse/format. Naive inputs are UTC; offsets and `Z` are honoured.
 * Must not: use the local time zone or locale. */
#ifndef CTXD_BASE_UTC_H
#define CTXD_BASE_UTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>
#include "base/err.h"

typedef int64_t utc_us; /* microseconds since 1970-01-01T00:00:00Z */

#define UTC_ISO_LEN 40 /* buffer size enough for any formatted value */

utc_us utc_now(void);      /* CLOCK_REALTIME */
int64_t utc_mono_us(void); /* CLOCK_MONOTONIC, for durations and deadlines */
/* A condition variable whose timed waits take utc_cond_deadline() deadlines, and such
 * a deadline ms milliseconds from now: on CLOCK_MONOTONIC (a change of the wall clock
 * neither stretches nor cuts the wait) where the platform lets a condition variable
 * wait on it, as Linux does; on CLOCK_REALTIME elsewhere (macOS: base/port.h). */
void utc_cond_init(pthread_cond_t *cv);
void utc_cond_deadline(struct timespec *ts, int64_t ms);
/* The same on CLOCK_REALTIME, the clock of a condition variable initialised
 * with default attributes. */
void utc_real_deadline(struct timespec *ts, int64_t ms);

/* An instant as calendar fields (proleptic Gregorian, UTC), and back. */
typedef struct utc_civil {
    int64_t year;
    unsigned month, day;           /* 1..12, 1..31 */
    unsigned hour, minute, second; /* 0..23, 0..59, 0..59 */
    unsigned usec;                 /* 0..999999 */
} utc_civil;
void utc_to_civil(utc_us t, utc_civil *out);
/* Fields are not range-checked: hour 25 is the next day's 01:00. */
utc_us utc_from_civil(const utc_civil *c);

/* "2026-11-22T10:08:37.123456Z" (always 6 fraction digits, always Z). Returns out. */
char *utc_format(utc_us t, char out[UTC_ISO_LEN]);
/* Same instant with "+00:00" instead of "Z" (Python isoformat style). */
char *utc_format_offset(utc_us t, char out[UTC_ISO_LEN]);

/* Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.f{1,9}]] with 'T' or ' ', optional
 * 'Z'/'z' or +HH:MM / -HH:MM / +HHMM / +HH. Fractions beyond 6 digits are
 * truncated. Range years 0001..9999, for the date as written and for the instant
 * in UTC (so utc_format of any result parses again). ERR_INVALID with a message
 * naming the problem otherwise; *out is set only on success. */
err_code utc_parse(const char *s, utc_us *out, err_t *e);

#endif
