/*
 * hlc.c - the hybrid logical clock of hlc.h (Kulkarni et al., 2014).
 *
 * Because a timestamp is (ms << 16) | logical, "bump the logical counter,
 * carrying into the next millisecond when it would pass HLC_LOGICAL_MAX" is
 * exactly "add one to the packed value", and "the larger of two HLC
 * readings" is an integer max. Both rules of the paper then fit in a line.
 * This file never reads a clock: the wall time is always an argument, so the
 * node and the simulator drive identical code.
 */
#include "hlc.h"

#include "kv_assert.h"
#include "kv_err.h"

/* The packed form of a wall reading, clamped so it cannot spill out of the
 * 48 millisecond bits (a broken clock must not wrap the counter). */
static uint64_t hlc__wall(uint64_t now_ms)
{
    if (now_ms > HLC_MS_MAX)
        now_ms = HLC_MS_MAX;
    return hlc_pack(now_ms, 0);
}

/* The smallest timestamp greater than `floor` and not behind the wall. */
static uint64_t hlc__next(uint64_t floor, uint64_t now_ms)
{
    uint64_t wall = hlc__wall(now_ms);
    if (wall > floor)
        return wall;
    /* floor + 1 increments the logical counter, or carries to (ms + 1, 0). */
    KV_ASSERT(floor != UINT64_MAX);
    return floor + 1;
}

void hlc_init(hlc_t *h, uint32_t node_id, uint64_t last)
{
    h->node_id = node_id;
    h->last = last;
}

uint64_t hlc_now(hlc_t *h, uint64_t now_ms)
{
    uint64_t ts = hlc__next(h->last, now_ms);
    KV_ASSERT(ts > h->last);
    h->last = ts;
    return ts;
}

uint64_t hlc_peek(const hlc_t *h, uint64_t now_ms)
{
    return hlc__next(h->last, now_ms);
}

void hlc_observe(hlc_t *h, uint64_t ts)
{
    /* The last representable timestamp has no successor: not remembered. */
    if (ts > h->last && ts != UINT64_MAX)
        h->last = ts;
}

kv_version_t hlc_stamp(hlc_t *h, uint64_t now_ms)
{
    kv_version_t v = {hlc_now(h, now_ms), h->node_id};
    return v;
}

int hlc_update(hlc_t *h, uint64_t remote_ts, uint64_t now_ms, uint64_t max_offset_ms, uint64_t *out)
{
    /* The limit counts from the later of the wall and this clock's own last
     * value, so a hint echoing what this clock issued always passes, whatever
     * the wall says. Saturating: a huge configured offset must not wrap. */
    uint64_t base_ms = hlc_ms(h->last) > now_ms ? hlc_ms(h->last) : now_ms;
    uint64_t limit_ms = base_ms + max_offset_ms < base_ms ? UINT64_MAX : base_ms + max_offset_ms;
    if (hlc_ms(remote_ts) > limit_ms)
        return KV_ECLOCK;
    uint64_t floor = remote_ts > h->last ? remote_ts : h->last;
    /* The last representable timestamp has no successor: a peer sending it
     * is refused rather than trusted to wrap our clock to zero. */
    if (floor == UINT64_MAX)
        return KV_ECLOCK;
    uint64_t ts = hlc__next(floor, now_ms);
    KV_ASSERT(ts > h->last && ts > remote_ts);
    h->last = ts;
    *out = ts;
    return 0;
}
