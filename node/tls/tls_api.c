/*
 * tls_api.c - HTTPS server contexts for the API port (tls_api.h).
 *
 * A generation is what one load of the files made: one SSL_CTX per
 * certificate/key pair. The first (default) context carries the generation
 * as ex_data and frees it, alternatives included, when OpenSSL frees that
 * context, i.e. once the generation was replaced and its last connection
 * closed (an SSL keeps its original context as the session context even
 * after SNI switched it to an alternative). The ticket key ring belongs to
 * the tls_api_t and outlives every generation.
 */
#include "tls_api.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "tls_int.h"

#define TLS_API_LOG "https"
/* Tickets a TLS 1.3 server sends after a full handshake (OpenSSL's default
 * is 2; one is enough for a client that reconnects). */
#define TLS_API_TLS13_TICKETS     1
#define TLS_API_TICKET_NAME_BYTES 16
#define TLS_API_TICKET_AES_BYTES  32
#define TLS_API_TICKET_HMAC_BYTES 32
/* session_id_context: OpenSSL refuses resumption with client verification
 * unless it is set; any constant of the server's choice will do. */
static const unsigned char tls_api__sid_ctx[] = "edgekv-api";

typedef struct {
    unsigned char name[TLS_API_TICKET_NAME_BYTES];
    unsigned char aes[TLS_API_TICKET_AES_BYTES];
    unsigned char hmac[TLS_API_TICKET_HMAC_BYTES];
    uint64_t created_s; /* monotonic seconds; 0: slot empty */
} tls_api_key_t;

typedef struct {
    SSL_CTX *ctx[TLS_API_PAIRS_MAX]; /* [0] is the default and owns this struct */
    size_t n;
} tls_api_gen_t;

struct tls_api {
    char *certs[TLS_API_PAIRS_MAX], *keys[TLS_API_PAIRS_MAX], *client_ca;
    size_t pairs;
    unsigned rotate_s;
    uv_mutex_t lock; /* guards current, generation and ring */
    SSL_CTX *current;
    unsigned generation;
    tls_api_key_t ring[TLS_API_TICKET_KEYS]; /* [0] seals new tickets */
};

static int tls_api__gen_idx = -1; /* on a default SSL_CTX: its tls_api_gen_t */
static int tls_api__api_idx = -1; /* on every SSL_CTX: its tls_api_t */
static uv_once_t tls_api__once = UV_ONCE_INIT;

static void tls_api__gen_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                              void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    tls_api_gen_t *g = ptr;
    if (!g)
        return;
    for (size_t i = 1; i < g->n; i++)
        SSL_CTX_free(g->ctx[i]);
    kv_free(g);
}

static void tls_api__init_once(void)
{
    tls_api__gen_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_api__gen_free);
    tls_api__api_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static uint64_t tls_api__now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec + 1; /* never 0: 0 marks an empty slot */
}

static void tls_api__log_ssl(const char *what, const char *file)
{
    char detail[TLS__REASON_MAX] = "";
    tls__drain_errors(detail, sizeof detail);
    KV_LOG_ERROR(TLS_API_LOG, "%s %s: %s", what, file, detail[0] ? detail : "unknown error");
}

/* ---- ticket keys ------------------------------------------------------------------- */

static int tls_api__key_new(tls_api_key_t *k)
{
    if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_bytes(k->aes, sizeof k->aes) != 1 ||
        RAND_bytes(k->hmac, sizeof k->hmac) != 1)
        return -1;
    k->created_s = tls_api__now_s();
    return 0;
}

/* Under the lock: start a new key when the current one is due. */
static void tls_api__rotate(tls_api_t *t)
{
    uint64_t now = tls_api__now_s();
    if (t->ring[0].created_s && now - t->ring[0].created_s < t->rotate_s)
        return;
    tls_api_key_t fresh;
    if (tls_api__key_new(&fresh) != 0)
        return; /* keep sealing with the old key */
    memmove(&t->ring[1], &t->ring[0], sizeof t->ring[0] * (TLS_API_TICKET_KEYS - 1));
    t->ring[0] = fresh;
}

