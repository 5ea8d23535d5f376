/*
 * fuzz_node.h - what the HTTP harnesses (fuzz_http.c, fuzz_body.c) share: a
 * real node in the fuzzing process and a client that talks to it.
 *
 * The node is put together as node/cmd/main.c does for a lone origin: a
 * RocksDB store in a temporary directory (removed at exit), the read cache,
 * kvops, the configured tokens, the stored-token table, metrics, the
 * replica (a lone origin: every write goes through the replication core and
 * the judge) and the HTTP server (node/http, one loop thread) on an
 * ephemeral 127.0.0.1 port with the real application handler
 * (node/api/app.c). It is started once per process; each input is one TCP
 * connection over loopback: the client writes the bytes (in one piece or
 * in chunks), shuts its side down and reads until the server closes.
 *
 * The store keeps what the inputs wrote. Every FZN_RESET_EVERY inputs, and
 * whenever the namespace the seeds use (FZN_NS) is gone, the harness
 * deletes every namespace of the account and creates FZN_NS again through
 * the replica, so namespaces, keys and /digest's cost stay bounded.
 *
 * The response checker (fzn_check) parses the server's bytes as HTTP/1.1
 * responses next to a reference parse of the request bytes (llhttp, the
 * server's own parser, with the server's settings): every response is
 * well-formed (status line, Content-Length on every response with a body,
 * the body whole, nothing after a "Connection: close" answer); responses
 * come one per request, in order, and a connection that the server did not
 * close with an answer answered every complete request; an answer with a
 * JSON content type is JSON, and a REST envelope says success exactly on
 * 2xx; no request without a configured secret gets a 2xx except /healthz,
 * /readyz and /metrics.
 *
 * Not a test framework and not a product seam: nothing in node/ changed
 * for it; it drives the node as a client would.
 */
#ifndef FUZZ_NODE_H
#define FUZZ_NODE_H

#include "fuzz_store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cache.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kvops.h"
#include "metrics.h"
#include "replica.h"
#include "state.h"
#include "store.h"
#include "tokens.h"

#define FZN_ACCOUNT "0123456789abcdef0123456789abcdef"
#define FZN_NS      "00112233445566778899aabbccddeeff"
#define FZN_ADMIN   "fuzz-admin-secret"  /* read+write, every namespace: the operator scope */
#define FZN_READER  "fuzz-reader-secret" /* read-only, FZN_NS only */
/* Inputs between two resets of the account's namespaces. */
#define FZN_RESET_EVERY 4096
/* How long one exchange may take before it counts as a hang. */
#define FZN_DEADLINE_MS 8000
/* Source addresses the client takes turns with (127.0.N.1). */
#define FZN_CLIENT_ADDRS 200
/* Most responses one connection is checked for (pipelined requests). */
#define FZN_MAX_MSGS 256

static struct {
    char dir[64];
    stor_t *store;
    cache_t *cache;
    kvops_t *ops;
    auth_t *auth;
    metrics_t *metrics;
    replica_t *replica;
    http_server_t *http;
    node_app_t app;
    int port;
    unsigned inputs;
} fzn;

static void fzn_stop(void)
{
    http_server_stop(fzn.http, 1000);
    replica_stop(fzn.replica);
    kvops_destroy(fzn.ops);
    cache_destroy(fzn.cache);
    auth_destroy(fzn.auth);
    metrics_destroy(fzn.metrics);
    fz_store_remove(fzn.store, fzn.dir);
}

static void fzn_on_tokens(void *arg)
{
    (void)arg;
    tokens_reload(fzn.store, fzn.auth);
}

/* Delete every namespace of the account (with their keys), then create
 * FZN_NS, all through the replica as the REST API would. */
static void fzn_reset(void)
{
    stor_ns_t *list;
    size_t count, total;

    while (stor_ns_list(fzn.store, FZN_ACCOUNT, STOR_NS_ORDER_ID, false, 1, 100, &list, &count,
                        &total) == 0 &&
           count > 0) {
        for (size_t i = 0; i < count; i++)
            FZ_CHECK(kvops_ns_delete(fzn.ops, NULL, list[i].id) == 0);
        kv_free(list);
    }
    repl_op_t op = {.kind = REPL_OP_NS_CREATE, .account = FZN_ACCOUNT, .title = "fuzz"};
    int res = 0;
    memcpy(op.ns_id, FZN_NS, sizeof op.ns_id);
    FZ_CHECK(replica_write(fzn.replica, &op, 1, &res, NULL) == 0 && res == 0);
}

