/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_pay.c: WeChat Pay API v3 notifications (see wx_pay.h).
 *
 * RSA and AES-GCM through OpenSSL's EVP API (apr_crypto has neither), PEM
 * and X.509 through OpenSSL's readers, base64 through apr_base64 (after
 * wx_b64_checked_len), JSON through jansson.  What is written here is the
 * order of the checks and the rules WeChat Pay's SDKs leave to the app:
 * the exact bytes signed, the serial that must name the key, the probe.
 */
#include <limits.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_sha1.h"
#include "apr_strings.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "wx_crypto.h"
#include "wx_pay.h"

#define WX_PAY_GCM_TAG_LEN 16

const char *const wx_pay_header_names[WX_PAY_H_COUNT] = {
    "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
    "Wechatpay-Serial", "Wechatpay-Signature-Type"
};

struct wx_pay_key {
    const char *id;
    EVP_PKEY *pkey;
    /* SHA256withRSA under this key, set up once: each verification copies
     * it (OpenSSL 3 would otherwise look up SHA-256 and the RSA signature
     * in its providers for every request). */
    EVP_MD_CTX *verify;
};

/* Printable ASCII, no space: what a serial, a nonce or an id may hold. */
static int wx_pay_token_chars(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

wx_result_t wx_pay_headers_check(const wx_pay_headers_t *h, const char **why)
{
    static const apr_size_t max[WX_PAY_H_COUNT] = {
        WX_PAY_MAX_TIMESTAMP, WX_PAY_MAX_NONCE, WX_PAY_MAX_SIGNATURE,
        WX_PAY_MAX_SERIAL, sizeof(WX_PAY_RSA_TYPE) - 1
    };
    static const char *const missing[WX_PAY_H_COUNT] = {
        "Wechatpay-Timestamp is missing or empty",
        "Wechatpay-Nonce is missing or empty",
        "Wechatpay-Signature is missing or empty",
        "Wechatpay-Serial is missing or empty",
        "Wechatpay-Signature-Type is empty"
    };
    static const char *const repeated[WX_PAY_H_COUNT] = {
        "Wechatpay-Timestamp is sent more than once",
        "Wechatpay-Nonce is sent more than once",
        "Wechatpay-Signature is sent more than once",
        "Wechatpay-Serial is sent more than once",
        "Wechatpay-Signature-Type is sent more than once"
    };
    static const char *const shape[WX_PAY_H_COUNT] = {
        "Wechatpay-Timestamp is not 1 to " WX_STR(WX_PAY_MAX_TIMESTAMP)
            " digits",
        "Wechatpay-Nonce is over " WX_STR(WX_PAY_MAX_NONCE)
            " bytes or holds a space or a control byte",
        "Wechatpay-Signature is over " WX_STR(WX_PAY_MAX_SIGNATURE)
            " bytes or not base64",
        "Wechatpay-Serial is over " WX_STR(WX_PAY_MAX_SERIAL)
            " bytes or holds a space or a control byte",
        NULL
    };
    int i;

    for (i = 0; i < WX_PAY_H_COUNT; i++) {
        if (h->n[i] > 1) {
            *why = repeated[i];
            return WX_PAY_MALFORMED;
        }
        if (h->v[i] == NULL && i == WX_PAY_H_SIGNATURE_TYPE) {
            continue;   /* absent: the one type there is */
        }
        if (h->v[i] == NULL || h->v[i][0] == '\0') {
            *why = missing[i];
            return WX_PAY_MALFORMED;
        }
    }
    for (i = 0; i < WX_PAY_H_SIGNATURE_TYPE; i++) {
        const char *v = h->v[i];
        apr_size_t n = strlen(v);
        int ok = n <= max[i] && wx_pay_token_chars(v);

        if (ok && i == WX_PAY_H_TIMESTAMP) {
            ok = strspn(v, "0123456789") == n;
        }
        /* A probe's "signature" is not base64; wx_pay_verify names it. */
        if (ok && i == WX_PAY_H_SIGNATURE
            && strncmp(v, WX_PAY_PROBE_PREFIX,
                       sizeof(WX_PAY_PROBE_PREFIX) - 1) != 0) {
            ok = wx_b64_checked_len(v, n) > 0;
        }
        if (!ok) {
            *why = shape[i];
            return WX_PAY_MALFORMED;
        }
    }
    if (h->v[WX_PAY_H_SIGNATURE_TYPE] != NULL
        && strcmp(h->v[WX_PAY_H_SIGNATURE_TYPE], WX_PAY_RSA_TYPE) != 0) {
        *why = "Wechatpay-Signature-Type is not " WX_PAY_RSA_TYPE;
        return WX_PAY_SIG_TYPE;
    }
    return WX_OK;
}

static apr_status_t wx_pay_key_free(void *data)
{
    wx_pay_key_t *k = data;

    EVP_MD_CTX_free(k->verify);
    EVP_PKEY_free(k->pkey);
    return APR_SUCCESS;
}

/* A certificate serial as WeChat Pay writes it: hex, upper case. */
static int wx_pay_is_hex(const char *s)
{
    return *s != '\0' && strspn(s, "0123456789abcdefABCDEF") == strlen(s);
}

/* Two hex serials equal, whatever the case and leading zeros. */
static int wx_pay_serial_eq(const char *a, const char *b)
{
    while (*a == '0' && a[1] != '\0') {
        a++;
    }
    while (*b == '0' && b[1] != '\0') {
        b++;
    }
    return strcasecmp(a, b) == 0;
}

const char *wx_pay_key_parse(apr_pool_t *p, const char *id,
                             const char *pem, apr_size_t len,
                             wx_pay_key_t **out)
{
    int pubkey_id = strncmp(id, WX_PAY_PUBKEY_PREFIX,
                            sizeof(WX_PAY_PUBKEY_PREFIX) - 1) == 0;
    const char *why = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio;

    if (strlen(id) > WX_PAY_MAX_SERIAL || !wx_pay_token_chars(id)
        || (!pubkey_id && !wx_pay_is_hex(id))) {
        return "the id is neither a certificate serial (hex) nor a "
               WX_PAY_PUBKEY_PREFIX "... of at most "
               WX_STR(WX_PAY_MAX_SERIAL) " characters";
    }
    if (len > INT_MAX) {
        return "the file is too large";
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return "OpenSSL could not allocate";
    }
    if (pubkey_id) {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (pkey == NULL) {
            why = "the file holds no PEM public key (-----BEGIN PUBLIC "
                  "KEY-----), which a " WX_PAY_PUBKEY_PREFIX " id names";
        }
    }
    else {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL) {
            why = "the file holds no PEM certificate (-----BEGIN "
                  "CERTIFICATE-----), which a serial number id names";
        }
        else {
            BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert),
                                            NULL);
            char *hex = bn ? BN_bn2hex(bn) : NULL;
            if (hex == NULL) {
                why = "OpenSSL could not read the certificate's serial";
            }
            else if (!wx_pay_serial_eq(hex, id)) {
                why = "the certificate's serial number is not the id";
            }
            else {
                pkey = X509_get_pubkey(cert);
                if (pkey == NULL) {
                    why = "OpenSSL could not read the certificate's key";
                }
            }
            OPENSSL_free(hex);
            BN_free(bn);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    /* What OpenSSL queued about a file that was not the one wanted is not
     * for whoever uses OpenSSL next on this thread (mod_ssl reads it). */
    ERR_clear_error();
    if (why == NULL && EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        why = "the key is not an RSA key";
    }
    else if (why == NULL && EVP_PKEY_bits(pkey) < 2048) {
        why = "the RSA key is shorter than 2048 bits";
    }
    if (why != NULL) {
        EVP_PKEY_free(pkey);
        return why;
    }
    *out = apr_palloc(p, sizeof(**out));
    (*out)->id = apr_pstrdup(p, id);
    (*out)->pkey = pkey;
    (*out)->verify = EVP_MD_CTX_new();
    apr_pool_cleanup_register(p, *out, wx_pay_key_free,
                              apr_pool_cleanup_null);
    if ((*out)->verify == NULL
        || EVP_DigestVerifyInit((*out)->verify, NULL, EVP_sha256(), NULL,
                                pkey) != 1) {
        return "OpenSSL could not set up SHA256withRSA for the key";
    }
    return NULL;
}

