/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the AES half of the core (wx_crypto.c) and of
 * msg_signature, TAP output for prove.  V4 and V5 are WeChat's and WeCom's
 * published vectors (t/vectors.md); the decoded keys were checked with
 * Python's base64 module.  Malformed plaintexts are encrypted here through
 * apr_crypto itself (raw_encrypt), not through the code under test.
 */
#include <stdio.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_general.h"
#include "apr_strings.h"

#include "wx_crypto.h"
#include "wx_protocol.h"
#include "tap.h"

static apr_pool_t *pool;
static const apr_crypto_t *factory;

#define V4_TOKEN  "QDG6eK"
#define V4_KEY    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
#define V4_CORPID "wx5823bf96d3bd56c7"
#define V4_ECHO   "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3" \
                  "zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
#define V4_ECHO_WIRE "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt" \
                     "3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
#define V4_SIG    "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
#define V5_KEY    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define V5_APPID  "wxb11529c136998cb6"
#define V5_MSG    "\xe6\x88\x91\xe6\x98\xaf\xe4\xb8\xad\xe6\x96\x87" "abcd123"
#define V5_ENC    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bny" \
                  "g5K55bgVtVzd832WzZGMhkP72vVOfg=="

static const char *hex(const unsigned char *b, apr_size_t n)
{
    char *s = apr_palloc(pool, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        apr_snprintf(s + 2 * i, 3, "%02x", b[i]);
    }
    return s;
}

static wx_aes_key_t key_of(const char *s)
{
    wx_aes_key_t k;

    wx_aes_key_decode(s, &k);
    return k;
}

/*
 * AES-256-CBC of exactly the bytes given (a multiple of 16), iv = key[0..16),
 * straight through apr_crypto: how the malformed cases are made.
 */
static const char *raw_encrypt(const wx_aes_key_t *key,
                               const unsigned char *plain, apr_size_t n)
{
    apr_crypto_key_rec_t rec;
    apr_crypto_key_t *k = NULL;
    apr_crypto_block_t *block = NULL;
    const unsigned char *iv = key->k;
    unsigned char *out = NULL;
    apr_size_t bs = 0, outlen = 0, tail = 0;
    char *b64;

    memset(&rec, 0, sizeof(rec));
    rec.ktype = APR_CRYPTO_KTYPE_SECRET;
    rec.type = APR_KEY_AES_256;
    rec.mode = APR_MODE_CBC;
    rec.k.secret.secret = key->k;
    rec.k.secret.secretLen = WX_AES_KEY_LEN;
    if (apr_crypto_key(&k, &rec, factory, pool) != APR_SUCCESS
        || apr_crypto_block_encrypt_init(&block, &iv, k, &bs, pool)
           != APR_SUCCESS
        || apr_crypto_block_encrypt(&out, &outlen, plain, n, block)
           != APR_SUCCESS
        || apr_crypto_block_encrypt_finish(out + outlen, &tail, block)
           != APR_SUCCESS) {
        return NULL;
    }
    b64 = apr_palloc(pool, apr_base64_encode_len((int)(outlen + tail)));
    apr_base64_encode_binary(b64, out, (int)(outlen + tail));
    return b64;
}

/*
 * A plaintext of WeChat's layout with chosen fields: random(16) "R...",
 * the length field, msg, id, then pad bytes (npad of value padval).
 */
static const char *crafted(const wx_aes_key_t *key, apr_uint32_t lenfield,
                           const char *msg, const char *id, apr_size_t npad,
                           unsigned char padval)
{
    unsigned char buf[256];
    apr_size_t n = 0, m = strlen(msg), i = strlen(id);

    memset(buf, 'R', 16);
    n = 16;
    buf[n++] = (unsigned char)(lenfield >> 24);
    buf[n++] = (unsigned char)(lenfield >> 16);
    buf[n++] = (unsigned char)(lenfield >> 8);
    buf[n++] = (unsigned char)lenfield;
    memcpy(buf + n, msg, m);
    n += m;
    memcpy(buf + n, id, i);
    n += i;
    memset(buf + n, padval, npad);
    n += npad;
    return raw_encrypt(key, buf, n);
}

static wx_result_t decrypt(const wx_aes_key_t *keys, int nkeys,
                           const char *b64, const char *appid,
                           wx_bytes_t *msg, wx_bytes_t *id, int *which,
                           const char **why)
{
    *why = NULL;
    return wx_decrypt(pool, factory, keys, nkeys, b64, strlen(b64), appid,
                      msg, id, which, why);
}

