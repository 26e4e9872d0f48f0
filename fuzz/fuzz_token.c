/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz/fuzz_token.c: libFuzzer harness for wx_token_problem().
 *
 * The input, up to its first NUL, is the token (as a directive argument, a
 * C string).  Invariant from wx_protocol.h: NULL exactly when the token is 3
 * to 32 ASCII letters or digits, else a non-empty sentence.
 *
 * Build and run: tools/fuzz.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wx_protocol.h"
#include "fuzz_check.h"

static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *tok = malloc(n + 1);
    const char *why;
    int valid;

    CHECK(tok != NULL);
    memcpy(tok, data, n);
    tok[n] = '\0';

    valid = n >= WX_TOKEN_MIN && n <= WX_TOKEN_MAX
         && strspn(tok, alnum) == n;
    why = wx_token_problem(tok);
    CHECK((why == NULL) == valid);
    CHECK(why == NULL || *why != '\0');

    free(tok);
    return 0;
}
