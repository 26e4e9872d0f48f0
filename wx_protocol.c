/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wx_protocol.c: the WeChat server-callback protocol core of mod_wx_valid.
 * APR and APR-util only; see wx_protocol.h for the contract.
 */
#include <string.h>

#include "apr_crypto.h"
#include "apr_sha1.h"
#include "apr_strings.h"

#include "wx_protocol.h"

#define WX_RESULT_NAME(e, name, counter, status, tag, level, dir) name,
static const char *const wx_result_names[WX_RESULT_COUNT] = {
    WX_RESULTS(WX_RESULT_NAME)
};
#undef WX_RESULT_NAME

/* Each parameter's name, and the sentences that say it is missing or
 * empty. */
#define WX_PARAM_ROW(e, name) \
    { #name, sizeof(#name) - 1, #name " missing", #name " empty" },
static const struct {
    const char *name;
    apr_size_t len;
    const char *missing, *empty;
} wx_params[WX_P_COUNT] = {
    WX_PARAMS(WX_PARAM_ROW)
};
#undef WX_PARAM_ROW

/* Longest known name ("msg_signature") plus room to tell a longer one. */
#define WX_NAME_BUF 16

const char *wx_result_name(wx_result_t rc)
{
    return (rc >= 0 && rc < WX_RESULT_COUNT) ? wx_result_names[rc] : "unknown";
}

const char *wx_param_name(wx_param_t p)
{
    return (p >= 0 && p < WX_P_COUNT) ? wx_params[p].name : "unknown";
}

int wx_is_ascii_alnum(unsigned char c)
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
        return "is shorter than " WX_STR(WX_TOKEN_MIN) " characters";
    }
    if (n > WX_TOKEN_MAX) {
        return "is longer than " WX_STR(WX_TOKEN_MAX) " characters";
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

/* Does a ']' (or %5D) follow in src[from, n)?  PHP's array syntax. */
static int wx_closes(const char *src, apr_size_t from, apr_size_t n)
{
    apr_size_t i;

    for (i = from; i < n; i++) {
        if (src[i] == ']' || (src[i] == '%' && i + 2 < n && src[i + 1] == '5'
                              && (src[i + 2] == 'D' || src[i + 2] == 'd'))) {
            return 1;
        }
    }
    return 0;
}

/*
 * The name as the most lenient application frameworks would key it, so that
 * no copy of one of ours can hide behind another spelling:
 *  - %XX and '+' decoded, and .NET's %uXXXX;
 *  - leading spaces dropped (PHP);
 *  - ' ' and '.' read as '_' (PHP), and a '[' with no ']' after it (PHP);
 *    a '[' with one cuts the name (PHP arrays), as does NUL;
 *  - case folded (ASP.NET, some Java containers), including the two
 *    non-ASCII letters .NET's ordinal case folding takes to ASCII:
 *    U+0131 dotless i and U+017F long s.
 * Returns its length, or -1 when it cannot be one of ours (too long, or a
 * non-ASCII letter that no framework folds into one of our names).
 */
static int wx_name_canon(char out[WX_NAME_BUF], const char *src, apr_size_t n)
{
    apr_size_t i;
    unsigned int lead = 0;    /* a pending UTF-8 lead byte */
    int o = 0;

    for (i = 0; i < n; i++) {
        unsigned int c = (unsigned char)src[i];
        int bracket = (c == '['), from_u = 0;
        if (c == '%' && i + 5 < n && (src[i + 1] == 'u' || src[i + 1] == 'U')
            && wx_hexval((unsigned char)src[i + 2]) >= 0
            && wx_hexval((unsigned char)src[i + 3]) >= 0
            && wx_hexval((unsigned char)src[i + 4]) >= 0
            && wx_hexval((unsigned char)src[i + 5]) >= 0) {
            c = (unsigned int)(wx_hexval((unsigned char)src[i + 2]) << 12
                             | wx_hexval((unsigned char)src[i + 3]) << 8
                             | wx_hexval((unsigned char)src[i + 4]) << 4
                             | wx_hexval((unsigned char)src[i + 5]));
            c = c == 0x131 ? 'i' : c == 0x17f ? 's' : c;
            from_u = 1;    /* a whole character: never half a UTF-8 pair */
            i += 5;
        }
        else if (c == '%' && i + 2 < n) {
            int hi = wx_hexval((unsigned char)src[i + 1]);
            int lo = wx_hexval((unsigned char)src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned int)(hi << 4 | lo);
                bracket = (c == '[');
                i += 2;
            }
        }
        else if (c == '+') {
            c = ' ';
        }
        if (lead) {
            c = from_u ? 0x100
              : (lead == 0xc4 && c == 0xb1) ? 'i'
              : (lead == 0xc5 && c == 0xbf) ? 's' : 0x100;
            lead = 0;
        }
        else if (!from_u && (c == 0xc4 || c == 0xc5)) {
            lead = c;
            continue;
        }
        if (c >= 0x80) {
            return -1;
        }
        if (c == '\0' || (bracket && wx_closes(src, i + 1, n))) {
            break;
        }
        if (c == ' ' && o == 0) {
            continue;
        }
        if (c == ' ' || c == '.' || c == '[') {
            c = '_';
        }
        else if (c >= 'A' && c <= 'Z') {
            c = c - 'A' + 'a';
        }
        if (o == WX_NAME_BUF - 1) {
            return -1;
        }
        out[o++] = (char)c;
    }
    if (lead) {
        return -1;
    }
    out[o] = '\0';
    return o;
}

