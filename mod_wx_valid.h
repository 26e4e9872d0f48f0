/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mod_wx_valid.h: what mod_wx_valid's glue files share (private to the
 * module; the protocol core has its own headers, wx_protocol.h and
 * wx_crypto.h, free of httpd's).
 */
#ifndef MOD_WX_VALID_H
#define MOD_WX_VALID_H

#include "httpd.h"
#include "http_config.h"

#include "wx_protocol.h"

extern module AP_MODULE_DECLARE_DATA wx_valid_module;

/* Our own log tags, used the way httpd uses APLOGNO(): one per call site. */
#define WXVLOGNO(n) "WXV" #n ": "

/* The claim store of WxReplayCache (wxv_store.c). */
typedef struct wxv_store wxv_store;

/* WxReplayCache and its companions: per server and virtual host. */
typedef struct {
    wxv_store *store;             /* NULL: none (or inherit) */
    int store_set;
    int fail_deny;                /* -1 unset, 0 allow, 1 deny */
    const char *password;         /* WxReplayCachePassword; NULL: none */
    int password_conflict;        /* set here for a store inherited */
} wxv_srv_conf;

typedef enum {
    WXV_CLAIMED = 0,              /* ours now: nobody held it */
    WXV_TAKEN,                    /* somebody holds it */
    WXV_STORE_FAILED              /* the store did not answer */
} wxv_claim_t;

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

/* post_config: each store once (virtual hosts share their server's), with
 * the global mutex where a socache provider needs one. */
apr_status_t wxv_stores_init(apr_pool_t *pconf, apr_pool_t *ptemp,
                             server_rec *s);

/* child_init: the mutex, and each child's own connections. */
void wxv_stores_child_init(apr_pool_t *p, server_rec *s);

/* The pre_config part: the mutex's name registered. */
int wxv_stores_pre_config(apr_pool_t *pconf);

/*
 * Claim id for ttl seconds, in one atomic operation on the store.  On
 * WXV_STORE_FAILED, *rv and *step say what failed.
 */
wxv_claim_t wxv_store_claim(wxv_store *store, request_rec *r,
                            const unsigned char id[WX_SIG_LEN],
                            apr_uint32_t ttl, apr_status_t *rv,
                            const char **step);

/* Give a claim back (its request failed): best effort. */
void wxv_store_release(wxv_store *store, request_rec *r,
                       const unsigned char id[WX_SIG_LEN]);

/* The store's part of the mod_status page. */
void wxv_store_status(wxv_store *store, request_rec *r, int flags);

#endif /* MOD_WX_VALID_H */