static void test_keys(void)
{
    wx_aes_key_t k;

    is_str(wx_aes_key_problem(V4_KEY), NULL, "V4 key: a valid key");
    is_str(wx_aes_key_problem(V5_KEY), NULL, "V5 key: a valid key");
    is_str(wx_aes_key_problem("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"),
           "is shorter than 43 characters", "42 characters: refused");
    is_str(wx_aes_key_problem("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"),
           "is longer than 43 characters", "44 characters: refused");
    is_str(wx_aes_key_problem("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+"),
           "holds a character other than an ASCII letter or digit",
           "a '+' in the key: refused");
    is_str(wx_aes_key_problem("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF="),
           "holds a character other than an ASCII letter or digit",
           "a '=' in the key: refused");
    is_str(wx_aes_key_problem(""), "is shorter than 43 characters",
           "empty key: refused");

    k = key_of(V4_KEY);
    is_str(hex(k.k, WX_AES_KEY_LEN),
           "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760",
           "V4 key decodes despite the surplus bits of its last character");
    k = key_of(V5_KEY);
    is_str(hex(k.k, WX_AES_KEY_LEN),
           "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051",
           "V5 key decodes");
}

static void test_v4(void)
{
    wx_aes_key_t keys[2];
    const char *tokens[] = { V4_TOKEN };
    const char *other[] = { "Other1", V4_TOKEN };
    wx_query_t q;
    wx_bytes_t msg, id;
    const char *why = NULL;
    int which = -1;
    wx_result_t rc;

    rc = wx_query_parse(pool, "msg_signature=" V4_SIG "&timestamp=1409659589"
                        "&nonce=263014780&echostr=" V4_ECHO_WIRE, &q, &why);
    is_int(rc, WX_OK, "V4: the WeCom verification query parses");
    is_str(apr_pstrmemdup(pool, q.val[WX_P_ECHOSTR], q.len[WX_P_ECHOSTR]),
           V4_ECHO, "V4: echostr %-decoded, '+' kept");
    rc = wx_verify_msg(&q, q.val[WX_P_ECHOSTR], q.len[WX_P_ECHOSTR], tokens,
                       1, 0, WX_MAX_AGE_OFF, &which, &why);
    is_int(rc, WX_OK, "V4: msg_signature over [token, ts, nonce, echostr]");
    rc = wx_verify_msg(&q, q.val[WX_P_ECHOSTR], q.len[WX_P_ECHOSTR], other,
                       2, 0, WX_MAX_AGE_OFF, &which, &why);
    is_int(rc, WX_OK, "V4: rotation, second token signs");
    is_int(which, 1, "V4: rotation, which = 1");
    rc = wx_verify_msg(&q, q.val[WX_P_ECHOSTR], q.len[WX_P_ECHOSTR] - 1,
                       tokens, 1, 0, WX_MAX_AGE_OFF, &which, &why);
    is_int(rc, WX_BAD_SIGNATURE, "V4: one byte less of echostr: refused");
    is_str(why, "msg_signature does not match the token", "V4: why");
    rc = wx_verify_plain(&q, tokens, 1, 0, WX_MAX_AGE_OFF, &which, &why);
    is_int(rc, WX_MALFORMED, "V4: no plain signature in a WeCom query");
    is_str(why, "signature missing", "V4: plain verify: why");
    rc = wx_verify_msg(&q, q.val[WX_P_ECHOSTR], q.len[WX_P_ECHOSTR], tokens,
                       1, apr_time_from_sec(1409659589 + 301), 300, &which,
                       &why);
    is_int(rc, WX_STALE, "V4: msg_signature good, timestamp stale");

    keys[0] = key_of(V4_KEY);
    rc = decrypt(keys, 1, V4_ECHO, NULL, &msg, &id, &which, &why);
    is_int(rc, WX_OK, "V4: decrypts");
    is_str(apr_pstrmemdup(pool, msg.p, msg.n), "1616140317555161061",
           "V4: the message");
    is_str(msg.p, "1616140317555161061", "V4: the message is NUL-ended");
    is_str(id.p, V4_CORPID, "V4: the receiveid is the CorpID");
    rc = decrypt(keys, 1, V4_ECHO, V4_CORPID, &msg, &id, &which, &why);
    is_int(rc, WX_OK, "V4: WxAppID = CorpID: ok");
    rc = decrypt(keys, 1, V4_ECHO, "wx5823bf96d3bd56c8", &msg, &id, &which,
                 &why);
    is_int(rc, WX_BAD_APPID, "V4: another WxAppID: bad-appid");
    is_str(why, "the message's receiveid is not the one required", "V4: why");
    rc = decrypt(keys, 1, V4_ECHO, "wx5823bf96d3bd56c", &msg, &id, &which,
                 &why);
    is_int(rc, WX_BAD_APPID, "V4: a prefix of the CorpID: bad-appid");
    rc = decrypt(keys, 1, V4_ECHO, "", &msg, &id, &which, &why);
    is_int(rc, WX_BAD_APPID, "V4: an empty WxAppID: bad-appid");

    /* Rotation: the previous key decrypts when the current does not. */
    keys[0] = key_of(V5_KEY);
    keys[1] = key_of(V4_KEY);
    rc = decrypt(keys, 2, V4_ECHO, NULL, &msg, &id, &which, &why);
    is_int(rc, WX_OK, "V4 under [other, V4 key]: decrypts");
    is_int(which, 1, "V4 under [other, V4 key]: the previous key worked");
    rc = decrypt(keys, 1, V4_ECHO, NULL, &msg, &id, &which, &why);
    is_int(rc, WX_BAD_CIPHER, "V4 under another key alone: bad-cipher");
}

