/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_protocol.h: the WeChat server-callback protocol core of mod_wx_valid.
 *
 * Built on APR and APR-util alone (no httpd headers), so it can be unit
 * tested and fuzzed outside Apache.  Nothing here logs; every failing call
 * returns a wx_result_t and, through *why, a fixed sentence that never holds
 * request input or a token, so the caller may log it as it is.
 */
#ifndef WX_PROTOCOL_H
#define WX_PROTOCOL_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_time.h"

/* Bounds on what a request may carry; see README "Limits". */
#define WX_MAX_VALUE      4096   /* one parameter value, after %-decoding */
#define WX_MAX_QUERY      16384  /* the whole raw query string */
#define WX_MAX_BODY       262144 /* a safe-mode request or reply body */
#define WX_TOKEN_MIN      3
#define WX_TOKEN_MAX      32
#define WX_SIG_LEN       20     /* sha1 */
#define WX_SIG_HEX_LEN    40     /* hex(sha1) */

/* WxMaxAge: default window, the "off" value and the largest accepted. */
#define WX_MAX_AGE_DEFAULT 300
#define WX_MAX_AGE_OFF     (-1)
#define WX_MAX_AGE_LIMIT   86400

/* A numeric constant as a string literal, for the sentences that state
 * a limit. */
#define WX_STR_(x) #x
#define WX_STR(x)  WX_STR_(x)

/* A byte range. */
typedef struct {
    const char *p;
    apr_size_t n;
} wx_bytes_t;

/* Outcomes; wx_result_name() gives the request-note spelling of each. */
typedef enum {
    WX_OK = 0,
    WX_MALFORMED,
    WX_BAD_SIGNATURE,
    WX_STALE,
    WX_REPLAY,
    WX_BAD_CIPHER,
    WX_BAD_APPID,
    WX_METHOD,
    WX_NO_TOKEN,
    WX_NO_KEY,            /* msg_signature, and no WxEncodingAESKey */
    WX_TOO_LARGE,         /* a safe-mode body over WX_MAX_BODY */
    WX_CACHE_ERROR,       /* the replay cache failed (WxReplayCacheFailure
                           * deny) */
    WX_DUPLICATE,         /* a copy of a message claimed before: answered,
                           * or still being handled */
    WX_RESULT_COUNT
} wx_result_t;

/* The query parameters the protocol knows. */
typedef enum {
    WX_P_SIGNATURE = 0,
    WX_P_MSG_SIGNATURE,
    WX_P_TIMESTAMP,
    WX_P_NONCE,
    WX_P_ECHOSTR,
    WX_P_ENCRYPT_TYPE,
    WX_P_OPENID,
    WX_P_COUNT
} wx_param_t;

/*
 * A parsed query: for each known parameter its %-decoded value as bytes
 * val[i] .. val[i] + len[i] (NOT NUL-terminated: a value without '%' is
 * read in place in the query string; it never holds a NUL byte), or
 * val[i] == NULL when absent.
 */
typedef struct {
    const char *val[WX_P_COUNT];
    apr_size_t len[WX_P_COUNT];
} wx_query_t;

/* "ok", "malformed", "bad-signature", ... for a wx_result_t. */
const char *wx_result_name(wx_result_t rc);

/* "signature", "timestamp", ... for a wx_param_t. */
const char *wx_param_name(wx_param_t p);

/*
 * Non-zero for an ASCII letter or digit, the alphabet of WeChat's tokens
 * and EncodingAESKeys.  (apr_isalnum() follows the locale.)
 */
int wx_is_ascii_alnum(unsigned char c);

/*
 * NULL when tok is a token WeChat accepts (3 to 32 ASCII letters or digits),
 * else a sentence saying which part of the rule it breaks (without the token).
 */
const char *wx_token_problem(const char *tok);

/*
 * Parse a raw query string (r->args: not yet decoded; may be NULL).
 * Only %XX is decoded: '+' stays '+'.  Unknown parameters are skipped.
 * WX_MALFORMED when the query is over WX_MAX_QUERY bytes, or a known
 * parameter is repeated, spelled in a way some application framework would
 * also read as that parameter (another case, "+", " " or "." for "_",
 * leading spaces, "[...]", a name cut by %00), badly %-escaped, holds %00,
 * or is over WX_MAX_VALUE bytes.  A name that is only %-encoded ("%6Eonce")
 * is that parameter to everyone and counts as it.
 * Values are in place in args, or (when %-decoded) copied into p: they
 * live as long as both.
 */