/* One of ours, spelled exactly?  -1 if not. */
static int wx_param_lookup(const char *name, apr_size_t n)
{
    int i;

    for (i = 0; i < WX_P_COUNT; i++) {
        if (wx_params[i].len == n && memcmp(name, wx_params[i].name, n) == 0) {
            return i;
        }
    }
    return -1;
}

/* The parameter spelled exactly "name=" at s (avail bytes), or -1. */
static int wx_param_prefix(const char *s, apr_size_t avail)
{
    int i;

    for (i = 0; i < WX_P_COUNT; i++) {
        apr_size_t n = wx_params[i].len;

        if (avail > n && s[0] == wx_params[i].name[0] && s[n] == '='
            && memcmp(s, wx_params[i].name, n) == 0) {
            return i;
        }
    }
    return -1;
}

/* Bytes of a name that some framework reads as something else. */
static int wx_name_is_plain(const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%' || c == '+' || c == '.' || c == '[' || c == ' '
            || (c >= 'A' && c <= 'Z') || c >= 0x80) {
            return 0;
        }
    }
    return 1;
}

/*
 * A name with bytes that frameworks read differently: which of ours it is
 * to everyone (>= 0), to no one (-1), or only to some (-2: malformed).
 */
static int wx_name_slow(apr_pool_t *p, const char *s, apr_size_t n,
                        const char **why)
{
    char canon[WX_NAME_BUF], exact[3 * WX_NAME_BUF];
    apr_ssize_t exactlen;
    int clen = wx_name_canon(canon, s, n);
    int id = clen > 0 ? wx_param_lookup(canon, (apr_size_t)clen) : -1;

    if (id < 0) {
        return -1;
    }
    /* %-encoding alone changes nothing: everyone decodes %XX alike. */
    exactlen = n <= sizeof(exact) ? wx_pct_decode(exact, s, n) : -1;
    if (exactlen < 0 || wx_param_lookup(exact, (apr_size_t)exactlen) != id) {
        *why = apr_pstrcat(p, "a parameter name that some frameworks read "
                           "as ", wx_params[id].name, NULL);
        return -2;
    }
    return id;
}

/*
 * Record the value of parameter id, raw bytes [v, v + n): in place when it
 * holds no '%' (pct == 0, the common case), else decoded into a copy.
 */
