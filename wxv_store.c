/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wxv_store.c: the claim store behind WxReplayCache, the claims and their
 * release, and the counters with their mod_status section.  A request
 * claims its signed triple (and, under WxDedup, its message) in one
 * atomic operation; a request that failed gives its claims back.
 *
 *   shmcb (or another socache provider)  one machine: look-up, then
 *       store, under the global mutex (mod_authn_socache's way);
 *   memcache:host:port  memcached's "add" (apr_memcache_add);
 *   redis:host:port     Redis's "SET key 1 NX EX ttl" through hiredis
 *       (APR has no Redis client that can send it), "AUTH" first when
 *       WxReplayCachePassword is set; one connection per thread, kept in
 *       an apr_reslist per child.
 *
 * One round trip per claim on every store.  The password is read from
 * the server's configuration once and never logged or shown.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "ap_socache.h"
#include "mod_status.h"
#include "util_filter.h"
#include "util_mutex.h"

#include "apr_atomic.h"
#include "apr_global_mutex.h"
#include "apr_memcache.h"
#include "apr_reslist.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include <hiredis/hiredis.h>

#include "mod_wx_valid.h"

APLOG_USE_MODULE(wx_valid);

#define WXV_MUTEX        "wx-valid-replay"
#define WXV_CACHE_ID     "mod_wx_valid"
#define WXV_KEY_PREFIX   "wxv:"
#define WXV_KEY_LEN      (sizeof(WXV_KEY_PREFIX) - 1 + 2 * WX_SIG_LEN)
/* Redis: a connection, AUTH or command slower than this (seconds) is
 * taken as failed, and after a failed connection the child does not try
 * again for as long (the pool's constructor runs under its lock: a
 * blackholed Redis must not queue every thread behind one connect).
 * memcached: apr_memcache has no I/O timeout of its own (APR-util 1.6),
 * only the connect. */
#define WXV_STORE_TIMEOUT 1

#define WXV_RELEASE      "WX_CLAIM_RELEASE"

typedef enum {
    WXV_CLAIMED = 0,              /* ours now: nobody held it */
    WXV_TAKEN,                    /* somebody holds it */
    WXV_STORE_FAILED              /* the store did not answer */
} wxv_claim_t;

/*
 * Counters since start-up, in shared memory: one per outcome, and one for
 * replay-cache failures.  NULL when the segment could not be made.
 */
#define WXV_N_COUNTERS   (WX_RESULT_COUNT + 1)
#define WXV_C_CACHE_FAIL WX_RESULT_COUNT
static apr_uint32_t *wxv_counters;

/* Their mod_status names: WxValidOk, WxValidBadSignature ... */
#define WXV_COUNTER_NAME(e, name, counter, status, tag, level, dir) #counter,
static const char *const wxv_counter_names[WXV_N_COUNTERS] = {
    WX_RESULTS(WXV_COUNTER_NAME)
    "CacheFailures"
};
#undef WXV_COUNTER_NAME

typedef enum {
    WXV_STORE_SOCACHE = 0,
    WXV_STORE_MEMCACHE,
    WXV_STORE_REDIS
} wxv_store_kind;

struct wxv_store {
    wxv_store_kind kind;
    const char *name;                       /* as configured */
    /* socache */
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *inst;
    /* memcache and redis */
    const char *host;
    apr_port_t port;
    apr_memcache_t *mc;
    apr_reslist_t *redis;                   /* redisContext *, per child */
    const char *password;                   /* redis AUTH; NULL: none */
    apr_time_t down_until;                  /* redis: per child, no new
                                             * connection before */
    int initialised;
};

/* The global mutex of a socache provider that is not multi-process safe
 * (shmcb), as mod_authn_socache does; NULL when none is in use. */
static apr_global_mutex_t *wxv_mutex;

int wxv_stores_pre_config(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, WXV_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

const char *wxv_store_create(cmd_parms *cmd, const char *spec,
                             wxv_store **out)
{
    const char *sep = ap_strchr_c(spec, ':'), *name, *err;
    wxv_store *st = apr_pcalloc(cmd->pool, sizeof(*st));

    st->name = spec;
    name = sep ? apr_pstrmemdup(cmd->pool, spec, (apr_size_t)(sep - spec))
               : spec;
    if (ap_cstr_casecmp(name, "memcache") == 0
        || ap_cstr_casecmp(name, "redis") == 0) {
        char *scope = NULL;
        apr_status_t rv;

        st->kind = ap_cstr_casecmp(name, "redis") == 0 ? WXV_STORE_REDIS
                                                        : WXV_STORE_MEMCACHE;
        rv = sep ? apr_parse_addr_port((char **)&st->host, &scope, &st->port,
                                       sep + 1, cmd->pool)
                 : APR_EINVAL;
        if (rv != APR_SUCCESS || st->host == NULL || scope != NULL
            || ap_strchr_c(sep + 1, ',') != NULL) {
            return apr_psprintf(cmd->pool, "WxReplayCache: %s takes one "
                                "host:port (%s:127.0.0.1:%d)", name, name,
                                st->kind == WXV_STORE_REDIS ? 6379 : 11211);
        }
        if (st->port == 0) {
            st->port = st->kind == WXV_STORE_REDIS ? 6379 : 11211;
        }
        *out = st;
        return NULL;
    }
    st->kind = WXV_STORE_SOCACHE;
    st->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                      AP_SOCACHE_PROVIDER_VERSION);
    if (st->provider == NULL) {
        return apr_psprintf(cmd->pool, "WxReplayCache: unknown provider "
                            "'%s' (is mod_socache_%s loaded?)", name, name);
    }
    err = st->provider->create(&st->inst, sep ? sep + 1 : NULL,
                               cmd->temp_pool, cmd->pool);
    if (err != NULL) {
        return apr_pstrcat(cmd->pool, "WxReplayCache: ", err, NULL);
    }
    *out = st;
    return NULL;
}

const char *wxv_store_name(const wxv_store *st)
{
    return st->name;
}

int wxv_store_takes_password(const wxv_store *st)
{
    return st->kind == WXV_STORE_REDIS;
}

/* The most threads a child runs at once: the size of a connection pool. */
static int wxv_max_threads(void)
{
    int threads = 1;

    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    return threads > 0 ? threads : 1;
}

/* Whether st's provider needs the global mutex (shmcb): never around
 * memcached's or Redis's round trips. */
static int wxv_needs_mutex(const wxv_store *st)
{
    return wxv_mutex != NULL
           && (st->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE);
}

static apr_status_t wxv_socache_destroy(void *data)
{
    wxv_store *st = data;

    st->provider->destroy(st->inst, NULL);
    return APR_SUCCESS;
}

apr_status_t wxv_stores_init(apr_pool_t *pconf, apr_pool_t *ptemp,
                             server_rec *s)
{
    /* The value is one byte, but shmcb sizes its index by id + object and
     * spends 24 bytes an index slot: a smaller hint makes it overrun its
     * own subcaches (it crashed the bench with { 20, 1, 60 }). */
    static struct ap_socache_hints hints = { WX_SIG_LEN, 32, 60 };
    apr_shm_t *shm = NULL;
    apr_status_t rv;
    server_rec *v;

    (void)ptemp;
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
    wxv_mutex = NULL;
    for (v = s; v != NULL; v = v->next) {
        wxv_srv_conf *sc = ap_get_module_config(v->module_config,
                                                &wx_valid_module);
        wxv_store *st = sc->store;

        if (st == NULL || st->initialised) {
            continue;
        }
        st->initialised = 1;
        st->password = sc->password;
        if (st->kind == WXV_STORE_MEMCACHE) {
            apr_memcache_server_t *ms;

            rv = apr_memcache_create(pconf, 1, 0, &st->mc);
            if (rv == APR_SUCCESS) {
                rv = apr_memcache_server_create(
                    pconf, st->host, st->port, 0, 1,
                    (apr_uint32_t)wxv_max_threads(),
                    apr_time_from_sec(60), &ms);
            }
            if (rv == APR_SUCCESS) {
                rv = apr_memcache_add_server(st->mc, ms);
            }
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v, WXVLOGNO(00022)
                             "WxReplayCache %s: the memcached client could "
                             "not be made", st->name);
                return rv;
            }
            continue;
        }
        if (st->kind == WXV_STORE_REDIS) {
            continue;               /* connections are made per child */
        }
        if ((st->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE)
            && wxv_mutex == NULL) {
            rv = ap_global_mutex_create(&wxv_mutex, NULL, WXV_MUTEX, NULL,
                                        s, pconf, 0);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v, WXVLOGNO(00019)
                             "WxReplayCache %s: no global mutex", st->name);
                return rv;
            }
        }
        rv = st->provider->init(st->inst, WXV_CACHE_ID, &hints, v, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v, WXVLOGNO(00020)
                         "WxReplayCache %s: the provider failed to start",
                         st->name);
            return rv;
        }
        apr_pool_cleanup_register(pconf, st, wxv_socache_destroy,
                                  apr_pool_cleanup_null);
    }
    return APR_SUCCESS;
}

