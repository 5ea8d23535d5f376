/*
 * world_rtt.c - edgekv-world-rtt: the world model's round-trip times.
 *
 *   edgekv-world-rtt [FROM TO]...
 *
 * Prints the great-circle distance and the modelled RTT (sim/world.h, with
 * the default route inflation and per-path cost that scenarios get unless
 * they set network.route_inflation / hop_ms) for each pair of built-in
 * places, or, without arguments, from Ashburn (the shipped scenarios'
 * origin) to every place. Exit 2 on an unknown place. For the README's world
 * model figures (sim/figures/make-figures.sh); it runs no simulation.
 */
#include <stdio.h>

#include "world.h"

static void row(const sim_rtt_model_t *m, int a, int b)
{
    const sim_place_t *p = &sim_places[a], *q = &sim_places[b];
    printf("%-12s %-12s %8.0f km %8.1f ms\n", p->name, q->name,
           sim_haversine_km(p->lat, p->lon, q->lat, q->lon), sim_rtt_ms(m, a, b));
}

int main(int argc, char **argv)
{
    sim_rtt_model_t m;
    sim_rtt_model_default(&m);
    printf("# RTT = 2 x haversine / %g km/ms x %g + %g ms\n", m.fibre_km_per_ms, m.inflation,
           m.hop_ms);
    if (argc == 1) {
        int from = sim_place_find("ashburn");
        for (size_t i = 0; i < sim_nplaces; i++)
            row(&m, from, (int)i);
        return 0;
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: edgekv-world-rtt [FROM TO]...\n");
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        int a = sim_place_find(argv[i]), b = sim_place_find(argv[i + 1]);
        if (a < 0 || b < 0) {
            fprintf(stderr, "edgekv-world-rtt: unknown place %s\n", a < 0 ? argv[i] : argv[i + 1]);
            return 2;
        }
        row(&m, a, b);
    }
    return 0;
}
