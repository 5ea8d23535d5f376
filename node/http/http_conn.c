/*
 * http_conn.c - one HTTP/1.1 connection: reading, llhttp callbacks, the
 * timer and closing.
 *
 * Bytes land in the connection's read buffer, llhttp parses them in place;
 * header bytes are copied into the header arena (the read buffer is reused)
 * and body bytes into the request's body buffer, sized once from
 * Content-Length. One request at a time: the parser pauses at the end of each
 * message and resumes only after http_respond(), which keeps responses in
 * request order. This file decides nothing about responses' content; it is
 * not the place for routing or limits of the application.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

/* First allocation of a chunked body, doubled as it grows. */
#define HTTP__CHUNKED_BODY_MIN_BYTES (16u * 1024u)

static const llhttp_settings_t http__settings;

/* ---- request state ---------------------------------------------------------------- */

void http__req_clear(http_conn_t *c)
{
    kv_free(c->req.body);
    c->req.body = NULL;
    c->req.body_len = 0;
    c->body_cap = 0;
    if (c->body_held) {
        atomic_fetch_sub_explicit(&c->loop->srv->body_bytes, c->body_held, memory_order_relaxed);
        c->body_held = 0;
    }
}

/* Take n bytes of the server's body budget for this request; false (nothing
 * taken) when the bodies held by every connection would pass it. */
static bool http__body_reserve(http_conn_t *c, uint64_t n)
{
    http_server_t *s = c->loop->srv;
    uint64_t budget = s->cfg.body_budget_bytes;
    uint64_t cur = atomic_load_explicit(&s->body_bytes, memory_order_relaxed);

    do {
        if (n > budget || cur > budget - n)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->body_bytes, &cur, cur + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    c->body_held += n;
    return true;
}

static int http__cb_fail(http_conn_t *c, int status)
{
    c->err_status = status;
    return HPE_USER;
}

static int http__arena_append(http_conn_t *c, const char *at, size_t len)
{
    if (len > KV_HTTP_HEADER_MAX_BYTES - c->arena_len)
        return -1;
    memcpy(c->arena + c->arena_len, at, len);
    c->arena_len += len;
    return 0;
}

static http_method_t http__method(uint8_t m)
{
    switch (m) {
    case HTTP_GET:
        return HTTP_M_GET;
    case HTTP_HEAD:
        return HTTP_M_HEAD;
    case HTTP_PUT:
        return HTTP_M_PUT;
    case HTTP_POST:
        return HTTP_M_POST;
    case HTTP_DELETE:
        return HTTP_M_DELETE;
    case HTTP_PATCH:
        return HTTP_M_PATCH;
    case HTTP_OPTIONS:
        return HTTP_M_OPTIONS;
    default:
        return HTTP_M_OTHER;
    }
}

/* ---- llhttp callbacks: the head --------------------------------------------------- */

static int http__on_message_begin(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_req_t *req = &c->req;

    http__req_clear(c);
    req->method = HTTP_M_OTHER;
    req->target = req->path = req->query = NULL;
    req->target_len = req->path_len = req->query_len = 0;
    req->header_count = 0;
    req->content_length = UINT64_MAX;
    req->start_ns = uv_hrtime();
    req->loop_index = c->loop->index;
    req->app = NULL;
    c->arena_len = c->url_len = c->head_raw = 0;
    c->head_mark = NULL;
    c->head_mark_pending = true;
    c->hdr_state = HTTP_HDR_NONE;
    c->err_status = 0;
    c->rstate = HTTP_RS_HEAD;
    c->head_start_ms = uv_now(&c->loop->loop);
    return 0;
}

static int http__on_method(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;

    if (c->head_mark_pending) {
        c->head_mark = at;
        c->head_mark_pending = false;
    }
    return 0;
}

static int http__on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;

    if (len > KV_HTTP_URL_MAX_BYTES - c->url_len)
        return http__cb_fail(c, 414);
    if (http__arena_append(c, at, len) != 0)
        return http__cb_fail(c, 431);
    c->url_len += len;
    return 0;
}