/* --- Redis ----------------------------------------------------------- */

/* One connection, AUTHed when a password is set: a resource of the
 * child's reslist.  Failures say nothing here: the claim logs them. */
static apr_status_t wxv_redis_open(void **res, void *params, apr_pool_t *p)
{
    wxv_store *st = params;
    struct timeval tv = { WXV_STORE_TIMEOUT, 0 };
    redisContext *c;
    redisReply *reply;

    (void)p;
    c = redisConnectWithTimeout(st->host, (int)st->port, tv);
    if (c == NULL || c->err) {
        if (c != NULL) {
            redisFree(c);
        }
        return APR_ECONNREFUSED;
    }
    redisSetTimeout(c, tv);
    if (st->password != NULL) {
        reply = redisCommand(c, "AUTH %s", st->password);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            if (reply != NULL) {
                freeReplyObject(reply);
            }
            redisFree(c);
            return APR_EACCES;
        }
        freeReplyObject(reply);
    }
    *res = c;
    return APR_SUCCESS;
}

static apr_status_t wxv_redis_close(void *res, void *params, apr_pool_t *p)
{
    (void)params;
    (void)p;
    redisFree(res);
    return APR_SUCCESS;
}

void wxv_stores_child_init(apr_pool_t *p, server_rec *s)
{
    server_rec *v;
    apr_status_t rv;

    if (wxv_mutex != NULL) {
        rv = apr_global_mutex_child_init(
            &wxv_mutex, apr_global_mutex_lockfile(wxv_mutex), p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, WXVLOGNO(00021)
                         "WxReplayCache: the global mutex failed in a "
                         "child");
        }
    }
    for (v = s; v != NULL; v = v->next) {
        wxv_srv_conf *sc = ap_get_module_config(v->module_config,
                                                &wx_valid_module);
        wxv_store *st = sc->store;

        if (st == NULL || st->kind != WXV_STORE_REDIS || st->redis != NULL) {
            continue;
        }
        rv = apr_reslist_create(&st->redis, 0, 1, wxv_max_threads(),
                                apr_time_from_sec(60), wxv_redis_open,
                                wxv_redis_close, st, p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v, WXVLOGNO(00023)
                         "WxReplayCache %s: no connection pool in a child",
                         st->name);
            st->redis = NULL;
            continue;
        }
        apr_reslist_timeout_set(st->redis,
                                apr_time_from_sec(WXV_STORE_TIMEOUT));
    }
}