static void fzn_start(void)
{
    static const char *const reader_ns[] = {FZN_NS};
    const auth_token_t tokens[] = {
        {"admin", FZN_ADMIN, FZN_ACCOUNT, NULL, 0, true},
        {"reader", FZN_READER, FZN_ACCOUNT, reader_ns, 1, false},
    };
    replica_config_t rc;
    http_config_t hc = {0};

    char hex[65];

    kv_log_set_level(KV_LOG_ERROR);
    /* OpenSSL initialises itself at its first use and keeps state of the
     * thread that did it; a node that uses TLS does that on its main
     * thread. Do it here, not on the HTTP loop thread joined at exit
     * (whose copy LeakSanitizer would report once, at exit). */
    auth_digest_hex("", 0, hex);
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    signal(SIGPIPE, SIG_IGN);
    snprintf(fzn.dir, sizeof fzn.dir, "/tmp/edgekv-fuzz-http-XXXXXX");
    fzn.store = fz_store_open(fzn.dir, 4u << 20);
    FZ_CHECK(state_upgrade(fzn.store, NULL) == 0);
    FZ_CHECK(auth_create(tokens, 2, &fzn.auth) == 0);
    FZ_CHECK(cache_create(4u << 20, &fzn.cache) == 0);
    FZ_CHECK(kvops_create(fzn.store, fzn.cache, &fzn.ops) == 0);
    FZ_CHECK(metrics_create(1, &fzn.metrics) == 0);
    FZ_CHECK(tokens_reload(fzn.store, fzn.auth) == 0);
    fzn.app.ops = fzn.ops;
    fzn.app.auth = fzn.auth;
    fzn.app.metrics = fzn.metrics;
    fzn.app.account_id = FZN_ACCOUNT;
    fzn.app.role = "origin";
    fzn.app.node_id = 1;
    fzn.app.start_ns = uv_hrtime();

    replica_config_defaults(&rc, REPLICA_ORIGIN);
    rc.lone = true;
    rc.node_id = 1;
    rc.store = fzn.store;
    rc.cache = fzn.cache;
    rc.on_tokens = fzn_on_tokens;
    FZ_CHECK(replica_start(&rc, &fzn.replica) == 0);
    kvops_set_replica(fzn.ops, fzn.replica);

    hc.host = "127.0.0.1";
    hc.port = 0;
    hc.loops = 1;
    hc.handler = app_http_handler(&fzn.app);
    FZ_CHECK(http_server_start(&hc, &fzn.http) == 0);
    fzn.app.http = fzn.http;
    fzn.port = http_server_port(fzn.http);
    fzn_reset();
    atexit(fzn_stop);
}

/* Before each input: the periodic reset, or FZN_NS back if an input
 * deleted it. */
static void fzn_prepare(void)
{
    if (++fzn.inputs % FZN_RESET_EVERY == 0 || stor_ns_get(fzn.store, FZN_NS, NULL) != 0)
        fzn_reset();
}

/* ---- the client -------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} fzn_buf_t;

static void fzn_buf_put(fzn_buf_t *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        FZ_CHECK(b->p != NULL);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static uint64_t fzn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read what is there (waiting at most wait_ms); false at the end of the
 * stream. */
static bool fzn_read_some(int fd, fzn_buf_t *out, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[16384];

    if (poll(&p, 1, wait_ms) <= 0)
        return true;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
        fzn_buf_put(out, buf, (size_t)n);
        return true;
    }
    /* The server never resets a connection that sent it nothing after
     * FIN: a reset could destroy an answer in flight (http_conn.c). */
    FZ_CHECK(n == 0 || errno == EAGAIN || errno == EINTR);
    return n != 0;
}

/* One connection: send the bytes, in chunks of `chunk` (0: at once) with
 * a pause between them so they arrive in separate reads (best effort),
 * then FIN; collect the answer until the server closes. */
