/*
 * state.c - the node's persisted state (state.h): each entry's protobuf
 * message in and out of the storage state column family, and the upgrade
 * of entries written before format 1.
 *
 * Every message is decoded with the kv_mem allocator (frame_pb_allocator)
 * and copied into a fixed-size C struct, except token records, which are
 * variable-length and stay a decoded message the caller frees. Not here:
 * what the facts mean (node/cmd/main.c for identity, node/replica/replica_work.c for
 * positions and edges, node/api/tokens.c for tokens).
 */
#include "state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgekv.pb-c.h"
#include "frame.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

#define STATE_LOG "state"

size_t state_token_name(char buf[STATE_TOKEN_NAME_BYTES], const char *id, size_t id_len)
{
    if (id_len > REPL_TOKEN_ID_MAX_BYTES)
        id_len = REPL_TOKEN_ID_MAX_BYTES;
    int n = snprintf(buf, STATE_TOKEN_NAME_BYTES, "%s%.*s", STATE_TOKEN_PREFIX, (int)id_len, id);
    return (size_t)n;
}

/* Copy a decoded string into a fixed buffer: false when it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* Pack m and put it under name. */
static int put_msg(stor_t *s, const char *name, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = kv_malloc(len ? len : 1);
    int rc;
    if (!buf)
        return -ENOMEM;
    len = protobuf_c_message_pack(m, buf);
    rc = stor_state_put(s, name, buf, len);
    kv_free(buf);
    return rc;
}

/* Read the entry `name` from the store (or, with snap, as of the snapshot)
 * and decode it into out. 0, KV_ENOTFOUND, the decoder's code, or the
 * store's. */
static int get_msg(stor_t *s, stor_snap_t *snap, const char *name,
                   int (*decode)(const char *v, size_t len, void *out), void *out)
{
    char *v = NULL;
    size_t len = 0;
    int rc = snap ? stor_snapshot_state(snap, name, &v, &len) : stor_state_get(s, name, &v, &len);
    if (rc != 0)
        return rc;
    rc = decode(v, len, out);
    kv_free(v);
    return rc;
}

/* ---- identity ------------------------------------------------------------------ */

