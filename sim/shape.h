/*
 * shape.h - the live lab's delay model for one direction of one TCP link:
 * when may a chunk of bytes that entered the fault proxy (sim/proxy.c) leave
 * it. Sans-I/O: the time is an argument, so tests drive it with a fake clock.
 *
 * It is the simulator's per-hop model (net.c, hop()) with the same scenario
 * fields and the same distribution code (dist.c, rng.c), applied to what a
 * TCP relay sees. The mapping, field by field:
 *   - one-way delay: the scenario's "one_way" distribution when given, else
 *     the world model's base delay RTT(edge place, origin place) / 2 (world.c,
 *     exactly as sim.c sets up_ms), plus a "jitter" draw; one draw per chunk
 *     (the simulator draws one per frame; a chunk is what one read() returned,
 *     normally one TLS record, i.e. one frame or a batch of them);
 *   - order: a TCP stream cannot reorder, and the simulator's links are FIFO
 *     within a connection (arrival = max(drawn arrival, previous arrival));
 *     the proxy does the same, so a short draw behind a long one waits;
 *   - bandwidth: a token bucket in GCRA form (the theoretical departure time
 *     advances by bytes / rate); with the default burst of 0 bytes it is the
 *     simulator's serialisation delay (t = max(t, tx_free) + bytes / rate);
 *   - loss: "retransmit": each loss draw adds rto_ms, as in the simulator
 *     (a lost segment costs TCP one retransmission timeout); "reset": a loss
 *     draw breaks the connection (the proxy resets both sides), as the
 *     simulator's pessimistic default does;
 *   - partitions: while a link is frozen nothing leaves; a chunk held over the
 *     partition leaves at heal + rto_ms + a fresh one-way delay (the
 *     simulator's "held and retransmitted after the window"), in order.
 * What it is not: it knows nothing of TLS, frames or sockets.
 */
#ifndef SIM_SHAPE_H
#define SIM_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "rng.h"
#include "scenario.h"

typedef struct {
    const sim_dist_t *one_way; /* borrowed; NULL: base_ms */
    double base_ms;            /* the world model's one-way delay of the pair */
    const sim_dist_t *jitter;  /* borrowed; NULL: none */
    double loss;               /* per chunk */
    sim_loss_mode_t loss_mode;
    double rto_ms;
    double mbps;        /* 0: unlimited */
    size_t burst_bytes; /* token bucket depth; 0 = the simulator's serialisation */
} sim_shape_cfg_t;

typedef struct {
    sim_shape_cfg_t cfg;
    sim_rng_t rng;      /* delays (the simulator's per-node stream) */
    sim_rng_t rng_loss; /* loss draws */
    uint64_t tat_ns;    /* token bucket: theoretical departure time */
    uint64_t last_ns;   /* release time of the previous chunk (FIFO) */
} sim_shape_t;

/* The configuration of the link between place `edge_place` and the origin of
 * `sc` (borrowed pointers into sc: sc must outlive the shaper). */
void sim_shape_cfg_from_scenario(sim_shape_cfg_t *cfg, const sim_scenario_t *sc, int edge_place);

/* Initialise in place; the draws come from stream `stream` of `seed`. */
void sim_shape_init(sim_shape_t *sh, const sim_shape_cfg_t *cfg, uint64_t seed, uint64_t stream);

/* One draw of the one-way delay in ms (base or one_way, plus jitter). */
double sim_shape_one_way_ms(sim_shape_t *sh);

/* A chunk of len bytes entered at now_ns: returns the time it may leave.
 * *reset is set when a loss draw in "reset" mode breaks the connection. */
uint64_t sim_shape_admit(sim_shape_t *sh, uint64_t now_ns, size_t len, bool *reset);

/* A chunk due at due_ns was held by a partition that healed at heal_ns: its
 * new release time (heal + rto + a fresh one-way delay, never earlier than
 * due_ns or the previous chunk's release). Call in queue order. */
uint64_t sim_shape_resend(sim_shape_t *sh, uint64_t heal_ns, uint64_t due_ns);

#endif
