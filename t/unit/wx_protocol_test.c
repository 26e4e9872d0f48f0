/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the protocol core (wx_protocol.c), TAP output for prove.
 * Published vectors V1-V3 come from WeChat's documentation and wechatpy's
 * suite (see t/vectors.md); the others were computed independently with
 * `printf ... | LC_ALL=C sort | tr -d '\n' | sha1sum`.
 */
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "wx_protocol.h"
#include "tap.h"

static apr_pool_t *pool;

/* A parsed value (bytes, not NUL-terminated) against a C string. */
static void is_val(const wx_query_t *q, wx_param_t id, const char *want,
                   const char *name)
{
    is_str(q->val[id] ? apr_pstrmemdup(pool, q->val[id], q->len[id]) : NULL,
           want, name);
}

/* Parse args; return the result and leave the query in *q. */
static wx_result_t parse(const char *args, wx_query_t *q, const char **why)
{
    *why = NULL;
    return wx_query_parse(pool, args, q, why);
}

/* What the handler does with a verification GET: echostr, then signature. */
static wx_result_t wx_verify_echo(const wx_query_t *q,
                                  const char *const *tokens, int ntokens,
                                  apr_time_t now, apr_int64_t max_age,
                                  int *which, const char **why)
{
    const char *problem = wx_echo_problem(q);

    if (problem != NULL) {
        *why = problem;
        return WX_MALFORMED;
    }
    return wx_verify_plain(q, tokens, ntokens, now, max_age, which, why);
}

