/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_wx_valid: WeChat server-callback security, terminated in Apache httpd.
 *
 * This file: the directives and their per-directory merge, the verdict on
 * a request (which mode, which checks, in which order), the "wx-valid"
 * handler, the "wx-signature" authz provider, the hooks that act on the
 * verdict, and the module record.  The body and the reply are
 * wxv_filters.c's, the replay cache and the counters wxv_store.c's; the
 * protocol itself (query, signatures, AES, envelopes, WeChat's rules) is
 * wx_protocol.c's and wx_crypto.c's, which know nothing of httpd.
 */
#include <errno.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"

#include "apr_lib.h"
#include "apr_strings.h"

#include "mod_wx_valid.h"
#include "wx_version.h"    /* WXV_VERSION, made from VERSION by make */

#define WXV_HANDLER   "wx-valid"
#define WXV_ACK       1      /* st->deferred: acknowledge, not a status */


#define WXV_ON  1
#define WXV_OFF 2

/* WxDedupWindow's default: WeChat retries a message three times, 5 s
 * apart (its timeout); a minute covers that four times over. */
#define WXV_DEDUP_WINDOW_DEFAULT 60

const apr_crypto_t *wxv_crypto;
/* A WxEncodingAESKey in the server's configuration: a crypto failure at
 * start-up is then fatal.  (.htaccess files are read later.) */
static int wxv_keys_in_config;

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

static void *wxv_create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(wxv_dir_conf));
}

/*
 * A child inherits what it leaves unset; a WxToken in the child replaces
 * the parent's tokens.  A child that sets nothing of ours (every section
 * of every request is merged, ours or not) is its parent.
 */
static void *wxv_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const wxv_dir_conf *base = basev, *add = addv;
    wxv_dir_conf *conf;

#define WXV_SET(f) || add->f
    if (!(0 WXV_DIR_FIELDS(WXV_SET))) {
        return basev;
    }
#undef WXV_SET
    conf = apr_palloc(p, sizeof(*conf));
#define WXV_MERGE(f) conf->f = add->f ? add->f : base->f;
    WXV_DIR_FIELDS(WXV_MERGE)
#undef WXV_MERGE
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
    return conf->max_age == 0 ? WX_MAX_AGE_DEFAULT : conf->max_age;
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
 * log it, at its level, with its tag and reason (WX_RESULTS).  The core's
 * reasons never hold request input; the URI is escaped since it does.
 */
void wxv_outcome(request_rec *r, wx_result_t rc, const char *why)
{
    apr_table_setn(r->notes, WXV_NOTE, wx_result_name(rc));
    switch (rc) {
#define WXV_LOG(e, name, counter, status, tag, level, dir) \
    case WX_##e: \
        if (APLOG_R_IS_LEVEL(r, APLOG_##level)) { \
            ap_log_rerror(APLOG_MARK, APLOG_##level, 0, r, WXVLOGNO(tag) \
                          name ": %s" dir ", for %s", why, \
                          ap_escape_logitem(r->pool, r->uri)); \
        } \
        break;
    WX_RESULTS(WXV_LOG)
#undef WXV_LOG
    default:
        break;
    }
}

int wxv_status(wx_result_t rc)
{
    static const int statuses[WX_RESULT_COUNT] = {
#define WXV_STATUS(e, name, counter, status, tag, level, dir) status,
        WX_RESULTS(WXV_STATUS)
#undef WXV_STATUS
    };

    return rc >= 0 && rc < WX_RESULT_COUNT ? statuses[rc]
                                           : HTTP_INTERNAL_SERVER_ERROR;
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
    rc = wxv_claim(r, id, (apr_uint32_t)ttl, "the signed timestamp and nonce",
                   "its timestamp and nonce were claimed before: answered, "
                   "or still being handled; acknowledged", &st->why);
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
 * retry signed with the other one during a rotation is the same message.
 * A message without such a key (or not XML or JSON) goes to the app as it
 * is.
 */
static wx_result_t wxv_dedup_check(request_rec *r, wxv_req_state *st,
                                   const char *msg, apr_size_t len)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    unsigned char id[WX_SIG_LEN];
    const char *why = NULL;
    wx_message_t m;

    if (st->conf->dedup != WXV_ON || sc->store == NULL
        || wx_message_parse(r->pool, msg, len, &m, &why) != WX_OK
        || !wx_dedup_id(&m, APR_ARRAY_IDX(st->conf->tokens, 0,
                                          const char *), id)) {
        return WX_OK;
    }
    return wxv_claim(r, id,
                     (apr_uint32_t)(st->conf->dedup_window == 0
                                    ? WXV_DEDUP_WINDOW_DEFAULT
                                    : st->conf->dedup_window),
                     "the message, for WxDedup",
                     "the same message was claimed before (WxDedup): "
                     "answered, or still being handled; acknowledged",
                     &st->why);
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
                                      &wx_valid_module)) == NULL) {
        return NULL;
    }
