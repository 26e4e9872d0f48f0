/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz/fuzz_check.h: what the libFuzzer harnesses share: CHECK (a broken
 * invariant aborts, which libFuzzer reports as a crash, naming the file
 * and line) and tight() (a copy in a heap block of exactly its size, for
 * ASan to catch a read past the end).  Header-only; each harness includes
 * it once.
 */
#ifndef WX_FUZZ_CHECK_H
#define WX_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
    do { if (!(cond)) broken(#cond, __FILE__, __LINE__); } while (0)

static void broken(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

/* A heap block of exactly n bytes holding src (no NUL added). */
static char tight_empty[1];

static inline char *tight(const void *src, size_t n)
{
    char *b = malloc(n);

    if (b == NULL) {
        CHECK(n == 0);
        return tight_empty;
    }
    memcpy(b, src, n);
    return b;
}

static inline void tight_free(const char *b)
{
    if (b != NULL && b != tight_empty) {
        free((void *)b);
    }
}

#endif /* WX_FUZZ_CHECK_H */