static wx_result_t wx_take_value(apr_pool_t *p, wx_query_t *q, int id,
                                 const char *v, apr_size_t n, int pct,
                                 const char **why)
{
    apr_ssize_t len = (apr_ssize_t)n;

    if (q->val[id] != NULL) {
        *why = apr_pstrcat(p, "parameter ", wx_params[id].name, " repeated",
                           NULL);
        return WX_MALFORMED;
    }
    if (pct) {
        char *val = apr_palloc(p, n);
        len = wx_pct_decode(val, v, n);
        if (len < 0) {
            *why = apr_pstrcat(p, "parameter ", wx_params[id].name,
                               " has a broken %-escape or %00", NULL);
            return WX_MALFORMED;
        }
        v = val;
    }
    if (len > WX_MAX_VALUE) {
        *why = apr_pstrcat(p, "parameter ", wx_params[id].name,
                           " over " WX_STR(WX_MAX_VALUE) " bytes", NULL);
        return WX_MALFORMED;
    }
    q->val[id] = v;
    q->len[id] = (apr_size_t)len;
    return WX_OK;
}

wx_result_t wx_query_parse(apr_pool_t *p, const char *args, wx_query_t *q,
                           const char **why)
{
    const char *s = args, *end;
    apr_size_t total;
    int any_pct;

    memset(q, 0, sizeof(*q));
    if (args == NULL) {
        return WX_OK;
    }
    total = strlen(args);
    if (total > WX_MAX_QUERY) {
        *why = "query string over " WX_STR(WX_MAX_QUERY) " bytes";
        return WX_MALFORMED;
    }

    /* One pass, segment by segment; memchr() is vectorised, and most
     * values are taken in place.  One look for '%' in the whole query
     * spares one per value in the usual query that has none. */
    any_pct = memchr(args, '%', total) != NULL;
    end = args + total;
    while (s < end) {
        apr_size_t namelen;
        const char *v, *amp, *eq;
        int id;

        /* WeChat's own spelling, "name=", first: it spares the usual
         * query a search for '=' per parameter. */
        id = wx_param_prefix(s, (apr_size_t)(end - s));
        if (id >= 0) {
            v = s + wx_params[id].len + 1;
            amp = memchr(v, '&', (apr_size_t)(end - v));
        }
        else {
            amp = memchr(s, '&', (apr_size_t)(end - s));
            eq = memchr(s, '=', (apr_size_t)((amp ? amp : end) - s));
            namelen = (apr_size_t)((eq ? eq : amp ? amp : end) - s);
            v = eq ? eq + 1 : s + namelen;
            id = wx_param_lookup(s, namelen);
            /* Any other spelling of one of ours needs a closer look. */
            if (id < 0 && !wx_name_is_plain(s, namelen)) {
                id = wx_name_slow(p, s, namelen, why);
                if (id == -2) {
                    return WX_MALFORMED;
                }
            }
        }
        if (id >= 0) {
            apr_size_t n = (apr_size_t)((amp ? amp : end) - v);
            wx_result_t rc = wx_take_value(p, q, id, v, n,
                                           any_pct && memchr(v, '%', n),
                                           why);
            if (rc != WX_OK) {
                return rc;
            }
        }
        s = (amp ? amp : end) + 1;
    }

    /*
     * Perl's CGI.pm and Plack, Rack before 3, Python before 3.9.2 and Go
     * before 1.17 also split on ';': a piece after one that such an app
     * would read as one of ours is another copy of it.
     */
    for (s = memchr(args, ';', total); s != NULL;
         s = memchr(s, ';', (apr_size_t)(end - s))) {
        const char *name = ++s;
        char canon[WX_NAME_BUF];
        int clen, id;

        while (s < end && *s != '=' && *s != '&' && *s != ';') {
            s++;
        }
        clen = wx_name_canon(canon, name, (apr_size_t)(s - name));
        id = clen > 0 ? wx_param_lookup(canon, (apr_size_t)clen) : -1;
        if (id >= 0) {
            *why = apr_pstrcat(p, "a parameter after ';' that some frameworks "
                               "read as ", wx_params[id].name, NULL);
            return WX_MALFORMED;
        }
    }
    return WX_OK;
}