/*
 * One command on a connection of the pool: the reply, or NULL with *rv
 * and *step set (the connection is then dropped, so the next one is
 * fresh: Redis restarted, a timeout).
 */
static redisReply *wxv_redis_do(wxv_store *st, apr_status_t *rv,
                                const char **step, const char *cmd,
                                const char *key, apr_uint32_t ttl)
{
    redisContext *c = NULL;
    redisReply *reply;

    if (st->redis == NULL) {
        *rv = APR_EGENERAL;
        *step = "making its connection pool";
        return NULL;
    }
    if (st->down_until > apr_time_now()) {
        *rv = APR_ECONNREFUSED;
        *step = "connecting (it failed less than a second ago)";
        return NULL;
    }
    if ((*rv = apr_reslist_acquire(st->redis, (void **)&c)) != APR_SUCCESS) {
        *step = *rv == APR_EACCES ? "authenticating (AUTH was refused)"
              : *rv == APR_TIMEUP ? "waiting for a free connection"
              : "connecting";
        if (*rv != APR_TIMEUP) {
            st->down_until = apr_time_now()
                             + apr_time_from_sec(WXV_STORE_TIMEOUT);
        }
        return NULL;
    }
    reply = ttl ? redisCommand(c, cmd, key, (size_t)WXV_KEY_LEN,
                               (unsigned int)ttl)
                : redisCommand(c, cmd, key, (size_t)WXV_KEY_LEN);
    if (reply == NULL || c->err) {
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        apr_reslist_invalidate(st->redis, c);
        *rv = APR_EGENERAL;
        *step = "sending a command (the connection broke or timed out)";
        return NULL;
    }
    apr_reslist_release(st->redis, c);
    if (reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject(reply);
        *rv = APR_EGENERAL;
        *step = "on a command it refused";
        return NULL;
    }
    return reply;
}

