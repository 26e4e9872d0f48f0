/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_crypto.c: safe mode and WeCom (see wx_crypto.h).
 *
 * All AES through apr_crypto's openssl driver, all base64 through
 * apr_base64, XML through expat (the parser apr_xml wraps), JSON through
 * jansson.  What is written
 * here is the message layout around them and the checks WeChat's SDKs
 * forget: a pad of 1..32 equal bytes, a length field inside the plaintext,
 * the receiveid.
 */
#include <limits.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_general.h"
#include "apr_strings.h"
#include "apu_errno.h"

#include <expat.h>
#include <jansson.h>

#include "wx_crypto.h"

const char *wx_aes_key_problem(const char *s)
{
    apr_size_t n = strlen(s), i;

    if (n != WX_AES_KEY_CHARS) {
        return n < WX_AES_KEY_CHARS ? "is shorter than 43 characters"
                                    : "is longer than 43 characters";
    }
    for (i = 0; i < n; i++) {
        if (!wx_is_ascii_alnum((unsigned char)s[i])) {
            return "holds a character other than an ASCII letter or digit";
        }
    }
    return NULL;
}

void wx_aes_key_decode(const char *s, wx_aes_key_t *key)
{
    char padded[WX_AES_KEY_CHARS + 2];
    unsigned char out[WX_AES_KEY_LEN + 4];

    /* apr_base64 ignores the last character's surplus bits, as WeChat
     * does; a strict decoder would refuse most real keys. */
    memcpy(padded, s, WX_AES_KEY_CHARS);
    padded[WX_AES_KEY_CHARS] = '=';
    padded[WX_AES_KEY_CHARS + 1] = '\0';
    apr_base64_decode_binary(out, padded);
    memcpy(key->k, out, WX_AES_KEY_LEN);
    memset(out, 0, sizeof(out));
}

apr_status_t wx_crypto_open(apr_pool_t *p, const apr_crypto_t **f,
                            const char **why, const char **detail)
{
    const apr_crypto_driver_t *driver = NULL;
    const apu_err_t *err = NULL;
    apr_crypto_t *factory = NULL;
    apr_status_t rv;

    *detail = NULL;
    if ((rv = apr_crypto_init(p)) != APR_SUCCESS) {
        *why = "apr_crypto_init failed";
        return rv;
    }
    rv = apr_crypto_get_driver(&driver, "openssl", NULL, &err, p);
    if (rv != APR_SUCCESS || driver == NULL) {
        *why = "APR-util's crypto driver \"openssl\" did not load";
        if (err != NULL) {
            *detail = err->msg ? err->msg : err->reason;
        }
        return rv != APR_SUCCESS ? rv : APR_ENOTIMPL;
    }
    if ((rv = apr_crypto_make(&factory, driver, NULL, p)) != APR_SUCCESS) {
        *why = "apr_crypto_make failed for the \"openssl\" driver";
        return rv;
    }
    *f = factory;
    return APR_SUCCESS;
}

/*
 * The key as apr_crypto wants it: a raw secret for AES-256-CBC with the
 * cipher's own padding off (WeChat pads to 32 bytes itself).
 */
static apr_status_t wx_make_key(apr_pool_t *p, const apr_crypto_t *f,
                                const wx_aes_key_t *key,
                                apr_crypto_key_t **k)
{
    /* From p, not the stack: later APR-util drivers keep a pointer. */
    apr_crypto_key_rec_t *rec = apr_pcalloc(p, sizeof(*rec));

    rec->ktype = APR_CRYPTO_KTYPE_SECRET;
    rec->type = APR_KEY_AES_256;
    rec->mode = APR_MODE_CBC;
    rec->pad = 0;
    rec->k.secret.secret = key->k;
    rec->k.secret.secretLen = WX_AES_KEY_LEN;
    return apr_crypto_key(k, rec, f, p);
}

/* (wx_crypto.h) */
apr_size_t wx_b64_checked_len(const char *b64, apr_size_t n)
{
    /* 1 for each byte of the standard base64 alphabet: one load a byte. */
    static const unsigned char alphabet[256] = {
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
        ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
        ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
        ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
        ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
        ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
        ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1,
        ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
        ['8'] = 1, ['9'] = 1, ['+'] = 1, ['/'] = 1
    };
    const unsigned char *u = (const unsigned char *)b64;
    apr_size_t i, pad = 0;
    unsigned int all = 1;

    if (n == 0 || n % 4 != 0) {
        return 0;
    }
    if (b64[n - 1] == '=') {
        pad = b64[n - 2] == '=' ? 2 : 1;
    }
    for (i = 0; i < n - pad; i++) {
        all &= alphabet[u[i]];
    }
    return all ? n / 4 * 3 - pad : 0;
}

