/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wxv_pay.c: WeChat Pay API v3 notifications in Apache: the directives
 * WxPayPublicKey, WxPayAPIv3Key and WxPayMaxAge, the authz provider
 * "wxpay-signature", and what the app behind it gets (the decrypted
 * resource, X-WxPay-* headers, WXPAY_* variables) or what WeChat Pay gets
 * instead (401, {"code":"FAIL","message":...}).  The protocol itself is
 * wx_pay.c's, which knows nothing of httpd.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "util_filter.h"

#include "apr_file_io.h"
#include "apr_strings.h"

#include "mod_wx_valid.h"

APLOG_USE_MODULE(wx_valid);

#define WXV_PAY_JSON "WX_PAY_JSON"

/* The headers and variables the app gets, and the client may not send. */
static const char *const wxv_pay_out[][2] = {
    { "X-WxPay-Id",            "WXPAY_ID" },
    { "X-WxPay-Event-Type",    "WXPAY_EVENT_TYPE" },
    { "X-WxPay-Resource-Type", "WXPAY_RESOURCE_TYPE" },
    { "X-WxPay-Create-Time",   "WXPAY_CREATE_TIME" },
};
#define WXV_PAY_OUT (sizeof(wxv_pay_out) / sizeof(wxv_pay_out[0]))

/* One notification's judgement, for the HTTP request (wxv_http). */
typedef struct wxv_pay {
    /* The configuration it was judged under: an internal redirect or a
     * subrequest into a section with other keys is not judged again (the
     * body may be the plaintext by then), it is refused. */
    const apr_array_header_t *keys, *apiv3;
    apr_int64_t max_age;
    wx_result_t rc;
    const char *why;
    int deferred;                 /* a status authz cannot give (413...) */
    const char *values[WXV_PAY_OUT];  /* with a key: id, event_type, ... */
    apr_size_t plain_len;         /* with a key: the resource's length */
} wxv_pay;

/* -- the directives ------------------------------------------------------ */

const char *wxv_cmd_pay_key(cmd_parms *cmd, void *dconf, const char *id,
                            const char *file)
{
    wxv_dir_conf *conf = dconf;
    const char *path = ap_server_root_relative(cmd->temp_pool, file);
    const wx_pay_key_t **slot;
    wx_pay_key_t *key = NULL;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    char *pem, buf[120];
    apr_status_t rv;
    const char *why;
    int i;

    if (path == NULL) {
        return apr_pstrcat(cmd->pool, "WxPayPublicKey ", id, ": bad path ",
                           file, NULL);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        if (rv == APR_SUCCESS && fi.size > 65536) {
            apr_file_close(f);
            return apr_pstrcat(cmd->pool, "WxPayPublicKey ", id, ": ", path,
                               " is over 64 KiB: not a key", NULL);
        }
    }
    if (rv == APR_SUCCESS) {
        n = (apr_size_t)fi.size;
        pem = apr_palloc(cmd->temp_pool, n + 1);
        rv = apr_file_read_full(f, pem, n, &n);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        return apr_pstrcat(cmd->pool, "WxPayPublicKey ", id, ": cannot read ",
                           path, ": ", apr_strerror(rv, buf, sizeof(buf)),
                           NULL);
    }
    pem[n] = '\0';
    why = wx_pay_key_parse(cmd->pool, id, pem, n, &key);
    if (why != NULL) {
        return apr_pstrcat(cmd->pool, "WxPayPublicKey ", id, ": ", path, ": ",
                           why, NULL);
    }
    if (conf->pay_keys == NULL) {
        conf->pay_keys = apr_array_make(cmd->pool, 2, sizeof(key));
    }
    for (i = 0; i < conf->pay_keys->nelts; i++) {
        if (strcmp(wx_pay_key_id(APR_ARRAY_IDX(conf->pay_keys, i,
                                               const wx_pay_key_t *)),
                   id) == 0) {
            return apr_pstrcat(cmd->pool, "WxPayPublicKey ", id,
                               ": that id is given twice in this section",
                               NULL);
        }
    }
    slot = apr_array_push(conf->pay_keys);
    *slot = key;
    return NULL;
}