static int tls_api__mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[3];
    params[0] =
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, TLS_API_TICKET_HMAC_BYTES);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "sha256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's ticket callback: seal with the current key (enc), open with any
 * key of the ring (2 = accepted, please renew: an older key). */
static int tls_api__ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
                              EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    tls_api_t *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), tls_api__api_idx);
    tls_api_key_t k;
    int rc = 1;

    if (!t)
        return -1;
    uv_mutex_lock(&t->lock);
    if (enc) {
        tls_api__rotate(t);
        k = t->ring[0];
    } else {
        rc = 0; /* unknown key: a full handshake */
        for (size_t i = 0; i < TLS_API_TICKET_KEYS; i++) {
            if (t->ring[i].created_s &&
                memcmp(t->ring[i].name, key_name, TLS_API_TICKET_NAME_BYTES) == 0) {
                k = t->ring[i];
                rc = i == 0 ? 1 : 2;
                break;
            }
        }
    }
    uv_mutex_unlock(&t->lock);
    if (enc) {
        if (!k.created_s || RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
            return -1;
        memcpy(key_name, k.name, TLS_API_TICKET_NAME_BYTES);
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
            tls_api__mac_init(hctx, k.hmac) != 0)
            rc = -1;
    } else if (rc > 0) {
        if (tls_api__mac_init(hctx, k.hmac) != 0 ||
            EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
            rc = -1;
    }
    OPENSSL_cleanse(&k, sizeof k);
    return rc;
}

/* ---- contexts ---------------------------------------------------------------------- */

static int tls_api__alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                            const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel;
    (void)s, (void)arg;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof http11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The client's server name picks the first pair whose certificate matches
 * it; no name, or no match, keeps the default (the client then judges). */
