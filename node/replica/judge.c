/*
 * judge.c - the origin's rules for a group of writes (see judge.h).
 *
 * A group is judged op by op. The namespace and token ops accepted so far
 * are remembered (indices into the group); a lookup starts from the store
 * and replays those, in order, for the id asked about. Value ops are not
 * remembered: they change no rule's input.
 */
#include "judge.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kv_err.h"
#include "kv_limits.h"
#include "kv_mem.h"
#include "state.h"

typedef struct {
    stor_t *s;
    const repl_mutation_t *muts;
    size_t *ns_ops; /* accepted namespace ops, in group order */
    size_t n_ns;
    size_t *tok_ops; /* accepted token ops, in group order */
    size_t n_tok;
} judge_t;

static const repl_op_t *op_at(const judge_t *j, size_t i)
{
    return &j->muts[i].op;
}

/* The namespace `id` as the store and the accepted ops leave it: 1 with
 * *ns filled, 0 when it does not exist, or a negative code. */
static int ns_view(const judge_t *j, const char *id, stor_ns_t *ns)
{
    int rc = stor_ns_get(j->s, id, ns), exists;
    if (rc != 0 && rc != KV_ENOTFOUND)
        return rc;
    exists = rc == 0;
    for (size_t k = 0; k < j->n_ns; k++) {
        const repl_op_t *o = op_at(j, j->ns_ops[k]);
        if (strcmp(o->ns_id, id) != 0)
            continue;
        if (o->kind == REPL_OP_NS_CREATE) {
            exists = 1;
            snprintf(ns->id, sizeof ns->id, "%s", id);
            snprintf(ns->account, sizeof ns->account, "%s", o->account);
            snprintf(ns->title, sizeof ns->title, "%s", o->title);
        } else if (o->kind == REPL_OP_NS_RENAME) {
            snprintf(ns->title, sizeof ns->title, "%s", o->title);
        } else {
            exists = 0;
        }
    }
    return exists;
}

static bool deleted_in_group(const judge_t *j, const char *id)
{
    for (size_t k = 0; k < j->n_ns; k++) {
        const repl_op_t *o = op_at(j, j->ns_ops[k]);
        if (o->kind == REPL_OP_NS_DELETE && strcmp(o->ns_id, id) == 0)
            return true;
    }
    return false;
}

/* Look at each namespace `account` has after the accepted ops: count them
 * into *count and say whether one other than except_id has `title`: 1
 * taken, 0 free, or a negative code. */
static int account_scan(const judge_t *j, const char *account, const char *title,
                        const char *except_id, size_t *count)
{
    stor_ns_t *all = NULL, ns;
    size_t n = 0, total = 0, i;
    int taken = 0, rc;
    /* The mirror holds at most KV_NS_PER_ACCOUNT_MAX per account, plus what
     * replicated history may have put past it: ask for all of them. */
    rc = stor_ns_list(j->s, account, STOR_NS_ORDER_ID, false, 1, SIZE_MAX / 2, &all, &n, &total);
    if (rc != 0)
        return rc;
    *count = 0;
    /* The ids the store has, then the ids created in the group that the
     * store does not have (each once: at its first create). */
    for (i = 0; i < n + j->n_ns; i++) {
        const char *id;
        if (i < n) {
            id = all[i].id;
        } else {
            const repl_op_t *o = op_at(j, j->ns_ops[i - n]);
            size_t k;
            if (o->kind != REPL_OP_NS_CREATE || stor_ns_get(j->s, o->ns_id, NULL) == 0)
                continue;
            for (k = 0; k < i - n; k++)
                if (op_at(j, j->ns_ops[k])->kind == REPL_OP_NS_CREATE &&
                    strcmp(op_at(j, j->ns_ops[k])->ns_id, o->ns_id) == 0)
                    break;
            if (k < i - n)
                continue;
            id = o->ns_id;
        }
        if ((rc = ns_view(j, id, &ns)) < 0) {
            kv_free(all);
            return rc;
        }
        if (rc == 0 || strcmp(ns.account, account) != 0)
            continue;
        (*count)++;
        if (title && strcmp(ns.title, title) == 0 && (!except_id || strcmp(id, except_id) != 0))
            taken = 1;
    }
    kv_free(all);
    return taken;
}

/* Is there a live token `id` (key bytes) after the accepted ops? 1, 0 or a
 * negative code. A revoked token is stored as an empty record. */
