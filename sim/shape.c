/*
 * shape.c - the live lab's per-direction delay model (see shape.h): the
 * simulator's hop() for a TCP relay.
 */
#include "shape.h"

#include <math.h>
#include <string.h>

/* Loss draws per chunk, as many as the simulator's hop() allows. */
#define SHAPE_LOSS_DRAWS_MAX 16

static uint64_t ms_ns(double ms)
{
    return ms <= 0 ? 0 : (uint64_t)llround(ms * 1e6);
}

void sim_shape_cfg_from_scenario(sim_shape_cfg_t *cfg, const sim_scenario_t *sc, int edge_place)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->one_way = sc->one_way;
    cfg->base_ms = sim_rtt_ms(&sc->rtt, edge_place, sc->origin_place) / 2.0;
    cfg->jitter = sc->jitter;
    cfg->loss = sc->loss;
    cfg->loss_mode = sc->loss_mode;
    cfg->rto_ms = sc->rto_ms;
    cfg->mbps = sc->link_mbps;
}

void sim_shape_init(sim_shape_t *sh, const sim_shape_cfg_t *cfg, uint64_t seed, uint64_t stream)
{
    memset(sh, 0, sizeof *sh);
    sh->cfg = *cfg;
    sim_rng_derive(&sh->rng, seed, stream);
    sim_rng_derive(&sh->rng_loss, seed, stream ^ 0x4c4f5353u); /* "LOSS" */
}

double sim_shape_one_way_ms(sim_shape_t *sh)
{
    const sim_shape_cfg_t *c = &sh->cfg;
    double d = c->one_way ? sim_dist_sample(c->one_way, &sh->rng) : c->base_ms;
    if (c->jitter)
        d += sim_dist_sample(c->jitter, &sh->rng);
    return d;
}

/* The token bucket: when the chunk's last byte has left the sender. */
static uint64_t depart(sim_shape_t *sh, uint64_t now_ns, size_t len)
{
    const sim_shape_cfg_t *c = &sh->cfg;
    if (c->mbps <= 0 || len == 0)
        return now_ns;
    double bytes_per_ns = c->mbps * 1e6 / 8.0 / 1e9;
    uint64_t tau_ns = (uint64_t)((double)c->burst_bytes / bytes_per_ns);
    uint64_t start = sh->tat_ns > now_ns ? sh->tat_ns : now_ns;
    sh->tat_ns = start + (uint64_t)((double)len / bytes_per_ns);
    uint64_t t = sh->tat_ns > tau_ns ? sh->tat_ns - tau_ns : 0;
    return t > now_ns ? t : now_ns;
}

static uint64_t fifo(sim_shape_t *sh, uint64_t t)
{
    t = t > sh->last_ns ? t : sh->last_ns;
    sh->last_ns = t;
    return t;
}

uint64_t sim_shape_admit(sim_shape_t *sh, uint64_t now_ns, size_t len, bool *reset)
{
    const sim_shape_cfg_t *c = &sh->cfg;
    *reset = false;
    uint64_t arr = depart(sh, now_ns, len) + ms_ns(sim_shape_one_way_ms(sh));
    for (int i = 0; c->loss > 0 && i < SHAPE_LOSS_DRAWS_MAX; i++) {
        if (sim_rng_unit(&sh->rng_loss) >= c->loss)
            break;
        if (c->loss_mode == SIM_LOSS_RESET) {
            *reset = true;
            break;
        }
        arr += ms_ns(c->rto_ms);
    }
    return fifo(sh, arr);
}

uint64_t sim_shape_resend(sim_shape_t *sh, uint64_t heal_ns, uint64_t due_ns)
{
    uint64_t t = heal_ns + ms_ns(sh->cfg.rto_ms) + ms_ns(sim_shape_one_way_ms(sh));
    t = t > due_ns ? t : due_ns;
    return fifo(sh, t);
}