static void test_v5(void)
{
    wx_aes_key_t key = key_of(V5_KEY);
    wx_bytes_t msg, id;
    const char *why = NULL;
    char *b64 = NULL;
    apr_status_t rv;
    int which = -1;

    rv = wx_encrypt(pool, factory, &key, (const unsigned char *)
                    "aaaabbbbccccdddd", V5_MSG, strlen(V5_MSG), V5_APPID,
                    strlen(V5_APPID), &b64, &why);
    is_int(rv, APR_SUCCESS, "V5: encrypts");
    is_str(b64, V5_ENC, "V5: byte-exact Encrypt with the fixed random");
    is_int(decrypt(&key, 1, V5_ENC, V5_APPID, &msg, &id, &which, &why),
           WX_OK, "V5: decrypts, AppID checked");
    is_str(msg.p, V5_MSG, "V5: the UTF-8 message back");
    is_str(id.p, V5_APPID, "V5: the AppID back");
}

/* Encrypt then decrypt, with fresh random, at every padding length. */
static void test_round_trips(void)
{
    wx_aes_key_t key = key_of(V4_KEY);
    char big[5000];
    int len, good = 0, pads32 = 0;

    memset(big, '<', sizeof(big));
    for (len = 0; len <= 64; len++) {
        wx_bytes_t msg, id;
        const char *why = NULL;
        char *b64 = NULL;
        apr_size_t n = 16 + 4 + (apr_size_t)len + strlen(V4_CORPID);

        if (wx_encrypt(pool, factory, &key, NULL, big, (apr_size_t)len,
                       V4_CORPID, strlen(V4_CORPID), &b64, &why)
            == APR_SUCCESS
            && decrypt(&key, 1, b64, V4_CORPID, &msg, &id, NULL, &why)
               == WX_OK
            && msg.n == (apr_size_t)len && memcmp(msg.p, big, msg.n) == 0) {
            good++;
        }
        pads32 += n % 32 == 0;
    }
    is_int(good, 65, "round trip of 0..64-byte messages (pads 1..32)");
    is_int(pads32, 2, "two of them pad a whole 32-byte block");
    {
        wx_bytes_t msg, id;
        const char *why = NULL;
        char *b64 = NULL;

        wx_encrypt(pool, factory, &key, NULL, big, sizeof(big), "", 0, &b64,
                   &why);
        is_int(decrypt(&key, 1, b64, NULL, &msg, &id, NULL, &why), WX_OK,
               "round trip of 5000 bytes with an empty receiveid");
        is_int((long)msg.n, 5000, "5000 bytes back");
        is_int((long)id.n, 0, "empty receiveid back");
    }
}