static void test_vectors(void)
{
    static const struct {
        const char *name, *token, *ts, *nonce, *sig;
    } v[] = {
        {"V1 OA verification", "AAAAA", "1714036504", "1514711492",
         "f464b24fc39322e44b38aa78f5edd27bd1441696"},
        {"V2 OA plain POST", "AAAAA", "1714037059", "486452656",
         "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
        {"V3 wechatpy", "test", "1410685589", "test",
         "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
        /* bytewise order puts digits, then upper case, then lower case */
        {"bytewise sort", "Zeta9", "1700000000", "alpha",
         "b49b7ece6f9b9b111214baaf4f5693fd73ba45c8"},
        {"nonce with + / =", "abcDEF123", "1700000000", "n+o/n=ce",
         "610c8683f10962120871ea3c8f83b1a9738c4612"},
    };
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *orders[3][3] = {
            {v[i].token, v[i].ts, v[i].nonce},
            {v[i].nonce, v[i].token, v[i].ts},
            {v[i].ts, v[i].nonce, v[i].token},
        };
        int o;
        for (o = 0; o < 3; o++) {
            char sig[WX_SIG_HEX_LEN + 1];
            wx_signature(sig, orders[o], 3);
            is_str(sig, v[i].sig,
                   apr_psprintf(pool, "%s: signature, argument order %d",
                                v[i].name, o));
        }
    }
}

static void test_vector_requests(void)
{
    const char *tok[] = {"AAAAA"}, *tok3[] = {"test"}, *why;
    wx_query_t q;

    is_int(parse("signature=f464b24fc39322e44b38aa78f5edd27bd1441696"
                 "&echostr=4375120948345356249&timestamp=1714036504"
                 "&nonce=1514711492", &q, &why), WX_OK, "V1 parses");
    is_int(wx_verify_echo(&q, tok, 1, apr_time_from_sec(1714036504), 300,
                          NULL, &why), WX_OK, "V1 verifies at its own time");
    is_val(&q, WX_P_ECHOSTR, "4375120948345356249", "V1 echostr");
    is_int(wx_verify_echo(&q, tok, 1, apr_time_from_sec(1714036504 + 301),
                          300, NULL, &why), WX_STALE, "V1 stale 301 s later");
    is_int(wx_verify_echo(&q, tok, 1, apr_time_from_sec(1800000000),
                          WX_MAX_AGE_OFF, NULL, &why), WX_OK,
           "V1 verifies years later with WxMaxAge off");

    is_int(parse("signature=899cf89e464efb63f54ddac96b0a0a235f53aa78"
                 "&timestamp=1714037059&nonce=486452656&openid=o1", &q, &why),
           WX_OK, "V2 parses");
    is_int(wx_verify_plain(&q, tok, 1, apr_time_from_sec(1714037059), 300,
                           NULL, &why), WX_OK, "V2 plain POST query verifies");
    is_val(&q, WX_P_OPENID, "o1", "V2 openid kept");
    is_int(wx_verify_echo(&q, tok, 1, apr_time_from_sec(1714037059), 300,
                          NULL, &why), WX_MALFORMED, "V2 without echostr is no "
           "verification GET");
    is_str(why, "echostr missing", "... because echostr is missing");

    is_int(parse("timestamp=1410685589&nonce=test"
                 "&signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
                 "&echostr=x", &q, &why), WX_OK, "V3 parses");
    is_int(wx_verify_echo(&q, tok3, 1, apr_time_from_sec(1410685589), 300,
                          NULL, &why), WX_OK, "V3 verifies");
    is_int(wx_verify_echo(&q, tok, 1, apr_time_from_sec(1410685589), 300,
                          NULL, &why), WX_BAD_SIGNATURE, "V3 under V1's token: "
           "bad-signature");
}

static void test_decoding(void)
{
    wx_query_t q;
    const char *why;
    char *big;

    is_int(parse("echostr=a+b%2Bc%2bd%2F%3D%3d", &q, &why), WX_OK,
           "plus and %XX");
    is_val(&q, WX_P_ECHOSTR, "a+b+c+d/==", "'+' stays '+', %2B and %2b "
           "become '+', %2F becomes '/'");
    is_int((long)q.len[WX_P_ECHOSTR], 10, "decoded length");

    {
        const char *args = "nonce=abc&x=1";
        is_int(parse(args, &q, &why), WX_OK, "plain value");
        ok(q.val[WX_P_NONCE] == args + 6 && q.len[WX_P_NONCE] == 3,
           "a value without %% is read in place, not copied");
    }

    is_int(parse("echostr=%E4%B8%AD", &q, &why), WX_OK, "UTF-8 escape");
    is_val(&q, WX_P_ECHOSTR, "\xe4\xb8\xad", "bytes as sent");

    is_int(parse("echostr=a=b=", &q, &why), WX_OK, "'=' inside a value");
    is_val(&q, WX_P_ECHOSTR, "a=b=", "value keeps its '='");

    is_int(parse("echostr=&nonce", &q, &why), WX_OK, "empty values");
    is_val(&q, WX_P_ECHOSTR, "", "echostr= is empty, not absent");
    is_val(&q, WX_P_NONCE, "", "bare nonce is empty, not absent");
    ok(q.val[WX_P_SIGNATURE] == NULL, "signature absent");

    is_int(parse(NULL, &q, &why), WX_OK, "no query at all");
    ok(q.val[WX_P_ECHOSTR] == NULL, "nothing present");
    is_int(parse("", &q, &why), WX_OK, "empty query");
    is_int(parse("&&a=1&&b&=&echostr=z&", &q, &why), WX_OK,
           "stray separators and unknown parameters");
    is_val(&q, WX_P_ECHOSTR, "z", "... echostr still found");

    /* Broken escapes in one of ours are refused, elsewhere ignored. */
    is_int(parse("echostr=%", &q, &why), WX_MALFORMED, "trailing %");
    is_str(why, "parameter echostr has a broken %-escape or %00", "why");
    is_int(parse("echostr=ab%4", &q, &why), WX_MALFORMED, "trailing %4");
    is_int(parse("nonce=%G1", &q, &why), WX_MALFORMED, "%G1");
    is_int(parse("nonce=a%00b", &q, &why), WX_MALFORMED, "%00");
    is_int(parse("other=%zz&echostr=ok", &q, &why), WX_OK,
           "a bad escape in an unknown parameter is not ours to judge");

    /* Bounds */
    big = apr_palloc(pool, 8 + WX_MAX_VALUE + 2);
    strcpy(big, "echostr=");
    memset(big + 8, 'x', WX_MAX_VALUE);
    big[8 + WX_MAX_VALUE] = '\0';
    is_int(parse(big, &q, &why), WX_OK, "4096-byte value");
    is_int((long)q.len[WX_P_ECHOSTR], WX_MAX_VALUE, "... kept whole");
    strcat(big, "y");
    is_int(parse(big, &q, &why), WX_MALFORMED, "4097-byte value");
    is_str(why, "parameter echostr over 4096 bytes", "why");
    big = apr_palloc(pool, 8 + 4 * WX_MAX_VALUE);
    strcpy(big, "echostr=");
    {
        int i;
        for (i = 0; i < WX_MAX_VALUE; i++) {
            strcat(big + 8 + 3 * i, "%41");
        }
    }
    is_int(parse(big, &q, &why), WX_OK, "4096 bytes after decoding, "
           "12288 before");
    is_int((long)q.len[WX_P_ECHOSTR], WX_MAX_VALUE, "... decoded length");
    big = apr_palloc(pool, WX_MAX_QUERY + 2);
    memset(big, 'a', WX_MAX_QUERY + 1);
    big[WX_MAX_QUERY + 1] = '\0';
    is_int(parse(big, &q, &why), WX_MALFORMED, "query over 16384 bytes");
    big[WX_MAX_QUERY] = '\0';
    is_int(parse(big, &q, &why), WX_OK, "query of 16384 bytes");
}

static void test_pollution(void)
{
    static const struct {
        const char *args, *name;
        wx_result_t want;
    } c[] = {
        {"nonce=1&nonce=1", "repeated, same value", WX_MALFORMED},
        {"nonce=1&nonce=2", "repeated, other value", WX_MALFORMED},
        {"signature=a&x=1&signature=b", "repeated signature", WX_MALFORMED},
        {"timestamp=1&timestamp=", "repeated, second empty", WX_MALFORMED},
        {"msg_signature=a&msg_signature=a", "repeated msg_signature",
         WX_MALFORMED},
        {"echostr=a&echostr=b", "repeated echostr", WX_MALFORMED},
        {"nonce=1&%6Eonce=2", "second copy %-encoded", WX_MALFORMED},
        {"nonce=1&Nonce=2", "second copy in another case", WX_MALFORMED},
        {"Signature=a", "only copy in another case", WX_MALFORMED},
        {"msg.signature=a", "PHP reads '.' as '_'", WX_MALFORMED},
        {"msg+signature=a", "PHP reads '+' as '_'", WX_MALFORMED},
        {"msg%20signature=a", "PHP reads ' ' as '_'", WX_MALFORMED},
        {"signature[]=a", "PHP array syntax", WX_MALFORMED},
        {"signature[x]=a&signature=b", "PHP array beside the real one",
         WX_MALFORMED},
        {"nonce%00x=1", "name cut at %00", WX_MALFORMED},
        {"+signature=a", "PHP drops leading spaces ('+')", WX_MALFORMED},
        {"msg[signature=a", "PHP reads a '[' with no ']' as '_'",
         WX_MALFORMED},
        {"encrypt%5Btype=a", "... %-encoded", WX_MALFORMED},
        {"nonce[=a", "'[' at the end: PHP's nonce_, not ours", WX_OK},
        {"s\xc4\xb1gnature=a", ".NET folds U+0131 (dotless i) to I",
         WX_MALFORMED},
        {"%C5%BFignature=a", ".NET folds U+017F (long s) to S", WX_MALFORMED},
        {"%u006Eonce=a", ".NET decodes %uXXXX", WX_MALFORMED},
        {"%u0131=a", "%u0131 alone is not ours", WX_OK},
        {"s%u00c4%u00b1gnature=a", "%u00C4 %u00B1 are two characters, "
         "not a UTF-8 pair", WX_OK},
        {"s%C4%u00B1gnature=a", "... nor half of one", WX_OK},
        {"caf\xc3\xa9=1&\xff=2", "other non-ASCII names are not ours",
         WX_OK},
        {"x=1;nonce=2", "';' splits for CGI.pm, old Python, Go, Rack",
         WX_MALFORMED},
        {"echostr=a;Signature=b", "... any spelling after ';'", WX_MALFORMED},
        {"x=1;+nonce=2", "... with a leading space", WX_MALFORMED},
        {"echostr=a;b;c=d", "';' before names not ours", WX_OK},
        {"a=1;", "a trailing ';'", WX_OK},
        {"%20%20nonce=a", "PHP drops leading spaces (%20)", WX_MALFORMED},
        {"%6Dsg%5Fsignature=a", "long %-encoded name: msg_signature to all",
         WX_OK},
        {"%6D%73%67%5F%73%69%67%6E%61%74%75%72%65=a",
         "fully %-encoded msg_signature", WX_OK},
        {"%6D%73%67%5F%73%69%67%6E%61%74%75%72%65=a&msg_signature=b",
         "fully %-encoded copy beside the plain one", WX_MALFORMED},
        {"%6Eonce=1", "only copy %-encoded: everyone reads nonce",
         WX_OK},
        {"nonces=1&xnonce=2&nonce_=3", "longer names are not ours", WX_OK},
        {"signaturesignaturesig=1", "long unknown name", WX_OK},
    };
    size_t i;
    wx_query_t q;
    const char *why;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        is_int(parse(c[i].args, &q, &why), c[i].want, c[i].name);
    }
    parse("%6Eonce=1", &q, &why);
    is_val(&q, WX_P_NONCE, "1", "%6Eonce is nonce");
    parse("%6D%73%67%5F%73%69%67%6E%61%74%75%72%65=a", &q, &why);
    is_val(&q, WX_P_MSG_SIGNATURE, "a", "fully encoded msg_signature");
    parse("nonce=1&nonce=2", &q, &why);
    is_str(why, "parameter nonce repeated", "why names the parameter");
    parse("msg.signature=a", &q, &why);
    is_str(why, "a parameter name that some frameworks read as "
           "msg_signature", "why names the parameter it shadows");
    parse("x=1;nonce=2", &q, &why);
    is_str(why, "a parameter after ';' that some frameworks read as nonce",
           "why, after ';'");
    parse("echostr=a;b;c=d", &q, &why);
    is_val(&q, WX_P_ECHOSTR, "a;b;c=d", "';' inside a value is kept");
}

