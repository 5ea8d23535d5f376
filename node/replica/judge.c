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
    const judge_tokens_t *configured; /* may be NULL */
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

/* The live record of stored token `id` after the accepted ops: 1 with
 * *rec decoded (state_token_free), 0 when there is none (never made,
 * revoked, or unreadable), or a negative code. */
static int token_record(const judge_t *j, const char *id, size_t id_len, state_token_t *rec)
{
    char name[STATE_TOKEN_NAME_BYTES];
    char *val = NULL;
    size_t len = 0;
    const repl_op_t *last = NULL;
    int rc;
    memset(rec, 0, sizeof *rec);
    if (id_len == 0 || id_len > REPL_TOKEN_ID_MAX_BYTES)
        return 0;
    for (size_t k = 0; k < j->n_tok; k++) {
        const repl_op_t *o = op_at(j, j->tok_ops[k]);
        if (o->key_len == id_len && memcmp(o->key, id, id_len) == 0)
            last = o;
    }
    if (last) {
        if (last->kind != REPL_OP_TOKEN_PUT || last->value_len == 0)
            return 0;
        rc = state_token_decode(last->value, last->value_len, rec);
    } else {
        state_token_name(name, id, id_len);
        rc = stor_state_get(j->s, name, &val, &len);
        if (rc != 0)
            return rc == KV_ENOTFOUND ? 0 : rc;
        rc = len ? state_token_decode(val, len, rec) : KV_ECORRUPT;
        kv_free(val);
    }
    if (rc == -ENOMEM)
        return rc;
    return rc == 0; /* an unreadable record authenticates nobody (tokens.c) */
}

/* Does the store hold a live (non-empty) record of token `id`? 1, 0 or a
 * negative code. */
static int token_stored(const judge_t *j, const char *id, size_t id_len)
{
    char name[STATE_TOKEN_NAME_BYTES];
    char *val = NULL;
    size_t len = 0;
    int rc;
    state_token_name(name, id, id_len);
    rc = stor_state_get(j->s, name, &val, &len);
    kv_free(val);
    if (rc != 0)
        return rc == KV_ENOTFOUND ? 0 : rc;
    return len > 0;
}

typedef struct {
    const judge_t *j;
    const char *account;
    size_t count;
} tok_count_t;

/* One token id: counted when it is live after the accepted ops and of the
 * account. */
static int tok_count_one(tok_count_t *c, const char *id, size_t id_len)
{
    state_token_t t;
    int rc = token_record(c->j, id, id_len, &t);
    if (rc == 1 && strcmp(t.account, c->account) == 0)
        c->count++;
    state_token_free(&t);
    return rc < 0 ? rc : 0;
}

static int tok_count_stored(void *arg, const char *id, size_t id_len, const char *rec, size_t len)
{
    return tok_count_one(arg, id, id_len);
}

/* The live tokens of `account` after the accepted ops, into *count: the
 * stored ones, then the ones the group created that the store does not
 * hold live (each once: at its first put). 0 or a negative code. */
static int account_tokens(const judge_t *j, const char *account, size_t *count)
{
    tok_count_t c = {.j = j, .account = account};
    int rc = state_tokens_each(j->s, tok_count_stored, &c);
    for (size_t i = 0; rc == 0 && i < j->n_tok; i++) {
        const repl_op_t *o = op_at(j, j->tok_ops[i]);
        size_t k;
        if (o->kind != REPL_OP_TOKEN_PUT)
            continue;
        for (k = 0; k < i; k++) {
            const repl_op_t *p = op_at(j, j->tok_ops[k]);
            if (p->kind == REPL_OP_TOKEN_PUT && p->key_len == o->key_len &&
                memcmp(p->key, o->key, o->key_len) == 0)
                break;
        }
        if (k < i || (rc = token_stored(j, o->key, o->key_len)) != 0)
            continue;
        rc = tok_count_one(&c, o->key, o->key_len);
    }
    *count = c.count;
    return rc < 0 ? rc : 0;
}

/* TOKEN_PUT of a new id: may the record's account hold one more live
 * token? 0, KV_ELIMIT or a negative code. A value that is no TokenRecord
 * is left to the checks of its path (judge_auth for a forwarded write). */
static int token_room(const judge_t *j, const repl_op_t *o)
{
    state_token_t t;
    size_t count = 0;
    int rc;
    if (o->value_len == 0)
        return 0;
    if ((rc = state_token_decode(o->value, o->value_len, &t)) != 0)
        return rc == -ENOMEM ? rc : 0;
    rc = account_tokens(j, t.account, &count);
    state_token_free(&t);
    if (rc != 0)
        return rc;
    return count >= KV_TOKENS_PER_ACCOUNT_MAX ? KV_ELIMIT : 0;
}

/* The scope of the token a forwarded write names: 1 with *sc filled
 * (borrowing from *rec, to be freed with state_token_free, or from the
 * configured table), 0 unknown or revoked, or a negative code. */
static int scope_of(const judge_t *j, const char *id, judge_scope_t *sc, state_token_t *rec)
{
    int rc;
    memset(rec, 0, sizeof *rec);
    if (!id[0])
        return 0;
    if (j->configured && j->configured->lookup &&
        j->configured->lookup(j->configured->arg, id, sc) == 1)
        return 1;
    if ((rc = token_record(j, id, strlen(id), rec)) != 1)
        return rc;
    *sc = (judge_scope_t){.account = rec->account,
                          .write = rec->write,
                          .scoped = rec->scoped,
                          .namespaces = rec->namespaces,
                          .namespace_count = rec->namespace_count};
    return 1;
}

