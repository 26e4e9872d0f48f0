/*
 * fuzz/fuzz_query.c: libFuzzer harness for wx_query_parse() and what the
 * module does with its result: wx_echo_problem(), wx_verify_plain(),
 * wx_signature() and wx_signature_equals().
 *
 * The input is a raw query string, as r->args: a C string, so the bytes up
 * to the first NUL (or all of them) are copied into a NUL-terminated buffer
 * of their own size, for ASan to catch any read past it.
 *
 * Every result is checked against a small independent model of the contract
 * in wx_protocol.h and README ("Parameter pollution"); any disagreement
 * aborts, which libFuzzer reports as a crash.
 *
 * Defining WX_FUZZ_ALLOW_FAIL_CLOSED (tools/fuzz: FUZZ_CFLAGS=-D...) accepts
 * WX_MALFORMED where the model says WX_OK (a refused request, never a
 * wrongly accepted one), to keep fuzzing past such a known deviation.
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

#define CHECK(cond) \
    do { if (!(cond)) broken(#cond, __LINE__); } while (0)

static void broken(const char *what, int line)
{
    fprintf(stderr, "fuzz_query.c:%d: invariant broken: %s\n", line, what);
    abort();
}

/* WeChat's V1 vector: token AAAAA, timestamp 1714036504 (t/vectors.md). */
#define NOW_SEC 1714036504
static const char *const tokens[2] = {"AAAAA", "test"};

static apr_pool_t *pool;

static const char *const names[WX_P_COUNT] = {
    "signature", "msg_signature", "timestamp", "nonce", "echostr",
    "encrypt_type", "openid"
};

/* ---- the model ---------------------------------------------------------- */

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
 * Which known parameter a lenient framework reads this name as, or -1:
 * valid %XX and '+' decoded, cut at '[' or NUL, ' ' and '.' as '_', ASCII
 * case folded (the spellings listed in wx_protocol.h and the README).
 */