/* Trailers of a chunked body: not kept, but bounded like a head. */
static int http__trailer_bytes(http_conn_t *c, size_t len)
{
    c->head_raw += len;
    return c->head_raw > KV_HTTP_HEADER_MAX_BYTES ? http__cb_fail(c, 431) : 0;
}

static int http__on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *req = &c->req;

    if (c->rstate != HTTP_RS_HEAD)
        return http__trailer_bytes(c, len);
    if (c->hdr_state != HTTP_HDR_FIELD) {
        if (req->header_count == KV_HTTP_HEADER_MAX_COUNT)
            return http__cb_fail(c, 431);
        http_header_t *h = &req->headers[req->header_count++];
        h->name = c->arena + c->arena_len;
        h->name_len = 0;
        h->value = "";
        h->value_len = 0;
        c->hdr_state = HTTP_HDR_FIELD;
    }
    if (http__arena_append(c, at, len) != 0)
        return http__cb_fail(c, 431);
    req->headers[req->header_count - 1].name_len += len;
    return 0;
}

static int http__on_header_field_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;

    c->hdr_state = HTTP_HDR_AFTER_FIELD;
    return 0;
}

static int http__on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;

    if (c->rstate != HTTP_RS_HEAD)
        return http__trailer_bytes(c, len);
    if (c->req.header_count == 0)
        return 0;
    http_header_t *h = &c->req.headers[c->req.header_count - 1];
    if (c->hdr_state != HTTP_HDR_VALUE) {
        h->value = c->arena + c->arena_len;
        h->value_len = 0;
        c->hdr_state = HTTP_HDR_VALUE;
    }
    if (http__arena_append(c, at, len) != 0)
        return http__cb_fail(c, 431);
    h->value_len += len;
    return 0;
}

static int http__on_header_value_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;

    if (c->rstate != HTTP_RS_HEAD || c->req.header_count == 0)
        return 0;
    http_header_t *h = &c->req.headers[c->req.header_count - 1];
    while (h->value_len > 0 &&
           (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
        h->value_len--;
    c->hdr_state = HTTP_HDR_NONE;
    return 0;
}

/* Fill in what the head tells once it is complete. */
static void http__head_done(http_conn_t *c, llhttp_t *p)
{
    http_req_t *req = &c->req;

    req->target = c->arena;
    req->target_len = c->url_len;
    const char *q = memchr(req->target, '?', req->target_len);
    req->path = req->target;
    req->path_len = q ? (size_t)(q - req->target) : req->target_len;
    if (q) {
        req->query = q + 1;
        req->query_len = req->target_len - req->path_len - 1;
    }
    req->method = http__method(p->method);
    req->content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : UINT64_MAX;
    c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    c->rstate = HTTP_RS_BODY;
    c->head_raw = 0;
    c->body_start_ms = uv_now(&c->loop->loop);
}

/* The body exceeds the limit: hand the request to too_large (or answer 413
 * ourselves) and parse nothing more on this connection. */
static void http__too_large(http_conn_t *c, uint64_t body_len)
{
    const http_handler_t *h = &c->loop->srv->cfg.handler;

    http__req_clear(c);
    c->req.content_length = body_len;
    c->rstate = HTTP_RS_APP;
    c->parse_stopped = true;
    c->keep_alive = false;
    HTTP__STAT_ADD(c->loop, requests, 1);
    if (h->too_large) {
        h->too_large(&c->req, body_len, h->ctx);
    } else {
        static const char body[] = "Payload Too Large\n";
        http_response_t r = {.status = 413,
                             .content_type = "text/plain",
                             .body = body,
                             .body_len = sizeof(body) - 1};
        http_respond(&c->req, &r);
    }
}

/* The body budget is spent: 503 with Retry-After, the body is not read and
 * the connection ends (lingering), as after too_large. */
static void http__body_busy(http_conn_t *c)
{
    static const char body[] = "Service Unavailable: too many request bodies in progress\n";
    char hdr[48];
    int n = snprintf(hdr, sizeof(hdr), "Retry-After: %u\r\n",
                     (unsigned)KV_HTTP_BODY_BUDGET_RETRY_AFTER_S);

    http__req_clear(c);
    c->rstate = HTTP_RS_APP;
    c->parse_stopped = true;
    c->keep_alive = false;
    HTTP__STAT_ADD(c->loop, requests, 1);
    HTTP__STAT_ADD(c->loop, body_refused, 1);
    http_response_t r = {.status = 503,
                         .content_type = "text/plain",
                         .headers = hdr,
                         .headers_len = n > 0 ? (size_t)n : 0,
                         .body = body,
                         .body_len = sizeof(body) - 1};
    http_respond(&c->req, &r);
}

static bool http__expects_continue(const http_conn_t *c)
{
    const http_header_t *e = http_req_header(&c->req, "expect");

    return e && !c->http10 && e->value_len == 12 && strncasecmp(e->value, "100-continue", 12) == 0;
}

static int http__on_headers_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;
    http_req_t *req = &c->req;
    const http_handler_t *h = &c->loop->srv->cfg.handler;

    http__head_done(c, p);
    c->body_limit = h->head ? h->head(req, h->ctx) : KV_HTTP_BODY_MAX_BYTES;
    if (req->content_length != UINT64_MAX && req->content_length > c->body_limit) {
        http__too_large(c, req->content_length);
        return HPE_PAUSED;
    }
    if (req->content_length != UINT64_MAX && req->content_length > 0) {
        if (!http__body_reserve(c, req->content_length)) {
            http__body_busy(c);
            return HPE_PAUSED;
        }
        if (req->content_length > SIZE_MAX || !(req->body = kv_malloc(req->content_length))) {
            c->err_status = 500;
            return -1;
        }
        c->body_cap = req->content_length;
    }
    bool body_expected = c->body_cap > 0 || (p->flags & F_CHUNKED);
    if (body_expected && http__expects_continue(c)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        http__conn_write(c, cont, sizeof(cont) - 1, NULL, 0, NULL, NULL);
    }
    return 0;
}

