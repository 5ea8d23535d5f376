/*
 * main.c - the edgekv-sim command line:
 *   edgekv-sim SCENARIO.json [--seed N] [--out DIR] [--quiet] [--no-plots]
 *              [--history FILE] [--visibility FILE]
 * --history FILE writes the simulated clients' history in the history
 * checker's format (hcheck.h) and checks it in-process (history.c).
 * --visibility writes every (write, edge) visibility sample to FILE
 * (sim.h, sim_options_t), for the network lab's comparison (deploy/lab/).
 * Exit 0 when every checker passed (or had nothing to check), 1 when one
 * failed, 2 on a usage or scenario error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"
#include "mem.h"
#include "sim.h"
#include "wars.h"

/* Slots of the shared decode table: the batches in flight at once (at 100
 * writes/s a batch reaches its 300 edges within ~120 ms: a dozen), with room
 * for snapshot chunks and bursts; a collision only costs a second decode. */
#define SIM_FRAME_SHARE_SLOTS 1024

/* A scenario with "mode": "wars" is a PBS quorum experiment (wars.h). */
static bool is_wars(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    const char *mode = json_string_value(json_object_get(doc, "mode"));
    bool wars = mode && strcmp(mode, "wars") == 0;
    json_decref(doc);
    return wars;
}

static int usage(void)
{
    fprintf(stderr, "usage: edgekv-sim SCENARIO.json [--seed N] [--out DIR] [--quiet] "
                    "[--no-plots] [--history FILE] [--visibility FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *out = NULL, *vis = NULL;
    bool have_seed = false, plots = true;
    uint64_t seed = 0;
    sim_options_t opt = {0};
    sim_mem_install(); /* before anything allocates through kv_mem (mem.h) */
    /* Every edge decodes the same pushed batches: once for all (proto/frame.h). */
    if (frame_share_install(SIM_FRAME_SHARE_SLOTS) != 0) {
        fprintf(stderr, "edgekv-sim: out of memory\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
            have_seed = true;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--history") && i + 1 < argc) {
            opt.history = argv[++i];
        } else if (!strcmp(argv[i], "--quiet")) {
            opt.quiet = true;
        } else if (!strcmp(argv[i], "--visibility") && i + 1 < argc) {
            vis = argv[++i];
        } else if (!strcmp(argv[i], "--no-plots")) {
            plots = false;
        } else if (argv[i][0] == '-' || path) {
            return usage();
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return usage();
    if (is_wars(path))
        return sim_wars_run_file(path, have_seed ? seed : 1, out, stdout) == 0 ? 0 : 2;
    char err[256];
    sim_scenario_t *sc;
    if (sim_scenario_load(path, &sc, err, sizeof err) != 0) {
        fprintf(stderr, "edgekv-sim: %s\n", err);
        return 2;
    }
    if (vis && !(opt.visibility = fopen(vis, "w"))) {
        fprintf(stderr, "edgekv-sim: cannot create %s\n", vis);
        sim_scenario_free(sc);
        return 2;
    }
    sim_t *s;
    if (sim_create(sc, have_seed ? seed : sc->seed, &opt, &s, err, sizeof err) != 0) {
        fprintf(stderr, "edgekv-sim: %s\n", err);
        sim_scenario_free(sc);
        return 2;
    }
    sim_run(s);
    sim_print_summary(s, stdout);
    int rc = sim_check_ok(sim_checks(s)) && sim_history_ok(s) ? 0 : 1;
    if (out) {
        if (sim_write_outputs(s, out, plots) != 0) {
            fprintf(stderr, "edgekv-sim: cannot write results to %s\n", out);
            rc = rc ? rc : 2;
        } else if (!opt.quiet) {
            printf("  results          %s/\n", out);
        }
    }
    if (rc == 1)
        fprintf(stderr, "edgekv-sim: a checker FAILED (see above)\n");
    sim_destroy(s);
    sim_scenario_free(sc);
    (void)frame_share_install(0);
    if (opt.visibility && fclose(opt.visibility) != 0) {
        fprintf(stderr, "edgekv-sim: cannot write %s\n", vis);
        rc = rc ? rc : 2;
    }
    return rc;
}
