/* fuzz/fuzz_http_checks.c — libFuzzer harness for the header checks of the MCP endpoint
 * (src/http/checks.c), called directly without a server or socket: Host and Origin
 * against DNS rebinding, Accept, Content-Type. An input is up to four lines: Host,
 * Origin, Accept, Content-Type (a missing line is an absent header). The transport under
 * test allows the built-in loopback names and the extra host "ctxd.example".
 * Properties: an accepted Host is a loopback name or the extra host, any letter case,
 * with nothing after it but ":" and digits; an Origin "<scheme>://<host>" is accepted
 * exactly when that Host is; any Accept list followed by ", application/json" accepts
 * JSON; an accepted Content-Type starts with "application/json".
 * Must not: start a server or open a socket. */
#include "fuzz.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "base/sbuf.h"
#include "http/http_internal.h"

static char *g_hosts[] = {"ctxd.example", NULL};

/* Lines of the input: fields[i] is a copy of line i, or NULL when there is none. */
static void split(const char *s, char *fields[4])
{
    for (int i = 0; i < 4; i++) {
        fields[i] = NULL;
        if (!s)
            continue;
        const char *nl = strchr(s, '\n');
        fields[i] = nl ? strndup(s, (size_t)(nl - s)) : strdup(s);
        s = nl ? nl + 1 : NULL;
    }
}

static bool name_ok(const char *h, size_t n)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]", "ctxd.example"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncasecmp(h, names[i], n) == 0)
            return true;
    return false;
}

/* The rule of docs/mcp-interface.md: a known name, then nothing or ":" and digits. */
static bool host_rule(const char *h)
{
    size_t n;
    if (h[0] == '[') {
        const char *rb = strchr(h, ']');
        if (!rb)
            return false;
        n = (size_t)(rb - h) + 1;
    } else {
        n = strcspn(h, ":");
    }
    if (!name_ok(h, n))
        return false;
    if (h[n] == '\0')
        return true;
    if (h[n] != ':')
        return false;
    for (const char *p = h + n + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    if (!s)
        return -1;
    static struct mcp_http h; /* only its options and host list are read */
    h.hosts = g_hosts;
    char *f[4];
    split(s, f);
    const char *host = f[0], *origin = f[1], *accept = f[2], *ctype = f[3];

    bool host_ok = http_host_allowed(&h, host);
    if (host) {
        FZ_CHECK(host_ok == host_rule(host), "Host '%s': %s by the transport", host,
                 host_ok ? "allowed" : "refused");
        if (!strpbrk(host, "/?#")) {
            sbuf_t b = SBUF_INIT;
            sbuf_printf(&b, "http://%s", host);
            FZ_CHECK(http_origin_allowed(&h, sbuf_cstr(&b)) == host_ok,
                     "Origin '%s' and Host '%s' disagree", sbuf_cstr(&b), host);
            sbuf_free(&b);
        }
    } else {
        FZ_CHECK(host_ok, "a request without Host is refused");
    }
    (void)http_origin_allowed(&h, origin);
    bool json = http_accepts(accept, "application/json");
    (void)http_accepts(accept, "text/event-stream");
    if (accept) {
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%s, application/json", accept);
        FZ_CHECK(http_accepts(sbuf_cstr(&b), "application/json"), "'%s' does not accept JSON",
                 sbuf_cstr(&b));
        sbuf_free(&b);
    } else {
        FZ_CHECK(!json, "no Accept header accepts JSON");
    }
    if (http_is_json_content_type(ctype)) {
        const char *c = ctype;
        while (*c == ' ')
            c++;
        FZ_CHECK(strncasecmp(c, "application/json", 16) == 0, "Content-Type '%s' taken for JSON",
                 ctype);
    }
    for (int i = 0; i < 4; i++)
        free(f[i]);
    free(s);
    return 0;
}
