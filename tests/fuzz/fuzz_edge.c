/*
 * fuzz_edge.c - libFuzzer harness of the edge state machine
 * (replication/edge*.c) fed by a hostile origin. Structure-aware: the
 * first input bytes choose the edge's stored position and build a Welcome
 * (RESUME or SNAPSHOT, same history or not, any seqs) after the edge's
 * Hello; the rest is an event program (fuzz_repl_drive.h): fuzzed frames
 * (MutationBatch, SnapshotChunk, SnapshotEnd, WriteResult, Heartbeat,
 * anything), raw bytes, time, storage completions, local writes (so
 * WriteResults have something to answer), link drops; when the edge
 * reconnects, the next input bytes make the next Welcome. Invariants:
 * applied mutations pass repl_op_check, the applied seq never goes back
 * except through a RESET, every SEND is whole valid frames, nothing is
 * asked of an edge that only an origin does.
 */
#include "fuzz_repl_drive.h"

typedef struct {
    repl_edge_t *e;
    todos_t t;
    uint64_t now;
    uint64_t applied; /* the replica's applied seq */
    bool linked;
    bool want_connect;
    repl_peer_t peer;
} fe_t;

static fe_t g;

static void fe_actions(repl_actions_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        const repl_action_t *x = &a->acts[i];
        switch (x->kind) {
        case REPL_ACT_SEND:
            fz_check_sent(x->u.send.data, x->u.send.len);
            break;
        case REPL_ACT_CLOSE:
            g.linked = false;
            break;
        case REPL_ACT_CONNECT:
            g.want_connect = true;
            break;
        case REPL_ACT_RESET:
            todo_push(&g.t, (todo_t){TODO_RESET, 0, 0, 0});
            break;
        case REPL_ACT_APPLY:
            for (size_t k = 0; k < x->u.apply.n; k++)
                FZ_CHECK(repl_op_check(&x->u.apply.muts[k].op) == 0);
            if (x->u.apply.seq != 0)
                FZ_CHECK(x->u.apply.seq >= g.applied);
            if (x->u.apply.history_id)
                FZ_CHECK(strlen(x->u.apply.history_id) == KV_NS_ID_LEN);
            todo_push(&g.t, (todo_t){TODO_APPLY, 0, x->u.apply.seq, x->u.apply.n});
            break;
        case REPL_ACT_WRITE_DONE:
        case REPL_ACT_ALARM:
            break;
        default:
            FZ_CHECK(!"an origin's action from the edge");
        }
    }
    a->n = 0;
}

static void fe_run(repl_actions_t *a)
{
    do {
        fe_actions(a);
        repl_edge_poll(g.e, a);
    } while (a->n > 0);
}

static void fe_drain(repl_actions_t *a)
{
    todo_t td;
    for (int k = 0; k < FZ_MAXSTEP && todo_pop(&g.t, &td); k++) {
        int rc = g.t.fail_next ? KV_EIO : 0;
        g.t.fail_next = false;
        if (td.kind == TODO_RESET) {
            if (rc == 0)
                g.applied = 0;
            repl_edge_reset_done(g.e, rc, g.now, a);
        } else {
            if (rc == 0 && td.a != 0)
                g.applied = td.a;
            repl_edge_applied(g.e, rc, td.a, g.now, a);
        }
        fe_run(a);
    }
}

static void fe_step_done(repl_actions_t *a)
{
    fe_run(a);
    if (!g.t.deferred)
        fe_drain(a);
}

static void fe_bytes(const uint8_t *b, size_t n, repl_actions_t *a)
{
    if (!g.linked)
        return;
    repl_edge_on_bytes(g.e, b, n, g.now, a);
    fe_step_done(a);
}

/* Open the link the edge asked for; the origin's Welcome from the input. */
static void fe_connect(fz_in_t *in, repl_actions_t *a)
{
    g.want_connect = false;
    g.linked = true;
    repl_edge_on_connect(g.e, ++g.peer, g.now, a);
    fe_step_done(a);
    uint8_t w = fz_u8(in);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Welcome wel = EDGEKV__WELCOME__INIT;
    static const char other[] = "ffffffffffffffffffffffffffffffff";
    wel.history_id = (char *)((w % 4) < 3 ? FZ_HIST : other);
    wel.mode = (w & 4) ? EDGEKV__WELCOME__MODE__SNAPSHOT : EDGEKV__WELCOME__MODE__RESUME;
    wel.origin_seq = g.applied + fz_u8(in);
    wel.from_seq = (w & 8) ? fz_u8(in) : g.applied + 1;
    f.msg_case = EDGEKV__FRAME__MSG_WELCOME;
    f.welcome = &wel;
    size_t len;
    uint8_t *b = fz_encode(&f, &len);
    fe_bytes(b, len, a);
    kv_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    repl_action_t acts[FZ_ACTS];
    repl_actions_t a = {acts, FZ_ACTS, 0};
    repl_edge_config_t cfg;
    memset(&g, 0, sizeof g);
    g.now = 1700000000000ull;
    repl_edge_config_default(&cfg);
    cfg.wall = fz_wall;
    cfg.node_id = 2;
    cfg.seed = 1;
    uint8_t shape = fz_u8(&in);
    if (shape & 1) {
        memcpy(cfg.history_id, FZ_HIST, sizeof cfg.history_id);
        cfg.applied_seq = fz_u8(&in);
    }
    cfg.hlc_last = (g.now - 1000) << 16;
    g.applied = cfg.applied_seq;
    g.t.deferred = (shape & 0x80) != 0;
    FZ_CHECK(repl_edge_create(&cfg, &g.e) == 0);
    repl_edge_start(g.e, g.now, &a);
    fe_step_done(&a);
    FZ_CHECK(g.want_connect);
    fe_connect(&in, &a);

    for (int step = 0; step < FZ_MAXSTEP && in.n > 0; step++) {
        uint8_t c = fz_u8(&in);
        if (fz_feed_step(&in, c, fe_bytes, &a))
            continue;
        switch (c % 8) {
        case 3:
            g.now += (uint64_t)fz_u8(&in) * 50;
            repl_edge_tick(g.e, g.now, &a);
            fe_step_done(&a);
            if (g.want_connect)
                fe_connect(&in, &a);
            break;
        case 4:
            fe_drain(&a);
            break;
        case 5: {
            repl_op_t ops[2];
            size_t nops = (c >> 3) % 2 + 1;
            for (size_t k = 0; k < nops; k++)
                fz_op(&in, &ops[k]);
            repl_edge_write(g.e, (uint64_t)step, ops, nops, g.now, &a);
            fe_step_done(&a);
            break;
        }
        case 6:
            if (g.linked) {
                g.linked = false;
                repl_edge_on_disconnect(g.e, g.now, &a);
                fe_step_done(&a);
            }
            break;
        case 7:
            if ((c >> 3) == 31)
                g.t.fail_next = true;
            else
                g.t.deferred = !g.t.deferred;
            break;
        }
        repl_edge_status_t st;
        repl_edge_status(g.e, g.now, &st);
        size_t items, bytes;
        repl_edge_backlog(g.e, &items, &bytes);
        (void)repl_edge_deadline(g.e);
    }
    fe_drain(&a);
    repl_edge_destroy(g.e);
    return 0;
}
