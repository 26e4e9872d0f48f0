/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of WeChat Pay's part of the core (wx_pay.c), TAP output for
 * prove, run from the top of the tree.  V6 is the published GCM vector
 * (t/vectors.md).  Signatures are made by the openssl command line with
 * the test keys in t/pay/ (t/pay/make-fixtures), never by the code under
 * test; other GCM resources are sealed here through EVP directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"

#include <openssl/evp.h>

#include "wx_crypto.h"
#include "wx_pay.h"
#include "tap.h"

#define PLATFORM_SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define OTHER_SERIAL    "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"
#define PUBKEY_ID       "PUB_KEY_ID_0114232806052025032500000000000000"

#define V6_KEY   "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
#define V6_NONCE "uluk4a9R25RW"
#define V6_AAD   "associatedData"
#define V6_CT    "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="

static apr_pool_t *pool;

static char *slurp(const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = apr_palloc(pool, 65536);
    apr_size_t n = f ? fread(buf, 1, 65535, f) : 0;

    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* SHA256withRSA, base64, of ts\nnonce\nbody\n with t/pay/NAME.key, made
 * by `openssl dgst -sha256 -sign`. */
static const char *openssl_sign(const char *name, const char *ts,
                                const char *nonce, const char *body)
{
    const char *msg = "build/wx_pay_test.msg";
    FILE *f = fopen(msg, "wb");
    char cmd[512], *out = apr_palloc(pool, 1024);
    apr_size_t n;

    fprintf(f, "%s\n%s\n%s\n", ts, nonce, body);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "openssl dgst -sha256 -sign t/pay/%s.key %s | openssl base64 -A",
             name, msg);
    f = popen(cmd, "r");
    n = f ? fread(out, 1, 1023, f) : 0;
    if (f) {
        pclose(f);
    }
    out[n] = '\0';
    return out;
}

static wx_pay_key_t *key(const char *id, const char *file, const char **why)
{
    apr_size_t n;
    char *pem = slurp(file, &n);
    wx_pay_key_t *k = NULL;

    *why = wx_pay_key_parse(pool, id, pem, n, &k);
    return k;
}

static void test_keys(void)
{
    const char *why;
    wx_pay_key_t *k;

    k = key(PLATFORM_SERIAL, "t/pay/platform.pem", &why);
    ok(k != NULL && why == NULL, "a certificate under its serial: loaded");
    k = key("5157f09efdc096de15ebe81a47057a7232f1b8e1", "t/pay/platform.pem",
            &why);
    ok(k != NULL, "the serial in lower case: loaded");
    k = key(OTHER_SERIAL + 1, "t/pay/other.pem", &why);
    ok(k != NULL, "a serial written without its leading zero: loaded");
    k = key(PUBKEY_ID, "t/pay/pubkey.pem", &why);
    ok(k != NULL && why == NULL, "a PUB_KEY_ID_ public key: loaded");
    is_str(wx_pay_key_id(k), PUBKEY_ID, "the key keeps its id");

    key(OTHER_SERIAL, "t/pay/platform.pem", &why);
    is_str(why, "the certificate's serial number is not the id",
           "a certificate under another serial: refused");
    key(PUBKEY_ID, "t/pay/platform.pem", &why);
    is_str(why, "the file holds no PEM public key (-----BEGIN PUBLIC "
           "KEY-----), which a PUB_KEY_ID_ id names",
           "a certificate for a PUB_KEY_ID_: refused");
    key(PLATFORM_SERIAL, "t/pay/pubkey.pem", &why);
    is_str(why, "the file holds no PEM certificate (-----BEGIN "
           "CERTIFICATE-----), which a serial number id names",
           "a bare public key for a serial: refused");
    key("0123ABCD", "t/pay/short.pem", &why);
    is_str(why, "the RSA key is shorter than 2048 bits", "RSA 1024: refused");
    key("not a serial", "t/pay/platform.pem", &why);
    ok(why != NULL && strstr(why, "neither a certificate serial") != NULL,
       "an id that is neither: refused");
    key(PLATFORM_SERIAL, "t/pay/make-fixtures", &why);
    ok(why != NULL, "a file that is no PEM: refused");
}

