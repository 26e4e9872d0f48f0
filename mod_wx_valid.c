/*
 * mod_wx_valid: WeChat server-callback security, terminated in Apache httpd.
 *
 * The Apache glue only: directives, per-directory configuration and its
 * merge, the "wx-valid" handler, the "wx-signature" authz provider and
 * logging.  The protocol itself (query parsing, signatures) lives in
 * wx_protocol.c, which knows nothing of httpd.
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

#include "wx_protocol.h"

module AP_MODULE_DECLARE_DATA wx_valid_module;

/* Our own log tags, used the way httpd uses APLOGNO(): one per call site. */
#define WXVLOGNO(n) "WXV" #n ": "

#define WXV_HANDLER   "wx-valid"
#define WXV_NOTE      "wx-valid"
#define WXV_UNSET     (-2)

typedef struct {
    apr_array_header_t *tokens;   /* const char *; NULL: inherit */
    apr_int64_t max_age;          /* seconds, WX_MAX_AGE_OFF, or WXV_UNSET */
} wxv_dir_conf;

/*
 * One request's verification, kept in r->request_config: when both the
 * guard (Require wx-signature) and the handler run on a request, the query
 * is parsed, signed and logged once.
 */
typedef struct {
    wx_query_t q;
    wx_result_t rc;               /* of the signature and freshness checks */
    const char *why;
    int which;                    /* the token that signed */
    int logged;
    wx_result_t logged_rc;        /* what was noted and logged */
} wxv_req_state;

static void *wxv_create_dir_conf(apr_pool_t *p, char *dir)
{
    wxv_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)dir;
    conf->max_age = WXV_UNSET;
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

    if (add->tokens != NULL && add->max_age != WXV_UNSET) {
        return add;
    }
    if (add->tokens == NULL && add->max_age == WXV_UNSET) {
        return base;
    }
    conf = apr_palloc(p, sizeof(*conf));

    conf->tokens = add->tokens ? add->tokens : base->tokens;
    conf->max_age = add->max_age != WXV_UNSET ? add->max_age : base->max_age;
    return conf;
}

static apr_int64_t wxv_max_age(const wxv_dir_conf *conf)
{
    return conf->max_age == WXV_UNSET ? WX_MAX_AGE_DEFAULT : conf->max_age;
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
    default:               return HTTP_FORBIDDEN;
    }
}

/*
 * Parse and verify r's signed query under conf, once per request: the
 * result is kept for whichever of the guard and the handler asks next.
 * Malformed input is refused before any signature is computed.
 */
