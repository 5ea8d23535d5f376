/*
 * tls_api.h - the server side of HTTPS on the API port: certificates, SNI,
 * ALPN, session tickets with rotating keys, optional client certificates,
 * and reloading all of it while the node runs.
 *
 * The replication links (tls.h) trust only the cluster CA and check roles;
 * the API port is the opposite case: its clients are wrangler, the SDK,
 * workerd, browsers and curl, which check the server against their own
 * trust store. So a tls_api_t holds plain server contexts: TLS 1.2 and 1.3,
 * ALPN "http/1.1" (a client that offers ALPN without it is refused with
 * no_application_protocol), no renegotiation, and one certificate/key pair
 * per name set: the first pair is the default, another is chosen when the
 * client's SNI server name matches its certificate (X509_check_host, so
 * wildcards work). Files may hold a chain: the leaf first, then the
 * intermediates a public CA issued with it.
 *
 * Session resumption: stateless tickets (TLS 1.2 tickets and TLS 1.3 PSKs),
 * sealed with AES-256-CBC + HMAC-SHA256 keys the server makes itself and
 * rotates every `ticket_rotate_s`; a ticket stays valid for
 * TLS_API_TICKET_KEYS rotations (tickets under an older key are accepted and
 * renewed). The keys live in memory only: a restart ends every session.
 *
 * Client certificates: with client_ca_file set, every client must present a
 * certificate chaining to it (mutual TLS), on top of its bearer token.
 *
 * Reload: tls_api_reload() reads the same files again and, when all of them
 * load, makes the new contexts the ones new connections get; connections
 * made before keep theirs (OpenSSL counts the references) and finish
 * undisturbed. When a file is bad the old contexts stay and the reason is
 * logged. Ticket keys survive a reload.
 *
 * Threads: tls_api_ctx() and the callbacks run on any HTTP loop thread;
 * tls_api_reload() on any thread. A mutex guards the current contexts and
 * the key ring. Free the tls_api_t only after the HTTP server stopped.
 */
#ifndef NODE_TLS_API_H
#define NODE_TLS_API_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Certificate/key pairs one node serves (SNI alternatives included). */
#define TLS_API_PAIRS_MAX 16
/* Ticket keys kept: the current one and the ones before it. */
#define TLS_API_TICKET_KEYS 2
/* Default ticket key rotation period. */
#define TLS_API_TICKET_ROTATE_S_DEFAULT 3600u

typedef struct tls_api tls_api_t;

typedef struct {
    const char *const *cert_files; /* PEM: leaf, then its chain */
    const char *const *key_files;  /* PEM private keys, same order */
    size_t pair_count;             /* 1..TLS_API_PAIRS_MAX */
    const char *client_ca_file;    /* NULL: no client certificates */
    unsigned ticket_rotate_s;      /* 0: TLS_API_TICKET_ROTATE_S_DEFAULT */
} tls_api_config_t;

/* Load every pair (each certificate must match its key) and the client CA.
 * KV_ECONFIG with the reason logged when a file is missing or bad,
 * KV_EINVAL for a bad config, -ENOMEM. The config's strings are copied. */
int tls_api_create(const tls_api_config_t *cfg, tls_api_t **out);

/* Read the files again; on success new connections use them. 0, or the
 * error of tls_api_create (the contexts in use then stay). */
int tls_api_reload(tls_api_t *t);

/* A new reference to the default context of the current generation; the
 * caller frees it with SSL_CTX_free() once SSL_new() took its own. */
SSL_CTX *tls_api_ctx(void *t);

/* Reloads that took effect since creation. */
unsigned tls_api_generation(const tls_api_t *t);

void tls_api_free(tls_api_t *t);

#endif
