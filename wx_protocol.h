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

/* Bounds on what a request may carry; see docs/DESIGN.md §6, "Limits". */
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

/*
 * Every outcome, once: its enum name, request note (%{wx-valid}n), the
 * mod_status counter (WxValid<counter>), the HTTP status the glue answers
 * it with (0: granted), the glue's log tag and level, and the directive
 * the glue names after the reason.  The core reads the first two columns
 * only; the rest are the glue's, kept here so that an outcome is one
 * line.  method, no-token and cache-error only the glue can tell.
 */
#define WX_RESULTS(X) \
    X(OK,            "ok",            Ok,           0,   00008, DEBUG, "") \
    X(MALFORMED,     "malformed",     Malformed,    400, 00001, INFO,  "") \
    X(BAD_SIGNATURE, "bad-signature", BadSignature, 403, 00002, INFO, \
      " (WxToken)") \
    X(STALE,         "stale",         Stale,        403, 00003, INFO, \
      " (WxMaxAge)") \
    X(REPLAY,        "replay",        Replay,       403, 00015, INFO,  "") \
    X(BAD_CIPHER,    "bad-cipher",    BadCipher,    400, 00009, INFO, \
      " (WxEncodingAESKey)") \
    X(BAD_APPID,     "bad-appid",     BadAppid,     403, 00010, INFO, \
      " (WxAppID)") \
    X(METHOD,        "method",        Method,       405, 00004, INFO,  "") \
    X(NO_TOKEN,      "no-token",      NoToken,      500, 00006, ERR,   "") \
    X(NO_KEY,        "no-key",        NoKey,        500, 00011, ERR,   "") \
    X(TOO_LARGE,     "too-large",     TooLarge,     413, 00012, INFO,  "") \
    X(CACHE_ERROR,   "cache-error",   CacheError,   503, 00005, INFO,  "") \
    X(DUPLICATE,     "duplicate",     Duplicate,    0,   00024, INFO,  "") \
    X(PAY_MALFORMED, "wxpay-malformed", PayMalformed, 401, 00029, INFO, "") \
    X(PAY_SIG_TYPE,  "wxpay-sig-type", PaySigType,  401, 00030, INFO,  "") \
    X(PAY_UNKNOWN_SERIAL, "wxpay-unknown-serial", PayUnknownSerial, 401, \
      00031, INFO, " (WxPayPublicKey)") \
    X(PAY_STALE,     "wxpay-stale",   PayStale,     401, 00032, INFO, \
      " (WxPayMaxAge)") \
    X(PAY_BAD_SIGNATURE, "wxpay-bad-signature", PayBadSignature, 401, \
      00033, INFO, " (WxPayPublicKey)") \
    X(PAY_BAD_JSON,  "wxpay-bad-json", PayBadJson,  401, 00034, WARNING, "") \
    X(PAY_BAD_ALGORITHM, "wxpay-bad-algorithm", PayBadAlgorithm, 401, \
      00035, WARNING, "") \
    X(PAY_BAD_RESOURCE, "wxpay-bad-resource", PayBadResource, 401, 00036, \
      ERR, " (WxPayAPIv3Key)") \
    X(PAY_NO_KEY,    "wxpay-no-key",  PayNoKey,     500, 00037, ERR, \
      " (WxPayPublicKey)") \
    X(PAY_IN_FLIGHT, "wxpay-in-flight", PayInFlight, 503, 00039, INFO, "")

#define WX_RESULT_ENUM(e, name, counter, status, tag, level, dir) WX_##e,
typedef enum {
    WX_RESULTS(WX_RESULT_ENUM)
    WX_RESULT_COUNT
} wx_result_t;
#undef WX_RESULT_ENUM

/* The query parameters the protocol knows, each spelled as WeChat does. */
#define WX_PARAMS(X) \
    X(SIGNATURE, signature) \
    X(MSG_SIGNATURE, msg_signature) \
    X(TIMESTAMP, timestamp) \
    X(NONCE, nonce) \
    X(ECHOSTR, echostr) \
    X(ENCRYPT_TYPE, encrypt_type) \
    X(OPENID, openid)

#define WX_PARAM_ENUM(e, name) WX_P_##e,
typedef enum {
    WX_PARAMS(WX_PARAM_ENUM)
    WX_P_COUNT
} wx_param_t;
#undef WX_PARAM_ENUM

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

/* A signed timestamp t against now: 0 within max_age seconds either way
 * (or max_age WX_MAX_AGE_OFF), 1 ahead of the clock by more, -1 behind. */
int wx_time_skew(apr_int64_t t, apr_time_t now, apr_int64_t max_age);

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
 * How a signed request is checked, by WeChat's rules, from its parameters,
 * whether keys are in effect and whether it carries a body (any method but
 * GET, or one with a body):
 *  - WX_MODE_MSG: msg_signature over the ciphertext too (safe and
 *    compatible mode with a key; WeCom, which sends no plain signature,
 *    with or without one: it is checked before a missing key is an error);
 *  - WX_MODE_PLAIN: signature over token, timestamp and nonce (plain
 *    mode; compatible or safe mode without a key, the body as sent);
 *  - WX_MODE_UNSIGNED: a body where keys are in effect with no
 *    msg_signature: nothing signed it, and no signature can help.
 */
typedef enum {
    WX_MODE_PLAIN = 0,
    WX_MODE_MSG,
    WX_MODE_UNSIGNED
} wx_mode_t;

wx_mode_t wx_mode(const wx_query_t *q, int keys, int body);

/*
 * The developer-verification GET also needs an echostr: NULL when q holds a
 * non-empty one, else why not ("echostr missing", "echostr empty").
 */
const char *wx_echo_problem(const wx_query_t *q);

#endif /* WX_PROTOCOL_H */
