/* tests/http/http_client.h — a tiny blocking HTTP/1.1 client over loopback for the HTTP
 * transport tests: keep-alive connections, Content-Length and chunked bodies, and reading
 * an SSE response event by event.
 * Must not: be used outside tests (no TLS, no redirects, minimal parsing). */
#ifndef CTXD_TEST_HTTP_CLIENT_H
#define CTXD_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_conn {
    int fd;
    uint16_t port;
    char *buf; /* raw bytes read but not consumed */
    size_t len, cap;
} hc_conn;

typedef struct hc_resp {
    int status;
    char *head; /* raw header block (NUL-terminated) */
    bool chunked;
    long content_length; /* -1 if absent */
    char *body;          /* whole body (hc_read_body) or decoded SSE bytes pending */
    size_t body_len;
    bool eof; /* last chunk seen */
} hc_resp;

bool hc_connect(hc_conn *c, uint16_t port);
/* The same from a given local IPv4 address (e.g. "127.0.0.2": a second loopback peer). */
bool hc_connect_from(hc_conn *c, uint16_t port, const char *local);
void hc_close(hc_conn *c);
/* Writes all n bytes (retrying short writes); false on error. */
bool hc_write_all(int fd, const char *p, size_t n);
/* Sends one request; `headers` is "Name: value\r\n"... (may be NULL). */
bool hc_send(hc_conn *c, const char *method, const char *path, const char *headers,
             const char *body, size_t len);
/* Reads the status line and headers. */
bool hc_read_head(hc_conn *c, hc_resp *r);
/* Reads the rest of the body. */
bool hc_read_body(hc_conn *c, hc_resp *r);
/* Header value (malloc'd) or NULL; name case-insensitive. */
char *hc_header(const hc_resp *r, const char *name);
/* Next SSE event of a chunked event-stream response: *id and *data malloc'd (NULL if the
 * field was absent). false at end of stream. */
bool hc_next_event(hc_conn *c, hc_resp *r, char **id, char **data);
void hc_resp_free(hc_resp *r);

/* One-shot: POST/GET/... and read everything. Returns the status. When the server said
 * "Connection: close" the connection is re-opened for the next request. */
int hc_request(hc_conn *c, const char *method, const char *path, const char *headers,
               const char *body, hc_resp *r);

#endif