char *wx_query_without(apr_pool_t *p, const char *args, unsigned int drop)
{
    const char *s = args, *end, *amp;
    char *out, *o;

    if (args == NULL) {
        return NULL;
    }
    end = args + strlen(args);
    o = out = apr_palloc(p, (apr_size_t)(end - args) + 1);
    while (s < end) {
        const char *eq;
        char canon[WX_NAME_BUF];
        int clen, id;

        amp = memchr(s, '&', (apr_size_t)(end - s));
        if (amp == NULL) {
            amp = end;
        }
        eq = memchr(s, '=', (apr_size_t)(amp - s));
        clen = wx_name_canon(canon, s, (apr_size_t)((eq ? eq : amp) - s));
        id = clen > 0 ? wx_param_lookup(canon, (apr_size_t)clen) : -1;
        if (id < 0 || !(drop & (1u << id))) {
            if (o != out) {
                *o++ = '&';
            }
            memcpy(o, s, (apr_size_t)(amp - s));
            o += amp - s;
        }
        s = amp + 1;
    }
    *o = '\0';
    return o == out ? NULL : out;
}

/*
 * 1 when a sorts before b byte-wise (as strcmp() orders C strings), else 0.
 * The token is one of the parts and the attacker chooses the others, so
 * nothing here branches on, or stops early at, the bytes compared: the
 * time depends on the lengths alone.
 */
static unsigned int wx_ct_less(const wx_bytes_t *a, const wx_bytes_t *b)
{
    apr_size_t n = a->n < b->n ? a->n : b->n, i;
    unsigned int lt = 0, gt = 0, open;

    for (i = 0; i < n; i++) {
        unsigned int x = (unsigned char)a->p[i], y = (unsigned char)b->p[i];

        open = ~(lt | gt) & 1;
        lt |= open & (unsigned int)(x < y);
        gt |= open & (unsigned int)(x > y);
    }
    open = ~(lt | gt) & 1;
    return lt | (open & (unsigned int)(a->n < b->n));
}

/* Swap *a and *b when doit is 1, without a branch. */
static void wx_ct_swap(const wx_bytes_t **a, const wx_bytes_t **b,
                       unsigned int doit)
{
    apr_uintptr_t d = ((apr_uintptr_t)*a ^ (apr_uintptr_t)*b)
                    & ((apr_uintptr_t)0 - doit);

    *a = (const wx_bytes_t *)((apr_uintptr_t)*a ^ d);
    *b = (const wx_bytes_t *)((apr_uintptr_t)*b ^ d);
}

void wx_signature_digest(unsigned char digest[WX_SIG_LEN],
                         const wx_bytes_t *parts, int nparts)
{
    const wx_bytes_t *sorted[8];
    apr_sha1_ctx_t ctx;
    int i, j, n = nparts < 8 ? nparts : 8;

    for (i = 0; i < n; i++) {
        sorted[i] = &parts[i];
    }
    /* Odd-even transposition sort: a fixed network of compare-exchanges,
     * the same sequence whatever the bytes. */
    for (i = 0; i < n; i++) {
        for (j = i & 1; j + 1 < n; j += 2) {
            wx_ct_swap(&sorted[j], &sorted[j + 1],
                       wx_ct_less(sorted[j + 1], sorted[j]));
        }
    }
    apr_sha1_init(&ctx);
    for (j = 0; j < n; j++) {
        apr_sha1_update_binary(&ctx, (const unsigned char *)sorted[j]->p,
                               (unsigned int)sorted[j]->n);
    }
    apr_sha1_final(digest, &ctx);
}

void wx_signature(char out[WX_SIG_HEX_LEN + 1], const char *const *parts,
                  int nparts)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[WX_SIG_LEN];
    wx_bytes_t b[8];
    int i;

    for (i = 0; i < nparts && i < 8; i++) {
        b[i].p = parts[i];
        b[i].n = strlen(parts[i]);
    }
    wx_signature_digest(digest, b, i);
    for (i = 0; i < WX_SIG_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0f];
    }
    out[WX_SIG_HEX_LEN] = '\0';
}

/* Lowercase hex digit values plus one; 0 for every other byte. */
static const unsigned char wx_hex1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};