static int tls_api__sni_cb(SSL *s, int *alert, void *arg)
{
    const tls_api_gen_t *g = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    if (!name || !g)
        return SSL_TLSEXT_ERR_OK;
    size_t len = strlen(name);
    for (size_t i = 0; i < g->n; i++) {
        X509 *leaf = SSL_CTX_get0_certificate(g->ctx[i]);
        if (leaf && X509_check_host(leaf, name, len, 0, NULL) == 1) {
            if (i > 0)
                SSL_set_SSL_CTX(s, g->ctx[i]);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

/* One context for one pair; NULL with the reason logged. */
static SSL_CTX *tls_api__ctx_new(tls_api_t *t, const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_api__log_ssl("cannot create a TLS context for", cert);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets only */
    SSL_CTX_set_num_tickets(ctx, TLS_API_TLS13_TICKETS);
    SSL_CTX_set_timeout(ctx, (long)t->rotate_s * TLS_API_TICKET_KEYS);
    SSL_CTX_set_session_id_context(ctx, tls_api__sid_ctx, sizeof tls_api__sid_ctx - 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_api__ticket_cb);
    SSL_CTX_set_alpn_select_cb(ctx, tls_api__alpn_cb, NULL);
    SSL_CTX_set_ex_data(ctx, tls_api__api_idx, t);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_api__log_ssl("cannot load the certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        tls_api__log_ssl("cannot load the key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_api__log_ssl("the key does not match the certificate", cert);
        goto fail;
    }
    if (t->client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            tls_api__log_ssl("cannot load the client CA", t->client_ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Load every pair into a new generation; its default context, or NULL. */
static SSL_CTX *tls_api__load(tls_api_t *t)
{
    tls_api_gen_t *g = kv_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    for (size_t i = 0; i < t->pairs; i++) {
        g->ctx[i] = tls_api__ctx_new(t, t->certs[i], t->keys[i]);
        if (!g->ctx[i]) {
            g->n = i;
            goto fail;
        }
    }
    g->n = t->pairs;
    if (SSL_CTX_set_ex_data(g->ctx[0], tls_api__gen_idx, g) != 1)
        goto fail;
    if (g->n > 1) {
        SSL_CTX_set_tlsext_servername_callback(g->ctx[0], tls_api__sni_cb);
        SSL_CTX_set_tlsext_servername_arg(g->ctx[0], g);
    }
    return g->ctx[0];
fail:
    for (size_t i = 0; i < g->n; i++)
        SSL_CTX_free(g->ctx[i]);
    kv_free(g);
    return NULL;
}

/* ---- the public face ----------------------------------------------------------------- */

static void tls_api__strings_free(tls_api_t *t)
{
    for (size_t i = 0; i < TLS_API_PAIRS_MAX; i++) {
        kv_free(t->certs[i]);
        kv_free(t->keys[i]);
    }
    kv_free(t->client_ca);
}

int tls_api_create(const tls_api_config_t *cfg, tls_api_t **out)
{
    *out = NULL;
    if (!cfg || !cfg->cert_files || !cfg->key_files || cfg->pair_count < 1 ||
        cfg->pair_count > TLS_API_PAIRS_MAX)
        return KV_EINVAL;
    uv_once(&tls_api__once, tls_api__init_once);
    if (tls_api__gen_idx < 0 || tls_api__api_idx < 0)
        return -ENOMEM;
    tls_api_t *t = kv_calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->pairs = cfg->pair_count;
    t->rotate_s = cfg->ticket_rotate_s ? cfg->ticket_rotate_s : TLS_API_TICKET_ROTATE_S_DEFAULT;
    bool oom = false;
    for (size_t i = 0; i < t->pairs; i++) {
        if (!cfg->cert_files[i] || !cfg->key_files[i]) {
            tls_api__strings_free(t);
            kv_free(t);
            return KV_EINVAL;
        }
        t->certs[i] = kv_strndup(cfg->cert_files[i], strlen(cfg->cert_files[i]));
        t->keys[i] = kv_strndup(cfg->key_files[i], strlen(cfg->key_files[i]));
        oom |= !t->certs[i] || !t->keys[i];
    }
    if (cfg->client_ca_file) {
        t->client_ca = kv_strndup(cfg->client_ca_file, strlen(cfg->client_ca_file));
        oom |= !t->client_ca;
    }
    if (oom || uv_mutex_init(&t->lock) != 0) {
        tls_api__strings_free(t);
        kv_free(t);
        return -ENOMEM;
    }
    if (tls_api__key_new(&t->ring[0]) != 0 || !(t->current = tls_api__load(t))) {
        tls_api_free(t);
        return KV_ECONFIG;
    }
    *out = t;
    return 0;
}

int tls_api_reload(tls_api_t *t)
{
    SSL_CTX *fresh = tls_api__load(t);
    if (!fresh)
        return KV_ECONFIG;
    uv_mutex_lock(&t->lock);
    SSL_CTX *old = t->current;
    t->current = fresh;
    t->generation++;
    uv_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* connections made from it keep their references */
    return 0;
}

SSL_CTX *tls_api_ctx(void *arg)
{
    tls_api_t *t = arg;
    uv_mutex_lock(&t->lock);
    SSL_CTX *ctx = t->current;
    SSL_CTX_up_ref(ctx);
    uv_mutex_unlock(&t->lock);
    return ctx;
}

unsigned tls_api_generation(const tls_api_t *t)
{
    uv_mutex_lock((uv_mutex_t *)&t->lock);
    unsigned g = t->generation;
    uv_mutex_unlock((uv_mutex_t *)&t->lock);
    return g;
}

void tls_api_free(tls_api_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->current);
    OPENSSL_cleanse(t->ring, sizeof t->ring);
    uv_mutex_destroy(&t->lock);
    tls_api__strings_free(t);
    kv_free(t);
}
