/*
 * edge_write.c - writes made at an edge: forwarded to the origin, answered
 * only once the origin made them durable AND this edge applied them
 * (read-your-writes at the writing edge).
 *
 * A write is pending from the WriteRequest until its WriteResult, then
 * "answered" until applied_seq reaches the result's seq. A link that drops
 * fails the pending ones with KV_EUNAVAILABLE (the client may retry: last
 * writer wins makes a retried put harmless) and keeps the answered ones:
 * they arrive after the resume. Every write times out after
 * write_timeout_ms. The table is bounded (KV_REPL_EDGE_WRITES_MAX writes, and
 * KV_REPL_EDGE_WRITES_MAX_BYTES of requests not yet answered) and kept in
 * request_id order, so results are found by binary search; the earliest
 * deadline is kept (w_due) so that repl_edge_deadline() scans nothing.
 */
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_mem.h"
#include "edge_int.h"

void repl__edge_writes_free(repl_edge_t *e)
{
    for (size_t i = 0; i < e->nw; i++)
        kv_free(e->w[i].results);
    kv_free(e->w);
    e->w = NULL;
    e->nw = e->wcap = 0;
    e->w_due = UINT64_MAX;
}

/* Recompute w_due after writes left the table. */
static void edge__due_scan(repl_edge_t *e)
{
    e->w_due = UINT64_MAX;
    for (size_t i = 0; i < e->nw; i++)
        e->w_due = repl__min64(e->w_due, e->w[i].deadline_ms);
}

/* Encode and send the WriteRequest; the write (not the link) fails on a
 * frame too big or no memory. */
static int edge__request(repl_edge_t *e, uint64_t id, const repl_op_t *ops, size_t n,
                         uint64_t now_ms, repl_actions_t *a, size_t *bytes)
{
    Edgekv__Op *pbs = kv_malloc(n * sizeof *pbs);
    Edgekv__Op **ptrs = kv_malloc(n * sizeof *ptrs);
    int rc = -ENOMEM;
    if (pbs && ptrs) {
        for (size_t i = 0; i < n; i++) {
            repl_wire_op_view(&ops[i], &pbs[i]);
            ptrs[i] = &pbs[i];
        }
        Edgekv__Frame f = EDGEKV__FRAME__INIT;
        Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
        r.request_id = id;
        r.hlc_hint = hlc_peek(&e->hlc, repl__edge_wall(e, now_ms));
        r.n_ops = n;
        r.ops = ptrs;
        /* The token the API checked, for the origin's own check (edge__check
         * made sure every op names the same one). */
        if (ops[0].auth_id)
            r.token_id = (char *)ops[0].auth_id;
        f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
        f.write_request = &r;
        rc = repl__send_frame(&e->out, a, e->peer, &f, bytes);
    }
    kv_free(pbs);
    kv_free(ptrs);
    return rc;
}

static int edge__check(const repl_edge_t *e, const repl_op_t *ops, size_t n)
{
    if (e->state != ESTATE_STREAMING)
        return KV_EUNAVAILABLE;
    if (n == 0 || n > KV_REPL_WRITE_MAX_OPS)
        return KV_EINVAL;
    const char *who = ops[0].auth_id;
    if (who && strnlen(who, KV_AUTH_ID_MAX_BYTES + 1) > KV_AUTH_ID_MAX_BYTES)
        return KV_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind == REPL_OP_NOOP)
            return KV_EINVAL;
        /* One write, one token: a WriteRequest names one. */
        if (!ops[i].auth_id != !who || (who && strcmp(ops[i].auth_id, who) != 0))
            return KV_EINVAL;
        int rc = repl_op_check(&ops[i]);
        if (rc != 0)
            return rc;
    }
    if (e->nw >= KV_REPL_EDGE_WRITES_MAX || e->w_bytes >= KV_REPL_EDGE_WRITES_MAX_BYTES)
        return KV_EBUSY;
    return 0;
}