const char *wx_pay_key_id(const wx_pay_key_t *k)
{
    return k->id;
}

const wx_pay_key_t *wx_pay_key_find(const wx_pay_key_t *const *keys, int n,
                                    const char *serial)
{
    int i;

    for (i = 0; i < n; i++) {
        const char *id = keys[i]->id;
        if (strncmp(id, WX_PAY_PUBKEY_PREFIX,
                    sizeof(WX_PAY_PUBKEY_PREFIX) - 1) == 0
            ? strcmp(id, serial) == 0
            : wx_pay_is_hex(serial) && wx_pay_serial_eq(id, serial)) {
            return keys[i];
        }
    }
    return NULL;
}

wx_result_t wx_pay_fresh(const char *timestamp, apr_time_t now,
                         apr_int64_t max_age, const char **why)
{
    switch (wx_time_skew(apr_atoi64(timestamp), now, max_age)) {
    case 1:
        *why = "Wechatpay-Timestamp is ahead of the server clock by more "
               "than the max age";
        return WX_PAY_STALE;
    case -1:
        *why = "Wechatpay-Timestamp is older than the max age";
        return WX_PAY_STALE;
    }
    return WX_OK;
}

wx_result_t wx_pay_verify(const wx_pay_key_t *k, const char *timestamp,
                          const char *nonce, const char *body,
                          apr_size_t len, const char *signature,
                          const char **why)
{
    apr_size_t n = strlen(signature), siglen;
    unsigned char sig[(WX_PAY_MAX_SIGNATURE / 4) * 3 + 1];
    EVP_MD_CTX *ctx;
    int ok;

    if (strncmp(signature, WX_PAY_PROBE_PREFIX,
                sizeof(WX_PAY_PROBE_PREFIX) - 1) == 0) {
        *why = "a WeChat Pay signature probe (" WX_PAY_PROBE_PREFIX "...), "
               "refused as it must be";
        return WX_PAY_BAD_SIGNATURE;
    }
    siglen = n <= WX_PAY_MAX_SIGNATURE ? wx_b64_checked_len(signature, n) : 0;
    if (siglen == 0) {
        *why = "Wechatpay-Signature is not base64";
        return WX_PAY_BAD_SIGNATURE;
    }
    apr_base64_decode_binary(sig, signature);

    ctx = EVP_MD_CTX_new();
    ok = ctx != NULL
         && EVP_MD_CTX_copy_ex(ctx, k->verify) == 1
         /* (used once: Final need not keep it reusable by copying it) */
         && (EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE), 1)
         && EVP_DigestVerifyUpdate(ctx, timestamp, strlen(timestamp)) == 1
         && EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1
         && EVP_DigestVerifyUpdate(ctx, nonce, strlen(nonce)) == 1
         && EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1
         && EVP_DigestVerifyUpdate(ctx, body, len) == 1
         && EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1
         && EVP_DigestVerifyFinal(ctx, sig, siglen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        *why = "Wechatpay-Signature does not verify with the key the "
               "serial names";
        return WX_PAY_BAD_SIGNATURE;
    }
    return WX_OK;
}