static int identity_decode(const char *v, size_t len, void *arg)
{
    state_identity_t *out = arg;
    Edgekv__NodeIdentity *m =
        edgekv__node_identity__unpack(frame_pb_allocator(), len, (const uint8_t *)v);
    int rc = KV_ECORRUPT;
    if (m && m->format == STATE_FORMAT &&
        copy_str(out->account_id, sizeof out->account_id, m->account_id) &&
        copy_str(out->default_token, sizeof out->default_token, m->default_token)) {
        out->node_id = m->node_id;
        rc = 0;
    }
    if (m)
        edgekv__node_identity__free_unpacked(m, frame_pb_allocator());
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int state_identity_get(stor_t *s, state_identity_t *out)
{
    memset(out, 0, sizeof *out);
    return get_msg(s, NULL, STATE_IDENTITY, identity_decode, out);
}

static void identity_msg(const state_identity_t *id, Edgekv__NodeIdentity *m)
{
    edgekv__node_identity__init(m);
    m->format = STATE_FORMAT;
    m->node_id = id->node_id;
    m->account_id = (char *)id->account_id;
    m->default_token = (char *)id->default_token;
}

int state_identity_put(stor_t *s, const state_identity_t *id)
{
    Edgekv__NodeIdentity m;
    identity_msg(id, &m);
    return put_msg(s, STATE_IDENTITY, &m.base);
}

/* ---- replication position -------------------------------------------------------- */

static int position_decode(const char *v, size_t len, void *arg)
{
    state_position_t *out = arg;
    Edgekv__ReplPosition *m =
        edgekv__repl_position__unpack(frame_pb_allocator(), len, (const uint8_t *)v);
    int rc = KV_ECORRUPT;
    if (m && m->format == STATE_FORMAT &&
        copy_str(out->history_id, sizeof out->history_id, m->history_id) &&
        copy_str(out->parent_history, sizeof out->parent_history, m->parent_history)) {
        out->seq = m->seq;
        out->hlc_last = m->hlc_last;
        out->term = m->term;
        if (m->seq_version && m->seq)
            out->seq_version = (kv_version_t){m->seq_version->hlc, m->seq_version->node_id};
        rc = 0;
    }
    if (m)
        edgekv__repl_position__free_unpacked(m, frame_pb_allocator());
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int state_position_get(stor_t *s, state_position_t *out)
{
    memset(out, 0, sizeof *out);
    return get_msg(s, NULL, STATE_POSITION, position_decode, out);
}

int state_position_get_at(stor_snap_t *snap, state_position_t *out)
{
    memset(out, 0, sizeof *out);
    return get_msg(NULL, snap, STATE_POSITION, position_decode, out);
}

/* v is the storage of m's seq_version. */
static void position_msg(const state_position_t *p, Edgekv__ReplPosition *m, Edgekv__Version *v)
{
    edgekv__repl_position__init(m);
    m->format = STATE_FORMAT;
    m->history_id = (char *)p->history_id;
    if (p->parent_history[0])
        m->parent_history = (char *)p->parent_history;
    m->seq = p->seq;
    m->hlc_last = p->hlc_last;
    m->term = p->term;
    if (p->seq && !kv_version_is_zero(p->seq_version)) {
        edgekv__version__init(v);
        v->hlc = p->seq_version.hlc;
        v->node_id = p->seq_version.node_id;
        m->seq_version = v;
    }
}

size_t state_position_encode(const state_position_t *p, uint8_t buf[STATE_POSITION_MAX_BYTES])
{
    Edgekv__ReplPosition m;
    Edgekv__Version v;
    position_msg(p, &m, &v);
    /* history_id is at most 32 bytes (the struct's size), so the bound holds. */
    return edgekv__repl_position__pack(&m, buf);
}

/* Tag and varint of format (1 + 5), tag, length and 32 digits of the history
 * and of its parent (2 x (1 + 1 + 32)), tags and varints of seq, hlc_last and
 * term (3 x (1 + 10)), tag and length of seq_version with its hlc and node_id
 * (1 + 1 + (1 + 10) + (1 + 5)). */
_Static_assert(STATE_POSITION_MAX_BYTES >= (1 + 5) + 2 * (1 + 1 + STATE_HISTORY_HEX) +
                                               3 * (1 + 10) + (1 + 1 + (1 + 10) + (1 + 5)),
               "a ReplPosition fits its buffer");

int state_position_put(stor_t *s, const state_position_t *p)
{
    uint8_t buf[STATE_POSITION_MAX_BYTES];
    size_t len = state_position_encode(p, buf);
    return stor_state_put(s, STATE_POSITION, buf, len);
}

/* ---- a new history after a restore ------------------------------------------------ */

int state_new_history_mark(stor_t *s)
{
    return stor_state_put(s, STATE_NEW_HISTORY, "", 0);
}

int state_new_history_pending(stor_t *s, bool *pending)
{
    char *v = NULL;
    int rc = stor_state_get(s, STATE_NEW_HISTORY, &v, NULL);
    kv_free(v);
    *pending = rc == 0;
    return rc == KV_ENOTFOUND ? 0 : rc;
}

int state_new_history_commit(stor_t *s, const state_position_t *p)
{
    uint8_t buf[STATE_POSITION_MAX_BYTES];
    const char *del = STATE_NEW_HISTORY;
    stor_state_put_t put = {STATE_POSITION, buf, state_position_encode(p, buf)};
    stor_commit_t c = {.state = &put, .n_state = 1, .state_del = &del, .n_state_del = 1};
    return stor_commit(s, &c);
}

/* ---- the origin's known edges ------------------------------------------------------ */

/* Encode e[0..n) into *out (kv_malloc'd). */
static int edges_encode(const state_edge_t *e, size_t n, uint8_t **out, size_t *len)
{
    Edgekv__EdgeAcks m;
    Edgekv__EdgeAck *items = kv_calloc(n ? n : 1, sizeof *items);
    Edgekv__EdgeAck **ptrs = kv_calloc(n ? n : 1, sizeof *ptrs);
    int rc = 0;
    *out = NULL;
    if (!items || !ptrs) {
        rc = -ENOMEM;
        goto done;
    }
    edgekv__edge_acks__init(&m);
    m.format = STATE_FORMAT;
    m.n_edges = n;
    m.edges = ptrs;
    for (size_t i = 0; i < n; i++) {
        edgekv__edge_ack__init(&items[i]);
        items[i].node_id = e[i].node_id;
        items[i].acked_seq = e[i].acked_seq;
        items[i].last_ack_ms = e[i].last_ack_ms;
        items[i].name = (char *)e[i].name;
        ptrs[i] = &items[i];
    }
    *len = edgekv__edge_acks__get_packed_size(&m);
    if (!(*out = kv_malloc(*len ? *len : 1)))
        rc = -ENOMEM;
    else
        *len = edgekv__edge_acks__pack(&m, *out);
done:
    kv_free(items);
    kv_free(ptrs);
    return rc;
}

int state_edges_put(stor_t *s, const state_edge_t *e, size_t n)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    if (n > KV_REPL_EDGES_MAX)
        return KV_ELIMIT;
    if (n && !e)
        return KV_EINVAL;
    if ((rc = edges_encode(e, n, &buf, &len)) == 0)
        rc = stor_state_put(s, STATE_KNOWN_EDGES, buf, len);
    kv_free(buf);
    return rc;
}

int state_edges_get(stor_t *s, state_edge_t **out, size_t *n)
{
    char *v = NULL;
    size_t len = 0;
    Edgekv__EdgeAcks *m;
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = stor_state_get(s, STATE_KNOWN_EDGES, &v, &len)) != 0)
        return rc;
    m = edgekv__edge_acks__unpack(frame_pb_allocator(), len, (const uint8_t *)v);
    kv_free(v);
    if (!m || m->format != STATE_FORMAT || m->n_edges > KV_REPL_EDGES_MAX) {
        rc = KV_ECORRUPT;
    } else if (m->n_edges && !(*out = kv_malloc(m->n_edges * sizeof **out))) {
        rc = -ENOMEM;
    } else {
        for (size_t i = 0; i < m->n_edges; i++) {
            const char *name = m->edges[i]->name ? m->edges[i]->name : "";
            (*out)[i] = (state_edge_t){m->edges[i]->node_id, m->edges[i]->acked_seq,
                                       m->edges[i]->last_ack_ms, ""};
            /* A name past the limit is not one a certificate proved. */
            if (strlen(name) <= KV_TLS_PEER_NAME_MAX)
                memcpy((*out)[i].name, name, strlen(name) + 1);
        }
        *n = m->n_edges;
    }
    if (m)
        edgekv__edge_acks__free_unpacked(m, frame_pb_allocator());
    return rc;
}

