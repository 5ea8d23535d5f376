/*
 * kv_version.h - the version of a record: who wins under last-writer-wins.
 *
 * A version is a hybrid logical clock timestamp (48-bit wall milliseconds,
 * 16-bit logical counter; see replication/hlc.h) plus the id of the node that
 * stamped it. Versions are totally ordered: timestamp first, node id as the
 * tie-break. The value is never a tie-break. The zero version is "nothing
 * stored" and is older than every real write.
 */
#ifndef KV_VERSION_H
#define KV_VERSION_H

#include <stdint.h>

typedef struct {
    uint64_t hlc;     /* (wall_ms << 16) | logical */
    uint32_t node_id; /* stamping node; tie-break only */
} kv_version_t;

#define KV_VERSION_ZERO ((kv_version_t){0, 0})

/* <0, 0, >0 as a is older than, equal to, newer than b. */
static inline int kv_version_cmp(kv_version_t a, kv_version_t b)
{
    if (a.hlc != b.hlc)
        return a.hlc < b.hlc ? -1 : 1;
    if (a.node_id != b.node_id)
        return a.node_id < b.node_id ? -1 : 1;
    return 0;
}

static inline int kv_version_is_zero(kv_version_t v)
{
    return v.hlc == 0 && v.node_id == 0;
}

#endif
