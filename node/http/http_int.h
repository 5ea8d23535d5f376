/*
 * http_int.h - what the files of the HTTP server share: the server, loop and
 * connection structs and a few helpers. Private to node/http*.c.
 *
 * The module is split by subject: http.c (server start/stop, loop threads,
 * accepting, the ready queue, stats, small lookups), http_conn.c (one
 * connection: reading, llhttp callbacks, timers, closing) and http_resp.c
 * (building and writing responses, http_respond).
 *
 * Threading: a loop and every connection on it are touched only by that
 * loop's thread, except the stats counters (relaxed atomics, read by any
 * thread) and the fields written before the threads start.
 */
#ifndef NODE_HTTP_INT_H
#define NODE_HTTP_INT_H

#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define HTTP_LOG "http"

#define HTTP__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Intrusive circular doubly-linked list; a node unlinks itself from
 * whichever list it is on. */
typedef struct http__link {
    struct http__link *prev, *next;
} http__link_t;

static inline void http__link_init(http__link_t *l)
{
    l->prev = l->next = l;
}

static inline bool http__link_empty(const http__link_t *l)
{
    return l->next == l;
}

static inline void http__link_add_tail(http__link_t *head, http__link_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void http__link_remove(http__link_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    http__link_init(n);
}

/* Where the connection's current request is. */
typedef enum {
    HTTP_RS_IDLE, /* between requests */
    HTTP_RS_HEAD, /* request line and headers arriving */
    HTTP_RS_BODY, /* body arriving */
    HTTP_RS_APP   /* the application holds the request (request/too_large) */
} http_rstate_t;

/* What the connection's one timer is measuring. */
typedef enum {
    HTTP_TIMER_NONE,
    HTTP_TIMER_IDLE,   /* keep-alive with nothing pending, or a slow reader */
    HTTP_TIMER_READ,   /* gap between bytes, head deadline, body rate -> 408 */
    HTTP_TIMER_LINGER, /* discarding input after the last response */
    HTTP_TIMER_TLS     /* an HTTPS handshake's deadline */
} http_timer_kind_t;

/* A peer address as the per-address cap counts it: 4 or 16 bytes; len 0
 * when unknown (not counted). */
typedef struct {
    uint8_t len;
    uint8_t bytes[16];
} http_addr_t;

typedef enum {
    HTTP_HDR_NONE,
    HTTP_HDR_FIELD,
    HTTP_HDR_AFTER_FIELD,
    HTTP_HDR_VALUE
} http_hdr_state_t;

/* One client connection. Owned by its loop thread. Freed when both handles
 * are closed and the application no longer holds the request (a request in
 * the application keeps the struct alive, "zombie", after the socket died). */
typedef struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    http_loop_t *loop;
    http__link_t all;   /* on loop->conns until freed */
    http__link_t ready; /* on loop->ready while queued */
    llhttp_t parser;
    http_req_t req;

    /* Read buffer of KV_HTTP_READ_BUF_BYTES: [rbuf_off, rbuf_len) unparsed. */
    char *rbuf;
    size_t rbuf_off, rbuf_len;
    /* Header arena of KV_HTTP_HEADER_MAX_BYTES: the URL, then header names
     * and values; req's pointers point here. */
    char *arena;
    size_t arena_len;
    size_t url_len;
    size_t head_raw;        /* raw bytes of an unfinished head (or trailers) */
    const char *head_mark;  /* where the current head began in this execute */
    bool head_mark_pending; /* message began; its first on_method sets the mark */
    http_hdr_state_t hdr_state;

    uint64_t body_limit; /* head()'s answer */
    size_t body_cap;     /* size of req.body's allocation */
    uint64_t body_held;  /* of the server's body budget, taken by this request */

    /* Deadlines (uv_now milliseconds): the head is due by head_start_ms +
     * head_timeout_ms; after body_start_ms + body_grace_ms the body must
     * come at body_min_rate. */
    uint64_t head_start_ms, body_start_ms;
    size_t out_bytes;      /* answer bytes handed to uv_write, not yet written */
    uint64_t linger_bytes; /* input discarded while lingering */
    http_addr_t addr;      /* peer, counted in the server's per-address table */

    http_rstate_t rstate;
    http_timer_kind_t timer_kind;
    int err_status;          /* status of an error found in a parser callback */
    unsigned writes_pending; /* queued uv_write requests */
    unsigned handles_open;   /* tcp + timer until their close callbacks ran */
    unsigned parsed_round;   /* requests parsed in this parse round */

    bool keep_alive;      /* the client allows another request */
    bool http10;          /* HTTP/1.0 request */
    bool reading;         /* uv_read_start is in effect */
    bool in_parse;        /* inside llhttp_execute */
    bool paused;          /* llhttp returned HPE_PAUSED and was not resumed */
    bool deliver_pending; /* message complete; deliver after llhttp returns */
    bool queued;          /* on loop->ready */
    bool parse_stopped;   /* no further request will be parsed */
    bool peer_eof;        /* the client shut down its side */
    bool lingering;       /* responses done, FIN sent, discarding input */
    bool out_blocked;     /* out_bytes passed output_max_bytes: no parsing, no reading
                             until it falls to output_low_bytes */
    bool closing;         /* uv_close called on the handles */

    /* HTTPS (http_tls.c); ssl NULL on a plain connection. Ciphertext read
     * from the socket goes into ssl's read BIO, plaintext into rbuf. */
    SSL *ssl;
    bool tls_done;      /* handshake finished */
    bool tls_room_wait; /* decrypted input waits for room in rbuf: no reading */
} http_conn_t;

