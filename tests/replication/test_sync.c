/*
 * test_sync.c - an origin that leads (repl.h "Synchronous standbys"),
 * driven by hand at exact virtual times: a committed write is answered
 * only once a standby link acknowledged it, only while the leadership
 * deadline holds, and with 503 (KV_EUNAVAILABLE) when no standby acks in
 * time or the lead is lost; a lone origin answers at commit as before.
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
#include "kv_err.h"
#include "repl_testkit.h"
#include "wire.h"

static tk_acts_t T;

static repl_actions_t *acts(void)
{
    tk_acts_reset(&T, TK_ACTS_MAX);
    return &T.a;
}

static size_t count(repl_act_kind_t kind)
{
    return tk_acts_count(&T, kind);
}

static const repl_action_t *one(repl_act_kind_t kind)
{
    assert_int_equal(count(kind), 1);
    return &T.buf[tk_acts_find(&T, kind, 0)];
}

#define LEAD_TIMEOUT_MS 3000

static repl_origin_t *leader_named(size_t sync_standbys, bool named)
{
    repl_origin_config_t c;
    tk_origin_config(&c);
    c.last_seq = 0;
    c.log_first_seq = 1;
    c.term = 4;
    c.leadership = true;
    c.sync_standbys = sync_standbys;
    c.sync_timeout_ms = LEAD_TIMEOUT_MS;
    c.sync_named = named;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    return o;
}

static repl_origin_t *leader(size_t sync_standbys)
{
    return leader_named(sync_standbys, false);
}

static void frame_in(repl_origin_t *o, repl_peer_t p, const Edgekv__Frame *f, uint64_t now)
{
    size_t len;
    uint8_t *b = tk_frame_bytes(f, &len);
    repl_origin_on_bytes(o, p, b, len, now, acts());
    free(b);
}

/* Link p (a standby when `standby`) at the empty prefix: it streams. */
static void link_at_start(repl_origin_t *o, repl_peer_t p, uint32_t node, bool standby,
                          uint64_t now)
{
    char name[32];
    snprintf(name, sizeof name, "node%u", node);
    repl_origin_on_connect(o, p, name, now, acts());
    if (standby)
        repl_origin_peer_standby(o, p);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello h = EDGEKV__HELLO__INIT;
    h.history_id = (char *)TK_HIST_A;
    h.node_id = node;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &h;
    frame_in(o, p, &f, now);
    Edgekv__Frame *w = tk_acts_frame(&T, 0); /* then the log it lacks, if any */
    assert_int_equal(w->msg_case, EDGEKV__FRAME__MSG_WELCOME);
    assert_int_equal(w->welcome->mode, EDGEKV__WELCOME__MODE__RESUME);
    frame_free(w);
}

static void ack(repl_origin_t *o, repl_peer_t p, uint64_t seq, uint64_t now)
{
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__ProgressAck ak = EDGEKV__PROGRESS_ACK__INIT;
    ak.applied_seq = seq;
    f.msg_case = EDGEKV__FRAME__MSG_ACK;
    f.ack = &ak;
    frame_in(o, p, &f, now);
}

/* A local write of one put, committed: the actions of the commit. */
static void write_committed(repl_origin_t *o, uint64_t token, uint64_t now)
{
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(o, token, &op, 1, now, acts());
    const repl_action_t *p = one(REPL_ACT_PERSIST);
    repl_origin_persisted(o, p->u.persist.batch_id, 0, NULL, now, acts());
}

static void assert_done(uint64_t token, int status)
{
    const repl_action_t *d = one(REPL_ACT_WRITE_DONE);
    assert_int_equal(d->u.write_done.token, token);
    assert_int_equal(d->u.write_done.status, status);
}

static void test_answer_after_standby_ack(void **state)
{
    (void)state;
    repl_origin_t *o = leader(1);
    repl_origin_lead_until(o, 10000, 1000, acts());
    link_at_start(o, 1, 101, false, 1000); /* an edge */
    link_at_start(o, 2, 201, true, 1000);  /* a standby */
    write_committed(o, 7, 1000);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0); /* committed here only */
    /* Only the standby is sent it: an edge never applies a write that a
     * takeover could lose. */
    assert_int_equal(one(REPL_ACT_SEND)->u.send.peer, 2);
    ack(o, 1, 0, 1010); /* the edge's ack counts for nothing */
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_origin_stats_t st;
    repl_origin_stats(o, &st);
    assert_int_equal(st.sync_waiting, 1);
    assert_int_equal(st.standbys, 1);
    ack(o, 2, 1, 1020); /* durable on the standby */
    assert_done(7, 0);
    Edgekv__Frame *b = tk_send_frame(one(REPL_ACT_SEND)); /* now the edge may have it */
    assert_int_equal(T.buf[tk_acts_find(&T, REPL_ACT_SEND, 0)].u.send.peer, 1);
    assert_int_equal(b->msg_case, EDGEKV__FRAME__MSG_BATCH);
    assert_int_equal(b->batch->origin_seq, 1);
    frame_free(b);
    assert_int_equal(one(REPL_ACT_WRITE_DONE)->u.write_done.seq, 1);
    repl_origin_destroy(o);
}