/* obj's member name as a string: *out, or 0 (absent: "" if optional). */
static int wx_pay_member(apr_pool_t *p, json_t *obj, const char *name,
                         int optional, const char **out)
{
    json_t *v = json_object_get(obj, name);

    if (v == NULL && optional) {
        *out = "";
        return 1;
    }
    if (!json_is_string(v)) {
        return 0;
    }
    *out = apr_pstrmemdup(p, json_string_value(v), json_string_length(v));
    return strlen(*out) == json_string_length(v);   /* no \u0000 */
}

wx_result_t wx_pay_parse(apr_pool_t *p, const char *body, apr_size_t len,
                         wx_pay_notice_t *out, const char **why)
{
    json_error_t err;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    json_t *res;
    wx_result_t rc = WX_PAY_BAD_JSON;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(root)) {
        *why = root ? "the body is not a JSON object"
                    : "the body is not JSON, or repeats a name";
        goto done;
    }
    res = json_object_get(root, "resource");
    if (!wx_pay_member(p, root, "id", 0, &out->id)
        || !wx_pay_member(p, root, "create_time", 0, &out->create_time)
        || !wx_pay_member(p, root, "event_type", 0, &out->event_type)
        || !wx_pay_member(p, root, "resource_type", 0, &out->resource_type)) {
        *why = "id, create_time, event_type or resource_type is not a "
               "string";
        goto done;
    }
    if (out->id[0] == '\0' || strlen(out->id) > WX_PAY_MAX_ID
        || !wx_pay_token_chars(out->id)
        || !wx_pay_token_chars(out->create_time)
        || !wx_pay_token_chars(out->event_type)
        || !wx_pay_token_chars(out->resource_type)) {
        *why = "id is empty or over " WX_STR(WX_PAY_MAX_ID) " bytes, or id, "
               "create_time, event_type or resource_type holds a space or "
               "a control byte";
        goto done;
    }
    if (!json_is_object(res)
        || !wx_pay_member(p, res, "algorithm", 0, &out->algorithm)
        || !wx_pay_member(p, res, "ciphertext", 0, &out->ciphertext)
        || !wx_pay_member(p, res, "nonce", 0, &out->nonce)
        || !wx_pay_member(p, res, "associated_data", 1,
                          &out->associated_data)
        || !wx_pay_member(p, res, "original_type", 1, &out->original_type)) {
        *why = "resource is not an object of the strings algorithm, "
               "ciphertext, nonce and associated_data";
        goto done;
    }
    if (strcmp(out->algorithm, WX_PAY_ALGORITHM) != 0) {
        *why = "resource.algorithm is not " WX_PAY_ALGORITHM;
        rc = WX_PAY_BAD_ALGORITHM;
        goto done;
    }
    rc = WX_OK;
