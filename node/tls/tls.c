/*
 * tls.c - TLS connections of tls.h: libuv reads feed a memory BIO that
 * SSL_read decrypts; SSL_write fills a second memory BIO that leaves with
 * uv_write. OpenSSL never sees the socket.
 *
 * Writes are borrowed (or copied) plaintext buffers in a FIFO. The pump
 * encrypts them one record at a time, hands the ciphertext of up to
 * TLS__WRITE_BATCH_BYTES to one uv_write tagged with the plaintext it
 * carries, and stops while KV_TLS_CIPHER_INFLIGHT_MAX_BYTES of ciphertext are
 * still in the kernel's way; each completed uv_write reports its plaintext
 * through on_flushed and releases the writes it finished. A 25 MiB value thus
 * costs a few hundred KiB of ciphertext buffers, never a copy of itself.
 *
 * Not here: contexts and certificate checks (tls_ctx.c), framing, timers.
 */
#include "tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kv_assert.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

/* Ciphertext per uv_write: a few records, so a large write makes few
 * syscalls without holding much memory. */
#define TLS__WRITE_BATCH_BYTES (64u * 1024u)
_Static_assert(TLS__WRITE_BATCH_BYTES <= KV_TLS_CIPHER_INFLIGHT_MAX_BYTES,
               "a batch fits in flight");

/* One uv_write of ciphertext. */
typedef struct {
    uv_write_t req;
    size_t len;   /* ciphertext bytes */
    size_t plain; /* plaintext bytes whose ciphertext this carries */
    uint8_t data[];
} tls__cwrite_t;

static void tls__pump(tls_conn_t *c);

/* ---- failure and close ---------------------------------------------------------- */

static void tls__close_cb(uv_handle_t *h)
{
    tls_conn_t *c = h->data;
    int status = c->close_status;

    while (c->head) {
        tls__wreq_t *w = c->head;
        c->head = w->next;
        if (w->cb)
            w->cb(c, w->arg, UV_ECANCELED);
        kv_free(w->copy);
        kv_free(w);
    }
    c->tail = c->next = NULL;
    c->cbs.on_close(c, status, status ? c->error : "");
    SSL_free(c->ssl);
    kv_free(c);
}

static int tls__flush(tls_conn_t *c, size_t plain);

/* Stop reading, send what OpenSSL left in the write BIO (an alert, our
 * close_notify), close the socket. */
static void tls__begin_close(tls_conn_t *c, bool notify)
{
    KV_ASSERT(!c->closing);
    c->closing = true;
    if (c->started) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        if (notify && c->hs_local) {
            ERR_clear_error();
            SSL_shutdown(c->ssl);
            ERR_clear_error();
        }
        /* uv_write tries to write at once when nothing is queued before it,
         * so this usually leaves before uv_close cancels it. */
        if (BIO_ctrl_pending(c->wbio) > 0)
            (void)tls__flush(c, 0);
    }
    uv_close((uv_handle_t *)&c->tcp, tls__close_cb);
}

static void tls__fail(tls_conn_t *c, int status, const char *reason)
{
    bool report;

    if (c->closing)
        return;
    if (!c->error[0])
        snprintf(c->error, sizeof c->error, "%s", reason);
    report = !c->hs_reported;
    if (report)
        KV_LOG_WARN("tls", "%s handshake with %s failed: %s%s%s%s",
                    c->is_server ? "server" : "client", c->peer_addr, c->error,
                    c->detail[0] ? " (openssl: " : "", c->detail, c->detail[0] ? ")" : "");
    else if (status == UV_EOF)
        KV_LOG_DEBUG("tls", "%s %s: %s", tls_role_name(c->peer_role), c->peer_name, c->error);
    else
        KV_LOG_WARN("tls", "connection with %s %s (%s) failed: %s%s%s%s",
                    tls_role_name(c->peer_role), c->peer_name, c->peer_addr, c->error,
                    c->detail[0] ? " (openssl: " : "", c->detail, c->detail[0] ? ")" : "");
    c->close_status = status;
    c->hs_reported = true;
    tls__begin_close(c, false);
    if (report)
        c->cbs.on_handshake(c, status);
}

