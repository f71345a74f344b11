/* fuzz/fuzz_utc.c — libFuzzer harness for ISO-8601 times (base/utc.c): utc_parse on any
 * text, and for what parses the round trip through utc_format / utc_format_offset and the
 * civil-date conversion. An input "#" + 8 bytes is instead an instant (little-endian
 * int64, folded into the years 0001..9999) whose format must parse back to itself.
 * Properties: a parse error is ERR_INVALID with a message and leaves the output as it
 * was; what parses formats as 27 characters that parse back to the same microsecond;
 * utc_to_civil / utc_from_civil are inverse with every field in range.
 * Must not: use the clock or the local time zone. */
#include "fuzz.h"

#include "base/utc.h"

#define SENTINEL INT64_C(-777)
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z */
#define FIRST_US (-INT64_C(62135596800) * 1000000)
#define LAST_US (INT64_C(253402300799) * 1000000 + 999999)

static void check_instant(utc_us t, const char *input)
{
    char out[UTC_ISO_LEN], off[UTC_ISO_LEN];
    utc_format(t, out);
    FZ_CHECK(strlen(out) == 27 && out[26] == 'Z', "%s formats as '%s'", input, out);
    utc_us back = SENTINEL;
    err_t e = {0};
    FZ_CHECK(utc_parse(out, &back, &e) == ERR_OK, "'%s' (from %s) does not parse: %s", out, input,
             e.msg);
    FZ_CHECK(back == t, "'%s' (from %s) parses to %lld, not %lld", out, input, (long long)back,
             (long long)t);
    utc_format_offset(t, off);
    back = SENTINEL;
    FZ_CHECK(utc_parse(off, &back, &e) == ERR_OK && back == t, "'%s' (from %s) does not round trip",
             off, input);

    utc_civil c;
    utc_to_civil(t, &c);
    FZ_CHECK(c.year >= 1 && c.year <= 9999 && c.month >= 1 && c.month <= 12 && c.day >= 1 &&
                 c.day <= 31 && c.hour <= 23 && c.minute <= 59 && c.second <= 59 &&
                 c.usec <= 999999,
             "civil fields of %s out of range", out);
    FZ_CHECK(utc_from_civil(&c) == t, "utc_from_civil(utc_to_civil(%s)) differs", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 9 && data[0] == '#') {
        uint64_t raw = 0;
        for (int i = 8; i >= 1; i--)
            raw = raw << 8 | data[i];
        utc_us t = FIRST_US + (utc_us)(raw % (uint64_t)(LAST_US - FIRST_US + 1));
        check_instant(t, "an instant");
        return 0;
    }
    char *s = fz_cstr(data, size);
    if (!s)
        return -1;
    utc_us t = SENTINEL;
    err_t e = {0};
    err_code rc = utc_parse(s, &t, &e);
    if (rc != ERR_OK) {
        FZ_CHECK(rc == ERR_INVALID && e.code == ERR_INVALID && e.msg[0], "'%s': error %d '%s'", s,
                 (int)rc, e.msg);
        FZ_CHECK(t == SENTINEL, "'%s' failed (%s) but set the output", s, e.msg);
    } else {
        check_instant(t, s);
    }
    free(s);
    return 0;
}
