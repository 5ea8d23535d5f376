/*
 * ready.h - telling systemd (Type=notify) how a node is doing: READY=1,
 * STATUS= lines, RELOADING=1 around a SIGHUP reload and STOPPING=1, with
 * sd_notify from libsystemd.
 *
 * READY=1 goes out once the store is open and the HTTP server listens
 * (the caller starts this then) and, on an edge, once app_ready says the
 * node takes traffic (link live, not stale) or --ready-wait-ms expired,
 * whichever comes first: an edge whose origin is away still serves its
 * replica (marked stale), so systemd must not hold its start forever.
 * After READY=1 the STATUS= line follows the link ("edge: link live",
 * "edge: not ready: link connecting").
 *
 * Without NOTIFY_SOCKET in the environment (not started by systemd with
 * Type=notify) nothing is sent and no timer runs. Not here: what "ready"
 * means (app_ready in node/api/app.h).
 */
#ifndef NODE_READY_H
#define NODE_READY_H

#include <stdint.h>
#include <uv.h>

#include "app.h"

/* While waiting for an edge's link, app_ready is asked this often; after
 * READY=1 the status line is refreshed at the slower period. */
#define READY_POLL_MS   50
#define READY_STATUS_MS 1000

typedef struct node_ready node_ready_t;

/* Start on `loop` (the main thread's) for a serving node: app must stay
 * valid until ready_stop. `wait_ms` is the edge's longest wait for its
 * link before READY=1 anyway. *out is NULL (and nothing sent, ever) when
 * NOTIFY_SOCKET is unset. 0 or -ENOMEM. */
int ready_start(uv_loop_t *loop, node_app_t *app, uint64_t wait_ms, node_ready_t **out);

/* A SIGHUP reload begins / ended (RELOADING=1, then READY=1 with a status). */
void ready_reloading(node_ready_t *r);
void ready_reloaded(node_ready_t *r, const char *status);

/* A signal starts the stop: STOPPING=1 and STATUS=, and the timer is
 * closed (freed by the loop; r must not be used after). NULL is a no-op. */
void ready_stop(node_ready_t *r, const char *status);

#endif
