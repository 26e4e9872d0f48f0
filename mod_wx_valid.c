/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_wx_valid: WeChat server-callback security, terminated in Apache httpd.
 *
 * The Apache glue only: directives, per-directory configuration and its
 * merge, the "wx-valid" handler, the "wx-signature" authz provider and
 * logging, and in safe mode the body's and the reply's plumbing: read up
 * front, replayed as plaintext by an input filter, the reply encrypted by
 * an output filter.  The protocol itself (query parsing, signatures, AES
 * envelopes) lives in wx_protocol.c and wx_crypto.c, which know nothing of
 * httpd.
 */
#include <errno.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "mod_status.h"
#include "ap_socache.h"
#include "util_filter.h"
#include "util_mutex.h"

#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_global_mutex.h"
#include "apr_shm.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "mod_wx_valid.h"
#include "wx_crypto.h"
#include "wx_protocol.h"
#include "wx_version.h"    /* WXV_VERSION, made from VERSION by make */


#define WXV_HANDLER   "wx-valid"
#define WXV_ACK       1      /* st->deferred: acknowledge, not a status */
#define WXV_NOTE      "wx-valid"
#define WXV_UNSET     (-2)
#define WXV_PLAIN_IN  "WX_PLAIN_BODY"
#define WXV_RELEASE   "WX_CLAIM_RELEASE"
#define WXV_REPLY_OUT "WX_ENCRYPT_REPLY"

typedef struct {
    apr_array_header_t *tokens;   /* const char *; NULL: inherit */
    apr_int64_t max_age;          /* seconds, WX_MAX_AGE_OFF, or WXV_UNSET */
    apr_array_header_t *keys;     /* wx_aes_key_t, current first; NULL:
                                   * inherit */
    const char *appid;            /* the receiveid required; NULL: inherit
                                   * (none) */
    int dedup;                    /* WxDedup: 1 on, 0 off, WXV_UNSET */
    apr_int64_t dedup_window;     /* WxDedupWindow seconds, or WXV_UNSET */
} wxv_dir_conf;

/* WxDedupWindow's default: WeChat retries a message three times, 5 s
 * apart (its timeout); a minute covers that four times over. */
#define WXV_DEDUP_WINDOW_DEFAULT 60

/* Counters since start-up, in shared memory: one per outcome, and one for
 * replay-cache failures.  NULL when the segment could not be made. */
#define WXV_N_COUNTERS (WX_RESULT_COUNT + 1)
#define WXV_C_CACHE_FAIL WX_RESULT_COUNT
static apr_uint32_t *wxv_counters;

/* apr_crypto's openssl factory, made in post_config; NULL if it failed. */
static const apr_crypto_t *wxv_crypto;
/* A WxEncodingAESKey in the server's configuration: a crypto failure at
 * start-up is then fatal.  (.htaccess files are read later.) */
static int wxv_keys_in_config;

/*
 * A safe-mode message that verified and decrypted, and what its reply
 * needs: copied out of the configuration, into the pool of the request
 * that carries the body, since the judgement may have been made in a
 * subrequest whose pool (and .htaccess configuration) is gone by the time
 * the handler runs.
 */
typedef struct {
    wx_bytes_t plain;             /* the message */
    wx_bytes_t receiveid;
    wx_aes_key_t key;             /* the key that decrypted it */
    const char *token;            /* the token that signed it */
    wx_envelope_t env;            /* the request's envelope, the reply's */
} wxv_message;

/*
 * What one HTTP request holds across its internal redirects (which share
 * its pool) and subrequests (whose main request carries the body): pool
 * userdata of the top request.  The body, read once; the message
 * decrypted from it; the replay-cache entry it claimed.
 */
#define WXV_MAX_CLAIMS 4

typedef struct {
    int body_read;
    wx_result_t body_rc;
    int body_status;              /* httpd's own answer to a read error */
    const char *body_why;
    char *body;
    apr_size_t body_len;
    int body_raw;                 /* the body goes to the app as sent */
    wxv_message *msg;
    int ack;                      /* a copy: wxv_handler answers it */
    int claims;                   /* replay, dedup, a subrequest's: */
    unsigned char claim_id[WXV_MAX_CLAIMS][WX_SIG_LEN];  /* given back when
                                   * the request fails */
    wxv_store *claim_store;
} wxv_http;

#define WXV_HTTP_KEY "wx_valid_module/http"

/*
 * One judgement, kept in r->request_config: when both the guard (Require
 * wx-signature) and the handler run on a request, the query is parsed,
 * signed and logged once.
 */
typedef struct {
    wx_query_t q;
    wx_result_t rc;               /* of the signature and freshness checks */
    const char *why;
    int which;                    /* the token that signed */
    int logged;
    wx_result_t logged_rc;        /* what was noted and logged */
    int body;                     /* about a body: any method but GET or
                                   * HEAD, or one that has a body */
    int safe;                     /* msg_signature, a key in effect */
    int key;                      /* the key that decrypted */
    wx_bytes_t plain;             /* WeCom's echostr, decrypted */
    int deferred;                 /* a status the guard leaves to fixups, */
    request_rec *deferred_r;      /* for this request only */
    const wxv_dir_conf *conf;     /* what it was verified under */
} wxv_req_state;

/* The plaintext body, replayed to whatever reads the request body. */
typedef struct {
    const char *p;
    apr_size_t left;
} wxv_plain_ctx;

/* The app's reply, held until it is whole, then encrypted. */
typedef struct {
    apr_bucket_brigade *bb;
    apr_size_t held;
    const wxv_message *msg;
} wxv_reply_ctx;

static void *wxv_create_dir_conf(apr_pool_t *p, char *dir)
{
    wxv_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)dir;
    conf->max_age = WXV_UNSET;
    conf->dedup = WXV_UNSET;
    conf->dedup_window = WXV_UNSET;
    return conf;
}

/*
 * A child inherits what it leaves unset; a WxToken in the child replaces.
 * Configurations are never written after start-up (or after the .htaccess
 * that made them), so a side that already holds the whole answer is
 * returned as it is: this runs on every request.
 */
static void *wxv_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    wxv_dir_conf *base = basev, *add = addv;
    wxv_dir_conf *conf;

    int set = (add->tokens != NULL) + (add->max_age != WXV_UNSET)
            + (add->keys != NULL) + (add->appid != NULL)
            + (add->dedup != WXV_UNSET) + (add->dedup_window != WXV_UNSET);

    if (set == 6) {
        return add;
    }
    if (set == 0) {
        return base;
    }
    conf = apr_palloc(p, sizeof(*conf));

    conf->tokens = add->tokens ? add->tokens : base->tokens;
    conf->max_age = add->max_age != WXV_UNSET ? add->max_age : base->max_age;
    conf->keys = add->keys ? add->keys : base->keys;
    conf->appid = add->appid ? add->appid : base->appid;
    conf->dedup = add->dedup != WXV_UNSET ? add->dedup : base->dedup;
    conf->dedup_window = add->dedup_window != WXV_UNSET ? add->dedup_window
                                                         : base->dedup_window;
    return conf;
}

static void *wxv_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    wxv_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    (void)s;
    sc->fail_deny = -1;
    return sc;
}

static void *wxv_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    wxv_srv_conf *base = basev, *add = addv;
    wxv_srv_conf *sc = apr_palloc(p, sizeof(*sc));

    sc->store = add->store_set ? add->store : base->store;
    sc->store_set = add->store_set || base->store_set;
    sc->fail_deny = add->fail_deny != -1 ? add->fail_deny : base->fail_deny;
    /* The password belongs to the store: a vhost's own store takes its
     * own (or none); one inheriting the store inherits its password, and
     * may not set another (check_config). */
    sc->password = add->store_set ? add->password : base->password;
    sc->password_conflict = !add->store_set && add->password != NULL
                            && base->store != NULL;
    return sc;
}

static apr_int64_t wxv_max_age(const wxv_dir_conf *conf)
{
    return conf->max_age == WXV_UNSET ? WX_MAX_AGE_DEFAULT : conf->max_age;
}

/*
 * The window a request is checked against: WxMaxAge, except that under a
 * WxReplayCache "off" (only a .htaccess, a <Files> or an <If> can get it
 * past configtest) is the longest there is, since a claim must outlive
 * every timestamp that can still verify.
 */
static apr_int64_t wxv_window(const request_rec *r, const wxv_dir_conf *conf)
{
    const wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                                  &wx_valid_module);
    apr_int64_t w = wxv_max_age(conf);

    return w == WX_MAX_AGE_OFF && sc->store != NULL ? WX_MAX_AGE_LIMIT : w;
}