/* A write forwarded by an edge waits the same way: its WriteResult. */
static void test_forwarded_write_waits(void **state)
{
    (void)state;
    repl_origin_t *o = leader(1);
    repl_origin_lead_until(o, 10000, 1000, acts());
    link_at_start(o, 1, 101, false, 1000);
    link_at_start(o, 2, 201, true, 1000);
    repl_op_t op = tk_put("k", "v");
    Edgekv__Op pb;
    repl_wire_op_view(&op, &pb);
    Edgekv__Op *ptr = &pb;
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__WriteRequest r = EDGEKV__WRITE_REQUEST__INIT;
    r.request_id = 9;
    r.n_ops = 1;
    r.ops = &ptr;
    r.token_id = "t1";
    f.msg_case = EDGEKV__FRAME__MSG_WRITE_REQUEST;
    f.write_request = &r;
    frame_in(o, 1, &f, 1000);
    const repl_action_t *p = one(REPL_ACT_PERSIST);
    repl_origin_persisted(o, p->u.persist.batch_id, 0, NULL, 1001, acts());
    for (size_t k = 0; k < count(REPL_ACT_SEND); k++) {
        Edgekv__Frame *s = tk_acts_frame(&T, k);
        assert_int_not_equal(s->msg_case, EDGEKV__FRAME__MSG_WRITE_RESULT);
        frame_free(s);
    }
    ack(o, 2, 1, 1005);
    assert_int_equal(count(REPL_ACT_SEND), 2); /* the batch, then the result */
    Edgekv__Frame *res = tk_acts_frame(&T, 1);
    assert_int_equal(res->msg_case, EDGEKV__FRAME__MSG_WRITE_RESULT);
    assert_int_equal(res->write_result->request_id, 9);
    assert_int_equal(res->write_result->status, 0);
    assert_int_equal(res->write_result->seq, 1);
    frame_free(res);
    repl_origin_destroy(o);
}

/* No standby reachable: the write waits sync_timeout_ms, then 503; never
 * an acknowledgement without a standby copy. */
static void test_no_standby_times_out(void **state)
{
    (void)state;
    repl_origin_t *o = leader(1);
    repl_origin_lead_until(o, 100000, 1000, acts());
    link_at_start(o, 1, 101, false, 1000);
    write_committed(o, 7, 1000);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    assert_true(repl_origin_deadline(o) <= 1000 + LEAD_TIMEOUT_MS);
    repl_origin_tick(o, 1000 + LEAD_TIMEOUT_MS - 1, acts());
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_origin_tick(o, 1000 + LEAD_TIMEOUT_MS, acts());
    assert_done(7, KV_EUNAVAILABLE);
    /* A standby that comes later does not revive an answered write. */
    link_at_start(o, 2, 201, true, 5000);
    ack(o, 2, 1, 5001);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_origin_destroy(o);
}

/* The lead ends: what waits is answered 503 at the deadline, even when the
 * standby acks after it; what arrives after it is refused at once. */
static void test_lead_lost_stops_answers(void **state)
{
    (void)state;
    repl_origin_t *o = leader(1);
    /* Not leading before the first deadline is given. */
    repl_op_t op = tk_put("k", "v");
    repl_origin_write(o, 1, &op, 1, 900, acts());
    assert_done(1, KV_EUNAVAILABLE);
    assert_int_equal(count(REPL_ACT_PERSIST), 0);
    repl_origin_lead_until(o, 2000, 1000, acts());
    link_at_start(o, 2, 201, true, 1000);
    write_committed(o, 7, 1500);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    assert_true(repl_origin_deadline(o) <= 2000);
    repl_origin_tick(o, 1999, acts());
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_origin_tick(o, 2000, acts());
    assert_done(7, KV_EUNAVAILABLE);
    ack(o, 2, 1, 2001);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_origin_write(o, 8, &op, 1, 2002, acts());
    assert_done(8, KV_EUNAVAILABLE);
    /* A renewal (a new deadline) lets writes in again; deposed (0): not. */
    repl_origin_lead_until(o, 5000, 2500, acts());
    write_committed(o, 9, 2500);
    ack(o, 2, 2, 2510);
    assert_done(9, 0);
    write_committed(o, 10, 2600);
    repl_origin_lead_until(o, 0, 2601, acts());
    assert_done(10, KV_EUNAVAILABLE);
    repl_origin_destroy(o);
}

/* Two standbys required: the second ack answers. */
static void test_two_standbys(void **state)
{
    (void)state;
    repl_origin_t *o = leader(2);
    repl_origin_lead_until(o, 10000, 1000, acts());
    link_at_start(o, 2, 201, true, 1000);
    link_at_start(o, 3, 202, true, 1000);
    write_committed(o, 7, 1000);
    write_committed(o, 8, 1001);
    ack(o, 2, 2, 1010);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    ack(o, 3, 1, 1011);
    assert_done(7, 0);
    ack(o, 3, 2, 1012);
    assert_done(8, 0);
    repl_origin_destroy(o);
}