/* The first 4 bytes at b, big-endian. */
static apr_uint32_t wx_be32(const unsigned char *b)
{
    return (apr_uint32_t)b[0] << 24 | (apr_uint32_t)b[1] << 16
         | (apr_uint32_t)b[2] << 8 | (apr_uint32_t)b[3];
}

/*
 * One key: CBC-decrypt ct into a buffer from p and check its structure.
 * 0 and *why when it has none (wrong key, or not WeChat's format).
 */
static int wx_decrypt_one(apr_pool_t *p, const apr_crypto_t *f,
                          const wx_aes_key_t *key, const unsigned char *ct,
                          apr_size_t ctlen, wx_bytes_t *msg,
                          wx_bytes_t *receiveid, const char **why)
{
    apr_crypto_key_t *k = NULL;
    apr_crypto_block_t *block = NULL;
    apr_size_t bsize = 0, outlen = 0, tail = 0, pad, i, len;
    unsigned char *out = NULL;
    apr_status_t rv;

    if (wx_make_key(p, f, key, &k) != APR_SUCCESS
        || apr_crypto_block_decrypt_init(&block, &bsize, key->k, k, p)
           != APR_SUCCESS) {
        *why = "the crypto library refused the key";
        return 0;
    }
    rv = apr_crypto_block_decrypt(&out, &outlen, ct, ctlen, block);
    if (rv == APR_SUCCESS) {
        rv = apr_crypto_block_decrypt_finish(out + outlen, &tail, block);
    }
    apr_crypto_block_cleanup(block);
    if (rv != APR_SUCCESS) {
        *why = "AES-CBC decryption failed";
        return 0;
    }
    outlen += tail;

    /* random(16) | len(4) | msg | receiveid | pad(1..32 bytes of its
     * length).  The signature was checked before this, so how these
     * checks fail tells an attacker nothing (no padding oracle). */
    pad = outlen ? out[outlen - 1] : 0;
    if (pad < 1 || pad > WX_AES_PAD_BLOCK
        || pad > outlen - WX_AES_RANDOM_LEN - 4) {
        *why = "the decrypted message's padding is out of range";
        return 0;
    }
    for (i = outlen - pad; i < outlen; i++) {
        if (out[i] != pad) {
            *why = "the decrypted message's padding bytes differ";
            return 0;
        }
    }
    outlen -= pad;
    len = wx_be32(out + WX_AES_RANDOM_LEN);
    if (len > outlen - WX_AES_RANDOM_LEN - 4) {
        *why = "the decrypted message's length field is beyond its end";
        return 0;
    }
    msg->p = (const char *)out + WX_AES_RANDOM_LEN + 4;
    msg->n = len;
    receiveid->p = msg->p + len;
    receiveid->n = outlen - WX_AES_RANDOM_LEN - 4 - len;
    /* NUL after each, for the caller's convenience: the receiveid's end is
     * the first pad byte, and msg's end is copied out first. */
    if (receiveid->n > 0) {
        char *id = apr_pstrmemdup(p, receiveid->p, receiveid->n);
        receiveid->p = id;
    }
    else {
        receiveid->p = "";
    }
    out[WX_AES_RANDOM_LEN + 4 + len] = '\0';
    return 1;
}