/*
 * Record the outcome in the request note "wx-valid" (for %{wx-valid}n) and
 * log it: a failure at info with its reason, a success at debug.  The why-sentences from the
 * core never hold request input; the URI is escaped since it does.
 */
static void wxv_outcome(request_rec *r, wx_result_t rc, const char *why)
{
    const char *uri;

    apr_table_setn(r->notes, WXV_NOTE, wx_result_name(rc));
    if (!APLOGrinfo(r) || (rc == WX_OK && !APLOGrdebug(r))) {
        return;
    }
    uri = ap_escape_logitem(r->pool, r->uri);
    switch (rc) {
    case WX_OK:
        /* why: which token signed, to see when a rotated one goes unused */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, WXVLOGNO(00008)
                      "ok: %s, for %s", why, uri);
        break;
    case WX_MALFORMED:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00001)
                      "malformed: %s, for %s", why, uri);
        break;
    case WX_BAD_SIGNATURE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00002)
                      "bad-signature: %s, for %s", why, uri);
        break;
    case WX_STALE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00003)
                      "stale: %s, for %s", why, uri);
        break;
    case WX_METHOD:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00004)
                      "method: %s is not GET or HEAD, for %s",
                      ap_escape_logitem(r->pool, r->method), uri);
        break;
    case WX_BAD_CIPHER:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00009)
                      "bad-cipher: %s, for %s", why, uri);
        break;
    case WX_BAD_APPID:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00010)
                      "bad-appid: %s, for %s", why, uri);
        break;
    case WX_NO_KEY:
        /* A configuration error, as no-token is. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WXVLOGNO(00011)
                      "no-key: %s, for %s", why, uri);
        break;
    case WX_TOO_LARGE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00012)
                      "too-large: %s, for %s", why, uri);
        break;
    case WX_REPLAY:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00015)
                      "replay: %s, for %s", why, uri);
        break;
    case WX_DUPLICATE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00024)
                      "duplicate: %s; acknowledged, for %s", why, uri);
        break;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WXVLOGNO(00005)
                      "%s: %s, for %s", wx_result_name(rc), why, uri);
        break;
    }
}

static int wxv_status(wx_result_t rc)
{
    switch (rc) {
    case WX_OK:            return OK;
    case WX_MALFORMED:     return HTTP_BAD_REQUEST;
    case WX_BAD_CIPHER:    return HTTP_BAD_REQUEST;
    case WX_METHOD:        return HTTP_METHOD_NOT_ALLOWED;
    case WX_NO_TOKEN:      return HTTP_INTERNAL_SERVER_ERROR;
    case WX_NO_KEY:        return HTTP_INTERNAL_SERVER_ERROR;
    case WX_TOO_LARGE:     return HTTP_REQUEST_ENTITY_TOO_LARGE;
    case WX_CACHE_ERROR:   return HTTP_SERVICE_UNAVAILABLE;
    default:               return HTTP_FORBIDDEN;
    }
}

/* The plaintext body, to whatever reads the request body next. */
static apr_status_t wxv_plain_in(ap_filter_t *f, apr_bucket_brigade *bb,
                                 ap_input_mode_t mode, apr_read_type_e block,
                                 apr_off_t readbytes)
{
    wxv_plain_ctx *ctx = f->ctx;
    apr_size_t n;

    if (ctx == NULL) {
        /* Named in SetInputFilter: nothing of ours to give. */
        ap_remove_input_filter(f);
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    n = ctx->left;
    if (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE
        && mode != AP_MODE_EXHAUSTIVE) {
        return APR_ENOTIMPL;
    }
    if (mode != AP_MODE_EXHAUSTIVE && readbytes > 0
        && (apr_off_t)n > readbytes) {
        n = (apr_size_t)readbytes;
    }
    if (n > 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(
            ctx->p, n, f->r->pool, f->c->bucket_alloc));
    }
    if (mode != AP_MODE_SPECULATIVE) {
        ctx->p += n;
        ctx->left -= n;
        if (ctx->left == 0) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
                f->c->bucket_alloc));
        }
    }
    return APR_SUCCESS;
}

/* A body already read, to whatever reads the request body next. */
static void wxv_replay(request_rec *r, const char *p, apr_size_t n)
{
    wxv_plain_ctx *in = apr_palloc(r->pool, sizeof(*in));

    in->p = p;
    in->left = n;
    ap_add_input_filter(WXV_PLAIN_IN, in, r, r->connection);
}

/*
 * The request whose body a judgement is about.  A subrequest has none of
 * its own: httpd makes mod_dir's DirectoryIndex look-up, mod_rewrite's
 * look-ahead and the like a GET without the body's headers, while the
 * body waits on the connection for the main request (which mod_dir may
 * turn into the subrequest's URL).  So a guard asked about a subrequest
 * judges its main request's method and body.
 */
static request_rec *wxv_body_request(request_rec *r)
{
    while (r->main != NULL) {
        r = r->main;
    }
    return r;
}

/*
 * Whether r's request line came with a body: a Transfer-Encoding or a
 * Content-Length over 0.  Unlike ap_request_has_body(), a HEAD counts:
 * httpd reads its body as any other for whatever asks (mod_proxy,
 * php-fpm's php://input).
 */
static int wxv_has_body(const request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t n;

    return apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
           || (cl != NULL && (!ap_parse_strict_length(&n, cl) || n > 0));
}

/* The wxv_http of r's HTTP request, made on first use when make is set. */
static wxv_http *wxv_http_of(request_rec *r, int make)
{
    void *data = NULL;

    r = wxv_body_request(r);
    apr_pool_userdata_get(&data, WXV_HTTP_KEY, r->pool);
    if (data == NULL && make) {
        data = apr_pcalloc(r->pool, sizeof(wxv_http));
        apr_pool_userdata_setn(data, WXV_HTTP_KEY, NULL, r->pool);
    }
    return data;
}

/*
 * A safe-mode message that verified and decrypted: the app gets the
 * plaintext as the body, and a request as plain mode would have delivered
 * it: its Content-Length, without the request's Content-Encoding (the
 * plaintext is none), the query without encrypt_type and msg_signature.
 * In fixups (before mod_proxy writes the query into the backend's URL)
 * and again before the handler (mod_dir may have turned the request into
 * its verified subrequest since); it changes nothing the second time.
 */
static void wxv_as_plain(request_rec *r, const wxv_message *msg)
{
    const char *q;

    apr_table_unset(r->headers_in, "Transfer-Encoding");
    apr_table_unset(r->headers_in, "Content-Encoding");
    /* The reply is encrypted as the app writes it: not compressed. */
    apr_table_unset(r->headers_in, "Accept-Encoding");
    apr_table_setn(r->headers_in, "Content-Length",
                   apr_off_t_toa(r->pool, (apr_off_t)msg->plain.n));

    r->args = wx_query_without(r->pool, r->args,
                               1u << WX_P_MSG_SIGNATURE
                               | 1u << WX_P_ENCRYPT_TYPE);
    r->parsed_uri.query = r->args;
    q = r->unparsed_uri ? strchr(r->unparsed_uri, '?') : NULL;
    if (q != NULL) {
        r->unparsed_uri = apr_pstrcat(r->pool,
            apr_pstrmemdup(r->pool, r->unparsed_uri,
                           (apr_size_t)(q - r->unparsed_uri)),
            r->args ? "?" : "", r->args, NULL);
    }
}

/*
 * ... and, for the request that runs the handler, the plaintext as its
 * body and the reply encrypted on its way out.  Each request that runs a
 * handler has filter chains of its own (an internal redirect gets new
 * ones), so each gets its own.
 */
static void wxv_attach(request_rec *r, const wxv_message *msg)
{
    wxv_reply_ctx *out;

    wxv_as_plain(r, msg);
    wxv_replay(r, msg->plain.p, msg->plain.n);
    out = apr_palloc(r->pool, sizeof(*out));
    out->bb = NULL;
    out->held = 0;
    out->msg = msg;
    ap_add_output_filter(WXV_REPLY_OUT, out, r, r->connection);
}

/*
 * httpd's stock pages for 405 and 413 repeat the request's method: ours
 * say the same without it (for this request only; it takes the place of
 * an ErrorDocument for that status, as httpd's own per-request pages do).
 */
static void wxv_plain_page(request_rec *r, int status)
{
    ap_custom_response(r, status, status == HTTP_METHOD_NOT_ALLOWED
                       ? "This URL answers GET and HEAD only.\n"
                       : "The request body is larger than this URL "
                         "accepts.\n");
}

