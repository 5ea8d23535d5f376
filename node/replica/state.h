/*
 * state.h - the node's persisted state: every name in the storage state
 * column family, and typed reads and writes of each entry.
 *
 * The rule: every state value is one protobuf message of proto/edgekv.proto
 * with a `format` field (STATE_FORMAT), and only state.c encodes or decodes
 * one. NodeIdentity ("identity"), ReplPosition ("repl_position", written in
 * the same atomic commit as the data it describes), EdgeAcks
 * ("known_edges", the origin's record of every known edge) and TokenRecord
 * ("token:<id>", also the value of a TOKEN_PUT in the log; an empty value is
 * a revocation). A reader refuses a format it does not know (KV_ECORRUPT)
 * rather than guess. Not state, and not protobufs: records
 * (storage/record.h) and namespace values (storage/store_ns.c) keep their
 * fixed binary layouts, because they are the hot path.
 *
 * Upgrade: a data directory written before this encoding holds decimal
 * texts (last_seq, applied_seq, hlc_last), plain texts (node_id, account_id,
 * default_token, history_id), "node:acked:last_ms;" for edge_acks and JSON
 * token records. state_upgrade() converts all of it in one atomic commit
 * that also removes the old names; the legacy names below are used by it
 * alone. Fields added to a format-1 message since (ReplPosition's
 * seq_version, EdgeAck's name) are simply absent in older entries and read
 * as unknown: an edge without seq_version resumes once by snapshot, a known
 * edge without a name is bound by the first certificate that claims it.
 *
 * Threads: the functions only touch the store passed in, so any thread may
 * call them; callers serialise writers of the same entry (the replication
 * store worker owns repl_position and known_edges once the replica runs).
 */
#ifndef NODE_STATE_H
#define NODE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_limits.h"
#include "repl.h"
#include "store.h"

/* The format field every state message carries. */
#define STATE_FORMAT 1

/* ---- state names (the only place they are spelt) ---------------------------- */

#define STATE_IDENTITY     "identity"      /* NodeIdentity */
#define STATE_POSITION     "repl_position" /* ReplPosition */
#define STATE_KNOWN_EDGES  "known_edges"   /* EdgeAcks (origin) */
#define STATE_TOKEN_PREFIX "token:"        /* + token id: TokenRecord, or empty */
/* Empty (its presence is the fact, as an empty token record is a
 * revocation): `edgekv restore` of an origin's backup left it; the origin
 * starts a new history at its next start and removes it in the same
 * commit (state_new_history_commit). */
#define STATE_NEW_HISTORY "new_history"

/* Before format 1; read and removed only by state_upgrade(). */
#define STATE_OLD_NODE_ID       "node_id"       /* 8 hex digits */
#define STATE_OLD_ACCOUNT_ID    "account_id"    /* text */
#define STATE_OLD_DEFAULT_TOKEN "default_token" /* text */
#define STATE_OLD_HISTORY       "history_id"    /* 32 hex digits */
#define STATE_OLD_LAST_SEQ      "last_seq"      /* decimal, origin */
#define STATE_OLD_APPLIED_SEQ   "applied_seq"   /* decimal, edge */
#define STATE_OLD_HLC_LAST      "hlc_last"      /* decimal */
#define STATE_OLD_EDGE_ACKS     "edge_acks"     /* "node:acked:last_ms;..." */

/* "token:" + id + NUL. */
#define STATE_TOKEN_NAME_BYTES (sizeof STATE_TOKEN_PREFIX - 1 + REPL_TOKEN_ID_MAX_BYTES + 1)

/* The state name of token `id` (id_len <= REPL_TOKEN_ID_MAX_BYTES bytes)
 * into buf, NUL-terminated; returns its length. */
size_t state_token_name(char buf[STATE_TOKEN_NAME_BYTES], const char *id, size_t id_len);

/* Every getter below: 0, KV_ENOTFOUND (the entry is absent; *out zeroed),
 * KV_ECORRUPT (not a message of a known format, or a field past its limit;
 * also when protobuf-c ran out of memory decoding it), -ENOMEM or KV_EIO.
 * Every putter: 0, KV_EINVAL, -ENOMEM or KV_EIO. */

/* ---- identity ------------------------------------------------------------------ */

/* The durable facts of this node that its configuration did not give. */
typedef struct {
    uint32_t node_id;                             /* 0: none stored */
    char account_id[KV_ACCOUNT_ID_MAX_BYTES + 1]; /* "": none stored */
    char default_token[KV_TOKEN_MAX_BYTES + 1];   /* "": none stored */
} state_identity_t;

int state_identity_get(stor_t *s, state_identity_t *out);
int state_identity_put(stor_t *s, const state_identity_t *id);

/* ---- replication position -------------------------------------------------------- */

#define STATE_HISTORY_HEX 32