static bool tls__alert_refuses_cert(int alert)
{
    switch (alert) {
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* Turn a failed SSL_* call into a status and the connection's reason text,
 * draining the error queue into c->detail. */
static int tls__ssl_error(tls_conn_t *c, int ssl_err, const char *what)
{
    unsigned long first = tls__drain_errors(c->detail, sizeof c->detail);
    int reason = first ? ERR_GET_REASON(first) : 0;

    if (c->error[0]) /* the verify callback explained it */
        return -EACCES;
    if (first && ERR_GET_LIB(first) == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET) {
        int alert = reason - SSL_AD_REASON_OFFSET;
        bool refused = !c->hs_reported && tls__alert_refuses_cert(alert);
        snprintf(c->error, sizeof c->error, "%s (alert: %s)",
                 refused ? "peer refused the handshake" : "peer sent an alert",
                 SSL_alert_desc_string_long(alert));
        return refused ? -EACCES : -EPROTO;
    }
    if (first && ERR_GET_LIB(first) == ERR_LIB_SSL &&
        reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        snprintf(c->error, sizeof c->error, "peer sent no certificate");
        return -EACCES;
    }
    if (first && ERR_reason_error_string(first))
        snprintf(c->error, sizeof c->error, "%s failed: %s", what, ERR_reason_error_string(first));
    else
        snprintf(c->error, sizeof c->error, "%s failed: %s", what,
                 ssl_err == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS error");
    return -EPROTO;
}

/* ---- output --------------------------------------------------------------------- */

static void tls__complete(tls_conn_t *c)
{
    while (c->head && c->head->end <= c->plain_flushed) {
        tls__wreq_t *w = c->head;
        c->head = w->next;
        if (!c->head)
            c->tail = NULL;
        KV_ASSERT(c->next != w);
        if (w->cb)
            w->cb(c, w->arg, 0);
        kv_free(w->copy);
        kv_free(w);
    }
}

static void tls__write_cb(uv_write_t *req, int status)
{
    tls__cwrite_t *cw = (tls__cwrite_t *)req;
    tls_conn_t *c = req->handle->data;
    size_t plain = cw->plain;

    KV_ASSERT(c->cipher_inflight >= cw->len);
    c->cipher_inflight -= cw->len;
    kv_free(cw);
    if (status < 0) {
        if (!c->closing)
            tls__fail(c, status, uv_strerror(status));
        return;
    }
    if (plain > 0) {
        c->plain_flushed += plain;
        if (c->cbs.on_flushed)
            c->cbs.on_flushed(c, plain);
    }
    tls__complete(c);
    if (!c->closing)
        tls__pump(c);
}

/* Move everything in the write BIO into one uv_write carrying `plain`
 * plaintext bytes. */
static int tls__flush(tls_conn_t *c, size_t plain)
{
    size_t n = BIO_ctrl_pending(c->wbio);
    tls__cwrite_t *cw;
    uv_buf_t buf;
    int rc;

    if (n == 0) {
        KV_ASSERT(plain == 0);
        return 0;
    }
    if (!(cw = kv_malloc(sizeof *cw + n)))
        return -ENOMEM;
    rc = BIO_read(c->wbio, cw->data, (int)n);
    KV_ASSERT(rc == (int)n); /* a memory BIO hands out all it holds */
    cw->len = n;
    cw->plain = plain;
    buf = uv_buf_init((char *)cw->data, (unsigned)n);
    if ((rc = uv_write(&cw->req, (uv_stream_t *)&c->tcp, &buf, 1, tls__write_cb)) != 0) {
        kv_free(cw);
        return rc;
    }
    c->cipher_inflight += n;
    return 0;
}

/* Encrypt queued plaintext into one batch. 0, or a failure status. */
static int tls__encrypt_batch(tls_conn_t *c)
{
    while (c->next && BIO_ctrl_pending(c->wbio) < TLS__WRITE_BATCH_BYTES) {
        tls__wreq_t *w = c->next;
        size_t n = w->len - w->done;
        int r, e;

        if (n > KV_TLS_WRITE_CHUNK_BYTES)
            n = KV_TLS_WRITE_CHUNK_BYTES;
        ERR_clear_error();
        r = SSL_write(c->ssl, w->data + w->done, (int)n);
        if (r <= 0) {
            e = SSL_get_error(c->ssl, r);
            /* A memory BIO never blocks a write; WANT_READ would mean the
             * record layer waits for input first: retry after the next read
             * with the same arguments, as OpenSSL requires. */
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 1;
            return tls__ssl_error(c, e, "encryption");
        }
        w->done += (size_t)r;
        c->plain_encrypted += (uint64_t)r;
        if (w->done == w->len)
            c->next = w->next;
    }
    return 0;
}

/* Encrypt and send until the queue is empty or enough ciphertext is in
 * flight; also sends any protocol bytes OpenSSL left in the write BIO. */
static void tls__pump(tls_conn_t *c)
{
    while (!c->closing) {
        uint64_t before = c->plain_encrypted;
        bool more =
            c->established && c->next && c->cipher_inflight < KV_TLS_CIPHER_INFLIGHT_MAX_BYTES;
        int rc = more ? tls__encrypt_batch(c) : 0; /* <0 failed, 1 blocked */

        if (rc >= 0) {
            int frc = tls__flush(c, (size_t)(c->plain_encrypted - before));
            rc = frc ? frc : rc;
        }
        if (rc < 0) {
            tls__fail(c, rc, uv_strerror(rc));
            return;
        }
        if (!more || rc > 0)
            return;
    }
}

/* ---- input ---------------------------------------------------------------------- */

static void tls__maybe_report(tls_conn_t *c)
{
    if (c->hs_reported || c->closing || !c->hs_local || !c->hs_accepted)
        return;
    c->hs_reported = true;
    c->established = true;
    KV_LOG_DEBUG("tls", "%s side: %s %s (%s) authenticated", c->is_server ? "server" : "client",
                 tls_role_name(c->peer_role), c->peer_name, c->peer_addr);
    c->cbs.on_handshake(c, 0);
}

/* The certificate's serial as upper-case hex (OpenSSL's own spelling);
 * "" when it does not fit or cannot be converted. */
static void tls__serial_hex(X509 *cert, char *out, size_t cap)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    out[0] = '\0';
    if (hex && strlen(hex) < cap)
        memcpy(out, hex, strlen(hex) + 1);
    OPENSSL_free(hex);
    BN_free(bn);
}

/* Handshake finished on our side: record the verified peer identity. */
static int tls__handshake_done(tls_conn_t *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    char why[128];
    tls_role_t role = TLS_ROLE_NONE;

    /* The verify callback already refused anything else: this is a second
     * look at what the TLS stack finally kept. */
    if (SSL_get_verify_result(c->ssl) != X509_V_OK ||
        tls__cert_identity(peer, &role, c->peer_name, why, sizeof why) != 0 ||
        !(c->want_roles & 1u << role)) {
        c->peer_name[0] = '\0';
        snprintf(c->error, sizeof c->error, "peer certificate not verified");
        return -EACCES;
    }
    c->peer_role = role;
    tls__serial_hex(peer, c->peer_serial, sizeof c->peer_serial);
    c->hs_local = true;
    if (c->is_server) /* we judged the client last: nothing more to wait for */
        c->hs_accepted = true;
    return 0;
}

static int tls__handshake(tls_conn_t *c)
{
    int r, e;

    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return tls__handshake_done(c);
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return tls__ssl_error(c, e, "handshake");
}

/* SSL_read until the input is used up, the reader pauses or we close. */
static void tls__decrypt(tls_conn_t *c)
{
    c->in_read = true;
    while (!c->closing && !c->paused) {
        int n, e, rc;

        ERR_clear_error();
        n = SSL_read(c->ssl, c->pbuf, (int)sizeof c->pbuf);
        if (n > 0) {
            c->hs_accepted = true; /* data from the server proves it too */
            tls__maybe_report(c);
            if (!c->closing)
                c->cbs.on_data(c, c->pbuf, (size_t)n);
            continue;
        }
        e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            tls__maybe_report(c);
            break;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            tls__fail(c, UV_EOF, "peer closed the connection");
            break;
        }
        rc = tls__ssl_error(c, e, "decryption");
        tls__fail(c, rc, c->error);
        break;
    }
    c->in_read = false;
}

static void tls__process_input(tls_conn_t *c)
{
    if (!c->hs_local) {
        int rc = tls__handshake(c);
        if (rc < 0) {
            tls__fail(c, rc, c->error);
            return;
        }
        tls__maybe_report(c); /* the server: even if reading is paused */
    }
    if (c->hs_local)
        tls__decrypt(c);
    tls__pump(c);
}

static void tls__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    tls_conn_t *c = h->data;
    (void)hint;
    *buf = uv_buf_init((char *)c->rbuf, (unsigned)sizeof c->rbuf);
}