static wxv_req_state *wxv_verify(request_rec *r, const wxv_dir_conf *conf)
{
    wxv_req_state *st = ap_get_module_config(r->request_config,
                                             &wx_valid_module);
    const char *ctype;

    if (st != NULL) {
        return st;
    }
    /* wx_query_parse() fills st->q; the rest is set here. */
    st = apr_palloc(r->pool, sizeof(*st));
    st->why = NULL;
    st->which = 0;
    st->logged = 0;
    ap_set_module_config(r->request_config, &wx_valid_module, st);

    st->rc = wx_query_parse(r->pool, r->args, &st->q, &st->why);
    if (st->rc != WX_OK) {
        return st;
    }
    /*
     * WeChat posts XML or JSON.  A form body's fields would sit beside the
     * signed query in PHP's $_REQUEST and the like: another copy of the
     * parameters that nothing signed.  (No framework reads a GET's body.)
     */
    ctype = r->method_number == M_GET
          ? NULL : apr_table_get(r->headers_in, "Content-Type");
    if (ctype != NULL
        && (ap_cstr_casecmpn(ctype, "application/x-www-form-urlencoded",
                             33) == 0
            || ap_cstr_casecmpn(ctype, "multipart/form-data", 19) == 0)) {
        st->rc = WX_MALFORMED;
        st->why = "form-encoded request body, whose fields would stand "
                  "beside the signed query";
        return st;
    }
    st->rc = wx_verify_plain(&st->q, (const char *const *)conf->tokens->elts,
                             conf->tokens->nelts, r->request_time,
                             wxv_max_age(conf), &st->which, &st->why);
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
 * The "wx-valid" handler: answer WeChat's developer-verification GET.
 * Hooked REALLY_FIRST and keyed on r->handler, so "SetHandler wx-valid"
 * also wins on a URL that mod_proxy would otherwise claim.
 */
static int wxv_handler(request_rec *r)
{
    wxv_dir_conf *conf;
    wxv_req_state *st;
    const char *problem;
    apr_bucket_brigade *bb;

    if (!r->handler || strcmp(r->handler, WXV_HANDLER) != 0) {
        return DECLINED;
    }

    if (r->method_number != M_GET) {
        /* httpd builds Allow from allowed_methods; GET brings HEAD along. */
        ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
        /* The stock 405 page would repeat the request's method. */
        ap_custom_response(r, HTTP_METHOD_NOT_ALLOWED,
                           "This URL answers GET and HEAD only.\n");
        wxv_outcome(r, WX_METHOD, NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }

    conf = ap_get_module_config(r->per_dir_config, &wx_valid_module);
    if (wxv_no_token(r, conf, "SetHandler wx-valid")) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    st = wxv_verify(r, conf);
    /* A well-formed query without echostr is no verification request. */
    if (st->rc != WX_MALFORMED && (problem = wx_echo_problem(&st->q))) {
        wxv_finish(r, st, WX_MALFORMED, problem);
        return HTTP_BAD_REQUEST;
    }
    wxv_finish(r, st, st->rc, st->why);
    if (st->rc != WX_OK) {
        return wxv_status(st->rc);
    }

    ap_set_content_type(r, "text/plain");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    /* The body is echostr's bytes, exactly: mod_deflate and mod_brotli
     * (on for text/plain in Debian's default configuration) keep off.
     * (addn: a second copy of a flag only read for presence is harmless,
     * and the search setn makes is not.) */
    apr_table_addn(r->subprocess_env, "no-gzip", "1");
    apr_table_addn(r->subprocess_env, "no-brotli", "1");
    ap_set_content_length(r, st->q.len[WX_P_ECHOSTR]);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create(
        st->q.val[WX_P_ECHOSTR], st->q.len[WX_P_ECHOSTR], r->pool,
        r->connection->bucket_alloc));
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
    return st->rc == WX_OK ? AUTHZ_GRANTED : AUTHZ_DENIED;
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
    return NULL;
}

/* WxMaxAge seconds|off */
static const char *wxv_cmd_max_age(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    wxv_dir_conf *conf = dconf;
    apr_int64_t n;
    char *end;

    (void)cmd;
    if (ap_cstr_casecmp(arg, "off") == 0) {
        conf->max_age = WX_MAX_AGE_OFF;
        return NULL;
    }
    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (!apr_isdigit(*arg) || *end != '\0' || errno == ERANGE
        || n < 1 || n > WX_MAX_AGE_LIMIT) {
        return "WxMaxAge takes a number of seconds from 1 to 86400, or off";
    }
    conf->max_age = n;
    return NULL;
}

static const command_rec wxv_cmds[] = {
    AP_INIT_TAKE_ARGV("WxToken", wxv_cmd_token, NULL, RSRC_CONF | OR_AUTHCFG,
                      "One or more WeChat Tokens (3 to 32 ASCII letters or "
                      "digits); any one may sign"),
    AP_INIT_TAKE1("WxMaxAge", wxv_cmd_max_age, NULL, RSRC_CONF | OR_AUTHCFG,
                  "Seconds a signed timestamp may differ from the server "
                  "clock (default 300), or off"),
    {NULL}
};

static void wxv_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(wxv_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wx-signature",
                              AUTHZ_PROVIDER_VERSION, &wxv_authz_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(wx_valid) = {
    STANDARD20_MODULE_STUFF,
    wxv_create_dir_conf,
    wxv_merge_dir_conf,
    NULL,
    NULL,
    wxv_cmds,
    wxv_register_hooks,
    AP_MODULE_FLAG_NONE
};
