/*
 * ha_curl.h - ha_http.h over libcurl's multi socket interface, driven by a
 * libuv loop.
 *
 * Why the multi socket API on the loop rather than a worker thread with
 * blocking requests and a completion uv_async: the leader's renewals must
 * never queue behind a request stuck on a dead etcd member, and a worker
 * thread serialises them (or needs a pool); a request on a thread cannot be
 * cancelled, only abandoned until its timeout, so stopping a node would
 * wait for it; and a thread adds a lock to every piece of state the
 * callbacks touch. On the loop, curl only ever sees non-blocking sockets
 * (uv_poll watches them, a uv_timer carries curl's timeout), requests run
 * side by side, and cancel is curl_multi_remove_handle, at once.
 *
 * What it is not: a general client. Every request is a POST of JSON with a
 * total timeout; no proxy is used (etcd is reached directly, whatever
 * http_proxy says); only http and https; https verifies the peer with the
 * system's trust store.
 *
 * Threading: the loop's thread only.
 */
#ifndef HA_CURL_H
#define HA_CURL_H

#include <uv.h>

#include "ha_http.h"

typedef struct ha_curl ha_curl_t;

/* A transport on loop. Returns 0 and sets *out, or -ENOMEM / -EIO (curl
 * could not be set up). Calls curl_global_init, which is not thread-safe on
 * every libcurl: create the first one before other threads start. */
int ha_curl_create(uv_loop_t *loop, ha_curl_t **out);

/* The ha_http_t interface of c, valid until ha_curl_close. */
ha_http_t ha_curl_http(ha_curl_t *c);

/* Cancels every request (no callback is called) and closes the loop's
 * handles; done(arg) is called from the loop once they are closed and c is
 * freed. May be called from inside one of c's callbacks. */
void ha_curl_close(ha_curl_t *c, void (*done)(void *arg), void *arg);

#endif
