/*
 * tls_int.h - private sharing between tls_ctx.c (contexts, certificate
 * checks, OpenSSL error text) and tls.c (connections). Not for other modules.
 */
#ifndef NODE_TLS_INT_H
#define NODE_TLS_INT_H

#include <openssl/ssl.h>

#include "tls.h"

/* Reason texts: long enough for a verification message plus OpenSSL detail. */
#define TLS__REASON_MAX 256
/* A certificate serial in hex: RFC 5280 allows at most 20 octets. */
#define TLS__SERIAL_HEX_MAX (2 * 20)

struct tls_ctx {
    SSL_CTX *ssl; /* reference counted by OpenSSL; each SSL holds one */
    tls_role_t role;
    bool candidates; /* an origin candidate's: origins on either side (tls.h) */
};

/* A queued plaintext write. */
typedef struct tls__wreq {
    struct tls__wreq *next;
    const uint8_t *data; /* borrowed, or `copy` */
    uint8_t *copy;       /* owned copy when the caller gave no callback */
    size_t len;
    size_t done;  /* bytes already given to SSL_write */
    uint64_t end; /* plaintext offset (since the start) of the last byte + 1 */
    tls_write_cb cb;
    void *arg;
} tls__wreq_t;

/* Everything is touched only by the thread of the loop. */
struct tls_conn {
    uv_tcp_t tcp; /* tcp.data == this connection */
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl; rbio: ciphertext in, wbio: ciphertext out */
    tls_conn_cbs_t cbs;
    void *user;
    tls_role_t own_role;
    unsigned want_roles; /* tls_peer_roles(own_role, is_server) */
    bool is_server;
    bool started;
    bool hs_local;    /* SSL_is_init_finished */
    bool hs_accepted; /* the peer accepted us too (server: always at hs_local) */
    bool hs_reported; /* on_handshake was called (or must never be) */
    bool established; /* on_handshake(0) was called: plaintext may flow */
    bool paused;
    bool closing;
    bool in_read; /* inside the decrypt loop: resume must not re-enter it */
    int close_status;
    /* plaintext write queue: head = oldest not yet flushed; next = first
     * with bytes not yet given to SSL_write (NULL when all encrypted) */
    tls__wreq_t *head, *tail, *next;
    uint64_t plain_encrypted; /* plaintext bytes given to SSL_write so far */
    uint64_t plain_flushed;   /* ... whose ciphertext uv_write completed */
    uint64_t plain_queued;    /* ... accepted by tls_conn_write */
    size_t cipher_inflight;   /* ciphertext bytes in uv_write requests */
    tls_role_t peer_role;
    char peer_name[KV_TLS_PEER_NAME_MAX + 1];
    char peer_serial[TLS__SERIAL_HEX_MAX + 1]; /* hex, "" until verified */
    char error[TLS__REASON_MAX];               /* why it failed, for on_close and logs */
    char detail[TLS__REASON_MAX];              /* the OpenSSL error queue at the failure */
    char peer_addr[64];                        /* "ip:port", for logs */
    uint8_t rbuf[KV_TLS_READ_BUF_BYTES];
    uint8_t pbuf[KV_TLS_PLAIN_CHUNK_BYTES];
};

/* The role (from the subject's single organizationalUnit) and commonName of
 * `cert`. 0, or KV_EINVAL with a reason in `why`. */
int tls__cert_identity(X509 *cert, tls_role_t *role, char name[KV_TLS_PEER_NAME_MAX + 1], char *why,
                       size_t why_len);

/* Append the OpenSSL error queue of this thread to `buf` ("; "-separated) and
 * empty the queue. Returns the first error code (0 if none). */
unsigned long tls__drain_errors(char *buf, size_t len);

/* The SSL verify callback: chain errors, then the role check at depth 0. It
 * writes the reason into the connection (SSL app data). */
int tls__verify_cb(int preverify_ok, X509_STORE_CTX *store);

#endif