/* ---- API tokens ------------------------------------------------------------------- */

int state_token_encode(const state_token_t *t, uint8_t **out, size_t *len)
{
    Edgekv__TokenRecord m;
    *out = NULL;
    *len = 0;
    if (!t->id || !t->name || !t->account || !t->sha256_hex || !t->id[0] || !t->account[0] ||
        strlen(t->sha256_hex) != STATE_TOKEN_SHA256_HEX || (t->namespace_count && !t->namespaces))
        return KV_EINVAL;
    edgekv__token_record__init(&m);
    m.format = STATE_FORMAT;
    m.id = (char *)t->id;
    m.name = (char *)t->name;
    m.account = (char *)t->account;
    m.sha256_hex = (char *)t->sha256_hex;
    m.write = t->write;
    m.scoped = t->scoped;
    m.n_namespaces = t->scoped ? t->namespace_count : 0;
    m.namespaces = (char **)t->namespaces;
    size_t need = edgekv__token_record__get_packed_size(&m);
    if (need > REPL_TOKEN_RECORD_MAX_BYTES)
        return KV_ETOOBIG;
    if (!(*out = kv_malloc(need)))
        return -ENOMEM;
    *len = edgekv__token_record__pack(&m, *out);
    return 0;
}

int state_token_decode(const void *rec, size_t len, state_token_t *t)
{
    Edgekv__TokenRecord *m;
    memset(t, 0, sizeof *t);
    if (!rec || len == 0)
        return KV_ECORRUPT;
    m = edgekv__token_record__unpack(frame_pb_allocator(), len, rec);
    if (!m || m->format != STATE_FORMAT || !m->id[0] || !m->account[0] ||
        strlen(m->sha256_hex) != STATE_TOKEN_SHA256_HEX) {
        if (m)
            edgekv__token_record__free_unpacked(m, frame_pb_allocator());
        return KV_ECORRUPT;
    }
    *t = (state_token_t){.id = m->id,
                         .name = m->name,
                         .account = m->account,
                         .sha256_hex = m->sha256_hex,
                         .write = m->write,
                         .scoped = m->scoped,
                         .namespaces = (const char *const *)m->namespaces,
                         .namespace_count = m->n_namespaces,
                         .pb_ = m};
    return 0;
}

