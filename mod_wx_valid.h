/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_wx_valid.h: what mod_wx_valid's glue files share (private to the
 * module; the protocol core has its own headers, wx_protocol.h and
 * wx_crypto.h, free of httpd's).
 *
 *   mod_wx_valid.c  configuration, the verdict, the handler, the authz
 *                   provider, hook registration, the module record;
 *   wxv_filters.c   the request body (read up front, replayed as the
 *                   plaintext or as sent) and the reply (sealed);
 *   wxv_store.c     WxReplayCache's store, the claims and their release,
 *                   the counters and the mod_status section.
 */
#ifndef MOD_WX_VALID_H
#define MOD_WX_VALID_H

#include "httpd.h"
#include "http_config.h"
#include "ap_mmn.h"

#include "apr_crypto.h"

/* The oldest httpd the module builds against: 2.4.46, the first release
 * with ap_parse_strict_length() (module magic 20120211.93), which reads
 * Content-Length strictly.  RHEL 8 and Alibaba Cloud Linux 3 ship 2.4.37:
 * say so at build time rather than as an unresolved symbol at start-up. */
#if !AP_MODULE_MAGIC_AT_LEAST(20120211, 93)
#error "mod_wx_valid needs Apache httpd 2.4.46 or later (ap_parse_strict_length, module magic 20120211.93); the httpd whose headers apxs gave is older"
#endif

#include "wx_crypto.h"
#include "wx_pay.h"
#include "wx_protocol.h"

extern module AP_MODULE_DECLARE_DATA wx_valid_module;

/* Our own log tags, used the way httpd uses APLOGNO(): one per call site. */
#define WXVLOGNO(n) "WXV" #n ": "

/* The request note (%{wx-valid}n) that holds a request's outcome. */
#define WXV_NOTE "wx-valid"

/* apr_crypto's openssl factory, made in post_config; NULL if it failed. */
extern const apr_crypto_t *wxv_crypto;

/* -- configuration -------------------------------------------------------- */

/*
 * A directory's configuration.  A field is unset (inherited) while it is
 * zero, so the merge and wxv_inherited treat every field alike, from one
 * list of them: WXV_DIR_FIELDS.
 */
typedef struct {
    apr_array_header_t *tokens;   /* const char *, any one may sign */
    apr_array_header_t *keys;     /* wx_aes_key_t, current first */
    const char *appid;            /* the receiveid required */
    apr_int64_t max_age;          /* seconds, or WX_MAX_AGE_OFF */
    apr_int64_t dedup_window;     /* seconds */
    int dedup;                    /* WXV_ON or WXV_OFF */
    apr_array_header_t *pay_keys; /* const wx_pay_key_t *: WxPayPublicKey */
    apr_array_header_t *pay_apiv3; /* const unsigned char *, current first */
    apr_int64_t pay_max_age;      /* seconds, or WX_MAX_AGE_OFF */
} wxv_dir_conf;

#define WXV_DIR_FIELDS(X) \
    X(tokens) X(keys) X(appid) X(max_age) X(dedup_window) X(dedup) \
    X(pay_keys) X(pay_apiv3) X(pay_max_age)

/* Log r's outcome, at its level, with its tag (WX_RESULTS), and note it
 * (%{wx-valid}n). */
void wxv_outcome(request_rec *r, wx_result_t rc, const char *why);

/* The HTTP status of a refusal (WX_RESULTS). */
int wxv_status(wx_result_t rc);

/* -- one HTTP request ---------------------------------------------------- */

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

/* The claims one HTTP request can hold: replay, dedup, a subrequest's. */
#define WXV_MAX_CLAIMS 4

typedef struct wxv_store wxv_store;

/*
 * What one HTTP request holds across its internal redirects (which share
 * its pool) and subrequests (whose main request carries the body): pool
 * userdata of the top request.  The body, read once; the message
 * decrypted from it; the replay-cache entries it claimed.
 */
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
    int claims;
    unsigned char claim_id[WXV_MAX_CLAIMS][WX_SIG_LEN];  /* given back when
                                   * the request fails */
    wxv_store *claim_store;
    unsigned int settle;          /* bit i: claim i is marked answered on
                                   * success (wxv_claim_delivery) */
    struct wxv_pay *pay;          /* Require wxpay-signature's judgement */
} wxv_http;

#define WXV_HTTP_KEY "wx_valid_module/http"

/*
 * The request whose body a judgement is about.  A subrequest has none of
 * its own: httpd makes mod_dir's DirectoryIndex look-up, mod_rewrite's
 * look-ahead and the like a GET without the body's headers, while the
 * body waits on the connection for the main request (which mod_dir may
 * turn into the subrequest's URL).  So a guard asked about a subrequest
 * judges its main request's method and body.
 */
static APR_INLINE request_rec *wxv_body_request(request_rec *r)
{
    while (r->main != NULL) {
        r = r->main;
    }
    return r;
}

/* The wxv_http of r's HTTP request, made on first use when make is set. */
static APR_INLINE wxv_http *wxv_http_of(request_rec *r, int make)
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

/* -- wxv_filters.c ------------------------------------------------------- */

/* Whether r's request line came with a body (a HEAD's counts). */
int wxv_has_body(const request_rec *r);

/* br's body, read once per HTTP request, up to WX_MAX_BODY bytes. */
wxv_http *wxv_read_body(request_rec *br);

