/*
 * ha_http.h - the transport under the etcd client: POST a JSON body to a URL
 * with a timeout, get the status and the body back through a callback.
 *
 * Two implementations: ha_curl.h (libcurl's multi interface on a libuv
 * loop, the real one) and the fake etcd of tests/node/ha/test_ha_elect.c.
 * The interface is the seam that lets the election be tested against a
 * scripted etcd (lost answers, dead members, slow members) on a virtual
 * clock. It is not a general HTTP client: no headers, no redirects, no
 * streaming; an answer is at most KV_HA_RESPONSE_MAX_BYTES.
 *
 * Threading: one thread (the loop's) calls every function and receives every
 * callback.
 */
#ifndef HA_HTTP_H
#define HA_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* An answer. body is borrowed for the duration of the callback. */
typedef struct {
    long status; /* the HTTP status */
    const char *body;
    size_t body_len;
} ha_http_resp_t;

/* err 0: resp is the answer (any status). err < 0: no answer: -ETIMEDOUT
 * (the timeout passed), -ECONNREFUSED (nobody listens), -EIO (another
 * transport failure), KV_ETOOBIG (the answer was over the limit); resp is
 * NULL. */
typedef void (*ha_http_cb)(void *arg, int err, const ha_http_resp_t *resp);

typedef struct {
    /* Sends body (copied: the caller's buffer may go at once) to url,
     * answering through cb no later than timeout_ms from now. Returns 0 and
     * calls cb exactly once (never from inside post), unless the request
     * is cancelled first; or returns a negative code and never calls it.
     * *id names the request for cancel. */
    int (*post)(void *impl, const char *url, const char *body, size_t body_len, uint64_t timeout_ms,
                ha_http_cb cb, void *arg, uint64_t *id);
    /* Forgets request id: its callback is never called. An id that already
     * answered is ignored. */
    void (*cancel)(void *impl, uint64_t id);
} ha_http_ops_t;

typedef struct {
    const ha_http_ops_t *ops;
    void *impl;
} ha_http_t;

#endif