static int token_view(const judge_t *j, const char *id, size_t id_len)
{
    char name[STATE_TOKEN_NAME_BYTES];
    char *val = NULL;
    size_t len = 0;
    int rc, live;
    if (id_len > REPL_TOKEN_ID_MAX_BYTES)
        return 0;
    state_token_name(name, id, id_len);
    rc = stor_state_get(j->s, name, &val, &len);
    if (rc != 0 && rc != KV_ENOTFOUND)
        return rc;
    live = rc == 0 && len > 0;
    kv_free(val);
    for (size_t k = 0; k < j->n_tok; k++) {
        const repl_op_t *o = op_at(j, j->tok_ops[k]);
        if (o->key_len == id_len && memcmp(o->key, id, id_len) == 0)
            live = o->kind == REPL_OP_TOKEN_PUT;
    }
    return live;
}

static int judge_op(const judge_t *j, const repl_op_t *o)
{
    stor_ns_t ns;
    size_t count;
    int rc;
    switch (o->kind) {
    case REPL_OP_PUT:
    case REPL_OP_DELETE:
        /* The commit writes records before namespace changes, so a delete
         * earlier in the group would wipe this write even if the id were
         * re-created after it: refuse rather than lose an acknowledged op. */
        if (deleted_in_group(j, o->ns_id))
            return KV_ENOTFOUND;
        rc = ns_view(j, o->ns_id, &ns);
        return rc < 0 ? rc : rc ? 0 : KV_ENOTFOUND;
    case REPL_OP_NS_DELETE:
        rc = ns_view(j, o->ns_id, &ns);
        return rc < 0 ? rc : rc ? 0 : KV_ENOTFOUND;
    case REPL_OP_NS_CREATE:
        if ((rc = ns_view(j, o->ns_id, &ns)) != 0)
            return rc < 0 ? rc : KV_EEXISTS;
        if ((rc = account_scan(j, o->account, o->title, NULL, &count)) != 0)
            return rc < 0 ? rc : KV_EEXISTS;
        return count >= KV_NS_PER_ACCOUNT_MAX ? KV_ELIMIT : 0;
    case REPL_OP_NS_RENAME:
        if ((rc = ns_view(j, o->ns_id, &ns)) <= 0)
            return rc < 0 ? rc : KV_ENOTFOUND;
        rc = account_scan(j, ns.account, o->title, o->ns_id, &count);
        return rc < 0 ? rc : rc ? KV_EEXISTS : 0;
    case REPL_OP_TOKEN_PUT:
    case REPL_OP_TOKEN_DELETE:
        if ((rc = token_view(j, o->key, o->key_len)) < 0)
            return rc;
        if (o->kind == REPL_OP_TOKEN_PUT)
            return rc ? KV_EEXISTS : 0;
        return rc ? 0 : KV_ENOTFOUND;
    case REPL_OP_NOOP:
        return 0;
    }
    return KV_EINVAL;
}

/* A judged op's own failure (a refusal) goes into results; a failure to
 * judge at all (-ENOMEM, KV_EIO, KV_ECORRUPT) fails the group. */
static bool is_refusal(int rc)
{
    return rc == KV_ENOTFOUND || rc == KV_EEXISTS || rc == KV_ELIMIT || rc == KV_EINVAL;
}

int judge_group(stor_t *s, const repl_mutation_t *muts, size_t n, int *results)
{
    judge_t j = {.s = s, .muts = muts};
    int rc = 0;
    j.ns_ops = kv_malloc((n ? n : 1) * sizeof *j.ns_ops);
    j.tok_ops = kv_malloc((n ? n : 1) * sizeof *j.tok_ops);
    if (!j.ns_ops || !j.tok_ops)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        repl_op_kind_t k = muts[i].op.kind;
        int r = judge_op(&j, &muts[i].op);
        if (r != 0 && !is_refusal(r)) {
            rc = r;
            break;
        }
        results[i] = r;
        if (r != 0)
            continue;
        if (k == REPL_OP_NS_CREATE || k == REPL_OP_NS_RENAME || k == REPL_OP_NS_DELETE)
            j.ns_ops[j.n_ns++] = i;
        else if (k == REPL_OP_TOKEN_PUT || k == REPL_OP_TOKEN_DELETE)
            j.tok_ops[j.n_tok++] = i;
    }
    kv_free(j.ns_ops);
    kv_free(j.tok_ops);
    return rc;
}
