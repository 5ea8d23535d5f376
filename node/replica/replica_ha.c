/*
 * replica_ha.c - an origin candidate: the election (node/ha) on the
 * replication loop, and the core it runs as a result.
 *
 * A candidate runs one of two cores over the same store. While another
 * candidate leads it is a standby: a relay core following the leader's
 * advertised address (read from etcd), so its log has every entry the
 * leader sent, durable before it acks; the leader counts those acks
 * (repl.h "Synchronous standbys"), recognising a standby by its origin
 * certificate. It also serves edges, as a relay does. When it wins, the
 * relay core is replaced by an origin core over the same store (history,
 * log, position: the standby's log continues the history) writing under
 * the election's term, told every renewal's deadline: it answers a write
 * only once enough standbys acked it and before that deadline. Deposed, it
 * stops answering at once (the deadline is 0) and becomes a standby again.
 *
 * Replacing the core: every link is closed (they come back: standbys and
 * edges dial on), waiting writers are answered 503, and it happens only
 * when no storage step whose completion calls the core is out (core_jobs),
 * from on_wake, never inside a dispatch.
 *
 * Not here: who leads and the deadline's safety (node/ha), fencing and
 * the answers (the core). Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha_loop.h"
#include "ha_sync.h"
#include "kv_err.h"
#include "replica_int.h"

bool replica__ha(const replica_t *r)
{
    return r->cfg.ha.endpoint_count > 0;
}

/* Follow the leader's advertised HOST:PORT (a standby's only upstream). */
static void ha_follow(replica_t *r, const char *address)
{
    const char *colon = strrchr(address, ':');
    replica_addr_t *u = &r->cfg.upstreams[0];
    if (!colon || colon == address || (size_t)(colon - address) >= sizeof u->host)
        return;
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
        return;
    bool same = r->cfg.upstream_count == 1 && u->port == port &&
                strncmp(u->host, address, (size_t)(colon - address)) == 0 &&
                u->host[colon - address] == '\0';
    if (same)
        return;
    memcpy(u->host, address, (size_t)(colon - address));
    u->host[colon - address] = '\0';
    u->port = port;
    r->cfg.upstream_count = 1;
    r->up_turn = 0;
    KV_LOG_INFO(REPLICA_LOG, "following the leader at %s", address);
    if (r->link) /* the link to the old leader: the core reconnects */
        replica__close_peer(r, r->link->id);
    if (r->relay) { /* not after the backoff the dead leader built up */
        repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
        repl_relay_up_redial(r->relay, replica__now_ms(), &a);
        replica__dispatch(r, &a);
    }
}

static void ha_lead_until(replica_t *r, uint64_t until_ms)
{
    if (!r->origin)
        return;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    repl_origin_lead_until(r->origin, until_ms, replica__now_ms(), &a);
    replica__dispatch(r, &a);
}

static void on_leader(void *arg, int64_t term, uint64_t until_ms)
{
    replica_t *r = arg;
    KV_LOG_INFO(REPLICA_LOG, "leading: term %lld", (long long)term);
    r->ha_leading = true;
    r->ha_term = term;
    r->ha_until = until_ms;
    r->ha_switch_due = true;
    replica__defer(r);
}

static void on_renewed(void *arg, int64_t term, uint64_t until_ms)
{
    replica_t *r = arg;
    (void)term;
    r->ha_until = until_ms;
    ha_lead_until(r, until_ms);
}

static void on_deposed(void *arg, int64_t term, ha_deposed_t why, uint64_t until_ms)
{
    replica_t *r = arg;
    (void)until_ms;
    KV_LOG_WARN(REPLICA_LOG, "deposed: term %lld (%s): no write is acknowledged from now on",
                (long long)term, ha_deposed_str(why));
    r->ha_leading = false;
    r->ha_until = 0;
    r->ha_pub_inflight = false; /* the election dropped its answer */
    ha_lead_until(r, 0);
    r->ha_switch_due = true;
    replica__defer(r);
}

static void on_leader_seen(void *arg, const ha_leader_t *l)
{
    replica_t *r = arg;
    if (l->term > 0 && strcmp(l->name, r->cfg.ha.name) != 0)
        ha_follow(r, l->address);
}

/* The campaign rule: a standby claims leadership only when its log holds
 * everything a leader told it may have been acknowledged (acked_seen, the
 * synchronous standbys' point). With one synchronous standby of two, the
 * one that made a write durable first has it, and the other saw the point
 * pass its log only once it had it too; so the winner holds every write
 * acknowledged up to what it was told. A deposed leader still waiting to
 * become a standby does not campaign: another may have led meanwhile, and
 * its log would lack that leader's writes. */
