/*
 * node_replica.c - the replica of a node's role, configured from the
 * node's settings: the upstreams, the certificates, the judge's view of the
 * configured tokens, and an origin candidate's leadership (--etcd, --ha-*).
 */
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "node_int.h"
#include "tokens.h"

/* The stored API tokens changed (a commit, here or replicated). */
static void reload_tokens(void *arg)
{
    node_t *n = arg;
    tokens_reload(n->store, n->auth);
}

/* The origin's judge asks the configured tokens by id (judge.h). */
static int configured_token(void *arg, const char *id, judge_scope_t *out)
{
    auth_scope_t sc;
    if (!auth_configured_scope(arg, id, &sc))
        return 0;
    *out = (judge_scope_t){.account = sc.account,
                           .write = sc.write,
                           .scoped = sc.namespaces != NULL,
                           .namespaces = sc.namespaces,
                           .namespace_count = sc.namespace_count};
    return 1;
}

/* The judge holds the configured table while it judges a group, so a
 * SIGHUP reload does not free the strings it borrowed (auth.h). */
static void configured_hold(void *arg)
{
    auth_configured_hold(arg);
}

static void configured_release(void *arg)
{
    auth_configured_release(arg);
}

/* The replica: every write goes through it. An edge replicates from its
 * upstreams (the origin, or relays); a relay follows its upstreams and
 * listens for edges and relays; an origin with certificates listens for
 * edges and relays; an origin without them is a lone origin - the same
 * origin core and commit path, no listener. */
/* An origin candidate's leadership settings (--etcd and --ha-*). */
static int ha_config(const node_config_t *c, replica_config_t *rc)
{
    char list[sizeof c->etcd];
    snprintf(list, sizeof list, "%s", c->etcd);
    for (char *save = NULL, *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (rc->ha.endpoint_count == KV_HA_ENDPOINTS_MAX || strlen(u) > KV_HA_URL_MAX_BYTES) {
            KV_LOG_ERROR("node", "--etcd: at most %u members of at most %u bytes each",
                         KV_HA_ENDPOINTS_MAX, KV_HA_URL_MAX_BYTES);
            return KV_ECONFIG;
        }
        snprintf(rc->ha.endpoints[rc->ha.endpoint_count++], sizeof rc->ha.endpoints[0], "%s", u);
    }
    if (rc->ha.endpoint_count == 0)
        return 0;
    if (rc->lone || rc->role != REPLICA_ORIGIN) {
        KV_LOG_ERROR("node", "--etcd: only an origin with --certs campaigns for leadership");
        return KV_ECONFIG;
    }
    if (c->storage.sync != STOR_SYNC_ALWAYS) {
        /* A leader answers a write once it and its standbys hold it; a
         * candidate that may claim must still hold it after a power cut. */
        KV_LOG_ERROR("node", "--etcd: origin candidates run with --sync always (an acknowledged "
                             "write must be durable on the leader and on its standbys)");
        return KV_ECONFIG;
    }
    snprintf(rc->ha.cluster, sizeof rc->ha.cluster, "%s", c->ha_cluster);
    snprintf(rc->ha.name, sizeof rc->ha.name, "%s", c->ha_name[0] ? c->ha_name : c->name);
    if (c->ha_address[0]) {
        snprintf(rc->ha.address, sizeof rc->ha.address, "%s", c->ha_address);
    } else if (strcmp(c->repl_host, "0.0.0.0") == 0 || strcmp(c->repl_host, "::") == 0) {
        KV_LOG_ERROR("node", "--etcd: --ha-address HOST:PORT is needed when --repl-listen is a "
                             "wildcard (standbys and edges must be able to dial it)");
        return KV_ECONFIG;
    } else {
        char addr[NODE_HOST_MAX + 16];
        snprintf(addr, sizeof addr, "%s:%d", c->repl_host, c->repl_port);
        if (strlen(addr) > KV_HA_ADDRESS_MAX_BYTES) {
            KV_LOG_ERROR("node", "--etcd: the advertised address is too long: give --ha-address");
            return KV_ECONFIG;
        }
        memcpy(rc->ha.address, addr, strlen(addr) + 1);
    }
    rc->ha.lease_ms = c->ha_lease_ms;
    rc->ha.sync_standbys = c->ha_sync_standbys;
    snprintf(rc->ha.cert_name, sizeof rc->ha.cert_name, "%s", c->name);
    return 0;
}