wx_result_t wx_decrypt(apr_pool_t *p, const apr_crypto_t *f,
                       const wx_aes_key_t *keys, int nkeys,
                       const char *b64, apr_size_t b64len,
                       const char *appid, wx_bytes_t *msg,
                       wx_bytes_t *receiveid, int *which, const char **why)
{
    apr_size_t ctlen = wx_b64_checked_len(b64, b64len), got;
    unsigned char *ct;
    int i;

    if (ctlen == 0) {
        *why = "the ciphertext is not base64";
        return WX_BAD_CIPHER;
    }
    /* Whole AES blocks, and room for the random prefix, the length field
     * and one pad byte.  (WeChat pads to 32 bytes; 16 is AES's own block,
     * and a multiple of it is all CBC needs.) */
    if (ctlen % 16 != 0 || ctlen < 32) {
        *why = "the ciphertext is not a whole number of AES blocks";
        return WX_BAD_CIPHER;
    }
    ct = apr_palloc(p, ctlen + 4);
    got = (apr_size_t)apr_base64_decode_binary(
        ct, apr_pstrmemdup(p, b64, b64len));
    if (got != ctlen) {
        *why = "the ciphertext is not base64";
        return WX_BAD_CIPHER;
    }
    for (i = 0; i < nkeys; i++) {
        if (wx_decrypt_one(p, f, &keys[i], ct, ctlen, msg, receiveid, why)) {
            break;
        }
    }
    if (i == nkeys) {
        if (nkeys > 1) {
            *why = "the ciphertext decrypts to WeChat's format under none "
                   "of the keys";
        }
        return WX_BAD_CIPHER;
    }
    if (which) {
        *which = i;
    }
    if (appid != NULL
        && (strlen(appid) != receiveid->n
            || memcmp(appid, receiveid->p, receiveid->n) != 0)) {
        *why = receiveid->n == 0 ? "the message's receiveid is empty, not "
                                   "the one required"
                                 : "the message's receiveid is not the "
                                   "one required";
        return WX_BAD_APPID;
    }
    return WX_OK;
}

apr_status_t wx_encrypt(apr_pool_t *p, const apr_crypto_t *f,
                        const wx_aes_key_t *key, const unsigned char *random,
                        const char *msg, apr_size_t msglen,
                        const char *receiveid, apr_size_t idlen,
                        char **b64, const char **why)
{
    apr_size_t n = WX_AES_RANDOM_LEN + 4 + msglen + idlen, total, pad;
    apr_size_t outlen = 0, tail = 0, bsize = 0;
    apr_crypto_key_t *k = NULL;
    apr_crypto_block_t *block = NULL;
    unsigned char *plain, *out = NULL;
    const unsigned char *iv = key->k;
    apr_status_t rv;

    if (msglen > APR_UINT32_MAX) {
        *why = "the message is too long for WeChat's length field";
        return APR_EINVAL;
    }
    pad = WX_AES_PAD_BLOCK - n % WX_AES_PAD_BLOCK;   /* 1..32, never 0 */
    total = n + pad;
    plain = apr_palloc(p, total);
    if (random != NULL) {
        memcpy(plain, random, WX_AES_RANDOM_LEN);
    }
    else if ((rv = apr_generate_random_bytes(plain, WX_AES_RANDOM_LEN))
             != APR_SUCCESS) {
        *why = "apr_generate_random_bytes failed";
        return rv;
    }
    plain[16] = (unsigned char)(msglen >> 24);
    plain[17] = (unsigned char)(msglen >> 16);
    plain[18] = (unsigned char)(msglen >> 8);
    plain[19] = (unsigned char)msglen;
    memcpy(plain + 20, msg, msglen);
    memcpy(plain + 20 + msglen, receiveid, idlen);
    memset(plain + n, (int)pad, pad);

    if ((rv = wx_make_key(p, f, key, &k)) != APR_SUCCESS
        || (rv = apr_crypto_block_encrypt_init(&block, &iv, k, &bsize, p))
           != APR_SUCCESS) {
        *why = "the crypto library refused the key";
        return rv;
    }
    rv = apr_crypto_block_encrypt(&out, &outlen, plain, total, block);
    if (rv == APR_SUCCESS) {
        rv = apr_crypto_block_encrypt_finish(out + outlen, &tail, block);
    }
    apr_crypto_block_cleanup(block);
    if (rv != APR_SUCCESS) {
        *why = "AES-CBC encryption failed";
        return rv;
    }
    outlen += tail;
    *b64 = apr_palloc(p, apr_base64_encode_len((int)outlen));
    apr_base64_encode_binary(*b64, out, (int)outlen);
    return APR_SUCCESS;
}

/* --- envelopes ---------------------------------------------------------- */