/* --- claims ---------------------------------------------------------- */

static void wxv_store_key(char key[WXV_KEY_LEN + 1],
                          const unsigned char id[WX_SIG_LEN])
{
    static const char hex[] = "0123456789abcdef";
    char *o = key + sizeof(WXV_KEY_PREFIX) - 1;
    int i;

    memcpy(key, WXV_KEY_PREFIX, sizeof(WXV_KEY_PREFIX) - 1);
    for (i = 0; i < WX_SIG_LEN; i++) {
        *o++ = hex[id[i] >> 4];
        *o++ = hex[id[i] & 15];
    }
    *o = '\0';
}

/* One claim on st: on WXV_STORE_FAILED, *rv and *step say what failed. */
static wxv_claim_t wxv_store_claim(wxv_store *st, request_rec *r,
                                   const unsigned char id[WX_SIG_LEN],
                                   apr_uint32_t ttl, apr_status_t *rv,
                                   const char **step)
{
    char key[WXV_KEY_LEN + 1];
    unsigned char one = 1, got[8];
    unsigned int gotlen = sizeof(got);
    int locked;

    if (st->kind == WXV_STORE_MEMCACHE) {
        wxv_store_key(key, id);
        *rv = apr_memcache_add(st->mc, key, (char *)"1", 1, ttl, 0);
        if (*rv == APR_SUCCESS) {
            return WXV_CLAIMED;
        }
        if (*rv == APR_EEXIST) {
            return WXV_TAKEN;
        }
        *step = "adding a claim";
        return WXV_STORE_FAILED;
    }
    if (st->kind == WXV_STORE_REDIS) {
        redisReply *reply;
        wxv_claim_t c;

        wxv_store_key(key, id);
        reply = wxv_redis_do(st, rv, step, "SET %b 1 NX EX %u", key, ttl);
        if (reply == NULL) {
            return WXV_STORE_FAILED;
        }
        c = reply->type == REDIS_REPLY_NIL ? WXV_TAKEN
          : reply->type == REDIS_REPLY_STATUS ? WXV_CLAIMED
          : WXV_STORE_FAILED;
        freeReplyObject(reply);
        if (c == WXV_STORE_FAILED) {
            *rv = APR_EGENERAL;
            *step = "reading its answer to SET NX";
        }
        return c;
    }
    /* A socache provider: atomic under the mutex where it needs one. */
    locked = wxv_needs_mutex(st);
    if (locked && (*rv = apr_global_mutex_lock(wxv_mutex)) != APR_SUCCESS) {
        *step = "locking its mutex";
        return WXV_STORE_FAILED;
    }
    *step = "looking up a claim";
    *rv = st->provider->retrieve(st->inst, r->server, id, WX_SIG_LEN, got,
                                 &gotlen, r->pool);
    if (*rv == APR_NOTFOUND) {
        *step = "storing a claim";
        *rv = st->provider->store(st->inst, r->server, id, WX_SIG_LEN,
                                  apr_time_now() + apr_time_from_sec(ttl),
                                  &one, 1, r->pool);
    }
    else if (*rv == APR_SUCCESS) {
        *rv = APR_EEXIST;
    }
    if (locked) {
        apr_global_mutex_unlock(wxv_mutex);
    }
    return *rv == APR_SUCCESS ? WXV_CLAIMED
         : *rv == APR_EEXIST ? WXV_TAKEN : WXV_STORE_FAILED;
}

/*
 * A claim's value: '1' while its request is being handled, '2' once it was
 * answered 2xx (WeChat Pay's notifications, which tell the two apart).
 * 0 when there is none (it expired) or the store failed: taken for "being
 * handled", which WeChat Pay retries.
 */