/*
 * Read br's body, once per HTTP request, up to WX_MAX_BODY bytes, into one
 * buffer from br->pool (it outlives any subrequest that asked).  A body
 * that still carries a Content-Encoding once httpd's input filters are
 * done (mod_deflate's INFLATE removes the header as it inflates) is not
 * WeChat's: refused, whatever it holds.
 */
static wxv_http *wxv_read_body(request_rec *br)
{
    wxv_http *h = wxv_http_of(br, 1);
    apr_status_t rv;
    apr_bucket_brigade *bb, *all;
    const char *cl = apr_table_get(br->headers_in, "Content-Length");
    const char *ce;
    apr_off_t n = 0, total = 0;
    int eos = 0;

    if (h->body_read) {
        return h;
    }
    h->body_read = 1;
    h->body_rc = WX_MALFORMED;
    h->body_why = "reading the request body failed";
    if (cl != NULL && ap_parse_strict_length(&n, cl) && n > WX_MAX_BODY) {
        h->body_rc = WX_TOO_LARGE;
        h->body_why = "request body over " WX_STR(WX_MAX_BODY)
                      " bytes (Content-Length)";
        return h;
    }
    bb = apr_brigade_create(br->pool, br->connection->bucket_alloc);
    all = apr_brigade_create(br->pool, br->connection->bucket_alloc);
    while (!eos) {
        apr_bucket *e;

        rv = ap_get_brigade(br->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv == APR_SUCCESS) {
            rv = apr_brigade_length(bb, 1, &n);
        }
        if (rv != APR_SUCCESS) {
            /* httpd's own answer (LimitRequestBody: 413; a broken chunk:
             * 400; AP_FILTER_ERROR when HTTP_IN has already sent one). */
            h->body_status = ap_map_http_request_error(rv,
                                                       HTTP_BAD_REQUEST);
            return h;
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            eos |= APR_BUCKET_IS_EOS(e);
        }
        if ((total += n) > WX_MAX_BODY) {
            h->body_rc = WX_TOO_LARGE;
            h->body_why = "request body over " WX_STR(WX_MAX_BODY) " bytes";
            return h;
        }
        if (ap_save_brigade(NULL, &all, &bb, br->pool) != APR_SUCCESS) {
            return h;
        }
        apr_brigade_cleanup(bb);
    }
    if (apr_brigade_pflatten(all, &h->body, &h->body_len, br->pool)
        != APR_SUCCESS) {
        return h;
    }
    apr_brigade_destroy(all);
    ce = apr_table_get(br->headers_in, "Content-Encoding");
    if (ce != NULL && ap_cstr_casecmp(ce, "identity") != 0) {
        h->body_why = "the request body is compressed (Content-Encoding), "
                      "which WeChat never does";
        return h;
    }
    h->body_rc = WX_OK;
    h->body_why = NULL;
    return h;
}

/*
 * br's body, read (once) for a judgement of r: st->rc and st->why say how
 * that went; httpd's own answer to a body it could not read is left to
 * wxv_fixups (st->deferred), since authz cannot give it.
 */
static wxv_http *wxv_judge_body(request_rec *r, request_rec *br,
                                wxv_req_state *st)
{
    wxv_http *h = wxv_read_body(br);

    if ((st->rc = h->body_rc) != WX_OK) {
        st->why = h->body_why;
        if (h->body_status != 0) {
            st->deferred = h->body_status;
            st->deferred_r = r;
        }
    }
    return h;
}

/*
 * Claim id for ttl seconds on the server's WxReplayCache, in one atomic
 * operation: WX_OK (claimed; a request that fails gives it back),
 * WX_DUPLICATE (somebody holds it: a copy), or when the store fails,
 * logged and counted: WX_CACHE_ERROR under "WxReplayCacheFailure deny",
 * WX_OK unchecked under "allow".  An HTTP request that already holds id
 * (judged again in a subrequest, or under another section) is no copy of
 * itself.
 */
static wx_result_t wxv_claim(request_rec *r, wxv_req_state *st,
                             const unsigned char *id, apr_uint32_t ttl,
                             const char *what, const char *dup_why)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    wxv_http *h = wxv_http_of(r, 1);
    const char *step = "";
    apr_status_t rv = APR_SUCCESS;
    wxv_claim_t c;
    int i;

    for (i = 0; i < h->claims; i++) {
        if (memcmp(h->claim_id[i], id, WX_SIG_LEN) == 0) {
            return WX_OK;
        }
    }
    if (h->claims == WXV_MAX_CLAIMS) {
        /* Not one more than this request could give back. */
        return WX_OK;
    }
    c = wxv_store_claim(sc->store, r, id, ttl, &rv, &step);
    if (c == WXV_TAKEN) {
        st->why = dup_why;
        return WX_DUPLICATE;
    }
    /* Ours; or, when the store failed, perhaps ours (it may have applied
     * the claim without its answer reaching us): noted either way, so
     * that a failure (a 503 under deny) gives it back, and WeChat's retry
     * is not taken for a copy. */
    memcpy(h->claim_id[h->claims++], id, WX_SIG_LEN);
    h->claim_store = sc->store;
    if (c == WXV_CLAIMED) {
        return WX_OK;
    }
    if (wxv_counters != NULL) {
        apr_atomic_inc32(&wxv_counters[WXV_C_CACHE_FAIL]);
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, WXVLOGNO(00016)
                  "cache-error: WxReplayCache %s failed %s (%s); %s, for %s",
                  wxv_store_name(sc->store), step, what,
                  sc->fail_deny == 1
                  ? "refused (WxReplayCacheFailure deny)"
                  : "let through unchecked (WxReplayCacheFailure allow)",
                  ap_escape_logitem(r->pool, r->uri));
    if (sc->fail_deny != 1) {
        return WX_OK;
    }
    st->why = "the WxReplayCache failed";
    return WX_CACHE_ERROR;
}

/*
 * The replay cache: a triple (token, timestamp, nonce) verified again
 * inside its window, under either signature, is a copy.  Its claim lives
 * until the timestamp has left the WxMaxAge window (a request can only
 * verify inside it), two seconds more for memcached's and Redis's
 * whole-second clocks.  A copy of a verification GET is a replay (403:
 * there is no answer of the app to acknowledge); a copy of a message is
 * a duplicate, acknowledged without reaching the app.
 */
static wx_result_t wxv_replay_check(request_rec *r, wxv_req_state *st)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    apr_int64_t window = wxv_window(r, st->conf), ttl;
    unsigned char id[WX_SIG_LEN];
    wx_result_t rc;

    if (sc->store == NULL) {
        return WX_OK;
    }
    ttl = wx_timestamp_value(&st->q) + window + 2
        - (apr_int64_t)apr_time_sec(r->request_time);
    /* Inside [1, 2 windows + 2] whatever the clocks (the timestamp passed
     * the window, so it is). */
    ttl = ttl < 1 ? 1 : ttl > 2 * window + 2 ? 2 * window + 2 : ttl;
    wx_replay_id(&st->q, APR_ARRAY_IDX(st->conf->tokens, st->which,
                                       const char *), id);
    rc = wxv_claim(r, st, id, (apr_uint32_t)ttl,
                   "the signed timestamp and nonce",
                   "its timestamp and nonce were claimed before: answered, "
                   "or still being handled");
    if (rc == WX_DUPLICATE && !st->body) {
        st->why = "signature already used within WxMaxAge";
        return WX_REPLAY;
    }
    return rc;
}

/*
 * WxDedup: the message itself is claimed, by WeChat's own rule
 * (wx_dedup_id: MsgId and sender, or an event's sender, time and keys),
 * for WxDedupWindow seconds, so that a retry with a fresh timestamp,
 * nonce and signature is a copy too.  Within the account: its ToUserName
 * and the section's first WxToken, whichever token signed, so that a
 * retry signed with the other one during a rotation is the same message.  A message without
 * such a key (or not XML or JSON) goes to the app as it is.
 */
static wx_result_t wxv_dedup_check(request_rec *r, wxv_req_state *st,
                                   const char *msg, apr_size_t len)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    unsigned char id[WX_SIG_LEN];
    const char *why = NULL;
    wx_message_t m;

    if (st->conf->dedup != 1 || sc->store == NULL
        || wx_message_parse(r->pool, msg, len, &m, &why) != WX_OK
        || !wx_dedup_id(&m, APR_ARRAY_IDX(st->conf->tokens, 0,
                                          const char *), id)) {
        return WX_OK;
    }
    return wxv_claim(r, st, id,
                     (apr_uint32_t)(st->conf->dedup_window == WXV_UNSET
                                    ? WXV_DEDUP_WINDOW_DEFAULT
                                    : st->conf->dedup_window),
                     "the message, for WxDedup",
                     "the same message was claimed before (WxDedup): "
                     "answered, or still being handled");
}

