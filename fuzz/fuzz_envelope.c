/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz/fuzz_envelope.c: libFuzzer harness for the AES half of the core
 * (wx_crypto.c): wx_envelope_parse(), wx_decrypt(), wx_encrypt() and
 * wx_envelope_reply().
 *
 * Each input is used three ways:
 *
 *  1. As a safe-mode request body for wx_envelope_parse(), copied into a
 *     heap block of exactly its size (no NUL after it) for ASan to catch a
 *     read past it.  Checked: the result is "ok" or "malformed"; on "ok"
 *     Encrypt is non-empty, NUL-terminated at its length, holds no NUL, and
 *     the kind is XML exactly when the first byte that is not a space, tab,
 *     CR or LF is '<' (JSON or WeCom JSON when it is '{'); a JSON body
 *     agrees with jansson read on its own (Encrypt or encrypt, not both, no
 *     duplicate keys); on "malformed" *why is one of the fixed sentences of
 *     wx_crypto.c, never anything from the body.
 *
 *  2. As ciphertext for wx_decrypt(): the Encrypt found in (1), and the
 *     raw input itself (its first WX_FUZZ_B64_MAX bytes) as base64 text,
 *     each in a heap block of its own size, under two fixed keys (WeCom's
 *     V4 EncodingAESKey and WeChat's V5 one), with no WxAppID and with V4's
 *     CorpID.  Checked: the result is "ok", "bad-cipher" or "bad-appid"
 *     (never "bad-appid" without a WxAppID); text that is not standard
 *     base64 of a whole number (>= 2) of AES blocks is "bad-cipher"; on
 *     "ok" msg.n + receiveid.n + 20 + pad == the decoded length with pad in
 *     1..32, msg and receiveid are each followed by a NUL, which is 0 or 1
 *     and is the first key that decrypts alone, and with the WxAppID set the
 *     receiveid equals it; the WxAppID changes nothing but "ok" into
 *     "bad-appid" when the receiveid differs; *why on failure is a fixed
 *     sentence.
 *
 *  3. As a message for a round trip: its first WX_FUZZ_MSG_MAX bytes,
 *     wx_encrypt()ed for V4's CorpID with a fixed random prefix under one
 *     of the two keys, must decrypt ("ok") to the same bytes and receiveid
 *     and be of the length WeChat's layout gives; and wx_envelope_reply()
 *     of that Encrypt in each of the three envelopes, parsed back with
 *     wx_envelope_parse() (the replies use the request's key, "Encrypt" or
 *     WeCom's "encrypt"), must give "ok", the same kind and the same
 *     Encrypt, carry the MsgSignature, TimeStamp and Nonce given, and
 *     verify with wx_verify_msg() as the app's reply would.
 *
 * Any broken invariant aborts, which libFuzzer reports as a crash.  APR,
 * the global pool and the apr_crypto factory are set up once; each input
 * gets a subpool of its own, destroyed after it.
 *
 * Build and run: tools/fuzz envelope.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include <jansson.h>

#include "apr_xml.h"

#include "wx_crypto.h"
#include "wx_protocol.h"
#include "fuzz_check.h"

#define WX_FUZZ_B64_MAX 4096     /* the raw input as base64: this much */
#define WX_FUZZ_MSG_MAX 1000     /* the round trip's message: this much */

/* WeCom's V4 and WeChat's V5 vectors (t/vectors.md). */
static const char *const key_text[2] = {
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
};
#define APPID "wx5823bf96d3bd56c7"
#define TOKEN "QDG6eK"
static const unsigned char fixed_random[WX_AES_RANDOM_LEN] =
    "aaaabbbbccccdddd";

static apr_pool_t *pool;
static const apr_crypto_t *factory;
static wx_aes_key_t keys[2];

/* Every sentence wx_envelope_parse() may give on "malformed". */
static const char *const parse_whys[] = {
    "the request body is empty",
    "the request body is neither XML nor JSON",
    "the request body is not well-formed XML",
    "the request body's XML root is not <xml>",
    "the request body has more than one Encrypt",
    "the request body has no Encrypt",
    "the request body's Encrypt is empty or not text",
    "the request body is not a JSON object",
    "the request body has both Encrypt and encrypt",
    "the request body's XML has a DOCTYPE or comment",
    "the request body's XML has attributes",
    "the request body's XML is nested deeper than 8",
    "the request body's XML has over 512 elements",
    "the request body's XML has a processing instruction",
    "the XML parser could not be created",
    NULL
};

/* ... and wx_decrypt() on "bad-cipher" or "bad-appid". */
static const char *const decrypt_whys[] = {
    "the ciphertext is not base64",
    "the ciphertext is not a whole number of AES blocks",
    "the crypto library refused the key",
    "AES-CBC decryption failed",
    "the decrypted message's padding is out of range",
    "the decrypted message's padding bytes differ",
    "the decrypted message's length field is beyond its end",
    "the ciphertext decrypts to WeChat's format under none of the "
    "keys",
    "the message's receiveid is empty, not the one required",
    "the message's receiveid is not the one required",
    NULL
};

static int fixed_sentence(const char *why, const char *const *list)
{
    int i;

    if (why == NULL) {
        return 0;
    }
    for (i = 0; list[i] != NULL; i++) {
        if (strcmp(why, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * The decoded length of b64 when it is standard base64 with '=' padding
 * only (length a multiple of 4, at most two '=', only at the end), else 0.
 */
static size_t ref_b64_len(const char *b64, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, pad = 0;

    if (n == 0 || n % 4 != 0) {
        return 0;
    }
    while (pad < 2 && b64[n - 1 - pad] == '=') {
        pad++;
    }
    for (i = 0; i < n - pad; i++) {
        if (b64[i] == '\0' || strchr(alphabet, b64[i]) == NULL) {
            return 0;
        }
    }
    return n / 4 * 3 - pad;
}

/* ---- 1: the request body ------------------------------------------------ */

/*
 * The JSON body as jansson reads it on its own: WX_OK and the Encrypt
 * (Encrypt or encrypt, a non-empty string) in *enc (malloc'd) and *env, or
 * WX_MALFORMED.
 */
static wx_result_t ref_json(const char *body, size_t len, wx_envelope_t *env,
                            char **enc, size_t *enclen)
{
    json_error_t err;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    json_t *upper, *lower, *v;
    wx_result_t rc = WX_MALFORMED;

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return WX_MALFORMED;
    }
    upper = json_object_get(root, "Encrypt");
    lower = json_object_get(root, "encrypt");
    v = upper ? upper : lower;
    if (!(upper && lower) && v != NULL && json_is_string(v)
        && json_string_length(v) > 0) {
        *enclen = json_string_length(v);
        *enc = tight(json_string_value(v), *enclen);
        *env = upper ? WX_ENV_JSON : WX_ENV_JSON_WECOM;
        rc = WX_OK;
    }
    json_decref(root);
    return rc;
}

/*
 * An XML body the core accepted, read again by apr_xml (the other wrapper
 * of expat, with its own tree): it too must find one well-formed document
 * with root <xml> and exactly one <Encrypt> child holding only text, and
 * that text must be the core's.
 */
static void ref_xml_agrees(apr_pool_t *p, const char *body, size_t len,
                           const wx_bytes_t *encrypt)
{
    apr_xml_parser *parser = apr_xml_parser_create(p);
    apr_xml_doc *doc = NULL;
    const apr_xml_elem *e, *found = NULL;
    const apr_text *t;
    size_t n = 0;
    int count = 0;

    CHECK(apr_xml_parser_feed(parser, body, len) == APR_SUCCESS);
    CHECK(apr_xml_parser_done(parser, &doc) == APR_SUCCESS);
    CHECK(doc != NULL && doc->root != NULL);
    CHECK(strcmp(doc->root->name, "xml") == 0);
    CHECK(doc->root->attr == NULL);
    for (e = doc->root->first_child; e != NULL; e = e->next) {
        if (strcmp(e->name, "Encrypt") == 0) {
            found = e;
            count++;
        }
    }
    CHECK(count == 1 && found->first_child == NULL);
    for (t = found->first_cdata.first; t != NULL; t = t->next) {
        size_t k = strlen(t->text);
        CHECK(n + k <= encrypt->n
              && memcmp(encrypt->p + n, t->text, k) == 0);
        n += k;
    }
    CHECK(n == encrypt->n);
}

/* Returns the result; on WX_OK *encrypt is the Encrypt found (from p). */
static wx_result_t check_parse(apr_pool_t *p, const uint8_t *data,
                               size_t size, wx_bytes_t *encrypt)
{
    char *body = tight(data, size);
    const char *why = NULL;
    wx_envelope_t env = (wx_envelope_t)-1;
    wx_result_t rc;
    size_t i = 0;
    int first;

    encrypt->p = NULL;
    encrypt->n = 0;
    rc = wx_envelope_parse(p, body, size, &env, encrypt, &why);
    CHECK(rc == WX_OK || rc == WX_MALFORMED);
    CHECK(memcmp(body, data, size) == 0);

    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r'
                        || data[i] == '\n')) {
        i++;
    }
    first = i < size ? data[i] : -1;

    if (rc == WX_MALFORMED) {
        CHECK(why != NULL);
        CHECK(fixed_sentence(why, parse_whys));
        CHECK(first == '<' || first == '{'
              || strcmp(why, size == 0 ? "the request body is empty"
                        : "the request body is neither XML nor JSON") == 0);
    }
    else {
        CHECK(encrypt->p != NULL && encrypt->n > 0);
        CHECK(encrypt->p[encrypt->n] == '\0');
        CHECK(memchr(encrypt->p, '\0', encrypt->n) == NULL);
        CHECK(env == WX_ENV_XML || env == WX_ENV_JSON
              || env == WX_ENV_JSON_WECOM);
        CHECK((env == WX_ENV_XML) == (first == '<'));
        CHECK(env == WX_ENV_XML || first == '{');
        /* never in place: a copy from p, not a pointer into the body */
        CHECK((uintptr_t)encrypt->p + encrypt->n <= (uintptr_t)body
              || (uintptr_t)encrypt->p >= (uintptr_t)body + size);
    }

    if (first == '<' && rc == WX_OK) {
        ref_xml_agrees(p, body, size, encrypt);
    }
    if (first == '{') {
        wx_envelope_t want_env = (wx_envelope_t)-1;
        char *want = NULL;
        size_t wantlen = 0;
        wx_result_t want_rc = ref_json(body, size, &want_env, &want,
                                       &wantlen);
        CHECK(rc == want_rc);
        if (rc == WX_OK) {
            CHECK(env == want_env);
            CHECK(encrypt->n == wantlen
                  && memcmp(encrypt->p, want, wantlen) == 0);
            tight_free(want);
        }
    }
    tight_free(body);
    return rc;
}

/* ---- 2: decryption ------------------------------------------------------ */

static wx_result_t decrypt(apr_pool_t *p, const wx_aes_key_t *k, int nkeys,
                           const char *b64, size_t n, const char *appid,
                           wx_bytes_t *msg, wx_bytes_t *id, int *which)
{
    const char *why = NULL;
    wx_result_t rc;

    msg->p = id->p = NULL;
    msg->n = id->n = 0;
    *which = -1;
    rc = wx_decrypt(p, factory, k, nkeys, b64, n, appid, msg, id, which,
                    &why);
    CHECK(rc == WX_OK || rc == WX_BAD_CIPHER || rc == WX_BAD_APPID);
    CHECK(rc != WX_BAD_APPID || appid != NULL);
    if (rc != WX_OK) {
        CHECK(fixed_sentence(why, decrypt_whys));
    }
    if (rc != WX_BAD_CIPHER) {
        /* the key was found either way */
        CHECK(*which >= 0 && *which < nkeys);
        CHECK(msg->p != NULL && id->p != NULL);
        CHECK(msg->p[msg->n] == '\0');
        CHECK(id->p[id->n] == '\0');
    }
    return rc;
}

static int same(const wx_bytes_t *a, const wx_bytes_t *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* wx_decrypt() on the n bytes at src, copied into a block of their size. */
static void check_decrypt(apr_pool_t *p, const char *src, size_t n)
{
    char *b64 = tight(src, n);
    size_t ctlen = ref_b64_len(b64, n);
    int blocks = ctlen >= 32 && ctlen % 16 == 0;
    wx_bytes_t msg, id, msg2, id2, m1, i1;
    wx_result_t rc, rc2, one[2];
    int which = -1, which2 = -1, w, k;

    rc = decrypt(p, keys, 2, b64, n, NULL, &msg, &id, &which);
    CHECK(rc == WX_OK || rc == WX_BAD_CIPHER);
    CHECK(blocks || rc == WX_BAD_CIPHER);

    if (rc == WX_OK) {
        size_t body = WX_AES_RANDOM_LEN + 4 + msg.n + id.n;
        CHECK(blocks);
        CHECK(which == 0 || which == 1);
        CHECK(msg.n + id.n + 20 <= ctlen);
        CHECK(ctlen - body >= 1 && ctlen - body <= WX_AES_PAD_BLOCK);
    }

    /* Each key alone: the two-key result is the first that works. */
    for (k = 0; k < 2; k++) {
        one[k] = decrypt(p, &keys[k], 1, b64, n, NULL, &m1, &i1, &w);
        CHECK(one[k] == WX_OK || one[k] == WX_BAD_CIPHER);
        if (one[k] == WX_OK) {
            CHECK(w == 0);
            if (rc == WX_OK && which == k) {
                CHECK(same(&m1, &msg) && same(&i1, &id));
            }
        }
    }
    CHECK((rc == WX_OK) == (one[0] == WX_OK || one[1] == WX_OK));
    if (rc == WX_OK) {
        CHECK(which == (one[0] == WX_OK ? 0 : 1));
    }

    /* The WxAppID: "ok" turns "bad-appid" when the receiveid differs. */
    rc2 = decrypt(p, keys, 2, b64, n, APPID, &msg2, &id2, &which2);
    if (rc == WX_BAD_CIPHER) {
        CHECK(rc2 == WX_BAD_CIPHER);
    }
    else {
        int match = id.n == strlen(APPID) && memcmp(id.p, APPID, id.n) == 0;
        CHECK(rc2 == (match ? WX_OK : WX_BAD_APPID));
        CHECK(which2 == which);
        CHECK(same(&msg2, &msg) && same(&id2, &id));
        if (rc2 == WX_OK) {
            CHECK(strcmp(id2.p, APPID) == 0);
        }
    }
    tight_free(b64);
}

/* ---- 3: the round trip -------------------------------------------------- */

/* The reply's fields, as the envelope's own parser sees them. */
static void check_reply_json(const char *s, size_t len, wx_envelope_t env,
                             const char *b64, const char *sig,
                             apr_int64_t ts, const char *nonce)
{
    static const char *const upper[4] = {
        "Encrypt", "MsgSignature", "TimeStamp", "Nonce"
    };
    static const char *const lower[4] = {
        "encrypt", "msgsignature", "timestamp", "nonce"
    };
    const char *const *name = env == WX_ENV_JSON ? upper : lower;
    json_error_t err;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err), *v;

    CHECK(o != NULL && json_is_object(o));
    CHECK(json_object_size(o) == 4);
    v = json_object_get(o, name[0]);
    CHECK(json_is_string(v) && strcmp(json_string_value(v), b64) == 0);
    v = json_object_get(o, name[1]);
    CHECK(json_is_string(v) && strcmp(json_string_value(v), sig) == 0);
    v = json_object_get(o, name[2]);
    CHECK(json_is_integer(v) && json_integer_value(v) == ts);
    v = json_object_get(o, name[3]);
    CHECK(json_is_string(v) && strcmp(json_string_value(v), nonce) == 0);
    json_decref(o);
}

static void check_round_trip(apr_pool_t *p, const uint8_t *data, size_t size)
{
    size_t mlen = size < WX_FUZZ_MSG_MAX ? size : WX_FUZZ_MSG_MAX;
    char *m = tight(data, mlen);
    size_t idlen = strlen(APPID), plain, ctlen, i;
    const char *why = NULL;
    char *b64 = NULL, *b64again = NULL, nonce[WX_REPLY_NONCE_LEN + 1];
    char sig[WX_SIG_HEX_LEN + 1], tsbuf[24];
    const char *parts[4];
    wx_bytes_t msg, id;
    apr_int64_t ts;
    apr_status_t rv;
    int k = (int)(size & 1), which = -1, env;

    rv = wx_encrypt(p, factory, &keys[k], fixed_random, m, mlen, APPID,
                    idlen, &b64, &why);
    CHECK(rv == APR_SUCCESS);
    CHECK(b64 != NULL);

    /* WeChat's layout: padded to 32 bytes with 1..32, base64 of that. */
    plain = WX_AES_RANDOM_LEN + 4 + mlen + idlen;
    ctlen = (plain / WX_AES_PAD_BLOCK + 1) * WX_AES_PAD_BLOCK;
    CHECK(strlen(b64) == (ctlen + 2) / 3 * 4);
    CHECK(ref_b64_len(b64, strlen(b64)) == ctlen);

    /* deterministic with a fixed prefix */
    rv = wx_encrypt(p, factory, &keys[k], fixed_random, m, mlen, APPID,
                    idlen, &b64again, &why);
    CHECK(rv == APR_SUCCESS && strcmp(b64, b64again) == 0);

    /* the key that encrypted, alone, with the WxAppID */
    CHECK(decrypt(p, &keys[k], 1, b64, strlen(b64), APPID, &msg, &id,
                  &which) == WX_OK);
    CHECK(which == 0);
    CHECK(msg.n == mlen && memcmp(msg.p, m, mlen) == 0);
    CHECK(id.n == idlen && strcmp(id.p, APPID) == 0);

    /* both keys: the first one tried might, with odds of about 2^-30,
     * find WeChat's structure in the other key's ciphertext */
    CHECK(decrypt(p, keys, 2, b64, strlen(b64), NULL, &msg, &id, &which)
          == WX_OK);
    CHECK(which == k || (k == 1 && which == 0));
    if (which == k) {
        CHECK(msg.n == mlen && memcmp(msg.p, m, mlen) == 0);
        CHECK(id.n == idlen && strcmp(id.p, APPID) == 0);
    }

    /* The reply, signed as the module signs it, in each envelope. */
    ts = 0;
    for (i = 0; i < 4 && i < size; i++) {
        ts = ts << 8 | data[size - 1 - i];
    }
    for (i = 0; i < WX_REPLY_NONCE_LEN; i++) {
        nonce[i] = (char)('0' + (i < size ? data[i] % 10 : i));
    }
    nonce[WX_REPLY_NONCE_LEN] = '\0';
    apr_snprintf(tsbuf, sizeof(tsbuf), "%" APR_INT64_T_FMT, ts);
    parts[0] = TOKEN;
    parts[1] = tsbuf;
    parts[2] = nonce;
    parts[3] = b64;
    wx_signature(sig, parts, 4);

    for (env = WX_ENV_XML; env <= WX_ENV_JSON_WECOM; env++) {
        apr_size_t len = (apr_size_t)-1;
        char *reply = wx_envelope_reply(p, (wx_envelope_t)env, b64, sig, ts,
                                        nonce, &len), *body;
        wx_envelope_t got = (wx_envelope_t)-1;
        wx_bytes_t enc = {NULL, 0};
        const char *tokens[1] = {TOKEN};
        wx_query_t q;
        int w = -1;

        CHECK(reply != NULL);
        CHECK(len == strlen(reply));
        CHECK(len <= WX_MAX_BODY);
        body = tight(reply, len);
        why = NULL;
        CHECK(wx_envelope_parse(p, body, len, &got, &enc, &why) == WX_OK);
        CHECK(got == (wx_envelope_t)env);
        CHECK(enc.n == strlen(b64) && memcmp(enc.p, b64, enc.n) == 0);
        if (env == WX_ENV_XML) {
            CHECK(strstr(reply, apr_pstrcat(p, "<MsgSignature><![CDATA[",
                                            sig, "]]></MsgSignature>",
                                            NULL)) != NULL);
            CHECK(strstr(reply, apr_pstrcat(p, "<TimeStamp>", tsbuf,
                                            "</TimeStamp>", NULL)) != NULL);
            CHECK(strstr(reply, apr_pstrcat(p, "<Nonce><![CDATA[", nonce,
                                            "]]></Nonce>", NULL)) != NULL);
        }
        else {
            check_reply_json(body, len, (wx_envelope_t)env, b64, sig, ts,
                             nonce);
        }

        /* ... and it verifies, over the Encrypt parsed back */
        memset(&q, 0, sizeof(q));
        q.val[WX_P_MSG_SIGNATURE] = sig;
        q.len[WX_P_MSG_SIGNATURE] = strlen(sig);
        q.val[WX_P_TIMESTAMP] = tsbuf;
        q.len[WX_P_TIMESTAMP] = strlen(tsbuf);
        q.val[WX_P_NONCE] = nonce;
        q.len[WX_P_NONCE] = strlen(nonce);
        CHECK(wx_verify_msg(&q, enc.p, enc.n, tokens, 1,
                            apr_time_from_sec(ts), WX_MAX_AGE_DEFAULT, &w,
                            &why) == WX_OK);
        CHECK(w == 0);
        tight_free(body);
    }
    tight_free(m);
}

/* ---- libFuzzer ---------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *why = NULL, *detail = NULL;
    char nonce[WX_REPLY_NONCE_LEN + 1];
    int i, j;

    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_envelope: cannot initialise APR\n");
        abort();
    }
    if (wx_crypto_open(pool, &factory, &why, &detail) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_envelope: %s (%s)\n", why,
                detail ? detail : "");
        abort();
    }
    for (i = 0; i < 2; i++) {
        CHECK(wx_aes_key_problem(key_text[i]) == NULL);
        wx_aes_key_decode(key_text[i], &keys[i]);
    }
    CHECK(memcmp(&keys[0], &keys[1], sizeof(keys[0])) != 0);
    for (i = 0; i < 4; i++) {
        CHECK(wx_reply_nonce(nonce) == APR_SUCCESS);
        for (j = 0; j < WX_REPLY_NONCE_LEN; j++) {
            CHECK(nonce[j] >= '0' && nonce[j] <= '9');
        }
        CHECK(nonce[WX_REPLY_NONCE_LEN] == '\0');
    }
    return 0;
}

/* ---- 4: the message's dedup fields and key ---------------------------- */

/* The sentences wx_message_parse() may give besides the envelope's. */
static const char *const message_whys[] = {
    "a field of the message holds markup",
    "a field of the message comes twice",
    "the message is not a JSON object",
    "the message is neither XML nor JSON",
    NULL
};

/*
 * Any body as a message: malformed with a fixed sentence, or fields that
 * lie inside a pool copy, and a key only for a message with a MsgId or a
 * sender and time; the same fields and token, the same key.
 */
static void check_message(apr_pool_t *p, const uint8_t *data, size_t size)
{
    char *body = tight(data, size);
    unsigned char a[WX_SIG_LEN], b[WX_SIG_LEN];
    const char *why = NULL;
    wx_message_t m;
    wx_result_t rc = wx_message_parse(p, body, size, &m, &why);
    int k, has;

    CHECK(rc == WX_OK || rc == WX_MALFORMED);
    if (rc != WX_OK) {
        CHECK(fixed_sentence(why, parse_whys)
              || fixed_sentence(why, message_whys));
        tight_free(body);
        return;
    }
    for (k = 0; k < WX_MSG_FIELDS; k++) {
        CHECK(m.f[k].n == 0 || m.f[k].p != NULL);
    }
    has = wx_dedup_id(&m, "Tok3n", a);
    CHECK(has == (m.f[WX_MSG_ID].n > 0
                  || (m.f[WX_MSG_FROM].n > 0 && m.f[WX_MSG_CREATE].n > 0)));
    if (has) {
        CHECK(wx_dedup_id(&m, "Tok3n", b) == 1 && memcmp(a, b, WX_SIG_LEN) == 0);
        CHECK(wx_dedup_id(&m, "Tok3m", b) == 1 && memcmp(a, b, WX_SIG_LEN) != 0);
    }
    tight_free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = NULL;
    wx_bytes_t encrypt;

    CHECK(apr_pool_create(&p, pool) == APR_SUCCESS);
    if (check_parse(p, data, size, &encrypt) == WX_OK) {
        check_decrypt(p, encrypt.p, encrypt.n);
    }
    check_decrypt(p, (const char *)data,
                  size < WX_FUZZ_B64_MAX ? size : WX_FUZZ_B64_MAX);
    check_round_trip(p, data, size);
    check_message(p, data, size);
    apr_pool_destroy(p);
    return 0;
}
