/* base/utc.c — UTC microsecond time: clocks, ISO-8601 formatting and parsing.
 * Civil-date arithmetic is done by hand (Howard Hinnant's days_from_civil) so
 * that no call depends on the process time zone, locale or time_t range.
 * Must not: call localtime/mktime or read TZ. */
#include "base/utc.h"
#include "base/port.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: what utc_parse accepts, so that
 * every instant it returns formats as a time it parses again */
#define FIRST_US (INT64_C(-62135596800) * US_PER_SEC)
#define LAST_US (INT64_C(253402300799) * US_PER_SEC + 999999)

static int64_t clock_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

utc_us utc_now(void)
{
    return clock_us(CLOCK_REALTIME);
}

int64_t utc_mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* clock's time ms milliseconds from now, nanoseconds normalised */
static void deadline(clockid_t clock, struct timespec *ts, int64_t ms)
{
    clock_gettime(clock, ts);
    int64_t ns = (int64_t)ts->tv_nsec + ms % 1000 * 1000000;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

void utc_cond_init(pthread_cond_t *cv)
{
#if PORT_LINUX
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
#else
    pthread_cond_init(cv, NULL);
#endif
}

void utc_cond_deadline(struct timespec *ts, int64_t ms)
{
    deadline(PORT_LINUX ? CLOCK_MONOTONIC : CLOCK_REALTIME, ts, ms);
}

void utc_real_deadline(struct timespec *ts, int64_t ms)
{
    deadline(CLOCK_REALTIME, ts, ms);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void utc_to_civil(utc_us t, utc_civil *out)
{
    int64_t days = t / US_PER_DAY;
    int64_t rem = t % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, &out->year, &out->month, &out->day);
    int64_t secs = rem / US_PER_SEC;
    out->hour = (unsigned)(secs / 3600);
    out->minute = (unsigned)(secs / 60 % 60);
    out->second = (unsigned)(secs % 60);
    out->usec = (unsigned)(rem % US_PER_SEC);
}

utc_us utc_from_civil(const utc_civil *c)
{
    int64_t secs = days_from_civil(c->year, c->month, c->day) * 86400 + (int64_t)c->hour * 3600 +
                   (int64_t)c->minute * 60 + c->second;
    return secs * US_PER_SEC + c->usec;
}

static char *format(utc_us t, char out[UTC_ISO_LEN], const char *zone)
{
    utc_civil c;
    utc_to_civil(t, &c);
    snprintf(out, UTC_ISO_LEN, "%04lld-%02u-%02uT%02u:%02u:%02u.%06u%s", (long long)c.year, c.month,
             c.day, c.hour, c.minute, c.second, c.usec, zone);
    return out;
}

char *utc_format(utc_us t, char out[UTC_ISO_LEN])
{
    return format(t, out, "Z");
}

char *utc_format_offset(utc_us t, char out[UTC_ISO_LEN])
{
    return format(t, out, "+00:00");
}

/* Reads exactly n digits at *p into *v. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

err_code utc_parse(const char *s, utc_us *out, err_t *e)
{
    if (!s || !*s)
        return err_set(e, ERR_INVALID,
                       "empty date/time: expected ISO-8601 such as 2026-01-31T12:00:00Z");
    const char *p = s;
    int Y, M, D, h = 0, mi = 0, sec = 0;
    int64_t frac_us = 0;
    int64_t offset_s = 0;
    if (!digits(&p, 4, &Y) || *p++ != '-' || !digits(&p, 2, &M) || *p++ != '-' ||
        !digits(&p, 2, &D))
        goto bad;
    if (Y < 1 || M < 1 || M > 12)
        goto range;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int maxd = mdays[M - 1] + (M == 2 && leap(Y));
    if (D < 1 || D > maxd)
        goto range;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            goto bad;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                goto bad;
            if (*p == '.' || *p == ',') {
                p++;
                int nd = 0;
                int64_t scale = 100000;
                if (!isdigit((unsigned char)*p))
                    goto bad;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 6) {
                        frac_us += (*p - '0') * scale;
                        scale /= 10;
                    }
                    nd++;
                    p++;
                }
                if (nd > 9)
                    goto bad;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            goto range;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            p++;
            int oh, om = 0;
            if (!digits(&p, 2, &oh))
                goto bad;
            if (*p == ':') {
                p++;
                if (!digits(&p, 2, &om))
                    goto bad;
            } else if (isdigit((unsigned char)*p)) {
                if (!digits(&p, 2, &om))
                    goto bad;
            }
            if (oh > 23 || om > 59)
                goto range;
            offset_s = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p != '\0')
        goto bad;
    utc_civil c = {Y, (unsigned)M, (unsigned)D, (unsigned)h, (unsigned)mi, (unsigned)sec, 0};
    utc_us t = utc_from_civil(&c) - (int64_t)offset_s * US_PER_SEC + frac_us;
    if (t < FIRST_US || t > LAST_US)
        return err_set(e, ERR_INVALID,
                       "'%.64s' is out of range (in UTC, after its offset, it is not in the "
                       "years 0001..9999)",
                       s);
    *out = t;
    return ERR_OK;
bad:
    return err_set(e, ERR_INVALID,
                   "'%.64s' is not an ISO-8601 date/time (expected e.g. 2026-01-31T12:00:00Z, "
                   "2026-01-31T12:00:00.123456+02:00 or 2026-01-31)",
                   s);
range:
    return err_set(e, ERR_INVALID, "'%.64s' is out of range (no such date or time of day)", s);
}