/*
 * WeChat's XML is a few flat elements in <xml>, text in CDATA: no DOCTYPE,
 * comments, processing instructions, attributes or namespaces, and little
 * depth (compatible mode carries the plaintext's fields, a few levels deep
 * at most).  Since the signature can only be checked after parsing, that
 * shape is enforced by expat itself, through its handlers, as it parses:
 * the first DOCTYPE, comment, processing instruction, attribute (xmlns
 * declarations included: the parser does no namespace processing), child
 * of <Encrypt>, element past WX_XML_MAX_ELEMENTS or level past
 * WX_XML_MAX_DEPTH stops it.  What is refused is exactly what expat saw,
 * and the cost stays linear in the body (no DTD, so no entity expansion;
 * no namespace scopes to search).  apr_xml wraps the same expat but has
 * no way to stop it from a handler, hence expat's own API.
 */
typedef struct {
    XML_Parser xp;
    int depth;
    int elements;
    const char *const *names;   /* the children of <xml> to collect */
    int nnames;
    wx_bytes_t *vals;           /* their text, and */
    int *counts;                /* how often each came */
    int open;                   /* the one being read, or -1 */
    apr_size_t open_at;         /* where its text starts */
    const char *markup_why;     /* a collected child holds markup */
    char *text;                 /* the texts, each with a NUL, n of cap
                                 * bytes: twice the body (a declared
                                 * ISO-8859-1 grows so in UTF-8, UTF-16 by
                                 * half; UTF-8 not) and a NUL an element */
    apr_size_t n, cap;
    const char *why;            /* set by the handler that stopped expat */
} wx_xml_ctx;

static void wx_xml_stop(wx_xml_ctx *x, const char *why)
{
    if (x->why == NULL) {
        x->why = why;
        XML_StopParser(x->xp, XML_FALSE);
    }
}

static void XMLCALL wx_xml_start(void *ud, const XML_Char *name,
                                 const XML_Char **atts)
{
    wx_xml_ctx *x = ud;
    int i;

    if (atts[0] != NULL) {
        wx_xml_stop(x, "the request body's XML has attributes");
    }
    else if (++x->depth > WX_XML_MAX_DEPTH) {
        wx_xml_stop(x, "the request body's XML is nested deeper than "
                   WX_STR(WX_XML_MAX_DEPTH));
    }
    else if (++x->elements > WX_XML_MAX_ELEMENTS) {
        wx_xml_stop(x, "the request body's XML has over "
                   WX_STR(WX_XML_MAX_ELEMENTS) " elements");
    }
    else if (x->depth == 1 && strcmp(name, "xml") != 0) {
        wx_xml_stop(x, "the request body's XML root is not <xml>");
    }
    else if (x->open >= 0) {
        wx_xml_stop(x, x->markup_why);
    }
    else if (x->depth == 2) {
        for (i = 0; i < x->nnames && strcmp(name, x->names[i]) != 0; i++) {
        }
        if (i < x->nnames) {
            x->counts[i]++;
            x->open = i;
            x->open_at = x->n;
        }
    }
}

static void XMLCALL wx_xml_end(void *ud, const XML_Char *name)
{
    wx_xml_ctx *x = ud;

    (void)name;
    if (x->depth == 2 && x->open >= 0) {
        /* The first copy counts; the caller decides about repeats. */
        if (x->counts[x->open] == 1) {
            x->vals[x->open].p = x->text + x->open_at;
            x->vals[x->open].n = x->n - x->open_at;
        }
        x->open = -1;
        /* Each text NUL-terminated in place. */
        if (x->n == x->cap) {
            wx_xml_stop(x, "the request body is not well-formed XML");
            return;
        }
        x->text[x->n++] = '\0';
    }
    x->depth--;
}

/* expat hands text over in pieces (per line, per character reference);
 * they land in one buffer of twice the body's size, so joining is
 * linear. */
static void XMLCALL wx_xml_text(void *ud, const XML_Char *s, int len)
{
    wx_xml_ctx *x = ud;

    if (x->open >= 0 && len > 0) {
        if ((apr_size_t)len > x->cap - x->n) {
            wx_xml_stop(x, "the request body is not well-formed XML");
            return;
        }
        memcpy(x->text + x->n, s, (apr_size_t)len);
        x->n += (apr_size_t)len;
    }
}

static void XMLCALL wx_xml_comment(void *ud, const XML_Char *data)
{
    (void)data;
    wx_xml_stop(ud, "the request body's XML has a DOCTYPE or comment");
}

static void XMLCALL wx_xml_doctype(void *ud, const XML_Char *name,
                                   const XML_Char *sysid,
                                   const XML_Char *pubid, int subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)subset;
    wx_xml_stop(ud, "the request body's XML has a DOCTYPE or comment");
}

