/*
 * fuzz_origin.c - libFuzzer harness of the origin state machine
 * (replication/origin*.c) fed by a hostile edge. Structure-aware: the
 * first input bytes choose the origin's log position and limits and build
 * a valid Hello (same history, fresh, or another one), then the rest is an
 * event program (fuzz_repl_drive.h): fuzzed frames (WriteRequest, ProgressAck,
 * anything), raw bytes, time, storage completions, local writes, link
 * drops. The driver carries out every action: PERSISTs (up to four in
 * flight, by the log position's top bits) complete in order (results all
 * 0, or a failed commit on request, and every later one then fails the
 * same way, as the node's storage worker does), READ_LOG is answered
 * with consecutive entries from the requested seq, SNAPSHOT completes at
 * the committed seq. Invariants: persisted mutations carry consecutive
 * seqs and pass repl_op_check, every SEND is whole valid frames, nothing
 * is asked of an origin that only an edge does.
 */
#include "fuzz_repl_drive.h"

typedef struct {
    repl_origin_t *o;
    todos_t t;
    uint64_t now;
    uint64_t committed; /* last seq durable in "storage" */
    uint64_t persisted_upto;
    repl_peer_t peer, next_peer;
    bool peer_open;
    int fail_rc;
    int persist_rc; /* the first failed commit: later ones fail too */
} fo_t;

static fo_t g;

static void fo_run(repl_actions_t *a);

static void fo_actions(repl_actions_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        const repl_action_t *x = &a->acts[i];
        switch (x->kind) {
        case REPL_ACT_SEND:
            fz_check_sent(x->u.send.data, x->u.send.len);
            break;
        case REPL_ACT_CLOSE:
            if (x->u.close.peer == g.peer)
                g.peer_open = false;
            break;
        case REPL_ACT_PERSIST: {
            const repl_mutation_t *m = x->u.persist.muts;
            FZ_CHECK(x->u.persist.n > 0);
            for (size_t k = 0; k < x->u.persist.n; k++) {
                FZ_CHECK(m[k].seq == g.persisted_upto + 1 + k);
                FZ_CHECK(repl_op_check(&m[k].op) == 0);
            }
            g.persisted_upto += x->u.persist.n;
            todo_push(&g.t, (todo_t){TODO_PERSIST, 0, x->u.persist.batch_id, x->u.persist.n});
            break;
        }
        case REPL_ACT_READ_LOG:
            FZ_CHECK(x->u.read_log.from_seq >= 1);
            todo_push(&g.t, (todo_t){TODO_READ_LOG, x->u.read_log.peer, x->u.read_log.from_seq, 0});
            break;
        case REPL_ACT_SNAPSHOT:
            todo_push(&g.t, (todo_t){TODO_SNAPSHOT, x->u.snapshot.peer, x->u.snapshot.min_seq, 0});
            break;
        case REPL_ACT_TRIM_LOG:
        case REPL_ACT_WRITE_DONE:
        case REPL_ACT_ALARM:
            break;
        default:
            FZ_CHECK(!"an edge's action from the origin");
        }
    }
    a->n = 0;
}

static void fo_run(repl_actions_t *a)
{
    do {
        fo_actions(a);
        repl_origin_poll(g.o, a);
    } while (a->n > 0);
}

static void fo_complete(const todo_t *td, repl_actions_t *a)
{
    switch (td->kind) {
    case TODO_PERSIST: {
        int *res = kv_calloc(td->n, sizeof *res);
        FZ_CHECK(res != NULL);
        int rc = g.persist_rc ? g.persist_rc : g.t.fail_next ? KV_EIO : 0;
        g.t.fail_next = false;
        g.persist_rc = rc;
        if (rc == 0)
            g.committed += td->n;
        else
            g.persisted_upto = g.committed;
        repl_origin_persisted(g.o, td->a, rc, res, g.now, a);
        kv_free(res);
        break;
    }
    case TODO_READ_LOG: {
        /* Consecutive entries from from_seq up to what is committed. */
        repl_mutation_t muts[8];
        size_t n = 0;
        for (uint64_t s = td->a; s <= g.committed && n < 8; s++, n++) {
            repl_mutation_t *m = &muts[n];
            memset(m, 0, sizeof *m);
            m->seq = s;
            m->version.hlc = (g.now << 16) | (s & 0xffff);
            m->version.node_id = 1;
            m->op.kind = REPL_OP_PUT;
            memcpy(m->op.ns_id, FZ_NS, KV_NS_ID_LEN + 1);
            m->op.key = "k";
            m->op.key_len = 1;
            m->op.value = (const uint8_t *)"v";
            m->op.value_len = 1;
        }
        repl_origin_log_read(g.o, td->peer, 0, muts, n, g.now, a);
        break;
    }
    case TODO_SNAPSHOT:
        repl_origin_snapshot_sent(g.o, td->peer, 0, td->a > g.committed ? td->a : g.committed,
                                  g.now, a);
        break;
    default:
        FZ_CHECK(!"an edge's completion at the origin");
    }
}