int wx_signature_parse(const char *hex, apr_size_t len,
                       unsigned char bin[WX_SIG_LEN])
{
    const unsigned char *h = (const unsigned char *)hex;
    int i;

    if (len != WX_SIG_HEX_LEN) {
        return 0;
    }
    /* Lower case only, as WeChat sends; the input is public, not secret. */
    for (i = 0; i < WX_SIG_LEN; i++) {
        unsigned int hi = wx_hex1[h[2 * i]], lo = wx_hex1[h[2 * i + 1]];

        if (hi == 0 || lo == 0) {
            return 0;
        }
        bin[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return 1;
}

static int wx_present(const wx_query_t *q, wx_param_t id, const char **why)
{
    if (q->val[id] == NULL || q->len[id] == 0) {
        *why = q->val[id] == NULL ? wx_params[id].missing
                                  : wx_params[id].empty;
        return 0;
    }
    return 1;
}

/* Over 18 significant digits: a timestamp no clock will reach. */
#define WX_TS_NEVER (APR_INT64_MAX / 2)

/*
 * A timestamp's digits (n bytes at ts) as a number in *t: 0 when they are
 * not all digits.  Leading zeros change nothing; over 18 significant
 * digits is signed nonsense, WX_TS_NEVER (stale), not an overflow.
 */
static int wx_ts_value(const char *ts, apr_size_t n, apr_int64_t *t)
{
    apr_uint64_t u = 0;
    apr_size_t i, sig;

    for (i = 0; i < n && ts[i] == '0'; i++) {
    }
    sig = n - i;
    for (; i < n; i++) {
        unsigned int d = (unsigned char)ts[i] - (unsigned int)'0';
        if (d > 9) {
            return 0;
        }
        u = u * 10 + d;    /* unsigned: wraps, never undefined */
    }
    *t = sig > 18 ? WX_TS_NEVER : (apr_int64_t)u;
    return 1;
}

/*
 * Both modes: the signature in parameter sigp over [token, timestamp,
 * nonce] and, when extra is not NULL, the extra part too.
 */
static wx_result_t wx_verify_signed(const wx_query_t *q, wx_param_t sigp,
                                    const char *extra, apr_size_t extralen,
                                    const char *const *tokens, int ntokens,
                                    apr_time_t now, apr_int64_t max_age,
                                    int *which, const char **why)
{
    const char *ts = q->val[WX_P_TIMESTAMP];
    unsigned char given[WX_SIG_LEN];
    apr_int64_t t;
    int k;

    if (!wx_present(q, sigp, why)
        || !wx_present(q, WX_P_TIMESTAMP, why)
        || !wx_present(q, WX_P_NONCE, why)) {
        return WX_MALFORMED;
    }
    if (!wx_ts_value(ts, q->len[WX_P_TIMESTAMP], &t)) {
        *why = "timestamp is not all digits";
        return WX_MALFORMED;
    }

    /* Compared as binary digests, in constant time (apr_crypto_equals). */
    k = ntokens;
    if (wx_signature_parse(q->val[sigp], q->len[sigp], given)) {
        for (k = 0; k < ntokens; k++) {
            unsigned char digest[WX_SIG_LEN];
            wx_bytes_t parts[4];
            parts[0].p = tokens[k];
            parts[0].n = strlen(tokens[k]);
            parts[1].p = ts;
            parts[1].n = q->len[WX_P_TIMESTAMP];
            parts[2].p = q->val[WX_P_NONCE];
            parts[2].n = q->len[WX_P_NONCE];
            parts[3].p = extra;
            parts[3].n = extralen;
            wx_signature_digest(digest, parts, extra ? 4 : 3);
            if (apr_crypto_equals(given, digest, WX_SIG_LEN)) {
                break;
            }
        }
    }
    if (k == ntokens) {
        if (sigp == WX_P_SIGNATURE) {
            *why = ntokens == 1 ? "signature does not match the token"
                                : "signature matches none of the tokens";
        }
        else {
            *why = ntokens == 1 ? "msg_signature does not match the token"
                                : "msg_signature matches none of the "
                                  "tokens";
        }
        return WX_BAD_SIGNATURE;
    }
    if (which) {
        *which = k;
    }

    switch (wx_time_skew(t, now, max_age)) {
    case 1:
        *why = "timestamp is ahead of the server clock by more than the "
               "max age";
        return WX_STALE;
    case -1:
        *why = "timestamp is older than the max age";
        return WX_STALE;
    }
    return WX_OK;
}

int wx_time_skew(apr_int64_t t, apr_time_t now, apr_int64_t max_age)
{
    apr_int64_t skew = t - (apr_int64_t)apr_time_sec(now);

    if (max_age == WX_MAX_AGE_OFF) {
        return 0;
    }
    return skew > max_age ? 1 : -skew > max_age ? -1 : 0;
}

wx_result_t wx_verify_plain(const wx_query_t *q, const char *const *tokens,
                            int ntokens, apr_time_t now, apr_int64_t max_age,
                            int *which, const char **why)
{
    return wx_verify_signed(q, WX_P_SIGNATURE, NULL, 0, tokens, ntokens, now,
                            max_age, which, why);
}

wx_result_t wx_verify_msg(const wx_query_t *q, const char *encrypt,
                          apr_size_t enclen, const char *const *tokens,
                          int ntokens, apr_time_t now, apr_int64_t max_age,
                          int *which, const char **why)
{
    return wx_verify_signed(q, WX_P_MSG_SIGNATURE, encrypt, enclen, tokens,
                            ntokens, now, max_age, which, why);
}

apr_int64_t wx_timestamp_value(const wx_query_t *q)
{
    apr_int64_t t;

    if (q->val[WX_P_TIMESTAMP] == NULL || q->len[WX_P_TIMESTAMP] == 0
        || !wx_ts_value(q->val[WX_P_TIMESTAMP], q->len[WX_P_TIMESTAMP], &t)
        || t == WX_TS_NEVER) {
        return -1;
    }
    return t;
}

/* Byte-wise order of two ranges, shorter first on a common prefix. */
static int wx_bytes_cmp(const wx_bytes_t *a, const wx_bytes_t *b)
{
    apr_size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;

    return c != 0 ? c : (a->n > b->n) - (a->n < b->n);
}

void wx_keyed_id(const char *domain, const wx_bytes_t *parts, int nparts,
                 unsigned char id[WX_SIG_LEN])
{
    apr_sha1_ctx_t ctx;
    unsigned char len[4];
    int i;

    apr_sha1_init(&ctx);
    apr_sha1_update_binary(&ctx, (const unsigned char *)domain,
                           (unsigned int)strlen(domain) + 1);
    for (i = 0; i < nparts; i++) {
        apr_size_t n = parts[i].p ? parts[i].n : 0;

        len[0] = (unsigned char)(n >> 24);
        len[1] = (unsigned char)(n >> 16);
        len[2] = (unsigned char)(n >> 8);
        len[3] = (unsigned char)n;
        apr_sha1_update_binary(&ctx, len, 4);
        if (n > 0) {
            apr_sha1_update_binary(&ctx, (const unsigned char *)parts[i].p,
                                   (unsigned int)n);
        }
    }
    apr_sha1_final(id, &ctx);
}

void wx_replay_id(const wx_query_t *q, const char *token,
                  unsigned char id[WX_SIG_LEN])
{
    wx_bytes_t parts[3];

    parts[0].p = token;
    parts[0].n = strlen(token);
    parts[1].p = q->val[WX_P_TIMESTAMP];
    parts[1].n = q->len[WX_P_TIMESTAMP];
    parts[2].p = q->val[WX_P_NONCE];
    parts[2].n = q->len[WX_P_NONCE];
    /* The signatures cover the parts sorted: a timestamp and nonce
     * swapped are the same signed triple, so they are one id too. */
    if (parts[1].p != NULL && parts[2].p != NULL
        && wx_bytes_cmp(&parts[1], &parts[2]) > 0) {
        wx_bytes_t t = parts[1];
        parts[1] = parts[2];
        parts[2] = t;
    }
    wx_keyed_id("wx-replay", parts, 3, id);
}

wx_mode_t wx_mode(const wx_query_t *q, int keys, int body)
{
    if (q->val[WX_P_MSG_SIGNATURE] != NULL
        && (keys || q->val[WX_P_SIGNATURE] == NULL)) {
        return WX_MODE_MSG;
    }
    return keys && body ? WX_MODE_UNSIGNED : WX_MODE_PLAIN;
}

const char *wx_echo_problem(const wx_query_t *q)
{
    const char *why = NULL;

    return wx_present(q, WX_P_ECHOSTR, &why) ? NULL : why;
}