/* ---- llhttp callbacks: the body and the end --------------------------------------- */

/* Room for `need` body bytes of a chunked body (Content-Length bodies were
 * allocated whole), taken from the body budget as it grows. Returns 0, -1
 * (out of memory) or 1 (over the budget: nothing changed). */
static int http__body_grow(http_conn_t *c, uint64_t need)
{
    uint64_t cap = c->body_cap ? (uint64_t)c->body_cap * 2 : HTTP__CHUNKED_BODY_MIN_BYTES;

    if (cap < need)
        cap = need;
    if (cap > c->body_limit)
        cap = c->body_limit;
    if (cap > c->body_cap && !http__body_reserve(c, cap - c->body_cap)) {
        if (need > c->body_cap && !http__body_reserve(c, need - c->body_cap))
            return 1;
        cap = need; /* the budget has room for what arrived, not for doubling */
    }
    uint8_t *b = kv_realloc(c->req.body, cap);
    if (!b)
        return -1;
    c->req.body = b;
    c->body_cap = cap;
    return 0;
}

static int http__on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *req = &c->req;

    if (c->rstate != HTTP_RS_BODY)
        return HPE_USER;
    if (len > c->body_cap - req->body_len) {
        uint64_t need = (uint64_t)req->body_len + len;
        if (need > c->body_limit) {
            http__too_large(c, need);
            return HPE_USER;
        }
        int g = http__body_grow(c, need);
        if (g > 0) {
            http__body_busy(c);
            return HPE_USER;
        }
        if (g != 0)
            return http__cb_fail(c, 500);
    }
    memcpy(req->body + req->body_len, at, len);
    req->body_len += len;
    return 0;
}

/* Hand the complete request to the application. */
static void http__deliver(http_conn_t *c)
{
    const http_handler_t *h = &c->loop->srv->cfg.handler;

    c->rstate = HTTP_RS_APP;
    if (!c->keep_alive)
        c->parse_stopped = true;
    c->parsed_round++;
    HTTP__STAT_ADD(c->loop, requests, 1);
    h->request(&c->req, h->ctx);
}

