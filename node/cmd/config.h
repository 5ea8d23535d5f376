/*
 * config.h - the node's configuration: defaults, a JSON file, flags.
 *
 * Precedence: built-in defaults < the file given with --config < flags.
 * Every setting has a default that needs no file. The file is JSON (parsed
 * with jansson); unknown keys are an error, so a typo never passes silently.
 * Every option is declared once, in config.c's table, which also generates
 * --help and README.md's "Configuration" table (node_config_table).
 */
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "store.h"

#define NODE_PATH_MAX 4096
#define NODE_HOST_MAX 256
/* Upstreams an edge or relay lists (--upstream): replica.h's REPLICA_UPSTREAMS_MAX. */
#define NODE_UPSTREAMS_MAX 8
/* An edge tells systemd it is ready at the latest this long after it
 * serves, link live or not (--ready-wait-ms): long enough for a link to
 * come up and catch up from the log, well inside systemd's default
 * TimeoutStartSec (90 s); a snapshot may take longer, and the edge then
 * serves its replica marked stale meanwhile. */
#define NODE_READY_WAIT_MS_DEFAULT 30000
/* Graceful drain (--drain-ms): after SIGTERM the node reports not ready
 * and keeps serving this long, so load balancers and Kubernetes endpoints
 * stop sending it new requests before its listener closes. 0 by default:
 * a node started by hand or by a test stops at once, as it always did; the
 * systemd units and Kubernetes manifests set 5000 (their stop timeouts
 * leave room for it plus KV_SHUTDOWN_GRACE_MS; tests/deploy checks that).
 * At most NODE_DRAIN_MS_MAX: longer is a configuration mistake. */
#define NODE_DRAIN_MS_DEFAULT 0
#define NODE_DRAIN_MS_MAX     600000

typedef struct {
    char listen_host[NODE_HOST_MAX];
    int listen_port;
    char data_dir[NODE_PATH_MAX];
    unsigned http_threads;  /* event loops; default: number of CPUs */
    unsigned write_threads; /* libuv threadpool size for durable writes */
    size_t cache_bytes;
    size_t http_body_budget_bytes;                /* request bodies held at once, all connections */
    stor_options_t storage;                       /* .path is filled from data_dir at start */
    uint32_t node_id;                             /* 0: generated once and kept in the data dir */
    char account_id[KV_ACCOUNT_ID_MAX_BYTES + 1]; /* "": generated and kept */
    auth_token_t *tokens;                         /* from the file and --token; strings owned */
    size_t token_count;
    kv_log_level_t log_level;
    bool metrics_public; /* /metrics without a token (default true) */
    void *json_root;     /* the files read (a JSON array): owns the strings tokens point to */

    /* Replication (see README "Cluster"). */
    char repl_host[NODE_HOST_MAX]; /* origin: replication listener */
    int repl_port;
    char origin_host[NODE_HOST_MAX]; /* edge: the origin's replication address */
    int origin_port;
    /* Edge, relay: upstreams tried in turn (--upstream); none: --origin. */
    char upstream_hosts[NODE_UPSTREAMS_MAX][NODE_HOST_MAX];
    int upstream_ports[NODE_UPSTREAMS_MAX];
    size_t upstream_count;
    char certs_dir[NODE_PATH_MAX]; /* "": replication off (origin only) */
    char name[64];                 /* certificate name: DIR/<name>.crt and .key */
    uint64_t propagation_bound_ms;
    uint64_t heartbeat_interval_ms;
    uint64_t max_clock_offset_ms;
    uint64_t write_timeout_ms;
    uint64_t log_retention;
    uint64_t log_retention_max;
    uint64_t repl_handshake_timeout_ms; /* replica_config_t.accept_handshake_timeout_ms */
    bool strict_staleness;
    bool new_history;       /* origin: --new-history (after restoring a backup) */
    uint64_t ready_wait_ms; /* edge: longest wait for a live link before READY=1 (ready.h) */
    uint64_t drain_ms;      /* SIGTERM: not ready, still serving, this long (--drain-ms) */
    /* Origin leadership (node/replica/replica_ha.c): etcd members, "" none. */
    char etcd[KV_HA_ENDPOINTS_MAX * (KV_HA_URL_MAX_BYTES + 1)];
    char ha_cluster[KV_HA_CLUSTER_MAX_BYTES + 1];
    char ha_name[KV_HA_NAME_MAX_BYTES + 1];       /* "": --name */
    char ha_address[KV_HA_ADDRESS_MAX_BYTES + 1]; /* "": --repl-listen */
    uint64_t ha_lease_ms;
    size_t ha_sync_standbys;

    /* HTTPS on the API port (README "HTTPS"); https_host "" = off. The cert
     * and key fields are comma-separated lists of files, pairs in order. */
    char https_host[NODE_HOST_MAX];
    int https_port;
    char https_cert[NODE_PATH_MAX];
    char https_key[NODE_PATH_MAX];
    char https_client_ca[NODE_PATH_MAX]; /* "": no client certificates */
    unsigned https_handshake_timeout_ms;
    unsigned https_ticket_rotate_s;
} node_config_t;

/* Defaults for a role: "origin" 127.0.0.1:8788 (replication 0.0.0.0:7400),
 * "edge" 127.0.0.1:8787 (origin 127.0.0.1:7400), "relay" 127.0.0.1:8789
 * (replication 0.0.0.0:7401, origin 127.0.0.1:7400); data in ./data/<role>. */
void node_config_defaults(node_config_t *c, const char *role);

/* Parse flags (argv after the subcommand): "--flag VALUE" or "--flag=VALUE".
 * Every --config FILE is read first, wherever it appears. Returns 0, 1 when
 * --help or -h was given (nothing printed), or -1 with a message in err. */
int node_config_parse(node_config_t *c, int argc, char **argv, char *err, size_t err_len);

/* Load a JSON config file into c. 0 or -1 with a message. */
int node_config_load_file(node_config_t *c, const char *path, char *err, size_t err_len);

void node_config_free(node_config_t *c);

/* Print every option with `role`'s default ("origin" | "edge" | "relay"): what
 * `edgekv ROLE --help` shows. */
void node_config_usage(FILE *out, const char *role);

/* Print README.md's configuration table (markdown): what `edgekv
 * config-table` shows. tests/process/test_config_table.sh compares them. */
void node_config_table(FILE *out);

#endif