/* A decrypted message's request as plain mode would have delivered it. */
void wxv_as_plain(request_rec *r, const wxv_message *msg);

/* For the request that runs the handler: the plaintext as its body, the
 * reply sealed on its way out. */
void wxv_attach(request_rec *r, const wxv_message *msg);

/* A body already read, to whatever reads the request body next. */
void wxv_replay(request_rec *r, const char *p, apr_size_t n);

/* register_hooks: the body and reply filters. */
void wxv_filters_register(void);

/* WxMaxAge's and WxPayMaxAge's argument: 1 to WX_MAX_AGE_LIMIT seconds,
 * or off (WX_MAX_AGE_OFF), into *out; else the directive's error. */
const char *wxv_cmd_age(cmd_parms *cmd, const char *arg, apr_int64_t *out);

/* A Require provider's line parser: refusal when the line has arguments. */
const char *wxv_require_no_args(const char *line, const char *refusal);

/* A secret directive's arguments, hidden from mod_info once processed. */
void wxv_hide_args(cmd_parms *cmd);

/* -- wxv_pay.c ----------------------------------------------------------- */

/* The directives WxPayPublicKey, WxPayAPIv3Key, WxPayMaxAge. */
const char *wxv_cmd_pay_key(cmd_parms *cmd, void *dconf, const char *id,
                            const char *file);
const char *wxv_cmd_pay_apiv3(cmd_parms *cmd, void *dconf, const char *key,
                              const char *previous);
const char *wxv_cmd_pay_max_age(cmd_parms *cmd, void *dconf,
                                const char *arg);

/* fixups: a verified notification's headers and environment for the app,
 * or its refusal (a status authz cannot give); DECLINED otherwise. */
int wxv_pay_fixups(request_rec *r);

/* insert_error_filter: a refused notification's answer is JSON. */
void wxv_pay_error_filter(request_rec *r);

/* register_hooks: the authz provider "wxpay-signature", its filter. */
void wxv_pay_register(apr_pool_t *p);

/* -- wxv_store.c --------------------------------------------------------- */

/* WxReplayCache and its companions: per server and virtual host. */
typedef struct {
    wxv_store *store;             /* NULL: none (or inherit) */
    int store_set;
    int fail_deny;                /* -1 unset, 0 allow, 1 deny */
    const char *password;         /* WxReplayCachePassword; NULL: none */
    int password_conflict;        /* set here for a store inherited */
} wxv_srv_conf;

/*
 * WxReplayCache's argument: "shmcb[:args]" or another socache provider's
 * name and arguments, "memcache:host:port", "redis:host:port".  NULL, or
 * the reason (for the directive's error).
 */
const char *wxv_store_create(cmd_parms *cmd, const char *spec,
                             wxv_store **store);

/* The store as configured ("memcache:127.0.0.1:11211"): holds no secret. */
const char *wxv_store_name(const wxv_store *store);

/* Whether a password can be given to it (Redis: AUTH). */
int wxv_store_takes_password(const wxv_store *store);

/* pre_config: the mutex's name registered. */
int wxv_stores_pre_config(apr_pool_t *pconf);

/* post_config: the counters' shared memory; each store once (virtual
 * hosts share their server's), with the global mutex where a socache
 * provider needs one. */
apr_status_t wxv_stores_init(apr_pool_t *pconf, apr_pool_t *ptemp,
                             server_rec *s);

/* child_init: the mutex, and each child's own connections. */
void wxv_stores_child_init(apr_pool_t *p, server_rec *s);

/*
 * Claim id for ttl seconds on r's server's WxReplayCache, in one atomic
 * operation: WX_OK (claimed: a request that fails gives it back),
 * WX_DUPLICATE (somebody holds it: *why = dup_why), or when the store
 * fails, logged (what: what was claimed) and counted: WX_CACHE_ERROR under
 * "WxReplayCacheFailure deny", WX_OK unchecked under "allow".
 */
wx_result_t wxv_claim(request_rec *r, const unsigned char id[WX_SIG_LEN],
                      apr_uint32_t ttl, const char *what,
                      const char *dup_why, const char **why);

/*
 * WeChat Pay's delivery: a notification's id claimed as being handled for
 * WXV_IN_FLIGHT_TTL seconds (a server that stops mid-request holds it no
 * longer), marked answered for WXV_ANSWERED_TTL once its request succeeds
 * (WeChat Pay retries for over 24 h).  WX_OK (ours), WX_DUPLICATE (answered
 * before), WX_PAY_IN_FLIGHT (being handled), or as wxv_claim when the
 * store fails.
 */
#define WXV_IN_FLIGHT_TTL 300
#define WXV_ANSWERED_TTL  90000
wx_result_t wxv_claim_delivery(request_rec *r,
                               const unsigned char id[WX_SIG_LEN],
                               const char *what, const char **why);

/* r's HTTP request gives its claims back if status is not 2xx. */
void wxv_release_failed(request_rec *r, int status);

/* insert_filter, for a request that holds claims: they go back as soon as
 * its response turns out to have failed. */
void wxv_add_release_filter(request_rec *r);

/* log_transaction: one more request with r's outcome. */
void wxv_count(request_rec *r);

/* register_hooks: the release filter and the mod_status section. */
void wxv_store_register(void);

#endif /* MOD_WX_VALID_H */
