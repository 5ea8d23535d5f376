/*
 * judge.h - the rules every write obeys, decided in one place.
 *
 * Every write a node accepts - a value, a bulk write, a namespace change,
 * an API token - reaches the origin's replication core (replication/repl.h),
 * which orders it and stamps its version, and then this judge, which the
 * origin's commit job (node/replica/replica_work.c) runs over each group just
 * before committing it. A lone origin is the same origin core without a
 * replication listener, so there is no other path: the rules below are
 * written once and hold for a lone origin, a replicated one and every write
 * forwarded by an edge. Storage applies what was decided (storage/store.h).
 *
 * The rules, per op, against the store as it is plus the ops of the same
 * group accepted before it (so "create, then put into it" in one group
 * works, and a put into a namespace deleted earlier in the group fails):
 *   PUT, DELETE     the namespace exists and was not deleted
 *                   earlier in the group (the commit writes
 *                   records before namespace changes)         else KV_ENOTFOUND
 *   NS_CREATE       the id is new                             else KV_EEXISTS
 *                   the account has no namespace of the title else KV_EEXISTS
 *                   the account has < KV_NS_PER_ACCOUNT_MAX    else KV_ELIMIT
 *   NS_RENAME       the namespace exists                      else KV_ENOTFOUND
 *                   no other namespace of its account has
 *                   the title                                 else KV_EEXISTS
 *   NS_DELETE       the namespace exists                      else KV_ENOTFOUND
 *   TOKEN_PUT       no live token has the id                  else KV_EEXISTS
 *   TOKEN_DELETE    a live token has the id                   else KV_ENOTFOUND
 *   NOOP            always accepted
 * A refused op is logged as a no-op (its seq stays taken) and its writer
 * gets the code. What is not judged here: the shape of an op (sizes, ids,
 * lengths: repl_op_check in the core, KV-SPEC's validation in node/api/kvops.c)
 * and who may write (node/api/auth.c).
 *
 * Cost: O(1) store lookups per value op (the namespace mirror), O(namespaces
 * of the account) per namespace create or rename; the group's earlier
 * namespace and token ops are kept apart from its value ops, so a bulk of
 * 10 000 puts is judged in linear time.
 */
#ifndef NODE_JUDGE_H
#define NODE_JUDGE_H

#include <stddef.h>

#include "repl.h"
#include "store.h"

/* Judge muts[0..n) in order: results[i] = 0 (accepted) or the op's
 * negative kv code. Reads the store only (namespace mirror, token state);
 * the caller commits the accepted ops and must be the store's only writer
 * meanwhile (the origin's commit thread). Returns 0, or -ENOMEM / KV_EIO
 * when the group could not be judged (then results are meaningless). */
int judge_group(stor_t *s, const repl_mutation_t *muts, size_t n, int *results);

#endif
