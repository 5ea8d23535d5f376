/*
 * http_resp.c - HTTP/1.1 responses: the head, the write, http_respond().
 *
 * A response is one head buffer and the body, written with one
 * uv_try_write of two buffers; only what the socket did not take at once is
 * queued with uv_write (the head's rest and, when the body is not borrowed,
 * the body's rest, copied into one allocation). The server's own errors
 * (400, 408, 414, 431, 500) go out the same way with Connection: close.
 * This file does not decide when a connection closes; http_conn.c does.
 */
#include <errno.h>
#include <string.h>

#include "http_int.h"
#include "kv_assert.h"
#include "kv_log.h"
#include "kv_mem.h"

/* Heads up to this size are built on the stack. */
#define HTTP__HEAD_STACK_BYTES 1024

/* A queued write: the bytes it owns follow the struct. */
typedef struct {
    uv_write_t w;
    http_conn_t *c;
    void (*release)(void *);
    void *release_arg;
    size_t bytes; /* unsent bytes it holds or borrows, counted in c->out_bytes */
    char data[];
} http_wr_t;

static void http__release(void (*release)(void *), void *arg)
{
    if (release)
        release(arg);
}

static void http__on_write(uv_write_t *w, int status)
{
    http_wr_t *wr = HTTP__CONTAINER_OF(w, http_wr_t, w);
    http_conn_t *c = wr->c;
    size_t bytes = wr->bytes;

    http__release(wr->release, wr->release_arg);
    kv_free(wr);
    c->writes_pending--;
    if (status < 0 && !c->closing)
        http__conn_close(c);
    http__conn_output_done(c, bytes);
}

/* Submit a write request whose bytes are ready in bufs; counts them. */
static int http__wr_submit(http_conn_t *c, http_wr_t *wr, uv_buf_t *bufs, unsigned n)
{
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, n, http__on_write);
    if (rc != 0) {
        kv_free(wr);
        return rc;
    }
    c->writes_pending++;
    /* Borrowed bodies count too: the application keeps them alive for us. */
    c->out_bytes += wr->bytes;
    HTTP__STAT_ADD(c->loop, out_bytes, wr->bytes);
    if (!c->out_blocked && c->out_bytes > c->loop->srv->cfg.output_max_bytes) {
        c->out_blocked = true;
        HTTP__STAT_ADD(c->loop, throttled, 1);
    }
    return 0;
}

/* Queue what uv_try_write left: `done` bytes of head+body are out. */
static int http__queue_rest(http_conn_t *c, size_t done, const char *head, size_t head_len,
                            const char *body, size_t body_len, void (*release)(void *), void *arg)
{
    size_t head_rest = done < head_len ? head_len - done : 0;
    size_t body_off = done > head_len ? done - head_len : 0;
    size_t body_rest = body_len - body_off;
    size_t own = head_rest + (release ? 0 : body_rest);
    uv_buf_t bufs[2];
    unsigned n = 0;

    http_wr_t *wr = kv_malloc(sizeof(*wr) + own);
    if (!wr)
        return -ENOMEM;
    wr->c = c;
    wr->release = release;
    wr->release_arg = arg;
    wr->bytes = head_rest + body_rest;
    memcpy(wr->data, head + head_len - head_rest, head_rest);
    if (!release && body_rest > 0)
        memcpy(wr->data + head_rest, body + body_off, body_rest);
    if (own > 0)
        bufs[n++] = uv_buf_init(wr->data, (unsigned)own);
    if (release && body_rest > 0)
        bufs[n++] = uv_buf_init((char *)body + body_off, (unsigned)body_rest);
    return http__wr_submit(c, wr, bufs, n);
}

/* Write head and body as they are (no TLS). */
static void http__write_plain(http_conn_t *c, const char *head, size_t head_len, const void *body,
                              size_t body_len, void (*release)(void *), void *release_arg)
{
    uv_buf_t bufs[2] = {uv_buf_init((char *)head, (unsigned)head_len),
                        uv_buf_init((char *)body, (unsigned)body_len)};
    int n = c->closing ? UV_ECANCELED
                       : uv_try_write((uv_stream_t *)&c->tcp, bufs, body_len > 0 ? 2 : 1);

    if (n == UV_EAGAIN)
        n = 0;
    if (n >= 0 && (size_t)n < head_len + body_len)
        n = http__queue_rest(c, (size_t)n, head, head_len, body, body_len, release, release_arg);
    else if (n >= 0)
        http__release(release, release_arg);
    if (n < 0) {
        http__release(release, release_arg);
        http__conn_close(c);
    }
}

/* Write head and body. The body is borrowed until release(arg), called
 * exactly once (also on error); with release NULL it is copied if needed. On
 * a write error the connection is closed. Over TLS the body is encrypted
 * (copied) at once. */
void http__conn_write(http_conn_t *c, const char *head, size_t head_len, const void *body,
                      size_t body_len, void (*release)(void *), void *release_arg)
{
    if (!c->ssl) {
        http__write_plain(c, head, head_len, body, body_len, release, release_arg);
        return;
    }
    if (!c->closing)
        http__tls_write(c, head, head_len, body, body_len);
    http__release(release, release_arg);
}

/* Ciphertext up to this size goes out through the stack when nothing is
 * queued (the usual answer); more, or behind queued writes, is moved into
 * one queued write. */
#define HTTP__BIO_STACK_BYTES (17u * 1024u)

