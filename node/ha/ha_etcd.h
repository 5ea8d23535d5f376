/*
 * ha_etcd.h - the few etcd v3 calls an election needs, over etcd's JSON
 * gateway (grpc-gateway: POST /v3/<service>/<method>, int64 fields as JSON
 * strings, keys and values in base64).
 *
 * The gateway path is /v3/: etcd 3.4 (Debian 12's etcd-server) serves both
 * /v3/ and the older /v3beta/, and 3.5 dropped /v3beta/. Errors come back
 * as a non-200 status with {"error","code"} (a gRPC code) and may be
 * followed by a gRPC trailer line, so the decoder reads the first JSON
 * value and ignores what follows.
 *
 * Several endpoints (the members of one etcd cluster): a request goes to
 * the member that answered last; a member that does not answer (refused,
 * timed out, a 5xx such as "no leader") is left for the next one, each
 * member at most once per request. Every request has a budget: no attempt
 * outlives it, and a request whose budget is spent fails with
 * KV_ETIMEDOUT. An answer from etcd (even an error such as "lease not
 * found") ends the request: another member would say the same.
 *
 * What it is not: a general etcd client. No watch (the election polls), no
 * auth, no TLS client certificates.
 *
 * Threading: one thread (the transport's) for every call and callback.
 */
#ifndef HA_ETCD_H
#define HA_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ha_http.h"

/* The clock budgets are measured on: milliseconds, monotonic (ha_elect.h
 * ha_clock_now_ms). */
typedef uint64_t (*ha_now_fn)(void *arg);

typedef struct {
    const char *const *endpoints; /* "http://host:port", no path; copied */
    size_t endpoint_count;        /* 1..KV_HA_ENDPOINTS_MAX */
    uint64_t attempt_timeout_ms;  /* one member, one try */
    ha_now_fn now;
    void *now_arg;
} ha_etcd_config_t;

typedef struct ha_etcd ha_etcd_t;

/* A key as range or a failed create returns it. */
typedef struct {
    bool found;
    int64_t create_revision, mod_revision;
    int64_t lease;     /* 0: none */
    const char *value; /* borrowed for the callback; NUL-terminated */
    size_t value_len;
} ha_kv_t;

typedef struct {
    int err;          /* 0, or: KV_ETIMEDOUT (budget spent), KV_EUNAVAILABLE
                       * (no member answered), KV_ENOTFOUND (etcd: no such
                       * lease), -EPROTO (an answer we cannot read), KV_EINVAL
                       * (etcd refused the request) */
    int64_t revision; /* the header's store revision */
    int64_t lease;    /* grant: the new lease's id */
    int64_t ttl_s;    /* grant, keepalive, ttl: seconds left; 0: the lease is gone */
    bool created;     /* put_absent: the key was absent and is now ours */
    ha_kv_t kv;       /* get, and put_absent when !created: the key as it is */
    size_t endpoint;  /* the member that answered (index into endpoints) */
} ha_etcd_result_t;

/* r is borrowed for the duration of the call. */
typedef void (*ha_etcd_cb)(void *arg, const ha_etcd_result_t *r);

/* Returns 0 and sets *out; KV_EINVAL (no endpoint, too many, one too long
 * or not http(s)://), -ENOMEM. http must outlive the client. */
int ha_etcd_create(const ha_etcd_config_t *cfg, ha_http_t http, ha_etcd_t **out);

/* Cancels what is in flight (no callback is called) and frees c. */
void ha_etcd_free(ha_etcd_t *c);

/* Every call below: returns 0 and calls cb exactly once, within budget_ms
 * (plus the transport's lateness), unless ha_etcd_cancel names *id first;
 * or returns -ENOMEM / KV_EINVAL and never calls it. id may be NULL. */

/* POST /v3/lease/grant {"TTL": ttl_s} */
int ha_etcd_grant(ha_etcd_t *c, int64_t ttl_s, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                  uint64_t *id);
/* POST /v3/lease/keepalive {"ID": lease}: one renewal. ttl_s 0: gone. */
int ha_etcd_keepalive(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                      uint64_t *id);
/* POST /v3/lease/revoke: the lease and every key attached to it go. */
int ha_etcd_revoke(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                   uint64_t *id);
/* POST /v3/lease/timetolive: ttl_s left (0: gone). */
int ha_etcd_ttl(ha_etcd_t *c, int64_t lease, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                uint64_t *id);
/* POST /v3/kv/range for one key. */
int ha_etcd_get(ha_etcd_t *c, const char *key, uint64_t budget_ms, ha_etcd_cb cb, void *arg,
                uint64_t *id);
/* POST /v3/kv/txn: if create_revision(key) == 0 (absent) - and, with a
 * guard_key, mod_revision(guard_key) == guard_mod (0: absent) - put key =
 * value attached to lease, else read the key. created: ours, and revision
 * is its create_revision; else kv is the key that was there (not found:
 * the guard moved). */
int ha_etcd_put_absent(ha_etcd_t *c, const char *key, const char *value, int64_t lease,
                       const char *guard_key, int64_t guard_mod, uint64_t budget_ms, ha_etcd_cb cb,
                       void *arg, uint64_t *id);
/* POST /v3/kv/txn: if create_revision(if_key) == if_create (the key a leader
 * holds is still its own) put key = value, with no lease; else read
 * if_key. created: it was put. */
int ha_etcd_put_if(ha_etcd_t *c, const char *key, const char *value, const char *if_key,
                   int64_t if_create, uint64_t budget_ms, ha_etcd_cb cb, void *arg, uint64_t *id);

/* Forgets request id (its callback is never called); an id that already
 * answered is ignored. */
void ha_etcd_cancel(ha_etcd_t *c, uint64_t id);

/* Endpoint i's URL (i < the configured count). */
const char *ha_etcd_endpoint(const ha_etcd_t *c, size_t i);

#endif