static void XMLCALL wx_xml_pi(void *ud, const XML_Char *target,
                              const XML_Char *data)
{
    (void)target;
    (void)data;
    wx_xml_stop(ud, "the request body's XML has a processing instruction");
}

/*
 * Parse body as WeChat's XML, <xml> and flat children, and collect the
 * text of the children named in names (vals[i], counts[i]: bytes in a
 * buffer from p, each followed by a NUL; the first copy; n = 0 when
 * absent).  markup_why is the sentence for a collected child that holds
 * an element.
 */
static wx_result_t wx_xml_fields(apr_pool_t *p, const char *body,
                                 apr_size_t len, const char *const *names,
                                 int nnames, wx_bytes_t *vals, int *counts,
                                 const char *markup_why, const char **why)
{
    wx_xml_ctx x;
    enum XML_Status st;

    if (len > INT_MAX) {
        *why = "the request body is not well-formed XML";
        return WX_MALFORMED;
    }
    memset(&x, 0, sizeof(x));
    memset(vals, 0, sizeof(*vals) * (apr_size_t)nnames);
    memset(counts, 0, sizeof(*counts) * (apr_size_t)nnames);
    x.names = names;
    x.nnames = nnames;
    x.vals = vals;
    x.counts = counts;
    x.open = -1;
    x.markup_why = markup_why;
    /* As apr_xml creates it: the encodings expat knows by itself (WeChat
     * sends UTF-8, undeclared); no namespace processing. */
    if ((x.xp = XML_ParserCreate(NULL)) == NULL) {
        *why = "the XML parser could not be created";
        return WX_MALFORMED;
    }
    x.cap = 2 * len + WX_XML_MAX_ELEMENTS;
    x.text = apr_palloc(p, x.cap);
    XML_SetUserData(x.xp, &x);
    XML_SetElementHandler(x.xp, wx_xml_start, wx_xml_end);
    XML_SetCharacterDataHandler(x.xp, wx_xml_text);
    XML_SetCommentHandler(x.xp, wx_xml_comment);
    XML_SetStartDoctypeDeclHandler(x.xp, wx_xml_doctype);
    XML_SetProcessingInstructionHandler(x.xp, wx_xml_pi);
    st = XML_Parse(x.xp, body, (int)len, 1);
    XML_ParserFree(x.xp);
    if (x.why != NULL) {
        *why = x.why;
        return WX_MALFORMED;
    }
    if (st != XML_STATUS_OK) {
        *why = "the request body is not well-formed XML";
        return WX_MALFORMED;
    }
    return WX_OK;
}

static wx_result_t wx_envelope_xml(apr_pool_t *p, const char *body,
                                   apr_size_t len, wx_bytes_t *encrypt,
                                   const char **why)
{
    static const char *const names[1] = { "Encrypt" };
    wx_bytes_t val;
    int count;
    wx_result_t rc;

    rc = wx_xml_fields(p, body, len, names, 1, &val, &count,
                       "the request body's Encrypt is empty or not text",
                       why);
    if (rc != WX_OK) {
        return rc;
    }
    if (count == 0) {
        *why = "the request body has no Encrypt";
        return WX_MALFORMED;
    }
    if (count > 1) {
        *why = "the request body has more than one Encrypt";
        return WX_MALFORMED;
    }
    if (val.n == 0) {
        *why = "the request body's Encrypt is empty or not text";
        return WX_MALFORMED;
    }
    *encrypt = val;
    return WX_OK;
}

static wx_result_t wx_envelope_json(apr_pool_t *p, const char *body,
                                    apr_size_t len, wx_envelope_t *env,
                                    wx_bytes_t *encrypt, const char **why)
{
    json_error_t err;
    json_t *root, *upper, *lower, *v;
    wx_result_t rc = WX_OK;

    /* Duplicate keys refused: the app would read one, we another. */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL || !json_is_object(root)) {
        *why = "the request body is not a JSON object";
        json_decref(root);
        return WX_MALFORMED;
    }
    upper = json_object_get(root, "Encrypt");
    lower = json_object_get(root, "encrypt");
    if (upper != NULL && lower != NULL) {
        *why = "the request body has both Encrypt and encrypt";
        rc = WX_MALFORMED;
    }
    else if ((v = upper ? upper : lower) == NULL) {
        *why = "the request body has no Encrypt";
        rc = WX_MALFORMED;
    }
    else if (!json_is_string(v) || json_string_length(v) == 0) {
        *why = "the request body's Encrypt is empty or not text";
        rc = WX_MALFORMED;
    }
    else {
        encrypt->n = json_string_length(v);
        encrypt->p = apr_pstrmemdup(p, json_string_value(v), encrypt->n);
        *env = upper ? WX_ENV_JSON : WX_ENV_JSON_WECOM;
    }
    json_decref(root);
    return rc;
}