/*
 * msg_signature: safe and compatible mode, WeCom.  What the token can
 * check comes first and needs no key: msg_signature over the ciphertext
 * (echostr on a verification GET, the body's Encrypt otherwise).  Only a
 * request that verified may meet a missing key (no-key: then it is
 * WeChat's, and the admin must act); then the replay cache, the key or
 * the previous one, the receiveid.  br is the request that carries the
 * body.
 */
static void wxv_verify_msg(request_rec *r, request_rec *br,
                           const wxv_dir_conf *conf, wxv_req_state *st)
{
    const char *const *tokens = (const char *const *)conf->tokens->elts;
    const char *enc;
    apr_size_t enclen;
    wxv_http *h = NULL;
    wx_envelope_t env = WX_ENV_XML;
    wx_bytes_t plain, receiveid;
    wxv_message *msg;

    if (!st->body) {
        if ((st->why = wx_echo_problem(&st->q)) != NULL) {
            st->rc = WX_MALFORMED;
            return;
        }
        enc = st->q.val[WX_P_ECHOSTR];
        enclen = st->q.len[WX_P_ECHOSTR];
    }
    else {
        wx_bytes_t e;

        h = wxv_judge_body(r, br, st);
        if (st->rc != WX_OK) {
            if (!st->deferred) {
                goto refused;
            }
            return;
        }
        st->rc = wx_envelope_parse(r->pool, h->body, h->body_len, &env, &e,
                                   &st->why);
        if (st->rc != WX_OK) {
            goto refused;
        }
        enc = e.p;
        enclen = e.n;
    }
    st->rc = wx_verify_msg(&st->q, enc, enclen, tokens, conf->tokens->nelts,
                           r->request_time, wxv_window(r, conf), &st->which,
                           &st->why);
    if (st->rc != WX_OK) {
        goto refused;
    }
    if (conf->keys == NULL || wxv_crypto == NULL) {
        st->rc = WX_NO_KEY;
        st->why = conf->keys == NULL
                ? "msg_signature verified, but no WxEncodingAESKey is in "
                  "effect to decrypt"
                : "apr_crypto's openssl driver did not load at start-up";
        goto refused;
    }
    st->safe = 1;
    if ((st->rc = wxv_replay_check(r, st)) != WX_OK) {
        goto refused;
    }
    st->rc = wx_decrypt(br->pool, wxv_crypto,
                        (const wx_aes_key_t *)conf->keys->elts,
                        conf->keys->nelts, enc, enclen, conf->appid, &plain,
                        &receiveid, &st->key, &st->why);
    if (st->rc != WX_OK) {
        goto refused;
    }
    if (h != NULL
        && (st->rc = wxv_dedup_check(r, st, plain.p, plain.n)) != WX_OK) {
        goto refused;
    }
    if (h == NULL) {
        st->plain = plain;           /* WeCom's echostr: the handler's */
    }
    else if (h->msg == NULL) {
        msg = apr_palloc(br->pool, sizeof(*msg));
        msg->plain = plain;
        msg->receiveid = receiveid;
        msg->key = APR_ARRAY_IDX(conf->keys, st->key, wx_aes_key_t);
        msg->token = apr_pstrdup(br->pool, tokens[st->which]);
        msg->env = env;
        h->msg = msg;
    }
    if (APLOGrdebug(r)) {
        st->why = apr_psprintf(r->pool, "signed with WxToken %d of %d, "
                               "decrypted with WxEncodingAESKey %d of %d",
                               st->which + 1, conf->tokens->nelts,
                               st->key + 1, conf->keys->nelts);
    }
    return;

refused:
    /* The body was read: an app another Require line grants the request
     * to gets it as it came (wxv_insert_filter). */
    if (h != NULL && h->body != NULL) {
        h->body_raw = 1;
    }
}

/*
 * An internal redirect or a subrequest of a request verified under the
 * same configuration inherits its verdict (the body is read only once;
 * wxv_insert_filter gives a redirected safe-mode POST its plaintext
 * again).
 */
static wxv_req_state *wxv_inherited(request_rec *r, const wxv_dir_conf *conf)
{
    request_rec *from = r->prev ? r->prev : r->main;
    wxv_req_state *st;

    if (from == NULL
        || (st = ap_get_module_config(from->request_config,
                                      &wx_valid_module)) == NULL
        || st->conf->tokens != conf->tokens || st->conf->keys != conf->keys
        || st->conf->appid != conf->appid
        || wxv_max_age(st->conf) != wxv_max_age(conf)
        || st->conf->dedup != conf->dedup
        || st->conf->dedup_window != conf->dedup_window) {
        return NULL;
    }
    ap_set_module_config(r->request_config, &wx_valid_module, st);
    return st;
}

/*
 * Parse and verify r's signed query under conf, once per request: the
 * result is kept for whichever of the guard and the handler asks next.
 * Malformed input is refused before any signature is computed.  The body
 * is judged on the request that carries it (see wxv_body_request): where
 * keys are in effect, a body of any method, GET and HEAD included, reaches
 * the app only as msg_signature signed it.
 */
static wxv_req_state *wxv_verify(request_rec *r, const wxv_dir_conf *conf)
{
    wxv_req_state *st = ap_get_module_config(r->request_config,
                                             &wx_valid_module);
    request_rec *br;
    const char *ctype;

    if (st != NULL || (st = wxv_inherited(r, conf)) != NULL) {
        return st;
    }
    st = apr_pcalloc(r->pool, sizeof(*st));
    st->conf = conf;
    ap_set_module_config(r->request_config, &wx_valid_module, st);

    st->rc = wx_query_parse(r->pool, r->args, &st->q, &st->why);
    if (st->rc != WX_OK) {
        return st;
    }
    br = wxv_body_request(r);
    st->body = br->method_number != M_GET || wxv_has_body(br);
    /*
     * WeChat posts XML or JSON.  A form body's fields would sit beside the
     * signed query in PHP's $_REQUEST and the like: another copy of the
     * parameters that nothing signed.
     */
    ctype = st->body ? apr_table_get(br->headers_in, "Content-Type") : NULL;
    if (ctype != NULL
        && (ap_cstr_casecmpn(ctype, "application/x-www-form-urlencoded",
                             33) == 0
            || ap_cstr_casecmpn(ctype, "multipart/form-data", 19) == 0)) {
        st->rc = WX_MALFORMED;
        st->why = "form-encoded request body, whose fields would stand "
                  "beside the signed query";
        return st;
    }
    /*
     * msg_signature: safe mode, compatible mode or WeCom.  Without a key,
     * a request that also carries the plain signature (an Official
     * Account in compatible or safe mode) is checked by it and passes
     * unchanged, as plain mode; WeCom's carries none, and is checked by
     * msg_signature before its missing key is an error.
     */
    if (st->q.val[WX_P_MSG_SIGNATURE] != NULL
        && (conf->keys != NULL || st->q.val[WX_P_SIGNATURE] == NULL)) {
        wxv_verify_msg(r, br, conf, st);
        return st;
    }
    if (conf->keys != NULL && st->body) {
        /* Where safe mode is configured, a body signed the plain way is
         * one nothing signed: never hand it on as if it had been
         * decrypted.  (No signature is computed: none could help.) */
        st->rc = WX_MALFORMED;
        st->why = "msg_signature missing, and a WxEncodingAESKey is in "
                  "effect";
        return st;
    }
    st->rc = wx_verify_plain(&st->q, (const char *const *)conf->tokens->elts,
                             conf->tokens->nelts, r->request_time,
                             wxv_window(r, conf), &st->which, &st->why);
    if (st->rc == WX_OK) {
        st->rc = wxv_replay_check(r, st);
    }
    if (st->rc == WX_OK && st->body && conf->dedup == 1) {
        /* Plain mode under WxDedup: the body is read to find the
         * message, and goes to the app as it was sent. */
        wxv_http *h = wxv_judge_body(r, br, st);

        if (st->rc == WX_OK) {
            st->rc = wxv_dedup_check(r, st, h->body, h->body_len);
        }
        if (h->body != NULL) {
            h->body_raw = 1;
        }
    }
    if (st->rc == WX_OK && APLOGrdebug(r)) {
        st->why = apr_psprintf(r->pool, "signed with WxToken %d of %d",
                               st->which + 1, conf->tokens->nelts);
    }
    return st;
}

