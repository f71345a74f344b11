/* tests/http/mcp_http_load.c — a small load generator for the HTTP transport: C keep-alive
 * clients (one MCP session each) call tools/call <tool> against a running server for D
 * seconds and print ops/s and p50/p95/p99. Usage: mcp_http_load PORT [clients] [seconds]
 * [tool]. For quick measurements of the transport (bench/ owns the product benchmarks).
 * Must not: run as a timed assertion in tests. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"

static uint16_t port;
static double seconds = 5;
static const char *tool = "test_simple_text";

typedef struct {
    double *lat;
    size_t n, cap;
    int errors;
} res_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *client(void *arg)
{
    res_t *r = arg;
    hc_conn c;
    hc_resp rs;
    if (!hc_connect(&c, port)) {
        r->errors++;
        return NULL;
    }
    const char *h =
        "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n";
    if (hc_request(&c, "POST", "/mcp", h,
                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                   "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
                   "\"name\":\"l\",\"version\":\"1\"}}}",
                   &rs) != 200) {
        r->errors++;
        return NULL;
    }
    char *sid = hc_header(&rs, "Mcp-Session-Id");
    hc_resp_free(&rs);
    char hdr[512], body[256];
    snprintf(hdr, sizeof hdr, "%sMcp-Session-Id: %s\r\n", h, sid);
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
             "{\"name\":\"%s\",\"arguments\":{}}}",
             tool);
    double end = now() + seconds;
    for (double t0 = now(); t0 < end; t0 = now()) {
        int st = hc_request(&c, "POST", "/mcp", hdr, body, &rs);
        hc_resp_free(&rs);
        if (st != 200) {
            r->errors++;
            continue;
        }
        if (r->n == r->cap) {
            r->cap = r->cap * 2 + 1024;
            r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
        }
        r->lat[r->n++] = now() - t0;
    }
    free(sid);
    hc_close(&c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [clients] [seconds] [tool]\n", argv[0]);
        return 2;
    }
    port = (uint16_t)atoi(argv[1]);
    int n = argc > 2 ? atoi(argv[2]) : 64;
    if (argc > 3)
        seconds = atof(argv[3]);
    if (argc > 4)
        tool = argv[4];
    pthread_t *th = calloc((size_t)n, sizeof *th);
    res_t *res = calloc((size_t)n, sizeof *res);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, client, &res[i]);
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        total += res[i].n;
        errors += res[i].errors;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, res[i].lat, res[i].n * sizeof *all);
        k += res[i].n;
        free(res[i].lat);
    }
    qsort(all, total, sizeof *all, cmp);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] * 1e3 : 0)
    printf("clients %d  ops %zu  ops/s %.0f  p50 %.3f ms  p95 %.3f ms  p99 %.3f ms  errors %d\n", n,
           total, (double)total / seconds, PCT(0.50), PCT(0.95), PCT(0.99), errors);
    free(all);
    free(th);
    free(res);
    return errors ? 1 : 0;
}