#define WXV_DIFFERS(f) || st->conf->f != conf->f
    if (0 WXV_DIR_FIELDS(WXV_DIFFERS)) {
        return NULL;
    }
#undef WXV_DIFFERS
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
    switch (wx_mode(&st->q, conf->keys != NULL, st->body)) {
    case WX_MODE_MSG:
        wxv_verify_msg(r, br, conf, st);
        return st;
    case WX_MODE_UNSIGNED:
        st->rc = WX_MALFORMED;
        st->why = "msg_signature missing, and a WxEncodingAESKey is in "
                  "effect";
        return st;
    case WX_MODE_PLAIN:
        break;
    }
    st->rc = wx_verify_plain(&st->q, (const char *const *)conf->tokens->elts,
                             conf->tokens->nelts, r->request_time,
                             wxv_window(r, conf), &st->which, &st->why);
    if (st->rc == WX_OK) {
        st->rc = wxv_replay_check(r, st);
    }
    if (st->rc == WX_OK && st->body && conf->dedup == WXV_ON) {
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
    wxv_outcome(r, WX_NO_TOKEN, apr_pstrcat(r->pool, what, " without a "
                                            "WxToken in effect", NULL));
    return 1;
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
        if (h->pay != NULL) {
            /* WeChat Pay's "received": 204 (200 or 204 is success). */
            r->status = HTTP_NO_CONTENT;
        }
        return OK;
    }
    if (!r->handler || strcmp(r->handler, WXV_HANDLER) != 0) {
        return DECLINED;
    }

    if (r->method_number != M_GET) {
        /* httpd builds Allow from allowed_methods; GET brings HEAD along. */
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        wxv_plain_page(r, HTTP_METHOD_NOT_ALLOWED);
        wxv_outcome(r, WX_METHOD,
                    apr_pstrcat(r->pool, ap_escape_logitem(r->pool, r->method),
                                " is not GET or HEAD", NULL));
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
    int rv;

    /* Require wxpay-signature's (it holds no wxv_req_state). */
    if ((rv = wxv_pay_fixups(r)) != DECLINED) {
        return rv;
    }
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
        wxv_add_release_filter(r);
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

/* An error page (ap_die): the resource filters are gone by then. */
static void wxv_insert_error_filter(request_rec *r)
{
    wxv_pay_error_filter(r);
    wxv_release_failed(r, r->status);
}

/*
 * After the response: count the request's outcome, and give back its
 * claims if the request failed (non-2xx) and nothing did so before (a
 * request that sent no response at all).
 */
static int wxv_log_transaction(request_rec *r)
{
    const request_rec *last = r;

    wxv_count(r);
    while (last->next != NULL) {
        last = last->next;
    }
    wxv_release_failed(r, last->status);
    return DECLINED;
}

const char *wxv_require_no_args(const char *line, const char *refusal)
{
    while (line && apr_isspace(*line)) {
        line++;
    }
    return line && *line ? refusal : NULL;
}

static const char *wxv_authz_parse(cmd_parms *cmd, const char *line,
                                   const void **parsed)
{
    (void)cmd;
    (void)parsed;
    return wxv_require_no_args(line, "Require wx-signature takes no "
                               "arguments (the tokens come from WxToken)");
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
void wxv_hide_args(cmd_parms *cmd)
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
                                "WeChat's rule is " WX_STR(WX_TOKEN_MIN) " to "
                                WX_STR(WX_TOKEN_MAX) " ASCII letters or "
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
const char *wxv_cmd_age(cmd_parms *cmd, const char *arg, apr_int64_t *out)
{
    apr_int64_t n;

    if (ap_cstr_casecmp(arg, "off") == 0) {
        *out = WX_MAX_AGE_OFF;
        return NULL;
    }
    if (!wxv_seconds(arg, &n)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " takes a number of "
                           "seconds from 1 to " WX_STR(WX_MAX_AGE_LIMIT)
                           ", or off", NULL);
    }
    *out = n;
    return NULL;
}

static const char *wxv_cmd_max_age(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    return wxv_cmd_age(cmd, arg, &((wxv_dir_conf *)dconf)->max_age);
}

/* WxDedupWindow seconds */
static const char *wxv_cmd_dedup_window(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    wxv_dir_conf *conf = dconf;
    apr_int64_t n;

    (void)cmd;
    if (!wxv_seconds(arg, &n)) {
        return "WxDedupWindow takes a number of seconds from 1 to "
               WX_STR(WX_MAX_AGE_LIMIT);
    }
    conf->dedup_window = n;
    return NULL;
}

/* WxDedup on|off */
static const char *wxv_cmd_dedup(cmd_parms *cmd, void *dconf, int on)
{
    wxv_dir_conf *conf = dconf;

    (void)cmd;
    conf->dedup = on ? WXV_ON : WXV_OFF;
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
                                "%s; an EncodingAESKey is "
                                WX_STR(WX_AES_KEY_CHARS) " ASCII letters "
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
        return "WxAppID: over " WX_STR(WX_RECEIVEID_MAX) " characters; an "
               "AppID, CorpID or SuiteID "
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
                      "One or more WeChat Tokens (" WX_STR(WX_TOKEN_MIN) " to "
                      WX_STR(WX_TOKEN_MAX) " ASCII letters or "
                      "digits); any one may sign"),
    AP_INIT_TAKE1("WxMaxAge", wxv_cmd_max_age, NULL, RSRC_CONF | OR_AUTHCFG,
                  "Seconds a signed timestamp may differ from the server "
                  "clock (default 300), or off"),
    AP_INIT_TAKE12("WxEncodingAESKey", wxv_cmd_aes_key, NULL,
                   RSRC_CONF | OR_AUTHCFG,
                   "Safe mode and WeCom: the EncodingAESKey ("
                   WX_STR(WX_AES_KEY_CHARS) " letters or "
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
    AP_INIT_TAKE2("WxPayPublicKey", wxv_cmd_pay_key, NULL,
                  RSRC_CONF | ACCESS_CONF, "WeChat Pay: a verifying key's "
                  "id (a platform certificate's serial, or PUB_KEY_ID_...) "
                  "and its PEM file (certificate or public key); repeatable"),
    AP_INIT_TAKE12("WxPayAPIv3Key", wxv_cmd_pay_apiv3, NULL,
                   RSRC_CONF | OR_AUTHCFG, "WeChat Pay: the merchant's "
                   "APIv3 key (32 bytes), and the previous one during a "
                   "change; without it notifications are verified only"),
    AP_INIT_TAKE1("WxPayMaxAge", wxv_cmd_pay_max_age, NULL,
                  RSRC_CONF | OR_AUTHCFG, "WeChat Pay: seconds "
                  "Wechatpay-Timestamp may differ from the server clock "
                  "(default 300), or off"),
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

/* WeChat Pay's too: a notification's id is kept for 25 hours
 * (WXV_ANSWERED_TTL), not for ever, so an older one must be stale. */
static int wxv_pay_unbounded(const wxv_dir_conf *dc)
{
    return dc->pay_max_age == WX_MAX_AGE_OFF;
}

static int wxv_dedups(const wxv_dir_conf *dc)
{
    return dc->dedup == WXV_ON;
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

/* A virtual host as check_config's messages name it: host:port. */
static const char *wxv_vhost_name(apr_pool_t *p, const server_rec *v)
{
    return apr_psprintf(p, "%s:%u",
                        v->server_hostname ? v->server_hostname : "?",
                        (unsigned)v->port);
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
                         WXVLOGNO(00027) "WxReplayCachePassword in %s, "
                         "which shares its WxReplayCache with the main "
                         "server: give it its own WxReplayCache, or set the "
                         "password where the store is",
                         wxv_vhost_name(ptemp, v));
            return !OK;
        }
        if (sc->password != NULL
            && (sc->store == NULL || !wxv_store_takes_password(sc->store))) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00025) "WxReplayCachePassword is for a "
                         "WxReplayCache on Redis, and %s has %s",
                         wxv_vhost_name(ptemp, v),
                         sc->store ? wxv_store_name(sc->store) : "none");
            return !OK;
        }
        if (sc->store == NULL
            && (where = wxv_section_with(ptemp, v, wxv_dedups)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00026) "WxDedup needs a WxReplayCache, "
                         "but %s of %s has WxDedup on and none", where,
                         wxv_vhost_name(ptemp, v));
            return !OK;
        }
        if (sc->store != NULL
            && (where = wxv_section_with(ptemp, v, wxv_unbounded)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00018) "WxReplayCache needs a bounded "
                         "WxMaxAge, but %s of %s has WxMaxAge off", where,
                         wxv_vhost_name(ptemp, v));
            return !OK;
        }
        if (sc->store != NULL
            && (where = wxv_section_with(ptemp, v, wxv_pay_unbounded))
               != NULL) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         WXVLOGNO(00040) "WxReplayCache needs a bounded "
                         "WxPayMaxAge (a notification's id is kept for 25 "
                         "hours), but %s of %s has WxPayMaxAge off", where,
                         wxv_vhost_name(ptemp, v));
            return !OK;
        }
    }
    return OK;
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
    /* Each WxReplayCache's store, refused where a section of its server
     * has no bounded WxMaxAge (check_config), and the counters. */
    if (wxv_stores_init(pconf, ptemp, s) != APR_SUCCESS) {
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
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wx-signature",
                              AUTHZ_PROVIDER_VERSION, &wxv_authz_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    wxv_filters_register();
    wxv_store_register();
    wxv_pay_register(p);
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
