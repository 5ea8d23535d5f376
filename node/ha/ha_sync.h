/*
 * ha_sync.h - the leader's record of its synchronous standbys, and the rule
 * a candidate applies to it before it claims leadership.
 *
 * Why a record. A leader answers a write once its synchronous standbys made
 * it durable (repl.h "Synchronous standbys"). With fewer synchronous
 * standbys than other candidates, some candidate's log may lack an
 * acknowledged write: one that was down, or lagging, while the leader
 * counted the others' acks. Such a candidate must never lead. So the leader
 * names, in etcd (ha_elect_publish), the standbys whose acks it counts, and
 * counts a standby's acks only once that record is written; a candidate
 * claims only if the record, read after the leader key was seen absent,
 * names it (as the leader or a standby). Every write acknowledged under a
 * record is on every candidate the record names, so whoever claims under it
 * holds them all. This is Patroni's synchronous mode (its /sync key), with
 * the same price: when every named candidate is gone, nobody takes over
 * until one comes back.
 *
 * The text: "<term> <leader> <standby>[,<standby>...]" - names of
 * [A-Za-z0-9._-] (certificate names), "-" for no standby. A leader writes
 * a new record when it starts to count a different set; the first leader of
 * a cluster finds none, and any candidate may claim (the log rule of
 * replica_ha.c still applies).
 *
 * Pure text functions: no I/O, any thread.
 */
#ifndef HA_SYNC_H
#define HA_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the record into buf; KV_EINVAL (a name empty, over
 * KV_TLS_PEER_NAME_MAX bytes or outside the alphabet; more than
 * KV_REPL_SYNC_STANDBYS_MAX standbys), KV_ETOOBIG (buf too small). */
int ha_sync_format(char *buf, size_t size, int64_t term, const char *leader,
                   const char *const *standbys, size_t n);

/* May the candidate `name` claim leadership under `record` (NULL: there is
 * none: yes)? Yes when the record names it as the leader or a standby. A
 * record that does not parse: no (a newer format, or damage: waiting is
 * safe, leading may not be). */
bool ha_sync_may_claim(const char *record, const char *name);

#endif
