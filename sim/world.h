/*
 * world.h - the built-in world profile: real places and a physical model
 * of the round-trip time between them.
 *
 * RTT(a, b) = 2 * haversine(a, b) / v_fibre * inflation + hop_ms
 * with v_fibre = 200 km/ms (light in glass, refractive index ~1.5) and
 * inflation the ratio of the routed fibre path to the great circle
 * (default 1.5; measured Internet paths run 1.5-2x the great-circle fibre
 * time: Singla et al., "The Internet at the Speed of Light", HotNets 2014,
 * and Bozkurt et al., "Why Is the Internet so Slow?!", PAM 2017, report
 * median RTTs ~3x the vacuum-light time, i.e. ~2x the fibre time on the
 * public Internet; private backbones come closer to 1.5x). hop_ms is a
 * fixed per-path cost (switching, last mile, TLS termination), default 2.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *country;
    double lat, lon; /* degrees */
} sim_place_t;

/* The built-in table (sim/world.c) and its size. */
extern const sim_place_t sim_places[];
extern const size_t sim_nplaces;

/* Index of a place by (case-insensitive) name, or -1. */
int sim_place_find(const char *name);

/* Great-circle distance in km (haversine, mean Earth radius 6371 km). */
double sim_haversine_km(double lat1, double lon1, double lat2, double lon2);

typedef struct {
    double fibre_km_per_ms; /* 200 */
    double inflation;       /* 1.5 */
    double hop_ms;          /* 2 */
} sim_rtt_model_t;

void sim_rtt_model_default(sim_rtt_model_t *m);
/* Round-trip time in ms between places a and b. */
double sim_rtt_ms(const sim_rtt_model_t *m, int a, int b);

#endif