static char wxv_store_peek(wxv_store *st, request_rec *r,
                           const unsigned char id[WX_SIG_LEN])
{
    char key[WXV_KEY_LEN + 1], v = 0;
    unsigned char got[8];
    unsigned int gotlen = sizeof(got);
    apr_status_t rv = APR_SUCCESS;
    const char *step = "reading a claim";
    int locked;

    if (st->kind == WXV_STORE_MEMCACHE) {
        char *val = NULL;
        apr_size_t len = 0;

        wxv_store_key(key, id);
        if (apr_memcache_getp(st->mc, r->pool, key, &val, &len, NULL)
            == APR_SUCCESS && len == 1) {
            v = val[0];
        }
        return v;
    }
    if (st->kind == WXV_STORE_REDIS) {
        redisReply *reply;

        wxv_store_key(key, id);
        reply = wxv_redis_do(st, &rv, &step, "GET %b", key, 0);
        if (reply != NULL) {
            if (reply->type == REDIS_REPLY_STRING && reply->len == 1) {
                v = reply->str[0];
            }
            freeReplyObject(reply);
        }
        return v;
    }
    locked = wxv_needs_mutex(st);
    if (locked && apr_global_mutex_lock(wxv_mutex) != APR_SUCCESS) {
        return 0;
    }
    if (st->provider->retrieve(st->inst, r->server, id, WX_SIG_LEN, got,
                               &gotlen, r->pool) == APR_SUCCESS
        && gotlen == 1) {
        v = (char)('0' + got[0]);
    }
    if (locked) {
        apr_global_mutex_unlock(wxv_mutex);
    }
    return v;
}

/* A claim marked answered ('2'), for ttl seconds more: best effort (a
 * failure leaves it "being handled" until it expires). */
static void wxv_store_settle(wxv_store *st, request_rec *r,
                             const unsigned char id[WX_SIG_LEN],
                             apr_uint32_t ttl)
{
    char key[WXV_KEY_LEN + 1];
    unsigned char two = 2;
    apr_status_t rv = APR_SUCCESS;
    const char *step = "marking a claim answered";
    int locked;

    if (st->kind == WXV_STORE_MEMCACHE) {
        wxv_store_key(key, id);
        rv = apr_memcache_set(st->mc, key, (char *)"2", 1, ttl, 0);
    }
    else if (st->kind == WXV_STORE_REDIS) {
        redisReply *reply;

        wxv_store_key(key, id);
        reply = wxv_redis_do(st, &rv, &step, "SET %b 2 EX %u", key, ttl);
        if (reply != NULL) {
            freeReplyObject(reply);
        }
    }
    else {
        locked = wxv_needs_mutex(st);
        if (!locked || (rv = apr_global_mutex_lock(wxv_mutex)) == APR_SUCCESS) {
            rv = st->provider->store(st->inst, r->server, id, WX_SIG_LEN,
                                     apr_time_now() + apr_time_from_sec(ttl),
                                     &two, 1, r->pool);
            if (locked) {
                apr_global_mutex_unlock(wxv_mutex);
            }
        }
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, WXVLOGNO(00038)
                      "WxReplayCache %s failed %s: a retry of it meanwhile "
                      "is answered as still being handled", st->name, step);
    }
}

/* A claim given back (its request failed): best effort. */
static void wxv_store_release(wxv_store *st, request_rec *r,
                              const unsigned char id[WX_SIG_LEN])
{
    char key[WXV_KEY_LEN + 1];
    int locked;

    if (st->kind != WXV_STORE_SOCACHE) {
        apr_status_t rv = APR_SUCCESS;
        const char *step = "deleting a claim";

        wxv_store_key(key, id);
        if (st->kind == WXV_STORE_MEMCACHE) {
            rv = apr_memcache_delete(st->mc, key, 0);
            rv = rv == APR_NOTFOUND ? APR_SUCCESS : rv;
        }
        else {
            redisReply *reply = wxv_redis_do(st, &rv, &step, "DEL %b", key, 0);

            if (reply != NULL) {
                freeReplyObject(reply);
                rv = APR_SUCCESS;
            }
        }
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, WXVLOGNO(00028)
                          "WxReplayCache %s failed %s, for a request that "
                          "failed: WeChat's retry of it is taken for a copy "
                          "until the claim expires", st->name, step);
        }
        return;
    }
    locked = wxv_needs_mutex(st);
    if (!locked || apr_global_mutex_lock(wxv_mutex) == APR_SUCCESS) {
        st->provider->remove(st->inst, r->server, id, WX_SIG_LEN, r->pool);
        if (locked) {
            apr_global_mutex_unlock(wxv_mutex);
        }
    }
}

