/* cli/serve_expose.c — reads ALLOWED_HOSTS, ALLOWED_ORIGINS, HTTP_TLS_CERT_FILE and
 * HTTP_TLS_KEY_FILE for `ctxd serve` over HTTP and checks them before anything listens:
 * lists of at most 64 entries; a host is a DNS name, an IPv4 address or a bracketed
 * IPv6 address without port (or `*`: any Host, for a proxy that checks it); an origin is
 * scheme://host[:port] without path (or `*`); the certificate and key are PEM files of at
 * most 1 MiB, the key not readable by group or others, and a matching pair (OpenSSL's
 * X509_check_private_key), so a wrong file is named at start-up rather than failing
 * every handshake.
 * Must not: log or echo the private key; accept an entry it would have to guess about. */
#include "cli/serve_expose.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "base/sbuf.h"

#define EXPOSE_MAX_ENTRIES 64
#define EXPOSE_MAX_PEM (1u << 20)

static bool host_name_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    if (h[0] == '[') /* an IPv6 literal: hex digits, colons, dots, and the brackets */
        return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
            return false;
    return true;
}

static bool origin_ok(const char *o, size_t n)
{
    const char *sep = strstr(o, "://");
    if (!sep || (size_t)(sep - o) >= n)
        return false;
    size_t sl = (size_t)(sep - o);
    if (!((sl == 4 && strncmp(o, "http", 4) == 0) || (sl == 5 && strncmp(o, "https", 5) == 0)))
        return false;
    const char *a = sep + 3;
    size_t an = n - (size_t)(a - o);
    const char *port = a[0] == '[' ? memchr(a, ']', an) : NULL;
    port = memchr(port ? port : a, ':', an - (size_t)((port ? port : a) - a));
    size_t hn = port ? (size_t)(port - a) : an;
    if (port && (an - hn < 2 || strspn(port + 1, "0123456789") != an - hn - 1 || an - hn > 6))
        return false;
    return host_name_ok(a, hn);
}

/* Splits a comma-separated list into *out (NULL-terminated), each entry checked by ok. */
static err_code split_list(const char *var, const char *v, bool (*ok)(const char *, size_t),
                           const char *form, char ***out, bool *star, err_t *e)
{
    size_t n = 0, cap = 4;
    char **l = xcalloc(cap + 1, sizeof *l);
    for (const char *p = v; p && *p;) {
        p += strspn(p, " \t,");
        size_t k = strcspn(p, ",");
        size_t t = k;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t > 0) {
            char *entry = xmalloc(t + 1);
            memcpy(entry, p, t);
            entry[t] = '\0';
            if (strcmp(entry, "*") == 0) {
                *star = true;
            } else if (!ok(entry, t)) {
                err_set(e, ERR_INVALID, "%s: '%.80s' is not %s", var, entry, form);
                free(entry);
                goto fail;
            }
            if (n == EXPOSE_MAX_ENTRIES) {
                free(entry);
                err_set(e, ERR_INVALID, "%s: more than %d entries", var, EXPOSE_MAX_ENTRIES);
                goto fail;
            }
            if (n == cap) {
                cap *= 2;
                l = xrealloc(l, (cap + 1) * sizeof *l);
            }
            l[n++] = entry;
            l[n] = NULL;
        }
        p += k;
    }
    *out = l;
    return ERR_OK;
fail:
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
    return ERR_INVALID;
}

/* The PEM text of `path` (the value of var); a key must not be readable by others. */
static err_code read_pem(const char *var, const char *path, bool secret, char **out, err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, ERR_INVALID, "%s: cannot open '%s': %s", var, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(e, ERR_INVALID, "%s: '%s' is not a regular file", var, path);
    }
    if (secret && (st.st_mode & 077)) {
        fclose(f);
        return err_set(e, ERR_INVALID,
                       "%s: '%s' is readable by group or others (mode %03o): chmod 600 it", var,
                       path, (unsigned)(st.st_mode & 0777));
    }
    sbuf_t b = SBUF_INIT;
    int rc = sbuf_read_stream(&b, f, EXPOSE_MAX_PEM);
    fclose(f);
    if (rc != 0 || b.len > EXPOSE_MAX_PEM) {
        if (secret && b.p)
            memset(b.p, 0, b.len);
        sbuf_free(&b);
        return rc ? err_set(e, ERR_INVALID, "%s: reading '%s': %s", var, path, strerror(rc))
                  : err_set(e, ERR_INVALID, "%s: '%s' is larger than 1 MiB", var, path);
    }
    *out = sbuf_detach(&b);
    return ERR_OK;
}