void repl_edge_write(repl_edge_t *e, uint64_t token, const repl_op_t *ops, size_t n,
                     uint64_t now_ms, repl_actions_t *a)
{
    repl__edge_begin(e);
    int rc = edge__check(e, ops, n);
    uint64_t id = e->next_request_id + 1;
    size_t bytes = 0;
    if (rc == 0)
        rc = edge__request(e, id, ops, n, now_ms, a, &bytes);
    if (rc != 0) {
        repl__emit_write_done(&e->out, a, token, rc, 0, NULL, 0);
        return;
    }
    e->next_request_id = id;
    if (e->nw == e->wcap) {
        size_t cap = e->wcap ? 2 * e->wcap : 16;
        ewrite_t *t = kv_realloc(e->w, cap * sizeof *t);
        REPL__NOMEM(t);
        e->w = t;
        e->wcap = cap;
    }
    ewrite_t *w = &e->w[e->nw++];
    memset(w, 0, sizeof *w);
    w->token = token;
    w->request_id = id;
    w->n = n;
    w->bytes = bytes;
    e->w_bytes += bytes;
    w->deadline_ms = repl__add_sat(now_ms, e->cfg.write_timeout_ms);
    e->w_due = repl__min64(e->w_due, w->deadline_ms);
}

static ewrite_t *edge__find(repl_edge_t *e, uint64_t id)
{
    size_t lo = 0, hi = e->nw;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->w[mid].request_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->nw && e->w[lo].request_id == id ? &e->w[lo] : NULL;
}

/* Answer and drop every write `done` selects, keeping the order. */
static void edge__sweep(repl_edge_t *e, repl_actions_t *a,
                        int (*done)(const repl_edge_t *e, const ewrite_t *w, uint64_t now_ms),
                        uint64_t now_ms)
{
    size_t j = 0;
    for (size_t i = 0; i < e->nw; i++) {
        ewrite_t *w = &e->w[i];
        int status = done(e, w, now_ms);
        if (status > 0) {
            e->w[j++] = *w;
            continue;
        }
        e->w_bytes -= w->bytes;
        if (status == 0)
            repl__emit_write_done(&e->out, a, w->token, 0, w->seq, w->results, w->n);
        else
            repl__emit_write_done(&e->out, a, w->token, status, 0, NULL, 0);
        kv_free(w->results);
    }
    if (j < e->nw) {
        e->nw = j;
        edge__due_scan(e);
    }
}

/* Sweep selectors: 1 keep, 0 done, < 0 failed with that code. */
static int edge__sel_applied(const repl_edge_t *e, const ewrite_t *w, uint64_t now_ms)
{
    (void)now_ms;
    return w->answered && w->seq <= e->applied_seq ? 0 : 1;
}

static int edge__sel_link_lost(const repl_edge_t *e, const ewrite_t *w, uint64_t now_ms)
{
    (void)e;
    (void)now_ms;
    return w->answered ? 1 : KV_EUNAVAILABLE;
}

static int edge__sel_expired(const repl_edge_t *e, const ewrite_t *w, uint64_t now_ms)
{
    (void)e;
    return now_ms >= w->deadline_ms ? KV_ETIMEDOUT : 1;
}

void repl__edge_writes_applied(repl_edge_t *e, repl_actions_t *a)
{
    edge__sweep(e, a, edge__sel_applied, 0);
}

void repl__edge_writes_link_lost(repl_edge_t *e, repl_actions_t *a)
{
    edge__sweep(e, a, edge__sel_link_lost, 0);
}

void repl__edge_writes_expire(repl_edge_t *e, uint64_t now_ms, repl_actions_t *a)
{
    edge__sweep(e, a, edge__sel_expired, now_ms);
}

uint64_t repl__edge_writes_deadline(const repl_edge_t *e)
{
    return e->w_due;
}

void repl__edge_on_write_result(repl_edge_t *e, const Edgekv__WriteResult *r, uint64_t now_ms,
                                repl_actions_t *a)
{
    (void)now_ms;
    ewrite_t *w = edge__find(e, r->request_id);
    if (!w || w->answered)
        return; /* timed out meanwhile, or a duplicate */
    if (r->status != 0) {
        /* Make the status a code the core's callers know: negative. */
        int status = r->status < 0 ? r->status : KV_EIO;
        size_t idx = (size_t)(w - e->w);
        e->w_bytes -= w->bytes;
        repl__emit_write_done(&e->out, a, w->token, status, 0, NULL, 0);
        memmove(&e->w[idx], &e->w[idx + 1], (e->nw - idx - 1) * sizeof *w);
        e->nw--;
        edge__due_scan(e);
        return;
    }
    w->results = kv_calloc(w->n, sizeof *w->results);
    REPL__NOMEM(w->results);
    for (size_t i = 0; i < w->n && i < r->n_results; i++)
        w->results[i] = r->results[i];
    w->answered = true;
    w->seq = r->seq;
    e->w_bytes -= w->bytes; /* it reached the origin */
    w->bytes = 0;
    repl__edge_writes_applied(e, a);
}
