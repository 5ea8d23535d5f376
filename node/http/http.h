/*
 * http.h - the HTTP/1.1 server: libuv event loops, llhttp parsing.
 *
 * The server runs `loops` event loops, each on its own thread with its own
 * listening socket bound with SO_REUSEPORT, so the kernel spreads
 * connections over every core and loops share nothing on the hot path.
 * It handles keep-alive and pipelining (responses leave in request order: a
 * connection parses no further request until the current one is answered),
 * collects each request body into one buffer sized from Content-Length (one
 * copy from the socket buffer, none after), and enforces the limits of
 * kv_limits.h: header bytes and count (431), URL length (414), body size
 * (413, decided per request by the application), idle keep-alive and slow
 * clients (408: a gap between bytes, a total deadline for the head, a
 * minimum body rate), unsent output per connection (a client that does not
 * read its answers is no longer read), connections in total and per peer
 * address, request body bytes held at once by all connections (503).
 * Malformed requests get 400 and the connection is closed; a connection
 * that ends while the client may still send (an early 413, an error) is
 * closed lingering: FIN first, input discarded for a bounded time.
 *
 * HTTPS: given a TLS context source, every loop also listens on a second
 * address whose connections speak TLS (http_tls.c: OpenSSL over memory
 * BIOs, the socket stays libuv's). Everything above holds there too, on
 * the decrypted bytes; a handshake must finish within its own deadline,
 * and the per-address and total connection caps count both listeners.
 * Certificates, SNI, tickets and reloads are the context's business
 * (node/tls/tls_api.h); this module only asks it for the current context
 * for each new connection.
 *
 * The application supplies two callbacks, both called on the loop thread of
 * the connection:
 *   head(req)  after the headers: returns the largest body it accepts for
 *              this request. If Content-Length is larger, `too_large` is
 *              called instead of `request` (the app answers, typically 413,
 *              or 401 before reading a body) without reading the body; the
 *              answer says Connection: close, the server sends FIN and
 *              discards what the client still sends for a bounded time
 *              (lingering close) so the client reads the answer, then closes.
 *   request(req)  with the whole request. The app must call http_respond()
 *              exactly once, now or later, on the same loop thread (e.g. from
 *              a uv_queue_work after-callback on http_req_loop(req)).
 *
 * What this is not: routing, auth, JSON. Those live in the API modules.
 */
#ifndef NODE_HTTP_H
#define NODE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kv_limits.h"

typedef struct http_server http_server_t;

typedef enum {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_PUT,
    HTTP_M_POST,
    HTTP_M_DELETE,
    HTTP_M_PATCH,
    HTTP_M_OPTIONS
} http_method_t;

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} http_header_t;

/* A request. Every pointer borrows from the connection and stays valid until
 * http_respond() returns. */
typedef struct http_req {
    http_method_t method;
    const char *target; /* request target as sent (path + '?' + query) */
    size_t target_len;
    const char *path; /* target up to '?', not decoded */
    size_t path_len;
    const char *query; /* after '?', not decoded; NULL when absent */
    size_t query_len;
    http_header_t headers[KV_HTTP_HEADER_MAX_COUNT];
    size_t header_count;
    uint64_t content_length; /* from the header; UINT64_MAX when absent/chunked */
    uint8_t *body;           /* whole body; NULL when empty */
    size_t body_len;
    uint64_t start_ns; /* uv_hrtime() when the first byte of the request arrived */
    unsigned loop_index;
    bool tls;  /* arrived over HTTPS */
    void *app; /* for the application; NULL when the request arrives */
} http_req_t;

typedef struct {
    int status;
    /* Reason phrase; NULL uses the standard one. Copied. The binding protocol
     * carries its error messages here. Must not contain CR or LF (they are
     * replaced by spaces). */
    const char *reason;
    const char *content_type; /* NULL: no Content-Type header */
    /* Extra header lines, each "Name: value\r\n"; copied. May be NULL. */
    const char *headers;
    size_t headers_len;
    const void *body;
    size_t body_len;
    /* NULL: the body is copied before http_respond returns. Otherwise the
     * body is borrowed until body_release(body_release_arg) is called, once,
     * after the bytes were written or the connection died. */
    void (*body_release)(void *arg);
    void *body_release_arg;
    /* HEAD-style: send Content-Length of body_len but no body bytes. */
    bool omit_body;
} http_response_t;

typedef struct {
    /* Largest body accepted for this request (bytes). */
    uint64_t (*head)(http_req_t *req, void *ctx);
    /* Body would exceed head()'s answer: answer it (req->body is NULL,
     * req->content_length is the announced or counted size). */
    void (*too_large)(http_req_t *req, uint64_t body_len, void *ctx);
    void (*request)(http_req_t *req, void *ctx);
    /* Optional: called on each loop thread before the loop polls for I/O
     * (a uv_prepare: after the callbacks of the previous iteration's I/O,
     * timers and queued work, and before it can wait): what the requests
     * of one iteration gathered goes out together. */
    void (*tail)(void *ctx);
    void *ctx;
} http_handler_t;

