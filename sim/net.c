/*
 * net.c - links and connections between the origin and the edges.
 *
 * What is modelled, per hop (a connection: an edge or a relay and its
 * upstream, the origin or a relay; every frame crosses one hop, since a
 * relay is a node of its own that receives, applies and re-sends):
 *   - one-way delay: the world model's base delay (or the scenario's
 *     one_way distribution) plus a jitter draw, per frame;
 *   - serialisation: bytes / link bandwidth per direction, and for the
 *     origin's links also through its shared uplink;
 *   - a relay's processing: a relay_proc draw before each frame it sends;
 *   - order: TCP keeps order within a connection, so a frame never arrives
 *     before an earlier frame of the same connection and direction
 *     (arrival = max(drawn arrival, last arrival)). Reordering happens only
 *     across connections, i.e. across reconnects;
 *   - partitions: a frame whose flight overlaps a partition window of a hop
 *     is held and retransmitted after the window (heal + rto + a fresh
 *     delay), as TCP would; if the core gives up first (link timeout) the
 *     connection is closed and the held bytes are never delivered;
 *   - loss: "reset" (default): a lost frame breaks the connection (both
 *     sides see a disconnect at its would-be arrival, nothing after it is
 *     delivered, the edge reconnects and resumes) -- a pessimistic stand-in
 *     for TCP, which would retransmit; "retransmit": the frame arrives
 *     rto later (repeated per further loss);
 *   - connects: TCP + TLS 1.3 take two round trips; a connect into a
 *     partition fails after connect_timeout_ms, to a crashed node after one
 *     round trip (refused);
 *   - on_flushed: the origin is told bytes were written when they reach the
 *     edge, in steps of SIM_FLUSH_REPORT_BYTES (the core only uses the
 *     count to stop pushing to an edge that is 8 MiB behind).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv_assert.h"
#include "kv_mem.h"
#include "sim_int.h"

uint32_t sim__conn_new(sim_t *s, uint32_t edge)
{
    if (s->nconns + 1 >= s->conns_cap) {
        s->conns_cap = s->conns_cap ? 2 * s->conns_cap : 1024;
        s->conns = realloc(s->conns, s->conns_cap * sizeof *s->conns);
        KV_ASSERT(s->conns != NULL);
    }
    uint32_t id = (uint32_t)++s->nconns;
    sim_conn_t *c = &s->conns[id];
    memset(c, 0, sizeof *c);
    c->edge = edge;
    c->up = s->nodes[edge].dial;
    c->origin_open = c->edge_open = true;
    return id;
}

uint32_t sim__upstream(const sim_t *s, uint32_t edge, uint32_t turn)
{
    const sim_node_t *n = &s->nodes[edge];
    if (n->parent == 0)
        return 0;
    /* Its relay first, then the region's other relays in order, then the
     * origin (as far as the scenario's failover rule goes). */
    const sim_scenario_t *sc = s->sc;
    size_t nrel = sc->relays_per_region < s->region_n[n->region] ? sc->relays_per_region
                                                                 : s->region_n[n->region];
    const uint32_t *rn = s->region_nodes[n->region];
    size_t len = sc->relay_failover == SIM_FAILOVER_WAIT ? 1 : nrel;
    len += sc->relay_failover == SIM_FAILOVER_ORIGIN;
    size_t k = turn % len, first = n->parent - rn[0];
    return k < nrel && (sc->relay_failover != SIM_FAILOVER_WAIT || k == 0) ? rn[(first + k) % nrel]
                                                                           : 0;
}

static uint64_t ms_ns(double ms)
{
    return ms <= 0 ? 0 : (uint64_t)llround(ms * 1e6);
}

/* The base one-way delay between c and upstream up: the world model's
 * (kept for its first upstream), unless the scenario gives one_way. */
