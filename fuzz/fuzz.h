/* fuzz/fuzz.h — what every libFuzzer harness of fuzz/ shares: the entry points libFuzzer
 * calls, the input as a C string, and the property check that aborts with the broken
 * property (libFuzzer then saves the input as a crash artifact).
 * Must not: hold state, print anything on success, or be used outside fuzz/. */
#ifndef CTXD_FUZZ_FUZZ_H
#define CTXD_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with "property broken: <cond>: <message>" when cond is false. */
#define FZ_CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "property broken: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

/* The input as a NUL-terminated copy (caller frees), or NULL when it holds a NUL byte:
 * the parsers under test take C strings, so such an input says nothing new (harnesses
 * return -1 for it, which keeps it out of the corpus). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size))
        return NULL;
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
