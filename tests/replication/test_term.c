/*
 * test_term.c - terms and fencing (repl.h "Terms"), driven by hand at
 * exact virtual times: an origin writes and sends under its term; an edge
 * keeps the largest term it has seen, stores it with its position, and
 * refuses a Welcome, batch or heartbeat of a smaller one (a deposed
 * leader's late frames), moving on rather than stopping; a relay passes
 * its upstream's term down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "hlc.h"
#include "kv_err.h"
#include "repl_testkit.h"
#include "wire.h"

static tk_acts_t T;

static repl_actions_t *acts(void)
{
    tk_acts_reset(&T, TK_ACTS_MAX);
    return &T.a;
}

static const repl_action_t *one(repl_act_kind_t kind)
{
    assert_int_equal(tk_acts_count(&T, kind), 1);
    return &T.buf[tk_acts_find(&T, kind, 0)];
}

/* ---- the origin ------------------------------------------------------------------ */

static void test_origin_writes_under_its_term(void **state)
{
    (void)state;
    repl_origin_config_t c;
    tk_origin_config(&c);
    c.last_seq = 0;
    c.log_first_seq = 1;
    c.term = 7;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    /* An edge of this history at the empty prefix resumes. */
    repl_origin_on_connect(o, 1, "edge101", 1000, acts());
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    h.history_id = (char *)TK_HIST_A;
    h.node_id = 101;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    size_t len;
    uint8_t *b = tk_frame_bytes(&f, &len);
    repl_origin_on_bytes(o, 1, b, len, 1000, acts());
    free(b);
    Edgekv__Frame *w = tk_send_frame(one(REPL_ACT_SEND));
    assert_int_equal(w->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_int_equal(w->welcome->term, 7);
    frame_free(w);
    /* A write is logged under the term and batched with it. */
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(o, 1, &op, 1, 1001, acts());
    const repl_action_t *p = one(REPL_ACT_PERSIST);
    assert_int_equal(p->u.persist.n, 1);
    assert_int_equal(p->u.persist.muts[0].term, 7);
    repl_origin_persisted(o, p->u.persist.batch_id, 0, NULL, 1002, acts());
    Edgekv__Frame *bf = tk_send_frame(one(REPL_ACT_SEND));
    assert_int_equal(bf->msg_case, EDGEKV__FRAME__MSG_BATCH);
    assert_int_equal(bf->batch->term, 7);
    assert_int_equal(bf->batch->mutations[0]->term, 7);
    frame_free(bf);
    /* Terms never go back; a raised one is sent from then on. */
    repl_origin_set_term(o, 5);
    repl_origin_stats_t st;
    repl_origin_stats(o, &st);
    assert_int_equal(st.term, 7);
    repl_origin_set_term(o, 9);
    uint64_t due = repl_origin_deadline(o);
    repl_origin_tick(o, due, acts());
    Edgekv__Frame *hb = tk_send_frame(one(REPL_ACT_SEND));
    assert_int_equal(hb->msg_case, EDGEKV__FRAME__MSG_HEARTBEAT);
    assert_int_equal(hb->heartbeat->term, 9);
    frame_free(hb);
    repl_origin_destroy(o);
}

/* The stored form of a log entry keeps its term. */
static void test_entry_keeps_term(void **state)
{
    (void)state;
    repl_mutation_t m = {.seq = 3, .version = {hlc_pack(3, 0), 1}, .term = 12};
    m.op = tk_put("k", "v");
    uint8_t buf[256];
    size_t len;
    assert_int_equal(repl_mutation_encode(&m, buf, sizeof buf, &len), 0);
    repl_mutation_t *d;
    assert_int_equal(repl_mutation_decode(buf, len, &d), 0);
    assert_int_equal(d->term, 12);
    repl_mutation_free(d);
}

/* ---- the edge -------------------------------------------------------------------- */

static repl_edge_t *edge_at(uint64_t term, uint64_t applied)
{
    repl_edge_config_t c;
    tk_edge_config(&c, 101);
    memcpy(c.history_id, TK_HIST_A, sizeof c.history_id);
    c.applied_seq = applied;
    c.term = term;
    repl_edge_t *e;
    assert_int_equal(repl_edge_create(&c, &e), 0);
    return e;
}

static void edge_frame(repl_edge_t *e, const Edgekv__Frame *f, uint64_t now)
{
    size_t len;
    uint8_t *b = tk_frame_bytes(f, &len);
    repl_edge_on_bytes(e, b, len, now, acts());
    free(b);
}

static void edge_connect(repl_edge_t *e, uint64_t now)
{
    uint64_t due = repl_edge_deadline(e);
    if (due == UINT64_MAX)
        repl_edge_start(e, now, acts());
    else
        repl_edge_tick(e, due > now ? due : now, acts());
    one(REPL_ACT_CONNECT);
    repl_edge_on_connect(e, 1, now, acts());
}

static void edge_welcome(repl_edge_t *e, uint64_t term, uint64_t origin_seq, uint64_t from,
                         uint64_t now)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    Edgekv__Probe echo = EDGEKV__PROBE__INIT;
    echo.sent_ms = now;
    w.history_id = (char *)TK_HIST_A;
    w.mode = EDGEKV__WELCOME__MODE__RESUME;
    w.origin_seq = origin_seq;
    w.from_seq = from;
    w.echo = &echo;
    w.term = term;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &w;
    edge_frame(e, &f, now);
}

