/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz/fuzz_query.c: libFuzzer harness for wx_query_parse() and what the
 * module does with its result: wx_echo_problem(), wx_verify_plain(),
 * wx_signature_digest(), wx_signature() and wx_signature_parse().
 *
 * The input is a raw query string, as r->args: a C string, so the bytes up
 * to the first NUL (or all of them) are copied into a NUL-terminated buffer
 * of their own size, for ASan to catch any read past it.  The values
 * wx_query_parse() returns are byte ranges (not NUL-terminated), read in
 * place in args or from a pool copy, where ASan cannot see a read past
 * their end; so every consumer is also run on copies of them in heap
 * blocks of exactly their length.
 *
 * Every result is checked against a small independent model of the contract
 * in wx_protocol.h and docs/DESIGN.md §6 ("Parameter pollution"); any disagreement
 * aborts, which libFuzzer reports as a crash.
 *
 * Build and run: tools/fuzz.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_sha1.h"

#include "wx_protocol.h"
#include "fuzz_check.h"

/* WeChat's V1 vector: token AAAAA, timestamp 1714036504 (t/vectors.md). */
#define NOW_SEC 1714036504
static const char *const tokens[2] = {"AAAAA", "test"};

static apr_pool_t *pool;

static const char *const names[WX_P_COUNT] = {
    "signature", "msg_signature", "timestamp", "nonce", "echostr",
    "encrypt_type", "openid"
};

/* ---- the model ---------------------------------------------------------- */

/* A %XX digit, either case. */
static int ref_hex(unsigned char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *d;

    if (c >= 'A' && c <= 'F') {
        c = (unsigned char)(c - 'A' + 'a');
    }
    d = c ? memchr(digits, c, 16) : NULL;
    return d ? (int)(d - digits) : -1;
}

/* %XX only ('+' stays); -1 on a broken escape or %00.  dst: n bytes. */
static long ref_decode(char *dst, const char *src, size_t n)
{
    size_t i = 0, o = 0;

    while (i < n) {
        int hi, lo;
        if (src[i] != '%') {
            dst[o++] = src[i++];
            continue;
        }
        if (n - i < 3) {
            return -1;
        }
        hi = ref_hex((unsigned char)src[i + 1]);
        lo = ref_hex((unsigned char)src[i + 2]);
        if (hi < 0 || lo < 0 || hi * 16 + lo == 0) {
            return -1;
        }
        dst[o++] = (char)(hi * 16 + lo);
        i += 3;
    }
    return (long)o;
}

/*
 * A name, %-decoded as lenient frameworks decode it, as a list of units: a
 * byte (raw, '+' as ' ', or a valid %XX) or a code point (.NET's %uXXXX,
 * u or U and four hex digits).  A '%' that starts neither stays a '%'.
 */
enum { REF_BYTE, REF_CP };

typedef struct {
    int kind;
    unsigned int v;
} ref_unit_t;

static size_t ref_units(ref_unit_t *u, const char *name, size_t n)
{
    size_t i = 0, k = 0;

    while (i < n) {
        unsigned char c = (unsigned char)name[i];
        if (c == '%' && n - i >= 6 && (name[i + 1] | 0x20) == 'u'
            && ref_hex((unsigned char)name[i + 2]) >= 0
            && ref_hex((unsigned char)name[i + 3]) >= 0
            && ref_hex((unsigned char)name[i + 4]) >= 0
            && ref_hex((unsigned char)name[i + 5]) >= 0) {
            unsigned int v = 0;
            size_t d;
            for (d = 2; d < 6; d++) {
                v = v * 16 + (unsigned int)ref_hex((unsigned char)name[i + d]);
            }
            u[k].kind = REF_CP;
            u[k++].v = v;
            i += 6;
        }
        else if (c == '%' && n - i >= 3 && ref_hex((unsigned char)name[i + 1]) >= 0
                 && ref_hex((unsigned char)name[i + 2]) >= 0) {
            u[k].kind = REF_BYTE;
            u[k++].v = (unsigned int)(ref_hex((unsigned char)name[i + 1]) * 16
                                      + ref_hex((unsigned char)name[i + 2]));
            i += 3;
        }
        else {
            u[k].kind = REF_BYTE;
            u[k++].v = c == '+' ? ' ' : c;
            i++;
        }
    }
    return k;
}

/*
 * Which known parameter a lenient framework reads this name as, or -1 (the
 * spellings listed in wx_protocol.h and docs/DESIGN.md §6):
 *  - %XX, '+' and .NET's %uXXXX decoded;
 *  - the UTF-8 pairs C4 B1 (U+0131, dotless i) and C5 BF (U+017F, long s)
 *    and those two code points read as 'i' and 's' (.NET's case folding);
 *    any other byte or code point over 0x7F: not ours;
 *  - cut at NUL, and at a '[' byte (raw or %5B) with a ']' byte (raw or
 *    %5D) somewhere after it (PHP arrays); any other '[' reads as '_';
 *  - leading spaces dropped, ' ' and '.' read as '_' (PHP);
 *  - ASCII case folded.
 * Units are read left to right; whatever follows a cut is not looked at.
 */