void state_token_free(state_token_t *t)
{
    if (t && t->pb_)
        edgekv__token_record__free_unpacked(t->pb_, frame_pb_allocator());
    if (t)
        memset(t, 0, sizeof *t);
}

/* A record written before format 1: {"id", "name", "account", "sha256",
 * "write", "namespaces"?} as node/api/tokens.c made them. */
static int token_from_json(const void *rec, size_t len, uint8_t **out, size_t *out_len)
{
    json_t *doc = json_loadb(rec, len, 0, NULL), *ns = json_object_get(doc, "namespaces");
    state_token_t t = {.id = json_string_value(json_object_get(doc, "id")),
                       .name = json_string_value(json_object_get(doc, "name")),
                       .account = json_string_value(json_object_get(doc, "account")),
                       .sha256_hex = json_string_value(json_object_get(doc, "sha256")),
                       .write = json_is_true(json_object_get(doc, "write")),
                       .scoped = json_is_array(ns)};
    const char **list = NULL;
    int rc = KV_ECORRUPT;
    if (!t.id || !t.name || !t.account || !t.sha256_hex)
        goto done;
    if (t.scoped && json_array_size(ns)) {
        t.namespace_count = json_array_size(ns);
        if (!(list = kv_calloc(t.namespace_count, sizeof *list))) {
            rc = -ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < t.namespace_count; i++)
            if (!(list[i] = json_string_value(json_array_get(ns, i))))
                goto done;
        t.namespaces = list;
    }
    rc = state_token_encode(&t, out, out_len);
    rc = rc == KV_ETOOBIG || rc == KV_EINVAL ? KV_ECORRUPT : rc;
done:
    kv_free(list);
    json_decref(doc);
    return rc;
}

int state_token_convert(const void *rec, size_t len, uint8_t **out, size_t *out_len)
{
    state_token_t t;
    int rc;
    *out = NULL;
    *out_len = 0;
    if (len == 0)
        return 0;
    /* A TokenRecord starts with its format field (tag 0x08); JSON with '{'. */
    if (((const uint8_t *)rec)[0] != '{') {
        if ((rc = state_token_decode(rec, len, &t)) == 0)
            state_token_free(&t);
        return rc;
    }
    return token_from_json(rec, len, out, out_len);
}

/* ---- upgrade ---------------------------------------------------------------------- */

/* The old entries found, and what the upgrade commit writes. */
typedef struct {
    size_t found; /* old entries seen */
    state_identity_t id;
    bool id_changed;
    state_position_t pos;
    bool pos_changed;
    state_edge_t *edges;
    size_t n_edges;
    bool edges_found;
    /* converted tokens: names and TokenRecords, owned */
    char **tok_names;
    uint8_t **tok_recs;
    size_t *tok_lens;
    size_t n_tok, cap_tok;
    int rc;
} upgrade_t;

static void upgrade_free(upgrade_t *u)
{
    for (size_t i = 0; i < u->n_tok; i++) {
        kv_free(u->tok_names[i]);
        kv_free(u->tok_recs[i]);
    }
    kv_free(u->tok_names);
    kv_free(u->tok_recs);
    kv_free(u->tok_lens);
    kv_free(u->edges);
}

/* An old entry's text (kv_free), or NULL: absent, or an error kept in u->rc. */
static char *old_text(stor_t *s, const char *name, upgrade_t *u, size_t *len)
{
    char *v = NULL;
    int rc = stor_state_get(s, name, &v, len);
    if (rc == 0) {
        u->found++;
        return v;
    }
    if (rc != KV_ENOTFOUND && u->rc == 0)
        u->rc = rc;
    return NULL;
}

