/* cli/http_get.c — the smallest correct HTTP/1.1 GET client `ctxd status` needs: connect
 * (every address of the host in turn), optionally TLS (OpenSSL, the certificate checked
 * against the trusted ones and the URL's host name or address), send one GET with
 * "Connection: close", read the answer: status line, headers, then a body delimited by
 * Content-Length, chunked encoding or the end of the connection; all within one
 * deadline and a bound on the bytes read.
 * Hand-written because none of the project's libraries is an HTTP client (libmicrohttpd
 * serves only; libcurl would be a new dependency for a single GET of a small JSON
 * document from a known host), and OpenSSL, which the project links already, does the
 * TLS.
 * Must not: follow redirects, send credentials, reuse connections, read without a
 * deadline, or accept an answer larger than the caller's bound. */
#include "cli/http_get.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/sbuf.h"
#include "base/utc.h"

const char *cli_http_fail_name(cli_http_fail f)
{
    static const char *const names[] = {"ok",      "bad_url", "refused", "unreachable",
                                        "timeout", "tls",     "protocol"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "protocol";
}

bool cli_http_url_parse(const char *url, cli_http_url *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    const char *p;
    if (str_starts_with_ci(url, "http://")) {
        p = url + 7;
    } else if (str_starts_with_ci(url, "https://")) {
        out->tls = true;
        p = url + 8;
    } else {
        err_set(e, ERR_INVALID, "'%.200s' is not an http:// or https:// URL", url);
        return false;
    }
    size_t alen = strcspn(p, "/?#");
    const char *host = p, *port = NULL;
    size_t hlen;
    if (memchr(p, '@', alen)) {
        err_set(e, ERR_INVALID, "'%.200s': a user name or password has no place in the URL", url);
        return false;
    }
    if (p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close)
            goto bad;
        host = p + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < p + alen) {
            if (close[1] != ':')
                goto bad;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        goto bad;
    for (size_t i = 0; i < hlen; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr(".-_:%", host[i]))
            goto bad;
    memcpy(out->host, host, hlen);
    out->port = out->tls ? 443 : 80;
    if (port) {
        size_t plen = (size_t)(p + alen - port);
        char digits[8];
        long v;
        if (plen == 0 || plen >= sizeof digits)
            goto bad;
        memcpy(digits, port, plen);
        digits[plen] = '\0';
        if (!str_to_long(digits, 1, 65535, &v))
            goto bad;
        out->port = (unsigned)v;
    }
    return true;
bad:
    err_set(e, ERR_INVALID, "'%.200s' is not a URL of the form http[s]://host[:port]", url);
    return false;
}

void cli_http_response_free(cli_http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* ---- the connection ----------------------------------------------------------------- */

typedef struct conn {
    int fd;
    SSL *ssl;
    int64_t deadline; /* utc_mono_us */
} conn;

/* Waits until fd is ready for `events`; false once the deadline has passed. */
static bool conn_wait(const conn *c, short events)
{
    for (;;) {
        int64_t left = c->deadline - utc_mono_us();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return true; /* the next call on the socket reports the error */
    }
}

/* Connects to one address; 0, or the errno (ETIMEDOUT once the deadline passed). */
static int connect_one(conn *c, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return errno;
    c->fd = fd;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            socklen_t len = sizeof err;
            if (!conn_wait(c, POLLOUT))
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    if (err) {
        close(fd);
        c->fd = -1;
    }
    return err;
}

static cli_http_fail connect_host(conn *c, const cli_http_url *u, err_t *e)
{
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(u->host, port, &hints, &res);
    if (g != 0) {
        err_set(e, ERR_CONN, "cannot resolve %s: %s", u->host, gai_strerror(g));
        return CLI_HTTP_UNREACHABLE;
    }
    int err = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai && c->fd < 0 && err != ETIMEDOUT; ai = ai->ai_next)
        err = connect_one(c, ai);
    freeaddrinfo(res);
    if (c->fd >= 0)
        return CLI_HTTP_OK;
    if (err == ETIMEDOUT) {
        err_set(e, ERR_TIMEOUT, "no connection within the timeout");
        return CLI_HTTP_TIMEOUT;
    }
    err_set(e, ERR_CONN, "%s", err == ECONNREFUSED ? "connection refused" : strerror(err));
    return err == ECONNREFUSED ? CLI_HTTP_REFUSED : CLI_HTTP_UNREACHABLE;
}

/* Waits as an SSL call asked (r: its return value); false with the failure in e. */
static cli_http_fail tls_wait(conn *c, int r, const char *what, err_t *e)
{
    int se = SSL_get_error(c->ssl, r);
    if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
        if (conn_wait(c, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT))
            return CLI_HTTP_OK;
        err_set(e, ERR_TIMEOUT, "no answer within the timeout (%s)", what);
        return CLI_HTTP_TIMEOUT;
    }
    unsigned long oe = ERR_peek_last_error();
    long vr = SSL_get_verify_result(c->ssl);
    if (se == SSL_ERROR_SSL && vr != X509_V_OK) {
        bool name = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH;
        err_set(e, ERR_AUTH, "TLS: certificate verify failed: %s%s",
                X509_verify_cert_error_string(vr),
                name ? " (use --url with a name the certificate holds)"
                     : " (trust its issuer with --cacert FILE)");
    } else if (oe) {
        char buf[256];
        ERR_error_string_n(oe, buf, sizeof buf);
        bool plain = ERR_GET_REASON(oe) == SSL_R_WRONG_VERSION_NUMBER ||
                     ERR_GET_REASON(oe) == SSL_R_PACKET_LENGTH_TOO_LONG;
        err_set(e, ERR_AUTH, "TLS %s failed: %s%s", what, buf,
                plain ? " (does the server speak plain HTTP? try an http:// URL)" : "");
    } else {
        err_set(e, ERR_AUTH, "TLS %s failed: the server closed the connection", what);
    }
    ERR_clear_error();
    return CLI_HTTP_TLS;
}