typedef struct {
    const char *host; /* "127.0.0.1" */
    int port;         /* 0 picks a free port (see http_server_port) */
    unsigned loops;   /* threads, 1..KV_HTTP_MAX_LOOPS */
    http_handler_t handler;
    unsigned idle_timeout_ms; /* 0 = KV_HTTP_IDLE_TIMEOUT_MS */
    unsigned read_timeout_ms; /* 0 = KV_HTTP_READ_TIMEOUT_MS */
    /* The abuse bounds; 0 takes the kv_limits.h default (tests lower them). */
    unsigned head_timeout_ms;    /* KV_HTTP_HEAD_TIMEOUT_MS */
    unsigned body_grace_ms;      /* KV_HTTP_BODY_GRACE_MS */
    unsigned body_min_rate;      /* bytes/s; KV_HTTP_BODY_MIN_RATE_BYTES_PER_S */
    unsigned linger_timeout_ms;  /* KV_HTTP_LINGER_TIMEOUT_MS */
    size_t output_max_bytes;     /* KV_HTTP_CONN_OUTPUT_MAX_BYTES */
    size_t output_low_bytes;     /* KV_HTTP_CONN_OUTPUT_LOW_BYTES; below output_max_bytes */
    unsigned max_connections;    /* process-wide; KV_HTTP_MAX_CONNECTIONS */
    unsigned conns_per_addr_max; /* per peer address; KV_HTTP_CONNS_PER_ADDR_MAX */
    /* Request body bytes held at once, all connections together; a body
     * that would pass it gets 503 + Retry-After after its head, unread.
     * KV_HTTP_BODY_BUDGET_DEFAULT_BYTES; keep it >= the largest body. */
    uint64_t body_budget_bytes;
    /* HTTPS. With tls_ctx set, every loop also listens on tls_host:tls_port
     * (port 0 picks one: http_server_tls_port) and speaks TLS there.
     * tls_ctx(tls_ctx_arg) returns a new reference to the SSL_CTX a new
     * connection uses (or NULL: the connection is refused); it is called on
     * the loop threads, and may return a different context after a reload. */
    const char *tls_host;
    int tls_port;
    struct ssl_ctx_st *(*tls_ctx)(void *arg);
    void *tls_ctx_arg;
    unsigned tls_handshake_timeout_ms; /* KV_HTTP_TLS_HANDSHAKE_TIMEOUT_MS */
} http_config_t;

/* Bind and start the loop threads. Returns 0 or a negative code (-errno of
 * bind, KV_EINVAL); on error nothing is left running. */
int http_server_start(const http_config_t *cfg, http_server_t **out);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server_t *s);
/* The HTTPS port bound, or -1 without HTTPS. */
int http_server_tls_port(const http_server_t *s);

/* Graceful stop: close the listeners, let in-flight requests finish (at most
 * grace_ms), close idle connections, join the threads, free the server. */
void http_server_stop(http_server_t *s, unsigned grace_ms);

/* Answer a request (exactly once). On the request's loop thread. */
void http_respond(http_req_t *req, const http_response_t *resp);

/* The libuv loop of the request's connection, for uv_queue_work and timers. */
uv_loop_t *http_req_loop(const http_req_t *req);

/* Handing work back to a request's loop from another thread, without a
 * threadpool thread waiting in between (a durable write: the thread that
 * learns it committed posts the answer here). On the loop thread, take a
 * hold for the request before giving the work away: the loop stays up (a
 * stopping server too) until the post arrives. From any thread, post once
 * per hold; run(p) is then called on the loop thread, in posting order.
 * The http_post_t is the caller's until run is called. Posts are batched:
 * one wakeup of the loop runs every post queued so far. */
typedef struct http_post {
    struct http_post *next;
    void (*run)(struct http_post *p);
} http_post_t;

typedef struct http_loop http_loop_t;

/* On the request's loop thread. Never fails. */
http_loop_t *http_req_hold(http_req_t *req);
/* From any thread; once per hold. */
void http_loop_post(http_loop_t *l, http_post_t *p);

/* Case-insensitive header lookup; NULL when absent. */
const http_header_t *http_req_header(const http_req_t *req, const char *name);

/* Standard reason phrase for a status ("Not Found"); "Unknown" if none. */
const char *http_status_text(int status);

/* Per-loop counters the server keeps, summed over loops. */
typedef struct {
    uint64_t connections_open;
    uint64_t connections_total;
    uint64_t connections_rejected;      /* over the total cap or out of memory */
    uint64_t connections_rejected_addr; /* over the per-address cap */
    uint64_t requests_total;
    uint64_t parse_errors;
    uint64_t timeouts;         /* 408s: read gap, head deadline, body rate */
    uint64_t output_bytes;     /* unsent answer bytes queued now, all connections */
    uint64_t output_throttled; /* times a connection stopped reading on its output */
    uint64_t body_bytes;       /* request body bytes held now, all connections */
    uint64_t body_refused;     /* 503s: a body over the body budget */
    uint64_t tls_handshakes;   /* HTTPS handshakes completed */
    uint64_t tls_resumed;      /* ... of which resumed a session (ticket) */
    uint64_t tls_failures;     /* handshakes refused or broken, TLS errors after */
    uint64_t tls_timeouts;     /* handshakes cut at their deadline */
} http_server_stats_t;

void http_server_get_stats(http_server_t *s, http_server_stats_t *out);

#endif