/*
 * Note and log a request's outcome once, however many hooks looked; again
 * only when a later one differs (the guard passed a signed GET, then the
 * handler found it has no echostr).
 */
static void wxv_finish(request_rec *r, wxv_req_state *st, wx_result_t rc,
                       const char *why)
{
    if (st->logged && st->logged_rc == rc) {
        return;
    }
    st->logged = 1;
    st->logged_rc = rc;
    wxv_outcome(r, rc, why);
    /* A subrequest's outcome stands for the main request's, for
     * %{wx-valid}n, unless the main request has one of its own. */
    if (r->main && apr_table_get(r->main->notes, WXV_NOTE) == NULL) {
        apr_table_setn(r->main->notes, WXV_NOTE, wx_result_name(rc));
    }
}

static int wxv_no_token(request_rec *r, const wxv_dir_conf *conf,
                        const char *what)
{
    if (conf->tokens != NULL && conf->tokens->nelts > 0) {
        return 0;
    }
    apr_table_setn(r->notes, WXV_NOTE, wx_result_name(WX_NO_TOKEN));
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WXVLOGNO(00006)
                  "no-token: %s without a WxToken in effect for %s", what,
                  ap_escape_logitem(r->pool, r->uri));
    return 1;
}

/*
 * The reply to a safe-mode message could not be encrypted: WeChat gets a
 * 500 (and retries) rather than plaintext it would not accept.
 */
static apr_status_t wxv_reply_fail(ap_filter_t *f, apr_bucket_brigade *bb,
                                   apr_status_t rv, const char *why)
{
    request_rec *r = f->r;
    wxv_reply_ctx *ctx = f->ctx;

    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, WXVLOGNO(00014)
                  "the app's reply cannot be encrypted: %s, for %s", why,
                  ap_escape_logitem(r->pool, r->uri));
    ap_remove_output_filter(f);
    if (ctx->bb != NULL && ctx->bb != bb) {
        apr_brigade_cleanup(ctx->bb);
    }
    apr_brigade_cleanup(bb);
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(
        HTTP_INTERNAL_SERVER_ERROR, NULL, r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    return ap_pass_brigade(f->next, bb);
}

/*
 * The app's reply to a safe-mode message, held until whole: a 200 with a
 * body other than "success" goes out encrypted with the key that
 * decrypted the request, for the request's receiveid, in the request's
 * envelope, signed with the token that signed the request.
 */
static apr_status_t wxv_reply_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    wxv_reply_ctx *ctx = f->ctx;
    const wxv_message *msg;
    const char *parts[4];
    char sig[WX_SIG_HEX_LEN + 1], nonce[WX_REPLY_NONCE_LEN + 1], ts[32];
    char *body, *b64, *out;
    const char *why = NULL;
    apr_size_t len, outlen;
    apr_int64_t now;
    apr_bucket *e;
    apr_status_t rv;
    int eos = 0;

    if (ctx == NULL || r->status != HTTP_OK) {
        /* Named in SetOutputFilter (no ctx); or an error or a redirect,
         * no reply to WeChat: as they are. */
        ap_remove_output_filter(f);
        if (ctx != NULL && ctx->bb != NULL) {
            APR_BRIGADE_PREPEND(bb, ctx->bb);
        }
        return ap_pass_brigade(f->next, bb);
    }
    msg = ctx->msg;
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        const char *data;
        apr_size_t n;

        if (AP_BUCKET_IS_ERROR(e)) {
            /* The app broke off (mod_proxy's 502): that error, not a
             * truncated reply signed as whole. */
            ap_remove_output_filter(f);
            if (ctx->bb != NULL) {
                apr_brigade_cleanup(ctx->bb);
            }
            while (APR_BRIGADE_FIRST(bb) != e) {
                apr_bucket_delete(APR_BRIGADE_FIRST(bb));
            }
            return ap_pass_brigade(f->next, bb);
        }
        if (APR_BUCKET_IS_EOS(e)) {
            eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        /* One bucket at a time (a pipe's output too), counted as it
         * comes, so the limit holds before anything more is read. */
        if ((rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ))
            != APR_SUCCESS) {
            return wxv_reply_fail(f, bb, rv, "reading it failed");
        }
        if ((ctx->held += n) > WX_MAX_BODY) {
            return wxv_reply_fail(f, bb, APR_SUCCESS, "it is over "
                                  WX_STR(WX_MAX_BODY) " bytes");
        }
    }
    if ((rv = ap_save_brigade(f, &ctx->bb, &bb, r->pool)) != APR_SUCCESS) {
        return wxv_reply_fail(f, bb, rv, "reading it failed");
    }
    if (!eos) {
        return APR_SUCCESS;
    }
    if (apr_table_get(r->headers_out, "Content-Encoding") != NULL) {
        return wxv_reply_fail(f, ctx->bb, APR_SUCCESS,
                              "it is compressed (Content-Encoding)");
    }
    if ((rv = apr_brigade_pflatten(ctx->bb, &body, &len, r->pool))
        != APR_SUCCESS) {
        return wxv_reply_fail(f, bb, rv, "reading it failed");
    }
    /* "success" or nothing: received, no reply; never encrypted. */
    if (len == 0 || (len == 7 && memcmp(body, "success", 7) == 0)) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, ctx->bb);
    }

    rv = wx_encrypt(r->pool, wxv_crypto, &msg->key, NULL, body, len,
                    msg->receiveid.p, msg->receiveid.n, &b64, &why);
    if (rv != APR_SUCCESS) {
        return wxv_reply_fail(f, bb, rv, why);
    }
    if ((rv = wx_reply_nonce(nonce)) != APR_SUCCESS) {
        return wxv_reply_fail(f, bb, rv, "no random bytes for a nonce");
    }
    now = (apr_int64_t)apr_time_sec(apr_time_now());
    apr_snprintf(ts, sizeof(ts), "%" APR_INT64_T_FMT, now);
    parts[0] = msg->token;
    parts[1] = ts;
    parts[2] = nonce;
    parts[3] = b64;
    wx_signature(sig, parts, 4);
    out = wx_envelope_reply(r->pool, msg->env, b64, sig, now, nonce, &outlen);
    if (out == NULL) {
        return wxv_reply_fail(f, bb, APR_ENOMEM, "jansson failed");
    }

    apr_brigade_cleanup(ctx->bb);
    ap_set_content_length(r, outlen);
    APR_BRIGADE_INSERT_TAIL(ctx->bb, apr_bucket_pool_create(
        out, outlen, r->pool, f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(ctx->bb, apr_bucket_eos_create(
        f->c->bucket_alloc));
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, ctx->bb);
}

/*
 * The "wx-valid" handler: answer WeChat's developer-verification GET.
 * Hooked REALLY_FIRST and keyed on r->handler, so "SetHandler wx-valid"
 * also wins on a URL that mod_proxy would otherwise claim.
 */
