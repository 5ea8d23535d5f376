/*
 * repl_core.c - the plumbing both state machines share (repl_int.h): send
 * buffers, the action output with its overflow queue, payload holds, the
 * PRNG, and the default wall clock. No protocol logic lives here.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "repl_int.h"

/* ---- send buffers ------------------------------------------------------------- */

int repl__buf_frame(const Edgekv__Frame *f, repl_buf_t **out)
{
    size_t size;
    int rc = frame_size(f, &size);
    if (rc != 0)
        return rc;
    repl_buf_t *b = kv_malloc(sizeof *b + size);
    if (!b)
        return -ENOMEM;
    b->refs = 1;
    b->len = size;
    frame_pack(f, b->data, size);
    *out = b;
    return 0;
}

repl_buf_t *repl_buf_ref(repl_buf_t *b)
{
    KV_ASSERT(b->refs > 0);
    b->refs++;
    return b;
}

void repl_buf_unref(repl_buf_t *b)
{
    if (!b)
        return;
    KV_ASSERT(b->refs > 0);
    if (--b->refs == 0)
        kv_free(b);
}

/* ---- action output ------------------------------------------------------------ */

/* The action goes to the caller: what it points into lives until the
 * next call (repl__out_begin). */
static void out__hand(repl__out_t *o, const repl_action_t *act, void *own)
{
    if (act->kind == REPL_ACT_SEND) {
        if (o->hbufs_n == o->hbufs_cap) {
            size_t cap = o->hbufs_cap ? 2 * o->hbufs_cap : 16;
            repl_buf_t **h = kv_realloc(o->hbufs, cap * sizeof *h);
            REPL__NOMEM(h);
            o->hbufs = h;
            o->hbufs_cap = cap;
        }
        o->hbufs[o->hbufs_n++] = act->u.send.buf;
    }
    if (!own)
        return;
    if (o->handed_n == o->handed_cap) {
        size_t cap = o->handed_cap ? 2 * o->handed_cap : 16;
        void **h = kv_realloc(o->handed, cap * sizeof *h);
        REPL__NOMEM(h);
        o->handed = h;
        o->handed_cap = cap;
    }
    o->handed[o->handed_n++] = own;
}

void repl__out_begin(repl__out_t *o)
{
    for (size_t i = 0; i < o->handed_n; i++)
        kv_free(o->handed[i]);
    o->handed_n = 0;
    for (size_t i = 0; i < o->hbufs_n; i++)
        repl_buf_unref(o->hbufs[i]);
    o->hbufs_n = 0;
}

static void out__queue(repl__out_t *o, const repl_action_t *act, void *own)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        repl__qact_t *q = kv_malloc(cap * sizeof *q);
        REPL__NOMEM(q);
        for (size_t i = 0; i < o->n; i++)
            q[i] = o->q[(o->head + i) % o->cap];
        kv_free(o->q);
        o->q = q;
        o->cap = cap;
        o->head = 0;
    }
    repl__qact_t *slot = &o->q[(o->head + o->n) % o->cap];
    slot->act = *act;
    slot->own = own;
    o->n++;
}

void repl__out_emit(repl__out_t *o, repl_actions_t *a, const repl_action_t *act, void *own)
{
    if (o->n == 0 && a && a->n < a->cap) {
        a->acts[a->n++] = *act;
        out__hand(o, act, own);
        return;
    }
    out__queue(o, act, own);
}

void repl__out_poll(repl__out_t *o, repl_actions_t *a)
{
    while (o->n > 0 && a->n < a->cap) {
        repl__qact_t *slot = &o->q[o->head];
        a->acts[a->n++] = slot->act;
        out__hand(o, &slot->act, slot->own);
        o->head = (o->head + 1) % o->cap;
        o->n--;
    }
}

void repl__out_free(repl__out_t *o)
{
    repl__out_begin(o);
    while (o->n > 0) {
        repl__qact_t *slot = &o->q[o->head];
        if (slot->act.kind == REPL_ACT_SEND)
            repl_buf_unref(slot->act.u.send.buf);
        kv_free(slot->own);
        o->head = (o->head + 1) % o->cap;
        o->n--;
    }
    kv_free(o->q);
    kv_free(o->handed);
    kv_free(o->hbufs);
    memset(o, 0, sizeof *o);
}

void repl__emit_send(repl__out_t *o, repl_actions_t *a, repl_peer_t p, repl_buf_t *b)
{
    repl_action_t act = {.kind = REPL_ACT_SEND,
                         .u.send = {.peer = p, .data = b->data, .len = b->len, .buf = b}};
    repl__out_emit(o, a, &act, NULL);
}

int repl__send_frame(repl__out_t *o, repl_actions_t *a, repl_peer_t p, const Edgekv__Frame *f,
                     size_t *bytes)
{
    repl_buf_t *b;
    int rc = repl__buf_frame(f, &b);
    if (rc != 0)
        return rc;
    if (bytes)
        *bytes = b->len;
    repl__emit_send(o, a, p, b);
    return 0;
}

void repl__emit_close(repl__out_t *o, repl_actions_t *a, repl_peer_t p, const char *reason)
{
    repl_action_t act = {.kind = REPL_ACT_CLOSE, .u.close = {.peer = p, .reason = reason}};
    repl__out_emit(o, a, &act, NULL);
}