static void tls__read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tls_conn_t *c = s->data;

    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        const char *why = nread != UV_EOF   ? uv_strerror((int)nread)
                          : !c->hs_reported ? "connection closed during the handshake"
                                            : "peer closed without close_notify";
        tls__fail(c, (int)nread, why);
        return;
    }
    if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        tls__drain_errors(c->detail, sizeof c->detail);
        tls__fail(c, -ENOMEM, "out of memory");
        return;
    }
    tls__process_input(c);
}

/* ---- API ------------------------------------------------------------------------ */

int tls_conn_create(tls_ctx_t *ctx, uv_loop_t *loop, bool is_server, const tls_conn_cbs_t *cbs,
                    void *user, tls_conn_t **out)
{
    tls_conn_t *c;
    int rc;

    if (!ctx || !loop || !cbs || !cbs->on_handshake || !cbs->on_data || !cbs->on_close || !out)
        return KV_EINVAL;
    if (!(c = kv_calloc(1, sizeof *c)))
        return -ENOMEM;
    ERR_clear_error();
    c->ssl = SSL_new(ctx->ssl);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        tls__drain_errors(NULL, 0);
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        kv_free(c);
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait", not EOF */
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_app_data(c->ssl, c);
    if (is_server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    if ((rc = uv_tcp_init(loop, &c->tcp)) != 0) {
        SSL_free(c->ssl);
        kv_free(c);
        return rc;
    }
    c->tcp.data = c;
    c->cbs = *cbs;
    c->user = user;
    c->is_server = is_server;
    c->own_role = ctx->role;
    /* Who may be on the other end: one rule, tls_peer_roles. */
    c->want_roles = tls_peer_roles(ctx->role, is_server);
    if (ctx->candidates)
        c->want_roles |= 1u << TLS_ROLE_ORIGIN;
    snprintf(c->peer_addr, sizeof c->peer_addr, "(not connected)");
    *out = c;
    return 0;
}

uv_tcp_t *tls_conn_tcp(tls_conn_t *conn)
{
    return &conn->tcp;
}

int tls_conn_set_verify_host(tls_conn_t *c, const char *host)
{
    unsigned char ip[16];
    int ok;

    if (c->is_server || c->started || !host || !*host)
        return KV_EINVAL;
    ERR_clear_error();
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    else
        ok = SSL_set1_host(c->ssl, host);
    if (ok != 1) {
        tls__drain_errors(NULL, 0);
        return KV_EINVAL;
    }
    return 0;
}

static void tls__note_peer(tls_conn_t *c)
{
    struct sockaddr_storage sa;
    int len = (int)sizeof sa;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) != 0)
        return;
    if (sa.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
    } else if (sa.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    }
    snprintf(c->peer_addr, sizeof c->peer_addr, "%s:%d", ip, port);
}