static int http__on_message_complete(llhttp_t *p)
{
    http_conn_t *c = p->data;

    if (c->rstate != HTTP_RS_BODY)
        return HPE_PAUSED;
    /* After the client's FIN, deliver from the parse loop, which knows
     * whether bytes follow (the last answer says Connection: close). */
    if (c->peer_eof) {
        c->deliver_pending = true;
        return HPE_PAUSED;
    }
    http__deliver(c);
    /* Answered at once: go on with the next pipelined request in this same
     * llhttp_execute, unless this round has had its share. */
    if (c->rstate == HTTP_RS_APP || c->parse_stopped || c->closing || c->out_blocked ||
        c->parsed_round >= KV_HTTP_PIPELINE_MAX_PER_READ)
        return HPE_PAUSED;
    return 0;
}

static const llhttp_settings_t http__settings = {
    .on_message_begin = http__on_message_begin,
    .on_method = http__on_method,
    .on_url = http__on_url,
    .on_header_field = http__on_header_field,
    .on_header_field_complete = http__on_header_field_complete,
    .on_header_value = http__on_header_value,
    .on_header_value_complete = http__on_header_value_complete,
    .on_headers_complete = http__on_headers_complete,
    .on_body = http__on_body,
    .on_message_complete = http__on_message_complete,
};

/* ---- parsing ---------------------------------------------------------------------- */

/* Bound the raw size of a head, whitespace and all, which the callbacks
 * alone do not see. Returns false when it is too large. */
static bool http__count_head(http_conn_t *c, const char *p, size_t used)
{
    if (c->rstate != HTTP_RS_HEAD)
        return true;
    const char *from = c->head_mark ? c->head_mark : p;
    c->head_raw += (size_t)(p + used - from);
    return c->head_raw <= KV_HTTP_HEADER_MAX_BYTES;
}

/* One llhttp_execute over the buffered bytes. Returns false to stop. */
static bool http__parse_step(http_conn_t *c)
{
    const char *p = c->rbuf + c->rbuf_off;
    size_t n = c->rbuf_len - c->rbuf_off;

    c->head_mark = NULL;
    c->head_mark_pending = false;
    llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
    size_t used = e == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&c->parser) - p);
    c->rbuf_off += used;
    if (c->closing)
        return false;
    if (e != HPE_OK && e != HPE_PAUSED) {
        if (!c->parse_stopped) /* too_large stops the parser on purpose */
            http__conn_fail(c, c->err_status ? c->err_status : 400);
        return false;
    }
    if (!http__count_head(c, p, used)) {
        http__conn_fail(c, 431);
        return false;
    }
    c->paused = e == HPE_PAUSED;
    if (c->deliver_pending) {
        c->deliver_pending = false;
        http__deliver(c);
    }
    return c->paused && !c->closing;
}

/* Parse buffered requests until the bytes run out, the application holds a
 * request, the unsent answers passed output_max_bytes (the rest waits until
 * they drained), or KV_HTTP_PIPELINE_MAX_PER_READ requests were parsed (then
 * the rest waits for the loop's ready queue). `progressed`: new bytes
 * arrived. */
void http__conn_parse(http_conn_t *c, bool progressed)
{
    if (c->closing || c->lingering)
        return;
    if (http__tls_input_waiting(c) && !http__tls_pump(c))
        return;
    c->in_parse = true;
    c->parsed_round = 0;
    while (!c->parse_stopped && c->rstate != HTTP_RS_APP && !c->out_blocked &&
           c->rbuf_off < c->rbuf_len) {
        if (c->paused) {
            if (c->parsed_round >= KV_HTTP_PIPELINE_MAX_PER_READ) {
                http__loop_enqueue(c);
                break;
            }
            llhttp_resume(&c->parser);
            c->paused = false;
        }
        if (!http__parse_step(c))
            break;
    }
    c->in_parse = false;
    if (c->rbuf_off == c->rbuf_len)
        c->rbuf_off = c->rbuf_len = 0;
    http__conn_settle(c, progressed);
}

/* ---- reading ---------------------------------------------------------------------- */

