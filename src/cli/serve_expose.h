/* cli/serve_expose.h — who may reach `ctxd serve` over HTTP from beyond this machine
 * (ALLOWED_HOSTS, ALLOWED_ORIGINS) and whether it speaks HTTPS (HTTP_TLS_CERT_FILE,
 * HTTP_TLS_KEY_FILE): read and checked once at start-up (serve_expose.c).
 * Must not: start anything. */
#ifndef CTXD_CLI_SERVE_EXPOSE_H
#define CTXD_CLI_SERVE_EXPOSE_H

#include <stdbool.h>
#include "base/conf.h"
#include "base/err.h"
#include "http/mcp_http.h"

typedef struct serve_expose {
    char **hosts;     /* NULL-terminated: ALLOWED_HOSTS, then the bind address if specific */
    char **origins;   /* NULL-terminated: ALLOWED_ORIGINS */
    bool any_host;    /* ALLOWED_HOSTS=* */
    char *cert, *key; /* PEM text of the files, or NULL */
} serve_expose;

/* Reads the four variables of c (bind_host: the address serve binds to). Errors name
 * the variable and what is wrong with it; x is left empty then. */
err_code serve_expose_load(const conf_t *c, const char *bind_host, serve_expose *x, err_t *e);
void serve_expose_apply(const serve_expose *x, mcp_http_opts *ho);
/* One warning when serving on every address with only loopback names allowed. */
void serve_expose_warn(const serve_expose *x, const char *bind_host);
void serve_expose_free(serve_expose *x); /* wipes the key */

#endif
