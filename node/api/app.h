/*
 * app.h - the node application: what a request means.
 *
 * Glues the HTTP server to the KV operations. A request carrying
 * X-EdgeKV-Namespace is a Workers binding request (binding.c); a path under
 * /client/v4/ is the Cloudflare REST API (rest.c); /healthz, /metrics,
 * /status and /digest are operations endpoints (here). Everything else is a
 * REST-style 404 (code 7003).
 *
 * GET /readyz answers 200 when the node takes traffic (app_ready) and 503
 * with the reason otherwise: a readiness probe.
 *
 * Who may call what: /healthz and /readyz are open; /metrics is open unless the node
 * says otherwise (metrics_need_token); /status and /digest need an operator
 * token: a read+write token of the node's own account scoped to every
 * namespace (the scope that also manages tokens). A request that announces
 * a body is authenticated as soon as its head arrives: a refused one gets
 * its 401/403 then, and no byte of its body is buffered.
 *
 * app_* functions run on the loop thread of the request.
 */
#ifndef NODE_APP_H
#define NODE_APP_H

#include <jansson.h>
#include <stdint.h>

#include "auth.h"
#include "http.h"
#include "kvops.h"
#include "metrics.h"
#include "replica.h"

typedef struct {
    kvops_t *ops;
    auth_t *auth;
    metrics_t *metrics;
    http_server_t *http; /* set once the server runs; for /status and /metrics */
    const char *role;    /* "origin" */
    uint32_t node_id;
    const char *account_id;
    uint64_t start_ns;        /* uv_hrtime (monotonic) at start, for uptime_s */
    struct replica *replica;  /* NULL for a lone origin */
    bool strict_staleness;    /* edge: refuse reads with 503 while stale */
    bool metrics_need_token;  /* /metrics wants an operator token (--metrics-public false) */
    unsigned digests_running; /* /digest computations in flight (atomic builtins) */
    struct hostgauges *host;  /* disk and certificate gauges of /metrics; NULL: none */
    /* A stop signal arrived and the node drains (main.c): app_ready says
     * no, the node still serves. Set once; any thread (atomic builtins). */
    bool draining;
} node_app_t;

/* Does the node take traffic? An origin does once it serves; an edge when
 * its link to the origin is live and it is not stale (the core's verdict,
 * replica_is_stale). When not, `why` gets the reason ("link connecting",
 * "stale 1200 ms"). GET /readyz answers this; main.c's READY=1 to systemd
 * waits for it (or --ready-wait-ms). Any thread. */
bool app_ready(node_app_t *app, char *why, size_t why_len);

/* The operator scope (/status, /digest, /backup): a read+write token of
 * this node's account scoped to every namespace. On failure the request is
 * answered (401/403, the REST envelope) and false returned. */
bool app_ops_admit(node_app_t *app, http_req_t *req, metrics_route_t route);

/* The handler to give http_server_start (ctx = the app). */
http_handler_t app_http_handler(node_app_t *app);

/* Answer and record the request in the metrics. */
void app_respond(node_app_t *app, http_req_t *req, metrics_route_t route,
                 const http_response_t *resp);

/* Answer with a JSON document (consumed: decref'd here). */
void app_respond_json(node_app_t *app, http_req_t *req, metrics_route_t route, int status,
                      json_t *doc);

/* REST envelope helpers. `result` and `result_info` are consumed (NULL ok). */
/* The envelope of a success with a null result and no result_info (a PUT's,
 * a DELETE's), as app_rest_ok writes it. */
extern const char APP_REST_OK_NULL[];
void app_rest_ok(node_app_t *app, http_req_t *req, metrics_route_t route, json_t *result,
                 json_t *result_info);
void app_rest_error(node_app_t *app, http_req_t *req, metrics_route_t route, int status, int code,
                    const char *msg);

/* Binding error: the message travels in the reason phrase (and the body). */
void app_bind_error(node_app_t *app, http_req_t *req, metrics_route_t route, int status,
                    const char *msg);

/* Run work(arg) on the libuv threadpool, then done(arg) on the request's
 * loop. Returns 0, or a negative code and calls neither. */
int app_offload(http_req_t *req, void (*work)(void *), void (*done)(void *), void *arg);

/* Submit writes of one namespace (kvops_write_async) and call done(arg, rc)
 * on the request's loop once they are committed or refused; rc as
 * kvops_write returns it. No thread waits meanwhile: the replication loop
 * posts the outcome to the request's loop (http_loop_post). On the loop
 * thread. Returns 0, or -ENOMEM and calls nothing. */
int app_write(node_app_t *app, http_req_t *req, const char *auth_id, const char *ns,
              const kvops_write_t *w, size_t n, void (*done)(void *arg, int rc), void *arg);

/* True when the request's head announces a body (a Content-Length above 0,
 * or a chunked one). */
bool app_announces_body(const http_req_t *req);

/* Front ends (rest.c, binding.c). The body limits also authenticate: a
 * request that would be refused accepts no body (0), and too_large answers
 * the refusal instead of a 413. */
uint64_t rest_body_limit(node_app_t *app, http_req_t *req);
void rest_too_large(node_app_t *app, http_req_t *req, uint64_t len);
void rest_handle(node_app_t *app, http_req_t *req);
uint64_t binding_body_limit(node_app_t *app, http_req_t *req);
void binding_too_large(node_app_t *app, http_req_t *req, uint64_t len);
void binding_handle(node_app_t *app, http_req_t *req);

/* The values of a bulk get (shared by both APIs): an object mapping each
 * key to its value (parsed when type_json) or null; with_meta wraps each as
 * {value, metadata[, expiration when with_exp]}. -1 with *e on failure. */
int binding_bulk_values(node_app_t *app, const char *ns, json_t *keys, int type_json, int with_meta,
                        int with_exp, json_t **out, kvop_err_t *e);

#endif
