/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_crypto.h: safe mode and WeCom, the AES half of the protocol core.
 *
 * Like wx_protocol.h: APR and APR-util alone (apr_crypto with its openssl
 * driver, apr_base64) plus expat for XML and jansson for JSON; no httpd
 * headers.
 * Nothing here logs; failures return a wx_result_t and a fixed sentence in
 * *why that never holds request input or a key.
 *
 * The message format (docs/DESIGN.md §2): key = base64(EncodingAESKey "="),
 * iv = key[0..16), AES-256-CBC without the cipher's padding over
 *     random(16) | uint32_be(len) | msg(len) | receiveid | pad
 * where pad is 1..32 bytes, each holding the pad's length.
 */
#ifndef WX_CRYPTO_H
#define WX_CRYPTO_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_crypto.h"

#include "wx_protocol.h"

#define WX_AES_KEY_CHARS   43    /* an EncodingAESKey */
#define WX_AES_KEY_LEN     32    /* decoded: AES-256 */
#define WX_AES_RANDOM_LEN  16
#define WX_AES_PAD_BLOCK   32    /* WeChat pads to 32, not AES's 16 */
#define WX_RECEIVEID_MAX   256   /* WxAppID: corpid, appid, suiteid */
#define WX_REPLY_NONCE_LEN 10    /* digits, as WeChat's own nonces */
#define WX_XML_MAX_DEPTH   8     /* levels of an XML envelope, <xml> one */
#define WX_XML_MAX_ELEMENTS 512  /* elements of an XML envelope */

/* The request envelope, and so the reply's. */
typedef enum {
    WX_ENV_XML = 0,       /* <xml><Encrypt>...: OA, Mini Program, WeCom */
    WX_ENV_JSON,          /* {"Encrypt": ...}: Mini Program */
    WX_ENV_JSON_WECOM     /* {"encrypt": ...}: WeCom JSON callbacks */
} wx_envelope_t;

/* A decoded EncodingAESKey. */
typedef struct {
    unsigned char k[WX_AES_KEY_LEN];
} wx_aes_key_t;

/*
 * NULL when s is an EncodingAESKey (43 ASCII letters or digits), else a
 * sentence saying which part of the rule it breaks (without the key).
 */
const char *wx_aes_key_problem(const char *s);

/* Standard base64 with '=' padding only, as WeChat and WeChat Pay write
 * it: the length a multiple of 4, at most two '=' and only at the end.
 * The decoded length, or 0 when b64[0..n) is not such base64 (which
 * apr_base64_decode would decode quietly up to its first stranger). */
apr_size_t wx_b64_checked_len(const char *b64, apr_size_t n);

/*
 * Decode an EncodingAESKey that passed wx_aes_key_problem(): apr_base64
 * over s and "=".  Lenient as WeChat is: the surplus low bits of the last
 * character (most real keys have some set) are dropped, not refused.
 */
void wx_aes_key_decode(const char *s, wx_aes_key_t *key);

/*
 * apr_crypto_init() and the "openssl" driver's factory, in pool p (once,
 * at start-up).  On failure *why says which step failed; APR's own error
 * text, when it has one, in *detail (may be NULL).
 */
apr_status_t wx_crypto_open(apr_pool_t *p, const apr_crypto_t **f,
                            const char **why, const char **detail);

/*
 * Decrypt the base64 ciphertext b64 (b64len bytes; a signed Encrypt or
 * WeCom echostr) with each of the nkeys keys in turn, the first one under
 * which it has a valid structure winning.  On WX_OK *msg and *receiveid
 * point into a buffer from p (msg is followed by a NUL byte, receiveid
 * too), *which (may be NULL) is the key's index.  WX_BAD_CIPHER when it is
 * not base64, not whole AES blocks, or under no key has a pad of 1..32
 * equal bytes and a length field within the plaintext; WX_BAD_APPID when
 * appid is non-NULL and differs from the receiveid (an empty receiveid
 * matches only an empty WxAppID).
 */
wx_result_t wx_decrypt(apr_pool_t *p, const apr_crypto_t *f,
                       const wx_aes_key_t *keys, int nkeys,
                       const char *b64, apr_size_t b64len,
                       const char *appid, wx_bytes_t *msg,
                       wx_bytes_t *receiveid, int *which, const char **why);

/*
 * Encrypt msg for receiveid under key, with the 16 bytes at random as the
 * prefix (NULL: fresh ones from apr_generate_random_bytes): *b64 gets the
 * base64 ciphertext, NUL-terminated, from p.  Fails only if the crypto
 * library does; *why says where.
 */
