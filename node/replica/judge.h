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
 *                   the record's account has <
 *                   KV_TOKENS_PER_ACCOUNT_MAX live tokens      else KV_ELIMIT
 *   TOKEN_DELETE    a live token has the id                   else KV_ENOTFOUND
 *   NOOP            always accepted
 * A refused op is logged as a no-op (its seq stays taken) and its writer
 * gets the code. What is not judged here: the shape of an op (sizes, ids,
 * lengths: repl_op_check in the core, KV-SPEC's validation in node/api/kvops.c)
 * and who may make a write that the origin's own API took: that API checked
 * its token (node/api/auth.c).
 *
 * Writes forwarded by an edge are checked again here, first: the edge
 * names the token it authenticated the write with (WriteRequest.token_id,
 * an id, never the secret) and the origin holds every op to that token as
 * the origin knows it - its configuration's tokens (judge_tokens_t) and
 * the stored token records, which are authoritative - with the rules the
 * API applies locally (node/api/rest.c, binding.c, tokens.c):
 *   the edge named no token, or one that is unknown or revoked  KV_EUNAUTH
 *   a read-only token                                           KV_EFORBIDDEN
 *   PUT, DELETE, NS_RENAME, NS_DELETE: a namespace outside a
 *     scoped token's list, or one of another account           KV_EFORBIDDEN
 *   NS_CREATE: for another account, or by a scoped token       KV_EFORBIDDEN
 *   TOKEN_PUT, TOKEN_DELETE: by a scoped token (managing tokens
 *     needs the account's write token for all namespaces)      KV_EFORBIDDEN
 *   TOKEN_PUT: a record of another account                     KV_EFORBIDDEN
 *              a value that is no TokenRecord of id = key      KV_EINVAL
 *   TOKEN_DELETE: a live token of another account              KV_ENOTFOUND
 *     (the API lists only the caller's tokens: it answers 404)
 * A minted token is so never wider than its maker: same account, and the
 * maker reaches every namespace of it with write access. A write forwarded
 * without a token is refused: an edge forwards only its clients' writes
 * and has none of its own. The check is all-or-nothing per forwarded
 * write: when one op fails it, every op of that write gets the code and
 * none is committed (the group's other writes are judged as if it were
 * absent). A write passing it then meets the rules above, per op.
 * What the re-check cannot do: prove that the client showed the edge the
 * token's secret. An edge certificate is trusted to name only tokens its
 * clients presented; a hostile edge can act within the scope of any token
 * it can name, but never beyond it.
 *
 * Cost: O(1) store lookups per value op (the namespace mirror), O(namespaces
 * of the account) per namespace create or rename; the group's earlier
 * namespace and token ops are kept apart from its value ops, so a bulk of
 * 10 000 puts is judged in linear time. A forwarded write adds one token
 * lookup (per write, not per op) and one namespace lookup per op, plus the
 * token's namespace list for a scoped token.
 */
#ifndef NODE_JUDGE_H
#define NODE_JUDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "repl.h"
#include "store.h"

/* A token's scope, as the re-check of forwarded writes reads it. */
typedef struct {
    const char *account;
    bool write;
    bool scoped;                   /* false: every namespace of the account */
    const char *const *namespaces; /* scoped: the only namespaces it reaches */
    size_t namespace_count;
} judge_scope_t;

/* The origin's configured tokens (node/api/auth.h gives them ids): lookup
 * returns 1 with *out filled (strings borrowed from the table) when `id`
 * is one of them, else 0. A reload may replace the table (SIGHUP), so
 * judge_group calls hold (if not NULL) before its first lookup and
 * release after its last use of a scope: the table stays put in between.
 * Called on the commit thread. A NULL lookup: there are none. */
typedef struct {
    int (*lookup)(void *arg, const char *id, judge_scope_t *out);
    void (*hold)(void *arg);
    void (*release)(void *arg);
    void *arg;
} judge_tokens_t;

/* Judge muts[0..n) in order: results[i] = 0 (accepted) or the op's
 * negative kv code. Ops with an auth_id (repl.h: forwarded by an edge) are
 * re-checked against that token first, `configured` (may be NULL) and the
 * stored records. Reads the store only (namespace mirror, token state);
 * the caller commits the accepted ops and must be the store's only writer
 * meanwhile (the origin's commit thread). Returns 0, or -ENOMEM / KV_EIO
 * when the group could not be judged (then results are meaningless). */
int judge_group(stor_t *s, const judge_tokens_t *configured, const repl_mutation_t *muts, size_t n,
                int *results);

#endif
