/*
 * node_int.h - what the files of a running node share (main.c, the
 * lifecycle; node_signals.c, stop, drain and reload; node_replica.c, the
 * replica's configuration): the node and the calls between them.
 */
#ifndef EDGEKV_NODE_INT_H
#define EDGEKV_NODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "app.h"
#include "config.h"
#include "hostgauges.h"
#include "ready.h"
#include "tls_api.h"

#define TOKEN_HEX_LEN   64
#define ACCOUNT_HEX_LEN 32

typedef struct {
    node_config_t cfg;
    stor_t *store;
    cache_t *cache;
    kvops_t *ops;
    auth_t *auth;
    metrics_t *metrics;
    http_server_t *http;
    replica_t *replica;
    node_app_t app;
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1];
    char default_token[KV_TOKEN_MAX_BYTES + 1];
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t drain_timer; /* the drain period after the first stop signal */
    bool draining;          /* a stop signal arrived */
    bool stopping;          /* the signal handles are closing: uv_run returns */
    int argc;               /* the node's flags, read again by a SIGHUP reload */
    char **argv;
    tls_api_t *https;    /* NULL: no HTTPS */
    node_ready_t *ready; /* NULL: not started by systemd (no NOTIFY_SOCKET) */
    hostgauges_t *host;  /* disk and certificate gauges of /metrics */
} node_t;

/* main.c. SIGHUP: the configuration (files and flags) read again for its
 * tokens only; every other setting keeps its start-up value. A
 * configuration that does not parse or holds a bad token changes nothing. */
int node_reload_config_tokens(node_t *n, size_t *count);

/* node_signals.c: SIGINT/SIGTERM drain and stop, SIGHUP reloads; uv_run
 * on loop returns once a stop closed these handles. */
void node_signals_start(node_t *n, uv_loop_t *loop);

/* node_replica.c: start the replica of the node's role (every write goes
 * through it); 0 or a kv code, logged. */
int node_start_replica(node_t *n);

#endif