wx_result_t wx_envelope_parse(apr_pool_t *p, const char *body,
                              apr_size_t len, wx_envelope_t *env,
                              wx_bytes_t *encrypt, const char **why)
{
    apr_size_t i = 0;

    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r'
                       || body[i] == '\n')) {
        i++;
    }
    if (i < len && body[i] == '<') {
        *env = WX_ENV_XML;
        return wx_envelope_xml(p, body, len, encrypt, why);
    }
    if (i < len && body[i] == '{') {
        return wx_envelope_json(p, body, len, env, encrypt, why);
    }
    *why = len == 0 ? "the request body is empty"
                    : "the request body is neither XML nor JSON";
    return WX_MALFORMED;
}

/* --- messages: WeChat's own dedup rule ---------------------------------- */

/* The children wx_message_t holds, in its order. */
static const char *const wx_message_names[WX_MSG_FIELDS] = {
    "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId",
    "Event", "EventKey", "AgentID"
};

/* A JSON message's field as text: a string as it is, an integer in
 * decimal (MsgId, CreateTime, AgentID are numbers in JSON). */
static void wx_json_field(apr_pool_t *p, json_t *root, const char *name,
                          wx_bytes_t *out)
{
    json_t *v = json_object_get(root, name);

    out->p = NULL;
    out->n = 0;
    if (json_is_string(v)) {
        out->n = json_string_length(v);
        out->p = apr_pstrmemdup(p, json_string_value(v), out->n);
    }
    else if (json_is_integer(v)) {
        out->p = apr_psprintf(p, "%" APR_INT64_T_FMT,
                              (apr_int64_t)json_integer_value(v));
        out->n = strlen(out->p);
    }
}

wx_result_t wx_message_parse(apr_pool_t *p, const char *body,
                             apr_size_t len, wx_message_t *m,
                             const char **why)
{
    apr_size_t i = 0;
    int counts[WX_MSG_FIELDS], k;

    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r'
                       || body[i] == '\n')) {
        i++;
    }
    if (i < len && body[i] == '<') {
        wx_result_t rc = wx_xml_fields(p, body, len, wx_message_names,
                                       WX_MSG_FIELDS, m->f, counts,
                                       "a field of the message holds "
                                       "markup", why);
        if (rc != WX_OK) {
            return rc;
        }
        for (k = 0; k < WX_MSG_FIELDS; k++) {
            if (counts[k] > 1) {
                *why = "a field of the message comes twice";
                return WX_MALFORMED;
            }
        }
        return WX_OK;
    }
    if (i < len && body[i] == '{') {
        json_error_t err;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);

        if (root == NULL || !json_is_object(root)) {
            json_decref(root);
            *why = "the message is not a JSON object";
            return WX_MALFORMED;
        }
        for (k = 0; k < WX_MSG_FIELDS; k++) {
            wx_json_field(p, root, wx_message_names[k], &m->f[k]);
        }
        json_decref(root);
        return WX_OK;
    }
    *why = "the message is neither XML nor JSON";
    return WX_MALFORMED;
}

int wx_dedup_id(const wx_message_t *m, const char *token,
                unsigned char id[WX_SIG_LEN])
{
    /* Ordinary messages: MsgId with the sender (MsgId alone has collided
     * across users); events: the sender, CreateTime, Event, EventKey and
     * AgentID.  Both within the account: its ToUserName and token. */
    static const int msg[] = { WX_MSG_TO, WX_MSG_FROM, WX_MSG_ID };
    static const int event[] = {
        WX_MSG_TO, WX_MSG_FROM, WX_MSG_CREATE, WX_MSG_EVENT,
        WX_MSG_EVENT_KEY, WX_MSG_AGENT_ID
    };
    wx_bytes_t parts[1 + sizeof(event) / sizeof(event[0])];
    const int *fields;
    int nfields, i;

    if (m->f[WX_MSG_ID].n > 0) {
        fields = msg;
        nfields = (int)(sizeof(msg) / sizeof(msg[0]));
    }
    else if (m->f[WX_MSG_FROM].n > 0 && m->f[WX_MSG_CREATE].n > 0) {
        fields = event;
        nfields = (int)(sizeof(event) / sizeof(event[0]));
    }
    else {
        return 0;
    }
    parts[0].p = token;
    parts[0].n = strlen(token);
    for (i = 0; i < nfields; i++) {
        parts[1 + i] = m->f[fields[i]];
    }
    wx_keyed_id(fields == msg ? "wx-dedup-msg" : "wx-dedup-event", parts,
                1 + nfields, id);
    return 1;
}