static cli_http_fail tls_start(conn *c, SSL_CTX **ctxp, const cli_http_url *u,
                               const cli_http_get_opts *o, err_t *e)
{
    SSL_CTX *ctx = *ctxp = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_default_verify_paths(ctx)) {
        err_set(e, ERR_FATAL, "TLS: cannot set up OpenSSL");
        return CLI_HTTP_TLS;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o->cacert) {
        if (!SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)) {
            ERR_clear_error();
            err_set(e, ERR_INVALID, "TLS: cannot read certificates from '%.200s'", o->cacert);
            return CLI_HTTP_TLS;
        }
        /* a certificate of the file is an anchor even when not self-issued */
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    }
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
        err_set(e, ERR_FATAL, "TLS: cannot set up OpenSSL");
        return CLI_HTTP_TLS;
    }
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (!X509_VERIFY_PARAM_set1_ip_asc(vp, u->host)) { /* not an address: a name */
        SSL_set_tlsext_host_name(c->ssl, u->host);
        SSL_set1_host(c->ssl, u->host);
    }
    ERR_clear_error();
    for (int r; (r = SSL_connect(c->ssl)) != 1;) {
        cli_http_fail f = tls_wait(c, r, "handshake", e);
        if (f != CLI_HTTP_OK)
            return f;
    }
    return CLI_HTTP_OK;
}

/* One transfer of up to n bytes (writing: from buf, else into it), waiting as the socket
 * or TLS asks: *done bytes moved, 0 only at the end of the stream (reading). */
