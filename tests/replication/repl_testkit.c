/*
 * repl_testkit.c - the in-memory driver of repl_testkit.h.
 *
 * Test code: it aborts through cmocka's assertions on anything the core
 * must never do (apply out of order, answer a write before applying it,
 * two storage steps at once), and uses plain malloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "repl_testkit.h"
#include "wire.h"

const char TK_NS[KV_NS_ID_LEN + 1] = "0123456789abcdef0123456789abcdef";
const char TK_HIST_A[33] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const char TK_HIST_B[33] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void *tk_dup(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

static char *tk_strdup(const char *s)
{
    return s ? tk_dup(s, strlen(s) + 1) : NULL;
}

/* ---- model -------------------------------------------------------------------- */

void tk_model_init(tk_model_t *m)
{
    memset(m, 0, sizeof *m);
}

void tk_model_clear(tk_model_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->recs[i].key);
        free(m->recs[i].val);
        free(m->recs[i].meta);
    }
    for (size_t i = 0; i < m->nns; i++) {
        free(m->ns[i].title);
        free(m->ns[i].account);
    }
    m->n = m->nns = 0;
    m->applied_seq = 0;
    m->history[0] = '\0';
}

void tk_model_free(tk_model_t *m)
{
    tk_model_clear(m);
    free(m->recs);
    free(m->ns);
    memset(m, 0, sizeof *m);
}

static tk_rec_t *model_find(const tk_model_t *m, const char *ns, const char *key, size_t key_len)
{
    for (size_t i = 0; i < m->n; i++) {
        tk_rec_t *r = &m->recs[i];
        if (r->key_len == key_len && memcmp(r->key, key, key_len) == 0 && strcmp(r->ns, ns) == 0)
            return r;
    }
    return NULL;
}

const tk_rec_t *tk_model_get(const tk_model_t *m, const char *ns, const char *key)
{
    return model_find(m, ns, key, strlen(key));
}

static tk_ns_t *model_find_ns(const tk_model_t *m, const char *id)
{
    for (size_t i = 0; i < m->nns; i++)
        if (strcmp(m->ns[i].id, id) == 0)
            return &m->ns[i];
    return NULL;
}

static bool model_apply_rec(tk_model_t *m, const repl_mutation_t *mu)
{
    const repl_op_t *op = &mu->op;
    tk_rec_t *r = model_find(m, op->ns_id, op->key, op->key_len);
    if (r && kv_version_cmp(mu->version, r->v) <= 0)
        return false; /* LWW: older or equal loses, whatever the value */
    if (!r) {
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 16;
            m->recs = realloc(m->recs, m->cap * sizeof *m->recs);
            assert_non_null(m->recs);
        }
        r = &m->recs[m->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->ns, op->ns_id, sizeof r->ns);
        r->key = tk_dup(op->key, op->key_len);
        r->key_len = op->key_len;
    }
    free(r->val);
    free(r->meta);
    r->val = NULL;
    r->meta = NULL;
    r->v = mu->version;
    r->tomb = op->kind == REPL_OP_DELETE;
    r->val_len = r->tomb ? 0 : op->value_len;
    r->val = r->tomb ? NULL : tk_dup(op->value, op->value_len);
    r->meta_len = !r->tomb && op->metadata ? op->metadata_len : 0;
    r->meta = r->meta_len ? tk_dup(op->metadata, op->metadata_len) : NULL;
    r->exp = r->tomb ? 0 : op->expiration;
    return true;
}

static bool model_apply_ns(tk_model_t *m, const repl_mutation_t *mu)
{
    const repl_op_t *op = &mu->op;
    tk_ns_t *n = model_find_ns(m, op->ns_id);
    if (n && kv_version_cmp(mu->version, n->v) <= 0)
        return false;
    if (!n) {
        if (m->nns == m->nscap) {
            m->nscap = m->nscap ? 2 * m->nscap : 8;
            m->ns = realloc(m->ns, m->nscap * sizeof *m->ns);
            assert_non_null(m->ns);
        }
        n = &m->ns[m->nns++];
        memset(n, 0, sizeof *n);
        memcpy(n->id, op->ns_id, sizeof n->id);
    }
    n->v = mu->version;
    if (op->kind == REPL_OP_NS_DELETE) {
        n->deleted = true;
        return true;
    }
    n->deleted = false;
    free(n->title);
    n->title = tk_strdup(op->title);
    if (op->kind == REPL_OP_NS_CREATE) {
        free(n->account);
        n->account = tk_strdup(op->account);
    }
    return true;
}

bool tk_model_apply(tk_model_t *m, const repl_mutation_t *mu)
{
    switch (mu->op.kind) {
    case REPL_OP_NOOP:
        return false;
    case REPL_OP_PUT:
    case REPL_OP_DELETE:
        return model_apply_rec(m, mu);
    default:
        return model_apply_ns(m, mu);
    }
}

