/*
 * tls.h - mutual TLS 1.3 over libuv streams, for the replication links.
 *
 * The adapter keeps OpenSSL away from the socket: bytes from uv_read_cb go
 * into a memory BIO, SSL_read turns them into plaintext for on_data; plaintext
 * from tls_conn_write goes through SSL_write into a second memory BIO whose
 * contents leave with uv_write (the libcouchbase / h2o pattern). Nothing here
 * knows about frames or the replication protocol.
 *
 * Trust: every node holds the cluster CA, its own certificate and key. Both
 * sides require a peer certificate that chains to the cluster CA and is
 * within its validity window (OpenSSL's verification), and then check the
 * peer's ROLE. The role is recorded in the certificate subject (signed by the
 * CA, so a peer cannot claim it on its own): exactly one organizationalUnit
 * whose value is "edgekv-origin" or "edgekv-edge"; the commonName is the node
 * name. An origin accepts only edge peers, an edge only an origin peer.
 *
 * "Handshake done" means accepted by BOTH sides. In TLS 1.3 a client finishes
 * its half before the server has judged the client certificate, so the client
 * reports on_handshake(0) only once the server has proved acceptance (its
 * first post-handshake message, the session ticket our servers always send,
 * or application data). Resumption is refused: every connection does a full
 * handshake with certificates.
 *
 * Memory per connection: KV_TLS_READ_BUF_BYTES + KV_TLS_PLAIN_CHUNK_BYTES of
 * fixed buffers, plus at most KV_TLS_CIPHER_INFLIGHT_MAX_BYTES (+ one 64 KiB
 * batch) of ciphertext waiting in uv_write; queued plaintext is the caller's
 * (borrowed) unless it asked for a copy. The limits are in proto/kv_limits.h.
 *
 * Threads: a tls_ctx_t is immutable after creation and may be shared by
 * connections on any loop; a tls_conn_t belongs to the thread of its loop.
 *
 * What this is not: a general TLS library (no renegotiation, no TLS 1.2, no
 * SNI, no session resumption), nor a timer owner: handshake and idle timeouts
 * belong to the caller, which closes the connection with tls_conn_close().
 */
#ifndef NODE_TLS_H
#define NODE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kv_limits.h"

/* Role values carried in the certificate subject's organizationalUnit. */
#define TLS_ROLE_OU_ORIGIN "edgekv-origin"
#define TLS_ROLE_OU_EDGE   "edgekv-edge"
#define TLS_ROLE_OU_RELAY  "edgekv-relay"

typedef enum { TLS_ROLE_NONE = 0, TLS_ROLE_ORIGIN, TLS_ROLE_EDGE, TLS_ROLE_RELAY } tls_role_t;

/* "origin", "edge", "relay" or "none"; static. */
const char *tls_role_name(tls_role_t role);

/* Who may be on the other end of a link, by our role and side (one rule):
 * an origin accepts edges and relays; a relay accepts edges and relays and
 * dials an origin or a relay; an edge dials an origin or a relay. A bit
 * mask of (1u << role); 0 for a side the role never takes. */
unsigned tls_peer_roles(tls_role_t own, bool is_server);

/* ---- context ------------------------------------------------------------------ */

typedef struct tls_ctx tls_ctx_t;

/* Load the cluster CA, our certificate (PEM, may hold a chain) and its key,
 * for a node of role `role` (TLS_ROLE_ORIGIN, _EDGE or _RELAY). Our own
 * certificate must carry that role and match the key, else KV_ECONFIG (the
 * reason is logged). Other errors: KV_EINVAL (bad role or NULL path),
 * -ENOMEM. On success *out is freed with tls_ctx_free(). */
int tls_ctx_create(tls_role_t role, const char *ca_file, const char *cert_file,
                   const char *key_file, tls_ctx_t **out);
/* Connections keep what they need (OpenSSL reference counts the context), so
 * the context may be freed while connections made from it are still open. */
void tls_ctx_free(tls_ctx_t *ctx);
tls_role_t tls_ctx_role(const tls_ctx_t *ctx);
/* An origin candidate's context (origin leadership, node/replica): besides
 * tls_peer_roles, it accepts origin certificates as clients (standbys
 * following it) and dials origins (the leader it follows as a standby). A
 * single origin's context never does. Only for TLS_ROLE_ORIGIN; affects
 * connections made after the call. */
void tls_ctx_allow_candidates(tls_ctx_t *ctx);

/* ---- connection --------------------------------------------------------------- */

typedef struct tls_conn tls_conn_t;

/* Statuses reported to on_handshake / on_close / write callbacks:
 *   0            success (on_close: closed by tls_conn_close)
 *   UV_EOF       the peer closed (close_notify or end of stream)
 *   -EACCES      the peer's certificate was refused (untrusted, expired,
 *                wrong role, missing) or the peer refused ours
 *   -EPROTO      any other TLS failure
 *   UV_ECANCELED write callbacks of data still queued at close
 *   other        the uv_* error of the socket (-errno) */