static void edge_batch(repl_edge_t *e, uint64_t term, uint64_t seq, uint64_t now)
{
    repl_mutation_t m = {.seq = seq, .version = {hlc_pack(seq, 0), 1}, .term = term};
    m.op = tk_put("k", "v");
    repl_wire_mut_t view;
    repl_wire_mut_view(&m, &view);
    Edgekv__Mutation *ptr = &view.mut;
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__MutationBatch b = EDGEKV__MUTATION_BATCH__INIT;
    b.n_mutations = 1;
    b.mutations = &ptr;
    b.origin_seq = seq;
    b.origin_time_ms = now;
    b.term = term;
    f.msg_case = EDGEKV__FRAME__MSG_BATCH;
    f.batch = &b;
    edge_frame(e, &f, now);
}

static void edge_heartbeat(repl_edge_t *e, uint64_t term, uint64_t origin_seq, uint64_t now)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Heartbeat hb = EDGEKV__HEARTBEAT__INIT;
    hb.origin_seq = origin_seq;
    hb.origin_time_ms = now;
    hb.term = term;
    f.msg_case = EDGEKV__FRAME__MSG_HEARTBEAT;
    f.heartbeat = &hb;
    edge_frame(e, &f, now);
}

/* The last call refused the link for its term: Refuse sent, link closed,
 * no alarm, and down with a reconnect scheduled (not REFUSED for good). */
static void assert_term_refused(repl_edge_t *e, uint64_t refused, uint64_t count, uint64_t now)
{
    Edgekv__Frame *r = tk_send_frame(one(REPL_ACT_SEND));
    assert_int_equal(r->msg_case, EDGEKV__FRAME__MSG_REFUSE);
    assert_non_null(strstr(r->refuse->reason, "deposed leader"));
    frame_free(r);
    assert_non_null(strstr(one(REPL_ACT_CLOSE)->u.close.reason, "term"));
    assert_int_equal(tk_acts_count(&T, REPL_ACT_ALARM), 0);
    repl_edge_status_t st;
    repl_edge_status(e, now, &st);
    assert_int_equal(st.link, REPL_LINK_DOWN);
    assert_int_equal(st.terms_refused, count);
    assert_int_equal(st.refused_term, refused);
    assert_true(repl_edge_deadline(e) != UINT64_MAX);
}