static void http__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    http_conn_t *c = h->data;

    if (c->lingering) { /* input is discarded */
        *buf = uv_buf_init(c->rbuf, KV_HTTP_READ_BUF_BYTES);
        return;
    }
    if (c->ssl) { /* ciphertext: decrypted into rbuf by the read callback */
        *buf = uv_buf_init(c->loop->tls_in, KV_HTTP_TLS_READ_BYTES);
        return;
    }
    if (c->rbuf_off > 0) {
        memmove(c->rbuf, c->rbuf + c->rbuf_off, c->rbuf_len - c->rbuf_off);
        c->rbuf_len -= c->rbuf_off;
        c->rbuf_off = 0;
    }
    *buf = uv_buf_init(c->rbuf + c->rbuf_len, KV_HTTP_READ_BUF_BYTES - c->rbuf_len);
}

static void http__on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn_t *c = s->data;

    if (nread == 0 || c->closing)
        return;
    if (c->lingering) {
        if (nread > 0)
            c->linger_bytes += (uint64_t)nread;
        if (nread < 0 || c->linger_bytes > KV_HTTP_LINGER_MAX_BYTES)
            http__conn_close(c);
        return;
    }
    if (nread == UV_ENOBUFS) { /* buffer full: settle stops reading */
        http__conn_settle(c, false);
        return;
    }
    if (nread < 0) {
        uv_read_stop(s);
        c->reading = false;
        c->peer_eof = true;
        /* A reset connection can take no response: close now; a request
         * the application holds keeps the struct alive until answered. */
        if (nread != UV_EOF)
            http__conn_close(c);
        else
            http__conn_settle(c, false);
        return;
    }
    if (c->ssl) {
        http__tls_input(c, buf->base, (size_t)nread);
        if (!http__tls_pump(c))
            return;
    } else {
        c->rbuf_len += (size_t)nread;
    }
    http__conn_parse(c, true);
}

static void http__update_read(http_conn_t *c)
{
    bool want = c->lingering || (!c->parse_stopped && !c->peer_eof && !c->out_blocked &&
                                 c->rbuf_len - c->rbuf_off < KV_HTTP_READ_BUF_BYTES &&
                                 !(c->ssl && c->tls_room_wait));

    /* Decrypted input waits in OpenSSL while rbuf has room again: parse it
     * (the parser pulls it in) on the ready queue. */
    if (http__tls_input_waiting(c) && !c->lingering && !c->parse_stopped && !c->out_blocked &&
        c->rstate != HTTP_RS_APP)
        http__loop_enqueue(c);

    if (want == c->reading)
        return;
    if (want) {
        if (uv_read_start((uv_stream_t *)&c->tcp, http__on_alloc, http__on_read) != 0) {
            http__conn_close(c);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->reading = want;
}

/* ---- timer, lingering close ------------------------------------------------------- */

static void http__on_timer(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    http_timer_kind_t kind = c->timer_kind;

    c->timer_kind = HTTP_TIMER_NONE;
    if (c->closing)
        return;
    if (kind == HTTP_TIMER_TLS) { /* a handshake past its deadline */
        HTTP__STAT_ADD(c->loop, tls_timeouts, 1);
        http__conn_close(c);
        return;
    }
    if (kind == HTTP_TIMER_READ && c->rstate != HTTP_RS_APP && !c->parse_stopped) {
        HTTP__STAT_ADD(c->loop, timeouts, 1);
        http__conn_fail(c, 408);
        http__conn_settle(c, false);
        return;
    }
    /* Idle keep-alive, a client that does not read its answers (no write
     * progress for the idle timeout), or the end of lingering: close
     * quietly. */
    if (kind != HTTP_TIMER_NONE && c->rstate != HTTP_RS_APP)
        http__conn_close(c);
}

/* How long a partial request may wait for its next bytes: the read timeout,
 * cut short by the head's deadline (head_timeout_ms from its first byte) or
 * the body's (body_grace_ms from the end of the head, plus the time its
 * bytes so far are worth at body_min_rate). Restarting the timer on every
 * byte extends neither deadline beyond what the bytes earned. */
static uint64_t http__read_wait_ms(const http_conn_t *c)
{
    const http_config_t *cfg = &c->loop->srv->cfg;
    uint64_t now = uv_now(&c->loop->loop), ms = cfg->read_timeout_ms, due;

    if (c->rstate == HTTP_RS_HEAD)
        due = c->head_start_ms + cfg->head_timeout_ms;
    else if (c->rstate == HTTP_RS_BODY)
        due = c->body_start_ms + cfg->body_grace_ms +
              (uint64_t)c->req.body_len * 1000u / cfg->body_min_rate;
    else
        return ms;
    if (due <= now)
        return 0;
    return due - now < ms ? due - now : ms;
}

static void http__timer_set(http_conn_t *c, http_timer_kind_t kind, bool restart)
{
    const http_config_t *cfg = &c->loop->srv->cfg;

    if (kind == c->timer_kind && !restart)
        return;
    c->timer_kind = kind;
    if (kind == HTTP_TIMER_NONE) {
        uv_timer_stop(&c->timer);
        return;
    }
    /* Count from now, not from when the loop last woke up: bytes read in
     * this callback may have arrived well after that (a loop busy with other
     * connections, a loaded machine), and the client must not lose part of
     * its timeout to the server's own delay. */
    uv_update_time(&c->loop->loop);
    uint64_t ms = kind == HTTP_TIMER_IDLE     ? cfg->idle_timeout_ms
                  : kind == HTTP_TIMER_LINGER ? cfg->linger_timeout_ms
                  : kind == HTTP_TIMER_TLS    ? cfg->tls_handshake_timeout_ms
                                              : http__read_wait_ms(c);
    uv_timer_start(&c->timer, http__on_timer, ms, 0);
}

static void http__on_shutdown(uv_shutdown_t *r, int status)
{
    http_conn_t *c = r->handle->data;

    if (status < 0 && !c->closing)
        http__conn_close(c);
}

/* Every response is out and no more will come. Send FIN and read until the
 * client closes (bounded by the read timeout): closing with unread input
 * would make the kernel send RST, which can destroy the response in flight
 * to the client (a 413 during an upload, a 400 after garbage). */
static void http__conn_finish(http_conn_t *c)
{
    if (c->peer_eof || c->loop->stopping) {
        http__conn_close(c);
        return;
    }
    if (c->ssl) {
        http__tls_shutdown(c);
        if (c->closing)
            return;
    }
    c->lingering = true;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, http__on_shutdown) != 0) {
        http__conn_close(c);
        return;
    }
    http__timer_set(c, HTTP_TIMER_LINGER, true);
    http__update_read(c);
}

