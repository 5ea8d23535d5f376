/*
 * http_tls.c - HTTPS: TLS between the socket and the parser of one
 * connection.
 *
 * The socket stays libuv's; OpenSSL sees two memory BIOs (the h2o /
 * libcouchbase pattern, as node/tls/tls.c does for the replication links).
 * Ciphertext from a read goes into the read BIO; the handshake advances, and
 * once it is done SSL_read decrypts into the connection's rbuf, from where
 * llhttp parses exactly as on a plain connection. Decryption stops when
 * rbuf is full: the rest stays in OpenSSL (at most one read's worth, since
 * the connection stops reading until rbuf has room again, tls_room_wait),
 * and the parser pulls it in when it has consumed what it had.
 *
 * Responses are encrypted into the write BIO (head and a small body in one
 * record, a large body in slices) and leave through http_resp.c's writer; a
 * body is never borrowed here, its ciphertext is the copy. Alerts, session tickets and
 * close_notify leave the same way.
 *
 * Errors close the connection; they are counted (tls_failures) and logged
 * at debug level only, since any client can cause them at will.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "http_int.h"
#include "kv_log.h"

/* A head and body up to this size are encrypted as one record. */
#define HTTP__TLS_ONE_RECORD_BYTES (16u * 1024u)
/* A larger answer is encrypted and handed to the socket writer in slices of
 * this size. */
#define HTTP__TLS_WRITE_SLICE_BYTES (256u * 1024u)

int http__tls_start(http_conn_t *c)
{
    const http_config_t *cfg = &c->loop->srv->cfg;
    SSL_CTX *ctx = cfg->tls_ctx(cfg->tls_ctx_arg);

    if (!ctx)
        return -ENOMEM;
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        SSL_free(ssl);
        return -ENOMEM;
    }
    /* An empty memory BIO means "no data yet", not end of file. */
    BIO_set_mem_eof_return(rb, -1);
    BIO_set_mem_eof_return(wb, -1);
    SSL_set_bio(ssl, rb, wb);
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->req.tls = true;
    return 0;
}

void http__tls_free(http_conn_t *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
}

/* Send what OpenSSL produced. False when the connection closed. */
static bool http__tls_flush(http_conn_t *c)
{
    if (BIO_ctrl_pending(SSL_get_wbio(c->ssl)) == 0)
        return !c->closing;
    return http__conn_write_bio(c, SSL_get_wbio(c->ssl)) == 0;
}

static void http__tls_fail(http_conn_t *c, const char *what, int err)
{
    char detail[256];
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, detail, sizeof detail);
    else
        snprintf(detail, sizeof detail, "SSL error %d", err);
    ERR_clear_error();
    HTTP__STAT_ADD(c->loop, tls_failures, 1);
    KV_LOG_DEBUG(HTTP_LOG, "https: %s: %s", what, detail);
    /* An alert OpenSSL queued tells the client why; best effort. */
    if (!c->closing)
        (void)http__tls_flush(c);
    http__conn_close(c);
}

void http__tls_input(http_conn_t *c, const char *data, size_t len)
{
    if (BIO_write(SSL_get_rbio(c->ssl), data, (int)len) != (int)len)
        http__tls_fail(c, "read buffer", 0);
}

bool http__tls_input_waiting(const http_conn_t *c)
{
    return c->ssl && c->tls_room_wait && c->rbuf_len - c->rbuf_off < KV_HTTP_READ_BUF_BYTES;
}

/* Advance the handshake, then decrypt into rbuf what fits. False when the
 * connection closed. */
bool http__tls_pump(http_conn_t *c)
{
    if (c->closing)
        return false;
    if (!c->tls_done) {
        int rc = SSL_do_handshake(c->ssl);
        if (rc != 1) {
            int err = SSL_get_error(c->ssl, rc);
            if (err == SSL_ERROR_WANT_READ)
                return http__tls_flush(c);
            http__tls_fail(c, "handshake", err);
            return false;
        }
        c->tls_done = true;
        HTTP__STAT_ADD(c->loop, tls_handshakes, 1);
        if (SSL_session_reused(c->ssl))
            HTTP__STAT_ADD(c->loop, tls_resumed, 1);
    }
    if (c->rbuf_off > 0) {
        memmove(c->rbuf, c->rbuf + c->rbuf_off, c->rbuf_len - c->rbuf_off);
        c->rbuf_len -= c->rbuf_off;
        c->rbuf_off = 0;
    }
    c->tls_room_wait = false;
    while (!c->peer_eof) {
        size_t room = KV_HTTP_READ_BUF_BYTES - c->rbuf_len, got = 0;
        if (room == 0) {
            c->tls_room_wait =
                SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(c->ssl)) > 0;
            break;
        }
        int rc = SSL_read_ex(c->ssl, c->rbuf + c->rbuf_len, room, &got);
        if (rc == 1) {
            c->rbuf_len += got;
            continue;
        }
        int err = SSL_get_error(c->ssl, rc);
        if (err == SSL_ERROR_WANT_READ)
            break;
        if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify: the client's FIN */
            c->peer_eof = true;
            break;
        }
        http__tls_fail(c, "read", err);
        return false;
    }
    return http__tls_flush(c); /* session tickets after the handshake, key updates */
}

/* The write BIO after a large answer: its buffer never shrinks, so it is
 * replaced rather than kept at its peak for the connection's life. */
static void http__tls_wbio_trim(http_conn_t *c)
{
    BIO *fresh = BIO_new(BIO_s_mem());
    if (!fresh)
        return; /* keep the big one; nothing is lost */
    BIO_set_mem_eof_return(fresh, -1);
    SSL_set0_wbio(c->ssl, fresh);
}

void http__tls_write(http_conn_t *c, const char *head, size_t head_len, const void *body,
                     size_t body_len)
{
    size_t done;

    if (head_len + body_len <= HTTP__TLS_ONE_RECORD_BYTES) {
        char one[HTTP__TLS_ONE_RECORD_BYTES];
        memcpy(one, head, head_len);
        if (body_len)
            memcpy(one + head_len, body, body_len);
        if (SSL_write_ex(c->ssl, one, head_len + body_len, &done) != 1) {
            http__tls_fail(c, "write", SSL_get_error(c->ssl, 0));
            return;
        }
        (void)http__tls_flush(c);
        return;
    }
    /* A large answer is encrypted a slice at a time, each slice's
     * ciphertext moved out before the next: OpenSSL's buffer stays small. */
    const char *parts[2] = {head, body};
    size_t lens[2] = {head_len, body_len};
    for (int i = 0; i < 2; i++) {
        for (size_t off = 0; off < lens[i] && !c->closing;) {
            size_t n = lens[i] - off < HTTP__TLS_WRITE_SLICE_BYTES ? lens[i] - off
                                                                   : HTTP__TLS_WRITE_SLICE_BYTES;
            if (SSL_write_ex(c->ssl, parts[i] + off, n, &done) != 1) {
                http__tls_fail(c, "write", SSL_get_error(c->ssl, 0));
                return;
            }
            off += n;
            if (!http__tls_flush(c))
                return;
        }
    }
    if (!c->closing)
        http__tls_wbio_trim(c);
}

/* The last answer is out: close_notify, then the caller's FIN. */
void http__tls_shutdown(http_conn_t *c)
{
    if (!c->tls_done || c->closing)
        return;
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    (void)http__tls_flush(c);
}