static void upgrade_identity(stor_t *s, upgrade_t *u)
{
    size_t len;
    char *v;
    if ((v = old_text(s, STATE_OLD_NODE_ID, u, &len))) {
        /* As the old start-up read it: hex, 0 taken as 1. */
        u->id.node_id = (uint32_t)strtoul(v, NULL, 16);
        if (u->id.node_id == 0)
            u->id.node_id = 1;
        u->id_changed = true;
        kv_free(v);
    }
    if ((v = old_text(s, STATE_OLD_ACCOUNT_ID, u, &len))) {
        snprintf(u->id.account_id, sizeof u->id.account_id, "%.*s", (int)len, v);
        u->id_changed = true;
        kv_free(v);
    }
    if ((v = old_text(s, STATE_OLD_DEFAULT_TOKEN, u, &len))) {
        snprintf(u->id.default_token, sizeof u->id.default_token, "%.*s", (int)len, v);
        u->id_changed = true;
        kv_free(v);
    }
}

static void upgrade_position(stor_t *s, upgrade_t *u)
{
    size_t len;
    char *v, *applied;
    if ((v = old_text(s, STATE_OLD_HISTORY, u, &len))) {
        snprintf(u->pos.history_id, sizeof u->pos.history_id, "%.*s", (int)len, v);
        u->pos_changed = true;
        kv_free(v);
    }
    /* An origin wrote last_seq, an edge applied_seq; a directory holds one. */
    v = old_text(s, STATE_OLD_LAST_SEQ, u, &len);
    applied = old_text(s, STATE_OLD_APPLIED_SEQ, u, &len);
    if (v || applied) {
        u->pos.seq = strtoull(v ? v : applied, NULL, 10);
        u->pos.seq_version = KV_VERSION_ZERO; /* unknown for that seq: resumes by snapshot */
        u->pos_changed = true;
    }
    kv_free(v);
    kv_free(applied);
    if ((v = old_text(s, STATE_OLD_HLC_LAST, u, &len))) {
        u->pos.hlc_last = strtoull(v, NULL, 10);
        u->pos_changed = true;
        kv_free(v);
    }
}

/* "node:acked:last_ms;..." -> u->edges. */
static void upgrade_edges(stor_t *s, upgrade_t *u)
{
    size_t len, cap;
    char *v = old_text(s, STATE_OLD_EDGE_ACKS, u, &len), *p, *save = NULL;
    if (!v)
        return;
    u->edges_found = true;
    cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += v[i] == ';';
    if (cap > KV_REPL_EDGES_MAX)
        cap = KV_REPL_EDGES_MAX;
    if (!(u->edges = kv_calloc(cap, sizeof *u->edges))) {
        u->rc = -ENOMEM;
        kv_free(v);
        return;
    }
    for (p = strtok_r(v, ";", &save); p && u->n_edges < cap; p = strtok_r(NULL, ";", &save)) {
        unsigned long node;
        unsigned long long acked, last;
        if (sscanf(p, "%lu:%llu:%llu", &node, &acked, &last) == 3)
            u->edges[u->n_edges++] = (state_edge_t){(uint32_t)node, acked, last, ""};
    }
    kv_free(v);
}

static int upgrade_token_cb(void *arg, const char *name, size_t name_len, const char *val,
                            size_t len)
{
    upgrade_t *u = arg;
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    int rc = state_token_convert(val, len, &rec, &rec_len);
    if (rc == KV_ECORRUPT)
        return 0; /* unreadable: left as it is (the token reload says so) */
    if (rc != 0 || !rec)
        return rc; /* -ENOMEM, or a TokenRecord already */
    if (u->n_tok == u->cap_tok) {
        size_t cap = u->cap_tok ? 2 * u->cap_tok : 8;
        char **n = kv_realloc(u->tok_names, cap * sizeof *n);
        uint8_t **r = n ? kv_realloc(u->tok_recs, cap * sizeof *r) : NULL;
        size_t *l = r ? kv_realloc(u->tok_lens, cap * sizeof *l) : NULL;
        if (n)
            u->tok_names = n;
        if (r)
            u->tok_recs = r;
        if (!l) {
            kv_free(rec);
            return -ENOMEM;
        }
        u->tok_lens = l;
        u->cap_tok = cap;
    }
    if (!(u->tok_names[u->n_tok] = kv_strndup(name, name_len))) {
        kv_free(rec);
        return -ENOMEM;
    }
    u->tok_recs[u->n_tok] = rec;
    u->tok_lens[u->n_tok++] = rec_len;
    u->found++;
    return 0;
}