/* Bring reading and the timer in line with the connection's state, and
 * finish a connection that will take no more requests. */
void http__conn_settle(http_conn_t *c, bool progressed)
{
    if (c->closing || c->lingering || c->in_parse)
        return;
    /* Over TLS, input may still wait decrypted in OpenSSL (tls_room_wait). */
    if (c->peer_eof && c->rstate != HTTP_RS_APP && c->rbuf_off == c->rbuf_len &&
        !(c->ssl && c->tls_room_wait))
        c->parse_stopped = true;
    if (c->ssl && !c->tls_done) { /* handshaking: its own deadline, set once */
        if (c->peer_eof) {
            http__conn_close(c);
            return;
        }
        http__update_read(c);
        if (!c->closing)
            http__timer_set(c, HTTP_TIMER_TLS, false);
        return;
    }
    http__update_read(c);
    if (c->closing)
        return;
    if (c->rstate == HTTP_RS_APP) {
        http__timer_set(c, HTTP_TIMER_NONE, false);
    } else if (c->parse_stopped) {
        if (c->writes_pending == 0)
            http__conn_finish(c);
        else
            http__timer_set(c, HTTP_TIMER_IDLE, progressed);
    } else if (c->out_blocked) {
        /* Waiting for the client to read: its write progress restarts it. */
        http__timer_set(c, HTTP_TIMER_IDLE, progressed);
    } else if (c->rstate == HTTP_RS_IDLE && c->rbuf_off == c->rbuf_len) {
        /* Idle from the last bytes: requests answered within the read that
         * brought them pass through here with the timer kind unchanged, so
         * only `progressed` restarts it (else a busy keep-alive connection
         * would be closed idle_timeout_ms after it was accepted). */
        http__timer_set(c, HTTP_TIMER_IDLE, progressed);
    } else {
        http__timer_set(c, HTTP_TIMER_READ, progressed);
    }
}

/* `bytes` handed to uv_write left (or were dropped): a connection whose
 * output fell to output_low_bytes parses and reads again. */
