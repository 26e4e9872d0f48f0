/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_wx_bench: the benchmark's baseline, not for production.
 *
 * "SetHandler wx-bench-echo" answers the echostr of a verification GET
 * with no check at all: what an app that skips the signature does.  It
 * sends its answer the same way mod_wx_valid does, so the difference
 * between the two is the cost of parsing, signing and checking.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"

static int wxb_handler(request_rec *r)
{
    const char *e;
    apr_size_t len;
    apr_bucket_brigade *bb;

    if (!r->handler || strcmp(r->handler, "wx-bench-echo") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    e = r->args ? strstr(r->args, "echostr=") : NULL;
    if (e == NULL) {
        return HTTP_BAD_REQUEST;
    }
    e += 8;
    len = strcspn(e, "&");
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, len);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(
        apr_pstrmemdup(r->pool, e, len), len, r->pool,
        r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
        r->connection->bucket_alloc));
    return ap_pass_brigade_fchk(r, bb, NULL);
}

static void wxb_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(wxb_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
}

AP_DECLARE_MODULE(wx_bench) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    wxb_register_hooks,
    AP_MODULE_FLAG_NONE
};