/* The new entries merged over with the old ones, and the old names: one
 * commit. */
static int upgrade_commit(stor_t *s, upgrade_t *u)
{
    static const char *const old[] = {
        STATE_OLD_NODE_ID,  STATE_OLD_ACCOUNT_ID,  STATE_OLD_DEFAULT_TOKEN, STATE_OLD_HISTORY,
        STATE_OLD_LAST_SEQ, STATE_OLD_APPLIED_SEQ, STATE_OLD_HLC_LAST,      STATE_OLD_EDGE_ACKS};
    stor_state_put_t *puts = kv_calloc(u->n_tok + 3, sizeof *puts);
    Edgekv__NodeIdentity idm;
    uint8_t *idbuf = NULL, *edbuf = NULL, posbuf[STATE_POSITION_MAX_BYTES];
    size_t n = 0, len = 0;
    int rc = puts ? 0 : -ENOMEM;
    if (rc == 0 && u->id_changed) {
        identity_msg(&u->id, &idm);
        len = edgekv__node_identity__get_packed_size(&idm);
        if (!(idbuf = kv_malloc(len ? len : 1)))
            rc = -ENOMEM;
        else
            puts[n++] =
                (stor_state_put_t){STATE_IDENTITY, idbuf, edgekv__node_identity__pack(&idm, idbuf)};
    }
    if (rc == 0 && u->pos_changed)
        puts[n++] =
            (stor_state_put_t){STATE_POSITION, posbuf, state_position_encode(&u->pos, posbuf)};
    if (rc == 0 && u->edges_found && (rc = edges_encode(u->edges, u->n_edges, &edbuf, &len)) == 0)
        puts[n++] = (stor_state_put_t){STATE_KNOWN_EDGES, edbuf, len};
    for (size_t i = 0; rc == 0 && i < u->n_tok; i++)
        puts[n++] = (stor_state_put_t){u->tok_names[i], u->tok_recs[i], u->tok_lens[i]};
    if (rc == 0) {
        stor_commit_t c = {.state = puts,
                           .n_state = n,
                           .state_del = old,
                           .n_state_del = sizeof old / sizeof old[0]};
        rc = stor_commit(s, &c);
    }
    kv_free(idbuf);
    kv_free(edbuf);
    kv_free(puts);
    return rc;
}

int state_upgrade(stor_t *s, size_t *converted)
{
    upgrade_t u = {0};
    int rc;
    if (converted)
        *converted = 0;
    /* Start from the new entries, so an old fact overrides only itself. */
    rc = state_identity_get(s, &u.id);
    if (rc == 0 || rc == KV_ENOTFOUND)
        rc = state_position_get(s, &u.pos);
    if (rc != 0 && rc != KV_ENOTFOUND)
        return rc;
    upgrade_identity(s, &u);
    upgrade_position(s, &u);
    upgrade_edges(s, &u);
    rc = u.rc;
    if (rc == 0)
        rc = stor_state_scan(s, STATE_TOKEN_PREFIX, upgrade_token_cb, &u);
    if (rc == 0 && u.found)
        rc = upgrade_commit(s, &u);
    if (rc == 0 && u.found)
        KV_LOG_INFO(STATE_LOG, "converted %zu state entries to format %d", u.found, STATE_FORMAT);
    if (rc == 0 && converted)
        *converted = u.found;
    upgrade_free(&u);
    return rc;
}

/* ---- stored tokens -------------------------------------------------------------------- */

typedef struct {
    int (*cb)(void *arg, const char *id, size_t id_len, const char *rec, size_t rec_len);
    void *arg;
} tokens_each_t;

static int tokens_each_cb(void *arg, const char *name, size_t name_len, const char *val, size_t len)
{
    tokens_each_t *e = arg;
    size_t plen = sizeof STATE_TOKEN_PREFIX - 1;
    if (len == 0)
        return 0; /* revoked */
    return e->cb(e->arg, name + plen, name_len - plen, val, len);
}

int state_tokens_each(stor_t *s,
                      int (*cb)(void *arg, const char *id, size_t id_len, const char *rec,
                                size_t rec_len),
                      void *arg)
{
    tokens_each_t e = {cb, arg};
    return stor_state_scan(s, STATE_TOKEN_PREFIX, tokens_each_cb, &e);
}