static void test_verify(void)
{
    const char *toks[] = {"CurTok3n", "OldTok3n"}, *why;
    const char *parts[3];
    char sig[WX_SIG_HEX_LEN + 1], upper[WX_SIG_HEX_LEN + 1], *args;
    apr_time_t now = apr_time_from_sec(1700000000);
    wx_query_t q;
    int which = -1, i;

    parts[0] = "OldTok3n";
    parts[1] = "1700000000";
    parts[2] = "n1";
    wx_signature(sig, parts, 3);
    args = apr_psprintf(pool, "signature=%s&timestamp=1700000000&nonce=n1"
                        "&echostr=E", sig);
    parse(args, &q, &why);
    is_int(wx_verify_plain(&q, toks, 2, now, 300, &which, &why), WX_OK,
           "rotation: the second token signs");
    is_int(which, 1, "... and is the one reported");
    is_int(wx_verify_plain(&q, toks, 1, now, 300, &which, &why),
           WX_BAD_SIGNATURE, "without it: bad-signature");
    is_str(why, "signature does not match the token", "why, one token");
    toks[1] = "Other999";
    is_int(wx_verify_plain(&q, toks, 2, now, 300, &which, &why),
           WX_BAD_SIGNATURE, "two wrong tokens");
    is_str(why, "signature matches none of the tokens", "why, two");
    toks[1] = "OldTok3n";

    for (i = 0; i <= WX_SIG_HEX_LEN; i++) {
        upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32
                                                         : sig[i]);
    }
    parse(apr_psprintf(pool, "signature=%s&timestamp=1700000000&nonce=n1",
                       upper), &q, &why);
    is_int(wx_verify_plain(&q, toks, 2, now, 300, NULL, &why),
           WX_BAD_SIGNATURE, "upper-case hex is not what WeChat sends");
    parse(apr_psprintf(pool, "signature=%.39s&timestamp=1700000000&nonce=n1",
                       sig), &q, &why);
    is_int(wx_verify_plain(&q, toks, 2, now, 300, NULL, &why),
           WX_BAD_SIGNATURE, "39 hex digits");
    parse(apr_psprintf(pool, "signature=%s0&timestamp=1700000000&nonce=n1",
                       sig), &q, &why);
    is_int(wx_verify_plain(&q, toks, 2, now, 300, NULL, &why),
           WX_BAD_SIGNATURE, "41 hex digits");
    {
        unsigned char bin[WX_SIG_LEN], digest[WX_SIG_LEN];
        /* byte ranges inside larger strings: nothing may read past n */
        wx_bytes_t b[3] = {{"OldTok3nXX", 8}, {"1700000000999", 10},
                           {"n1n1", 2}};
        wx_signature_digest(digest, b, 3);
        ok(wx_signature_parse(sig, 40, bin)
           && memcmp(bin, digest, WX_SIG_LEN) == 0,
           "parse: hex back to the digest");
        ok(!wx_signature_parse(upper, 40, bin), "parse: upper case refused");
        ok(!wx_signature_parse(sig, 39, bin), "parse: 39 digits refused");
        /* Every byte value at every position: only 0-9 a-f parse, and to
         * the value a plain reading gives. */
        {
            int pos, c, wrong = 0;
            for (pos = 0; pos < WX_SIG_HEX_LEN; pos++) {
                for (c = 0; c < 256; c++) {
                    char h[WX_SIG_HEX_LEN];
                    unsigned char out[WX_SIG_LEN];
                    int valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                    int nib = c <= '9' ? c - '0' : c - 'a' + 10;
                    memcpy(h, sig, WX_SIG_HEX_LEN);
                    h[pos] = (char)c;
                    if (wx_signature_parse(h, WX_SIG_HEX_LEN, out) != valid) {
                        wrong++;
                    }
                    else if (valid
                             && ((pos % 2 ? out[pos / 2] & 0x0f
                                          : out[pos / 2] >> 4) != nib
                                 || memcmp(out, bin, pos / 2) != 0)) {
                        wrong++;
                    }
                }
            }
            is_int(wrong, 0, "parse: all 256 byte values at all 40 places");
        }
        ok(!wx_signature_parse("g464b24fc39322e44b38aa78f5edd27bd1441696",
                               40, bin), "parse: non-hex refused");
    }

    /* Freshness, both ways, at and past the edge. */
    parse(args, &q, &why);
    is_int(wx_verify_plain(&q, toks, 2, now + apr_time_from_sec(300), 300,
                           NULL, &why), WX_OK, "300 s old, WxMaxAge 300");
    is_int(wx_verify_plain(&q, toks, 2, now + apr_time_from_sec(301), 300,
                           NULL, &why), WX_STALE, "301 s old");
    is_str(why, "timestamp is older than the max age", "why, past");
    is_int(wx_verify_plain(&q, toks, 2, now - apr_time_from_sec(300), 300,
                           NULL, &why), WX_OK, "300 s ahead");
    is_int(wx_verify_plain(&q, toks, 2, now - apr_time_from_sec(301), 300,
                           NULL, &why), WX_STALE, "301 s ahead");
    is_str(why, "timestamp is ahead of the server clock by more than "
           "the max age", "why, future");
    is_int(wx_verify_plain(&q, toks, 2, 0, WX_MAX_AGE_OFF, NULL, &why),
           WX_OK, "WxMaxAge off: any time");

    /* Signed, but odd: stale or the same instant, never malformed or
     * wrapped around. */
    {
        static const struct {
            const char *ts, *name;
            wx_result_t want;
        } c[] = {
            {"100000000000000000000000000001700000000",
             "39-digit timestamp is stale", WX_STALE},
            {"000000000000000000000001700000000",
             "33 digits, 23 of them leading zeros: the same instant", WX_OK},
            {"10000000000000000000",
             "20 digits (over 2^64 / 10): stale, not wrapped", WX_STALE},
            {"18446744073709551616", "2^64: stale, not wrapped to 0",
             WX_STALE},
            {"0001700000000", "leading zeros: signed as sent, same instant",
             WX_OK},
        };
        size_t k;
        for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
            parts[1] = c[k].ts;
            wx_signature(sig, parts, 3);
            parse(apr_psprintf(pool, "signature=%s&timestamp=%s&nonce=n1",
                               sig, parts[1]), &q, &why);
            is_int(wx_verify_plain(&q, toks, 2, now, 300, NULL, &why),
                   c[k].want, c[k].name);
        }
    }
}