done:
    json_decref(root);
    return rc;
}

/* One key's try: 1 when the tag checks and *plain holds the plaintext. */
static int wx_pay_gcm_open(const unsigned char *key, const unsigned char *ct,
                           int ctlen, const unsigned char *tag,
                           const wx_pay_notice_t *m, unsigned char *plain,
                           int *plen)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok;

    ok = ctx != NULL
         && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                                (int)strlen(m->nonce), NULL) == 1
         && EVP_DecryptInit_ex(ctx, NULL, NULL, key,
                               (const unsigned char *)m->nonce) == 1
         && EVP_DecryptUpdate(ctx, NULL, &n,
                              (const unsigned char *)m->associated_data,
                              (int)strlen(m->associated_data)) == 1
         && EVP_DecryptUpdate(ctx, plain, &n, ct, ctlen) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                WX_PAY_GCM_TAG_LEN, (void *)tag) == 1
         && EVP_DecryptFinal_ex(ctx, plain + n, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
    }
    *plen = n + fin;
    return ok;
}

wx_result_t wx_pay_decrypt(apr_pool_t *p, const unsigned char *const *keys,
                           int n, const wx_pay_notice_t *m, char **plain,
                           apr_size_t *plen, int *which, const char **why)
{
    apr_size_t b64len = strlen(m->ciphertext), raw;
    unsigned char *ct, *out;
    int i, ctlen, outlen = 0;

    raw = b64len <= WX_MAX_BODY ? wx_b64_checked_len(m->ciphertext, b64len)
                                : 0;
    if (raw < WX_PAY_GCM_TAG_LEN) {
        *why = "resource.ciphertext is not base64 of at least a GCM tag";
        return WX_PAY_BAD_RESOURCE;
    }
    if (m->nonce[0] == '\0' || strlen(m->nonce) > WX_PAY_MAX_NONCE) {
        *why = "resource.nonce is empty or over " WX_STR(WX_PAY_MAX_NONCE)
               " bytes";
        return WX_PAY_BAD_RESOURCE;
    }
    ct = apr_palloc(p, apr_base64_decode_len(m->ciphertext));
    apr_base64_decode_binary(ct, m->ciphertext);
    ctlen = (int)(raw - WX_PAY_GCM_TAG_LEN);
    out = apr_palloc(p, (apr_size_t)ctlen + 1);
    for (i = 0; i < n; i++) {
        if (wx_pay_gcm_open(keys[i], ct, ctlen, ct + ctlen, m, out,
                            &outlen)) {
            out[outlen] = '\0';
            *plain = (char *)out;
            *plen = (apr_size_t)outlen;
            if (which) {
                *which = i;
            }
            return WX_OK;
        }
    }
    *why = n == 1 ? "resource does not decrypt with the APIv3 key (its GCM "
                    "tag does not check)"
                  : "resource decrypts with none of the APIv3 keys (its GCM "
                    "tag does not check)";
    return WX_PAY_BAD_RESOURCE;
}

void wx_pay_dedup_id(const char *id, unsigned char out[WX_SIG_LEN])
{
    apr_sha1_ctx_t c;

    apr_sha1_init(&c);
    apr_sha1_update_binary(&c, (const unsigned char *)"wxpay:", 6);
    apr_sha1_update_binary(&c, (const unsigned char *)id,
                           (unsigned int)strlen(id));
    apr_sha1_final(out, &c);
}

const char *wx_pay_apiv3_key_problem(const char *s)
{
    apr_size_t n = strlen(s), i;

    if (n != WX_PAY_APIV3_KEY_LEN) {
        return n < WX_PAY_APIV3_KEY_LEN ? "is shorter than 32 characters"
                                        : "is longer than 32 characters";
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
            return "holds a space, a control or a non-ASCII byte";
        }
    }
    return NULL;
}