int http__conn_write_bio(http_conn_t *c, BIO *b)
{
    size_t n;

    while (!c->closing && (n = BIO_ctrl_pending(b)) > 0) {
        if (c->writes_pending == 0 && n <= HTTP__BIO_STACK_BYTES) {
            char buf[HTTP__BIO_STACK_BYTES];
            int got = BIO_read(b, buf, (int)n);
            if (got <= 0)
                break;
            http__write_plain(c, buf, (size_t)got, NULL, 0, NULL, NULL);
            continue;
        }
        http_wr_t *wr = kv_malloc(sizeof(*wr) + n);
        if (!wr) {
            http__conn_close(c);
            break;
        }
        int got = BIO_read(b, wr->data, (int)n);
        if (got <= 0) {
            kv_free(wr);
            break;
        }
        wr->c = c;
        wr->release = NULL;
        wr->release_arg = NULL;
        wr->bytes = (size_t)got;
        uv_buf_t buf = uv_buf_init(wr->data, (unsigned)got);
        if (http__wr_submit(c, wr, &buf, 1) != 0)
            http__conn_close(c);
    }
    return c->closing ? -EPIPE : 0;
}

/* ---- the head --------------------------------------------------------------------- */

static char *http__put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *http__put_str(char *p, const char *s)
{
    return http__put(p, s, strlen(s));
}

static char *http__put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* 1xx, 204 and 304 carry no body and no Content-Length. */
static bool http__status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

/* Upper bound of the head's size. */
static size_t http__head_bound(const http_response_t *r, const char *reason)
{
    return sizeof("HTTP/1.1 000 \r\n") + strlen(reason) +
           sizeof("Content-Length: 18446744073709551615\r\n") +
           (r->content_type ? sizeof("Content-Type: \r\n") + strlen(r->content_type) : 0) +
           (r->headers ? r->headers_len : 0) + sizeof("Connection: keep-alive\r\n\r\n");
}

/* Status line, reason with CR/LF made spaces. */
static char *http__put_status(char *p, int status, const char *reason)
{
    p = http__put(p, "HTTP/1.1 ", 9);
    p = http__put_u64(p, (uint64_t)status);
    *p++ = ' ';
    for (; *reason; reason++)
        *p++ = (*reason == '\r' || *reason == '\n') ? ' ' : *reason;
    return http__put(p, "\r\n", 2);
}

static size_t http__head_build(char *out, const http_conn_t *c, const http_response_t *r,
                               int status, const char *reason, bool close)
{
    char *p = http__put_status(out, status, reason);

    if (http__status_has_body(status)) {
        p = http__put_str(p, "Content-Length: ");
        p = http__put_u64(p, r->body_len);
        p = http__put(p, "\r\n", 2);
    }
    if (r->content_type) {
        p = http__put_str(p, "Content-Type: ");
        p = http__put_str(p, r->content_type);
        p = http__put(p, "\r\n", 2);
    }
    if (r->headers)
        p = http__put(p, r->headers, r->headers_len);
    if (close)
        p = http__put_str(p, "Connection: close\r\n");
    else if (c->http10)
        p = http__put_str(p, "Connection: keep-alive\r\n");
    p = http__put(p, "\r\n", 2);
    return (size_t)(p - out);
}

/* Build the head and write the response. */
static void http__send(http_conn_t *c, const http_response_t *r, bool close)
{
    char stack[HTTP__HEAD_STACK_BYTES];
    int status = r->status;

    if (status < 100 || status > 999) {
        KV_LOG_ERROR(HTTP_LOG, "response status %d out of range; sending 500", status);
        status = 500;
    }
    const char *reason = r->reason ? r->reason : http_status_text(status);
    size_t bound = http__head_bound(r, reason);
    char *head = bound <= sizeof(stack) ? stack : kv_malloc(bound);
    if (!head) {
        http__release(r->body_release, r->body_release_arg);
        http__conn_close(c);
        return;
    }
    size_t head_len = http__head_build(head, c, r, status, reason, close);
    bool body = http__status_has_body(status) && !r->omit_body && c->req.method != HTTP_M_HEAD;
    http__conn_write(c, head, head_len, body ? r->body : NULL, body ? r->body_len : 0,
                     r->body_release, r->body_release_arg);
    if (head != stack)
        kv_free(head);
}

/* The server's own error: a small text response, then the connection closes
 * (the caller settles it). */
void http__conn_fail(http_conn_t *c, int status)
{
    const char *text = http_status_text(status);
    char body[64];

    if (c->closing)
        return;
    c->parse_stopped = true;
    c->keep_alive = false;
    http__req_clear(c);
    c->rstate = HTTP_RS_IDLE;
    c->req.method = HTTP_M_OTHER;
    if (status != 408)
        HTTP__STAT_ADD(c->loop, parse_errors, 1);
    size_t len = strlen(text);
    memcpy(body, text, len);
    body[len++] = '\n';
    http_response_t r = {
        .status = status, .content_type = "text/plain", .body = body, .body_len = len};
    http__send(c, &r, true);
}

void http_respond(http_req_t *req, const http_response_t *resp)
{
    http_conn_t *c = http__conn_of(req);

    KV_ASSERT(c->rstate == HTTP_RS_APP);
    c->rstate = HTTP_RS_IDLE;
    if (c->closing) { /* the client is gone: drop the response */
        http__release(resp->body_release, resp->body_release_arg);
        http__req_clear(c);
        if (c->handles_open == 0)
            http__conn_free(c);
        return;
    }
    /* After the client's FIN, answer what it sent before and then close. */
    bool last = c->peer_eof && c->rbuf_off == c->rbuf_len && !(c->ssl && c->tls_room_wait);
    bool close = !c->keep_alive || c->parse_stopped || last || c->loop->stopping;
    if (close)
        c->parse_stopped = true;
    http__send(c, resp, close);
    http__req_clear(c);
    if (c->in_parse) /* the parse loop goes on by itself */
        return;
    if (c->rbuf_off < c->rbuf_len)
        http__loop_enqueue(c);
    http__conn_settle(c, false);
}