static bool in_scope(const judge_scope_t *sc, const char *ns_id)
{
    if (!sc->scoped)
        return true;
    for (size_t i = 0; i < sc->namespace_count; i++)
        if (sc->namespaces[i] && strcmp(sc->namespaces[i], ns_id) == 0)
            return true;
    return false;
}

/* May the token of scope sc make the forwarded op o? 0, the refusal
 * (judge.h lists them), or a negative code. */
static int judge_auth(const judge_t *j, const judge_scope_t *sc, const repl_op_t *o)
{
    stor_ns_t ns;
    state_token_t t;
    int rc;
    if (!sc->write)
        return KV_EFORBIDDEN;
    switch (o->kind) {
    case REPL_OP_PUT:
    case REPL_OP_DELETE:
    case REPL_OP_NS_RENAME:
    case REPL_OP_NS_DELETE:
        if (!in_scope(sc, o->ns_id))
            return KV_EFORBIDDEN;
        /* A namespace that does not exist is left to the rules (KV_ENOTFOUND). */
        if ((rc = ns_view(j, o->ns_id, &ns)) < 0)
            return rc;
        return rc && strcmp(ns.account, sc->account) != 0 ? KV_EFORBIDDEN : 0;
    case REPL_OP_NS_CREATE:
        /* An account-level write: a token for all of the account's namespaces. */
        return sc->scoped || !o->account || strcmp(o->account, sc->account) != 0 ? KV_EFORBIDDEN
                                                                                 : 0;
    case REPL_OP_TOKEN_PUT:
        if (sc->scoped)
            return KV_EFORBIDDEN;
        if ((rc = state_token_decode(o->value, o->value_len, &t)) != 0)
            return rc == -ENOMEM ? rc : KV_EINVAL;
        if (strcmp(t.account, sc->account) != 0)
            rc = KV_EFORBIDDEN;
        else if (strlen(t.id) != o->key_len || memcmp(t.id, o->key, o->key_len) != 0)
            rc = KV_EINVAL;
        state_token_free(&t);
        return rc;
    case REPL_OP_TOKEN_DELETE:
        if (sc->scoped)
            return KV_EFORBIDDEN;
        if ((rc = token_record(j, o->key, o->key_len, &t)) < 0)
            return rc;
        rc = rc == 1 && strcmp(t.account, sc->account) != 0 ? KV_ENOTFOUND : 0;
        state_token_free(&t);
        return rc;
    case REPL_OP_NOOP:
        break;
    }
    return KV_EINVAL; /* an edge never forwards a NOOP (the core refuses it) */
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
            return rc ? KV_EEXISTS : token_room(j, o);
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
    return rc == KV_ENOTFOUND || rc == KV_EEXISTS || rc == KV_ELIMIT || rc == KV_EINVAL ||
           rc == KV_EUNAUTH || rc == KV_EFORBIDDEN;
}

/* The forwarded write that starts at muts[head] (repl.h: request_head)
 * ends before the returned index. */
static size_t request_end(const repl_mutation_t *muts, size_t n, size_t head)
{
    size_t e = head + 1;
    while (e < n && muts[e].op.auth_id && !muts[e].op.request_head)
        e++;
    return e;
}

int judge_group(stor_t *s, const judge_tokens_t *configured, const repl_mutation_t *muts, size_t n,
                int *results)
{
    judge_t j = {.s = s, .configured = configured, .muts = muts};
    /* The forwarded write being judged: its first op, where the accepted
     * op lists stood before it, and its token (known: 1, else 0). */
    size_t head = 0, head_ns = 0, head_tok = 0;
    judge_scope_t sc = {0};
    state_token_t rec = {0};
    int known = 0;
    int rc = 0;
    bool held = configured && configured->lookup && configured->hold;
    j.ns_ops = kv_malloc((n ? n : 1) * sizeof *j.ns_ops);
    j.tok_ops = kv_malloc((n ? n : 1) * sizeof *j.tok_ops);
    if (!j.ns_ops || !j.tok_ops)
        rc = -ENOMEM;
    if (held)
        configured->hold(configured->arg);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const repl_op_t *o = &muts[i].op;
        repl_op_kind_t k = o->kind;
        int r = 0;
        if (o->auth_id && (o->request_head || i == 0 || !muts[i - 1].op.auth_id)) {
            head = i, head_ns = j.n_ns, head_tok = j.n_tok;
            state_token_free(&rec);
            if ((known = scope_of(&j, o->auth_id, &sc, &rec)) < 0) {
                rc = known;
                break;
            }
        }
        if (o->auth_id && (r = known ? judge_auth(&j, &sc, o) : KV_EUNAUTH) != 0) {
            size_t end = request_end(muts, n, head);
            if (!is_refusal(r)) {
                rc = r;
                break;
            }
            /* All or nothing: the whole write gets the code, and what it
             * had been accepted for is forgotten. */
            for (size_t x = head; x < end; x++)
                results[x] = r;
            j.n_ns = head_ns, j.n_tok = head_tok;
            i = end - 1;
            continue;
        }
        r = judge_op(&j, o);
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
    state_token_free(&rec);
    if (held && configured->release)
        configured->release(configured->arg);
    kv_free(j.ns_ops);
    kv_free(j.tok_ops);
    return rc;
}
