/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Instructions per verification of the protocol core alone, counted by
 * callgrind (tools/bench runs it with --toggle-collect=core_once).
 */
#include <stdio.h>
#include <stdlib.h>

#include "apr_general.h"

#include "wx_protocol.h"

#define QUERY "signature=f464b24fc39322e44b38aa78f5edd27bd1441696" \
              "&echostr=4375120948345356249&timestamp=1714036504" \
              "&nonce=1514711492"

static const char *const tokens[] = {"AAAAA"};

/* One verification GET, as the handler does it: parse, echostr, sign. */
__attribute__((noinline)) int core_once(apr_pool_t *p)
{
    wx_query_t q;
    const char *why = NULL;
    wx_result_t rc = wx_query_parse(p, QUERY, &q, &why);

    if (rc == WX_OK && wx_echo_problem(&q) == NULL) {
        rc = wx_verify_plain(&q, tokens, 1, apr_time_from_sec(1714036504),
                             300, NULL, &why);
    }
    apr_pool_clear(p);
    return rc;
}

/* The SHA-1 alone, for scale. */
__attribute__((noinline)) void sha1_once(void)
{
    static const char *const parts[] = {"AAAAA", "1714036504", "1514711492"};
    char sig[WX_SIG_HEX_LEN + 1];

    wx_signature(sig, parts, 3);
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    int i, n = argc > 1 ? atoi(argv[1]) : 1000;

    apr_initialize();
    apr_pool_create(&p, NULL);
    for (i = 0; i < n; i++) {
        if (core_once(p) != WX_OK) {
            fprintf(stderr, "core_bench: verification failed\n");
            return 1;
        }
        sha1_once();
    }
    printf("core_bench: %d verifications\n", n);
    return 0;
}