static cli_http_fail conn_io(conn *c, bool writing, void *buf, size_t n, size_t *done, err_t *e)
{
    const char *what = writing ? "sending" : "reading";
    for (;;) {
        *done = 0;
        if (c->ssl) {
            int r =
                writing ? SSL_write_ex(c->ssl, buf, n, done) : SSL_read_ex(c->ssl, buf, n, done);
            if (r == 1 || SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
                return CLI_HTTP_OK;
            cli_http_fail f = tls_wait(c, r, what, e);
            if (f != CLI_HTTP_OK)
                return f;
            continue;
        }
        ssize_t k = writing ? send(c->fd, buf, n, MSG_NOSIGNAL) : recv(c->fd, buf, n, 0);
        if (k >= 0) {
            *done = (size_t)k;
            return CLI_HTTP_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            err_set(e, ERR_CONN, "%s: %s", what, strerror(errno));
            return CLI_HTTP_UNREACHABLE;
        }
        if (!conn_wait(c, writing ? POLLOUT : POLLIN)) {
            err_set(e, ERR_TIMEOUT, "no answer within the timeout (%s)", what);
            return CLI_HTTP_TIMEOUT;
        }
    }
}

/* ---- the answer --------------------------------------------------------------------- */

typedef enum parse_state {
    PARSE_MORE, /* incomplete so far */
    PARSE_DONE,
    PARSE_BAD
} parse_state;

/* Undoes chunked encoding of p[0..n) into out; PARSE_MORE until the last chunk. */
static parse_state dechunk(const char *p, size_t n, sbuf_t *out, err_t *e)
{
    size_t i = 0;
    sbuf_reset(out);
    for (;;) {
        const char *eol = memchr(p + i, '\n', n - i);
        if (!eol)
            return PARSE_MORE;
        size_t size = 0, digits = 0;
        for (int d; (d = str_hex_digit((unsigned char)p[i])) >= 0; i++, digits++) {
            if (size > (SIZE_MAX >> 4)) {
                err_set(e, ERR_FATAL, "a chunk size too large");
                return PARSE_BAD;
            }
            size = size << 4 | (size_t)d;
        }
        if (digits == 0) {
            err_set(e, ERR_FATAL, "a malformed chunk");
            return PARSE_BAD;
        }
        i = (size_t)(eol - p) + 1; /* extensions after ';' are ignored */
        if (size == 0)
            return PARSE_DONE; /* trailers ignored: the connection closes */
        if (n - i < size + 2)
            return PARSE_MORE;
        sbuf_append(out, p + i, size);
        i += size;
        if (p[i] == '\r')
            i++;
        if (p[i] != '\n') {
            err_set(e, ERR_FATAL, "a malformed chunk");
            return PARSE_BAD;
        }
        i++;
    }
}

/* The answer in b so far (eof: the connection ended): PARSE_DONE with r filled. */
static parse_state parse_answer(const sbuf_t *b, bool eof, cli_http_response *r, err_t *e)
{
    const char *p = b->p ? b->p : "";
    const char *end = strstr(p, "\r\n\r\n");
    if (!end) {
        if (eof) {
            err_set(e, ERR_FATAL,
                    b->len ? "not an HTTP answer"
                           : "the server closed the connection without an answer");
            return PARSE_BAD;
        }
        return PARSE_MORE;
    }
    int status = 0;
    if (sscanf(p, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100 || status > 599) {
        err_set(e, ERR_FATAL, "not an HTTP answer");
        return PARSE_BAD;
    }
    bool chunked = false;
    long long clen = -1;
    for (const char *l = strstr(p, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        if (str_starts_with_ci(l, "content-length:"))
            clen = strtoll(l + 15, NULL, 10);
        else if (str_starts_with_ci(l, "transfer-encoding:"))
            chunked = strncasecmp(l + 18 + strspn(l + 18, " \t"), "chunked", 7) == 0;
    }
    const char *body = end + 4;
    size_t have = b->len - (size_t)(body - p);
    sbuf_t out = SBUF_INIT;
    parse_state s;
    if (chunked) {
        s = dechunk(body, have, &out, e);
    } else if (clen >= 0) {
        s = have >= (unsigned long long)clen ? PARSE_DONE : PARSE_MORE;
        if (s == PARSE_DONE)
            sbuf_append(&out, body, (size_t)clen);
    } else {
        s = eof ? PARSE_DONE : PARSE_MORE;
        if (s == PARSE_DONE)
            sbuf_append(&out, body, have);
    }
    if (s == PARSE_MORE && eof) {
        err_set(e, ERR_FATAL, "the answer was cut short");
        s = PARSE_BAD;
    }
    if (s != PARSE_DONE) {
        sbuf_free(&out);
        return s;
    }
    r->status = status;
    r->len = out.len;
    r->body = out.len ? sbuf_detach(&out) : xstrdup("");
    return PARSE_DONE;
}

cli_http_fail cli_http_get(const cli_http_url *u, const char *path, const cli_http_get_opts *o,
                           cli_http_response *r, err_t *e)
{
    memset(r, 0, sizeof *r);
    conn c = {.fd = -1, .deadline = utc_mono_us() + (int64_t)o->timeout_ms * 1000};
    SSL_CTX *ctx = NULL;
    sbuf_t req = SBUF_INIT, in = SBUF_INIT;
    cli_http_fail f = connect_host(&c, u, e);
    if (f == CLI_HTTP_OK && u->tls)
        f = tls_start(&c, &ctx, u, o, e);
    if (f == CLI_HTTP_OK) {
        bool v6 = strchr(u->host, ':') != NULL;
        sbuf_printf(&req,
                    "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: ctxd/" CTXD_VERSION
                    "\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
                    path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
        for (size_t off = 0, k = 0; f == CLI_HTTP_OK && off < req.len; off += k) {
            f = conn_io(&c, true, req.p + off, req.len - off, &k, e);
            if (f == CLI_HTTP_OK && k == 0) {
                err_set(e, ERR_CONN, "sending: the connection closed");
                f = CLI_HTTP_UNREACHABLE;
            }
        }
    }
    while (f == CLI_HTTP_OK) {
        char buf[4096];
        size_t k = 0;
        f = conn_io(&c, false, buf, sizeof buf, &k, e);
        if (f != CLI_HTTP_OK)
            break;
        sbuf_append(&in, buf, k);
        bool eof = k == 0;
        if (in.len > o->max_bytes) {
            err_set(e, ERR_FATAL, "an answer larger than %zu bytes", o->max_bytes);
            f = CLI_HTTP_PROTOCOL;
            break;
        }
        parse_state s = parse_answer(&in, eof, r, e);
        if (s == PARSE_DONE)
            break;
        if (s == PARSE_BAD)
            f = CLI_HTTP_PROTOCOL;
    }
    if (f == CLI_HTTP_PROTOCOL && !u->tls && in.len == 0)
        err_set(e, ERR_FATAL,
                "the server closed the connection without an answer (does it speak "
                "HTTPS? try an https:// URL)");
    if (c.ssl) {
        if (f == CLI_HTTP_OK)
            SSL_shutdown(c.ssl); /* one close_notify, not waiting for the peer's */
        SSL_free(c.ssl);
    }
    SSL_CTX_free(ctx);
    ERR_clear_error();
    if (c.fd >= 0)
        close(c.fd);
    sbuf_free(&req);
    sbuf_free(&in);
    return f;
}