const char *wxv_cmd_pay_apiv3(cmd_parms *cmd, void *dconf, const char *key,
                              const char *previous)
{
    wxv_dir_conf *conf = dconf;
    const char *k[2] = { key, previous }, *why;
    int i;

    wxv_hide_args(cmd);
    conf->pay_apiv3 = apr_array_make(cmd->pool, 2,
                                     sizeof(const unsigned char *));
    for (i = 0; i < 2 && k[i] != NULL; i++) {
        if ((why = wx_pay_apiv3_key_problem(k[i])) != NULL) {
            /* The key's position, never its value. */
            return apr_pstrcat(cmd->pool, "WxPayAPIv3Key: the ",
                               i == 0 ? "key" : "previous key", " ", why,
                               " (an APIv3 key is 32 bytes)", NULL);
        }
        APR_ARRAY_PUSH(conf->pay_apiv3, const unsigned char *) =
            (const unsigned char *)apr_pstrdup(cmd->pool, k[i]);
    }
    return NULL;
}

const char *wxv_cmd_pay_max_age(cmd_parms *cmd, void *dconf, const char *arg)
{
    return wxv_cmd_age(cmd, arg, &((wxv_dir_conf *)dconf)->pay_max_age);
}

/* -- the judgement ------------------------------------------------------- */

/*
 * Each Wechatpay-* header's value and count (a repeat is a refusal).
 * httpd joins a request header sent twice into one value, with ", "
 * between them; none of these values can hold a comma, so one that does
 * was sent more than once.
 */
static int wxv_pay_header(void *rec, const char *key, const char *value)
{
    wx_pay_headers_t *h = rec;
    const char *c;
    int i;

    for (i = 0; i < WX_PAY_H_COUNT; i++) {
        if (ap_cstr_casecmp(key, wx_pay_header_names[i]) == 0) {
            h->v[i] = value;
            h->n[i]++;
            for (c = strchr(value, ','); c != NULL; c = strchr(c + 1, ',')) {
                h->n[i]++;
            }
        }
    }
    return 1;
}

/*
 * With a WxReplayCache, each notification id reaches the app once: a copy
 * of one answered 2xx is acknowledged (204, wxv_handler), one still being
 * handled gets a failure (503), which WeChat Pay retries.
 */
static wx_result_t wxv_pay_claim(request_rec *r, const char *id, wxv_pay *st)
{
    const wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                                  &wx_valid_module);
    unsigned char key[WX_SIG_LEN];
    wx_result_t rc;

    if (sc->store == NULL) {
        return WX_OK;
    }
    wx_pay_dedup_id(id, key);
    rc = wxv_claim_delivery(r, key, "the notification's id", &st->why);
    if (rc == WX_PAY_IN_FLIGHT || rc == WX_CACHE_ERROR) {
        st->deferred = HTTP_SERVICE_UNAVAILABLE;
    }
    return rc;
}

/*
 * The notification in br (the request with the body), judged under conf
 * in the order of wx_pay.h: headers, serial, timestamp, signature over
 * the body as sent, then with an APIv3 key the JSON and the resource.
 * A resource that decrypted becomes the body the app reads.
 */