int tls_conn_start(tls_conn_t *c)
{
    int rc;

    if (c->started || c->closing)
        return KV_EINVAL;
    tls__note_peer(c);
    (void)uv_tcp_nodelay(&c->tcp, 1); /* we batch ourselves; Nagle only adds delay */
    if ((rc = uv_read_start((uv_stream_t *)&c->tcp, tls__alloc_cb, tls__read_cb)) != 0)
        return rc;
    c->started = true;
    if (!c->is_server) {
        /* The ClientHello: cannot complete, only fail (out of memory). */
        if ((rc = tls__handshake(c)) < 0 || (rc = tls__flush(c, 0)) != 0) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->started = false;
            c->error[0] = c->detail[0] = '\0';
            return rc;
        }
    }
    return 0;
}

int tls_conn_write(tls_conn_t *c, const void *data, size_t len, tls_write_cb cb, void *arg)
{
    tls__wreq_t *w;

    if (!data || len == 0)
        return KV_EINVAL;
    if (c->closing)
        return -EPIPE;
    if (len > KV_TLS_WRITE_QUEUE_MAX_BYTES - tls_conn_queued_bytes(c))
        return KV_ELIMIT;
    if (!(w = kv_calloc(1, sizeof *w)))
        return -ENOMEM;
    if (!cb) {
        if (!(w->copy = kv_malloc(len))) {
            kv_free(w);
            return -ENOMEM;
        }
        memcpy(w->copy, data, len);
    }
    w->data = cb ? data : w->copy;
    w->len = len;
    w->cb = cb;
    w->arg = arg;
    c->plain_queued += len;
    w->end = c->plain_queued;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    if (!c->next)
        c->next = w;
    tls__pump(c); /* never calls back: callbacks come from uv_write */
    return 0;
}