static bool rec_equal(const tk_rec_t *a, const tk_rec_t *b)
{
    if (kv_version_cmp(a->v, b->v) != 0 || a->tomb != b->tomb)
        return false;
    if (a->tomb)
        return true;
    return a->val_len == b->val_len && (a->val_len == 0 || !memcmp(a->val, b->val, a->val_len)) &&
           a->meta_len == b->meta_len &&
           (a->meta_len == 0 || !memcmp(a->meta, b->meta, a->meta_len)) && a->exp == b->exp;
}

bool tk_model_equal(const tk_model_t *a, const tk_model_t *b)
{
    if (a->n != b->n || a->nns != b->nns)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const tk_rec_t *r = model_find(b, a->recs[i].ns, a->recs[i].key, a->recs[i].key_len);
        if (!r || !rec_equal(&a->recs[i], r))
            return false;
    }
    for (size_t i = 0; i < a->nns; i++) {
        const tk_ns_t *x = &a->ns[i], *y = model_find_ns(b, x->id);
        if (!y || kv_version_cmp(x->v, y->v) != 0 || x->deleted != y->deleted)
            return false;
        if (!x->deleted && strcmp(x->title ? x->title : "", y->title ? y->title : "") != 0)
            return false;
    }
    return true;
}

size_t tk_model_snapshot(const tk_model_t *m, repl_mutation_t **out)
{
    size_t n = m->n + m->nns;
    repl_mutation_t *s = calloc(n ? n : 1, sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < m->n; i++) {
        const tk_rec_t *r = &m->recs[i];
        repl_op_t *op = &s[i].op;
        s[i].version = r->v;
        op->kind = r->tomb ? REPL_OP_DELETE : REPL_OP_PUT;
        memcpy(op->ns_id, r->ns, sizeof op->ns_id);
        op->key = r->key;
        op->key_len = r->key_len;
        op->value = r->val;
        op->value_len = r->val_len;
        op->metadata = r->meta;
        op->metadata_len = r->meta_len;
        op->expiration = r->exp;
    }
    for (size_t i = 0; i < m->nns; i++) {
        const tk_ns_t *x = &m->ns[i];
        repl_op_t *op = &s[m->n + i].op;
        s[m->n + i].version = x->v;
        op->kind = x->deleted ? REPL_OP_NS_DELETE : REPL_OP_NS_CREATE;
        memcpy(op->ns_id, x->id, sizeof op->ns_id);
        op->title = x->title ? x->title : "untitled";
        op->account = x->account ? x->account : "acct";
    }
    *out = s;
    return n;
}

/* ---- ops ---------------------------------------------------------------------- */

repl_op_t tk_put(const char *key, const char *value)
{
    repl_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = REPL_OP_PUT;
    memcpy(op.ns_id, TK_NS, sizeof op.ns_id);
    op.key = key;
    op.key_len = strlen(key);
    op.value = (const uint8_t *)value;
    op.value_len = strlen(value);
    return op;
}

repl_op_t tk_del(const char *key)
{
    repl_op_t op = tk_put(key, "");
    op.kind = REPL_OP_DELETE;
    op.value = NULL;
    return op;
}

/* ---- single-core helpers ------------------------------------------------------ */

void tk_acts_reset(tk_acts_t *t, size_t cap)
{
    t->a.acts = t->buf;
    t->a.cap = cap < TK_ACTS_MAX ? cap : TK_ACTS_MAX;
    t->a.n = 0;
}

int tk_acts_find(const tk_acts_t *t, repl_act_kind_t kind, size_t from)
{
    for (size_t i = from; i < t->a.n; i++)
        if (t->buf[i].kind == kind)
            return (int)i;
    return -1;
}

size_t tk_acts_count(const tk_acts_t *t, repl_act_kind_t kind)
{
    size_t n = 0;
    for (size_t i = 0; i < t->a.n; i++)
        n += t->buf[i].kind == kind;
    return n;
}

Edgekv__Frame *tk_send_frame(const repl_action_t *act)
{
    assert_int_equal(act->kind, REPL_ACT_SEND);
    const uint8_t *data = act->u.send.data;
    size_t len = act->u.send.len;
    assert_true(len >= FRAME_PREFIX_BYTES);
    assert_int_equal(frame_get_len(data), len - FRAME_PREFIX_BYTES);
    Edgekv__Frame *f = NULL;
    assert_int_equal(frame_decode(data + 4, len - 4, &f), 0);
    return f;
}

Edgekv__Frame *tk_acts_frame(const tk_acts_t *t, size_t k)
{
    for (size_t i = 0; i < t->a.n; i++) {
        if (t->buf[i].kind != REPL_ACT_SEND)
            continue;
        if (k-- == 0)
            return tk_send_frame(&t->buf[i]);
    }
    return NULL;
}

uint8_t *tk_frame_bytes(const Edgekv__Frame *f, size_t *len)
{
    uint8_t *b;
    assert_int_equal(frame_encode(f, &b, len), 0);
    uint8_t *d = tk_dup(b, *len);
    kv_free(b);
    return d;
}