/* The store's part of the mod_status page. */
static void wxv_store_status(wxv_store *st, request_rec *r, int flags)
{
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rprintf(r, "<h3>WxReplayCache %s</h3>\n",
                   ap_escape_html(r->pool, st->name));
    }
    if (st->kind == WXV_STORE_SOCACHE) {
        st->provider->status(st->inst, r, flags);
    }
    else if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "WxReplayCacheType: %s\n",
                   st->kind == WXV_STORE_REDIS ? "redis" : "memcache");
    }
}

/* --- claims, counters, mod_status ------------------------------------ */

wx_result_t wxv_claim(request_rec *r, const unsigned char id[WX_SIG_LEN],
                      apr_uint32_t ttl, const char *what,
                      const char *dup_why, const char **why)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    wxv_http *h = wxv_http_of(r, 1);
    const char *step = "";
    apr_status_t rv = APR_SUCCESS;
    wxv_claim_t c;
    int i;

    /* An HTTP request that already holds id (judged again in a
     * subrequest, or under another section) is no copy of itself. */
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
        *why = dup_why;
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
    *why = "the WxReplayCache failed";
    return WX_CACHE_ERROR;
}

wx_result_t wxv_claim_delivery(request_rec *r,
                               const unsigned char id[WX_SIG_LEN],
                               const char *what, const char **why)
{
    wxv_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                            &wx_valid_module);
    wxv_http *h = wxv_http_of(r, 1);
    int before = h->claims;
    wx_result_t rc;

    rc = wxv_claim(r, id, WXV_IN_FLIGHT_TTL, what, "", why);
    if (rc == WX_DUPLICATE) {
        if (wxv_store_peek(sc->store, r, id) == '2') {
            *why = "its id was answered before; acknowledged";
            return WX_DUPLICATE;
        }
        *why = "its id is being handled (or was, by a server that stopped "
               "within " WX_STR(WXV_IN_FLIGHT_TTL) " s)";
        return WX_PAY_IN_FLIGHT;
    }
    if (h->claims > before) {
        h->settle |= 1u << before;
    }
    return rc;
}

/*
 * As soon as the status is known, before the response goes out: a retry
 * sent the moment the failure arrives must not find the claim still there
 * (and be acknowledged, and the message lost).  Called from the release
 * filter, for error pages from insert_error_filter, and last from
 * log_transaction for a request that sent nothing.  On success, a
 * delivery claim is marked answered (wxv_claim_delivery), once.
 */
void wxv_release_failed(request_rec *r, int status)
{
    wxv_http *h = wxv_http_of(r, 0);
    int i;

    if (h == NULL || h->claims == 0) {
        return;
    }
    if (ap_is_HTTP_SUCCESS(status)) {
        for (i = 0; i < h->claims; i++) {
            if (h->settle & (1u << i)) {
                wxv_store_settle(h->claim_store, r, h->claim_id[i],
                                 WXV_ANSWERED_TTL);
            }
        }
        h->settle = 0;
        return;
    }
    for (i = 0; i < h->claims; i++) {
        wxv_store_release(h->claim_store, r, h->claim_id[i]);
    }
    h->claims = 0;
    h->settle = 0;
}

/* The first of the response, on its way to the headers: its status is
 * final then. */
static apr_status_t wxv_release_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    wxv_release_failed(f->r, f->r->status);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void wxv_add_release_filter(request_rec *r)
{
    ap_add_output_filter(WXV_RELEASE, NULL, r, r->connection);
}

void wxv_count(request_rec *r)
{
    const char *note = apr_table_get(r->notes, WXV_NOTE);
    int i;

    if (note == NULL || wxv_counters == NULL) {
        return;
    }
    for (i = 0; i < WX_RESULT_COUNT; i++) {
        if (strcmp(note, wx_result_name(i)) == 0) {
            apr_atomic_inc32(&wxv_counters[i]);
            return;
        }
    }
}

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

void wxv_store_register(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, wxv_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    /* A resource filter, so it acts before any byte is sent. */
    ap_register_output_filter(WXV_RELEASE, wxv_release_out, NULL,
                              AP_FTYPE_RESOURCE);
}