char *wx_envelope_reply(apr_pool_t *p, wx_envelope_t env, const char *b64,
                        const char *signature, apr_int64_t timestamp,
                        const char *nonce, apr_size_t *len)
{
    json_t *o;
    char *s, *out;

    if (env == WX_ENV_XML) {
        /* Base64, hex and digits: nothing that could end a CDATA. */
        out = apr_pstrcat(p, "<xml><Encrypt><![CDATA[", b64,
                          "]]></Encrypt><MsgSignature><![CDATA[", signature,
                          "]]></MsgSignature><TimeStamp>",
                          apr_ltoa(p, (long)timestamp),
                          "</TimeStamp><Nonce><![CDATA[", nonce,
                          "]]></Nonce></xml>", NULL);
        *len = strlen(out);
        return out;
    }
    o = env == WX_ENV_JSON
      ? json_pack("{s:s, s:s, s:I, s:s}", "Encrypt", b64,
                  "MsgSignature", signature, "TimeStamp",
                  (json_int_t)timestamp, "Nonce", nonce)
      : json_pack("{s:s, s:s, s:I, s:s}", "encrypt", b64,
                  "msgsignature", signature, "timestamp",
                  (json_int_t)timestamp, "nonce", nonce);
    if (o == NULL) {
        return NULL;
    }
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL) {
        return NULL;
    }
    *len = strlen(s);
    out = apr_pstrmemdup(p, s, *len);
    free(s);
    return out;
}

apr_status_t wx_reply_nonce(char out[WX_REPLY_NONCE_LEN + 1])
{
    unsigned char r[WX_REPLY_NONCE_LEN];
    apr_status_t rv;
    int i;

    if ((rv = apr_generate_random_bytes(r, sizeof(r))) != APR_SUCCESS) {
        return rv;
    }
    /* r % 10 leans a little towards 0..5: no matter for a nonce, which
     * only has to differ from the last ones. */
    for (i = 0; i < WX_REPLY_NONCE_LEN; i++) {
        out[i] = (char)('0' + r[i] % 10);
    }
    out[WX_REPLY_NONCE_LEN] = '\0';
    return APR_SUCCESS;
}

int wx_reply_is_ack(const char *body, apr_size_t len)
{
    return len == 0 || (len == 7 && memcmp(body, "success", 7) == 0);
}

apr_status_t wx_reply_seal(apr_pool_t *p, const apr_crypto_t *f,
                           const wx_aes_key_t *key, const char *token,
                           const wx_bytes_t *receiveid, wx_envelope_t env,
                           const char *body, apr_size_t len, apr_int64_t now,
                           char **out, apr_size_t *outlen, const char **why)
{
    char sig[WX_SIG_HEX_LEN + 1], nonce[WX_REPLY_NONCE_LEN + 1], ts[32];
    const char *parts[4];
    char *b64;
    apr_status_t rv;

    rv = wx_encrypt(p, f, key, NULL, body, len, receiveid->p, receiveid->n,
                    &b64, why);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((rv = wx_reply_nonce(nonce)) != APR_SUCCESS) {
        *why = "no random bytes for a nonce";
        return rv;
    }
    apr_snprintf(ts, sizeof(ts), "%" APR_INT64_T_FMT, now);
    parts[0] = token;
    parts[1] = ts;
    parts[2] = nonce;
    parts[3] = b64;
    wx_signature(sig, parts, 4);
    *out = wx_envelope_reply(p, env, b64, sig, now, nonce, outlen);
    if (*out == NULL) {
        *why = "jansson failed to allocate";
        return APR_ENOMEM;
    }
    return APR_SUCCESS;
}