static void test_bad_cipher(void)
{
    wx_aes_key_t key = key_of(V4_KEY);
    wx_bytes_t msg, id;
    const char *why = NULL;
    static const struct {
        const char *b64, *why, *name;
    } notb64[] = {
        { "P9nAzCzyDtyTWESHep1vC5X9xho qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4R"
          "Pcs8TgAE7OaBO+FZXvnaqQ==", "the ciphertext is not base64",
          "a space where '/' was ('+' turned to space's cousin)" },
        { "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4R"
          "Pcs8TgAE7OaBO+FZXvnaqQ=", "the ciphertext is not base64",
          "a missing '='" },
        { "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4R"
          "Pcs8TgAE7OaBO+FZXvnaqQ=A", "the ciphertext is not base64",
          "'=' in the middle" },
        { "P9nAzCzyDtyTWESHep1vC5X9xho-qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4R"
          "Pcs8TgAE7OaBO+FZXvnaqQ==", "the ciphertext is not base64",
          "URL-safe base64 ('-')" },
        { "", "the ciphertext is not base64", "empty" },
        { "AAAAAAAAAAAAAAAAAAAAAA==",
          "the ciphertext is not a whole number of AES blocks",
          "16 bytes: no room for WeChat's layout" },
        { "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
          "the ciphertext is not a whole number of AES blocks",
          "32 bytes less one" },
    };
    unsigned int i;

    for (i = 0; i < sizeof(notb64) / sizeof(notb64[0]); i++) {
        is_int(decrypt(&key, 1, notb64[i].b64, NULL, &msg, &id, NULL, &why),
               WX_BAD_CIPHER,
               apr_pstrcat(pool, notb64[i].name, ": bad-cipher", NULL));
        is_str(why, notb64[i].why, notb64[i].name);
    }

    /* Plaintexts of WeChat's layout, one field wrong each.  "hello" and
     * the 18-byte id make 16+4+5+18 = 43 bytes: 21 to pad to 64. */
    {
        static const struct {
            apr_uint32_t lenfield;
            const char *id;
            apr_size_t npad;
            unsigned char padval;
            const char *appid;
            wx_result_t rc;
            const char *why, *name;
        } bad[] = {
            { 5, V4_CORPID, 21, 21, V4_CORPID, WX_OK, NULL,
              "crafted: a correct one decrypts (the helper is right)" },
            { 5, V4_CORPID, 21, 0, NULL, WX_BAD_CIPHER,
              "the decrypted message's padding is out of range",
              "pad value 0" },
            { 5, V4_CORPID, 21, 33, NULL, WX_BAD_CIPHER,
              "the decrypted message's padding is out of range",
              "pad value 33" },
            /* 16+4+5+18+53 = 96 bytes of which 53 claim to be pad */
            { 5, V4_CORPID, 53, 53, NULL, WX_BAD_CIPHER,
              "the decrypted message's padding is out of range",
              "pad value 53 (past a 32-byte block)" },
            { 5, V4_CORPID "\x14", 20, 21, NULL, WX_BAD_CIPHER,
              "the decrypted message's padding bytes differ",
              "pad bytes that differ" },
            { 24, V4_CORPID, 21, 21, NULL, WX_BAD_CIPHER,
              "the decrypted message's length field is beyond its end",
              "length field one past the end" },
            { 0xffffffffu, V4_CORPID, 21, 21, NULL, WX_BAD_CIPHER,
              "the decrypted message's length field is beyond its end",
              "length field 0xffffffff" },
            { 23, V4_CORPID, 21, 21, NULL, WX_OK, NULL,
              "length field covering the id: an empty receiveid" },
            { 23, V4_CORPID, 21, 21, V4_CORPID, WX_BAD_APPID,
              "the message's receiveid is empty, not the one required",
              "empty receiveid, WxAppID set" },
            { 5, "wx5823bf96d3bd56c8", 21, 21, V4_CORPID, WX_BAD_APPID,
              "the message's receiveid is not the one required",
              "receiveid mismatch" },
        };
        unsigned int i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            const char *b64 = crafted(&key, bad[i].lenfield, "hello",
                                      bad[i].id, bad[i].npad, bad[i].padval);
            why = NULL;
            is_int(decrypt(&key, 1, b64, bad[i].appid, &msg, &id, NULL, &why),
                   bad[i].rc, apr_pstrcat(pool, bad[i].name, ": ",
                                          wx_result_name(bad[i].rc), NULL));
            if (bad[i].rc != WX_OK) {
                is_str(why, bad[i].why, apr_pstrcat(pool, bad[i].name,
                                                    ": why", NULL));
            }
        }
        /* The correct one and the empty receiveid, looked at closer. */
        decrypt(&key, 1, crafted(&key, 5, "hello", V4_CORPID, 21, 21),
                NULL, &msg, &id, NULL, &why);
        is_str(msg.p, "hello", "crafted: its message");
        decrypt(&key, 1, crafted(&key, 23, "hello", V4_CORPID, 21, 21),
                NULL, &msg, &id, NULL, &why);
        is_int((long)id.n, 0, "length field covering the id: id.n = 0");
    }
    {
        wx_aes_key_t two[2];
        two[0] = key_of(V5_KEY);
        two[1] = key_of(V5_KEY);
        is_int(decrypt(two, 2, V4_ECHO, NULL, &msg, &id, NULL, &why),
               WX_BAD_CIPHER, "under neither of two keys: bad-cipher");
        is_str(why, "the ciphertext decrypts to WeChat's format under none "
               "of the keys", "two keys: why");
    }
}