void repl__emit_alarm(repl__out_t *o, repl_actions_t *a, const char *reason)
{
    repl_action_t act = {.kind = REPL_ACT_ALARM, .u.alarm = {.reason = reason}};
    repl__out_emit(o, a, &act, NULL);
}

void repl__emit_write_done(repl__out_t *o, repl_actions_t *a, uint64_t token, int status,
                           uint64_t seq, const int *results, size_t n)
{
    int *copy = NULL;
    if (n > 0) {
        copy = kv_calloc(n, sizeof *copy);
        REPL__NOMEM(copy);
        if (results)
            memcpy(copy, results, n * sizeof *copy);
    }
    repl_action_t act = {
        .kind = REPL_ACT_WRITE_DONE,
        .u.write_done = {.token = token, .status = status, .seq = seq, .results = copy, .n = n}};
    repl__out_emit(o, a, &act, copy);
}

/* ---- payload holds ------------------------------------------------------------ */

/* Only the fields the op's kind uses: garbage in unused fields of a
 * caller's op is neither copied nor sent. */
static repl_op_t hold__norm(const repl_op_t *s)
{
    repl_op_t d;
    memset(&d, 0, sizeof d);
    d.kind = s->kind;
    if (s->kind == REPL_OP_NOOP)
        return d;
    memcpy(d.ns_id, s->ns_id, sizeof d.ns_id);
    if (repl_op_has_key(s->kind)) {
        d.key = s->key;
        d.key_len = s->key_len;
    }
    if (repl_op_has_value(s->kind)) {
        d.value = s->value;
        d.value_len = s->value_len;
    }
    if (s->kind == REPL_OP_PUT) {
        d.metadata = s->metadata;
        d.metadata_len = s->metadata ? s->metadata_len : 0;
        d.expiration = s->expiration;
    }
    if (s->kind == REPL_OP_NS_CREATE)
        d.account = s->account;
    if (s->kind == REPL_OP_NS_CREATE || s->kind == REPL_OP_NS_RENAME)
        d.title = s->title;
    return d;
}

static size_t hold__op_bytes(const repl_op_t *op)
{
    size_t n = op->key_len + op->value_len + op->metadata_len;
    n += op->account ? strlen(op->account) + 1 : 0;
    n += op->title ? strlen(op->title) + 1 : 0;
    return n;
}

static char *hold__put(char **p, const void *src, size_t len, bool nul)
{
    char *d = *p;
    if (len)
        memcpy(d, src, len);
    if (nul)
        d[len++] = '\0';
    *p += len;
    return d;
}

repl__hold_t *repl__hold_copy(const repl_op_t *ops, size_t n, repl_mutation_t *out)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        out[i].op = hold__norm(&ops[i]);
        bytes += hold__op_bytes(&out[i].op);
    }
    repl__hold_t *h = kv_malloc(sizeof *h + bytes);
    if (!h)
        return NULL;
    h->refs = 1;
    h->bytes = bytes;
    h->frame = NULL;
    char *p = (char *)(h + 1);
    for (size_t i = 0; i < n; i++) {
        repl_op_t *d = &out[i].op;
        if (d->kind == REPL_OP_NOOP)
            continue;
        d->key = hold__put(&p, d->key, d->key_len, false);
        d->value = (const uint8_t *)hold__put(&p, d->value, d->value_len, false);
        d->metadata = d->metadata ? hold__put(&p, d->metadata, d->metadata_len, false) : NULL;
        d->account = d->account ? hold__put(&p, d->account, strlen(d->account), true) : NULL;
        d->title = d->title ? hold__put(&p, d->title, strlen(d->title), true) : NULL;
    }
    return h;
}

repl__hold_t *repl__hold_frame(Edgekv__Frame *f, size_t bytes)
{
    repl__hold_t *h = kv_malloc(sizeof *h);
    if (!h) {
        frame_free(f);
        return NULL;
    }
    h->refs = 1;
    h->bytes = bytes;
    h->frame = f;
    return h;
}

repl__hold_t *repl__hold_bytes(size_t n, uint8_t **data)
{
    repl__hold_t *h = kv_malloc(sizeof *h + (n ? n : 1));
    if (!h)
        return NULL;
    h->refs = 1;
    h->bytes = n;
    h->frame = NULL;
    *data = (uint8_t *)(h + 1);
    return h;
}

repl__hold_t *repl__hold_ref(repl__hold_t *h)
{
    KV_ASSERT(h->refs > 0);
    h->refs++;
    return h;
}

void repl__hold_unref(repl__hold_t *h)
{
    if (!h)
        return;
    KV_ASSERT(h->refs > 0);
    if (--h->refs > 0)
        return;
    frame_free(h->frame);
    kv_free(h);
}

/* ---- a peer's build name --------------------------------------------------------- */

/* What a build name may hold (semantic versions and their build tags):
 * safe in a log line, a JSON string and a Prometheus label. */
static bool software_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '+' || c == '_' || c == '~';
}

void repl__software_copy(char *dst, const char *src)
{
    size_t n = 0;
    for (; src && src[n] && n < KV_REPL_SOFTWARE_MAX; n++)
        dst[n] = software_char(src[n]) ? src[n] : '?';
    dst[n] = '\0';
}

/* ---- PRNG --------------------------------------------------------------------- */

uint64_t repl__rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- the default wall clock --------------------------------------------------- */

uint64_t repl_wall_realtime(void *ctx, uint64_t now_ms)
{
    (void)ctx;
    (void)now_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