static bool may_claim(void *arg, const char *record)
{
    replica_t *r = arg;
    if (!r->relay)
        return r->ha_leading;
    if (!ha_sync_may_claim(record, r->cfg.ha.cert_name)) {
        if (!r->ha_held_back)
            KV_LOG_WARN(REPLICA_LOG,
                        "not campaigning: the last leader's record of its synchronous standbys "
                        "(%s) does not name %s",
                        record, r->cfg.ha.cert_name);
        r->ha_held_back = true;
        return false;
    }
    repl_edge_status_t st;
    repl_relay_status(r->relay, replica__now_ms(), &st);
    bool ok = st.applied_seq >= st.acked_seen;
    if (!ok && !r->ha_held_back)
        KV_LOG_WARN(REPLICA_LOG,
                    "not campaigning: this log ends at seq %llu, a leader acknowledged up to %llu",
                    (unsigned long long)st.applied_seq, (unsigned long long)st.acked_seen);
    r->ha_held_back = !ok;
    return ok;
}

bool replica__ha_may_serve(const replica_t *r)
{
    if (!replica__ha(r) || !r->relay)
        return true;
    repl_edge_status_t st;
    repl_relay_status(r->relay, replica__now_ms(), &st);
    return st.link == REPL_LINK_LIVE;
}

/* ---- the leader's synchronous standbys ------------------------------------------------

 * The core counts the acks of the standbys named in r->ha_sync only, and
 * only once etcd holds a record naming them (ha_sync.h). When a named
 * standby stops streaming, or the set is not complete (a new leader starts
 * with none), the leader chooses again: the named standbys still
 * streaming, then others streaming that hold every write that may have
 * been acknowledged (acked_seq >= answer_seq), up to sync_standbys. Only a
 * complete set is written. While the record is being written the core
 * counts nobody: a write acknowledged by the old set during the change
 * could be missing from a new standby. */

static const repl_edge_info_t *ha_find(const repl_edge_info_t *edges, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (edges[i].connected && strcmp(edges[i].name, name) == 0)
            return &edges[i];
    return NULL;
}

bool replica__ha_sync_needed(const replica_t *r, const repl_edge_info_t *edges, size_t n)
{
    size_t k = r->cfg.ha.sync_standbys;
    if (!replica__ha(r) || !r->origin || !r->ha_leading || k == 0 || r->ha_pub_inflight)
        return false;
    if (r->ha_sync_n < k)
        return true;
    for (size_t i = 0; i < r->ha_sync_n; i++) {
        const repl_edge_info_t *e = ha_find(edges, n, r->ha_sync[i]);
        if (!e || !e->standby)
            return true;
    }
    return false;
}

/* The core counts the first n names of r->ha_sync (0: nobody). */
static void ha_set_core(replica_t *r, size_t n)
{
    const char *v[KV_REPL_SYNC_STANDBYS_MAX];
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    for (size_t i = 0; i < n; i++)
        v[i] = r->ha_sync[i];
    r->ha_sync_n = n;
    repl_origin_sync_names(r->origin, v, n, replica__now_ms(), &a);
    replica__dispatch(r, &a);
}

static void ha_published(void *arg, bool ok)
{
    replica_t *r = arg;
    r->ha_pub_inflight = false;
    if (!ok || !r->origin || !r->ha_leading || r->ha_pub_term != r->ha_term)
        return; /* chosen again on the next status */
    KV_LOG_INFO(REPLICA_LOG, "synchronous standbys of term %lld: %s%s%s", (long long)r->ha_term,
                r->ha_pub[0], r->ha_pub_n > 1 ? ", " : "", r->ha_pub_n > 1 ? r->ha_pub[1] : "");
    memcpy(r->ha_sync, r->ha_pub, r->ha_pub_n * sizeof r->ha_pub[0]);
    ha_set_core(r, r->ha_pub_n);
}