static int ref_framework_id(const char *name, size_t n)
{
    ref_unit_t *u = malloc((n ? n : 1) * sizeof(*u));
    char out[32];
    size_t k, j, nu, o = 0;
    int id = -1, closes_after = -1;    /* index of the last ']' byte */

    CHECK(u != NULL);
    nu = ref_units(u, name, n);
    for (j = 0; j < nu; j++) {
        if (u[j].kind == REF_BYTE && u[j].v == ']') {
            closes_after = (int)j;
        }
    }
    for (k = 0; k < nu; k++) {
        unsigned int c = u[k].v;
        if (u[k].kind == REF_BYTE && (c == 0xC4 || c == 0xC5)) {
            /* a UTF-8 lead byte: only the two pairs are letters of ours */
            if (k + 1 < nu && u[k + 1].kind == REF_BYTE
                && u[k + 1].v == (c == 0xC4 ? 0xB1u : 0xBFu)) {
                c = c == 0xC4 ? 'i' : 's';
                k++;
            }
            else {
                goto done;
            }
        }
        else if (u[k].kind == REF_CP && c == 0x131) {
            c = 'i';
        }
        else if (u[k].kind == REF_CP && c == 0x17F) {
            c = 's';
        }
        else if (c > 0x7F) {
            goto done;
        }
        if (c == 0) {
            break;                      /* cut at NUL */
        }
        if (c == '[' && u[k].kind == REF_BYTE && closes_after > (int)k) {
            break;                      /* PHP array: name[...] */
        }
        if (c == ' ' && o == 0) {
            continue;                   /* PHP: leading spaces dropped */
        }
        if (c == ' ' || c == '.' || c == '[') {
            c = '_';
        }
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (o == sizeof(out) - 1) {
            goto done;                  /* longer than any of ours */
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    for (k = 0; k < WX_P_COUNT; k++) {
        if (strcmp(out, names[k]) == 0) {
            id = (int)k;
        }
    }
done:
    free(u);
    return id;
}

typedef struct {
    const char *val[WX_P_COUNT];   /* decoded, NUL-terminated, in arena */
    size_t len[WX_P_COUNT];
    const char *raw[WX_P_COUNT];   /* the raw value in args */
    size_t rawlen[WX_P_COUNT];
    char why[128];                 /* the reason, when malformed */
} ref_query_t;

/*
 * The contract: over WX_MAX_QUERY bytes is malformed; a name some framework
 * reads as a known parameter must %-decode to exactly that name ("%6Eonce"
 * and a name wholly %-encoded count as it; "Nonce", "msg.signature",
 * "signature[]", "msg[signature", "+nonce", "%20nonce", "%u006Eonce",
 * "s%C4%B1gnature" do not), appear once, and carry a value that %-decodes
 * (no %00) to at most WX_MAX_VALUE bytes.  Then, when all that holds, no
 * piece after a ';' (up to the next '=', '&' or ';'; in names and values
 * alike) may be one that some framework reads as a known parameter: CGI.pm,
 * old Rack, Python and Go split on ';' too.
 * arena: room for strlen(args) + 16 bytes (the stored values are disjoint
 * parts of args, plus their NULs; the scratch for the current segment
 * follows them).
 */
static wx_result_t ref_parse(const char *args, ref_query_t *rq, char *arena)
{
    size_t n = strlen(args), pos = 0, i;

    memset(rq, 0, sizeof(*rq));
    if (n > WX_MAX_QUERY) {
        snprintf(rq->why, sizeof(rq->why), "query string over 16384 bytes");
        return WX_MALFORMED;
    }
    for (;;) {
        const char *seg = args + pos, *amp = memchr(seg, '&', n - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : n - pos;
        const char *eq = memchr(seg, '=', seglen);
        size_t namelen = eq ? (size_t)(eq - seg) : seglen;
        int id = ref_framework_id(seg, namelen);

        if (id >= 0) {
            const char *raw = eq ? eq + 1 : seg + seglen;
            size_t rawlen = eq ? seglen - namelen - 1 : 0;
            long dn = ref_decode(arena, seg, namelen), dv;
            if (dn < 0 || (size_t)dn != strlen(names[id])
                || memcmp(arena, names[id], (size_t)dn) != 0) {
                snprintf(rq->why, sizeof(rq->why), "a parameter name that "
                         "some frameworks read as %s", names[id]);
                return WX_MALFORMED;
            }
            if (rq->val[id] != NULL) {
                snprintf(rq->why, sizeof(rq->why), "parameter %s repeated",
                         names[id]);
                return WX_MALFORMED;
            }
            dv = ref_decode(arena, raw, rawlen);
            if (dv < 0) {
                snprintf(rq->why, sizeof(rq->why), "parameter %s has a "
                         "broken %%-escape or %%00", names[id]);
                return WX_MALFORMED;
            }
            if (dv > WX_MAX_VALUE) {
                snprintf(rq->why, sizeof(rq->why), "parameter %s over 4096 "
                         "bytes", names[id]);
                return WX_MALFORMED;
            }
            arena[dv] = '\0';
            rq->val[id] = arena;
            rq->len[id] = (size_t)dv;
            rq->raw[id] = raw;
            rq->rawlen[id] = rawlen;
            arena += dv + 1;
        }
        if (!amp) {
            break;
        }
        pos += seglen + 1;
    }
    for (i = 0; i < n; i++) {
        size_t len;
        int id;
        if (args[i] != ';') {
            continue;
        }
        len = strcspn(args + i + 1, "=&;");
        id = ref_framework_id(args + i + 1, len);
        if (id >= 0) {
            snprintf(rq->why, sizeof(rq->why), "a parameter after ';' that "
                     "some frameworks read as %s", names[id]);
            return WX_MALFORMED;
        }
    }
    return WX_OK;
}

/* Byte-wise order, a proper prefix first. */
static int ref_bytes_cmp(const void *pa, const void *pb)
{
    const wx_bytes_t *a = pa, *b = pb;
    size_t i;

    for (i = 0; i < a->n && i < b->n; i++) {
        unsigned char x = (unsigned char)a->p[i], y = (unsigned char)b->p[i];
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return a->n < b->n ? -1 : a->n > b->n;
}

/* sha1(concat(sort(parts))), computed without wx_protocol.c. */
static void ref_digest(unsigned char d[WX_SIG_LEN], const wx_bytes_t *parts,
                       int nparts)
{
    wx_bytes_t sorted[8];
    apr_sha1_ctx_t ctx;
    int i;

    CHECK(nparts >= 0 && nparts <= 8);
    memcpy(sorted, parts, (size_t)nparts * sizeof(*parts));
    qsort(sorted, (size_t)nparts, sizeof(*sorted), ref_bytes_cmp);
    apr_sha1_init(&ctx);
    for (i = 0; i < nparts; i++) {
        apr_sha1_update_binary(&ctx, (const unsigned char *)sorted[i].p,
                               (unsigned int)sorted[i].n);
    }
    apr_sha1_final(d, &ctx);
}

static void ref_hexify(char out[WX_SIG_HEX_LEN + 1],
                       const unsigned char d[WX_SIG_LEN])
{
    static const char hex[] = "0123456789abcdef";
    int i;

    for (i = 0; i < WX_SIG_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[WX_SIG_HEX_LEN] = '\0';
}

/* Lowercase hex digit values, -1 for every other byte (LLVMFuzzerInitialize). */
static int ref_lower[256];

/* wx_signature_parse() as the header states it: a table, byte by byte. */
static int ref_sig_parse(const char *hex, size_t len,
                         unsigned char bin[WX_SIG_LEN])
{
    size_t i;

    if (len != WX_SIG_HEX_LEN) {
        return 0;
    }
    for (i = 0; i < WX_SIG_LEN; i++) {
        int hi = ref_lower[(unsigned char)hex[2 * i]];
        int lo = ref_lower[(unsigned char)hex[2 * i + 1]];
        if (hi < 0 || lo < 0) {
            return 0;
        }
        bin[i] = (unsigned char)(hi * 16 + lo);
    }
    return 1;
}

static int present(const wx_query_t *q, int id)
{
    return q->val[id] != NULL && q->len[id] > 0;
}

/* wx_verify_plain() as the header states it. */
static wx_result_t ref_verify(const wx_query_t *q, int ntokens,
                              const char *const *toks, apr_int64_t now_sec,
                              apr_int64_t max_age, int *which)
{
    const char *ts = q->val[WX_P_TIMESTAMP];
    size_t i, tslen = q->len[WX_P_TIMESTAMP];
    int k;

    if (!present(q, WX_P_SIGNATURE) || !present(q, WX_P_TIMESTAMP)
        || !present(q, WX_P_NONCE)) {
        return WX_MALFORMED;
    }
    for (i = 0; i < tslen; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            return WX_MALFORMED;
        }
    }
    for (k = 0; k < ntokens; k++) {
        wx_bytes_t parts[3];
        unsigned char d[WX_SIG_LEN];
        char sig[WX_SIG_HEX_LEN + 1];
        parts[0].p = toks[k];
        parts[0].n = strlen(toks[k]);
        parts[1].p = ts;
        parts[1].n = tslen;
        parts[2].p = q->val[WX_P_NONCE];
        parts[2].n = q->len[WX_P_NONCE];
        ref_digest(d, parts, 3);
        ref_hexify(sig, d);
        if (q->len[WX_P_SIGNATURE] == WX_SIG_HEX_LEN
            && memcmp(q->val[WX_P_SIGNATURE], sig, WX_SIG_HEX_LEN) == 0) {
            break;
        }
    }
    if (k == ntokens) {
        return WX_BAD_SIGNATURE;
    }
    *which = k;
    if (max_age != WX_MAX_AGE_OFF) {
        apr_int64_t t, skew;
        while (tslen > 1 && *ts == '0') {
            ts++;
            tslen--;
        }
        if (tslen > 15) {
            return WX_STALE;
        }
        t = 0;
        for (i = 0; i < tslen; i++) {
            t = t * 10 + (ts[i] - '0');
        }
        skew = t - now_sec;
        if (skew > max_age || -skew > max_age) {
            return WX_STALE;
        }
    }
    return WX_OK;
}

/* ---- checks ------------------------------------------------------------- */

static void check_hex40(const char *s)
{
    int i;

    for (i = 0; i < WX_SIG_HEX_LEN; i++) {
        CHECK((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
    }
    CHECK(s[WX_SIG_HEX_LEN] == '\0');
}

/* wx_signature_parse() against the model. */
static int check_parse(const char *hex, size_t len)
{
    unsigned char bin[WX_SIG_LEN], want[WX_SIG_LEN];
    int ok, want_ok;

    memset(bin, 0x5A, sizeof(bin));
    ok = wx_signature_parse(hex, len, bin);
    want_ok = ref_sig_parse(hex, len, want);
    CHECK((ok != 0) == want_ok);
    if (ok) {
        CHECK(memcmp(bin, want, WX_SIG_LEN) == 0);
    }
    return want_ok;
}

/* The 40 bytes at hex, each in turn replaced by bytes at the edges of the
 * ranges a SWAR test has to tell apart. */
static void check_parse_edges(const char *hex)
{
    static const unsigned char edge[] = {
        0x00, '/', '0', '9', ':', '@', 'A', 'F', 'G', '`', 'a', 'f', 'g',
        0x7f, 0x80, 0xb0, 0xc6, 0xe1, 0xff
    };
    char *b = tight(hex, WX_SIG_HEX_LEN);
    size_t i, e;

    for (i = 0; i < WX_SIG_HEX_LEN; i++) {
        char keep = b[i];
        for (e = 0; e < sizeof(edge); e++) {
            b[i] = (char)edge[e];
            check_parse(b, WX_SIG_HEX_LEN);
        }
        b[i] = keep;
    }
    tight_free(b);
}

/*
 * wx_signature_digest() against the model, in the given order and
 * reversed; wx_signature() over the same parts as C strings (cstr) is its
 * hex, which wx_signature_parse() turns back into it.
 */
static void check_digest(const wx_bytes_t *parts, const char *const *cstr,
                         int nparts, unsigned char out[WX_SIG_LEN])
{
    wx_bytes_t rev[8];
    unsigned char want[WX_SIG_LEN], again[WX_SIG_LEN], bin[WX_SIG_LEN];
    char hex[WX_SIG_HEX_LEN + 2], want_hex[WX_SIG_HEX_LEN + 1];
    int i;

    memset(out, 0x5A, WX_SIG_LEN);
    wx_signature_digest(out, parts, nparts);
    ref_digest(want, parts, nparts);
    CHECK(memcmp(out, want, WX_SIG_LEN) == 0);
    for (i = 0; i < nparts; i++) {
        rev[i] = parts[nparts - 1 - i];
    }
    wx_signature_digest(again, rev, nparts);
    CHECK(memcmp(again, want, WX_SIG_LEN) == 0);
    if (nparts == 3) {
        /* every order of the three (the sort is a fixed network) */
        static const int perm[6][3] = {
            {0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}
        };
        int k;
        for (k = 0; k < 6; k++) {
            for (i = 0; i < 3; i++) {
                rev[i] = parts[perm[k][i]];
            }
            wx_signature_digest(again, rev, 3);
            CHECK(memcmp(again, want, WX_SIG_LEN) == 0);
        }
    }
    else if (nparts > 1) {
        /* rotated by one, and the first two swapped */
        for (i = 0; i < nparts; i++) {
            rev[i] = parts[(i + 1) % nparts];
        }
        wx_signature_digest(again, rev, nparts);
        CHECK(memcmp(again, want, WX_SIG_LEN) == 0);
        memcpy(rev, parts, (size_t)nparts * sizeof(*parts));
        rev[0] = parts[1];
        rev[1] = parts[0];
        wx_signature_digest(again, rev, nparts);
        CHECK(memcmp(again, want, WX_SIG_LEN) == 0);
    }

    memset(hex, 'X', sizeof(hex));
    wx_signature(hex, cstr, nparts);
    check_hex40(hex);
    CHECK(hex[WX_SIG_HEX_LEN + 1] == 'X');
    ref_hexify(want_hex, want);
    CHECK(memcmp(hex, want_hex, WX_SIG_HEX_LEN + 1) == 0);
    CHECK(wx_signature_parse(hex, WX_SIG_HEX_LEN, bin)
          && memcmp(bin, want, WX_SIG_LEN) == 0);
    CHECK(!wx_signature_parse(hex, WX_SIG_HEX_LEN - 1, bin));
    CHECK(!wx_signature_parse(hex, WX_SIG_HEX_LEN + 1, bin));
}

static void check_verify(const wx_query_t *q, apr_int64_t now_sec)
{
    static const apr_int64_t ages[] = {300, WX_MAX_AGE_OFF};
    const apr_time_t now = apr_time_from_sec(now_sec);
    size_t a;
    int nt;

    for (a = 0; a < sizeof(ages) / sizeof(ages[0]); a++) {
        for (nt = 1; nt <= 2; nt++) {
            /* nt == 1: tokens[1] alone, so tokens + 2 - nt. */
            const char *const *toks = tokens + 2 - nt;
            const char *why = NULL;
            int which = -1, want_which = -1;
            wx_result_t rc, want;

            rc = wx_verify_plain(q, toks, nt, now, ages[a], &which, &why);
            want = ref_verify(q, nt, toks, now_sec, ages[a], &want_which);
            CHECK(rc == want);
            if (rc == WX_OK) {
                CHECK(which == want_which);
            }
            else {
                CHECK(why != NULL && *why != '\0');
            }
            CHECK(ages[a] != WX_MAX_AGE_OFF || rc != WX_STALE);
            why = NULL;
            CHECK(wx_verify_plain(q, toks, nt, now, ages[a], NULL, &why)
                  == rc);
        }
    }
}

/*
 * The sort on parts that differ only late or in length: v (n > 0 bytes, no
 * NUL) cut short and with single bytes changed around the 8-byte chunks a
 * word-wise comparison reads, in blocks of exactly their length; 2 to 8 of
 * them at a time.
 */
/* *c plus how (1, -1), or flipped in its top bit (0x80); 1 for NUL. */
static void sort_bump(char *c, int how)
{
    unsigned char x = (unsigned char)*c;

    x = how == 0x80 ? (unsigned char)(x ^ 0x80) : (unsigned char)(x + how);
    *c = (char)(x ? x : 1);
}

static void check_sort(const char *v, size_t n)
{
    wx_bytes_t parts[8];
    const char *cstr[8];
    char *own[8], *z[8];
    unsigned char d[WX_SIG_LEN];
    size_t len[8], i;
    int k;

    len[0] = n;
    len[1] = n - 1;
    len[2] = n < 8 ? n : 8;
    len[3] = n < 9 ? n : 9;
    len[4] = n;
    len[5] = n;
    len[6] = n;
    len[7] = n < 16 ? n : 16;
    for (k = 0; k < 8; k++) {
        own[k] = tight(v, len[k]);
    }
    /* one byte up, flipped or down (never to NUL), at the last byte and
     * either side of the first chunk boundary */
    sort_bump(&own[4][n - 1], 1);
    sort_bump(&own[5][n > 8 ? 7 : 0], 0x80);
    sort_bump(&own[6][n > 8 ? 8 : n / 2], -1);
    if (n > 8) {
        sort_bump(&own[7][7], 0x80);
    }
    for (k = 0; k < 8; k++) {
        z[k] = malloc(len[k] + 1);
        CHECK(z[k] != NULL);
        memcpy(z[k], own[k], len[k]);
        z[k][len[k]] = '\0';
        parts[k].p = own[k];
        parts[k].n = len[k];
        cstr[k] = z[k];
    }
    for (k = 2; k <= 8; k++) {
        check_digest(parts, cstr, k, d);
        check_digest(parts + 8 - k, cstr + 8 - k, k, d);
    }
    for (i = 0; i < 8; i++) {
        tight_free(own[i]);
        free(z[i]);
    }
}

/* q: wx_query_parse()'s result; rq: the model's (NUL-terminated values). */
static void check_consumers(const wx_query_t *q, const ref_query_t *rq)
{
    wx_query_t qc;
    wx_bytes_t parts[8];
    const char *cstr[8];
    unsigned char d[WX_SIG_LEN];
    const char *echo;
    int i, n;

    /* every value in a block of its own length */
    for (i = 0; i < WX_P_COUNT; i++) {
        qc.val[i] = q->val[i] ? tight(q->val[i], q->len[i]) : NULL;
        qc.len[i] = q->len[i];
    }

    /* echostr */
    echo = wx_echo_problem(&qc);
    if (qc.val[WX_P_ECHOSTR] == NULL) {
        CHECK(echo != NULL && strcmp(echo, "echostr missing") == 0);
    }
    else if (qc.len[WX_P_ECHOSTR] == 0) {
        CHECK(echo != NULL && strcmp(echo, "echostr empty") == 0);
    }
    else {
        CHECK(echo == NULL);
    }

    /* the signatures as received */
    check_verify(&qc, NOW_SEC);
    for (i = WX_P_SIGNATURE; i <= WX_P_MSG_SIGNATURE; i++) {
        if (qc.val[i] != NULL) {
            check_parse(qc.val[i], qc.len[i]);
            if (qc.len[i] >= WX_SIG_HEX_LEN) {
                check_parse(qc.val[i], WX_SIG_HEX_LEN);
                check_parse_edges(qc.val[i]);
            }
        }
    }

    /* re-signed with each token, to reach the stale/ok paths */
    if (qc.val[WX_P_TIMESTAMP] != NULL && qc.val[WX_P_NONCE] != NULL) {
        /* the timestamp's value when all digits and small enough that
         * t + 301 seconds still fits apr_time_t; else 0 */
        apr_int64_t t = 0;
        size_t k;
        for (k = 0; k < qc.len[WX_P_TIMESTAMP]; k++) {
            char c = qc.val[WX_P_TIMESTAMP][k];
            if (c < '0' || c > '9' || t > APR_INT64_C(100000000000)) {
                t = 0;
                break;
            }
            t = t * 10 + (c - '0');
        }
        for (i = 0; i < 2; i++) {
            wx_query_t q2 = qc;
            char hex[WX_SIG_HEX_LEN + 1], *sig;
            parts[0].p = cstr[0] = tokens[i];
            parts[0].n = strlen(tokens[i]);
            parts[1].p = qc.val[WX_P_TIMESTAMP];
            parts[1].n = qc.len[WX_P_TIMESTAMP];
            cstr[1] = rq->val[WX_P_TIMESTAMP];
            parts[2].p = qc.val[WX_P_NONCE];
            parts[2].n = qc.len[WX_P_NONCE];
            cstr[2] = rq->val[WX_P_NONCE];
            check_digest(parts, cstr, 3, d);
            ref_hexify(hex, d);
            sig = tight(hex, WX_SIG_HEX_LEN);
            q2.val[WX_P_SIGNATURE] = sig;
            q2.len[WX_P_SIGNATURE] = WX_SIG_HEX_LEN;
            check_verify(&q2, NOW_SEC);
            /* and with the clock at the edges of the 300 s window */
            if (t > 0) {
                static const int edge[] = {-301, -300, 300, 301};
                size_t e;
                for (e = 0; e < sizeof(edge) / sizeof(edge[0]); e++) {
                    check_verify(&q2, t + edge[e]);
                }
            }
            /* the same digest in upper case is refused */
            for (k = 0; k < WX_SIG_HEX_LEN; k++) {
                if (sig[k] >= 'a' && sig[k] <= 'f') {
                    sig[k] = (char)(sig[k] - 'a' + 'A');
                }
            }
            if (memcmp(sig, hex, WX_SIG_HEX_LEN) != 0) {
                CHECK(!check_parse(sig, WX_SIG_HEX_LEN));
                check_verify(&q2, NOW_SEC);
            }
            tight_free(sig);
        }
    }

    /* a token and every parameter present: up to 8 parts, some of them
     * (echostr, openid) long enough to pass the 256-byte buffer */
    n = 0;
    parts[n].p = cstr[n] = tokens[0];
    parts[n++].n = strlen(tokens[0]);
    for (i = 0; i < WX_P_COUNT; i++) {
        if (qc.val[i] != NULL) {
            parts[n].p = qc.val[i];
            parts[n].n = qc.len[i];
            cstr[n++] = rq->val[i];
        }
    }
    check_digest(parts, cstr, n, d);

    /* the nonce, cut short and changed late */
    if (qc.val[WX_P_NONCE] != NULL && qc.len[WX_P_NONCE] > 0) {
        check_sort(qc.val[WX_P_NONCE], qc.len[WX_P_NONCE]);
    }

    for (i = 0; i < WX_P_COUNT; i++) {
        tight_free(qc.val[i]);
    }
}

/* Every byte at every position of a few valid signatures, and every pair of
 * bytes at each pair of neighbours in the first eight. */
static void check_parse_exhaustive(void)
{
    static const char *const base[] = {
        "0000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffff",
        "9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a",
        "f464b24fc39322e44b38aa78f5edd27bd1441696"
    };
    size_t k, i;
    int x, y;

    for (k = 0; k < sizeof(base) / sizeof(base[0]); k++) {
        char *b = tight(base[k], WX_SIG_HEX_LEN);
        CHECK(check_parse(b, WX_SIG_HEX_LEN));
        for (i = 0; i < WX_SIG_HEX_LEN; i++) {
            char keep = b[i];
            for (x = 0; x < 256; x++) {
                b[i] = (char)x;
                check_parse(b, WX_SIG_HEX_LEN);
            }
            b[i] = keep;
        }
        if (k == 3) {
            for (i = 0; i + 1 < 8; i++) {
                char k0 = b[i], k1 = b[i + 1];
                for (x = 0; x < 256; x++) {
                    for (y = 0; y < 256; y++) {
                        b[i] = (char)x;
                        b[i + 1] = (char)y;
                        check_parse(b, WX_SIG_HEX_LEN);
                    }
                }
                b[i] = k0;
                b[i + 1] = k1;
            }
        }
        /* every other length (41: the NUL too) */
        for (i = 0; i <= WX_SIG_HEX_LEN + 1; i++) {
            if (i != WX_SIG_HEX_LEN) {
                char *s = tight(base[k], i);
                CHECK(!check_parse(s, i));
                tight_free(s);
            }
        }
        tight_free(b);
    }
}

/* The model, and the parser, on spellings docs/DESIGN.md §6 and wx_protocol.h name. */
static void check_model_cases(void)
{
    static const struct {
        const char *args;
        wx_result_t want;
        const char *why;    /* NULL: not compared */
    } c[] = {
        {"nonce=1&Nonce=2", WX_MALFORMED,
         "a parameter name that some frameworks read as nonce"},
        {"msg.signature=a", WX_MALFORMED,
         "a parameter name that some frameworks read as msg_signature"},
        {"signature[]=a", WX_MALFORMED, NULL},
        {"signature%5Bx%5d=a", WX_MALFORMED, NULL},
        {"msg[signature=a", WX_MALFORMED,
         "a parameter name that some frameworks read as msg_signature"},
        {"encrypt%5Btype=a", WX_MALFORMED, NULL},
        {"nonce[=a", WX_OK, NULL},
        {"msg[sig]nature=a", WX_OK, NULL},
        {"s\xc4\xb1gnature=a", WX_MALFORMED, NULL},
        {"%C5%BFignature=a", WX_MALFORMED, NULL},
        {"%c5%bfignature=a", WX_MALFORMED, NULL},
        {"\xc5\xbf\xc4\xb1gnature=a", WX_MALFORMED, NULL},
        {"s%u0131gnature=a", WX_MALFORMED, NULL},
        {"%U017Fignature=a", WX_MALFORMED, NULL},
        {"%u006Eonce=a", WX_MALFORMED,
         "a parameter name that some frameworks read as nonce"},
        {"%u006Eonce%u0000x=a", WX_MALFORMED, NULL},
        {"%u006=a&nonce=1", WX_OK, NULL},
        {"%u0131=a", WX_OK, NULL},
        {"s\xc4gnature=a", WX_OK, NULL},
        {"s\xb1gnature=a", WX_OK, NULL},
        {"s\xc4\xb1gnature\xc4=a", WX_OK, NULL},
        /* %u gives code points, not bytes: no UTF-8 pair (.NET reads this
         * as "s\u00c4\u00b1gnature") */
        {"s%u00c4%u00b1gnature=a", WX_OK, NULL},
        {"s%C4%u00B1gnature=a", WX_OK, NULL},
        {"caf\xc3\xa9=1&\xff=2", WX_OK, NULL},
        {"x=1;nonce=2", WX_MALFORMED,
         "a parameter after ';' that some frameworks read as nonce"},
        {"echostr=a;Signature=b", WX_MALFORMED,
         "a parameter after ';' that some frameworks read as signature"},
        {"x=1;+nonce=2", WX_MALFORMED, NULL},
        {"x=1;nonce", WX_MALFORMED, NULL},
        {"x=1;nonce&y=2", WX_MALFORMED, NULL},
        {"x;%6Eonce;y", WX_MALFORMED, NULL},
        {"echostr=a;b;c=d", WX_OK, NULL},
        {"a=1;", WX_OK, NULL},
        {"nonce=1&nonce=2;timestamp=3", WX_MALFORMED,
         "parameter nonce repeated"},
        {"x=1;nonce=2&Nonce=3", WX_MALFORMED,
         "a parameter name that some frameworks read as nonce"},
        {"x=1;nonces=2;openid", WX_MALFORMED,
         "a parameter after ';' that some frameworks read as openid"},
        {"%6Eonce=1", WX_OK, NULL},
        {"nonces=1&xnonce=2&nonce_=3", WX_OK, NULL},
    };
    size_t i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        size_t n = strlen(c[i].args);
        char *arena = malloc(n + 16);
        const char *why = NULL;
        ref_query_t rq;
        wx_query_t q;
        wx_result_t want, rc;

        CHECK(arena != NULL);
        want = ref_parse(c[i].args, &rq, arena);
        if (want != c[i].want) {
            fprintf(stderr, "model case %zu: %s\n", i, c[i].args);
        }
        CHECK(want == c[i].want);
        if (c[i].why != NULL && strcmp(rq.why, c[i].why) != 0) {
            fprintf(stderr, "model case %zu: %s: %s\n", i, c[i].args, rq.why);
        }
        CHECK(c[i].why == NULL || strcmp(rq.why, c[i].why) == 0);
        rc = wx_query_parse(pool, c[i].args, &q, &why);
        if (rc != want) {
            fprintf(stderr, "parser case %zu: %s\n", i, c[i].args);
        }
        CHECK(rc == want);
        CHECK(rc == WX_OK || strcmp(why, rq.why) == 0);
        free(arena);
    }
    apr_pool_clear(pool);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char digits[] = "0123456789abcdef";
    wx_query_t q;
    wx_bytes_t none = {"", 0};
    unsigned char d[WX_SIG_LEN], want[WX_SIG_LEN];
    const char *why = NULL;
    int i;

    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_query: cannot initialise APR\n");
        abort();
    }
    for (i = 0; i < 256; i++) {
        const char *c = i ? strchr(digits, i) : NULL;
        ref_lower[i] = c ? (int)(c - digits) : -1;
    }
    for (i = 0; i < WX_P_COUNT; i++) {
        CHECK(strcmp(wx_param_name((wx_param_t)i), names[i]) == 0);
    }
    CHECK(wx_query_parse(pool, NULL, &q, &why) == WX_OK);
    for (i = 0; i < WX_P_COUNT; i++) {
        CHECK(q.val[i] == NULL);
    }
    /* no parts, and one empty part: sha1("") */
    wx_signature_digest(d, &none, 0);
    ref_digest(want, &none, 0);
    CHECK(memcmp(d, want, WX_SIG_LEN) == 0);
    wx_signature_digest(d, &none, 1);
    CHECK(memcmp(d, want, WX_SIG_LEN) == 0);
    check_parse_exhaustive();
    check_model_cases();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *args = malloc(n + 1), *orig = malloc(n + 1), *arena = malloc(n + 16);
    const char *why = NULL;
    wx_query_t q;
    ref_query_t rq;
    wx_result_t rc, want;
    int i;

    CHECK(args != NULL && orig != NULL && arena != NULL);
    memcpy(args, data, n);
    args[n] = '\0';
    memcpy(orig, args, n + 1);

    memset(&q, 0xA5, sizeof(q));
    rc = wx_query_parse(pool, args, &q, &why);
    CHECK(rc == WX_OK || rc == WX_MALFORMED);
    CHECK(strcmp(wx_result_name(rc), rc == WX_OK ? "ok" : "malformed") == 0);
    if (rc == WX_MALFORMED) {
        CHECK(why != NULL && *why != '\0');
    }
    CHECK(n <= WX_MAX_QUERY || rc == WX_MALFORMED);
    CHECK(memcmp(args, orig, n + 1) == 0);

    want = ref_parse(args, &rq, arena);
    CHECK(rc == want);
    if (rc == WX_MALFORMED) {
        CHECK(strcmp(why, rq.why) == 0);
    }

    if (rc == WX_OK) {
        uintptr_t lo = (uintptr_t)args, hi = (uintptr_t)(args + n);
        for (i = 0; i < WX_P_COUNT; i++) {
            uintptr_t v = (uintptr_t)q.val[i];
            if (q.val[i] == NULL) {
                CHECK(rq.val[i] == NULL);
                continue;
            }
            CHECK(q.len[i] <= WX_MAX_VALUE);
            CHECK(memchr(q.val[i], '\0', q.len[i]) == NULL);
            CHECK(rq.val[i] != NULL && rq.len[i] == q.len[i]
                  && memcmp(rq.val[i], q.val[i], q.len[i]) == 0);
            if (memchr(rq.raw[i], '%', rq.rawlen[i]) == NULL) {
                /* read in place */
                CHECK(q.val[i] == rq.raw[i]);
            }
            else {
                /* %-decoded into a copy, never over args */
                CHECK(v + q.len[i] <= lo || v >= hi);
            }
        }
        check_consumers(&q, &rq);
        CHECK(memcmp(args, orig, n + 1) == 0);
    }

    apr_pool_clear(pool);
    free(arena);
    free(orig);
    free(args);
    return 0;
}
