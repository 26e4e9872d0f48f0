/*
 * wx_protocol.c: the WeChat server-callback protocol core of mod_wx_valid.
 * APR and APR-util only; see wx_protocol.h for the contract.
 */
#include <string.h>

#include "apr_crypto.h"
#include "apr_escape.h"
#include "apr_sha1.h"
#include "apr_strings.h"

#include "wx_protocol.h"

static const char *const wx_result_names[WX_RESULT_COUNT] = {
    "ok", "malformed", "bad-signature", "stale", "replay",
    "bad-cipher", "bad-appid", "method", "no-token"
};

static const char *const wx_param_names[WX_P_COUNT] = {
    "signature", "msg_signature", "timestamp", "nonce", "echostr",
    "encrypt_type", "openid"
};

/* Longest known name ("msg_signature") plus room to tell a longer one. */
#define WX_NAME_BUF 16

const char *wx_result_name(wx_result_t rc)
{
    return (rc >= 0 && rc < WX_RESULT_COUNT) ? wx_result_names[rc] : "unknown";
}

const char *wx_param_name(wx_param_t p)
{
    return (p >= 0 && p < WX_P_COUNT) ? wx_param_names[p] : "unknown";
}

/* apr_isalnum() follows the locale; WeChat's rule is ASCII. */
static int wx_is_ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
        || (c >= 'a' && c <= 'z');
}

const char *wx_token_problem(const char *tok)
{
    apr_size_t n = strlen(tok), i;

    for (i = 0; i < n; i++) {
        if (!wx_is_ascii_alnum((unsigned char)tok[i])) {
            /* An undefined ${VAR} is left in place, with a warning, by httpd. */
            if (tok[0] == '$' && tok[1] == '{') {
                return "looks like an undefined ${VARIABLE} (httpd leaves "
                       "those as they are)";
            }
            return "holds a character other than an ASCII letter or digit";
        }
    }
    if (n < WX_TOKEN_MIN) {
        return "is shorter than 3 characters";
    }
    if (n > WX_TOKEN_MAX) {
        return "is longer than 32 characters";
    }
    return NULL;
}

static int wx_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * WeChat's decoding: %XX and nothing else, so the '+' of base64 survives.
 * Returns the decoded length, or -1 on a broken escape or an encoded NUL.
 * dst has room for n bytes; the result is not NUL-terminated.
 */
static apr_ssize_t wx_pct_decode(char *dst, const char *src, apr_size_t n)
{
    apr_size_t i, o = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n) {
                return -1;
            }
            hi = wx_hexval((unsigned char)src[i + 1]);
            lo = wx_hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        dst[o++] = (char)c;
    }
    return (apr_ssize_t)o;
}

/*
 * The name as the most lenient application frameworks would key it: %XX and
 * '+' decoded, cut at '[' (PHP arrays) or NUL, ' ' and '.' read as '_' (PHP),
 * ASCII case folded (ASP.NET, some Java containers).  Returns its length, or
 * -1 when it cannot be one of ours (too long).
 */