wx_result_t wx_query_parse(apr_pool_t *p, const char *args, wx_query_t *q,
                           const char **why);

/*
 * args (as wx_query_parse() accepted it) without the parameters whose bit
 * (1u << wx_param_t) is set in drop, whatever their spelling; the others
 * byte for byte, in order.  From p; NULL when nothing is left.
 */
char *wx_query_without(apr_pool_t *p, const char *args, unsigned int drop);

/*
 * sha1(concat(sort_bytewise(parts))): the signature WeChat computes over
 * [token, timestamp, nonce] (plain) or [token, timestamp, nonce, encrypt]
 * (msg_signature), as WX_SIG_LEN bytes.  nparts is at most 8.
 */
void wx_signature_digest(unsigned char digest[WX_SIG_LEN],
                         const wx_bytes_t *parts, int nparts);

/* The same over C strings, as WX_SIG_HEX_LEN lowercase hex digits and a
 * NUL. */
void wx_signature(char out[WX_SIG_HEX_LEN + 1], const char *const *parts,
                  int nparts);

/*
 * A received signature as bytes: non-zero when hex is exactly
 * WX_SIG_HEX_LEN lowercase hex digits (as WeChat sends), else 0.
 */
int wx_signature_parse(const char *hex, apr_size_t len,
                       unsigned char bin[WX_SIG_LEN]);

/*
 * Verify a plain-mode signed query: signature, timestamp and nonce present
 * and non-empty, timestamp all digits, signature made with one of the
 * ntokens tokens, timestamp within max_age seconds of now (either way;
 * WX_MAX_AGE_OFF skips that check).  Checked in that order, so "stale"
 * means the signature itself was good.  *which (may be NULL) receives the
 * index of the token that signed.
 */
wx_result_t wx_verify_plain(const wx_query_t *q, const char *const *tokens,
                            int ntokens, apr_time_t now, apr_int64_t max_age,
                            int *which, const char **why);

/*
 * Verify a msg_signature-signed request (safe and compatible mode, WeCom):
 * msg_signature, timestamp and nonce present and non-empty, msg_signature
 * over [token, timestamp, nonce, encrypt] (encrypt: the body's Encrypt, or
 * WeCom's echostr) with one of the tokens, timestamp fresh.  As
 * wx_verify_plain() in every other way.
 */
wx_result_t wx_verify_msg(const wx_query_t *q, const char *encrypt,
                          apr_size_t enclen, const char *const *tokens,
                          int ntokens, apr_time_t now, apr_int64_t max_age,
                          int *which, const char **why);

/*
 * The timestamp of a query that verified, as a number (leading zeros
 * dropped; over 18 significant digits it never verifies).  -1 when it is
 * absent or not all digits.
 */
apr_int64_t wx_timestamp_value(const wx_query_t *q);

/*
 * sha1 over domain (with its NUL) and each of the nparts parts, each
 * prefixed by its length as 4 bytes big-endian (a part with p == NULL is
 * empty): the store's keys, where no two different inputs may meet.
 */
void wx_keyed_id(const char *domain, const wx_bytes_t *parts, int nparts,
                 unsigned char id[WX_SIG_LEN]);

/*
 * The replay cache's key for a query that verified under token: sha1 over
 * the token, the timestamp and the nonce as sent, each length-prefixed.
 * That triple is what WeChat signs, plainly (signature) and, with the
 * ciphertext, in msg_signature: one key for both, so a triple used once
 * in either way is used up for the other too (a safe-mode POST's plain
 * signature replayed on a GET).  The timestamp and nonce go in sorted, as
 * the signatures take them (swapped, they still verify).  Scoped by the
 * token, so accounts that
 * share a cache never meet; not derivable without it.
 */
void wx_replay_id(const wx_query_t *q, const char *token,
                  unsigned char id[WX_SIG_LEN]);

/*
 * The developer-verification GET also needs an echostr: NULL when q holds a
 * non-empty one, else why not ("echostr missing", "echostr empty").
 */
const char *wx_echo_problem(const wx_query_t *q);

#endif /* WX_PROTOCOL_H */