typedef struct {
    _Atomic uint64_t open, total, rejected, requests, parse_errors, timeouts;
    _Atomic uint64_t rejected_addr, out_bytes, throttled, body_refused;
    _Atomic uint64_t tls_handshakes, tls_resumed, tls_failures, tls_timeouts;
} http_stats_atomic_t;

struct http_loop {
    http_server_t *srv;
    unsigned index;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t tls_listener; /* HTTPS; open when tls_listening */
    bool tls_listening;
    char *tls_in; /* KV_HTTP_TLS_READ_BYTES: ciphertext of one read, any connection */
    uv_async_t stop_async;
    /* Posts from other threads (http.h): post_lock guards the queue; the
     * async handle is closed once the loop is done and no hold is left. */
    uv_async_t post_async;
    uv_mutex_t post_lock;
    http_post_t *post_head, *post_tail;
    unsigned holds; /* loop thread: holds not yet posted and run */
    bool post_closed;
    uv_timer_t grace_timer;
    uv_prepare_t tail_prepare; /* runs handler.tail; active when there is one */
    uv_idle_t ready_idle;      /* runs the ready queue; active only when non-empty */
    uv_tcp_t spare;            /* used to refuse a connection when malloc fails */
    uv_thread_t thread;
    http__link_t conns;  /* every allocated connection, zombies included */
    http__link_t ready;  /* connections with buffered requests to parse */
    unsigned conns_open; /* connections not yet closing */
    bool handles_init;   /* listener, async, grace timer, idle and tail initialised */
    bool thread_started;
    bool stopping;
    bool done; /* loop handles closed; uv_run is about to return */
    bool spare_busy;
    http_stats_atomic_t stats;
};

struct http_server {
    /* Written before the loop threads start; read-only afterwards except
     * grace_ms, written by http_server_stop before it signals the loops. */
    http_config_t cfg; /* with every default filled in */
    int port;
    int tls_port; /* -1: no HTTPS */
    unsigned grace_ms;
    unsigned loop_count; /* loops initialised in loops[] */
    http_loop_t *loops;
    /* Open connections per peer address, over every loop: open addressing
     * with linear probing, addr_slots (a power of two, at least twice
     * cfg.max_connections) entries; count 0 marks a free slot. */
    uv_mutex_t addr_lock;
    bool addr_lock_init;
    size_t addr_slots;
    struct http_addr_slot {
        http_addr_t addr;
        unsigned count;
    } * addr_table;
    /* Request body bytes held by every connection: at most
     * cfg.body_budget_bytes (http_conn.c takes and gives back). */
    _Atomic uint64_t body_bytes;
};

#define HTTP__STAT_ADD(l, field, n)                                                                \
    atomic_fetch_add_explicit(&(l)->stats.field, (n), memory_order_relaxed)
#define HTTP__STAT_SUB(l, field, n)                                                                \
    atomic_fetch_sub_explicit(&(l)->stats.field, (n), memory_order_relaxed)

/* http.c */
void http__loop_enqueue(http_conn_t *c);
void http__loop_dequeue(http_conn_t *c);
void http__loop_maybe_done(http_loop_t *l);
void http__conns_process_dec(void);
bool http__addr_acquire(http_server_t *s, const http_addr_t *a);
void http__addr_release(http_server_t *s, const http_addr_t *a);

/* http_conn.c */
int http__conn_accept(http_loop_t *l, bool tls);
void http__conn_parse(http_conn_t *c, bool progressed);
void http__conn_settle(http_conn_t *c, bool progressed);
void http__conn_close(http_conn_t *c);
void http__conn_free(http_conn_t *c);
void http__conn_stop(http_conn_t *c);
void http__req_clear(http_conn_t *c);
void http__conn_output_done(http_conn_t *c, size_t bytes);

/* http_tls.c: the TLS side of a connection whose ssl is set. */
int http__tls_start(http_conn_t *c);
void http__tls_input(http_conn_t *c, const char *data, size_t len);
bool http__tls_pump(http_conn_t *c);
bool http__tls_input_waiting(const http_conn_t *c);
void http__tls_write(http_conn_t *c, const char *head, size_t head_len, const void *body,
                     size_t body_len);
void http__tls_shutdown(http_conn_t *c);
void http__tls_free(http_conn_t *c);

/* http_resp.c */
/* Send all of b's pending bytes (a TLS connection's ciphertext). 0, or <0
 * when the connection was closed. */
int http__conn_write_bio(http_conn_t *c, BIO *b);
void http__conn_write(http_conn_t *c, const char *head, size_t head_len, const void *body,
                      size_t body_len, void (*release)(void *), void *release_arg);
void http__conn_fail(http_conn_t *c, int status);

static inline http_conn_t *http__conn_of(const http_req_t *req)
{
    return HTTP__CONTAINER_OF(req, http_conn_t, req);
}

#endif
