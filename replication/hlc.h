/*
 * hlc.h - hybrid logical clock (Kulkarni et al., 2014).
 *
 * A timestamp packs 48 bits of wall-clock milliseconds and a 16-bit logical
 * counter: ts = (ms << 16) | logical. It never goes backwards, stays within
 * the largest clock offset seen of real time, and orders causally related
 * events. Pure code: the caller passes the wall time in, so the node and the
 * simulator drive the same logic. Ties between nodes are broken by node id
 * (kv_version_t), never here.
 *
 * Not thread-safe: one owner per hlc_t (the node guards it with a mutex).
 */
#ifndef REPL_HLC_H
#define REPL_HLC_H

#include <stdint.h>

#include "kv_version.h"

#define HLC_LOGICAL_BITS 16
#define HLC_LOGICAL_MAX  0xffffu
#define HLC_MS_MAX       ((UINT64_C(1) << 48) - 1)

typedef struct {
    uint64_t last;    /* last timestamp issued or observed */
    uint32_t node_id; /* stamped into versions */
} hlc_t;

static inline uint64_t hlc_pack(uint64_t ms, uint32_t logical)
{
    return (ms << HLC_LOGICAL_BITS) | (logical & HLC_LOGICAL_MAX);
}
static inline uint64_t hlc_ms(uint64_t ts)
{
    return ts >> HLC_LOGICAL_BITS;
}
static inline uint32_t hlc_logical(uint64_t ts)
{
    return (uint32_t)(ts & HLC_LOGICAL_MAX);
}

void hlc_init(hlc_t *h, uint32_t node_id, uint64_t last);

/* A new timestamp for a local event at wall time now_ms: greater than every
 * timestamp issued or observed before. When the logical counter would
 * overflow, the timestamp moves to the next millisecond. */
uint64_t hlc_now(hlc_t *h, uint64_t now_ms);

/* The timestamp hlc_now would issue, without issuing it: the clock is left
 * unchanged, so a wall reading that was wrong for a while (stepped ahead,
 * then back) leaves no trace in it. */
uint64_t hlc_peek(const hlc_t *h, uint64_t now_ms);

/* Remember a timestamp seen elsewhere (no wall reading involved): later
 * hlc_now/hlc_peek results exceed it. UINT64_MAX, which has no successor,
 * is ignored. */
void hlc_observe(hlc_t *h, uint64_t ts);

/* hlc_now, returned as a version stamped with this clock's node id. */
kv_version_t hlc_stamp(hlc_t *h, uint64_t now_ms);

/* Observe a remote timestamp (a hint from a peer) and issue a timestamp
 * greater than it and than every earlier one. A remote wall time more than
 * max_offset_ms ahead of both now_ms and this clock's last value is refused
 * with KV_ECLOCK and the clock is left unchanged: a hint that carries back
 * what this clock already issued is accepted even when the wall clock
 * stepped back or the clock was restored ahead of it. */
int hlc_update(hlc_t *h, uint64_t remote_ts, uint64_t now_ms, uint64_t max_offset_ms,
               uint64_t *out);

#endif