/* The certificate and key parse as PEM and belong together. */
static err_code check_pair(const serve_expose *x, const char *cert_path, const char *key_path,
                           err_t *e)
{
    BIO *cb = BIO_new_mem_buf(x->cert, -1), *kb = BIO_new_mem_buf(x->key, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"") : NULL;
    err_code rc = ERR_OK;
    if (!cert)
        rc = err_set(e, ERR_INVALID, "HTTP_TLS_CERT_FILE: no PEM certificate in '%s'", cert_path);
    else if (!key)
        rc = err_set(e, ERR_INVALID, "HTTP_TLS_KEY_FILE: no unencrypted PEM private key in '%s'",
                     key_path);
    else if (X509_check_private_key(cert, key) != 1)
        rc = err_set(e, ERR_INVALID,
                     "HTTP_TLS_KEY_FILE: the key in '%s' does not belong to the certificate "
                     "in '%s'",
                     key_path, cert_path);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

err_code serve_expose_load(const conf_t *c, const char *bind_host, serve_expose *x, err_t *e)
{
    memset(x, 0, sizeof *x);
    err_code rc = split_list("ALLOWED_HOSTS", conf_get(c, "ALLOWED_HOSTS"), host_name_ok,
                             "a host name, an IPv4 address or a bracketed IPv6 address "
                             "(no scheme, port or path)",
                             &x->hosts, &x->any_host, e);
    bool any_origin = false;
    if (rc == ERR_OK)
        rc = split_list("ALLOWED_ORIGINS", conf_get(c, "ALLOWED_ORIGINS"), origin_ok,
                        "an origin: http(s)://host[:port] without a path", &x->origins, &any_origin,
                        e);
    if (rc == ERR_OK && bind_host && strcmp(bind_host, "0.0.0.0") != 0 &&
        strcmp(bind_host, "::") != 0) {
        /* a specific bind address is a name clients will legitimately use */
        size_t n = 0;
        while (x->hosts[n])
            n++;
        x->hosts = xrealloc(x->hosts, (n + 2) * sizeof *x->hosts);
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, strchr(bind_host, ':') ? "[%s]" : "%s", bind_host);
        x->hosts[n] = sbuf_detach(&b);
        x->hosts[n + 1] = NULL;
    }
    const char *cert = conf_get(c, "HTTP_TLS_CERT_FILE"), *key = conf_get(c, "HTTP_TLS_KEY_FILE");
    if (rc == ERR_OK && (cert && *cert) != (key && *key))
        rc = err_set(e, ERR_INVALID,
                     "HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE go together: set both or neither");
    if (rc == ERR_OK && cert && *cert) {
        rc = read_pem("HTTP_TLS_CERT_FILE", cert, false, &x->cert, e);
        if (rc == ERR_OK)
            rc = read_pem("HTTP_TLS_KEY_FILE", key, true, &x->key, e);
        if (rc == ERR_OK)
            rc = check_pair(x, cert, key, e);
    }
    if (rc != ERR_OK)
        serve_expose_free(x);
    return rc;
}

void serve_expose_apply(const serve_expose *x, mcp_http_opts *ho)
{
    ho->allowed_hosts = (const char *const *)x->hosts;
    ho->allowed_origins = (const char *const *)x->origins;
    ho->allow_any_host = x->any_host;
    ho->tls_cert_pem = x->cert;
    ho->tls_key_pem = x->key;
}

void serve_expose_warn(const serve_expose *x, const char *bind_host)
{
    bool wildcard =
        bind_host && (strcmp(bind_host, "0.0.0.0") == 0 || strcmp(bind_host, "::") == 0);
    if (wildcard && !x->any_host && (!x->hosts || !x->hosts[0]))
        LOG_W("serve",
              "listening on every address (%s) but only requests for localhost, 127.0.0.1 and "
              "[::1] are answered (others get 403): set ALLOWED_HOSTS to the names clients use",
              bind_host);
    if (x->any_host)
        LOG_W("serve", "ALLOWED_HOSTS=*: any Host is answered; only do this behind a proxy "
                       "that checks it (DNS rebinding)");
}

void serve_expose_free(serve_expose *x)
{
    for (char **p = x->hosts; p && *p; p++)
        free(*p);
    for (char **p = x->origins; p && *p; p++)
        free(*p);
    free(x->hosts);
    free(x->origins);
    if (x->key)
        memset(x->key, 0, strlen(x->key));
    free(x->key);
    free(x->cert);
    memset(x, 0, sizeof *x);
}