static void fo_drain(repl_actions_t *a)
{
    todo_t td;
    for (int k = 0; k < FZ_MAXSTEP && todo_pop(&g.t, &td); k++) {
        fo_complete(&td, a);
        fo_run(a);
    }
}

static void fo_step_done(repl_actions_t *a)
{
    fo_run(a);
    if (!g.t.deferred)
        fo_drain(a);
}

static void fo_bytes(const uint8_t *b, size_t n, repl_actions_t *a)
{
    if (!g.peer_open)
        return;
    repl_origin_on_bytes(g.o, g.peer, b, n, g.now, a);
    fo_step_done(a);
}

/* A new link and its Hello, shaped by the input. */
static void fo_hello(fz_in_t *in, repl_actions_t *a)
{
    g.peer = ++g.next_peer;
    g.peer_open = true;
    repl_origin_on_connect(g.o, g.peer, "fuzz-edge", g.now, a);
    fo_step_done(a);
    uint8_t h = fz_u8(in);
    Edgekv__Frame f = EDGEKV__FRAME__INIT;
    Edgekv__Hello hello = EDGEKV__HELLO__INIT;
    static const char other[] = "ffffffffffffffffffffffffffffffff";
    hello.history_id = (char *)((h % 3) == 0 ? FZ_HIST : (h % 3) == 1 ? "" : other);
    hello.applied_seq = fz_u8(in);
    hello.node_id = (uint32_t)(h >> 2) % 4 + 2;
    hello.hlc_ms = g.now;
    f.msg_case = EDGEKV__FRAME__MSG_HELLO;
    f.hello = &hello;
    size_t len;
    uint8_t *b = fz_encode(&f, &len);
    fo_bytes(b, len, a);
    kv_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    repl_action_t acts[FZ_ACTS];
    repl_actions_t a = {acts, FZ_ACTS, 0};
    repl_origin_config_t cfg;
    memset(&g, 0, sizeof g);
    g.now = 1700000000000ull;
    repl_origin_config_default(&cfg);
    cfg.wall = fz_wall;
    cfg.node_id = 1;
    memcpy(cfg.history_id, FZ_HIST, sizeof cfg.history_id);
    uint8_t shape = fz_u8(&in);
    cfg.last_seq = fz_u8(&in);
    cfg.log_first_seq = (shape & 1) ? cfg.last_seq + 1 : 1; /* an empty log, or all of it */
    cfg.hlc_last = (g.now - 1000) << 16;
    cfg.group_max_ops = (shape >> 1) % 4 + 1;
    cfg.groups_in_flight = 1 + (cfg.last_seq >> 6) % KV_REPL_GROUPS_IN_FLIGHT_MAX;
    cfg.tail_max_bytes = (shape & 0x10) ? 512 : 0;
    cfg.peer_buffer_max_bytes = (shape & 0x20) ? 256 : cfg.peer_buffer_max_bytes;
    cfg.log_retention = (shape & 0x40) ? 4 : cfg.log_retention;
    g.t.deferred = (shape & 0x80) != 0;
    g.committed = g.persisted_upto = cfg.last_seq;
    FZ_CHECK(repl_origin_create(&cfg, &g.o) == 0);
    fo_hello(&in, &a);

    for (int step = 0; step < FZ_MAXSTEP && in.n > 0; step++) {
        uint8_t c = fz_u8(&in);
        if (fz_feed_step(&in, c, fo_bytes, &a))
            continue;
        switch (c % 8) {
        case 3:
            g.now += (uint64_t)fz_u8(&in) * 50;
            repl_origin_tick(g.o, g.now, &a);
            fo_step_done(&a);
            break;
        case 4:
            fo_drain(&a);
            break;
        case 5: {
            repl_op_t ops[2];
            size_t nops = (c >> 3) % 2 + 1;
            for (size_t k = 0; k < nops; k++)
                fz_op(&in, &ops[k]);
            repl_origin_write(g.o, (uint64_t)step, ops, nops, g.now, &a);
            fo_step_done(&a);
            break;
        }
        case 6:
            if (g.peer_open) {
                repl_origin_on_disconnect(g.o, g.peer, g.now, &a);
                fo_step_done(&a);
            }
            fo_hello(&in, &a);
            break;
        case 7:
            if ((c >> 3) == 31)
                g.t.fail_next = true;
            else
                g.t.deferred = !g.t.deferred;
            break;
        }
        repl_origin_stats_t st;
        repl_origin_stats(g.o, &st);
        FZ_CHECK(st.last_seq == g.committed || st.failed != 0);
        (void)repl_origin_deadline(g.o);
    }
    fo_drain(&a);
    repl_edge_info_t info[4];
    (void)repl_origin_edges(g.o, g.now, info, 4);
    repl_origin_destroy(g.o);
    return 0;
}