/* Where this replica's data stands in the origin's history. */
typedef struct {
    char history_id[STATE_HISTORY_HEX + 1]; /* "": none (a fresh edge) */
    uint64_t seq;                           /* origin: last committed seq; edge: last applied seq */
    uint64_t hlc_last;                      /* highest version timestamp stored */
    kv_version_t seq_version;               /* of the log entry at seq (the edge's resume
                                               proof, replication/repl.h); zero: unknown */
    /* origin: the history this one was started over by edgekv restore ("":
     * none); edges still on it take a snapshot instead of refusing. */
    char parent_history[STATE_HISTORY_HEX + 1];
    /* The largest leader term of this replica's history (replication/repl.h
     * "Terms"); 0: none. Kept across a snapshot's reset, as hlc_last. */
    uint64_t term;
} state_position_t;

/* Encoded ReplPosition bound: tags, lengths, 32 hex digits, varints, and
 * the seq_version message. */
#define STATE_POSITION_MAX_BYTES 143

int state_position_get(stor_t *s, state_position_t *out);
/* As of a snapshot (the position its data holds). */
int state_position_get_at(stor_snap_t *snap, state_position_t *out);
int state_position_put(stor_t *s, const state_position_t *p);
/* Encode for a commit's state put (name STATE_POSITION); returns the
 * length, at most STATE_POSITION_MAX_BYTES. */
size_t state_position_encode(const state_position_t *p, uint8_t buf[STATE_POSITION_MAX_BYTES]);

/* ---- a new history after a restore ------------------------------------------------ */

/* Leave STATE_NEW_HISTORY in a restored store (edgekv restore). */
int state_new_history_mark(stor_t *s);
/* Whether STATE_NEW_HISTORY is there: 0 with *pending set, or a negative
 * code. */
int state_new_history_pending(stor_t *s, bool *pending);
/* Store p (its new history) and remove STATE_NEW_HISTORY, in one atomic
 * commit: the marker is honoured exactly once, and never lost to a crash
 * before the new history is durable. */
int state_new_history_commit(stor_t *s, const state_position_t *p);

/* ---- the origin's known edges ------------------------------------------------------ */

typedef struct {
    uint32_t node_id;
    uint64_t acked_seq;
    uint64_t last_ack_ms;
    char name[KV_TLS_PEER_NAME_MAX + 1]; /* certificate name bound to node_id; "" unknown */
} state_edge_t;

/* Replace the known edges with e[0..n), n <= KV_REPL_EDGES_MAX (else
 * KV_ELIMIT, nothing written). */
int state_edges_put(stor_t *s, const state_edge_t *e, size_t n);
/* Every known edge into *out, kv_malloc'd (kv_free; NULL when *n is 0). */
int state_edges_get(stor_t *s, state_edge_t **out, size_t *n);

/* ---- API tokens ------------------------------------------------------------------- */

/* Hex digits of a token record's SHA-256. */
#define STATE_TOKEN_SHA256_HEX 64

/* A token record (node/api/tokens.c). Strings NUL-terminated; in a decoded
 * record they borrow from it until state_token_free. A record has an id,
 * an account and a digest; the other fields may be empty. */
typedef struct {
    const char *id, *name, *account;
    const char *sha256_hex; /* SHA-256 of the secret, STATE_TOKEN_SHA256_HEX digits */
    bool write;
    bool scoped;                   /* false: every namespace of the account */
    const char *const *namespaces; /* scoped: the only namespaces it reaches */
    size_t namespace_count;
    void *pb_; /* the decoded message (state_token_free) */
} state_token_t;

/* Encode t into *out, kv_malloc'd (kv_free), *len bytes (never 0).
 * KV_EINVAL (a field missing), KV_ETOOBIG past REPL_TOKEN_RECORD_MAX_BYTES,
 * -ENOMEM. */
int state_token_encode(const state_token_t *t, uint8_t **out, size_t *len);
/* Decode a non-empty record. 0, KV_ECORRUPT, -ENOMEM. */
int state_token_decode(const void *rec, size_t len, state_token_t *t);
void state_token_free(state_token_t *t);
/* A TOKEN_PUT value as it must be stored: 0 with *out NULL when rec is
 * empty or a TokenRecord already (store it as it is); 0 with *out a
 * kv_malloc'd TokenRecord (kv_free) converted from a record written before
 * format 1 (JSON, still in older logs); KV_ECORRUPT when it is neither;
 * -ENOMEM. */
int state_token_convert(const void *rec, size_t len, uint8_t **out, size_t *out_len);
/* Call cb for each live stored token (id, record), in id order; revoked
 * ones (empty records) are skipped. A non-zero cb return stops the scan and
 * is returned if negative. 0 or a negative code. */
int state_tokens_each(stor_t *s,
                      int (*cb)(void *arg, const char *id, size_t id_len, const char *rec,
                                size_t rec_len),
                      void *arg);

/* ---- upgrade ---------------------------------------------------------------------- */

/* Convert every entry written before format 1 (see the top of this file)
 * in ONE atomic commit that puts the new entries and removes the old
 * names; an old value wins over a new entry of the same fact (it was
 * written later, by an older binary). A token record that is neither JSON
 * nor a TokenRecord is left as it is (the token reload skips it). At
 * start, before anything reads state. *converted (may be NULL) gets the
 * number of old entries converted; 0 when there was nothing to do. On an
 * error nothing was written. */
int state_upgrade(stor_t *s, size_t *converted);

#endif
