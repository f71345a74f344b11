/* tests/http/http_client.c — see http_client.h: a minimal blocking HTTP/1.1 client for
 * loopback tests.
 * Must not: hide protocol errors (every malformed response makes a call fail). */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

bool hc_connect(hc_conn *c, uint16_t port)
{
    return hc_connect_from(c, port, NULL);
}

bool hc_connect_from(hc_conn *c, uint16_t port, const char *local)
{
    memset(c, 0, sizeof *c);
    c->port = port;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return false;
    if (local) {
        struct sockaddr_in l = {0};
        l.sin_family = AF_INET;
        if (inet_pton(AF_INET, local, &l.sin_addr) != 1 ||
            bind(c->fd, (struct sockaddr *)&l, sizeof l) != 0) {
            close(c->fd);
            c->fd = -1;
            return false;
        }
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
}

void hc_close(hc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

bool hc_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

bool hc_send(hc_conn *c, const char *method, const char *path, const char *headers,
             const char *body, size_t len)
{
    char head[4096];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost\r\n%s", method, path,
                     headers ? headers : "");
    if (body)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (!hc_write_all(c->fd, head, (size_t)n))
        return false;
    return !body || hc_write_all(c->fd, body, len);
}

/* Ensures at least `need` bytes are buffered; false on EOF/error. */
static bool fill(hc_conn *c, size_t need)
{
    while (c->len < need) {
        if (c->cap - c->len < 4096) {
            c->cap = c->cap * 2 + 8192;
            c->buf = realloc(c->buf, c->cap);
        }
        ssize_t k = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        c->len += (size_t)k;
    }
    return true;
}

static void consume(hc_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads up to and including `delim`; returns malloc'd text without delim. */
static char *read_until(hc_conn *c, const char *delim)
{
    size_t dl = strlen(delim);
    for (;;) {
        if (c->len >= dl) {
            for (size_t i = 0; i + dl <= c->len; i++)
                if (memcmp(c->buf + i, delim, dl) == 0) {
                    char *s = strndup(c->buf, i);
                    consume(c, i + dl);
                    return s;
                }
        }
        if (!fill(c, c->len + 1))
            return NULL;
    }
}

char *hc_header(const hc_resp *r, const char *name)
{
    size_t nl = strlen(name);
    const char *p = r->head;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(p + ll - v));
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

bool hc_read_head(hc_conn *c, hc_resp *r)
{
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    r->head = read_until(c, "\r\n\r\n");
    if (!r->head || sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return false;
    char *te = hc_header(r, "Transfer-Encoding");
    r->chunked = te && strcasecmp(te, "chunked") == 0;
    free(te);
    char *cl = hc_header(r, "Content-Length");
    if (cl)
        r->content_length = atol(cl);
    free(cl);
    return true;
}

static void body_append(hc_resp *r, const char *p, size_t n)
{
    r->body = realloc(r->body, r->body_len + n + 1);
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

/* Reads one chunk into r->body; false on error. Sets eof at the last chunk. */
static bool read_chunk(hc_conn *c, hc_resp *r)
{
    char *line = read_until(c, "\r\n");
    if (!line)
        return false;
    size_t n = strtoul(line, NULL, 16);
    free(line);
    if (n == 0) {
        char *trailer;
        while ((trailer = read_until(c, "\r\n")) && trailer[0])
            free(trailer);
        free(trailer);
        r->eof = true;
        return true;
    }
    if (!fill(c, n + 2))
        return false;
    body_append(r, c->buf, n);
    consume(c, n + 2);
    return true;
}

bool hc_read_body(hc_conn *c, hc_resp *r)
{
    if (!r->body)
        body_append(r, "", 0);
    if (r->chunked) {
        while (!r->eof)
            if (!read_chunk(c, r))
                return false;
        return true;
    }
    if (r->content_length < 0)
        return true; /* e.g. 202 without a length: nothing */
    if (!fill(c, (size_t)r->content_length))
        return false;
    body_append(r, c->buf, (size_t)r->content_length);
    consume(c, (size_t)r->content_length);
    return true;
}

bool hc_next_event(hc_conn *c, hc_resp *r, char **id, char **data)
{
    *id = *data = NULL;
    for (;;) {
        char *end = r->body ? strstr(r->body, "\n\n") : NULL;
        if (end) {
            size_t evlen = (size_t)(end - r->body);
            char *ev = strndup(r->body, evlen);
            memmove(r->body, end + 2, r->body_len - evlen - 2 + 1);
            r->body_len -= evlen + 2;
            for (char *line = strtok(ev, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "id:", 3) == 0)
                    *id = strdup(line[3] == ' ' ? line + 4 : line + 3);
                else if (strncmp(line, "data:", 5) == 0)
                    *data = strdup(line[5] == ' ' ? line + 6 : line + 5);
            }
            free(ev);
            return true;
        }
        if (r->eof || !read_chunk(c, r))
            return false;
    }
}

void hc_resp_free(hc_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int hc_request(hc_conn *c, const char *method, const char *path, const char *headers,
               const char *body, hc_resp *r)
{
    if (!hc_send(c, method, path, headers, body, body ? strlen(body) : 0) || !hc_read_head(c, r) ||
        !hc_read_body(c, r))
        return -1;
    char *conn = hc_header(r, "Connection");
    if (conn && strcasecmp(conn, "close") == 0) {
        uint16_t port = c->port;
        hc_close(c);
        hc_connect(c, port);
    }
    free(conn);
    return r->status;
}
