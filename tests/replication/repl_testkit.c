/*
 * repl_testkit.c - the ops and single-core helpers of repl_testkit.h (the
 * world is in repl_testkit_world.c).
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

const uint8_t *tk_rec_value(const lww_replica_t *m, const lww_rec_t *r)
{
    repl_op_t op;
    memset(&op, 0, sizeof op);
    assert_false(r->tomb);
    lww_keys_value_view(m->keys, r->val, &op);
    assert_int_equal(op.value_len, r->len);
    return op.value;
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
    uint8_t *d = malloc(*len ? *len : 1);
    assert_non_null(d);
    memcpy(d, b, *len);
    kv_free(b);
    return d;
}