static int wxv_handler(request_rec *r)
{
    wxv_http *h;
    wxv_dir_conf *conf;
    wxv_req_state *st;
    const char *problem;
    apr_bucket_brigade *bb;
    wx_bytes_t echo;

    if (r->main == NULL && (h = wxv_http_of(r, 0)) != NULL && h->ack) {
        /* A duplicate: "received", an empty 200, without the app; whatever
         * handler a later fixup (mod_rewrite's redirect, a [P], another
         * SetHandler) or an internal redirect chose. */
        ap_set_content_length(r, 0);
        return OK;
    }
    if (!r->handler || strcmp(r->handler, WXV_HANDLER) != 0) {
        return DECLINED;
    }

    if (r->method_number != M_GET) {
        /* httpd builds Allow from allowed_methods; GET brings HEAD along. */
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        wxv_plain_page(r, HTTP_METHOD_NOT_ALLOWED);
        wxv_outcome(r, WX_METHOD, NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (wxv_has_body(wxv_body_request(r))) {
        /* WeChat's verification GET has no body; one with a body is
         * nobody's, and is not read (a guard in front may have). */
        static const char why[] = "a verification GET has a body";

        st = ap_get_module_config(r->request_config, &wx_valid_module);
        if (st != NULL) {
            wxv_finish(r, st, WX_MALFORMED, why);
        }
        else {
            wxv_outcome(r, WX_MALFORMED, why);
        }
        return HTTP_BAD_REQUEST;
    }

    conf = ap_get_module_config(r->per_dir_config, &wx_valid_module);
    if (wxv_no_token(r, conf, "SetHandler wx-valid")) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    st = wxv_verify(r, conf);
    /* A well-formed query without echostr is no verification request. */
    if (!st->safe && st->rc != WX_MALFORMED
        && (problem = wx_echo_problem(&st->q))) {
        wxv_finish(r, st, WX_MALFORMED, problem);
        return HTTP_BAD_REQUEST;
    }
    wxv_finish(r, st, st->rc, st->why);
    if (st->rc != WX_OK) {
        return wxv_status(st->rc);
    }

    /* WeCom's echostr is ciphertext: the answer is its plaintext. */
    if (st->safe) {
        echo = st->plain;
    }
    else {
        echo.p = st->q.val[WX_P_ECHOSTR];
        echo.n = st->q.len[WX_P_ECHOSTR];
    }
    ap_set_content_type(r, "text/plain");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    /* The body is echostr's bytes, exactly: mod_deflate and mod_brotli
     * (on for text/plain in Debian's default configuration) keep off.
     * (addn: a second copy of a flag only read for presence is harmless,
     * and the search setn makes is not.) */
    apr_table_addn(r->subprocess_env, "no-gzip", "1");
    apr_table_addn(r->subprocess_env, "no-brotli", "1");
    ap_set_content_length(r, echo.n);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(
        echo.p, echo.n, r->pool, r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
        r->connection->bucket_alloc));
    return ap_pass_brigade_fchk(r, bb, WXVLOGNO(00007)
                                "sending the echostr failed");
}

/*
 * Require wx-signature: grant only a request that carries a valid, fresh
 * signature under the WxToken(s) in effect.  It needs no user, and looks
 * at nothing but the request it is asked about.
 */
static authz_status wxv_authz_check(request_rec *r, const char *line,
                                    const void *parsed)
{
    wxv_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                              &wx_valid_module);
    wxv_req_state *st;

    (void)line;
    (void)parsed;
    if (wxv_no_token(r, conf, "Require wx-signature")) {
        return AUTHZ_GENERAL_ERROR;
    }
    st = wxv_verify(r, conf);
    wxv_finish(r, st, st->rc, st->why);
    if (st->rc == WX_OK) {
        return AUTHZ_GRANTED;
    }
    if (st->rc == WX_DUPLICATE) {
        /* Verified, and a copy: granted, and answered by wxv_fixups
         * without the app (an empty 200, WeChat's "received"). */
        if (!st->deferred) {
            st->deferred = WXV_ACK;
            st->deferred_r = r;
        }
        return AUTHZ_GRANTED;
    }
    /* Only a request that verified gets here (wxv_verify_msg): WeChat's,
     * and the admin must act. */
    if (st->rc == WX_NO_KEY) {
        return AUTHZ_GENERAL_ERROR;
    }
    if (!st->deferred && (st->rc == WX_BAD_CIPHER || st->rc == WX_TOO_LARGE
                          || st->rc == WX_CACHE_ERROR)) {
        st->deferred = wxv_status(st->rc);
        st->deferred_r = r;
    }
    /* 400, 413, 503 (and httpd's own answer to a body it could not read)
     * are statuses authz cannot give: granted here, wxv_fixups refuses the
     * request before any handler sees it.  Everything else is a plain
     * denial, which another Require line may outvote. */
    return st->deferred ? AUTHZ_GRANTED : AUTHZ_DENIED;
}

/*
 * Runs for every request, after authz and before any handler: the
 * guard's refusals that authz could not express (see above); the note of
 * an internal redirect of a judged request; a decrypted message's query
 * and headers as plain mode's.
 */
static int wxv_fixups(request_rec *r)
{
    wxv_req_state *st = ap_get_module_config(r->request_config,
                                             &wx_valid_module);
    request_rec *prev;
    wxv_http *h;

    if (st == NULL) {
        for (prev = r->prev; prev != NULL && st == NULL; prev = prev->prev) {
            st = ap_get_module_config(prev->request_config,
                                      &wx_valid_module);
        }
        if (st == NULL) {
            return DECLINED;
        }
        ap_set_module_config(r->request_config, &wx_valid_module, st);
        apr_table_setn(r->notes, WXV_NOTE, wx_result_name(
            st->logged ? st->logged_rc : st->rc));
    }
    if (st->deferred == WXV_ACK && st->deferred_r == r) {
        /* Our handler runs first (REALLY_FIRST) for whichever request of
         * this HTTP request runs one, and answers it; mod_proxy or
         * php-fpm never see it. */
        wxv_http_of(r, 1)->ack = 1;
        return DECLINED;
    }
    if (st->deferred && st->deferred_r == r) {
        if (st->deferred == HTTP_REQUEST_ENTITY_TOO_LARGE) {
            /* mod_dir answers for the main request what its subrequest
             * got: both get the page. */
            wxv_plain_page(r, st->deferred);
            wxv_plain_page(wxv_body_request(r), st->deferred);
        }
        return st->deferred;
    }
    /* The main request, and a subrequest that verified the message
     * (mod_dir copies its query and a mod_proxy URL made from it into the
     * main request). */
    if ((r->main == NULL || (st->safe && st->rc == WX_OK))
        && (h = wxv_http_of(r, 0)) != NULL && h->msg != NULL) {
        wxv_as_plain(r, h->msg);
    }
    return DECLINED;
}

/*
 * A request that failed (its status is not 2xx) gives its claims back, so
 * that WeChat's retry of the message reaches the app.  As soon as the
 * status is known, before the response goes out: a retry sent the moment
 * the failure arrives must not find the claim still there (and be
 * acknowledged, and the message lost).  Called from the release filter,
 * for error pages from insert_error_filter, and last from
 * log_transaction for a request that sent nothing.
 */
static void wxv_release_failed(request_rec *r, int status)
{
    wxv_http *h = wxv_http_of(r, 0);
    int i;

    if (h == NULL || h->claims == 0 || ap_is_HTTP_SUCCESS(status)) {
        return;
    }
    for (i = 0; i < h->claims; i++) {
        wxv_store_release(h->claim_store, r, h->claim_id[i]);
    }
    h->claims = 0;
}

/* The first of the response, on its way to the headers: its status is
 * final then. */
static apr_status_t wxv_release_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    wxv_release_failed(f->r, f->r->status);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* An error page (ap_die): the resource filters are gone by then. */
static void wxv_insert_error_filter(request_rec *r)
{
    wxv_release_failed(r, r->status);
}

/*
 * Just before a handler runs: the plaintext of a decrypted message (or a
 * body that was read and goes on as sent), for the request that runs it:
 * the one the guard verified, the main request mod_dir turned into its
 * verified subrequest, or an internal redirect (which httpd may not send
 * through authz again, in one configuration).
 * Never for a subrequest: the body is the main request's.
 */
static void wxv_insert_filter(request_rec *r)
{
    wxv_http *h;

    if (r->main != NULL || (h = wxv_http_of(r, 0)) == NULL) {
        return;
    }
    if (h->claims > 0) {
        ap_add_output_filter(WXV_RELEASE, NULL, r, r->connection);
    }
    /* One body filter for the request, whichever it is: internal
     * redirects and mod_dir's fast redirect replace the filter chains. */
    if (h->msg != NULL) {
        wxv_attach(r, h->msg);
    }
    else if (h->body_raw) {
        wxv_replay(r, h->body, h->body_len);
    }
}

static const char *wxv_authz_parse(cmd_parms *cmd, const char *line,
                                   const void **parsed)
{
    (void)cmd;
    (void)parsed;
    while (line && apr_isspace(*line)) {
        line++;
    }
    if (line && *line) {
        return "Require wx-signature takes no arguments (the tokens come "
               "from WxToken)";
    }
    return NULL;
}

static const authz_provider wxv_authz_provider = {
    &wxv_authz_check,
    &wxv_authz_parse,
};

/*
 * The arguments of a directive that holds a secret, as mod_info's
 * /server-info and DUMP_CONFIG would show them: replaced once the
 * directive has been processed (httpd has expanded ${VAR} by then, so
 * the page would show the value).  The tree is read once per
 * configuration pass; nothing after the command reads its arguments.
 */
static void wxv_hide_args(cmd_parms *cmd)
{
    if (cmd->directive != NULL) {
        ((ap_directive_t *)cmd->directive)->args = "(hidden by mod_wx_valid)";
    }
}

