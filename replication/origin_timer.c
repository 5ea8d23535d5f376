/*
 * origin_timer.c - the origin's per-link timers, kept in a binary min-heap
 * so that repl_origin_deadline() answers in O(1) however many edges are
 * connected.
 *
 * A link's timer follows from its state: waiting for its Hello, it times
 * out at connected_ms + KV_REPL_HANDSHAKE_TIMEOUT_MS; streaming, it owes a
 * heartbeat at beat_ms + heartbeat_interval_ms, or, behind (its send
 * buffer full), is closed at flushed_ms + peer_stall_ms; taking a snapshot or
 * refused, it has none (and is not in the heap). Whatever changes a link's
 * state or beat_ms calls repl__origin_timer_update(), which re-keys
 * the link in O(log n); a link leaves the heap when it is removed. No
 * ordering between equal keys is relied on: only the minimum is read.
 * What is due is still decided by repl_origin_tick() (origin.c); this file
 * only answers "when".
 */
#include "kv_mem.h"
#include "origin_int.h"

static uint64_t timer__due(const repl_origin_t *o, const opeer_t *p)
{
    if (p->state == OPEER_HELLO)
        return repl__add_sat(p->connected_ms, KV_REPL_HANDSHAKE_TIMEOUT_MS);
    if (p->state == OPEER_STREAM && p->behind)
        return repl__add_sat(p->flushed_ms, o->cfg.peer_stall_ms);
    if (p->state == OPEER_STREAM)
        return repl__add_sat(p->beat_ms, o->cfg.heartbeat_interval_ms);
    return UINT64_MAX;
}

static void heap__put(repl_origin_t *o, size_t i, opeer_t *p)
{
    o->heap[i] = p;
    p->heap_pos = i;
}

static void heap__up(repl_origin_t *o, size_t i)
{
    opeer_t *p = o->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (o->heap[parent]->due_ms <= p->due_ms)
            break;
        heap__put(o, i, o->heap[parent]);
        i = parent;
    }
    heap__put(o, i, p);
}

static void heap__down(repl_origin_t *o, size_t i)
{
    opeer_t *p = o->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= o->heap_n)
            break;
        if (c + 1 < o->heap_n && o->heap[c + 1]->due_ms < o->heap[c]->due_ms)
            c++;
        if (p->due_ms <= o->heap[c]->due_ms)
            break;
        heap__put(o, i, o->heap[c]);
        i = c;
    }
    heap__put(o, i, p);
}

void repl__origin_timer_remove(repl_origin_t *o, opeer_t *p)
{
    size_t i = p->heap_pos;
    if (i == SIZE_MAX)
        return;
    KV_ASSERT(i < o->heap_n && o->heap[i] == p);
    p->heap_pos = SIZE_MAX;
    o->heap_n--;
    if (i == o->heap_n)
        return;
    opeer_t *last = o->heap[o->heap_n];
    heap__put(o, i, last);
    heap__up(o, i);
    heap__down(o, last->heap_pos);
}

void repl__origin_timer_update(repl_origin_t *o, opeer_t *p)
{
    uint64_t due = timer__due(o, p);
    if (due == UINT64_MAX) {
        repl__origin_timer_remove(o, p);
        p->due_ms = UINT64_MAX;
        return;
    }
    if (p->heap_pos == SIZE_MAX) {
        if (o->heap_n == o->heap_cap) {
            size_t cap = o->heap_cap ? 2 * o->heap_cap : 8;
            opeer_t **h = kv_realloc(o->heap, cap * sizeof *h);
            REPL__NOMEM(h);
            o->heap = h;
            o->heap_cap = cap;
        }
        p->due_ms = due;
        heap__put(o, o->heap_n++, p);
        heap__up(o, p->heap_pos);
        return;
    }
    uint64_t old = p->due_ms;
    p->due_ms = due;
    if (due < old)
        heap__up(o, p->heap_pos);
    else if (due > old)
        heap__down(o, p->heap_pos);
}

uint64_t repl_origin_deadline(const repl_origin_t *o)
{
    return repl__min64(o->heap_n ? o->heap[0]->due_ms : UINT64_MAX, repl__origin_sync_deadline(o));
}