static void test_envelopes(void)
{
    static const struct {
        const char *body;
        wx_result_t rc;
        int env;
        const char *want;    /* Encrypt, or the why */
        const char *name;
    } cases[] = {
        { "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n"
          "<Encrypt><![CDATA[abc+/=]]></Encrypt></xml>", WX_OK, WX_ENV_XML,
          "abc+/=", "XML envelope (OA, Mini Program, WeCom)" },
        { "\r\n <xml><Encrypt>a&amp;b</Encrypt><AgentID>1</AgentID></xml>",
          WX_OK, WX_ENV_XML, "a&b", "XML, leading blanks, no CDATA" },
        { "{\"ToUserName\":\"gh_1\",\"Encrypt\":\"abc+/=\"}", WX_OK,
          WX_ENV_JSON, "abc+/=", "JSON envelope (Mini Program)" },
        { " {\"tousername\":\"ww1\",\"encrypt\":\"abc\\/=\",\"agentid\":1}",
          WX_OK, WX_ENV_JSON_WECOM, "abc/=", "JSON envelope (WeCom)" },
        { "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
          WX_MALFORMED, 0, "the request body has more than one Encrypt",
          "XML, two Encrypt" },
        { "<xml><ToUserName>x</ToUserName></xml>", WX_MALFORMED, 0,
          "the request body has no Encrypt", "XML, no Encrypt" },
        { "<xml><Encrypt></Encrypt></xml>", WX_MALFORMED, 0,
          "the request body's Encrypt is empty or not text",
          "XML, empty Encrypt" },
        { "<xml><Encrypt><b>x</b></Encrypt></xml>", WX_MALFORMED, 0,
          "the request body's Encrypt is empty or not text",
          "XML, markup in Encrypt" },
        { "<root><Encrypt>x</Encrypt></root>", WX_MALFORMED, 0,
          "the request body's XML root is not <xml>", "XML, other root" },
        { "<xml><Encrypt>x</Encrypt>", WX_MALFORMED, 0,
          "the request body is not well-formed XML", "XML, unclosed" },
        { "{\"Encrypt\":\"a\",\"Encrypt\":\"b\"}", WX_MALFORMED, 0,
          "the request body is not a JSON object", "JSON, duplicate key" },
        { "{\"Encrypt\":\"a\",\"encrypt\":\"b\"}", WX_MALFORMED, 0,
          "the request body has both Encrypt and encrypt",
          "JSON, both spellings" },
        { "{\"Encrypt\":1}", WX_MALFORMED, 0,
          "the request body's Encrypt is empty or not text",
          "JSON, Encrypt a number" },
        { "{\"Encrypt\":\"\"}", WX_MALFORMED, 0,
          "the request body's Encrypt is empty or not text",
          "JSON, Encrypt empty" },
        { "{\"ToUserName\":\"gh_1\"}", WX_MALFORMED, 0,
          "the request body has no Encrypt", "JSON, no Encrypt" },
        { "{\"Encrypt\":\"a\"", WX_MALFORMED, 0,
          "the request body is not a JSON object", "JSON, unclosed" },
        { "[\"Encrypt\"]", WX_MALFORMED, 0,
          "the request body is neither XML nor JSON", "JSON array" },
        { "Encrypt=abc", WX_MALFORMED, 0,
          "the request body is neither XML nor JSON", "form-like body" },
        { "", WX_MALFORMED, 0, "the request body is empty", "empty body" },
        { "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>"
          "<xml><Encrypt>&a;</Encrypt></xml>", WX_MALFORMED, 0,
          "the request body's XML has a DOCTYPE or comment", "XML, DOCTYPE" },
        { "<xml><!-- c --><Encrypt>x</Encrypt></xml>", WX_MALFORMED, 0,
          "the request body's XML has a DOCTYPE or comment", "XML, comment" },
        { "<xml xmlns:a=\"urn:x\"><Encrypt>x</Encrypt></xml>", WX_MALFORMED,
          0, "the request body's XML has attributes", "XML, a namespace" },
        { "<xml><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a>"
          "<Encrypt>x</Encrypt></xml>", WX_MALFORMED, 0,
          "the request body's XML is nested deeper than 8", "XML, depth 9" },
        { "<xml><a><a><a><a><a><a><a></a></a></a></a></a></a></a>"
          "<Encrypt><![CDATA[x<a><a>]]></Encrypt><b/></xml>", WX_OK, WX_ENV_XML,
          "x<a><a>", "XML, depth 8, markup inside CDATA, <b/>" },
        { "<xml><Encrypt>a\nb\nc&#65;</Encrypt></xml>", WX_OK, WX_ENV_XML,
          "a\nb\ncA", "XML, Encrypt in pieces (lines, a character reference)" },
        /* The bypass found by review: "<![CDATA[" inside a processing
         * instruction is no CDATA to expat; a scanner that skipped it let
         * a DOCTYPE and a comment through. */
        { "<?a <![CDATA[?><!DOCTYPE xml [<!ENTITY e \"x\">]><xml><!-- c -->"
          "<Encrypt><![CDATA[abc]]></Encrypt></xml><?b ]]>?>", WX_MALFORMED, 0,
          "the request body's XML has a processing instruction",
          "XML, CDATA in a processing instruction hides a DOCTYPE" },
        { "<xml><Encrypt>abc</Encrypt><?b <![CDATA[?><!-- ]]>?></xml>",
          WX_MALFORMED, 0,
          "the request body's XML has a processing instruction",
          "XML, a processing instruction after Encrypt" },
        { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><Encrypt>"
          "<![CDATA[abc]]></Encrypt></xml>", WX_OK, WX_ENV_XML, "abc",
          "XML, the declaration is no processing instruction" },
        { "<xml><Encrypt><![CDATA[a]]><!-- ]]> --></Encrypt></xml>",
          WX_MALFORMED, 0, "the request body's XML has a DOCTYPE or comment",
          "XML, a comment inside Encrypt" },
        { "<xml><Encrypt><![CDATA[<!-- x -->]]></Encrypt></xml>", WX_OK,
          WX_ENV_XML, "<!-- x -->", "XML, a comment's text inside CDATA" },
        { "<xml><ToUserName xmlns=\"urn:x\"/><Encrypt>a</Encrypt></xml>",
          WX_MALFORMED, 0, "the request body's XML has attributes",
          "XML, a default namespace on a child" },
        { "<xml><Encrypt>a</Encrypt></xml><!-- after -->", WX_MALFORMED, 0,
          "the request body's XML has a DOCTYPE or comment",
          "XML, a comment after the root" },
    };
    unsigned int i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wx_envelope_t env = WX_ENV_XML;
        wx_bytes_t enc = { NULL, 0 };
        const char *why = NULL;
        wx_result_t rc = wx_envelope_parse(pool, cases[i].body,
                                           strlen(cases[i].body), &env, &enc,
                                           &why);
        is_int(rc, cases[i].rc, apr_pstrcat(pool, cases[i].name, ": ",
                                            wx_result_name(cases[i].rc),
                                            NULL));
        if (cases[i].rc == WX_OK) {
            is_int(env, cases[i].env,
                   apr_pstrcat(pool, cases[i].name, ": envelope kind", NULL));
            is_str(enc.p ? apr_pstrmemdup(pool, enc.p, enc.n) : NULL,
                   cases[i].want, cases[i].name);
        }
        else {
            is_str(why, cases[i].want, cases[i].name);
        }
    }
}