void http__conn_output_done(http_conn_t *c, size_t bytes)
{
    const http_config_t *cfg = &c->loop->srv->cfg;

    c->out_bytes -= bytes;
    HTTP__STAT_SUB(c->loop, out_bytes, bytes);
    if (c->closing)
        return;
    if (c->out_blocked && c->out_bytes <= cfg->output_low_bytes) {
        c->out_blocked = false;
        if (c->rbuf_off < c->rbuf_len && c->rstate != HTTP_RS_APP)
            http__loop_enqueue(c);
        http__conn_settle(c, false);
    } else if (c->out_blocked) {
        http__conn_settle(c, true); /* write progress */
    } else if (c->writes_pending == 0) {
        http__conn_settle(c, false);
    }
}

/* Take the peer's address and count it; false when it is over the
 * per-address cap. */
static bool http__conn_addr(http_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return true; /* no address: nothing to count (the socket fails soon) */
    if (ss.ss_family == AF_INET) {
        c->addr.len = 4;
        memcpy(c->addr.bytes, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        c->addr.len = 16;
        memcpy(c->addr.bytes, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    }
    if (http__addr_acquire(c->loop->srv, &c->addr))
        return true;
    c->addr.len = 0; /* not counted */
    return false;
}

/* ---- open / close ----------------------------------------------------------------- */

int http__conn_accept(http_loop_t *l, bool tls)
{
    http_conn_t *c = kv_malloc(sizeof(*c) + KV_HTTP_READ_BUF_BYTES + KV_HTTP_HEADER_MAX_BYTES);

    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof(*c));
    c->rbuf = (char *)(c + 1);
    c->arena = c->rbuf + KV_HTTP_READ_BUF_BYTES;
    c->loop = l;
    http__link_init(&c->ready);
    uv_tcp_init(&l->loop, &c->tcp);
    uv_timer_init(&l->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    http__link_add_tail(&l->conns, &c->all);
    l->conns_open++;
    HTTP__STAT_ADD(l, open, 1);
    HTTP__STAT_ADD(l, total, 1);
    int rc =
        uv_accept((uv_stream_t *)(tls ? &l->tls_listener : &l->listener), (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        http__conn_close(c);
        return rc;
    }
    if (!http__conn_addr(c)) {
        HTTP__STAT_ADD(l, rejected_addr, 1); /* before the client can see the close */
        http__conn_close(c);
        return 0;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (tls && http__tls_start(c) != 0) { /* counted as a connection already: just close */
        KV_LOG_WARN(HTTP_LOG, "https: out of memory starting TLS; connection closed");
        http__conn_close(c);
        return 0;
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &http__settings);
    c->parser.data = c;
    c->keep_alive = true;
    http__conn_settle(c, false);
    return 0;
}

void http__conn_free(http_conn_t *c)
{
    if (c->ssl)
        http__tls_free(c);
    http__link_remove(&c->all);
    http__req_clear(c);
    kv_free(c);
}

static void http__on_conn_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;

    if (--c->handles_open > 0)
        return;
    if (c->rstate != HTTP_RS_APP)
        http__conn_free(c);
}

/* Close the socket now. Queued writes fail with UV_ECANCELED (their bodies
 * are released); a request the application holds stays valid. */
void http__conn_close(http_conn_t *c)
{
    http_loop_t *l = c->loop;

    if (c->closing)
        return;
    c->closing = true;
    http__loop_dequeue(c);
    http__addr_release(l->srv, &c->addr);
    c->addr.len = 0;
    l->conns_open--;
    HTTP__STAT_SUB(l, open, 1);
    http__conns_process_dec();
    uv_close((uv_handle_t *)&c->timer, http__on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, http__on_conn_closed);
    http__loop_maybe_done(l);
}

/* The server is stopping: a connection busy with a request finishes it,
 * the rest close now. */
void http__conn_stop(http_conn_t *c)
{
    if (c->closing)
        return;
    if (c->lingering || c->rstate == HTTP_RS_HEAD || c->rstate == HTTP_RS_BODY) {
        http__conn_close(c);
        return;
    }
    c->parse_stopped = true;
    http__conn_settle(c, false);
}
