/* tests/store/writer.c — store_writer, the helper process of the concurrency and
 * crash tests: opens its own store on a URL, says it is ready ('R' on stdout),
 * waits for the start signal (EOF on stdin), then adds messages to one session
 * and reports each committed message id (8 bytes, native order) on stdout.
 * Usage: store_writer URL SESSION_ID COUNT(0 = until killed) SENDER
 * Exit 0 when done; 2 if the store does not open; 3 if a write fails (the error
 * is printed on stderr). Must not: retry failed writes itself (the store must
 * not let transient errors reach its caller — that is what is under test). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "test_support.h"
#include "base/log.h"
#include "store/store.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: store_writer URL SESSION_ID COUNT SENDER\n");
        return 64;
    }
    log_set_level(LOG_WARN);
    const char *url = argv[1], *sid = argv[2], *sender = argv[4];
    long count = strtol(argv[3], NULL, 10);
    store_t *st = NULL;
    err_t e;
    err_clear(&e);
    if (store_open(url, NULL, &st, &e) != ERR_OK) {
        fprintf(stderr, "store_writer %s: open: %s\n", sender, e.msg);
        return 2;
    }
    char c = 'R';
    if (ts_write_full(1, &c, 1) != 0)
        return 2;
    while (read(0, &c, 1) > 0) /* start when the parent closes the go pipe */
        ;
    int status = 0;
    for (long i = 0; count == 0 || i < count; i++) {
        char content[96];
        snprintf(content, sizeof content, "%s message %ld", sender, i);
        store_message m = {.session_id = (char *)sid, .sender = (char *)sender, .content = content};
        store_audit_in a = {.event_type = "message_added"};
        err_code rc = store_message_add(st, &m, &a, &e);
        if (rc != ERR_OK) {
            fprintf(stderr, "store_writer %s: message %ld: %s: %s\n", sender, i, err_code_name(rc),
                    e.msg);
            status = 3;
            break;
        }
        int64_t id = m.id;
        if (ts_write_full(1, &id, sizeof id) != 0) {
            status = 4;
            break;
        }
    }
    store_close(st);
    return status;
}
