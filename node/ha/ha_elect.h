/*
 * ha_elect.h - an origin candidate's election: leadership held as a lease in
 * etcd, with a term for fencing.
 *
 * What it does. A candidate (a name and the address it advertises) reads
 * the key /edgekv/<cluster>/leader. While another candidate holds it, this
 * one follows: it reads the key every poll_ms and reports who leads. When the
 * key is absent it grants itself a lease of lease_ms (whole seconds in etcd,
 * rounded up) and puts the key only if it is still absent (a txn comparing
 * create_revision with 0), attached to that lease. The winner leads: it
 * renews the lease every lease_ms / KV_HA_RENEW_DIV and checks that the key
 * is still its own. Stepping down (ha_elect_stop) revokes the lease, which
 * deletes the key at once: the next candidate leads within one poll instead
 * of one lease. A candidate whose first read finds the key naming itself -
 * its name and address - under a lease it does not hold is a leader that
 * was restarted (the process that held the lease is gone: this one holds
 * its address and its store): it revokes that lease, for the same reason.
 *
 * The term is the key's create_revision. etcd's revision is one counter for
 * the whole store that every change raises; a new leader's key can only be
 * created after the previous leader's key was deleted (the txn requires it
 * absent), and that delete is itself a change; so each leader's
 * create_revision is larger than every earlier leader's, and no two leaders
 * share one. That makes it a fencing token: the history records the term,
 * and a replica refuses batches of a smaller term than the largest it saw.
 *
 * Why a deposed leader never believes it leads while another does. Let s be
 * the time (on this candidate's clock) at which it sent its last renewal
 * that etcd answered with a live lease (or the grant). etcd received that
 * request after s, and set the lease to expire ttl_s seconds after it
 * received it, where ttl_s * 1000 >= lease_ms. This candidate leads only
 * while now < s + lease_ms (ha_elect_leading reads the clock itself, so a
 * process that was paused sees the deadline passed before any timer of its
 * loop runs). No other candidate can put the key before etcd expired or
 * revoked the lease, so no later than s + lease_ms every other candidate
 * still follows; the intervals never overlap. This needs the clocks of this
 * host and of the etcd leader to run at the same rate over one lease (they
 * may be set to any time: only durations count), and the clock to count
 * time the host spent suspended: ha_clock_now_ms reads CLOCK_BOOTTIME (a
 * monotonic clock that, unlike CLOCK_MONOTONIC, does not stop during
 * suspend). The wall clock is never read.
 *
 * When it stops leading (on_deposed): etcd answers a renewal with "lease
 * gone" (HA_DEPOSED_LEASE), the deadline passes without a renewal answered
 * (HA_DEPOSED_DEADLINE: etcd unreachable, this process paused, the loop
 * blocked), the key is no longer its own (HA_DEPOSED_KEY: someone deleted
 * or replaced it), or ha_elect_stop (HA_DEPOSED_STOPPED). The callback runs
 * when the loop gets to it; what matters for safety is ha_elect_leading,
 * which is already false at the deadline.
 *
 * What it is not: fencing itself (the history's term, checked by every
 * replica) and durability (a synchronous standby): those belong to the
 * replication core, which asks ha_elect_leading before it acknowledges.
 *
 * Driving it: no libuv here. The owner gives a clock and a wake_at callback
 * and calls ha_elect_tick when that time comes (ha_loop.h does it on a
 * libuv loop; the tests on a virtual clock). etcd answers arrive through
 * ha_etcd.h's callbacks on the same thread.
 *
 * Threading: the owner's thread for everything, except ha_elect_leading,
 * which any thread may call.
 */
#ifndef HA_ELECT_H
#define HA_ELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "ha_etcd.h"
#include "kv_limits.h"

typedef struct ha_elect ha_elect_t;

typedef enum {
    HA_DEPOSED_LEASE,    /* etcd: the lease is gone */
    HA_DEPOSED_DEADLINE, /* no renewal answered by the deadline */
    HA_DEPOSED_KEY,      /* the leader key is not ours any more */
    HA_DEPOSED_STOPPED,  /* ha_elect_stop */
} ha_deposed_t;

/* "lease", "deadline", "key", "stopped". */
const char *ha_deposed_str(ha_deposed_t why);

/* Who leads, as a follower sees it. term 0: nobody (the key is absent). */
typedef struct {
    char name[KV_HA_NAME_MAX_BYTES + 1];
    char address[KV_HA_ADDRESS_MAX_BYTES + 1];
    int64_t term;
} ha_leader_t;