static void test_find(void)
{
    const char *why;
    const wx_pay_key_t *keys[3];

    keys[0] = key(PLATFORM_SERIAL, "t/pay/platform.pem", &why);
    keys[1] = key(OTHER_SERIAL, "t/pay/other.pem", &why);
    keys[2] = key(PUBKEY_ID, "t/pay/pubkey.pem", &why);
    ok(wx_pay_key_find(keys, 3, PLATFORM_SERIAL) == keys[0],
       "find: the platform certificate");
    ok(wx_pay_key_find(keys, 3, "0" OTHER_SERIAL) == keys[1],
       "find: a serial with a leading zero more");
    ok(wx_pay_key_find(keys, 3, PUBKEY_ID) == keys[2], "find: the public key");
    ok(wx_pay_key_find(keys, 3, "pub_key_id_0114232806052025032500000000000000")
       == NULL, "find: a PUB_KEY_ID_ in another case is another id");
    ok(wx_pay_key_find(keys, 3, "DEADBEEF") == NULL, "find: an unknown serial");
}

static wx_pay_headers_t headers(const char *ts, const char *nonce,
                                const char *sig, const char *serial,
                                const char *type)
{
    wx_pay_headers_t h;

    memset(&h, 0, sizeof(h));
    h.v[WX_PAY_H_TIMESTAMP] = ts;
    h.v[WX_PAY_H_NONCE] = nonce;
    h.v[WX_PAY_H_SIGNATURE] = sig;
    h.v[WX_PAY_H_SERIAL] = serial;
    h.v[WX_PAY_H_SIGNATURE_TYPE] = type;
    for (int i = 0; i < WX_PAY_H_COUNT; i++) {
        h.n[i] = h.v[i] != NULL;
    }
    return h;
}

static void test_headers(void)
{
    const char *why = NULL;
    wx_pay_headers_t h;

    h = headers("1700000000", "n0nce", "QUJD", PLATFORM_SERIAL,
                WX_PAY_RSA_TYPE);
    is_int(wx_pay_headers_check(&h, &why), WX_OK, "headers: all five");
    h.v[WX_PAY_H_SIGNATURE_TYPE] = NULL;
    h.n[WX_PAY_H_SIGNATURE_TYPE] = 0;
    is_int(wx_pay_headers_check(&h, &why), WX_OK,
           "headers: no Wechatpay-Signature-Type is the one type");
    h = headers("1700000000", "n0nce", "QUJD", PLATFORM_SERIAL,
                "WECHATPAY2-SM2-WITH-SM3");
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_SIG_TYPE,
           "headers: SM2 signature type: unsupported");
    is_str(why, "Wechatpay-Signature-Type is not WECHATPAY2-SHA256-RSA2048",
           "headers: unsupported type's reason");

    h = headers(NULL, "n0nce", "QUJD", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED, "no timestamp");
    is_str(why, "Wechatpay-Timestamp is missing or empty", "no timestamp: why");
    h = headers("1700000000", "", "QUJD", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED, "empty nonce");
    h = headers("1700000000", "n0nce", NULL, PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED, "no signature");
    h = headers("1700000000", "n0nce", "QUJD", NULL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED, "no serial");
    is_str(why, "Wechatpay-Serial is missing or empty", "no serial: why");
    h = headers("1700000000", "n0nce", "QUJD", PLATFORM_SERIAL, NULL);
    h.n[WX_PAY_H_SERIAL] = 2;
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED, "two serials");
    is_str(why, "Wechatpay-Serial is sent more than once", "two serials: why");
    h = headers("17000x0000", "n0nce", "QUJD", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED,
           "a timestamp not all digits");
    h = headers("17000000000", "n0nce", "QUJD", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED,
           "an 11-digit timestamp");
    h = headers("1700000000", "n0nce", "QUJ", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED,
           "a signature that is not base64");
    h = headers("1700000000", "n 0", "QUJD", PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_PAY_MALFORMED,
           "a nonce with a space");
    h = headers("1700000000", "n0nce", WX_PAY_PROBE_PREFIX "abc",
                PLATFORM_SERIAL, NULL);
    is_int(wx_pay_headers_check(&h, &why), WX_OK,
           "a probe passes the header check (wx_pay_verify refuses it)");
}

