/*
 * ha_loop.h - an election on a libuv loop: the curl transport (ha_curl.h),
 * the etcd client (ha_etcd.h) and the election (ha_elect.h) wired together,
 * with one uv_timer for the election's wake-ups. This is what a process
 * that campaigns holds (`edgekv ha campaign` today; the origin when the
 * replication core takes leadership from it).
 *
 * Threading: the loop's thread, except ha_elect_leading on the election.
 */
#ifndef HA_LOOP_H
#define HA_LOOP_H

#include <uv.h>

#include "ha_elect.h"

typedef struct ha_loop ha_loop_t;

typedef struct {
    const char *const *endpoints; /* etcd members, "http://host:port" */
    size_t endpoint_count;
    ha_elect_config_t elect; /* now: NULL (ha_clock_now_ms) */
} ha_loop_config_t;

/* Creates and starts the election on loop. cbs->wake_at is ignored (the
 * timer is ours). Returns 0 and sets *out, or KV_EINVAL / -ENOMEM / -EIO:
 * then nothing runs, and the handles it made close on the loop's next run. */
int ha_loop_start(uv_loop_t *loop, const ha_loop_config_t *cfg, const ha_elect_cbs_t *cbs,
                  ha_loop_t **out);

/* The election, for ha_elect_leading and ha_elect_leader; valid until
 * ha_loop_stop's done. */
ha_elect_t *ha_loop_elect(ha_loop_t *h);

/* Steps down (ha_elect_stop: the lease is revoked), then closes everything;
 * done(arg) once all is freed, from the loop. */
void ha_loop_stop(ha_loop_t *h, void (*done)(void *arg), void *arg);

#endif