static void test_malformed(void)
{
    static const struct {
        const char *args, *why;
    } c[] = {
        {"timestamp=1&nonce=n&echostr=e", "signature missing"},
        {"signature=&timestamp=1&nonce=n&echostr=e", "signature empty"},
        {"signature=s&nonce=n&echostr=e", "timestamp missing"},
        {"signature=s&timestamp=&nonce=n&echostr=e", "timestamp empty"},
        {"signature=s&timestamp=1&echostr=e", "nonce missing"},
        {"signature=s&timestamp=1&nonce&echostr=e", "nonce empty"},
        {"signature=s&timestamp=1&nonce=n", "echostr missing"},
        {"signature=s&timestamp=1&nonce=n&echostr=", "echostr empty"},
        {"signature=s&timestamp=12a&nonce=n&echostr=e",
         "timestamp is not all digits"},
        {"signature=s&timestamp=-5&nonce=n&echostr=e",
         "timestamp is not all digits"},
        {"signature=s&timestamp=+5&nonce=n&echostr=e",
         "timestamp is not all digits"},
        {"signature=s&timestamp=%205&nonce=n&echostr=e",
         "timestamp is not all digits"},
        {"signature=s&timestamp=1.5&nonce=n&echostr=e",
         "timestamp is not all digits"},
    };
    const char *tok[] = {"AAAAA"}, *why;
    wx_query_t q;
    size_t i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        is_int(parse(c[i].args, &q, &why), WX_OK,
               apr_psprintf(pool, "parses: %s", c[i].args));
        is_int(wx_verify_echo(&q, tok, 1, 0, 300, NULL, &why), WX_MALFORMED,
               apr_psprintf(pool, "malformed: %s", c[i].args));
        is_str(why, c[i].why, apr_psprintf(pool, "why: %s", c[i].why));
    }
}

