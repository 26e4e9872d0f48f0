/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz/fuzz_pay.c: libFuzzer harness for WeChat Pay's part of the core:
 * wx_pay_headers_check(), wx_pay_key_find(), wx_pay_fresh(),
 * wx_pay_verify() over the body, wx_pay_parse() and wx_pay_decrypt().
 *
 * The input is split at its first two '\n' bytes: the first line is five
 * header values separated by '|' (timestamp, nonce, signature, serial,
 * type; an empty one is absent), the rest the body, in a heap block of
 * exactly its size (for ASan).  The key is the test platform certificate
 * (t/pay/platform.pem), embedded below so that the harness needs no file.
 *
 * Invariants: every result is one of the pay results or WX_OK, with a
 * sentence; a body that wx_pay_parse() accepts has every member set and
 * NUL-free; a resource decrypts only when its GCM tag checks, and then to
 * exactly ciphertext length - 16 bytes; nothing verifies, since no input
 * can hold a signature of the test key over itself (were one found, the
 * harness would say so by aborting).
 *
 * Build and run: tools/fuzz pay.
 */
#include <stdint.h>
#include <string.h>

#include <sanitizer/lsan_interface.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "wx_pay.h"
#include "fuzz_check.h"

#include "fuzz_pay_key.h"   /* PLATFORM_PEM, PLATFORM_SERIAL: generated */

static apr_pool_t *pool;
static const wx_pay_key_t *keys[1];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    wx_pay_key_t *k = NULL;
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&pool, NULL);
    /* The key lives for the whole run, held in pool memory that APR may
     * take from mmap, where LeakSanitizer does not look for pointers. */
    __lsan_disable();
    CHECK(wx_pay_key_parse(pool, PLATFORM_SERIAL, PLATFORM_PEM,
                           strlen(PLATFORM_PEM), &k) == NULL);
    __lsan_enable();
    keys[0] = k;
    return 0;
}

static int pay_result(wx_result_t rc)
{
    return rc == WX_PAY_MALFORMED || rc == WX_PAY_SIG_TYPE
           || rc == WX_PAY_STALE || rc == WX_PAY_BAD_SIGNATURE
           || rc == WX_PAY_BAD_JSON || rc == WX_PAY_BAD_ALGORITHM
           || rc == WX_PAY_BAD_RESOURCE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size), *why = NULL;
    wx_pay_headers_t h;
    wx_pay_notice_t m;
    wx_result_t rc;
    apr_pool_t *p;
    char *line, *body, *f;
    size_t hlen = nl ? (size_t)(nl - (const char *)data) : size;
    size_t blen = nl ? size - hlen - 1 : 0;
    int i;

    apr_pool_create(&p, pool);
    line = apr_palloc(p, hlen + 1);
    if (hlen) {
        memcpy(line, data, hlen);
    }
    line[hlen] = '\0';
    body = tight(nl ? nl + 1 : "", blen);

    memset(&h, 0, sizeof(h));
    f = line;
    for (i = 0; i < WX_PAY_H_COUNT && f; i++) {
        char *bar = strchr(f, '|');
        if (bar) {
            *bar = '\0';
        }
        if (*f) {
            h.v[i] = f;
            h.n[i] = 1;
        }
        f = bar ? bar + 1 : NULL;
    }

    rc = wx_pay_headers_check(&h, &why);
    CHECK(rc == WX_OK || (pay_result(rc) && why != NULL));
    if (rc == WX_OK) {
        const wx_pay_key_t *k = wx_pay_key_find(keys, 1,
                                                h.v[WX_PAY_H_SERIAL]);
        if (k != NULL) {
            rc = wx_pay_fresh(h.v[WX_PAY_H_TIMESTAMP], apr_time_now(),
                              WX_MAX_AGE_OFF, &why);
            CHECK(rc == WX_OK);
            rc = wx_pay_verify(k, h.v[WX_PAY_H_TIMESTAMP],
                               h.v[WX_PAY_H_NONCE], body, blen,
                               h.v[WX_PAY_H_SIGNATURE], &why);
            CHECK(rc == WX_PAY_BAD_SIGNATURE && why != NULL);
        }
    }

    /* The body as a notification, whatever its headers. */
    why = NULL;
    rc = wx_pay_parse(p, body, blen, &m, &why);
    CHECK(rc == WX_OK || ((rc == WX_PAY_BAD_JSON
                           || rc == WX_PAY_BAD_ALGORITHM) && why != NULL));
    if (rc == WX_OK) {
        static const unsigned char key[WX_PAY_APIV3_KEY_LEN] =
            "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
        const unsigned char *k[1] = { key };
        char *plain = NULL;
        apr_size_t plen = 0;
        int which = -1;

        CHECK(m.id && m.create_time && m.event_type && m.resource_type
              && m.algorithm && m.ciphertext && m.nonce
              && m.associated_data && m.original_type);
        CHECK(m.id[0] != '\0' && strlen(m.id) <= WX_PAY_MAX_ID);
        CHECK(strcmp(m.algorithm, WX_PAY_ALGORITHM) == 0);
        rc = wx_pay_decrypt(p, k, 1, &m, &plain, &plen, &which, &why);
        CHECK(rc == WX_OK || (rc == WX_PAY_BAD_RESOURCE && why != NULL));
        if (rc == WX_OK) {
            CHECK(which == 0 && plain != NULL && plain[plen] == '\0');
            CHECK(wx_b64_checked_len(m.ciphertext, strlen(m.ciphertext))
                  == plen + 16);
        }
    }
    tight_free(body);
    apr_pool_destroy(p);
    return 0;
}