typedef struct {
    /* Exactly once, before any on_data, unless tls_conn_close() was called
     * first. On failure (status < 0) the connection then closes by itself
     * and on_close follows with the same status. */
    void (*on_handshake)(tls_conn_t *conn, int status);
    /* Decrypted bytes, at most KV_TLS_PLAIN_CHUNK_BYTES; `data` is valid only
     * during the call. */
    void (*on_data)(tls_conn_t *conn, const uint8_t *data, size_t len);
    /* Optional (may be NULL): the ciphertext of `plain_bytes` more bytes of
     * written plaintext was completed by uv_write. The sum over the life of
     * the connection equals the bytes of the successful writes. */
    void (*on_flushed)(tls_conn_t *conn, size_t plain_bytes);
    /* Exactly once, last. `reason` is a human-readable text ("" when closed
     * by tls_conn_close), valid during the call. After it returns the
     * connection is freed. */
    void (*on_close)(tls_conn_t *conn, int status, const char *reason);
} tls_conn_cbs_t;

/* Called once per tls_conn_write, when all of its plaintext is flushed
 * (status 0) or when the connection closed first (status < 0). */
typedef void (*tls_write_cb)(tls_conn_t *conn, void *arg, int status);

/* Allocate a connection with its own uv_tcp_t, initialised on `loop`. The
 * caller then accepts into, or connects, tls_conn_tcp(conn) and calls
 * tls_conn_start() once the socket is connected. `is_server` picks the TLS
 * side. `cbs` is copied; on_handshake, on_data and on_close are required.
 * From a 0 return on, on_close is called exactly once, after tls_conn_close()
 * or a failure, and the connection then frees itself (handle included).
 * Errors: KV_EINVAL, -ENOMEM, a uv error; nothing to free then. */
int tls_conn_create(tls_ctx_t *ctx, uv_loop_t *loop, bool is_server, const tls_conn_cbs_t *cbs,
                    void *user, tls_conn_t **out);

/* The connection's TCP handle (owned by the connection). Its `data` field
 * belongs to the connection: use tls_conn_user(). */
uv_tcp_t *tls_conn_tcp(tls_conn_t *conn);

/* Client side only, before tls_conn_start: also require the server
 * certificate's subjectAltName to match `host` (a DNS name or an IP
 * literal). Without it any origin certificate of the cluster is accepted.
 * KV_EINVAL on a server connection or an empty host; -ENOMEM. */
int tls_conn_set_verify_host(tls_conn_t *conn, const char *host);

/* Begin reading and the handshake (the client sends its hello). A nonzero
 * return calls no callback; the caller then closes with tls_conn_close(). */
int tls_conn_start(tls_conn_t *conn);

/* Queue `len` (> 0) bytes of plaintext. With a callback, `data` is borrowed
 * (not copied) until cb is called; without one (cb NULL) it is copied.
 * Data queued before the handshake completes waits for it. Returns 0, or
 * KV_EINVAL (len 0), KV_ELIMIT (tls_conn_queued_bytes would pass
 * KV_TLS_WRITE_QUEUE_MAX_BYTES), -EPIPE (closing), -ENOMEM; then cb is never
 * called. Never calls a callback before it returns. */
int tls_conn_write(tls_conn_t *conn, const void *data, size_t len, tls_write_cb cb, void *arg);

/* Plaintext accepted by tls_conn_write and not yet reported by on_flushed. */
size_t tls_conn_queued_bytes(const tls_conn_t *conn);

/* Stop / resume delivering on_data (receive-side flow control). Bytes that
 * arrive meanwhile stay in the kernel. tls_conn_read_resume() may deliver
 * already-decrypted input (call on_data) before it returns. */
void tls_conn_read_pause(tls_conn_t *conn);
void tls_conn_read_resume(tls_conn_t *conn);

/* Close: send close_notify when the handshake is done (best effort: a peer
 * that does not read gets a reset), stop reading, close the socket. Queued
 * writes get UV_ECANCELED; on_close(conn, 0, "") follows from the loop.
 * Idempotent; safe from any callback of this connection. */
void tls_conn_close(tls_conn_t *conn);

/* After a successful on_handshake: the peer's verified role and node name
 * (certificate commonName, NUL-terminated, at most KV_TLS_PEER_NAME_MAX bytes).
 * Before that TLS_ROLE_NONE and "". The string lives as long as the
 * connection. */
tls_role_t tls_conn_peer_role(const tls_conn_t *conn);
const char *tls_conn_peer_name(const tls_conn_t *conn);
/* The serial number of the peer's verified certificate, upper-case hex as
 * `openssl x509 -serial` prints it ("" before on_handshake): which
 * certificate a peer presented, e.g. after a rotation. Lives as long as the
 * connection. */
const char *tls_conn_peer_serial(const tls_conn_t *conn);

/* Why the connection failed ("peer certificate: certificate has expired",
 * "peer role edge where origin expected", ...); "" if it has not. */
const char *tls_conn_error(const tls_conn_t *conn);

/* The `user` pointer given to tls_conn_create. */
void *tls_conn_user(const tls_conn_t *conn);

#endif