static void test_tokens(void)
{
    is_str(wx_token_problem("abc"), NULL, "3 characters");
    is_str(wx_token_problem("QDG6eK"), NULL, "WeCom-style token");
    is_str(wx_token_problem("abcdefghijklmnopqrstuvwxyz012345"), NULL,
           "32 characters");
    is_str(wx_token_problem("ab"), "is shorter than 3 characters", "2");
    is_str(wx_token_problem(""), "is shorter than 3 characters", "empty");
    is_str(wx_token_problem("abcdefghijklmnopqrstuvwxyz0123456"),
           "is longer than 32 characters", "33 characters");
    is_str(wx_token_problem("abc-123"),
           "holds a character other than an ASCII letter or digit", "dash");
    is_str(wx_token_problem("abc_123"),
           "holds a character other than an ASCII letter or digit",
           "underscore");
    is_str(wx_token_problem("caf\xc3\xa9"),
           "holds a character other than an ASCII letter or digit",
           "non-ASCII letter");
    is_str(wx_token_problem("${WX_TOKEN}"),
           "looks like an undefined ${VARIABLE} (httpd leaves those as "
           "they are)", "undefined variable");
}

/* What the guard hands the app after decrypting a safe-mode message. */
static void test_query_without(void)
{
    const unsigned int drop = 1u << WX_P_MSG_SIGNATURE
                            | 1u << WX_P_ENCRYPT_TYPE;
    static const struct {
        const char *in, *want, *name;
    } cases[] = {
        { "signature=a&timestamp=1&nonce=2&openid=o%2B&encrypt_type=aes"
          "&msg_signature=m", "signature=a&timestamp=1&nonce=2&openid=o%2B",
          "OA safe mode: both dropped, the rest byte for byte" },
        { "msg_signature=m&timestamp=1&nonce=2", "timestamp=1&nonce=2",
          "WeCom: msg_signature first" },
        { "timestamp=1&%6Dsg_signature=m&x=1", "timestamp=1&x=1",
          "a %-encoded name is dropped too" },
        { "encrypt_type=aes&msg_signature=m", NULL, "nothing left: NULL" },
        { "a=1&&b=2&msg_signature", "a=1&&b=2", "empty pieces kept, a bare "
          "name dropped" },
    };
    unsigned int i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_str(wx_query_without(pool, cases[i].in, drop), cases[i].want,
               cases[i].name);
    }
    is_str(wx_query_without(pool, NULL, drop), NULL, "no query: NULL");
}