apr_status_t wx_encrypt(apr_pool_t *p, const apr_crypto_t *f,
                        const wx_aes_key_t *key, const unsigned char *random,
                        const char *msg, apr_size_t msglen,
                        const char *receiveid, apr_size_t idlen,
                        char **b64, const char **why);

/*
 * Find Encrypt in a request body: XML (expat; <xml><Encrypt>) when its
 * first non-blank byte is '<', JSON (jansson; "Encrypt" or WeCom's
 * "encrypt") when '{'.  *env tells which, *encrypt gets the value (from p,
 * NUL-terminated).  WX_MALFORMED when the body is neither, does not parse,
 * has no Encrypt or more than one, or the value is empty or not text; and
 * for XML of a shape WeChat never sends, refused by expat's handlers at
 * the first sign of it: a DOCTYPE, comment, processing instruction (the
 * XML declaration is none), attribute or namespace declaration, markup
 * inside Encrypt, more than WX_XML_MAX_DEPTH levels or
 * WX_XML_MAX_ELEMENTS elements.
 */
wx_result_t wx_envelope_parse(apr_pool_t *p, const char *body,
                              apr_size_t len, wx_envelope_t *env,
                              wx_bytes_t *encrypt, const char **why);

/* The fields of a message that WeChat's own dedup rule uses. */
enum {
    WX_MSG_TO = 0, WX_MSG_FROM, WX_MSG_CREATE, WX_MSG_TYPE, WX_MSG_ID,
    WX_MSG_EVENT, WX_MSG_EVENT_KEY, WX_MSG_AGENT_ID, WX_MSG_FIELDS
};
typedef struct {
    wx_bytes_t f[WX_MSG_FIELDS];   /* n = 0: absent or empty */
} wx_message_t;

/*
 * The fields of a message (a plain-mode body, or a decrypted one): XML
 * <xml><ToUserName>... (expat, with the envelope's shape rules) or JSON
 * {"ToUserName": ...} (jansson; numbers as decimal text).  Bytes from p.
 * WX_MALFORMED when it is neither, or an XML field comes twice or holds
 * markup.
 */
wx_result_t wx_message_parse(apr_pool_t *p, const char *body,
                             apr_size_t len, wx_message_t *m,
                             const char **why);

/*
 * The dedup key of message m within the account signed by token (sha1,
 * every part length-prefixed): ordinary messages by ToUserName,
 * FromUserName and MsgId; events (no MsgId) by ToUserName, FromUserName,
 * CreateTime, Event, EventKey and AgentID.  0 when m has neither a MsgId
 * nor a FromUserName and CreateTime: no key, no dedup.
 */
int wx_dedup_id(const wx_message_t *m, const char *token,
                unsigned char id[WX_SIG_LEN]);

/*
 * The encrypted reply in envelope env: XML <Encrypt> <MsgSignature>
 * <TimeStamp> <Nonce>; JSON {"Encrypt","MsgSignature","TimeStamp","Nonce"};
 * WeCom JSON the same in lower case ("msgsignature").  TimeStamp is a
 * number in JSON.  Returns the body, NUL-terminated, from p; *len its
 * length.  NULL only if jansson fails to allocate.
 */
char *wx_envelope_reply(apr_pool_t *p, wx_envelope_t env, const char *b64,
                        const char *signature, apr_int64_t timestamp,
                        const char *nonce, apr_size_t *len);

/*
 * WeChat's rule for a reply: "success" or nothing means received, with no
 * reply message, and is never encrypted.  Non-zero for those.
 */
int wx_reply_is_ack(const char *body, apr_size_t len);

/*
 * The app's reply body sealed for WeChat: encrypted under key for
 * receiveid, signed with token over a fresh nonce and the timestamp now,
 * in envelope env (the request's).  *out (NUL-terminated, from p) and
 * *outlen; on failure the crypto library's status and *why.
 */
apr_status_t wx_reply_seal(apr_pool_t *p, const apr_crypto_t *f,
                           const wx_aes_key_t *key, const char *token,
                           const wx_bytes_t *receiveid, wx_envelope_t env,
                           const char *body, apr_size_t len, apr_int64_t now,
                           char **out, apr_size_t *outlen, const char **why);

/*
 * A fresh nonce for a reply: WX_REPLY_NONCE_LEN decimal digits and a NUL,
 * from apr_generate_random_bytes.
 */
apr_status_t wx_reply_nonce(char out[WX_REPLY_NONCE_LEN + 1]);

#endif /* WX_CRYPTO_H */