static double one_way_ms(sim_t *s, sim_node_t *c, uint32_t up)
{
    const sim_scenario_t *sc = s->sc;
    double base = c->up_ms;
    if (!sc->one_way && up != c->parent)
        base = sim_rtt_ms(&sc->rtt, c->place, s->nodes[up].place) / 2.0;
    double d = sc->one_way ? sim_dist_sample(sc->one_way, &c->rng) : base;
    if (sc->jitter)
        d += sim_dist_sample(sc->jitter, &c->rng);
    return d;
}

static uint64_t ser_ns(size_t len, double mbps)
{
    return (uint64_t)((double)len * 8.0 / (mbps * 1e6) * 1e9);
}

/* Partition windows of the hop between c and up touching [a, b]: the
 * node's own, and when it dials the origin in place of its relay, the
 * origin's (kept on node 0). */
static bool hop_cut(const sim_t *s, const sim_node_t *c, uint32_t up, uint64_t a, uint64_t b,
                    uint64_t *end)
{
    if (sim__windows_hit(&c->parts, a, b, end))
        return true;
    return up == 0 && c->parent != 0 && sim__windows_hit(&s->nodes[0].parts, a, b, end);
}

/* One hop: c and its upstream up, sent at t. */
static uint64_t hop(sim_t *s, uint32_t node, uint32_t up, uint64_t t, size_t len, unsigned dir,
                    bool *lost)
{
    const sim_scenario_t *sc = s->sc;
    sim_node_t *c = &s->nodes[node];
    if (!(dir & DIR_UP) && up == 0)
        s->origin_tx_bytes += len;
    if (len && !(dir & DIR_UP) && up == 0 && sc->origin_uplink_mbps > 0) {
        t = (t > s->origin_tx_free ? t : s->origin_tx_free) + ser_ns(len, sc->origin_uplink_mbps);
        s->origin_tx_free = t;
    }
    if (len && sc->link_mbps > 0) {
        uint64_t *txf = dir & DIR_UP ? &c->tx_free_up : &c->tx_free_down;
        t = (t > *txf ? t : *txf) + ser_ns(len, sc->link_mbps);
        *txf = t;
    }
    uint64_t arr = t + ms_ns(one_way_ms(s, c, up));
    uint64_t end;
    for (int i = 0; i < 64 && hop_cut(s, c, up, t, arr, &end); i++) {
        t = end;
        arr = end + ms_ns(sc->rto_ms) + ms_ns(one_way_ms(s, c, up));
    }
    if (lost && sc->loss > 0) {
        for (int i = 0; i < 16 && sim_rng_unit(&s->rng_net) < sc->loss; i++) {
            if (sc->loss_mode == SIM_LOSS_RESET) {
                *lost = true;
                break;
            }
            arr += ms_ns(sc->rto_ms);
        }
    }
    return arr;
}

uint64_t sim__path_arrival(sim_t *s, uint32_t edge, unsigned dir, uint64_t t)
{
    return hop(s, edge, s->nodes[edge].parent, t, 0, dir, NULL);
}

uint64_t sim__hop_delay_ns(sim_t *s, uint32_t edge, uint32_t up)
{
    return ms_ns(one_way_ms(s, &s->nodes[edge], up));
}

static bool hop_partitioned(const sim_t *s, uint32_t edge, uint32_t up, uint64_t t)
{
    uint64_t end;
    return hop_cut(s, &s->nodes[edge], up, t, t, &end);
}

static uint64_t frame_hash(sim_t *s, const repl_buf_t *buf, const uint8_t *data, size_t len)
{
    if (buf && buf == s->hash_key)
        return s->hash_val;
    uint64_t h = sim_fnv_bytes(SIM_FNV_INIT, data, len);
    if (buf) {
        s->hash_key = buf;
        s->hash_val = h;
    }
    return h;
}