static void fzn_exchange(const uint8_t *req, size_t len, size_t chunk, fzn_buf_t *out)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fzn.port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    uint64_t due = fzn_now_ms() + FZN_DEADLINE_MS;
    bool open = true;

    FZ_CHECK(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* The client sends the first FIN, so each connection leaves a
     * TIME_WAIT here for a minute: spread them over FZN_CLIENT_ADDRS
     * source addresses of 127/8, each with its own ephemeral ports, or a
     * long campaign runs out of ports (connect: EADDRNOTAVAIL). */
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 256u * (fzn.inputs % FZN_CLIENT_ADDRS));
    FZ_CHECK(bind(fd, (struct sockaddr *)&src, sizeof src) == 0);
    /* Non-blocking from here: libFuzzer's SIGALRM (its -timeout watchdog)
     * interrupts blocking calls with EINTR. */
    FZ_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
    int err = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    if (err == EINPROGRESS || err == EINTR) {
        struct pollfd pw = {.fd = fd, .events = POLLOUT};
        socklen_t el = sizeof err;
        while (poll(&pw, 1, 100) <= 0)
            FZ_CHECK(fzn_now_ms() < due);
        FZ_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0);
    }
    if (err != 0) {
        fprintf(stderr, "fuzz_node: connect: %s\n", strerror(err));
        FZ_CHECK(!"the node accepts every connection");
    }
    size_t off = 0;
    while (off < len && open) {
        size_t n = chunk && len - off > chunk ? chunk : len - off;
        ssize_t w = send(fd, req + off, n, MSG_NOSIGNAL);
        if (w < 0) {
            /* The server may close after an answer that ends the
             * connection (a 400, a 413) while bytes are still coming. */
            FZ_CHECK(errno == EAGAIN || errno == EINTR || errno == EPIPE || errno == ECONNRESET);
            if (errno != EAGAIN && errno != EINTR)
                break;
            w = 0;
        }
        off += (size_t)w;
        if (chunk && off < len)
            nanosleep(&(struct timespec){0, 200 * 1000}, NULL);
        open = fzn_read_some(fd, out, 0);
        FZ_CHECK(fzn_now_ms() < due);
    }
    shutdown(fd, SHUT_WR);
    while (open) {
        open = fzn_read_some(fd, out, 100);
        if (open && fzn_now_ms() >= due) {
            fprintf(stderr, "fuzz_node: no end of the answer within %d ms\n", FZN_DEADLINE_MS);
            FZ_CHECK(!"the server answers and closes every connection in time");
        }
    }
    close(fd);
}

/* ---- the reference parse of the request bytes --------------------------------------- */

typedef struct {
    uint8_t method; /* llhttp's; 0xff until the method is known */
    bool complete;
    bool keep_alive; /* when complete */
    bool secret;     /* an Authorization header carries a configured secret */
    bool open_path;  /* /healthz, /readyz or /metrics, GET or HEAD */
    char path[16];   /* the target's first bytes */
    size_t path_len;
    char field[16]; /* the current header name's first bytes */
    size_t field_len;
    bool in_auth;
} fzn_msg_t;

typedef struct {
    fzn_msg_t m[FZN_MAX_MSGS];
    size_t begun, complete;
    bool error;
} fzn_ref_t;

static fzn_ref_t *fzn_ref_of(llhttp_t *p)
{
    return p->data;
}

static fzn_msg_t *fzn_cur(llhttp_t *p)
{
    fzn_ref_t *r = fzn_ref_of(p);
    return r->begun && r->begun <= FZN_MAX_MSGS ? &r->m[r->begun - 1] : NULL;
}

static int fzn_on_begin(llhttp_t *p)
{
    fzn_ref_t *r = fzn_ref_of(p);
    if (r->begun < FZN_MAX_MSGS)
        memset(&r->m[r->begun], 0, sizeof r->m[0]), r->m[r->begun].method = 0xff;
    r->begun++;
    return 0;
}

static int fzn_on_url(llhttp_t *p, const char *at, size_t len)
{
    fzn_msg_t *m = fzn_cur(p);
    for (size_t i = 0; m && i < len && m->path_len < sizeof m->path; i++)
        m->path[m->path_len++] = at[i];
    return 0;
}

static int fzn_on_field(llhttp_t *p, const char *at, size_t len)
{
    fzn_msg_t *m = fzn_cur(p);
    for (size_t i = 0; m && i < len; i++, m->field_len++)
        if (m->field_len < sizeof m->field)
            m->field[m->field_len] = at[i];
    return 0;
}

static int fzn_on_field_done(llhttp_t *p)
{
    fzn_msg_t *m = fzn_cur(p);
    if (m)
        m->in_auth = m->field_len == 13 && strncasecmp(m->field, "authorization", 13) == 0;
    return 0;
}