static int wx_name_canon(char out[WX_NAME_BUF], const char *src, apr_size_t n)
{
    apr_size_t i;
    int o = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%' && i + 2 < n) {
            int hi = wx_hexval((unsigned char)src[i + 1]);
            int lo = wx_hexval((unsigned char)src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            }
        }
        else if (c == '+') {
            c = ' ';
        }
        if (c == '[' || c == '\0') {
            break;
        }
        if (c == ' ' || c == '.') {
            c = '_';
        }
        else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
        }
        if (o == WX_NAME_BUF - 1) {
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

static int wx_param_lookup(const char *name, apr_size_t n)
{
    int i;

    for (i = 0; i < WX_P_COUNT; i++) {
        if (strlen(wx_param_names[i]) == n
            && memcmp(wx_param_names[i], name, n) == 0) {
            return i;
        }
    }
    return -1;
}

wx_result_t wx_query_parse(apr_pool_t *p, const char *args, wx_query_t *q,
                           const char **why)
{
    const char *s = args;

    memset(q, 0, sizeof(*q));
    if (args == NULL) {
        return WX_OK;
    }
    if (strlen(args) > WX_MAX_QUERY) {
        *why = "query string over 16384 bytes";
        return WX_MALFORMED;
    }

    while (*s) {
        const char *end = strchr(s, '&');
        const char *eq;
        apr_size_t seglen = end ? (apr_size_t)(end - s) : strlen(s);
        apr_size_t namelen, vallen;
        char canon[WX_NAME_BUF], exact[WX_NAME_BUF];
        apr_ssize_t exactlen;
        int id, clen;
        char *val;

        eq = memchr(s, '=', seglen);
        namelen = eq ? (apr_size_t)(eq - s) : seglen;

        clen = wx_name_canon(canon, s, namelen);
        id = clen > 0 ? wx_param_lookup(canon, (apr_size_t)clen) : -1;
        if (id >= 0) {
            /* Ours to everyone; the exact spelling is required of it. */
            exactlen = namelen < WX_NAME_BUF
                     ? wx_pct_decode(exact, s, namelen) : -1;
            if (exactlen < 0
                || wx_param_lookup(exact, (apr_size_t)exactlen) != id) {
                *why = apr_pstrcat(p, "a parameter name that some frameworks "
                                   "read as ", wx_param_names[id], NULL);
                return WX_MALFORMED;
            }
            if (q->val[id] != NULL) {
                *why = apr_pstrcat(p, "parameter ", wx_param_names[id],
                                   " repeated", NULL);
                return WX_MALFORMED;
            }
            vallen = eq ? seglen - namelen - 1 : 0;
            val = apr_palloc(p, vallen + 1);
            exactlen = wx_pct_decode(val, eq ? eq + 1 : "", vallen);
            if (exactlen < 0) {
                *why = apr_pstrcat(p, "parameter ", wx_param_names[id],
                                   " has a broken %-escape or %00", NULL);
                return WX_MALFORMED;
            }
            if (exactlen > WX_MAX_VALUE) {
                *why = apr_pstrcat(p, "parameter ", wx_param_names[id],
                                   " over 4096 bytes", NULL);
                return WX_MALFORMED;
            }
            val[exactlen] = '\0';
            q->val[id] = val;
            q->len[id] = (apr_size_t)exactlen;
        }
        if (!end) {
            break;
        }
        s = end + 1;
    }
    return WX_OK;
}

void wx_signature(char out[WX_SIG_HEX_LEN + 1], const char *const *parts,
                  int nparts)
{
    const char *sorted[8];
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    int i, j;

    /* Insertion sort: strcmp() orders as unsigned char, i.e. bytewise. */
    for (i = 0; i < nparts && i < 8; i++) {
        const char *v = parts[i];
        for (j = i; j > 0 && strcmp(sorted[j - 1], v) > 0; j--) {
            sorted[j] = sorted[j - 1];
        }
        sorted[j] = v;
    }
    apr_sha1_init(&ctx);
    for (j = 0; j < i; j++) {
        apr_sha1_update_binary(&ctx, (const unsigned char *)sorted[j],
                               (unsigned int)strlen(sorted[j]));
    }
    apr_sha1_final(digest, &ctx);
    apr_escape_hex(out, digest, sizeof(digest), 0, NULL);
    out[WX_SIG_HEX_LEN] = '\0';
}

int wx_signature_equals(const char *given, apr_size_t given_len,
                        const char expected[WX_SIG_HEX_LEN])
{
    return given_len == WX_SIG_HEX_LEN
        && apr_crypto_equals(given, expected, WX_SIG_HEX_LEN);
}

/* Why-sentences for a required parameter that is absent or empty. */
static const char *const wx_missing[WX_P_COUNT] = {
    "signature missing", "msg_signature missing", "timestamp missing",
    "nonce missing", "echostr missing", "encrypt_type missing",
    "openid missing"
};
static const char *const wx_empty[WX_P_COUNT] = {
    "signature empty", "msg_signature empty", "timestamp empty",
    "nonce empty", "echostr empty", "encrypt_type empty", "openid empty"
};

static int wx_present(const wx_query_t *q, wx_param_t id, const char **why)
{
    if (q->val[id] == NULL || q->len[id] == 0) {
        *why = q->val[id] == NULL ? wx_missing[id] : wx_empty[id];
        return 0;
    }
    return 1;
}

wx_result_t wx_verify_plain(const wx_query_t *q, const char *const *tokens,
                            int ntokens, apr_time_t now, apr_int64_t max_age,
                            int *which, const char **why)
{
    static const wx_param_t needed[] = {
        WX_P_SIGNATURE, WX_P_TIMESTAMP, WX_P_NONCE
    };
    const char *ts = q->val[WX_P_TIMESTAMP];
    apr_int64_t t = 0, skew;
    apr_size_t i;
    int k;

    for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (!wx_present(q, needed[i], why)) {
            return WX_MALFORMED;
        }
    }
    for (i = 0; i < q->len[WX_P_TIMESTAMP]; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            *why = "timestamp is not all digits";
            return WX_MALFORMED;
        }
        /* Saturate: anything this large is stale, not malformed. */
        if (t < APR_INT64_C(100000000000000)) {
            t = t * 10 + (ts[i] - '0');
        }
    }

    for (k = 0; k < ntokens; k++) {
        char sig[WX_SIG_HEX_LEN + 1];
        const char *parts[3];
        parts[0] = tokens[k];
        parts[1] = ts;
        parts[2] = q->val[WX_P_NONCE];
        wx_signature(sig, parts, 3);
        if (wx_signature_equals(q->val[WX_P_SIGNATURE],
                                q->len[WX_P_SIGNATURE], sig)) {
            break;
        }
    }
    if (k == ntokens) {
        *why = ntokens == 1 ? "signature does not match the WxToken"
                            : "signature matches none of the WxTokens";
        return WX_BAD_SIGNATURE;
    }
    if (which) {
        *which = k;
    }

    if (max_age != WX_MAX_AGE_OFF) {
        skew = t - (apr_int64_t)apr_time_sec(now);
        if (skew > max_age) {
            *why = "timestamp is ahead of the server clock by more than "
                   "WxMaxAge";
            return WX_STALE;
        }
        if (-skew > max_age) {
            *why = "timestamp is older than WxMaxAge";
            return WX_STALE;
        }
    }
    return WX_OK;
}

const char *wx_echo_problem(const wx_query_t *q)
{
    const char *why = NULL;

    return wx_present(q, WX_P_ECHOSTR, &why) ? NULL : why;
}
