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
static bool may_claim(void *arg)
{
    replica_t *r = arg;
    if (!r->relay)
        return r->ha_leading;
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