static int fzn_on_value(llhttp_t *p, const char *at, size_t len)
{
    fzn_msg_t *m = fzn_cur(p);
    /* A secret split over two callbacks does not happen: the reference
     * parse is one llhttp_execute over the whole input. */
    if (m && m->in_auth &&
        (memmem(at, len, FZN_ADMIN, strlen(FZN_ADMIN)) ||
         memmem(at, len, FZN_READER, strlen(FZN_READER))))
        m->secret = true;
    return 0;
}

static int fzn_on_value_done(llhttp_t *p)
{
    fzn_msg_t *m = fzn_cur(p);
    if (m)
        m->field_len = 0, m->in_auth = false;
    return 0;
}

static int fzn_on_headers(llhttp_t *p)
{
    fzn_msg_t *m = fzn_cur(p);
    if (m) {
        m->method = p->method;
        size_t n = m->path_len;
        const char *q = memchr(m->path, '?', n);
        n = q ? (size_t)(q - m->path) : n;
        bool get = p->method == HTTP_GET || p->method == HTTP_HEAD;
        m->open_path = get && ((n == 8 && memcmp(m->path, "/healthz", 8) == 0) ||
                               (n == 7 && memcmp(m->path, "/readyz", 7) == 0) ||
                               (n == 8 && memcmp(m->path, "/metrics", 8) == 0));
    }
    return 0;
}

static int fzn_on_complete(llhttp_t *p)
{
    fzn_ref_t *r = fzn_ref_of(p);
    fzn_msg_t *m = fzn_cur(p);
    if (m) {
        m->complete = true;
        m->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    }
    r->complete++;
    return 0;
}

static void fzn_reference(const uint8_t *req, size_t len, fzn_ref_t *r)
{
    static llhttp_settings_t s;
    llhttp_t p;

    llhttp_settings_init(&s);
    s.on_message_begin = fzn_on_begin;
    s.on_url = fzn_on_url;
    s.on_header_field = fzn_on_field;
    s.on_header_field_complete = fzn_on_field_done;
    s.on_header_value = fzn_on_value;
    s.on_header_value_complete = fzn_on_value_done;
    s.on_headers_complete = fzn_on_headers;
    s.on_message_complete = fzn_on_complete;
    memset(r, 0, sizeof *r);
    llhttp_init(&p, HTTP_REQUEST, &s);
    p.data = r;
    llhttp_errno_t e = llhttp_execute(&p, (const char *)req, len);
    /* An upgrade ends the parse like a Connection: close (the server does
     * the same); anything else that stops it is an error. */
    r->error = e != HPE_OK && e != HPE_PAUSED_UPGRADE;
}

/* ---- the response checker ---------------------------------------------------------- */

typedef struct {
    int status;
    bool close;
    bool json;
    const uint8_t *body;
    size_t body_len;
} fzn_resp_t;

/* Parse the head of one response at b[0..n): returns its length (through
 * the blank line), fills r and *cl (UINT64_MAX: no Content-Length). */
static size_t fzn_parse_head(const uint8_t *b, size_t n, fzn_resp_t *r, uint64_t *cl)
{
    const uint8_t *end = memmem(b, n, "\r\n\r\n", 4);
    FZ_CHECK(end != NULL); /* a head is whole */
    size_t head_len = (size_t)(end - b) + 4;
    FZ_CHECK(head_len >= 15 && memcmp(b, "HTTP/1.1 ", 9) == 0);
    for (int i = 9; i < 12; i++)
        FZ_CHECK(b[i] >= '0' && b[i] <= '9');
    FZ_CHECK(b[12] == ' ');
    r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    FZ_CHECK(r->status >= 100 && r->status <= 599);
    const uint8_t *line = memmem(b, head_len, "\r\n", 2) + 2; /* after the status line */
    for (const uint8_t *q = b; q < line - 2; q++)
        FZ_CHECK(*q != '\r' && *q != '\n' && *q != '\0');
    *cl = UINT64_MAX;
    r->close = r->json = false;
    while (line < b + head_len - 2) {
        const uint8_t *eol = memmem(line, (size_t)(b + head_len - line), "\r\n", 2);
        size_t ll = (size_t)(eol - line);
        const uint8_t *colon = memchr(line, ':', ll);
        FZ_CHECK(colon && colon > line && colon + 1 < eol && colon[1] == ' ');
        for (const uint8_t *q = line; q < eol; q++)
            FZ_CHECK(*q != '\r' && *q != '\n' && *q != '\0');
        size_t nl = (size_t)(colon - line), vl = (size_t)(eol - colon - 2);
        const char *v = (const char *)colon + 2;
        if (nl == 14 && strncasecmp((const char *)line, "Content-Length", 14) == 0) {
            FZ_CHECK(*cl == UINT64_MAX && vl > 0 && vl <= 19); /* once, a number */
            *cl = 0;
            for (size_t i = 0; i < vl; i++) {
                FZ_CHECK(v[i] >= '0' && v[i] <= '9');
                *cl = *cl * 10 + (uint64_t)(v[i] - '0');
            }
        } else if (nl == 10 && strncasecmp((const char *)line, "Connection", 10) == 0) {
            r->close = vl == 5 && strncasecmp(v, "close", 5) == 0;
        } else if (nl == 12 && strncasecmp((const char *)line, "Content-Type", 12) == 0) {
            r->json = vl >= 16 && strncasecmp(v, "application/json", 16) == 0;
        }
        line = eol + 2;
    }
    return head_len;
}