/* WeChat's dedup rule: the key of a message, per account. */
static int dedup_key(const char *body, const char *token,
                     unsigned char id[WX_SIG_LEN])
{
    wx_message_t m;
    const char *why = NULL;

    if (wx_message_parse(pool, body, strlen(body), &m, &why) != WX_OK) {
        return -1;
    }
    return wx_dedup_id(&m, token, id);
}

static void test_dedup(void)
{
    static const char text1[] =
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
        "<FromUserName><![CDATA[oUser1]]></FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]>"
        "</MsgType><Content><![CDATA[hi]]></Content><MsgId>24536</MsgId></xml>";
    static const char text1_later[] =
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
        "<FromUserName><![CDATA[oUser1]]></FromUserName>"
        "<CreateTime>1714037099</CreateTime><MsgType><![CDATA[text]]>"
        "</MsgType><Content><![CDATA[hi]]></Content><MsgId>24536</MsgId></xml>";
    static const char text1_json[] =
        "{\"ToUserName\":\"gh_1\",\"FromUserName\":\"oUser1\","
        "\"CreateTime\":1714037059,\"MsgType\":\"text\",\"Content\":\"hi\","
        "\"MsgId\":24536}";
    static const char text2_user[] =
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oUser2</FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgId>24536</MsgId></xml>";
    static const char text1_other_account[] =
        "<xml><ToUserName>gh_2</ToUserName><FromUserName>oUser1</FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgId>24536</MsgId></xml>";
    static const char event1[] =
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oUser1</FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey>menu_a</EventKey></xml>";
    static const char event1_key_b[] =
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oUser1</FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey>menu_b</EventKey></xml>";
    static const char event1_agent[] =
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>oUser1</FromUserName>"
        "<CreateTime>1714037059</CreateTime><MsgType>event</MsgType>"
        "<Event>CLICK</Event><EventKey>menu_a</EventKey>"
        "<AgentID>1000002</AgentID></xml>";
    unsigned char a[WX_SIG_LEN], b[WX_SIG_LEN];
    wx_message_t m;
    const char *why = NULL;

    is_int(dedup_key(text1, "Tok3n", a), 1, "dedup: a text message has a key");
    is_int(dedup_key(text1_later, "Tok3n", b), 1, "dedup: its retry too");
    ok(memcmp(a, b, WX_SIG_LEN) == 0,
       "dedup: a message by MsgId and sender, not CreateTime");
    is_int(dedup_key(text1_json, "Tok3n", b), 1, "dedup: JSON, numbers");
    ok(memcmp(a, b, WX_SIG_LEN) == 0, "dedup: JSON and XML alike");
    dedup_key(text2_user, "Tok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) != 0,
       "dedup: one MsgId from two users: two messages");
    dedup_key(text1_other_account, "Tok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) != 0,
       "dedup: another ToUserName: another account");
    dedup_key(text1, "OtherTok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) != 0,
       "dedup: another token: another account");
    is_int(dedup_key(event1, "Tok3n", a), 1, "dedup: an event has a key");
    dedup_key(event1_key_b, "Tok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) != 0, "dedup: events: EventKey counts");
    dedup_key(event1_agent, "Tok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) != 0, "dedup: events: AgentID counts");
    dedup_key(event1, "Tok3n", b);
    ok(memcmp(a, b, WX_SIG_LEN) == 0, "dedup: the same event, the same key");
    is_int(dedup_key("<xml><Content>x</Content></xml>", "Tok3n", a), 0,
           "dedup: no MsgId, no sender and time: no key");
    is_int(dedup_key("{\"MsgId\":\"7\"}", "Tok3n", a), 1,
           "dedup: a MsgId alone is a key");
    is_int(wx_message_parse(pool, "<xml><MsgId>1</MsgId><MsgId>2</MsgId></xml>",
                            43, &m, &why), WX_MALFORMED, "dedup: a field twice");
    is_str(why, "a field of the message comes twice", "dedup: a field twice: why");
    is_int(wx_message_parse(pool, "<xml><MsgId><a/></MsgId></xml>", 30, &m,
                            &why), WX_MALFORMED, "dedup: markup in a field");
    is_int(wx_message_parse(pool, "hello", 5, &m, &why), WX_MALFORMED,
           "dedup: neither XML nor JSON");
    is_int(wx_message_parse(pool, "<!DOCTYPE x><xml/>", 18, &m, &why),
           WX_MALFORMED, "dedup: the envelope's shape rules");
}

/*
 * Thousands of namespace declarations, on the root and behind the CDATA-
 * in-a-PI trick: refused as attributes and as a processing instruction,
 * never handed to a namespace-resolving tree builder (apr_xml's was
 * quadratic in them; t/unit/xml_cost.pl counts the instructions).
 */
static void test_envelope_floods(void)
{
    static const char *const heads[2] = { "<xml", "<?a <![CDATA[?><xml" };
    static const char *const tails[2] = {
        "><Encrypt>x</Encrypt></xml>",
        "><Encrypt>x</Encrypt></xml><?b ]]>?>"
    };
    static const char *const whys[2] = {
        "the request body's XML has attributes",
        "the request body's XML has a processing instruction"
    };
    int n, k;

    for (k = 0; k < 2; k++) {
        for (n = 4000; n <= 12000; n += 4000) {
            char *body = apr_palloc(pool, (apr_size_t)n * 32 + 64), *o;
            wx_envelope_t env = WX_ENV_JSON;
            wx_bytes_t enc = { NULL, 0 };
            const char *why = NULL;
            int i;

            o = body + strlen(strcpy(body, heads[k]));
            for (i = 0; i < n; i++) {
                o += sprintf(o, " xmlns:a%d=\"urn:%d\"", i, i);
            }
            strcpy(o, tails[k]);
            is_int(wx_envelope_parse(pool, body, strlen(body), &env, &enc,
                                     &why), WX_MALFORMED,
                   apr_psprintf(pool, "%d namespace declarations%s: "
                                "malformed", n, k ? " behind a PI" : ""));
            is_str(why, whys[k], apr_psprintf(pool, "%d namespace "
                                              "declarations%s: why", n,
                                              k ? " behind a PI" : ""));
        }
    }
}

/*
 * 100,000 lines in Encrypt: expat hands over one piece per line; joined
 * one by one that was ~10^10 bytes of pool (found by review, before any
 * signature check).  Joined at once it is the text's own size.
 */
static void test_envelope_pieces(void)
{
    apr_size_t n = 100000, i;
    char *body = apr_palloc(pool, 2 * n + 32), *o = body;
    wx_envelope_t env = WX_ENV_JSON;
    wx_bytes_t enc = { NULL, 0 };
    const char *why = NULL;

    o += strlen(strcpy(o, "<xml><Encrypt>"));
    for (i = 0; i < n; i++) {
        *o++ = 'a';
        *o++ = '\n';
    }
    o += strlen(strcpy(o, "</Encrypt></xml>"));
    is_int(wx_envelope_parse(pool, body, (apr_size_t)(o - body), &env, &enc,
                             &why), WX_OK, "Encrypt in 100,000 pieces: ok");
    is_int((long)enc.n, (long)(2 * n), "Encrypt in 100,000 pieces: whole");
}

static void test_replies(void)
{
    apr_size_t len = 0;
    char nonce[WX_REPLY_NONCE_LEN + 1];
    const char *s;
    int i, digits = 0;

    s = wx_envelope_reply(pool, WX_ENV_XML, "ab+/=", "0123abcd", 1714037059,
                          "12345", &len);
    is_str(s, "<xml><Encrypt><![CDATA[ab+/=]]></Encrypt><MsgSignature>"
           "<![CDATA[0123abcd]]></MsgSignature><TimeStamp>1714037059"
           "</TimeStamp><Nonce><![CDATA[12345]]></Nonce></xml>",
           "XML reply, as docs/DESIGN.md §2");
    is_int((long)len, (long)strlen(s), "XML reply: length");
    s = wx_envelope_reply(pool, WX_ENV_JSON, "ab+/=", "0123abcd", 1714037059,
                          "12345", &len);
    is_str(s, "{\"Encrypt\":\"ab+/=\",\"MsgSignature\":\"0123abcd\","
           "\"TimeStamp\":1714037059,\"Nonce\":\"12345\"}",
           "Mini Program JSON reply, TimeStamp a number");
    s = wx_envelope_reply(pool, WX_ENV_JSON_WECOM, "ab+/=", "0123abcd",
                          1714037059, "12345", &len);
    is_str(s, "{\"encrypt\":\"ab+/=\",\"msgsignature\":\"0123abcd\","
           "\"timestamp\":1714037059,\"nonce\":\"12345\"}",
           "WeCom JSON reply, lower-case keys");
    is_int((long)len, (long)strlen(s), "WeCom JSON reply: length");

    is_int(wx_reply_nonce(nonce), APR_SUCCESS, "reply nonce made");
    for (i = 0; nonce[i]; i++) {
        digits += nonce[i] >= '0' && nonce[i] <= '9';
    }
    is_int(digits, WX_REPLY_NONCE_LEN, "reply nonce: 10 digits");
}

int main(void)
{
    const char *why = NULL, *detail = NULL;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (!ok(wx_crypto_open(pool, &factory, &why, &detail) == APR_SUCCESS,
            "apr_crypto's openssl driver loads")) {
        printf("# %s (%s)\n", why, detail ? detail : "");
        return tap_done();
    }
    test_keys();
    test_v4();
    test_v5();
    test_round_trips();
    test_bad_cipher();
    test_envelopes();
    test_envelope_pieces();
    test_envelope_floods();
    test_dedup();
    test_replies();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
