/*
 * fuzz_repl.h - a check the replication harnesses of tests/fuzz share:
 * two mutations say the same thing (same_mut), field by field.
 */
#ifndef FUZZ_REPL_H
#define FUZZ_REPL_H

#include "fuzz_util.h"
#include "repl.h"

static inline void same_mut(const repl_mutation_t *a, const repl_mutation_t *b)
{
    FZ_CHECK(a->seq == b->seq && a->version.hlc == b->version.hlc &&
             a->version.node_id == b->version.node_id);
    FZ_CHECK(a->op.kind == b->op.kind);
    if (a->op.kind == REPL_OP_NOOP)
        return;
    FZ_CHECK(strcmp(a->op.ns_id, b->op.ns_id) == 0);
    if (repl_op_has_key(a->op.kind))
        FZ_CHECK(a->op.key_len == b->op.key_len &&
                 memcmp(a->op.key, b->op.key, a->op.key_len) == 0);
    if (repl_op_has_value(a->op.kind))
        FZ_CHECK(a->op.value_len == b->op.value_len &&
                 (a->op.value_len == 0 || memcmp(a->op.value, b->op.value, a->op.value_len) == 0));
    if (a->op.kind == REPL_OP_PUT) {
        FZ_CHECK(a->op.metadata_len == b->op.metadata_len && a->op.expiration == b->op.expiration);
        FZ_CHECK(a->op.metadata_len == 0 ||
                 memcmp(a->op.metadata, b->op.metadata, a->op.metadata_len) == 0);
    }
    if (a->op.kind == REPL_OP_NS_CREATE)
        FZ_CHECK(strcmp(a->op.account, b->op.account) == 0);
    if (a->op.kind == REPL_OP_NS_CREATE || a->op.kind == REPL_OP_NS_RENAME)
        FZ_CHECK(strcmp(a->op.title, b->op.title) == 0);
}

#endif
