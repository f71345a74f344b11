/* base/ids.h — identifiers from the OS CSPRNG (getrandom): session ids
 * ("session_" + 16 lowercase hex) and RFC 4122 version-4 UUIDs.
 * Must not: fall back to rand() or time-based seeds. */
#ifndef CTXD_BASE_IDS_H
#define CTXD_BASE_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_SESSION_LEN 25 /* "session_" + 16 hex + NUL */
#define IDS_UUID_LEN 37    /* 36 chars + NUL */

/* Fills buf with n random bytes; aborts if the OS cannot provide them. */
void ids_random(void *buf, size_t n);
char *ids_session(char out[IDS_SESSION_LEN]);
char *ids_uuid4(char out[IDS_UUID_LEN]);
bool ids_is_session(const char *s); /* exact form check */
bool ids_is_uuid(const char *s);

#endif