/* A lone origin (no leadership, no standbys) answers at commit. */
/* sync_named (the set a leader recorded in etcd, node/ha/ha_sync.h): only
 * the named standbys' acks count, nothing is answered before a set is
 * named or while the set is short, and answer_seq says what may have been
 * acknowledged (what a standby must hold before it is named). */
static void test_named_standbys(void **state)
{
    (void)state;
    repl_origin_t *o = leader_named(1, true);
    repl_origin_lead_until(o, 10000, 1000, acts());
    link_at_start(o, 1, 201, true, 1000); /* node201: a standby, not named */
    link_at_start(o, 2, 202, true, 1000); /* node202: a standby, named below */
    write_committed(o, 7, 1000);
    ack(o, 1, 1, 1010);
    ack(o, 2, 1, 1010);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0); /* nobody is named yet */
    repl_origin_stats_t st;
    repl_origin_stats(o, &st);
    assert_int_equal(st.answer_seq, 0);
    const char *none[1] = {"x"};
    const char *too_long[1] = {"a-name-longer-than-any-certificate-name-may-be-which-is-64-bytes-"
                               "so-this-one-is-refused"};
    assert_int_equal(repl_origin_sync_names(o, too_long, 1, 1020, acts()), KV_EINVAL);
    assert_int_equal(repl_origin_sync_names(o, none, 9, 1020, acts()), KV_EINVAL);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    const char *named[1] = {"node202"};
    assert_int_equal(repl_origin_sync_names(o, named, 1, 1020, acts()), 0);
    assert_done(7, 0); /* node202 has it: answered at once */
    repl_origin_stats(o, &st);
    assert_int_equal(st.answer_seq, 1);

    /* The named one stops acking; the other's acks do not count. */
    write_committed(o, 8, 1030);
    ack(o, 1, 2, 1040);
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    repl_edge_info_t e[4];
    size_t n = repl_origin_edges(o, 1040, e, 4);
    assert_int_equal(n, 2);
    assert_true(e[0].standby && e[1].standby);
    /* The set is cleared while a new record is written, then names node201. */
    assert_int_equal(repl_origin_sync_names(o, NULL, 0, 1050, acts()), 0);
    ack(o, 2, 2, 1055); /* the old one's ack now counts for nothing either */
    assert_int_equal(count(REPL_ACT_WRITE_DONE), 0);
    const char *other[1] = {"node201"};
    assert_int_equal(repl_origin_sync_names(o, other, 1, 1060, acts()), 0);
    assert_done(8, 0);
    repl_origin_destroy(o);
}

static void test_lone_origin_unchanged(void **state)
{
    (void)state;
    repl_origin_config_t c;
    tk_origin_config(&c);
    c.last_seq = 0;
    c.log_first_seq = 1;
    repl_origin_t *o;
    assert_int_equal(repl_origin_create(&c, &o), 0);
    repl_origin_lead_until(o, 0, 1000, acts()); /* ignored without leadership */
    write_committed(o, 7, 1000);
    assert_done(7, 0);
    repl_origin_destroy(o);
}

/* The campaign rule's input: a standby is told, in heartbeats (and Welcome
 * and batches), up to where writes may have been acknowledged; an edge is
 * told nothing. */
static void test_standby_told_acked(void **state)
{
    (void)state;
    repl_origin_t *o = leader(1);
    repl_origin_lead_until(o, 100000, 1000, acts());
    link_at_start(o, 1, 101, false, 1000);
    link_at_start(o, 2, 201, true, 1000);
    write_committed(o, 7, 1000);
    ack(o, 2, 1, 1010);
    assert_done(7, 0);
    uint64_t at = repl_origin_deadline(o);
    repl_origin_tick(o, at, acts());
    size_t beats = 0;
    for (size_t k = 0; k < count(REPL_ACT_SEND); k++) {
        repl_peer_t to = T.buf[tk_acts_find(&T, REPL_ACT_SEND, 0) + k].u.send.peer;
        Edgekv__Frame *h = tk_acts_frame(&T, k);
        if (h->msg_case == EDGEKV__FRAME__MSG_HEARTBEAT) {
            assert_int_equal(h->heartbeat->acked_seq, to == 2 ? 1 : 0);
            assert_int_equal(h->heartbeat->term, 4);
            beats++;
        }
        frame_free(h);
    }
    assert_int_equal(beats, 2);
    repl_origin_destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_after_standby_ack),
        cmocka_unit_test(test_forwarded_write_waits),
        cmocka_unit_test(test_no_standby_times_out),
        cmocka_unit_test(test_lead_lost_stops_answers),
        cmocka_unit_test(test_two_standbys),
        cmocka_unit_test(test_named_standbys),
        cmocka_unit_test(test_lone_origin_unchanged),
        cmocka_unit_test(test_standby_told_acked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