static void test_edge_refuses_older_welcome(void **state)
{
    (void)state;
    repl_edge_t *e = edge_at(5, 3);
    edge_connect(e, 1000);
    edge_welcome(e, 4, 3, 4, 1000);
    assert_term_refused(e, 4, 1, 1000);
    /* The next upstream leads under a newer term: followed, term raised. */
    edge_connect(e, 1000);
    edge_welcome(e, 6, 3, 4, 1300);
    repl_edge_status_t st;
    repl_edge_status(e, 1300, &st);
    assert_int_equal(st.link, REPL_LINK_LIVE);
    assert_int_equal(st.term, 6);
    /* The term is stored with the position it came with. */
    edge_batch(e, 6, 4, 1310);
    const repl_action_t *ap = one(REPL_ACT_APPLY);
    assert_int_equal(ap->u.apply.seq, 4);
    assert_int_equal(ap->u.apply.term, 6);
    assert_int_equal(ap->u.apply.muts[0].term, 6);
    repl_edge_applied(e, 0, 4, 1311, acts());
    repl_edge_destroy(e);
}

static void test_edge_refuses_older_batch_and_heartbeat(void **state)
{
    (void)state;
    repl_edge_t *e = edge_at(5, 3);
    edge_connect(e, 1000);
    edge_welcome(e, 5, 3, 4, 1000);
    /* A relay moved to a new leader: its batches carry the new term. */
    edge_batch(e, 8, 4, 1010);
    assert_int_equal(one(REPL_ACT_APPLY)->u.apply.term, 8);
    repl_edge_applied(e, 0, 4, 1011, acts());
    /* A late batch of the deposed leader (term 5) is refused, not applied. */
    edge_batch(e, 5, 5, 1020);
    assert_int_equal(tk_acts_count(&T, REPL_ACT_APPLY), 0);
    assert_term_refused(e, 5, 1, 1020);
    /* And its heartbeats, on a link welcomed at the new term. */
    edge_connect(e, 1020);
    edge_welcome(e, 8, 4, 5, 1500);
    edge_heartbeat(e, 7, 9, 1600);
    assert_term_refused(e, 7, 2, 1600);
    repl_edge_status_t st0;
    repl_edge_status(e, 1600, &st0);
    assert_int_equal(st0.acked_seen, 0); /* nobody said what was acknowledged */
    repl_edge_status_t st;
    repl_edge_status(e, 1600, &st);
    assert_int_equal(st.term, 8);
    assert_int_equal(st.origin_seq, 4); /* the refused heartbeat announced nothing */
    repl_edge_destroy(e);
}

/* Without terms (0 everywhere) nothing is refused: the lone origin. */
static void test_edge_without_terms(void **state)
{
    (void)state;
    repl_edge_t *e = edge_at(0, 3);
    edge_connect(e, 1000);
    edge_welcome(e, 0, 3, 4, 1000);
    edge_batch(e, 0, 4, 1010);
    assert_int_equal(one(REPL_ACT_APPLY)->u.apply.term, 0);
    repl_edge_applied(e, 0, 4, 1011, acts());
    edge_heartbeat(e, 0, 4, 1100);
    repl_edge_status_t st;
    repl_edge_status(e, 1100, &st);
    assert_int_equal(st.link, REPL_LINK_LIVE);
    assert_int_equal(st.terms_refused, 0);
    repl_edge_destroy(e);
}

/* A new history (an origin restored from a backup of this one) starts its
 * terms afresh: its snapshot is taken whatever its term. */
static void test_restored_history_resets_term(void **state)
{
    (void)state;
    repl_edge_t *e = edge_at(5, 3);
    edge_connect(e, 1000);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome w = EDGEKV__WELCOME__INIT;
    w.history_id = (char *)TK_HIST_B;
    w.parent_history = (char *)TK_HIST_A;
    w.mode = EDGEKV__WELCOME__MODE__SNAPSHOT;
    w.origin_seq = 10;
    w.term = 0;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &w;
    edge_frame(e, &f, 1000);
    one(REPL_ACT_RESET);
    repl_edge_status_t st;
    repl_edge_status(e, 1000, &st);
    assert_int_equal(st.terms_refused, 0);
    assert_int_equal(st.term, 0);
    repl_edge_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_writes_under_its_term),
        cmocka_unit_test(test_entry_keeps_term),
        cmocka_unit_test(test_edge_refuses_older_welcome),
        cmocka_unit_test(test_edge_refuses_older_batch_and_heartbeat),
        cmocka_unit_test(test_edge_without_terms),
        cmocka_unit_test(test_restored_history_resets_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
