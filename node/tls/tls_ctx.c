/*
 * tls_ctx.c - TLS contexts and the certificate checks of tls.h: TLS 1.3
 * only, the cluster CA as the only trust anchor, mutual authentication, the
 * peer's role read from its CA-signed subject, and the OpenSSL error queue
 * turned into log text. Connections live in tls.c.
 */
#include "tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

/* Chain depth past the peer certificate: the CA, plus one intermediate
 * should an operator ever use one. */
#define TLS__VERIFY_DEPTH 2
/* Session tickets per handshake: one, as the client's proof that the server
 * accepted its certificate (tls.h); it is never used to resume. */
#define TLS__TICKETS 1

static const unsigned char TLS__SID_CTX[] = "edgekv-repl";

const char *tls_role_name(tls_role_t role)
{
    switch (role) {
    case TLS_ROLE_ORIGIN:
        return "origin";
    case TLS_ROLE_EDGE:
        return "edge";
    case TLS_ROLE_RELAY:
        return "relay";
    default:
        return "none";
    }
}

unsigned tls_peer_roles(tls_role_t own, bool is_server)
{
    const unsigned downstream = 1u << TLS_ROLE_EDGE | 1u << TLS_ROLE_RELAY;
    const unsigned upstream = 1u << TLS_ROLE_ORIGIN | 1u << TLS_ROLE_RELAY;
    switch (own) {
    case TLS_ROLE_ORIGIN:
        return is_server ? downstream : 0;
    case TLS_ROLE_RELAY:
        return is_server ? downstream : upstream;
    case TLS_ROLE_EDGE:
        return is_server ? 0 : upstream;
    default:
        return 0;
    }
}

/* "origin or relay" for a mask of tls_peer_roles, into buf. */
static const char *tls__roles_text(unsigned mask, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (tls_role_t r = TLS_ROLE_ORIGIN; r <= TLS_ROLE_RELAY; r++)
        if (mask & 1u << r)
            off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", off ? " or " : "",
                                    tls_role_name(r));
    return mask ? buf : "none";
}

tls_role_t tls_ctx_role(const tls_ctx_t *ctx)
{
    return ctx->role;
}

void tls_ctx_allow_candidates(tls_ctx_t *ctx)
{
    if (ctx->role == TLS_ROLE_ORIGIN)
        ctx->candidates = true;
}

unsigned long tls__drain_errors(char *buf, size_t len)
{
    unsigned long e, first = 0;
    const char *data;
    int flags;
    size_t used = buf ? strnlen(buf, len) : 0;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char one[200];
        int w;

        if (!first)
            first = e;
        if (!buf || used + 1 >= len)
            continue;
        ERR_error_string_n(e, one, sizeof one);
        if (!(flags & ERR_TXT_STRING) || !data)
            data = "";
        w = snprintf(buf + used, len - used, "%s%s%s%s", used ? "; " : "", one, *data ? ": " : "",
                     data);
        used = w < 0 ? used : (size_t)w + used >= len ? len - 1 : used + (size_t)w;
    }
    return first;
}

/* The value of the single entry `nid` of `subj` into out/len. 0, or -1 when
 * absent, -2 when there is more than one. */
static int tls__name_entry(X509_NAME *subj, int nid, const unsigned char **out, int *len)
{
    int i = X509_NAME_get_index_by_NID(subj, nid, -1);
    const ASN1_STRING *s;

    if (i < 0)
        return -1;
    if (X509_NAME_get_index_by_NID(subj, nid, i) >= 0)
        return -2;
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
    *out = ASN1_STRING_get0_data(s);
    *len = ASN1_STRING_length(s);
    return 0;
}

static bool tls__bytes_eq(const unsigned char *p, int len, const char *s)
{
    return len >= 0 && (size_t)len == strlen(s) && memcmp(p, s, (size_t)len) == 0;
}