/* The replay cache's inputs: the timestamp's value, and the id. */
static void test_replay_id(void)
{
    wx_query_t a, b;
    unsigned char ia[WX_SIG_LEN], ib[WX_SIG_LEN];
    const char *why;

    parse("signature=0123&timestamp=0001714036504&nonce=n1", &a, &why);
    is_int((long)wx_timestamp_value(&a), 1714036504L,
           "timestamp value, leading zeros dropped");
    parse("timestamp=12a", &b, &why);
    is_int((long)wx_timestamp_value(&b), -1, "timestamp not digits: -1");
    parse("timestamp=1234567890123456789", &b, &why);
    is_int((long)wx_timestamp_value(&b), -1, "19 digits: -1");
    parse("nonce=1", &b, &why);
    is_int((long)wx_timestamp_value(&b), -1, "no timestamp: -1");

    wx_replay_id(&a, "Tok3n", ia);
    parse("nonce=n1&timestamp=0001714036504&x=y&signature=0123", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) == 0,
       "replay id: same signed values, same id (order, other params)");
    parse("msg_signature=4567&timestamp=0001714036504&nonce=n1", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) == 0,
       "replay id: the same triple under msg_signature, the same id");
    wx_replay_id(&a, "Tok3nB", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) != 0, "replay id: another token");
    parse("signature=0123&timestamp=0001714036504&nonce=n2", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) != 0, "replay id: another nonce");
    parse("signature=0123&timestamp=1714036504&nonce=n1", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) != 0,
       "replay id: the timestamp as sent (another signed string)");
    parse("signature=0123&timestamp=n1&nonce=0001714036504", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) == 0,
       "replay id: timestamp and nonce swapped (the same signatures): the same id");
    /* Lengths are part of it: moving a byte between fields changes it. */
    parse("signature=0123&timestamp=000171403650&nonce=4n1", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) != 0, "replay id: fields are delimited");
    wx_replay_id(&a, "Tok3n0", ia);
    parse("signature=0123&timestamp=001714036504&nonce=n1", &b, &why);
    wx_replay_id(&b, "Tok3n", ib);
    ok(memcmp(ia, ib, WX_SIG_LEN) != 0,
       "replay id: the token is delimited too");
}

