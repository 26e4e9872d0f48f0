/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_pay.h: WeChat Pay API v3 notifications, the protocol core's third
 * part (docs/DESIGN.md §2.7).  No httpd headers: APR, OpenSSL's libcrypto
 * (EVP: SHA256withRSA and AES-256-GCM, which apr_crypto has not) and
 * jansson.
 *
 * A notification is judged in this order, each failure its own result and
 * a fixed sentence in *why that holds no request input and no secret:
 *
 *   wx_pay_headers_check   the Wechatpay-* headers: present, once, well
 *                          formed; the signature type
 *   wx_pay_key_find        the key the serial names
 *   wx_pay_fresh           the timestamp
 *   wx_pay_verify          SHA256withRSA over "ts\nnonce\nbody\n"
 *   wx_pay_parse           the JSON body and its resource
 *   wx_pay_decrypt         the resource, AEAD_AES_256_GCM, with an APIv3 key
 *
 * Keys are parsed once, at start-up (wx_pay_key_parse); a verification
 * then allocates nothing but OpenSSL's digest context.
 */
#ifndef WX_PAY_H
#define WX_PAY_H

#include "apr_pools.h"
#include "apr_time.h"

#include "wx_protocol.h"

/* The one signature type WeChat Pay v3 sends. */
#define WX_PAY_RSA_TYPE      "WECHATPAY2-SHA256-RSA2048"
/* A probe's signature starts so; it must be refused. */
#define WX_PAY_PROBE_PREFIX  "WECHATPAY/SIGNTEST/"
/* A WeChat Pay public key's ID (rather than a certificate's serial). */
#define WX_PAY_PUBKEY_PREFIX "PUB_KEY_ID_"
/* An APIv3 key is 32 bytes, used as they are as the AES-256 key. */
#define WX_PAY_APIV3_KEY_LEN 32

/* Bounds on what a notification's headers may hold. */
#define WX_PAY_MAX_SERIAL    64
#define WX_PAY_MAX_NONCE     64
#define WX_PAY_MAX_SIGNATURE 1024   /* base64 of a 4096-bit signature: 684 */
#define WX_PAY_MAX_TIMESTAMP 10

/* The headers of a notification, as the glue found them: the value of each
 * (NULL when absent) and how many times each was sent. */
typedef enum {
    WX_PAY_H_TIMESTAMP, WX_PAY_H_NONCE, WX_PAY_H_SIGNATURE, WX_PAY_H_SERIAL,
    WX_PAY_H_SIGNATURE_TYPE, WX_PAY_H_COUNT
} wx_pay_header_e;

extern const char *const wx_pay_header_names[WX_PAY_H_COUNT];

typedef struct {
    const char *v[WX_PAY_H_COUNT];
    int n[WX_PAY_H_COUNT];
} wx_pay_headers_t;

/* Present (all but the signature type, which defaults to WX_PAY_RSA_TYPE)
 * and sent once each, within bounds, the timestamp all digits, the
 * signature standard base64 (a probe is judged by wx_pay_verify).
 * WX_PAY_MALFORMED, WX_PAY_SIG_TYPE or WX_OK. */
wx_result_t wx_pay_headers_check(const wx_pay_headers_t *h, const char **why);

/* A verifying key: a WeChat Pay public key (id PUB_KEY_ID_...) or a
 * platform certificate's (id its serial number, in hex). */
typedef struct wx_pay_key wx_pay_key_t;

/* From a PEM file's bytes: a "PUBLIC KEY" for a PUB_KEY_ID_ id, an X.509
 * "CERTIFICATE" whose serial number is the id (hex, any case) for any
 * other.  RSA of 2048 bits or more.  The key is freed with p.  NULL and
 * *out set, or the reason the file does not fit the id. */
const char *wx_pay_key_parse(apr_pool_t *p, const char *id,
                             const char *pem, apr_size_t len,
                             wx_pay_key_t **out);

/* The id a key was parsed for, as given. */
const char *wx_pay_key_id(const wx_pay_key_t *k);

/* The key of keys[0..n) whose id is serial (a certificate's serial in any
 * case and without leading zeros; a PUB_KEY_ID_ exactly), or NULL. */
const wx_pay_key_t *wx_pay_key_find(const wx_pay_key_t *const *keys, int n,
                                    const char *serial);

/* The (checked) timestamp within max_age seconds of now, either way
 * (WX_MAX_AGE_OFF: any).  WX_PAY_STALE or WX_OK. */
wx_result_t wx_pay_fresh(const char *timestamp, apr_time_t now,
                         apr_int64_t max_age, const char **why);

/* SHA256withRSA (PKCS#1 v1.5) of timestamp "\n" nonce "\n" body "\n", the
 * body's bytes as sent.  A probe (WX_PAY_PROBE_PREFIX) and any other
 * mismatch are WX_PAY_BAD_SIGNATURE, each with its own sentence. */
wx_result_t wx_pay_verify(const wx_pay_key_t *k, const char *timestamp,
                          const char *nonce, const char *body,
                          apr_size_t len, const char *signature,
                          const char **why);

/* What the body says, and its resource. */
typedef struct {
    const char *id, *create_time, *event_type, *resource_type;
    const char *algorithm, *ciphertext, *nonce, *associated_data;
    const char *original_type;
} wx_pay_notice_t;

/* The body is a JSON object (no duplicate names) with the string members
 * id, create_time, event_type, resource_type and resource, an object with
 * the strings algorithm, ciphertext, nonce, associated_data (may be empty
 * or absent: "") and original_type (may be absent).  The id is printable
 * ASCII without spaces, at most WX_PAY_MAX_ID bytes.  WX_PAY_BAD_JSON, or
 * WX_PAY_BAD_ALGORITHM for a resource that is not AEAD_AES_256_GCM. */
#define WX_PAY_MAX_ID 128
#define WX_PAY_ALGORITHM "AEAD_AES_256_GCM"
wx_result_t wx_pay_parse(apr_pool_t *p, const char *body, apr_size_t len,
                         wx_pay_notice_t *out, const char **why);

/* The resource decrypted with each of keys[0..n) (WX_PAY_APIV3_KEY_LEN
 * bytes each) in turn until its GCM tag checks: the plaintext, NUL-ended,
 * in p, and which key opened it.  WX_PAY_BAD_RESOURCE when none does or
 * the ciphertext is not base64 of at least a tag. */
wx_result_t wx_pay_decrypt(apr_pool_t *p, const unsigned char *const *keys,
                           int n, const wx_pay_notice_t *m, char **plain,
                           apr_size_t *plen, int *which, const char **why);

/* The replay cache's key for a notification: its id, which WeChat Pay's
 * retries keep (sha1 of "wxpay:" and the id). */
void wx_pay_dedup_id(const char *id, unsigned char out[WX_SIG_LEN]);

/* A 32-byte APIv3 key's problem, or NULL. */
const char *wx_pay_apiv3_key_problem(const char *s);

#endif