static int ref_framework_id(const char *name, size_t n)
{
    char out[32];
    size_t i = 0, o = 0;
    int k;

    while (i < n) {
        unsigned char c = (unsigned char)name[i++];
        if (c == '%' && n - i >= 2 && ref_hex((unsigned char)name[i]) >= 0
            && ref_hex((unsigned char)name[i + 1]) >= 0) {
            c = (unsigned char)(ref_hex((unsigned char)name[i]) * 16
                                + ref_hex((unsigned char)name[i + 1]));
            i += 2;
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
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c + ('a' - 'A'));
        }
        if (o == sizeof(out) - 1) {
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    for (k = 0; k < WX_P_COUNT; k++) {
        if (strcmp(out, names[k]) == 0) {
            return k;
        }
    }
    return -1;
}

typedef struct {
    const char *val[WX_P_COUNT];
    size_t len[WX_P_COUNT];
} ref_query_t;

/*
 * The contract: over WX_MAX_QUERY bytes is malformed; a name some framework
 * reads as a known parameter must %-decode to exactly that name ("%6Eonce"
 * counts as nonce, "Nonce", "msg.signature", "signature[]" do not), appear
 * once, and carry a value that %-decodes (no %00) to at most WX_MAX_VALUE
 * bytes.  arena: room for strlen(args) + 16 bytes (the stored values are
 * disjoint parts of args, plus their NULs; the scratch for the current
 * segment follows them).
 */
static wx_result_t ref_parse(const char *args, ref_query_t *rq, char *arena)
{
    size_t n = strlen(args), pos = 0;

    memset(rq, 0, sizeof(*rq));
    if (n > WX_MAX_QUERY) {
        return WX_MALFORMED;
    }
    for (;;) {
        const char *seg = args + pos, *amp = memchr(seg, '&', n - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : n - pos;
        const char *eq = memchr(seg, '=', seglen);
        size_t namelen = eq ? (size_t)(eq - seg) : seglen;
        int id = ref_framework_id(seg, namelen);

        if (id >= 0) {
            long dn = ref_decode(arena, seg, namelen), dv;
            if (dn < 0 || (size_t)dn != strlen(names[id])
                || memcmp(arena, names[id], (size_t)dn) != 0) {
                return WX_MALFORMED;
            }
            if (rq->val[id] != NULL) {
                return WX_MALFORMED;
            }
            dv = ref_decode(arena, eq ? eq + 1 : "",
                            eq ? seglen - namelen - 1 : 0);
            if (dv < 0 || dv > WX_MAX_VALUE) {
                return WX_MALFORMED;
            }
            arena[dv] = '\0';
            rq->val[id] = arena;
            rq->len[id] = (size_t)dv;
            arena += dv + 1;
        }
        if (!amp) {
            return WX_OK;
        }
        pos += seglen + 1;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* hex(sha1(concat(sort(parts)))), computed without wx_signature(). */
static void ref_signature(char out[WX_SIG_HEX_LEN + 1],
                          const char *const *parts, int nparts)
{
    static const char hex[] = "0123456789abcdef";
    const char *sorted[8];
    unsigned char d[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    int i;

    memcpy(sorted, parts, (size_t)nparts * sizeof(*parts));
    qsort(sorted, (size_t)nparts, sizeof(*sorted), cmp_str);
    apr_sha1_init(&ctx);
    for (i = 0; i < nparts; i++) {
        apr_sha1_update_binary(&ctx, (const unsigned char *)sorted[i],
                               (unsigned int)strlen(sorted[i]));
    }
    apr_sha1_final(d, &ctx);
    for (i = 0; i < APR_SHA1_DIGESTSIZE; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[WX_SIG_HEX_LEN] = '\0';
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
        const char *parts[3];
        char sig[WX_SIG_HEX_LEN + 1];
        parts[0] = toks[k];
        parts[1] = ts;
        parts[2] = q->val[WX_P_NONCE];
        ref_signature(sig, parts, 3);
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

/* wx_signature() against the model, in the given order and reversed. */
static void check_signature(const char *const *parts, int nparts,
                            char out[WX_SIG_HEX_LEN + 1])
{
    const char *rev[8];
    char want[WX_SIG_HEX_LEN + 1], again[WX_SIG_HEX_LEN + 1];
    int i;

    memset(out, 'X', WX_SIG_HEX_LEN + 1);
    wx_signature(out, parts, nparts);
    check_hex40(out);
    ref_signature(want, parts, nparts);
    CHECK(memcmp(out, want, WX_SIG_HEX_LEN + 1) == 0);
    for (i = 0; i < nparts; i++) {
        rev[i] = parts[nparts - 1 - i];
    }
    wx_signature(again, rev, nparts);
    CHECK(memcmp(out, again, WX_SIG_HEX_LEN + 1) == 0);
    CHECK(wx_signature_equals(out, WX_SIG_HEX_LEN, want));
    CHECK(!wx_signature_equals(out, WX_SIG_HEX_LEN - 1, want));
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

static void check_consumers(const wx_query_t *q)
{
    const char *echo = wx_echo_problem(q);
    const char *parts[8];
    char sig[WX_SIG_HEX_LEN + 1];
    int i, n;

    /* echostr */
    if (q->val[WX_P_ECHOSTR] == NULL) {
        CHECK(echo != NULL && strcmp(echo, "echostr missing") == 0);
    }
    else if (q->len[WX_P_ECHOSTR] == 0) {
        CHECK(echo != NULL && strcmp(echo, "echostr empty") == 0);
    }
    else {
        CHECK(echo == NULL);
    }

    /* the signature as received */
    check_verify(q, NOW_SEC);
    if (q->val[WX_P_SIGNATURE] != NULL
        && q->len[WX_P_SIGNATURE] >= WX_SIG_HEX_LEN) {
        CHECK(wx_signature_equals(q->val[WX_P_SIGNATURE],
                                  q->len[WX_P_SIGNATURE],
                                  q->val[WX_P_SIGNATURE])
              == (q->len[WX_P_SIGNATURE] == WX_SIG_HEX_LEN));
    }

    /* re-signed with each token, to reach the stale/ok paths */
    if (q->val[WX_P_TIMESTAMP] != NULL && q->val[WX_P_NONCE] != NULL) {
        /* the timestamp's value when all digits and small enough that
         * t + 301 seconds still fits apr_time_t; else 0 */
        apr_int64_t t = 0;
        size_t d;
        for (d = 0; d < q->len[WX_P_TIMESTAMP]; d++) {
            char c = q->val[WX_P_TIMESTAMP][d];
            if (c < '0' || c > '9' || t > APR_INT64_C(100000000000)) {
                t = 0;
                break;
            }
            t = t * 10 + (c - '0');
        }
        for (i = 0; i < 2; i++) {
            wx_query_t q2 = *q;
            parts[0] = tokens[i];
            parts[1] = q->val[WX_P_TIMESTAMP];
            parts[2] = q->val[WX_P_NONCE];
            check_signature(parts, 3, sig);
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
        }
    }

    /* a token and every parameter present: up to 8 parts */
    n = 0;
    parts[n++] = tokens[0];
    for (i = 0; i < WX_P_COUNT; i++) {
        if (q->val[i] != NULL) {
            parts[n++] = q->val[i];
        }
    }
    check_signature(parts, n, sig);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    wx_query_t q;
    const char *why = NULL;
    int i;

    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_query: cannot initialise APR\n");
        abort();
    }
    for (i = 0; i < WX_P_COUNT; i++) {
        CHECK(strcmp(wx_param_name((wx_param_t)i), names[i]) == 0);
    }
    CHECK(wx_query_parse(pool, NULL, &q, &why) == WX_OK);
    for (i = 0; i < WX_P_COUNT; i++) {
        CHECK(q.val[i] == NULL);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *args = malloc(n + 1), *arena = malloc(n + 16);
    const char *why = NULL;
    wx_query_t q;
    ref_query_t rq;
    wx_result_t rc, want;
    int i;

    CHECK(args != NULL && arena != NULL);
    memcpy(args, data, n);
    args[n] = '\0';

    memset(&q, 0xA5, sizeof(q));
    rc = wx_query_parse(pool, args, &q, &why);
    CHECK(rc == WX_OK || rc == WX_MALFORMED);
    CHECK(strcmp(wx_result_name(rc), rc == WX_OK ? "ok" : "malformed") == 0);
    if (rc == WX_MALFORMED) {
        CHECK(why != NULL && *why != '\0');
    }
    CHECK(n <= WX_MAX_QUERY || rc == WX_MALFORMED);

    want = ref_parse(args, &rq, arena);
#ifdef WX_FUZZ_ALLOW_FAIL_CLOSED
    CHECK(rc == want || (rc == WX_MALFORMED && want == WX_OK));
#else
    CHECK(rc == want);
#endif

    if (rc == WX_OK) {
        for (i = 0; i < WX_P_COUNT; i++) {
            if (q.val[i] == NULL) {
                CHECK(rq.val[i] == NULL);
                continue;
            }
            CHECK(strlen(q.val[i]) == q.len[i]);
            CHECK(q.len[i] <= WX_MAX_VALUE);
            CHECK(rq.val[i] != NULL && rq.len[i] == q.len[i]
                  && memcmp(rq.val[i], q.val[i], q.len[i]) == 0);
        }
        check_consumers(&q);
    }

    apr_pool_clear(pool);
    free(arena);
    free(args);
    return 0;
}