static void test_names(void)
{
    is_str(wx_result_name(WX_OK), "ok", "note ok");
    is_str(wx_result_name(WX_MALFORMED), "malformed", "note malformed");
    is_str(wx_result_name(WX_BAD_SIGNATURE), "bad-signature",
           "note bad-signature");
    is_str(wx_result_name(WX_STALE), "stale", "note stale");
    is_str(wx_result_name(WX_REPLAY), "replay", "note replay");
    is_str(wx_result_name(WX_BAD_CIPHER), "bad-cipher", "note bad-cipher");
    is_str(wx_result_name(WX_BAD_APPID), "bad-appid", "note bad-appid");
    is_str(wx_result_name(WX_METHOD), "method", "note method");
    is_str(wx_result_name(WX_NO_TOKEN), "no-token", "note no-token");
    is_str(wx_result_name(WX_NO_KEY), "no-key", "note no-key");
    is_str(wx_result_name(WX_TOO_LARGE), "too-large", "note too-large");
    is_str(wx_result_name(WX_CACHE_ERROR), "cache-error", "note cache-error");
    is_str(wx_result_name(WX_DUPLICATE), "duplicate", "note duplicate");
    is_str(wx_result_name(WX_RESULT_COUNT), "unknown", "out of range");
    is_str(wx_param_name(WX_P_MSG_SIGNATURE), "msg_signature", "param name");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    test_vectors();
    test_vector_requests();
    test_decoding();
    test_pollution();
    test_verify();
    test_malformed();
    test_tokens();
    test_query_without();
    test_replay_id();
    test_names();

    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
