/*
 * net.c - links and connections between the origin and the edges.
 *
 * What is modelled, per hop (an edge and its parent: the origin, or a relay
 * in the relay policy):
 *   - one-way delay: the world model's base delay (or the scenario's
 *     one_way distribution) plus a jitter draw, per frame;
 *   - serialisation: bytes / link bandwidth per direction, and for the
 *     origin's first hops also through its shared uplink;
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
    c->origin_open = c->edge_open = true;
    return id;
}

static size_t path_of(const sim_t *s, uint32_t edge, uint32_t *p)
{
    size_t n = 0;
    for (uint32_t x = edge; x != 0; x = s->nodes[x].parent) {
        KV_ASSERT(n < SIM_PATH_MAX);
        p[n++] = x;
    }
    return n; /* p[0] = edge, p[n-1] = the origin's child */
}

bool sim__path_up(const sim_t *s, uint32_t edge)
{
    if (!s->nodes[0].up)
        return false;
    for (uint32_t x = s->nodes[edge].parent; x != 0; x = s->nodes[x].parent)
        if (!s->nodes[x].up)
            return false;
    return true;
}

static uint64_t ms_ns(double ms)
{
    return ms <= 0 ? 0 : (uint64_t)llround(ms * 1e6);
}

static double one_way_ms(sim_t *s, sim_node_t *c)
{
    const sim_scenario_t *sc = s->sc;
    double d = sc->one_way ? sim_dist_sample(sc->one_way, &c->rng) : c->up_ms;
    if (sc->jitter)
        d += sim_dist_sample(sc->jitter, &c->rng);
    return d;
}

static uint64_t ser_ns(size_t len, double mbps)
{
    return (uint64_t)((double)len * 8.0 / (mbps * 1e6) * 1e9);
}

/* One hop: c and its parent, sent at t. */
static uint64_t hop(sim_t *s, sim_node_t *c, uint64_t t, size_t len, unsigned dir, bool *lost)
{
    const sim_scenario_t *sc = s->sc;
    if (len && !(dir & DIR_UP) && c->parent == 0 && sc->origin_uplink_mbps > 0) {
        t = (t > s->origin_tx_free ? t : s->origin_tx_free) + ser_ns(len, sc->origin_uplink_mbps);
        s->origin_tx_free = t;
    }
    if (len && sc->link_mbps > 0) {
        uint64_t *txf = dir & DIR_UP ? &c->tx_free_up : &c->tx_free_down;
        t = (t > *txf ? t : *txf) + ser_ns(len, sc->link_mbps);
        *txf = t;
    }
    uint64_t arr = t + ms_ns(one_way_ms(s, c));
    uint64_t end;
    for (int i = 0; i < 64 && sim__windows_hit(&c->parts, t, arr, &end); i++) {
        t = end;
        arr = end + ms_ns(sc->rto_ms) + ms_ns(one_way_ms(s, c));
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

/* Arrival over the whole path of edge, sent at t. key: shared frame (relay
 * memo: the hop into a relay is crossed once per frame). */
static uint64_t path_arrival(sim_t *s, uint32_t edge, unsigned dir, uint64_t t, size_t len,
                             const void *key, bool *lost)
{
    uint32_t p[SIM_PATH_MAX];
    size_t n = path_of(s, edge, p);
    if (dir & DIR_UP) {
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                t += ms_ns(sim__sample_ms(s->sc->relay_proc, &s->nodes[p[i]].rng));
            t = hop(s, &s->nodes[p[i]], t, len, dir, lost);
        }
        return t;
    }
    for (size_t i = n; i-- > 0;) {
        sim_node_t *c = &s->nodes[p[i]];
        if (i > 0 && key && c->memo_key == key && c->memo_call == s->call_id) {
            t = c->memo_t; /* this relay already has the frame */
            continue;
        }
        if (i + 1 < n)
            t += ms_ns(sim__sample_ms(s->sc->relay_proc, &s->nodes[p[i + 1]].rng));
        t = hop(s, c, t, len, dir, lost);
        if (i > 0 && key) {
            c->memo_key = key;
            c->memo_call = s->call_id;
            c->memo_t = t;
        }
    }
    return t;
}

uint64_t sim__path_arrival(sim_t *s, uint32_t edge, unsigned dir, uint64_t t)
{
    return path_arrival(s, edge, dir, t, 0, NULL, NULL);
}

uint64_t sim__path_delay_ns(sim_t *s, uint32_t edge)
{
    uint32_t p[SIM_PATH_MAX];
    size_t n = path_of(s, edge, p);
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += ms_ns(one_way_ms(s, &s->nodes[p[i]]));
    return d;
}

static bool path_partitioned(const sim_t *s, uint32_t edge, uint64_t t)
{
    uint64_t end;
    for (uint32_t x = edge; x != 0; x = s->nodes[x].parent)
        if (sim__windows_hit(&s->nodes[x].parts, t, t, &end))
            return true;
    return false;
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
    uint64_t t =
        path_arrival(s, c->edge, dir, s->eng.now_ns, len, buf ? (const void *)buf : NULL, &lost);
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
    sim_ev_t *ev = sim__at(s, t, EV_DELIVER, dir & DIR_UP ? 0 : c->edge);
    ev->conn = conn;
    ev->flags = (uint16_t)(dir | (own ? EVF_OWN : 0));
    ev->p = own ? (void *)own : (void *)buf;
    ev->data = data;
    ev->len = len;
    ev->b = h;
    if (!(dir & DIR_UP) && !own) {
        c->unreported += len;
        if (c->unreported >= SIM_FLUSH_REPORT_BYTES) {
            sim_ev_t *f = sim__at(s, t, EV_FLUSH, 0);
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
    uint64_t t = sim__path_arrival(s, c->edge, dir, s->eng.now_ns);
    uint64_t *last = dir & DIR_UP ? &c->last_up : &c->last_down;
    t = t > *last ? t : *last;
    *last = t;
    sim_ev_t *ev = sim__at(s, t, EV_FIN, dir & DIR_UP ? 0 : c->edge);
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
    if (!sim__path_up(s, edge)) {
        t = now + 2 * sim__path_delay_ns(s, edge); /* refused */
    } else if (path_partitioned(s, edge, now)) {
        t = now + ms_ns(s->sc->connect_timeout_ms);
    } else {
        t = now + 4 * sim__path_delay_ns(s, edge); /* TCP + TLS 1.3: two round trips */
        ok = true;
    }
    sim_ev_t *ev = sim__at(s, t, EV_CONNECT, edge);
    ev->inc = n->inc;
    ev->a = ok;
}