void sim__send_frame(sim_t *s, uint32_t conn, unsigned dir, repl_buf_t *buf, uint8_t *own,
                     const uint8_t *data, size_t len)
{
    sim_conn_t *c = &s->conns[conn];
    bool sender_open = dir & DIR_UP ? c->edge_open : c->origin_open;
    if (c->broken || !sender_open) {
        repl_buf_unref(buf);
        kv_free(own);
        return;
    }
    bool lost = false;
    uint64_t t = s->eng.now_ns;
    uint32_t sender = dir & DIR_UP ? c->edge : c->up;
    if (dir & DIR_UP)
        s->edge_tx_frames++;
    if (s->nodes[sender].is_relay) /* the relay's processing of what it sends */
        t += ms_ns(sim__sample_ms(s->sc->relay_proc, &s->nodes[sender].rng));
    t = hop(s, c->edge, c->up, t, len, dir, &lost);
    uint64_t *last = dir & DIR_UP ? &c->last_up : &c->last_down;
    t = t > *last ? t : *last;
    *last = t;
    if (lost) {
        c->broken = true;
        sim__reset(s, conn, t);
        repl_buf_unref(buf);
        kv_free(own);
        return;
    }
    uint64_t h = frame_hash(s, buf, data, len);
    sim_ev_t *ev = sim__at(s, t, EV_DELIVER, dir & DIR_UP ? c->up : c->edge);
    ev->conn = conn;
    ev->flags = (uint16_t)(dir | (own ? EVF_OWN : 0));
    ev->p = own ? (void *)own : (void *)buf;
    ev->data = data;
    ev->len = len;
    ev->b = h;
    if (!(dir & DIR_UP) && !own) {
        c->unreported += len;
        if (c->unreported >= SIM_FLUSH_REPORT_BYTES) {
            sim_ev_t *f = sim__at(s, t, EV_FLUSH, c->up);
            f->conn = conn;
            f->a = c->unreported;
            c->unreported = 0;
        }
    }
}

void sim__close(sim_t *s, uint32_t conn, unsigned dir)
{
    sim_conn_t *c = &s->conns[conn];
    if (dir & DIR_UP)
        c->edge_open = false;
    else
        c->origin_open = false;
    bool peer_open = dir & DIR_UP ? c->origin_open : c->edge_open;
    if (c->broken || !peer_open)
        return;
    uint64_t t = hop(s, c->edge, c->up, s->eng.now_ns, 0, dir, NULL);
    uint64_t *last = dir & DIR_UP ? &c->last_up : &c->last_down;
    t = t > *last ? t : *last;
    *last = t;
    sim_ev_t *ev = sim__at(s, t, EV_FIN, dir & DIR_UP ? c->up : c->edge);
    ev->conn = conn;
    ev->flags = (uint16_t)dir;
}

void sim__reset(sim_t *s, uint32_t conn, uint64_t t)
{
    sim_conn_t *c = &s->conns[conn];
    c->broken = true;
    sim_ev_t *ev = sim__at(s, t, EV_RESET, c->edge);
    ev->conn = conn;
    s->resets++;
    sim__windows_add(&s->nodes[c->edge].faults, t, t);
}

void sim__connect(sim_t *s, uint32_t edge)
{
    sim_node_t *n = &s->nodes[edge];
    uint64_t now = s->eng.now_ns, t;
    bool ok = false;
    uint32_t up = n->dial = sim__upstream(s, edge, n->up_turn);
    if (!s->nodes[up].up) {
        t = now + 2 * sim__hop_delay_ns(s, edge, up); /* refused */
    } else if (hop_partitioned(s, edge, up, now)) {
        t = now + ms_ns(s->sc->connect_timeout_ms);
    } else {
        t = now + 4 * sim__hop_delay_ns(s, edge, up); /* TCP + TLS 1.3: two round trips */
        ok = true;
    }
    sim_ev_t *ev = sim__at(s, t, EV_CONNECT, edge);
    ev->inc = n->inc;
    ev->a = ok;
}
