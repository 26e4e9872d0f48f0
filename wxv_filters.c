/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wxv_filters.c: the request body and the reply of mod_wx_valid.  The
 * body is read up front, once per HTTP request (the signature covers it);
 * an input filter hands the app the decrypted plaintext, or the body as
 * it was sent; an output filter holds the app's reply to a safe-mode
 * message until it is whole and has the core seal it.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "apr_buckets.h"
#include "apr_strings.h"

#include "mod_wx_valid.h"

APLOG_USE_MODULE(wx_valid);

#define WXV_PLAIN_IN  "WX_PLAIN_BODY"
#define WXV_REPLY_OUT "WX_ENCRYPT_REPLY"

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
void wxv_replay(request_rec *r, const char *p, apr_size_t n)
{
    wxv_plain_ctx *in = apr_palloc(r->pool, sizeof(*in));

    in->p = p;
    in->left = n;
    ap_add_input_filter(WXV_PLAIN_IN, in, r, r->connection);
}

/*
 * Whether r's request line came with a body: a Transfer-Encoding or a
 * Content-Length over 0.  Unlike ap_request_has_body(), a HEAD counts:
 * httpd reads its body as any other for whatever asks (mod_proxy,
 * php-fpm's php://input).
 */
int wxv_has_body(const request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t n;

    return apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
           || (cl != NULL && (!ap_parse_strict_length(&n, cl) || n > 0));
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
void wxv_as_plain(request_rec *r, const wxv_message *msg)
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
void wxv_attach(request_rec *r, const wxv_message *msg)
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
 * Read br's body, once per HTTP request, up to WX_MAX_BODY bytes, into one
 * buffer from br->pool (it outlives any subrequest that asked).  A body
 * that still carries a Content-Encoding once httpd's input filters are
 * done (mod_deflate's INFLATE removes the header as it inflates) is not
 * WeChat's: refused, whatever it holds.
 */
wxv_http *wxv_read_body(request_rec *br)
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
 * body that is a reply by WeChat's rule (wx_reply_is_ack) goes out sealed
 * by the core (wx_reply_seal) with the key that decrypted the request,
 * for the request's receiveid, in the request's envelope, signed with the
 * token that signed the request.
 */
static apr_status_t wxv_reply_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    wxv_reply_ctx *ctx = f->ctx;
    const wxv_message *msg;
    char *body, *out;
    const char *why = NULL;
    apr_size_t len, outlen;
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
    if (wx_reply_is_ack(body, len)) {
        ap_remove_output_filter(f);
        return ap_pass_brigade(f->next, ctx->bb);
    }
    rv = wx_reply_seal(r->pool, wxv_crypto, &msg->key, msg->token,
                       &msg->receiveid, msg->env, body, len,
                       (apr_int64_t)apr_time_sec(apr_time_now()), &out,
                       &outlen, &why);
    if (rv != APR_SUCCESS) {
        return wxv_reply_fail(f, bb, rv, why);
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

void wxv_filters_register(void)
{
    ap_register_input_filter(WXV_PLAIN_IN, wxv_plain_in, NULL,
                             AP_FTYPE_RESOURCE);
    /* After every other resource filter (mod_substitute, INCLUDES...),
     * which would otherwise rewrite the envelope; before mod_deflate. */
    ap_register_output_filter(WXV_REPLY_OUT, wxv_reply_out, NULL,
                              AP_FTYPE_CONTENT_SET - 1);
}