/* WxToken token [token ...]: any one may sign (rotation). */
static const char *wxv_cmd_token(cmd_parms *cmd, void *dconf, int argc,
                                 char *const argv[])
{
    wxv_dir_conf *conf = dconf;
    int i;

    if (argc == 0) {
        return "WxToken needs at least one token";
    }
    for (i = 0; i < argc; i++) {
        const char *problem = wx_token_problem(argv[i]);
        if (problem != NULL) {
            /* Name the position, never the value: it is a secret. */
            return apr_psprintf(cmd->pool, "WxToken: token %d of %d %s; "
                                "WeChat's rule is 3 to 32 ASCII letters or "
                                "digits", i + 1, argc, problem);
        }
    }
    if (conf->tokens == NULL) {
        conf->tokens = apr_array_make(cmd->pool, argc, sizeof(const char *));
    }
    for (i = 0; i < argc; i++) {
        APR_ARRAY_PUSH(conf->tokens, const char *) = argv[i];
    }
    wxv_hide_args(cmd);
    return NULL;
}

/* A number of seconds from 1 to WX_MAX_AGE_LIMIT in *n, or 0. */
static int wxv_seconds(const char *arg, apr_int64_t *n)
{
    char *end;

    errno = 0;
    *n = apr_strtoi64(arg, &end, 10);
    return apr_isdigit(*arg) && *end == '\0' && errno != ERANGE && *n >= 1
           && *n <= WX_MAX_AGE_LIMIT;
}

/* WxMaxAge seconds|off */
static const char *wxv_cmd_max_age(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    wxv_dir_conf *conf = dconf;
    apr_int64_t n;

    (void)cmd;
    if (ap_cstr_casecmp(arg, "off") == 0) {
        conf->max_age = WX_MAX_AGE_OFF;
        return NULL;
    }
    if (!wxv_seconds(arg, &n)) {
        return "WxMaxAge takes a number of seconds from 1 to 86400, or off";
    }
    conf->max_age = n;
    return NULL;
}

/*
 * After the response: count the request's outcome, and give back its
 * claims if the request failed (non-2xx) and nothing did so before (a
 * request that sent no response at all).
 */
static int wxv_log_transaction(request_rec *r)
{
    const char *note = apr_table_get(r->notes, WXV_NOTE);
    const request_rec *last = r;
    int i;

    if (note != NULL && wxv_counters != NULL) {
        for (i = 0; i < WX_RESULT_COUNT; i++) {
            if (strcmp(note, wx_result_name(i)) == 0) {
                apr_atomic_inc32(&wxv_counters[i]);
                break;
            }
        }
    }
    while (last->next != NULL) {
        last = last->next;
    }
    wxv_release_failed(r, last->status);
    return DECLINED;
}

/* mod_status's counter names: WxValidOk, WxValidBadSignature ... */
static const char *const wxv_counter_names[WXV_N_COUNTERS] = {
    "Ok", "Malformed", "BadSignature", "Stale", "Replay", "BadCipher",
    "BadAppid", "Method", "NoToken", "NoKey", "TooLarge", "CacheError",
    "Duplicate", "CacheFailures"
};

static int wxv_status_hook(request_rec *r, int flags)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    int i;

    if (wxv_counters == NULL) {
        return OK;
    }
    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < WXV_N_COUNTERS; i++) {
            ap_rprintf(r, "WxValid%s: %u\n", wxv_counter_names[i],
                       apr_atomic_read32(&wxv_counters[i]));
        }
    }
    else {
        ap_rputs("<hr />\n<h2>mod_wx_valid: WeChat callbacks since "
                 "start-up</h2>\n<table border=\"0\">\n", r);
        for (i = 0; i < WXV_N_COUNTERS; i++) {
            ap_rprintf(r, "<tr><td>%s</td><td>%u</td></tr>\n",
                       i < WX_RESULT_COUNT ? wx_result_name(i)
                                           : "replay-cache failures",
                       apr_atomic_read32(&wxv_counters[i]));
        }
        ap_rputs("</table>\n", r);
    }
    if (sc->store != NULL) {
        wxv_store_status(sc->store, r, flags);
    }
    return OK;
}

/* WxDedupWindow seconds */
static const char *wxv_cmd_dedup_window(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    wxv_dir_conf *conf = dconf;
    apr_int64_t n;

    (void)cmd;
    if (!wxv_seconds(arg, &n)) {
        return "WxDedupWindow takes a number of seconds from 1 to 86400";
    }
    conf->dedup_window = n;
    return NULL;
}

/* WxDedup on|off */
static const char *wxv_cmd_dedup(cmd_parms *cmd, void *dconf, int on)
{
    wxv_dir_conf *conf = dconf;

    (void)cmd;
    conf->dedup = on;
    return NULL;
}

/* WxReplayCache provider[:args], or none. */
static const char *wxv_cmd_replay_cache(cmd_parms *cmd, void *dummy,
                                        const char *arg)
{
    wxv_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                            &wx_valid_module);

    (void)dummy;
    sc->store_set = 1;
    sc->store = NULL;
    if (ap_cstr_casecmp(arg, "none") == 0) {
        return NULL;
    }
    return wxv_store_create(cmd, arg, &sc->store);
}

/* WxReplayCachePassword secret: Redis's AUTH. */
static const char *wxv_cmd_cache_password(cmd_parms *cmd, void *dummy,
                                          const char *arg)
{
    wxv_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                            &wx_valid_module);

    (void)dummy;
    if (*arg == '\0' || (arg[0] == '$' && arg[1] == '{')) {
        /* The position only: a value is a secret. */
        return "WxReplayCachePassword: empty, or an undefined ${VARIABLE}";
    }
    sc->password = arg;
    wxv_hide_args(cmd);
    return NULL;
}

/* WxReplayCacheFailure allow|deny */
static const char *wxv_cmd_cache_failure(cmd_parms *cmd, void *dummy,
                                         const char *arg)
{
    wxv_srv_conf *sc = ap_get_module_config(cmd->server->module_config,
                                            &wx_valid_module);

    (void)dummy;
    if (ap_cstr_casecmp(arg, "allow") == 0) {
        sc->fail_deny = 0;
    }
    else if (ap_cstr_casecmp(arg, "deny") == 0) {
        sc->fail_deny = 1;
    }
    else {
        return "WxReplayCacheFailure takes allow or deny";
    }
    return NULL;
}

/* WxEncodingAESKey key [previous-key]: the previous one during rotation. */
static const char *wxv_cmd_aes_key(cmd_parms *cmd, void *dconf,
                                   const char *cur, const char *prev)
{
    wxv_dir_conf *conf = dconf;
    const char *given[2];
    int i, n = prev ? 2 : 1;

    given[0] = cur;
    given[1] = prev;
    for (i = 0; i < n; i++) {
        const char *problem = wx_aes_key_problem(given[i]);
        if (problem != NULL) {
            /* The position, never the value: it is a secret. */
            return apr_psprintf(cmd->pool, "WxEncodingAESKey: key %d of %d "
                                "%s; an EncodingAESKey is 43 ASCII letters "
                                "or digits", i + 1, n, problem);
        }
    }
    conf->keys = apr_array_make(cmd->pool, n, sizeof(wx_aes_key_t));
    for (i = 0; i < n; i++) {
        wx_aes_key_decode(given[i], apr_array_push(conf->keys));
    }
    wxv_hide_args(cmd);
    wxv_keys_in_config = 1;
    return NULL;
}

/* WxAppID id: the receiveid every decrypted message must carry. */
static const char *wxv_cmd_appid(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    wxv_dir_conf *conf = dconf;
    const char *c;

    (void)cmd;
    if (strlen(arg) > WX_RECEIVEID_MAX) {
        return "WxAppID: over 256 characters; an AppID, CorpID or SuiteID "
               "is printable ASCII without spaces";
    }
    for (c = arg; *c; c++) {
        if (*c <= ' ' || *c > '~') {
            return "WxAppID: an AppID, CorpID or SuiteID is printable ASCII "
                   "without spaces";
        }
    }
    conf->appid = arg;
    return NULL;
}