static void wxv_pay_judge(request_rec *r, request_rec *br,
                          const wxv_dir_conf *conf, wxv_pay *st)
{
    wx_pay_headers_t hd;
    const wx_pay_key_t *key;
    wx_pay_notice_t m;
    wxv_http *h;
    char *plain;
    apr_size_t plen;
    int which;

    memset(&hd, 0, sizeof(hd));
    apr_table_do(wxv_pay_header, &hd, br->headers_in, NULL);
    if ((st->rc = wx_pay_headers_check(&hd, &st->why)) != WX_OK) {
        return;
    }
    key = wx_pay_key_find((const wx_pay_key_t *const *)conf->pay_keys->elts,
                          conf->pay_keys->nelts, hd.v[WX_PAY_H_SERIAL]);
    if (key == NULL) {
        /* The serial is logged (checked: printable, no space, bounded):
         * the admin needs it to fetch the new key. */
        st->rc = WX_PAY_UNKNOWN_SERIAL;
        st->why = apr_psprintf(r->pool, "Wechatpay-Serial %s names none of "
                               "the keys", hd.v[WX_PAY_H_SERIAL]);
        return;
    }
    st->rc = wx_pay_fresh(hd.v[WX_PAY_H_TIMESTAMP], r->request_time,
                          conf->pay_max_age == 0 ? WX_MAX_AGE_DEFAULT
                                                 : conf->pay_max_age,
                          &st->why);
    if (st->rc != WX_OK) {
        return;
    }
    h = wxv_read_body(br);
    if (h->body_rc != WX_OK) {
        /* 413 beyond the limit; any other body WeChat Pay never sends (a
         * Content-Encoding, a broken chunk) is a malformed notification,
         * unless httpd has answered it already. */
        st->why = h->body_why;
        if (h->body_rc == WX_TOO_LARGE) {
            st->rc = WX_TOO_LARGE;
            st->deferred = wxv_status(WX_TOO_LARGE);
        }
        else {
            st->rc = WX_PAY_MALFORMED;
            st->deferred = h->body_status == AP_FILTER_ERROR
                           ? AP_FILTER_ERROR : wxv_status(WX_PAY_MALFORMED);
        }
        return;
    }
    st->rc = wx_pay_verify(key, hd.v[WX_PAY_H_TIMESTAMP],
                           hd.v[WX_PAY_H_NONCE], h->body ? h->body : "",
                           h->body_len, hd.v[WX_PAY_H_SIGNATURE], &st->why);
    if (st->rc != WX_OK) {
        return;
    }
    if (conf->pay_apiv3 == NULL) {
        /* Verified only: the body goes on exactly as it came (and is
         * claimed by its id, when it has one). */
        h->body_raw = 1;
        if (wx_pay_parse(br->pool, h->body, h->body_len, &m, &st->why)
                == WX_OK
            && (st->rc = wxv_pay_claim(r, m.id, st)) != WX_OK) {
            return;
        }
        st->rc = WX_OK;
        st->why = apr_psprintf(r->pool, "signed by %s; not decrypted (no "
                               "WxPayAPIv3Key)", wx_pay_key_id(key));
        return;
    }
    st->rc = wx_pay_parse(br->pool, h->body, h->body_len, &m, &st->why);
    if (st->rc != WX_OK) {
        return;
    }
    st->rc = wx_pay_decrypt(br->pool,
                            (const unsigned char *const *)
                            conf->pay_apiv3->elts, conf->pay_apiv3->nelts,
                            &m, &plain, &plen, &which, &st->why);
    if (st->rc != WX_OK) {
        return;
    }
    /* Only now, when it is WeChat Pay's and opens: claimed by its id. */
    if ((st->rc = wxv_pay_claim(r, m.id, st)) != WX_OK) {
        return;
    }
    h->body = plain;
    h->body_len = plen;
    h->body_raw = 1;
    st->plain_len = plen;
    st->values[0] = m.id;
    st->values[1] = m.event_type;
    st->values[2] = m.resource_type;
    st->values[3] = m.create_time;
    st->why = apr_psprintf(r->pool, "signed by %s, decrypted with "
                           "WxPayAPIv3Key %d of %d", wx_pay_key_id(key),
                           which + 1, conf->pay_apiv3->nelts);
}

/* The answer WeChat Pay reads on a refusal: its own failure shape, for
 * the request and for the main one (mod_dir answers for the main request
 * what its subrequest got). */
static void wxv_pay_refusal_page(request_rec *r, const wxv_pay *st)
{
    int status = st->deferred ? st->deferred : wxv_status(st->rc);
    const char *json = apr_pstrcat(r->pool, "{\"code\":\"FAIL\",\"message\":\"",
                                   wx_result_name(st->rc), "\"}", NULL);

    ap_custom_response(r, status, json);
    if (wxv_body_request(r) != r) {
        ap_custom_response(wxv_body_request(r), status, json);
    }
}

/* The four names the app trusts, as the client may have sent them. */
static void wxv_pay_strip(request_rec *r)
{
    apr_size_t i;

    for (i = 0; i < WXV_PAY_OUT; i++) {
        apr_table_unset(r->headers_in, wxv_pay_out[i][0]);
    }
}

/*
 * Require wxpay-signature: grant only a notification that WeChat Pay
 * signed, with a key in effect, fresh, and (with a WxPayAPIv3Key) whose
 * resource decrypts.  WeChat Pay's failure answer is a 401 (or 413) with
 * its JSON, which authz cannot give (a denial is httpd's 403; "no user"
 * is a 500 without an AuthType): so a refusal is granted here and given
 * by wxv_pay_fixups before any handler runs, whatever another Require
 * line said.
 */
