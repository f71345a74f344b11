/* base/ids.c — random identifiers from the kernel's generator (getrandom(2) on Linux,
 * getentropy(3) elsewhere: base/port.h): session ids and UUIDv4.
 * Must not: use a non-cryptographic generator or any seed of our own. */
#include "base/ids.h"
#include "base/sbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/port.h"

/* Up to n bytes of randomness into p: how many, or -1 with errno set. */
static ssize_t random_bytes(unsigned char *p, size_t n)
{
#if PORT_LINUX
    return getrandom(p, n, 0);
#else
    size_t k = n < 256 ? n : 256; /* getentropy's limit per call */
    return getentropy(p, k) == 0 ? (ssize_t)k : -1;
#endif
}

void ids_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = random_bytes(p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "ctxd: reading random bytes failed: %s\n", strerror(errno));
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

char *ids_session(char out[IDS_SESSION_LEN])
{
    unsigned char r[8];
    ids_random(r, sizeof r);
    memcpy(out, "session_", 8);
    str_hex(r, sizeof r, out + 8);
    return out;
}

char *ids_uuid4(char out[IDS_UUID_LEN])
{
    unsigned char r[16];
    ids_random(r, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0F) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3F) | 0x80);
    /* 8-4-4-4-12 hex digits: the groups end after bytes 4, 6, 8, 10 and 16 */
    static const size_t ends[] = {4, 6, 8, 10, 16};
    char *o = out;
    for (size_t g = 0, from = 0; g < sizeof ends / sizeof ends[0]; from = ends[g++]) {
        if (g > 0)
            *o++ = '-';
        str_hex(r + from, ends[g] - from, o);
        o += 2 * (ends[g] - from);
    }
    return out;
}

static bool is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool ids_is_session(const char *s)
{
    if (!s || strncmp(s, "session_", 8) != 0 || strlen(s) != 24)
        return false;
    for (int i = 8; i < 24; i++)
        if (!is_lhex(s[i]))
            return false;
    return true;
}

bool ids_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!is_lhex(c) && !(c >= 'A' && c <= 'F')) {
            return false;
        }
    }
    return true;
}