size_t tls_conn_queued_bytes(const tls_conn_t *c)
{
    return (size_t)(c->plain_queued - c->plain_flushed);
}

void tls_conn_read_pause(tls_conn_t *c)
{
    if (c->paused)
        return;
    c->paused = true;
    if (c->started && !c->closing)
        uv_read_stop((uv_stream_t *)&c->tcp);
}

void tls_conn_read_resume(tls_conn_t *c)
{
    int rc;

    if (!c->paused)
        return;
    c->paused = false;
    if (!c->started || c->closing)
        return;
    if ((rc = uv_read_start((uv_stream_t *)&c->tcp, tls__alloc_cb, tls__read_cb)) != 0) {
        tls__fail(c, rc, uv_strerror(rc));
        return;
    }
    /* Input decrypted-ahead or still in the read BIO is delivered now; when
     * called from on_data the running loop picks it up instead. */
    if (!c->in_read && c->hs_local)
        tls__process_input(c);
}

void tls_conn_close(tls_conn_t *c)
{
    if (c->closing)
        return;
    c->close_status = 0;
    c->hs_reported = true; /* no on_handshake after a close */
    tls__begin_close(c, true);
}

/* `established` is never cleared, so on_close can still name the peer. */
tls_role_t tls_conn_peer_role(const tls_conn_t *c)
{
    return c->established ? c->peer_role : TLS_ROLE_NONE;
}

const char *tls_conn_peer_name(const tls_conn_t *c)
{
    return c->established ? c->peer_name : "";
}

const char *tls_conn_peer_serial(const tls_conn_t *c)
{
    return c->established ? c->peer_serial : "";
}

const char *tls_conn_error(const tls_conn_t *c)
{
    return c->error;
}

void *tls_conn_user(const tls_conn_t *c)
{
    return c->user;
}