void replica__ha_sync(replica_t *r)
{
    size_t k = r->cfg.ha.sync_standbys, n = 0;
    if (!r->ha_sync_due)
        return;
    r->ha_sync_due = false;
    if (!replica__ha_sync_needed(r, r->edges_now, r->status.edge_count))
        return;
    repl_origin_stats_t st;
    repl_origin_stats(r->origin, &st);
    size_t ne = repl_origin_edges(r->origin, replica__now_ms(), r->edges_now, KV_REPL_EDGES_MAX);
    if (ne > KV_REPL_EDGES_MAX)
        ne = KV_REPL_EDGES_MAX;
    char(*pick)[KV_TLS_PEER_NAME_MAX + 1] = r->ha_pub;
    for (size_t i = 0; i < r->ha_sync_n && n < k; i++) { /* keep those still streaming */
        const repl_edge_info_t *e = ha_find(r->edges_now, ne, r->ha_sync[i]);
        if (e && e->standby)
            memcpy(pick[n++], e->name, sizeof pick[0]);
    }
    for (size_t i = 0; i < ne && n < k; i++) {
        const repl_edge_info_t *e = &r->edges_now[i];
        bool have = false;
        for (size_t j = 0; j < n; j++)
            have = have || strcmp(pick[j], e->name) == 0;
        if (!have && e->connected && e->standby && e->acked_seq >= st.answer_seq)
            memcpy(pick[n++], e->name, sizeof pick[0]);
    }
    if (n < k)
        return; /* not enough yet: the next status asks again */
    char record[KV_HA_RECORD_MAX_BYTES + 1];
    const char *v[KV_REPL_SYNC_STANDBYS_MAX];
    for (size_t i = 0; i < n; i++)
        v[i] = pick[i];
    if (ha_sync_format(record, sizeof record, r->ha_term, r->cfg.ha.cert_name, v, n) != 0)
        return;
    ha_set_core(r, 0); /* nobody counts while the record changes */
    r->ha_pub_n = n;
    r->ha_pub_term = r->ha_term;
    if (ha_elect_publish(ha_loop_elect(r->ha_loop), record, ha_published, r) == 0)
        r->ha_pub_inflight = true;
}

/* Close every link: their core is going away. */
static void ha_orphan_links(replica_t *r)
{
    for (size_t i = 0; i < REPLICA_SLOTS; i++) {
        rpeer_t *p = r->peers[i];
        if (p && !p->closing) {
            p->orphan = true;
            replica__close_peer(r, p->id);
        }
    }
    r->connect_pending = false;
}

void replica__ha_switch(replica_t *r)
{
    bool lead = r->ha_leading;
    if (!r->ha_switch_due || r->core_jobs > 0)
        return;
    r->ha_switch_due = false;
    if (lead == (r->origin != NULL)) {
        if (lead) { /* still the leader's core: its term and deadline */
            repl_origin_set_term(r->origin, (uint64_t)r->ha_term);
            ha_lead_until(r, r->ha_until);
        }
        return;
    }
    ha_orphan_links(r);
    replica__fail_waiting(r, KV_EUNAVAILABLE);
    r->ha_sync_n = 0; /* a new core counts nobody until a record names them */
    repl_origin_destroy(r->origin);
    repl_relay_destroy(r->relay);
    r->origin = NULL;
    r->relay = NULL;
    r->cfg.role = lead ? REPLICA_ORIGIN : REPLICA_RELAY;
    int rc = replica__create_core(r);
    if (rc != 0) {
        /* Its own store cannot be read: nothing safe is left to do. */
        KV_LOG_ERROR(REPLICA_LOG, "cannot rebuild the replication core: %s", kv_strerror(rc));
        abort();
    }
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (lead) {
        KV_LOG_INFO(REPLICA_LOG, "the leader now: term %lld, from seq %llu of its own log",
                    (long long)r->ha_term, (unsigned long long)r->pos.seq);
        replica__restore_acks(r);
        repl_origin_lead_until(r->origin, r->ha_until, replica__now_ms(), &a);
    } else {
        KV_LOG_INFO(REPLICA_LOG, "a standby now: following the leader");
        repl_relay_start(r->relay, replica__now_ms(), &a);
    }
    replica__dispatch(r, &a);
}

int replica__ha_start(replica_t *r)
{
    const char *urls[KV_HA_ENDPOINTS_MAX];
    for (size_t i = 0; i < r->cfg.ha.endpoint_count; i++)
        urls[i] = r->cfg.ha.endpoints[i];
    ha_loop_config_t cfg = {.endpoints = urls,
                            .endpoint_count = r->cfg.ha.endpoint_count,
                            .elect = {.cluster = r->cfg.ha.cluster,
                                      .name = r->cfg.ha.name,
                                      .address = r->cfg.ha.address,
                                      .lease_ms = r->cfg.ha.lease_ms}};
    ha_elect_cbs_t cbs = {.on_leader = on_leader,
                          .on_renewed = on_renewed,
                          .on_deposed = on_deposed,
                          .on_leader_seen = on_leader_seen,
                          .may_claim = may_claim,
                          .arg = r};
    return ha_loop_start(&r->loop, &cfg, &cbs, &r->ha_loop);
}

static void ha_stopped(void *arg)
{
    (void)arg;
}

void replica__ha_stop(replica_t *r)
{
    if (!r->ha_loop)
        return;
    ha_lead_until(r, 0);
    ha_loop_stop(r->ha_loop, ha_stopped, NULL); /* revokes the lease: a fast handover */
    r->ha_loop = NULL;
}
