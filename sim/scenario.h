/*
 * scenario.h - a simulation scenario, parsed from JSON (format in
 * README.md "Simulator", examples in sim/scenarios/). Parsing checks every field and
 * fills defaults; it does not build the world (sim.c does).
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "world.h"

typedef enum { SIM_POLICY_PUSH, SIM_POLICY_PULL, SIM_POLICY_RELAY } sim_policy_t;
typedef enum { SIM_LOSS_RESET, SIM_LOSS_RETRANSMIT } sim_loss_mode_t;
/* Where a relay's child dials after its link is lost or a connect fails
 * (the node's --upstream list, tried in turn): only its relay; its relay,
 * then the region's other relays; those, then the origin. */
typedef enum { SIM_FAILOVER_WAIT, SIM_FAILOVER_REGION, SIM_FAILOVER_ORIGIN } sim_failover_t;
typedef enum { SIM_FAULT_PARTITION, SIM_FAULT_CRASH, SIM_FAULT_CLOCK_JUMP } sim_fault_kind_t;

/* Selector syntax: "origin", "all" (every edge), "edge:N", "region:NAME",
 * "random:K" (K edges drawn with the run's seed). */
typedef struct {
    sim_fault_kind_t kind;
    char sel[64];
    double at_s;
    double dur_s; /* partition, crash (down time) */
    double by_ms; /* clock jump, may be negative */
} sim_fault_t;

typedef struct {
    int place;     /* index into sim_places */
    size_t edges;  /* edges placed here */
    double read_w; /* relative read and write rates of the region */
    double write_w;
} sim_region_t;

typedef struct {
    char name[64];
    uint64_t seed;
    double duration_s; /* workload runs in [0, duration) */
    double quiet_s;    /* then faults and workload stop; checks after this */
    sim_policy_t policy;

    /* topology */
    int origin_place;
    sim_region_t *regions;
    size_t nregions;
    size_t nedges;

    /* network */
    sim_rtt_model_t rtt;
    sim_dist_t *one_way; /* non-NULL: link one-way delay from this, not the world model */
    sim_dist_t *jitter;  /* added to every one-way delay (may be NULL) */
    double loss;         /* per frame */
    sim_loss_mode_t loss_mode;
    double rto_ms;             /* retransmit mode and post-partition resend */
    double link_mbps;          /* per link and direction, 0 = unlimited */
    double origin_uplink_mbps; /* shared by all of the origin's links, 0 = unlimited */
    double connect_timeout_ms; /* a connect into a partition fails after this */

    /* storage */
    sim_dist_t *origin_disk; /* PERSIST latency */
    sim_dist_t *edge_disk;   /* APPLY/RESET latency */
    /* A crashed node's start (process, store open, listeners) in ms: its
     * core runs this long after the crash's end. NULL: at once. */
    sim_dist_t *node_start;
    sim_dist_t *read_disk; /* READ_LOG latency */
    double write_fail_p;   /* per op at the origin: logged as a no-op */
    double apply_fail_p;   /* per APPLY at an edge */

    /* clocks */
    double skew_max_ms; /* each node's skew is uniform in [-max, max] */

    /* workload */
    size_t nkeys;
    double zipf_s; /* 0 = uniform */
    double writes_per_s, reads_per_s;
    double delete_fraction;
    sim_dist_t *value_size; /* bytes */
    double key_limit_per_s; /* 0 = none */
    bool key_limit_delay;   /* false: drop writes over the limit */
    bool write_at_origin;   /* else at a random edge of the writing region */
    bool writes_paced;      /* writes every 1/writes_per_s from t=0, else Poisson */
    double read_service_ms; /* local read cost */

    /* push (the real core) */
    uint64_t heartbeat_ms, bound_ms, link_timeout_ms, reconnect_min_ms, reconnect_max_ms;
    /* push.ack_coalesce_idle (default false, the core's default): edges
     * coalesce their acks when idle too, as a node's edges do
     * (repl_edge_config_t.ack_coalesce_idle). */
    bool ack_coalesce_idle;
    uint64_t log_retention;

    /* pull (cache TTL) */
    double cache_ttl_s;

    /* relay */
    size_t relays_per_region;
    sim_dist_t *relay_proc; /* per frame a relay sends: its processing delay */
    sim_failover_t relay_failover;

    sim_fault_t *faults;
    size_t nfaults;

    /* measurement */
    double *tvis_ms;
    size_t ntvis;
    double probe_fraction;
    double lag_sample_ms;
    double settle_ms;

    /* checks */
    bool check_bound;
} sim_scenario_t;

/* Parse a file; err gets a message on failure (-EINVAL, -ENOENT, -ENOMEM). */
int sim_scenario_load(const char *path, sim_scenario_t **out, char *err, size_t errlen);
/* Parse a JSON text (tests). */
int sim_scenario_parse(const char *json, sim_scenario_t **out, char *err, size_t errlen);
void sim_scenario_free(sim_scenario_t *s);
const char *sim_policy_name(sim_policy_t p);

#endif