static bool tls__name_ok(const unsigned char *p, int len)
{
    if (len < 1 || len > KV_TLS_PEER_NAME_MAX)
        return false;
    for (int i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

int tls__cert_identity(X509 *cert, tls_role_t *role, char name[KV_TLS_PEER_NAME_MAX + 1], char *why,
                       size_t why_len)
{
    X509_NAME *subj = cert ? X509_get_subject_name(cert) : NULL;
    const unsigned char *p = NULL;
    int len = 0, rc;

    if (!subj) {
        snprintf(why, why_len, "no certificate");
        return KV_EINVAL;
    }
    /* The role: exactly one organizationalUnit, byte-for-byte one of ours
     * (another string type or extra bytes do not match). */
    rc = tls__name_entry(subj, NID_organizationalUnitName, &p, &len);
    if (rc != 0) {
        snprintf(why, why_len,
                 rc == -1 ? "no edgekv role (organizationalUnit) in the subject"
                          : "more than one organizationalUnit in the subject");
        return KV_EINVAL;
    }
    if (tls__bytes_eq(p, len, TLS_ROLE_OU_ORIGIN))
        *role = TLS_ROLE_ORIGIN;
    else if (tls__bytes_eq(p, len, TLS_ROLE_OU_EDGE))
        *role = TLS_ROLE_EDGE;
    else if (tls__bytes_eq(p, len, TLS_ROLE_OU_RELAY))
        *role = TLS_ROLE_RELAY;
    else {
        snprintf(why, why_len, "organizationalUnit is not an edgekv role");
        return KV_EINVAL;
    }
    rc = tls__name_entry(subj, NID_commonName, &p, &len);
    if (rc != 0 || !tls__name_ok(p, len)) {
        snprintf(why, why_len,
                 rc == -1   ? "no commonName (node name) in the subject"
                 : rc == -2 ? "more than one commonName in the subject"
                            : "commonName is not a valid node name");
        return KV_EINVAL;
    }
    memcpy(name, p, (size_t)len);
    name[len] = '\0';
    return 0;
}

int tls__verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_conn_t *c = ssl ? SSL_get_app_data(ssl) : NULL;
    char why[128], name[KV_TLS_PEER_NAME_MAX + 1];
    tls_role_t role = TLS_ROLE_NONE;

    if (!c)
        return 0;
    if (!preverify_ok) {
        int err = X509_STORE_CTX_get_error(store);
        if (!c->error[0])
            snprintf(c->error, sizeof c->error, "peer certificate%s: %s",
                     X509_STORE_CTX_get_error_depth(store) > 0 ? " chain" : "",
                     X509_verify_cert_error_string(err));
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1;
    /* The leaf passed OpenSSL's checks (chain to our CA, validity window,
     * purpose): now its role. */
    if (tls__cert_identity(X509_STORE_CTX_get_current_cert(store), &role, name, why, sizeof why)) {
        snprintf(c->error, sizeof c->error, "peer certificate: %s", why);
    } else if (!(c->want_roles & 1u << role)) {
        char want[64];
        snprintf(c->error, sizeof c->error, "peer role %s where %s expected", tls_role_name(role),
                 tls__roles_text(c->want_roles, want, sizeof want));
    } else {
        return 1;
    }
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* Client side: a session ticket arrived, so the server accepted our
 * certificate. We do not keep the session (return 0: OpenSSL frees it). */
static int tls__new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    tls_conn_t *c = SSL_get_app_data(ssl);
    (void)sess;
    if (c)
        c->hs_accepted = true;
    return 0;
}

/* Server side: never resume. A resumed session would skip the certificate
 * checks of this connection; every link is long-lived, so a full handshake
 * costs nothing worth saving. */
static SSL_TICKET_RETURN tls__ticket_decrypt_cb(SSL *ssl, SSL_SESSION *sess,
                                                const unsigned char *keyname, size_t keyname_len,
                                                SSL_TICKET_STATUS status, void *arg)
{
    (void)ssl, (void)sess, (void)keyname, (void)keyname_len, (void)status, (void)arg;
    return SSL_TICKET_RETURN_IGNORE;
}

static int tls__config_error(const char *what, const char *path)
{
    char detail[TLS__REASON_MAX] = "";
    tls__drain_errors(detail, sizeof detail);
    KV_LOG_ERROR("tls", "%s %s%s%s", what, path, detail[0] ? ": " : "", detail);
    return KV_ECONFIG;
}

/* Our own certificate must carry our role: a node started with the wrong
 * files would otherwise only fail at its peers. */
static int tls__check_own_cert(SSL_CTX *s, tls_role_t role, const char *cert_file)
{
    X509 *x = SSL_CTX_get0_certificate(s);
    char why[128], name[KV_TLS_PEER_NAME_MAX + 1];
    tls_role_t have = TLS_ROLE_NONE;

    if (tls__cert_identity(x, &have, name, why, sizeof why) != 0) {
        KV_LOG_ERROR("tls", "certificate %s: %s", cert_file, why);
        return KV_ECONFIG;
    }
    if (have != role) {
        KV_LOG_ERROR("tls", "certificate %s has role %s, but this node is %s %s", cert_file,
                     tls_role_name(have), role == TLS_ROLE_RELAY ? "a" : "an", tls_role_name(role));
        return KV_ECONFIG;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
        KV_LOG_WARN("tls", "certificate %s (%s) has expired: peers will refuse it", cert_file,
                    name);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
        KV_LOG_WARN("tls", "certificate %s (%s) is not valid yet: peers will refuse it", cert_file,
                    name);
    return 0;
}

static int tls__load(SSL_CTX *s, tls_role_t role, const char *ca, const char *cert, const char *key)
{
    STACK_OF(X509_NAME) * cas;

    if (SSL_CTX_load_verify_locations(s, ca, NULL) != 1)
        return tls__config_error("cannot load the cluster CA", ca);
    if (SSL_CTX_use_certificate_chain_file(s, cert) != 1)
        return tls__config_error("cannot load the certificate", cert);
    if (SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1)
        return tls__config_error("cannot load the private key", key);
    if (SSL_CTX_check_private_key(s) != 1)
        return tls__config_error("the private key does not match the certificate", cert);
    /* Tell clients which CA we want (TLS 1.3 certificate_authorities). */
    if ((cas = SSL_load_client_CA_file(ca)) != NULL)
        SSL_CTX_set_client_CA_list(s, cas);
    ERR_clear_error();
    return tls__check_own_cert(s, role, cert);
}

int tls_ctx_create(tls_role_t role, const char *ca_file, const char *cert_file,
                   const char *key_file, tls_ctx_t **out)
{
    tls_ctx_t *ctx;
    SSL_CTX *s;
    int rc;

    if (!out || (role != TLS_ROLE_ORIGIN && role != TLS_ROLE_EDGE && role != TLS_ROLE_RELAY) ||
        !ca_file || !cert_file || !key_file)
        return KV_EINVAL;
    if (!(ctx = kv_calloc(1, sizeof *ctx)))
        return -ENOMEM;
    ERR_clear_error();
    if (!(s = SSL_CTX_new(TLS_method()))) {
        tls__drain_errors(NULL, 0);
        kv_free(ctx);
        return -ENOMEM;
    }
    if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_session_id_context(s, TLS__SID_CTX, sizeof TLS__SID_CTX - 1) != 1 ||
        SSL_CTX_set_num_tickets(s, TLS__TICKETS) != 1 ||
        SSL_CTX_set_session_ticket_cb(s, NULL, tls__ticket_decrypt_cb, NULL) != 1) {
        rc = tls__config_error("cannot configure TLS 1.3 for", cert_file);
        goto fail;
    }
    if ((rc = tls__load(s, role, ca_file, cert_file, key_file)) != 0)
        goto fail;
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls__verify_cb);
    SSL_CTX_set_verify_depth(s, TLS__VERIFY_DEPTH);
    /* No server-side cache (we never resume); the client "cache" only exists
     * so that tls__new_session_cb sees the server's ticket. */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(s, tls__new_session_cb);
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    ctx->ssl = s;
    ctx->role = role;
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(s);
    kv_free(ctx);
    return rc;
}

void tls_ctx_free(tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    kv_free(ctx);
}