int node_start_replica(node_t *n)
{
    replica_config_t rc;
    const node_config_t *c = &n->cfg;
    bool edge = strcmp(n->app.role, "edge") == 0, relay = strcmp(n->app.role, "relay") == 0;
    int err;
    if (!c->certs_dir[0] && (edge || relay)) {
        KV_LOG_ERROR("node", "an %s needs --certs DIR (the cluster CA and its certificate)",
                     n->app.role);
        return KV_ECONFIG;
    }
    replica_config_defaults(&rc, edge ? REPLICA_EDGE : relay ? REPLICA_RELAY : REPLICA_ORIGIN);
    rc.lone = !c->certs_dir[0];
    rc.node_id = n->app.node_id;
    rc.store = n->store;
    rc.cache = n->cache;
    snprintf(rc.host, sizeof rc.host, "%s", edge ? c->origin_host : c->repl_host);
    rc.port = edge ? c->origin_port : c->repl_port;
    /* The upstreams: --upstream's list, or --origin alone. */
    _Static_assert(NODE_UPSTREAMS_MAX <= REPLICA_UPSTREAMS_MAX, "every listed upstream fits");
    for (size_t i = 0; (edge || relay) && i < c->upstream_count; i++) {
        snprintf(rc.upstreams[i].host, sizeof rc.upstreams[i].host, "%s", c->upstream_hosts[i]);
        rc.upstreams[i].port = c->upstream_ports[i];
    }
    rc.upstream_count = edge || relay ? c->upstream_count : 0;
    if ((edge || relay) && rc.upstream_count == 0) {
        snprintf(rc.upstreams[0].host, sizeof rc.upstreams[0].host, "%s", c->origin_host);
        rc.upstreams[0].port = c->origin_port;
        rc.upstream_count = 1;
    }
    snprintf(rc.ca_file, sizeof rc.ca_file, "%s/ca.crt", c->certs_dir);
    snprintf(rc.cert_file, sizeof rc.cert_file, "%s/%s.crt", c->certs_dir, c->name);
    snprintf(rc.key_file, sizeof rc.key_file, "%s/%s.key", c->certs_dir, c->name);
    rc.propagation_bound_ms = c->propagation_bound_ms;
    rc.heartbeat_interval_ms = c->heartbeat_interval_ms;
    rc.max_clock_offset_ms = c->max_clock_offset_ms;
    rc.write_timeout_ms = c->write_timeout_ms;
    rc.log_retention = c->log_retention;
    rc.log_retention_max = c->log_retention_max;
    rc.accept_handshake_timeout_ms = c->repl_handshake_timeout_ms;
    rc.new_history = c->new_history;
    rc.apply_inline = (edge || relay) && c->storage.sync != STOR_SYNC_ALWAYS;
    rc.on_tokens = reload_tokens;
    rc.on_tokens_arg = n;
    rc.tokens = (judge_tokens_t){.lookup = configured_token,
                                 .hold = configured_hold,
                                 .release = configured_release,
                                 .arg = n->auth};
    if ((err = ha_config(c, &rc)) != 0)
        return err;
    if ((err = replica_start(&rc, &n->replica)) != 0)
        return err;
    kvops_set_replica(n->ops, n->replica);
    /* /status and /metrics describe replication only where there is some. */
    n->app.replica = rc.lone ? NULL : n->replica;
    n->app.strict_staleness = c->strict_staleness;
    n->app.metrics_need_token = !c->metrics_public;
    return 0;
}