static void test_fresh(void)
{
    const char *why = NULL;
    apr_time_t now = apr_time_from_sec(1700000000);

    is_int(wx_pay_fresh("1700000300", now, 300, &why), WX_OK, "fresh: +300");
    is_int(wx_pay_fresh("1699999700", now, 300, &why), WX_OK, "fresh: -300");
    is_int(wx_pay_fresh("1700000301", now, 300, &why), WX_PAY_STALE,
           "fresh: +301 is stale");
    is_int(wx_pay_fresh("1699999699", now, 300, &why), WX_PAY_STALE,
           "fresh: -301 is stale");
    is_str(why, "Wechatpay-Timestamp is older than the max age",
           "stale: why");
    is_int(wx_pay_fresh("1", now, WX_MAX_AGE_OFF, &why), WX_OK,
           "fresh: off");
}

static void test_verify(void)
{
    const char *why = NULL, *body = "{\"id\":\"EV-2018022511223320873\"}";
    const char *sig;
    wx_pay_key_t *platform = key(PLATFORM_SERIAL, "t/pay/platform.pem", &why);
    wx_pay_key_t *pub = key(PUBKEY_ID, "t/pay/pubkey.pem", &why);

    sig = openssl_sign("platform", "1700000000", "fdasflkja484w", body);
    ok(strlen(sig) == 344, "openssl signed (RSA 2048: 344 base64 bytes)");
    is_int(wx_pay_verify(platform, "1700000000", "fdasflkja484w", body,
                         strlen(body), sig, &why),
           WX_OK, "verify: a certificate's signature");
    is_int(wx_pay_verify(pub, "1700000000", "fdasflkja484w", body,
                         strlen(body), sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: with another key: bad");
    is_str(why, "Wechatpay-Signature does not verify with the key the "
           "serial names", "verify: bad: why");
    is_int(wx_pay_verify(platform, "1700000001", "fdasflkja484w", body,
                         strlen(body), sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: another timestamp: bad");
    is_int(wx_pay_verify(platform, "1700000000", "fdasflkja484x", body,
                         strlen(body), sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: another nonce: bad");
    is_int(wx_pay_verify(platform, "1700000000", "fdasflkja484w",
                         "{\"id\":\"EV-2018022511223320874\"}", strlen(body),
                         sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: one body byte changed: bad");
    is_int(wx_pay_verify(platform, "1700000000", "fdasflkja484w",
                         "{\"id\": \"EV-2018022511223320873\"}",
                         strlen(body) + 1, sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: the body re-serialized: bad");
    is_int(wx_pay_verify(platform, "1700000000", "fdasflkja484w", body,
                         strlen(body) - 1, sig, &why),
           WX_PAY_BAD_SIGNATURE, "verify: the body cut by a byte: bad");

    sig = openssl_sign("pubkey", "1700000000", "n", body);
    is_int(wx_pay_verify(pub, "1700000000", "n", body, strlen(body), sig,
                         &why),
           WX_OK, "verify: a WeChat Pay public key's signature");

    is_int(wx_pay_verify(platform, "1700000000", "n", body, strlen(body),
                         WX_PAY_PROBE_PREFIX "cmVzZXJ2ZWQ=", &why),
           WX_PAY_BAD_SIGNATURE, "verify: a probe: refused");
    is_str(why, "a WeChat Pay signature probe (WECHATPAY/SIGNTEST/...), "
           "refused as it must be", "verify: a probe: why");
    is_int(wx_pay_verify(platform, "1700000000", "n", body, strlen(body),
                         "QUJD", &why),
           WX_PAY_BAD_SIGNATURE, "verify: a short signature: bad");
}

static void test_parse(void)
{
    const char *why = NULL;
    wx_pay_notice_t m;
    const char *ok_body =
        "{\"id\":\"EV-2018022511223320873\",\"create_time\":"
        "\"2015-05-20T13:29:35+08:00\",\"resource_type\":\"encrypt-resource\","
        "\"event_type\":\"TRANSACTION.SUCCESS\",\"summary\":\"\\u652f\\u4ed8"
        "\\u6210\\u529f\",\"resource\":{\"original_type\":\"transaction\","
        "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"" V6_CT "\","
        "\"associated_data\":\"" V6_AAD "\",\"nonce\":\"" V6_NONCE "\"}}";
    struct { const char *body; wx_result_t rc; const char *name; } bad[] = {
        { "", WX_PAY_BAD_JSON, "empty body" },
        { "[1]", WX_PAY_BAD_JSON, "an array" },
        { "{\"id\":\"a\",\"id\":\"b\"}", WX_PAY_BAD_JSON, "a repeated name" },
        { "{\"id\":1,\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\",\"resource\":{}}", WX_PAY_BAD_JSON,
          "a number id" },
        { "{\"id\":\"a b\",\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\",\"resource\":{}}", WX_PAY_BAD_JSON,
          "an id with a space" },
        { "{\"id\":\"a\",\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\"}", WX_PAY_BAD_JSON, "no resource" },
        { "{\"id\":\"a\",\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\",\"resource\":{\"algorithm\":"
          "\"AEAD_AES_256_GCM\",\"nonce\":\"n\"}}", WX_PAY_BAD_JSON,
          "no ciphertext" },
        { "{\"id\":\"a\\u0000b\",\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\",\"resource\":{}}", WX_PAY_BAD_JSON,
          "an id with \\u0000" },
        { "{\"id\":\"a\",\"create_time\":\"t\",\"event_type\":\"e\","
          "\"resource_type\":\"r\",\"resource\":{\"algorithm\":"
          "\"AEAD_SM4_GCM\",\"ciphertext\":\"QUJD\",\"nonce\":\"n\"}}",
          WX_PAY_BAD_ALGORITHM, "another algorithm" },
    };
    apr_size_t i;

    is_int(wx_pay_parse(pool, ok_body, strlen(ok_body), &m, &why), WX_OK,
           "parse: WeChat Pay's sample notification");
    is_str(m.id, "EV-2018022511223320873", "parse: id");
    is_str(m.event_type, "TRANSACTION.SUCCESS", "parse: event_type");
    is_str(m.resource_type, "encrypt-resource", "parse: resource_type");
    is_str(m.create_time, "2015-05-20T13:29:35+08:00", "parse: create_time");
    is_str(m.nonce, V6_NONCE, "parse: resource.nonce");
    is_str(m.associated_data, V6_AAD, "parse: resource.associated_data");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(wx_pay_parse(pool, bad[i].body, strlen(bad[i].body), &m, &why),
               bad[i].rc, bad[i].name);
    }
    is_str(why, "resource.algorithm is not AEAD_AES_256_GCM",
           "another algorithm: why");
}

/* AES-256-GCM through EVP directly: base64(ciphertext || tag). */
static const char *seal(const char *key, const char *nonce, const char *aad,
                        const char *plain)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = (int)strlen(plain), len = 0, fin = 0;
    unsigned char *out = apr_palloc(pool, (apr_size_t)n + 16);
    char *b64;

    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)strlen(nonce), NULL);
    EVP_EncryptInit_ex(c, NULL, NULL, (const unsigned char *)key,
                       (const unsigned char *)nonce);
    EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)aad,
                      (int)strlen(aad));
    EVP_EncryptUpdate(c, out, &len, (const unsigned char *)plain, n);
    EVP_EncryptFinal_ex(c, out + len, &fin);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n);
    EVP_CIPHER_CTX_free(c);
    b64 = apr_palloc(pool, apr_base64_encode_len(n + 16));
    apr_base64_encode_binary(b64, out, n + 16);
    return b64;
}

static void test_decrypt(void)
{
    const char *why = NULL;
    const unsigned char *keys[2];
    wx_pay_notice_t m;
    char *plain = NULL;
    apr_size_t plen = 0, i;
    int which = -1;
    const char *other = "0123456789abcdef0123456789abcdef";

    memset(&m, 0, sizeof(m));
    m.ciphertext = V6_CT;
    m.nonce = V6_NONCE;
    m.associated_data = V6_AAD;
    keys[0] = (const unsigned char *)V6_KEY;
    is_int(wx_pay_decrypt(pool, keys, 1, &m, &plain, &plen, &which, &why),
           WX_OK, "V6: decrypts");
    is_str(plain, "message", "V6: to \"message\"");
    is_int((long)plen, 7, "V6: 7 bytes");

    /* V6 with any one byte changed: ciphertext (each byte of it, tag
     * included), nonce, associated data. */
    {
        unsigned char raw[64];
        int rawlen = apr_base64_decode_binary(raw, V6_CT), bad = 0;
        for (i = 0; i < (apr_size_t)rawlen; i++) {
            char *b64 = apr_palloc(pool, apr_base64_encode_len(rawlen));
            raw[i] ^= 0x01;
            apr_base64_encode_binary(b64, raw, rawlen);
            raw[i] ^= 0x01;
            m.ciphertext = b64;
            bad += wx_pay_decrypt(pool, keys, 1, &m, &plain, &plen, &which,
                                  &why) == WX_PAY_BAD_RESOURCE;
        }
        is_int(bad, rawlen, "V6: each of its bytes changed: the tag fails");
        m.ciphertext = V6_CT;
    }
    m.nonce = "uluk4a9R25RX";
    is_int(wx_pay_decrypt(pool, keys, 1, &m, &plain, &plen, &which, &why),
           WX_PAY_BAD_RESOURCE, "V6: another nonce: the tag fails");
    m.nonce = V6_NONCE;
    m.associated_data = "associatedDatb";
    is_int(wx_pay_decrypt(pool, keys, 1, &m, &plain, &plen, &which, &why),
           WX_PAY_BAD_RESOURCE, "V6: other associated data: the tag fails");
    is_str(why, "resource does not decrypt with the APIv3 key (its GCM tag "
           "does not check)", "V6: bad: why");
    m.associated_data = V6_AAD;

    /* Rotation: the previous key opens what the current one cannot. */
    keys[0] = (const unsigned char *)other;
    keys[1] = (const unsigned char *)V6_KEY;
    is_int(wx_pay_decrypt(pool, keys, 2, &m, &plain, &plen, &which, &why),
           WX_OK, "V6 with the previous key: decrypts");
    is_int(which, 1, "V6: by the second key");
    is_int(wx_pay_decrypt(pool, keys, 1, &m, &plain, &plen, &which, &why),
           WX_PAY_BAD_RESOURCE, "V6 with only another key: fails");

    /* An empty associated data (absent in the JSON) and a long plaintext. */
    {
        char big[5000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        m.associated_data = "";
        m.ciphertext = seal(other, V6_NONCE, "", big);
        is_int(wx_pay_decrypt(pool, keys, 2, &m, &plain, &plen, &which, &why),
               WX_OK, "no associated data, 4999 bytes: decrypts");
        ok(plen == 4999 && strcmp(plain, big) == 0, "...to the plaintext");
        is_int(which, 0, "...by the first key");
    }
    m.ciphertext = "QUJDRA==";
    is_int(wx_pay_decrypt(pool, keys, 2, &m, &plain, &plen, &which, &why),
           WX_PAY_BAD_RESOURCE, "a ciphertext shorter than a tag");
    m.ciphertext = "not base64!";
    is_int(wx_pay_decrypt(pool, keys, 2, &m, &plain, &plen, &which, &why),
           WX_PAY_BAD_RESOURCE, "a ciphertext that is not base64");
}

static void test_apiv3(void)
{
    is_str(wx_pay_apiv3_key_problem(V6_KEY), NULL, "APIv3 key: 32 bytes");
    is_str(wx_pay_apiv3_key_problem("short"), "is shorter than 32 characters",
           "APIv3 key: short");
    is_str(wx_pay_apiv3_key_problem(V6_KEY "x"),
           "is longer than 32 characters", "APIv3 key: long");
    is_str(wx_pay_apiv3_key_problem("a7cde1ZJB1kG2e7VfTs3jQzaWizur8G "),
           "holds a space, a control or a non-ASCII byte", "APIv3 key: space");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_keys();
    test_find();
    test_headers();
    test_fresh();
    test_verify();
    test_parse();
    test_decrypt();
    test_apiv3();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