static const command_rec wxv_cmds[] = {
    AP_INIT_TAKE_ARGV("WxToken", wxv_cmd_token, NULL, RSRC_CONF | OR_AUTHCFG,
                      "One or more WeChat Tokens (3 to 32 ASCII letters or "
                      "digits); any one may sign"),
    AP_INIT_TAKE1("WxMaxAge", wxv_cmd_max_age, NULL, RSRC_CONF | OR_AUTHCFG,
                  "Seconds a signed timestamp may differ from the server "
                  "clock (default 300), or off"),
    AP_INIT_TAKE12("WxEncodingAESKey", wxv_cmd_aes_key, NULL,
                   RSRC_CONF | OR_AUTHCFG,
                   "Safe mode and WeCom: the EncodingAESKey (43 letters or "
                   "digits), and the previous one during key rotation"),
    AP_INIT_TAKE1("WxAppID", wxv_cmd_appid, NULL, RSRC_CONF | OR_AUTHCFG,
                  "Safe mode and WeCom: the receiveid decrypted messages "
                  "must carry (AppID, CorpID or SuiteID)"),
    AP_INIT_FLAG("WxDedup", wxv_cmd_dedup, NULL, RSRC_CONF | OR_AUTHCFG,
                 "on: each message reaches the app once even when WeChat's "
                 "retries carry fresh signatures (needs a WxReplayCache)"),
    AP_INIT_TAKE1("WxDedupWindow", wxv_cmd_dedup_window, NULL,
                  RSRC_CONF | OR_AUTHCFG, "Seconds WxDedup remembers a "
                  "message (default 60)"),
    AP_INIT_TAKE1("WxReplayCache", wxv_cmd_replay_cache, NULL, RSRC_CONF,
                  "Remember used signatures for the WxMaxAge window in a "
                  "socache provider: shmcb, memcache:host:port, "
                  "redis:host:port, or none"),
    AP_INIT_TAKE1("WxReplayCachePassword", wxv_cmd_cache_password, NULL,
                  RSRC_CONF, "The password of the WxReplayCache's Redis "
                  "(AUTH); ${ENV} keeps it out of the files"),
    AP_INIT_TAKE1("WxReplayCacheFailure", wxv_cmd_cache_failure, NULL,
                  RSRC_CONF, "When the WxReplayCache fails: allow (the "
                  "default: logged, counted, let through) or deny (503)"),
    {NULL}
};

static int wxv_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    wxv_keys_in_config = 0;
    return wxv_stores_pre_config(pconf);
}

static int wxv_unbounded(const wxv_dir_conf *dc)
{
    return dc->max_age == WX_MAX_AGE_OFF;
}

static int wxv_dedups(const wxv_dir_conf *dc)
{
    return dc->dedup == 1;
}

/* A section of s (or s itself) whose configuration has what test looks
 * for, by name; NULL if none. */
static const char *wxv_section_with(apr_pool_t *p, server_rec *s,
                                    int (*test)(const wxv_dir_conf *))
{
    core_server_config *csc = ap_get_core_module_config(s->module_config);
    apr_array_header_t *sections[2];
    wxv_dir_conf *dc = ap_get_module_config(s->lookup_defaults,
                                            &wx_valid_module);
    int i, j;

    if (dc != NULL && test(dc)) {
        return "the server's own configuration";
    }
    sections[0] = csc->sec_dir;
    sections[1] = csc->sec_url;
    for (i = 0; i < 2; i++) {
        for (j = 0; sections[i] && j < sections[i]->nelts; j++) {
            ap_conf_vector_t *v = APR_ARRAY_IDX(sections[i], j,
                                                ap_conf_vector_t *);
            core_dir_config *cd = ap_get_core_module_config(v);
            dc = ap_get_module_config(v, &wx_valid_module);
            if (dc != NULL && test(dc)) {
                return apr_psprintf(p, "the %s section for %s",
                                    i == 0 ? "<Directory>" : "<Location>",
                                    cd && cd->d ? cd->d : "?");
            }
        }
    }
    return NULL;
}

/*
 * A WxReplayCache needs a bounded WxMaxAge in every section of its server
 * (an entry would otherwise never expire).  check_config runs in
 * configtest too, after virtual hosts have their sections merged.
 */
static int wxv_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;

    (void)pconf;
    (void)plog;
    for (v = s; v != NULL; v = v->next) {
        wxv_srv_conf *sc = ap_get_module_config(v->module_config,
                                                &wx_valid_module);
        const char *where;

        if (sc->password_conflict) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00027) "WxReplayCachePassword in %s:%u, "
                         "which shares its WxReplayCache with the main "
                         "server: give it its own WxReplayCache, or set the "
                         "password where the store is",
                         v->server_hostname ? v->server_hostname : "?",
                         (unsigned)v->port);
            return !OK;
        }
        if (sc->password != NULL
            && (sc->store == NULL || !wxv_store_takes_password(sc->store))) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00025) "WxReplayCachePassword is for a "
                         "WxReplayCache on Redis, and %s:%u has %s",
                         v->server_hostname ? v->server_hostname : "?",
                         (unsigned)v->port, sc->store
                         ? wxv_store_name(sc->store) : "none");
            return !OK;
        }
        if (sc->store == NULL
            && (where = wxv_section_with(ptemp, v, wxv_dedups)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00026) "WxDedup needs a WxReplayCache, "
                         "but %s of %s:%u has WxDedup on and none", where,
                         v->server_hostname ? v->server_hostname : "?",
                         (unsigned)v->port);
            return !OK;
        }
        if (sc->store != NULL
            && (where = wxv_section_with(ptemp, v, wxv_unbounded)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00018) "WxReplayCache needs a bounded "
                         "WxMaxAge, but %s of %s:%u has WxMaxAge off", where,
                         v->server_hostname ? v->server_hostname : "?",
                         (unsigned)v->port);
            return !OK;
        }
    }
    return OK;
}

/*
 * The counters' shared memory, and each WxReplayCache's store: refused
 * where a section of its server has no bounded WxMaxAge (check_config),
 * initialised once (virtual hosts share their server's).
 */
static int wxv_post_config_caches(apr_pool_t *pconf, apr_pool_t *ptemp,
                                  server_rec *s)
{
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    wxv_counters = NULL;
    rv = apr_shm_create(&shm, WXV_N_COUNTERS * sizeof(apr_uint32_t), NULL,
                        pconf);
    if (rv == APR_SUCCESS) {
        wxv_counters = apr_shm_baseaddr_get(shm);
        memset(wxv_counters, 0, WXV_N_COUNTERS * sizeof(apr_uint32_t));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, WXVLOGNO(00017)
                     "no shared memory for the mod_status counters");
    }
    return wxv_stores_init(pconf, ptemp, s) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

static void wxv_child_init(apr_pool_t *p, server_rec *s)
{
    wxv_stores_child_init(p, s);
}

/*
 * apr_crypto's openssl driver, once per configuration (as
 * mod_session_crypto does).  Fatal only when the configuration holds a
 * WxEncodingAESKey; otherwise a later .htaccess key gets no-key answers.
 */
static int wxv_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    const char *why = NULL, *detail = NULL;
    apr_status_t rv;

    (void)plog;
    ap_add_version_component(pconf, "mod_wx_valid/" WXV_VERSION);
    if (wxv_post_config_caches(pconf, ptemp, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    wxv_crypto = NULL;
    rv = wx_crypto_open(pconf, &wxv_crypto, &why, &detail);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, wxv_keys_in_config ? APLOG_CRIT
                                                    : APLOG_DEBUG,
                     rv, s, WXVLOGNO(00013) "%s%s%s: WxEncodingAESKey "
                     "cannot work", why, detail ? ": " : "",
                     detail ? detail : "");
        return wxv_keys_in_config ? HTTP_INTERNAL_SERVER_ERROR : OK;
    }
    return OK;
}

static void wxv_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(wxv_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(wxv_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(wxv_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(wxv_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(wxv_fixups, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(wxv_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(wxv_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    ap_hook_child_init(wxv_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(wxv_log_transaction, NULL, NULL,
                            APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, wxv_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_register_input_filter(WXV_PLAIN_IN, wxv_plain_in, NULL,
                             AP_FTYPE_RESOURCE);
    /* A resource filter, so it acts before any byte is sent. */
    ap_register_output_filter(WXV_RELEASE, wxv_release_out, NULL,
                              AP_FTYPE_RESOURCE);
    /* After every other resource filter (mod_substitute, INCLUDES...),
     * which would otherwise rewrite the envelope; before mod_deflate. */
    ap_register_output_filter(WXV_REPLY_OUT, wxv_reply_out, NULL,
                              AP_FTYPE_CONTENT_SET - 1);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wx-signature",
                              AUTHZ_PROVIDER_VERSION, &wxv_authz_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(wx_valid) = {
    STANDARD20_MODULE_STUFF,
    wxv_create_dir_conf,
    wxv_merge_dir_conf,
    wxv_create_srv_conf,
    wxv_merge_srv_conf,
    wxv_cmds,
    wxv_register_hooks,
    AP_MODULE_FLAG_NONE
};