static authz_status wxv_pay_check(request_rec *r, const char *line,
                                  const void *parsed)
{
    const wxv_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                    &wx_valid_module);
    request_rec *br = wxv_body_request(r);
    wxv_http *h = wxv_http_of(r, 1);
    wxv_pay *st = h->pay;

    (void)line;
    (void)parsed;
    if (st != NULL && (st->keys != conf->pay_keys
                       || st->apiv3 != conf->pay_apiv3
                       || st->max_age != conf->pay_max_age)) {
        /* Judged under other keys: not this section's notification. */
        if (st->rc == WX_OK || st->rc == WX_DUPLICATE) {
            st->rc = WX_PAY_MALFORMED;
            st->why = "an internal redirect or subrequest took the "
                      "notification into a section with other WeChat Pay "
                      "keys or settings";
            st->deferred = wxv_status(st->rc);
            wxv_outcome(r, st->rc, st->why);
        }
        return AUTHZ_GRANTED;
    }
    if (st == NULL) {
        st = h->pay = apr_pcalloc(br->pool, sizeof(*st));
        st->keys = conf->pay_keys;
        st->apiv3 = conf->pay_apiv3;
        st->max_age = conf->pay_max_age;
        /* Whatever the client sent under the names the app trusts. */
        wxv_pay_strip(br);
        wxv_pay_strip(r);
        if (conf->pay_keys == NULL) {
            st->rc = WX_PAY_NO_KEY;
            st->why = "Require wxpay-signature without a WxPayPublicKey in "
                      "effect";
        }
        else {
            wxv_pay_judge(r, br, conf, st);
        }
        wxv_outcome(r, st->rc, st->why);
        if (st->rc == WX_PAY_NO_KEY) {
            /* httpd's 500 for AUTHZ_GENERAL_ERROR, with our body; every
             * other refusal is given, page and all, by wxv_pay_fixups. */
            wxv_pay_refusal_page(r, st);
        }
        else if (st->rc != WX_OK && st->rc != WX_DUPLICATE
                 && !st->deferred) {
            st->deferred = wxv_status(st->rc);
        }
    }
    return st->rc == WX_PAY_NO_KEY ? AUTHZ_GENERAL_ERROR : AUTHZ_GRANTED;
}

static const char *wxv_pay_parse_line(cmd_parms *cmd, const char *line,
                                      const void **parsed)
{
    (void)cmd;
    (void)parsed;
    return wxv_require_no_args(line, "Require wxpay-signature takes no "
                               "arguments (the keys come from "
                               "WxPayPublicKey)");
}

static const authz_provider wxv_pay_provider = {
    &wxv_pay_check,
    &wxv_pay_parse_line,
};

int wxv_pay_fixups(request_rec *r)
{
    const wxv_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                    &wx_valid_module);
    wxv_http *h = wxv_http_of(r, 0);
    wxv_pay *st = h ? h->pay : NULL;
    apr_size_t i;

    /* Wherever WeChat Pay's keys are in effect, the names the app trusts
     * are ours alone: for each request (a subrequest has its own copy of
     * the headers; trailers are merged late), whether or not this
     * provider was asked (another Require line may have granted). */
    if (conf->pay_keys != NULL || st != NULL) {
        wxv_pay_strip(r);
    }
    if (st == NULL) {
        return DECLINED;
    }
    if (st->deferred) {
        if (st->deferred != AP_FILTER_ERROR) {   /* (httpd answered that) */
            wxv_pay_refusal_page(r, st);
        }
        return st->deferred;
    }
    if (st->rc == WX_DUPLICATE) {
        /* Answered before: wxv_handler acknowledges it (204), whatever
         * handler was chosen; the app is not reached. */
        h->ack = 1;
        return DECLINED;
    }
    if (st->rc != WX_OK || st->values[0] == NULL) {
        return DECLINED;
    }
    /* The decrypted resource is the body: JSON, its length, as is. */
    apr_table_unset(r->headers_in, "Transfer-Encoding");
    apr_table_unset(r->headers_in, "Content-Encoding");
    apr_table_setn(r->headers_in, "Content-Type", "application/json");
    apr_table_setn(r->headers_in, "Content-Length",
                   apr_off_t_toa(r->pool, (apr_off_t)st->plain_len));
    for (i = 0; i < WXV_PAY_OUT; i++) {
        apr_table_setn(r->headers_in, wxv_pay_out[i][0], st->values[i]);
        apr_table_setn(r->subprocess_env, wxv_pay_out[i][1], st->values[i]);
    }
    return DECLINED;
}

/* The refusal's body is JSON: the error page's Content-Type is set late. */
static apr_status_t wxv_pay_json_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void wxv_pay_error_filter(request_rec *r)
{
    wxv_http *h = wxv_http_of(r, 0);

    if (h != NULL && h->pay != NULL && h->pay->rc != WX_OK
        && h->pay->rc != WX_DUPLICATE) {
        ap_add_output_filter(WXV_PAY_JSON, NULL, r, r->connection);
    }
}

void wxv_pay_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wxpay-signature",
                              AUTHZ_PROVIDER_VERSION, &wxv_pay_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_output_filter(WXV_PAY_JSON, wxv_pay_json_out, NULL,
                              AP_FTYPE_CONTENT_SET);
}