/* Every callback runs on the owner's thread with arg; from inside one, only
 * ha_elect_leading and ha_elect_leader may be called. Any may be NULL but
 * wake_at. until_ms: the leadership deadline on the election's clock. */
typedef struct {
    void (*on_leader)(void *arg, int64_t term, uint64_t until_ms);
    void (*on_renewed)(void *arg, int64_t term, uint64_t until_ms);
    void (*on_deposed)(void *arg, int64_t term, ha_deposed_t why, uint64_t until_ms);
    void (*on_leader_seen)(void *arg, const ha_leader_t *leader); /* when it changes */
    /* Asked when the key is absent, before claiming it, with the standbys'
     * record (/edgekv/<cluster>/sync, ha_elect_publish) as read after the
     * key was seen absent (NULL: there is none): false, and this candidate
     * keeps following (reads again a poll later). NULL: always. The claim
     * itself holds only if the record has not changed since it was read.
     * The replica answers from the record and its log
     * (node/replica/replica_ha.c). */
    bool (*may_claim)(void *arg, const char *record);
    void *arg;
    /* Call ha_elect_tick at at_ms or soon after; replaces the last request. */
    void (*wake_at)(void *wake_arg, uint64_t at_ms);
    void *wake_arg;
} ha_elect_cbs_t;

typedef struct {
    const char *cluster; /* [A-Za-z0-9._-], 1..KV_HA_CLUSTER_MAX_BYTES */
    const char *name;    /* the same alphabet, 1..KV_HA_NAME_MAX_BYTES */
    const char *address; /* host:port, 1..KV_HA_ADDRESS_MAX_BYTES, no quotes or spaces */
    uint64_t lease_ms;   /* KV_HA_LEASE_MS_MIN..MAX; 0: KV_HA_LEASE_MS_DEFAULT */
    uint64_t poll_ms;    /* a follower's reads; 0: lease_ms / KV_HA_POLL_DIV */
    ha_now_fn now;       /* NULL: ha_clock_now_ms; must be thread-safe */
    void *now_arg;
} ha_elect_config_t;

/* CLOCK_BOOTTIME in milliseconds (why: above). Thread-safe. */
uint64_t ha_clock_now_ms(void *unused);

/* The etcd key of a cluster's leader into buf: "/edgekv/<cluster>/leader". */
int ha_elect_key(const char *cluster, char *buf, size_t size);

/* Returns 0 and sets *out (strings copied); KV_EINVAL names what is wrong
 * in the log; -ENOMEM. etcd must outlive the election. */
int ha_elect_create(const ha_elect_config_t *cfg, ha_etcd_t *etcd, const ha_elect_cbs_t *cbs,
                    ha_elect_t **out);

/* Starts campaigning (the first read is asked for through wake_at). */
int ha_elect_start(ha_elect_t *e);

/* The time asked for through wake_at has come (early calls are harmless). */
void ha_elect_tick(ha_elect_t *e);

/* True while this candidate leads: it won, and the clock is before its
 * deadline. *term (may be NULL) is then its term. Reads the clock; any
 * thread. The answer is true for at most until_ms of the last callback. */
bool ha_elect_leading(ha_elect_t *e, int64_t *term);

/* The leader as last seen (this candidate itself while it leads). */
void ha_elect_leader(const ha_elect_t *e, ha_leader_t *out);

/* The leader's record of its synchronous standbys: puts
 * /edgekv/<cluster>/sync = record (at most KV_HA_RECORD_MAX_BYTES; no
 * lease: it outlives the leader) only if the leader key is still this
 * candidate's of this term, and calls done(arg, ok) once from an etcd
 * answer (ok: written). Only the leader writes it, so once the leader key
 * is gone it stays as its last leader wrote it, for the candidates that
 * read it before they claim (may_claim). One at a time: KV_EINVAL when not
 * leading, one is in flight, or the record is too long; -ENOMEM. Deposed
 * or stopped, an answer still out is never reported. */
int ha_elect_publish(ha_elect_t *e, const char *record, void (*done)(void *arg, bool ok),
                     void *arg);

/* Steps down: stops leading at once (on_deposed STOPPED if it led), revokes
 * the lease it holds (within one lease at most) and calls done(arg) once,
 * from a later tick or etcd answer, never from inside the call. Nothing is
 * called after done. Returns 0, or KV_EINVAL when already stopping. */
int ha_elect_stop(ha_elect_t *e, void (*done)(void *arg), void *arg);

/* Cancels what is in flight; no callback after it. NULL is ignored. */
void ha_elect_free(ha_elect_t *e);

#endif