/* Every property of the comment at the top, for the answer `resp` to the
 * request bytes `req`. Returns the number of final answers. */
static size_t fzn_check(const uint8_t *req, size_t len, const fzn_buf_t *resp)
{
    static fzn_ref_t ref;
    const uint8_t *b = resp->p;
    size_t n = resp->n, answers = 0;
    bool closed = false;

    fzn_reference(req, len, &ref);
    if (getenv("FUZZ_NODE_VERBOSE")) /* to read what a reproducer got */
        fprintf(stderr, "-- %zu request bytes, %zu begun, %zu complete%s; answer:\n%.*s\n--\n", len,
                ref.begun, ref.complete, ref.error ? ", error" : "", (int)n, (const char *)b);
    while (n > 0) {
        fzn_resp_t r;
        uint64_t cl;
        FZ_CHECK(!closed); /* nothing after a Connection: close answer */
        size_t h = fzn_parse_head(b, n, &r, &cl);
        b += h, n -= h;
        if (r.status < 200) { /* an interim 100 Continue: no body */
            FZ_CHECK(r.status == 100 && cl == UINT64_MAX && !r.close);
            continue;
        }
        bool has_body = r.status != 204 && r.status != 304;
        FZ_CHECK(has_body == (cl != UINT64_MAX));
        const fzn_msg_t *m = answers < FZN_MAX_MSGS && answers < ref.begun ? &ref.m[answers] : NULL;
        /* A HEAD answer has no body, except the server's own errors, which
         * close the connection: then the body is there or nothing is. */
        bool head = m && m->method == HTTP_HEAD;
        if (!has_body)
            cl = 0;
        if (head && !(r.close && n == cl))
            cl = 0;
        FZ_CHECK(cl <= n); /* the body is whole */
        r.body = b, r.body_len = (size_t)cl;
        b += cl, n -= (size_t)cl;
        if (r.json && r.body_len > 0) {
            json_t *doc = json_loadb((const char *)r.body, r.body_len, JSON_DECODE_ANY, NULL);
            FZ_CHECK(doc != NULL);
            json_t *ok = json_object_get(doc, "success");
            if (json_is_boolean(ok))
                FZ_CHECK(json_is_true(ok) == (r.status >= 200 && r.status < 300));
            json_decref(doc);
        }
        if (m && r.status >= 200 && r.status < 300)
            FZ_CHECK(m->secret || m->open_path);
        answers++;
        closed = r.close;
    }
    /* One answer per request: at most one per message the request bytes
     * begin (a garbage byte begins one: the 400 answers it). */
    FZ_CHECK(answers <= (ref.begun > 0 ? ref.begun : 1));
    /* The server answers no request after one that ends the connection. */
    size_t first_close = SIZE_MAX;
    for (size_t i = 0; i < ref.begun && i < FZN_MAX_MSGS; i++)
        if (ref.m[i].complete && !ref.m[i].keep_alive) {
            first_close = i;
            break;
        }
    if (first_close != SIZE_MAX)
        FZ_CHECK(answers <= first_close + 1);
    /* A connection the server did not end with an answer answered every
     * complete request and saw no error in the bytes. */
    if (!closed && ref.complete < FZN_MAX_MSGS) {
        FZ_CHECK(!ref.error && first_close == SIZE_MAX);
        FZ_CHECK(answers == ref.complete);
    }
    return answers;
}

#endif
