/*
 * test_http.c - the HTTP/1.1 server (node/http/http.h) over real sockets.
 *
 * A server on 127.0.0.1:0 with two loops and a test handler; clients are raw
 * blocking sockets so every byte sent and expected is exact.
 *
 * Nothing here may depend on how fast the machine is (CI runs it under
 * ASan+UBSan, two tests at a time on two loaded cores). So:
 *  - servers whose timers the test does not measure have timeouts far longer
 *    than any test; clients wait for the server up to T_DEADLINE_MS;
 *  - the timeout tests get servers of their own with short timeouts. That a
 *    timer fires is certain; that it does not fire is checked only on an
 *    attempt whose gaps, measured by the client, stayed well inside the
 *    timeout (an attempt that a stalled thread made invalid is run again);
 *  - a test that needs the server in some state (a request held by the
 *    application, the server stopping) waits for that state, never for a
 *    fixed time;
 *  - no assertion bounds how long something took from above.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "kv_err.h"
#include "kv_mem.h"

/* The servers of the timeout tests. */
#define T_READ_TIMEOUT_MS 200
#define T_IDLE_TIMEOUT_MS 400
/* Every other server: no timer of theirs fires during a test. */
#define T_LONG_TIMEOUT_MS (10u * 60u * 1000u)
/* How long a client waits for the server before the test fails: generous
 * for a loaded machine, short of ctest's TIMEOUT. */
#define T_DEADLINE_MS 60000u
/* A timer cannot fire early, but the clocks differ in granularity: the
 * loop's is a coarse millisecond clock, ours is truncated to milliseconds. */
#define T_TIMER_SLACK_MS 20
#define T_BIG_LIMIT      (16u * 1024u * 1024u) /* head() for most paths */
#define T_SMALL_LIMIT    100                   /* head() for /small */

/* /big answers this many bytes, copied (the output bound test). */
#define T_BIG_BODY (32u * 1024u)
static char g_big_body[T_BIG_BODY];

static const char HELLO_200[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                                "Content-Type: text/plain\r\n\r\nhello world";

/* ---- shared state, touched by loop threads ---------------------------------------- */

static atomic_int g_releases;
static atomic_int g_too_large_calls;
static _Atomic uint64_t g_too_large_len;
static atomic_int g_async_borrows; /* /async-borrow requests handed to the app */
static atomic_int g_held;          /* /held and /held-borrow requests handed to the app */
static atomic_bool g_held_release; /* set by a test: answer the held requests now */
static http_server_t *g_srv;
static int g_port;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait until *n >= want (set by a loop thread); fails after T_DEADLINE_MS. */
static void wait_count(atomic_int *n, int want)
{
    uint64_t end = now_ms() + T_DEADLINE_MS;

    while (atomic_load(n) < want) {
        if (now_ms() > end)
            fail_msg("waited %u ms for a count of %d, it is %d", T_DEADLINE_MS, want,
                     atomic_load(n));
        sleep_ms(1);
    }
}

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)((i * 31u + 7u) ^ (i >> 13));
}

/* ---- the test handler ------------------------------------------------------------- */

static bool path_is(const http_req_t *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static void respond_text(http_req_t *req, int status, const char *text, size_t len)
{
    http_response_t r = {
        .status = status, .content_type = "text/plain", .body = text, .body_len = len};
    http_respond(req, &r);
}

static void count_release(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_releases, 1);
}

static const char BORROWED[] = "borrowed body";

static void respond_borrowed(http_req_t *req)
{
    http_response_t r = {.status = 200,
                         .content_type = "text/plain",
                         .body = BORROWED,
                         .body_len = sizeof(BORROWED) - 1,
                         .body_release = count_release};
    http_respond(req, &r);
}

typedef struct {
    uv_timer_t timer;
    http_req_t *req;
} t_async_t;

static void t_async_closed(uv_handle_t *h)
{
    free(h->data);
}

static void t_async_fire(uv_timer_t *t)
{
    t_async_t *a = t->data;
    http_req_t *req = a->req;

    if (path_is(req, "/async-borrow"))
        respond_borrowed(req);
    else if (path_is(req, "/late"))
        respond_text(req, 200, "late", 4);
    else
        respond_text(req, 200, req->query, req->query_len);
    uv_close((uv_handle_t *)t, t_async_closed);
}

/* Answer req after ms, from a timer on the request's loop. */
static void respond_later(http_req_t *req, unsigned ms)
{
    t_async_t *a = malloc(sizeof(*a));
    assert_non_null(a);
    a->req = req;
    uv_timer_init(http_req_loop(req), &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, t_async_fire, ms, 0);
}

static void t_held_poll(uv_timer_t *t)
{
    t_async_t *a = t->data;

    if (!atomic_load(&g_held_release))
        return;
    uv_timer_stop(t);
    if (path_is(a->req, "/held-borrow"))
        respond_borrowed(a->req);
    else
        respond_text(a->req, 200, "held done", 9);
    uv_close((uv_handle_t *)t, t_async_closed);
}

/* Hold req in the application until a test sets g_held_release. The timer
 * that polls the flag also keeps the loop (and so http_server_stop) going
 * until the answer was given. */
static void respond_when_released(http_req_t *req)
{
    t_async_t *a = malloc(sizeof(*a));
    assert_non_null(a);
    a->req = req;
    uv_timer_init(http_req_loop(req), &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, t_held_poll, 1, 1);
    atomic_fetch_add(&g_held, 1);
}

/* /posted: the request is handed to a thread of its own (as a durable
 * write is to the replication loop), which posts the answer back to the
 * request's loop once a test sets g_post_release. Nothing but the hold
 * keeps the loop up meanwhile. */
static atomic_int g_posted;
static atomic_bool g_post_release;

typedef struct {
    http_post_t post; /* first */
    http_loop_t *loop;
    http_req_t *req;
} t_posted_t;

static atomic_int g_posted_run;

static void t_posted_run(http_post_t *p)
{
    t_posted_t *x = (t_posted_t *)p;
    respond_text(x->req, 200, "posted", 6);
    free(x);
    atomic_fetch_add(&g_posted_run, 1);
}

static void *t_post_thread(void *arg)
{
    t_posted_t *x = arg;
    while (!atomic_load(&g_post_release))
        usleep(1000);
    http_loop_post(x->loop, &x->post);
    return NULL;
}

static void respond_posted(http_req_t *req)
{
    t_posted_t *x = malloc(sizeof(*x));
    pthread_t th;
    assert_non_null(x);
    x->req = req;
    x->post.run = t_posted_run;
    x->loop = http_req_hold(req);
    assert_int_equal(pthread_create(&th, NULL, t_post_thread, x), 0);
    pthread_detach(th);
    atomic_fetch_add(&g_posted, 1);
}

static void respond_pattern_check(http_req_t *req)
{
    char out[64];

    for (size_t i = 0; i < req->body_len; i++) {
        if (req->body[i] != pattern_byte(i)) {
            int n = snprintf(out, sizeof(out), "bad at %zu", i);
            respond_text(req, 200, out, (size_t)n);
            return;
        }
    }
    int n = snprintf(out, sizeof(out), "ok %zu", req->body_len);
    respond_text(req, 200, out, (size_t)n);
}

static void respond_header(http_req_t *req)
{
    const http_header_t *h = http_req_header(req, "X-TEST");
    char out[128];

    if (!h) {
        respond_text(req, 200, "none", 4);
        return;
    }
    int n =
        snprintf(out, sizeof(out), "[%.*s] %zu", (int)h->value_len, h->value, req->header_count);
    respond_text(req, 200, out, (size_t)n);
}

static void respond_status(http_req_t *req, int status, const char *reason)
{
    http_response_t r = {.status = status, .reason = reason};
    http_respond(req, &r);
}

static void t_request(http_req_t *req, void *ctx)
{
    (void)ctx;
    if (path_is(req, "/hello")) {
        respond_text(req, 200, "hello world", 11);
    } else if (path_is(req, "/q")) {
        if (req->query)
            respond_text(req, 200, req->query, req->query_len);
        else
            respond_text(req, 200, "-", 1);
    } else if (path_is(req, "/async")) {
        respond_later(req, 50);
    } else if (path_is(req, "/echo")) {
        respond_text(req, 200, (const char *)req->body, req->body_len);
    } else if (path_is(req, "/pattern")) {
        respond_pattern_check(req);
    } else if (path_is(req, "/reason")) {
        respond_status(req, 400,
                       "Invalid expiration_ttl of 0. Please specify integer "
                       "greater than 0.");
    } else if (path_is(req, "/crlf")) {
        respond_status(req, 400, "bad\r\nX-Injected: 1");
    } else if (path_is(req, "/borrow")) {
        respond_borrowed(req);
    } else if (path_is(req, "/async-borrow")) {
        atomic_fetch_add(&g_async_borrows, 1);
        respond_later(req, 150);
    } else if (path_is(req, "/posted")) {
        respond_posted(req);
    } else if (path_is(req, "/held") || path_is(req, "/held-borrow")) {
        respond_when_released(req);
    } else if (path_is(req, "/late")) {
        respond_later(req, T_IDLE_TIMEOUT_MS + T_READ_TIMEOUT_MS);
    } else if (path_is(req, "/header")) {
        respond_header(req);
    } else if (path_is(req, "/omit")) {
        http_response_t r = {.status = 200,
                             .content_type = "text/plain",
                             .body = "hello world",
                             .body_len = 11,
                             .omit_body = true};
        http_respond(req, &r);
    } else if (path_is(req, "/extra")) {
        http_response_t r = {.status = 201, .headers = "X-A: 1\r\nX-B: 2\r\n", .headers_len = 16};
        http_respond(req, &r);
    } else if (path_is(req, "/big")) {
        respond_text(req, 200, g_big_body, sizeof(g_big_body));
    } else if (path_is(req, "/nocontent")) {
        respond_status(req, 204, NULL);
    } else {
        respond_text(req, 404, "not found", 9);
    }
}

static uint64_t t_head(http_req_t *req, void *ctx)
{
    (void)ctx;
    if (path_is(req, "/value")) /* a Worker's value: 25 MiB */
        return KV_VALUE_MAX_BYTES;
    return path_is(req, "/small") ? T_SMALL_LIMIT : T_BIG_LIMIT;
}

static void t_too_large(http_req_t *req, uint64_t body_len, void *ctx)
{
    (void)ctx;
    assert_null(req->body);
    atomic_store(&g_too_large_len, body_len);
    atomic_fetch_add(&g_too_large_calls, 1);
    respond_text(req, 413, "too large", 9);
}

/* A server whose timers never fire within a test. */
static http_config_t t_config(void)
{
    http_config_t cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .loops = 2,
        .handler = {.head = t_head, .too_large = t_too_large, .request = t_request},
        .idle_timeout_ms = T_LONG_TIMEOUT_MS,
        .read_timeout_ms = T_LONG_TIMEOUT_MS};
    return cfg;
}

/* A server for a timeout test, with the given (short) timeouts. */
static http_server_t *t_server_timeouts(unsigned read_ms, unsigned idle_ms)
{
    http_config_t cfg = t_config();
    http_server_t *s;

    cfg.read_timeout_ms = read_ms;
    cfg.idle_timeout_ms = idle_ms;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    return s;
}

/* ---- raw client ------------------------------------------------------------------- */

typedef struct {
    int fd;
    size_t len;
    char buf[256 * 1024];
} cli_t;

static cli_t *cli_open_port(int port)
{
    cli_t *c = calloc(1, sizeof(*c));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {T_DEADLINE_MS / 1000, 0};

    assert_non_null(c);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* A server that stops answering (or reading) fails the test, late. */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return c;
}

static cli_t *cli_open(void)
{
    return cli_open_port(g_port);
}

static void cli_close(cli_t *c)
{
    close(c->fd);
    free(c);
}

/* Send all of buf; false when the connection failed first. */
static bool cli_send_try(cli_t *c, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void cli_send(cli_t *c, const void *buf, size_t len)
{
    assert_true(cli_send_try(c, buf, len));
}

static void cli_send_str(cli_t *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

static bool cli_fill(cli_t *c)
{
    if (c->len == sizeof(c->buf))
        return false;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    return true;
}

/* The next response (with its Content-Length body when `body`); NULL when
 * the connection ended first. Free with free(). */
static char *cli_next(cli_t *c, bool body)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end + 4 - c->buf), cl = 0;
            char *p = memmem(c->buf, head, "Content-Length: ", 16);
            if (body && p)
                cl = strtoul(p + 16, NULL, 10);
            if (c->len >= head + cl) {
                char *r = strndup(c->buf, head + cl);
                memmove(c->buf, c->buf + head + cl, c->len - head - cl);
                c->len -= head + cl;
                return r;
            }
        }
        if (!cli_fill(c))
            return NULL;
    }
}

static void cli_expect(cli_t *c, const char *want)
{
    char *r = cli_next(c, true);
    assert_non_null(r);
    assert_string_equal(r, want);
    free(r);
}

/* Wait for the server to close: returns the bytes that came first, or -1
 * when nothing closed within the receive timeout (-2 on a reset). */
static long cli_wait_eof(cli_t *c)
{
    long extra = (long)c->len;
    char tmp[4096];

    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        if (n == 0)
            return extra;
        if (n < 0)
            return errno == ECONNRESET ? -2 : -1;
        extra += n;
    }
}

/* ---- tests: basics ---------------------------------------------------------------- */

static void test_simple_get(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cli_expect(c, HELLO_200);
    cli_send_str(c, "GET /extra HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
    cli_send_str(c, "DELETE /nocontent HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 204 No Content\r\n\r\n");
    cli_send_str(c, "GET /nowhere HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
                  "Content-Type: text/plain\r\n\r\nnot found");
    cli_close(c);
}

static void test_query_and_headers(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "GET /q?a=1&b=%20 HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n\r\n"
                  "a=1&b=%20");
    cli_send_str(c, "GET /q HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\n-");
    cli_send_str(c, "GET /header HTTP/1.1\r\nHost: x\r\nx-tEsT:   abc def  \r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
                  "[abc def] 2");
    cli_send_str(c, "GET /header HTTP/1.1\r\nX-Test:\r\nHost: y\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\n"
                  "[] 2");
    cli_send_str(c, "GET /header HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\n"
                  "none");
    cli_close(c);
}

static void test_keepalive(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    for (int i = 0; i < 3; i++) {
        cli_send_str(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        cli_expect(c, HELLO_200);
    }
    cli_send_str(c, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n"
                  "Connection: close\r\n\r\nhello world");
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);

    /* HTTP/1.0: closes unless keep-alive is asked for, and then says so. */
    c = cli_open();
    cli_send_str(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n"
                  "Connection: keep-alive\r\n\r\nhello world");
    cli_send_str(c, "GET /hello HTTP/1.0\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n"
                  "Connection: close\r\n\r\nhello world");
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);
}

static void test_pipeline(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    /* The second is answered 50 ms later from a timer; order must hold. */
    cli_send_str(c, "GET /q?1 HTTP/1.1\r\n\r\nGET /async?2 HTTP/1.1\r\n\r\n"
                    "GET /q?3 HTTP/1.1\r\n\r\nGET /q?4 HTTP/1.1\r\n\r\nGET /q?5 HTTP/1.1\r\n\r\n");
    for (int i = 1; i <= 5; i++) {
        char want[128];
        snprintf(want, sizeof(want),
                 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\n%d", i);
        cli_expect(c, want);
    }
    cli_close(c);
}

/* Requests, then the client's FIN: every request is still answered, the
 * last with Connection: close, then the server closes. */
static void test_half_close(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "GET /async?a HTTP/1.1\r\n\r\nGET /q?b HTTP/1.1\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\na");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n"
                  "Connection: close\r\n\r\nb");
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);
}

static void test_pipeline_many(void **state)
{
    (void)state;
    /* Several times KV_HTTP_PIPELINE_MAX_PER_READ in one send: the server
     * yields between rounds and still answers every one, in order. */
    enum { N = 4 * KV_HTTP_PIPELINE_MAX_PER_READ + 3 };
    char *reqs = malloc(N * 40);
    size_t len = 0;
    assert_non_null(reqs);
    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(reqs + len, "GET /q?%d HTTP/1.1\r\n\r\n", i);
    cli_t *c = cli_open();
    cli_send(c, reqs, len);
    for (int i = 0; i < N; i++) {
        char want[128];
        char num[16];
        int n = snprintf(num, sizeof(num), "%d", i);
        snprintf(want, sizeof(want),
                 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", n,
                 num);
        cli_expect(c, want);
    }
    cli_close(c);
    free(reqs);
}

/* ---- tests: bodies ---------------------------------------------------------------- */

static void test_post_large(void **state)
{
    (void)state;
    const size_t total = 10u * 1024u * 1024u, piece = 100000;
    uint8_t *body = malloc(total);
    char head[128], want[128];
    assert_non_null(body);
    for (size_t i = 0; i < total; i++)
        body[i] = pattern_byte(i);
    cli_t *c = cli_open();
    snprintf(head, sizeof(head), "POST /pattern HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", total);
    cli_send_str(c, head);
    for (size_t off = 0; off < total; off += piece) {
        cli_send(c, body + off, off + piece <= total ? piece : total - off);
        if (off % (20 * piece) == 0)
            sleep_ms(2); /* vary how the body splits into reads; any split passes */
    }
    int n = snprintf(want, sizeof(want), "ok %zu", total);
    char full[256];
    snprintf(full, sizeof(full),
             "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", n,
             want);
    cli_expect(c, full);
    /* A flipped byte is noticed: the check can fail. */
    body[4321] ^= 1;
    snprintf(head, sizeof(head), "POST /pattern HTTP/1.1\r\nContent-Length: %d\r\n\r\n", 8192);
    cli_send_str(c, head);
    cli_send(c, body, 8192);
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
                  "bad at 4321");
    cli_close(c);
    free(body);
}

static void test_expect_continue(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    char *r = cli_next(c, false);
    assert_non_null(r);
    assert_string_equal(r, "HTTP/1.1 100 Continue\r\n\r\n");
    free(r);
    cli_send_str(c, "hello");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello");
    cli_close(c);
}

static void test_chunked(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    sleep_ms(20); /* most likely two reads; one read passes the same */
    cli_send_str(c, "6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
                  "hello world");

    /* Larger than the first chunked allocation: the buffer grows. */
    enum { CHUNKS = 70, CHUNK = 1000 };
    cli_send_str(c, "POST /pattern HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t k = 0; k < CHUNKS; k++) {
        char line[32], data[CHUNK];
        snprintf(line, sizeof(line), "%x\r\n", CHUNK);
        cli_send_str(c, line);
        for (size_t i = 0; i < CHUNK; i++)
            data[i] = (char)pattern_byte(k * CHUNK + i);
        cli_send(c, data, CHUNK);
        cli_send_str(c, "\r\n");
    }
    cli_send_str(c, "0\r\n\r\n");
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Type: text/plain\r\n\r\n"
                  "ok 70000");
    cli_close(c);
}

static void test_too_large(void **state)
{
    (void)state;
    static const char want[] = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n"
                               "Content-Type: text/plain\r\nConnection: close\r\n\r\ntoo large";
    int calls = atomic_load(&g_too_large_calls);

    /* Announced length over the limit, with part of the body already sent. */
    cli_t *c = cli_open();
    char body[500];
    memset(body, 'b', sizeof(body));
    cli_send_str(c, "POST /small HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    cli_send(c, body, sizeof(body));
    cli_expect(c, want);
    assert_int_equal(atomic_load(&g_too_large_calls), calls + 1);
    assert_int_equal(atomic_load(&g_too_large_len), 1000);
    shutdown(c->fd, SHUT_WR);
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);

    /* Exactly the limit is fine. */
    c = cli_open();
    char head[128];
    snprintf(head, sizeof(head), "POST /small HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             T_SMALL_LIMIT);
    cli_send_str(c, head);
    cli_send(c, body, T_SMALL_LIMIT);
    cli_expect(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
                  "Content-Type: text/plain\r\n\r\nnot found");
    cli_close(c);

    /* Chunked: too_large gets the bytes counted when the limit was passed. */
    c = cli_open();
    char chunked[512];
    int n = snprintf(chunked, sizeof(chunked),
                     "POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n%.60s\r\n"
                     "3c\r\n%.60s\r\n0\r\n\r\n",
                     body, body);
    cli_send(c, chunked, (size_t)n);
    cli_expect(c, want);
    assert_int_equal(atomic_load(&g_too_large_calls), calls + 2);
    assert_int_equal(atomic_load(&g_too_large_len), 120);
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);
}

/* ---- tests: limits and errors ----------------------------------------------------- */

/* The server's own error response, which closes the connection. */
static void expect_error(cli_t *c, int status, const char *text)
{
    char want[256];
    snprintf(want, sizeof(want),
             "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n"
             "Connection: close\r\n\r\n%s\n",
             status, text, strlen(text) + 1, text);
    cli_expect(c, want);
}

/* We close our side: the server closes, with nothing more sent. */
static void expect_close(cli_t *c)
{
    shutdown(c->fd, SHUT_WR);
    assert_int_equal(cli_wait_eof(c), 0);
}

static void expect_error_and_close(cli_t *c, int status, const char *text)
{
    expect_error(c, status, text);
    expect_close(c);
}

static void test_header_bytes_431(void **state)
{
    (void)state;
    size_t n = KV_HTTP_HEADER_MAX_BYTES + 64;
    char *req = malloc(n + 64);
    assert_non_null(req);
    size_t len = (size_t)sprintf(req, "GET /hello HTTP/1.1\r\nX-Big: ");
    memset(req + len, 'a', KV_HTTP_HEADER_MAX_BYTES);
    len += KV_HTTP_HEADER_MAX_BYTES;
    len += (size_t)sprintf(req + len, "\r\n\r\n");
    cli_t *c = cli_open();
    cli_send(c, req, len);
    expect_error_and_close(c, 431, "Request Header Fields Too Large");
    cli_close(c);

    /* Whitespace the parser skips still counts toward the head. */
    len = (size_t)sprintf(req, "GET /hello HTTP/1.1\r\nX-Big:");
    memset(req + len, ' ', KV_HTTP_HEADER_MAX_BYTES);
    len += KV_HTTP_HEADER_MAX_BYTES;
    c = cli_open();
    cli_send(c, req, len);
    expect_error_and_close(c, 431, "Request Header Fields Too Large");
    cli_close(c);
    free(req);
}

static void send_headers(cli_t *c, int count)
{
    char line[64];
    cli_send_str(c, "GET /header HTTP/1.1\r\n");
    for (int i = 0; i < count - 1; i++) {
        snprintf(line, sizeof(line), "X-H%d: v\r\n", i);
        cli_send_str(c, line);
    }
    cli_send_str(c, "X-Test: last\r\n\r\n");
}

static void test_header_count_431(void **state)
{
    (void)state;
    char want[128];
    cli_t *c = cli_open();
    send_headers(c, KV_HTTP_HEADER_MAX_COUNT);
    int n = snprintf(want + 64, 64, "[last] %d", KV_HTTP_HEADER_MAX_COUNT);
    snprintf(want, 64, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", n);
    char full[256];
    snprintf(full, sizeof(full), "%sContent-Type: text/plain\r\n\r\n%s", want, want + 64);
    cli_expect(c, full);
    send_headers(c, KV_HTTP_HEADER_MAX_COUNT + 1);
    expect_error_and_close(c, 431, "Request Header Fields Too Large");
    cli_close(c);
}

static void test_url_414(void **state)
{
    (void)state;
    char *req = malloc(KV_HTTP_URL_MAX_BYTES + 64);
    assert_non_null(req);

    /* Exactly the limit passes. */
    size_t len = (size_t)sprintf(req, "GET /");
    memset(req + len, 'u', KV_HTTP_URL_MAX_BYTES - 1);
    len += KV_HTTP_URL_MAX_BYTES - 1;
    len += (size_t)sprintf(req + len, " HTTP/1.1\r\n\r\n");
    cli_t *c = cli_open();
    cli_send(c, req, len);
    cli_expect(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
                  "Content-Type: text/plain\r\n\r\nnot found");

    len = (size_t)sprintf(req, "GET /");
    memset(req + len, 'u', KV_HTTP_URL_MAX_BYTES);
    len += KV_HTTP_URL_MAX_BYTES;
    len += (size_t)sprintf(req + len, " HTTP/1.1\r\n\r\n");
    cli_send(c, req, len);
    expect_error_and_close(c, 414, "URI Too Long");
    cli_close(c);
    free(req);
}

static void test_garbage_400(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "\x01\x02\x03 garbage\r\n\r\n");
    expect_error_and_close(c, 400, "Bad Request");
    cli_close(c);

    /* A good request, then garbage: the first is answered, then 400. */
    c = cli_open();
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\nGET / HTTP/9.9x\r\n\r\n");
    cli_expect(c, HELLO_200);
    expect_error_and_close(c, 400, "Bad Request");
    cli_close(c);

    /* Content-Length with Transfer-Encoding (request smuggling) is refused. */
    c = cli_open();
    cli_send_str(c, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect_error_and_close(c, 400, "Bad Request");
    cli_close(c);
}

static void test_fuzz(void **state)
{
    (void)state;
    static const char valid[] =
        "POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\nX-A: b\r\n\r\n4\r\nbody\r\n0\r\n\r\n";
    unsigned seed = 12345;
    char buf[2048];

    for (int iter = 0; iter < 300; iter++) {
        size_t len;
        if (iter % 2 == 0) { /* random bytes */
            len = 1 + (size_t)rand_r(&seed) % sizeof(buf);
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)rand_r(&seed);
        } else { /* a valid request with a few bytes changed */
            len = sizeof(valid) - 1;
            memcpy(buf, valid, len);
            for (int k = 0; k < 1 + rand_r(&seed) % 4; k++)
                buf[(size_t)rand_r(&seed) % len] = (char)rand_r(&seed);
        }
        cli_t *c = cli_open();
        cli_send(c, buf, len);
        shutdown(c->fd, SHUT_WR);
        long r = cli_wait_eof(c);
        assert_true(r >= 0 || r == -2); /* closed, never hung */
        cli_close(c);
    }
    cli_t *c = cli_open();
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(c, HELLO_200);
    cli_close(c);
}

/* ---- tests: timeouts (each on a server of its own) ------------------------------- */

static uint64_t server_timeouts(http_server_t *s)
{
    http_server_stats_t st;
    http_server_get_stats(s, &st);
    return st.timeouts;
}

/* Connect and send `req` to a server with a short idle timeout, which may
 * close a connection that stayed silent that long: an attempt counts only
 * when connect and send took less than bound_ms, else it is made again.
 * *t_send: the time just before the send. */
static cli_t *cli_open_send_within(int port, const char *req, unsigned bound_ms, uint64_t *t_send)
{
    uint64_t end = now_ms() + T_DEADLINE_MS;

    for (;;) {
        uint64_t t0 = now_ms();
        cli_t *c = cli_open_port(port);
        *t_send = now_ms();
        bool sent = cli_send_try(c, req, strlen(req));
        if (sent && now_ms() - t0 < bound_ms)
            return c;
        cli_close(c);
        if (now_ms() > end)
            fail_msg("no connect and send within %u ms in %u ms", bound_ms, T_DEADLINE_MS);
    }
}

static void test_slow_client_408(void **state)
{
    (void)state;
    http_server_t *s = t_server_timeouts(T_READ_TIMEOUT_MS, T_LONG_TIMEOUT_MS);
    int port = http_server_port(s);

    /* A head that stops halfway. The timer starts when the bytes arrive,
     * after t0: the 408 cannot come before the read timeout. */
    cli_t *c = cli_open_port(port);
    uint64_t t0 = now_ms();
    cli_send_str(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    expect_error(c, 408, "Request Timeout");
    assert_true(now_ms() - t0 >= T_READ_TIMEOUT_MS - T_TIMER_SLACK_MS);
    expect_close(c);
    cli_close(c);

    /* A body that stops halfway. */
    c = cli_open_port(port);
    t0 = now_ms();
    cli_send_str(c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
    expect_error(c, 408, "Request Timeout");
    assert_true(now_ms() - t0 >= T_READ_TIMEOUT_MS - T_TIMER_SLACK_MS);
    expect_close(c);
    cli_close(c);
    assert_int_equal(server_timeouts(s), 2);
    http_server_stop(s, 0);
}

/* An attempt at sending `parts` (the last ends the request) with gap_ms
 * between them, then reading the answer. `valid` says whether every span
 * from the start of one send to the end of the next stayed under bound_ms;
 * only then does the server owe us an answer without a timeout (a longer
 * span, a stalled thread, makes the attempt tell nothing). Returns the
 * answer, NULL when the connection ended first. */
static char *trickle(int port, const char *const *parts, size_t count, unsigned gap_ms,
                     unsigned bound_ms, bool *valid)
{
    cli_t *c = cli_open_port(port);
    uint64_t prev = now_ms();
    bool sent = cli_send_try(c, parts[0], strlen(parts[0]));

    *valid = true;
    for (size_t i = 1; i < count && sent; i++) {
        sleep_ms(gap_ms);
        uint64_t start = now_ms();
        sent = cli_send_try(c, parts[i], strlen(parts[i]));
        if (now_ms() - prev >= bound_ms)
            *valid = false;
        prev = start;
    }
    char *r = sent ? cli_next(c, true) : NULL;
    cli_close(c);
    return r;
}

/* Bytes that keep coming in time restart the read timer: a head sent over
 * several read timeouts, each gap well inside one, is answered. */
static void test_read_timer_restarts(void **state)
{
    (void)state;
    enum { LINES = 12, GAP_MS = T_READ_TIMEOUT_MS / 8 }; /* 300 ms in all */
    const char *parts[LINES + 2];
    http_server_t *s = t_server_timeouts(T_READ_TIMEOUT_MS, T_LONG_TIMEOUT_MS);
    uint64_t end = now_ms() + T_DEADLINE_MS, invalid = 0;
    bool valid = false;

    _Static_assert(LINES * GAP_MS > T_READ_TIMEOUT_MS, "the request outlasts a read timeout");
    parts[0] = "GET /hello HTTP/1.1\r\n";
    for (int i = 1; i <= LINES; i++)
        parts[i] = "X-A: b\r\n";
    parts[LINES + 1] = "\r\n";
    while (!valid && now_ms() < end) {
        char *r = trickle(http_server_port(s), parts, LINES + 2, GAP_MS, T_READ_TIMEOUT_MS * 3 / 4,
                          &valid);
        if (valid) {
            assert_non_null(r);
            assert_string_equal(r, HELLO_200);
        } else {
            invalid++;
        }
        free(r);
    }
    if (!valid)
        fail_msg("no attempt kept its gaps under %u ms in %u ms", T_READ_TIMEOUT_MS * 3 / 4,
                 T_DEADLINE_MS);
    assert_true(server_timeouts(s) <= invalid); /* never on a valid attempt */
    http_server_stop(s, 0);
}

static void test_idle_close(void **state)
{
    (void)state;
    http_server_t *s = t_server_timeouts(T_LONG_TIMEOUT_MS, T_IDLE_TIMEOUT_MS);
    int port = http_server_port(s);

    /* After an answer. The server idles from when it answered, which is
     * after t0 (and after the answer left: when we see it is a matter of
     * scheduling, so it is no reference). */
    uint64_t t0;
    cli_t *c =
        cli_open_send_within(port, "GET /hello HTTP/1.1\r\n\r\n", T_IDLE_TIMEOUT_MS * 3 / 4, &t0);
    cli_expect(c, HELLO_200);
    assert_int_equal(cli_wait_eof(c), 0);
    assert_true(now_ms() - t0 >= T_IDLE_TIMEOUT_MS - T_TIMER_SLACK_MS);
    cli_close(c);

    /* Connected but silent. */
    t0 = now_ms();
    c = cli_open_port(port);
    assert_int_equal(cli_wait_eof(c), 0);
    assert_true(now_ms() - t0 >= T_IDLE_TIMEOUT_MS - T_TIMER_SLACK_MS);
    cli_close(c);
    assert_int_equal(server_timeouts(s), 0); /* idle closes are not timeouts */
    http_server_stop(s, 0);
}

/* Requests keep a keep-alive connection from idling: requests spread over
 * several idle timeouts, each gap well inside one, are all answered on one
 * connection. (The idle timer once ran from the accept: a busy connection
 * was closed idle_timeout_ms after it opened.) */
static bool keepalive_attempt(int port, int requests, unsigned gap_ms, unsigned bound_ms,
                              bool *valid)
{
    uint64_t prev = now_ms(); /* the connection idles from its accept */
    cli_t *c = cli_open_port(port);
    bool ok = true;

    *valid = true;
    for (int i = 0; i < requests && ok; i++) {
        if (i > 0)
            sleep_ms(gap_ms);
        uint64_t start = now_ms();
        ok = cli_send_try(c, "GET /hello HTTP/1.1\r\n\r\n", strlen("GET /hello HTTP/1.1\r\n\r\n"));
        if (now_ms() - prev >= bound_ms)
            *valid = false;
        prev = start;
        char *r = ok ? cli_next(c, true) : NULL;
        ok = r != NULL;
        if (r)
            assert_string_equal(r, HELLO_200);
        free(r);
    }
    cli_close(c);
    return ok;
}

static void test_keepalive_not_idle(void **state)
{
    (void)state;
    enum { REQUESTS = 16, GAP_MS = T_IDLE_TIMEOUT_MS / 8 }; /* 750 ms in all */
    http_server_t *s = t_server_timeouts(T_LONG_TIMEOUT_MS, T_IDLE_TIMEOUT_MS);
    uint64_t end = now_ms() + T_DEADLINE_MS;
    bool valid = false;

    _Static_assert((REQUESTS - 1) * GAP_MS > T_IDLE_TIMEOUT_MS, "outlasts an idle timeout");
    while (!valid && now_ms() < end) {
        bool ok = keepalive_attempt(http_server_port(s), REQUESTS, GAP_MS,
                                    T_IDLE_TIMEOUT_MS * 3 / 4, &valid);
        if (valid)
            assert_true(ok);
    }
    if (!valid)
        fail_msg("no attempt kept its gaps under %u ms in %u ms", T_IDLE_TIMEOUT_MS * 3 / 4,
                 T_DEADLINE_MS);
    http_server_stop(s, 0);
}

/* The application takes longer than both timeouts: no 408, no close. The
 * next request is already buffered (sent with the first), so the answer to
 * it shows the connection lived on without our timing mattering. */
static void test_no_timeout_in_app(void **state)
{
    (void)state;
    http_server_t *s = t_server_timeouts(T_READ_TIMEOUT_MS, T_IDLE_TIMEOUT_MS);
    uint64_t t0;
    cli_t *c = cli_open_send_within(http_server_port(s),
                                    "GET /late HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n",
                                    T_IDLE_TIMEOUT_MS * 3 / 4, &t0);
    cli_expect(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\n"
                  "late");
    cli_expect(c, HELLO_200);
    cli_close(c);
    assert_int_equal(server_timeouts(s), 0);
    http_server_stop(s, 0);
}

/* ---- tests: responses ------------------------------------------------------------- */

static void test_reason(void **state)
{
    (void)state;
    cli_t *c = cli_open();
    cli_send_str(c, "GET /reason HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 400 Invalid expiration_ttl of 0. Please specify integer greater "
                  "than 0.\r\nContent-Length: 0\r\n\r\n");
    cli_send_str(c, "GET /crlf HTTP/1.1\r\n\r\n");
    cli_expect(c, "HTTP/1.1 400 bad  X-Injected: 1\r\nContent-Length: 0\r\n\r\n");
    cli_close(c);
}

/* The release runs on the loop thread just after the bytes left, so the
 * client may see the response first: wait for it, then check it ran exactly
 * `want` times in total (a second release of a body would follow at once). */
static void expect_releases(int want)
{
    uint64_t end = now_ms() + T_DEADLINE_MS;

    while (atomic_load(&g_releases) < want && now_ms() < end)
        sleep_ms(1);
    sleep_ms(20);
    assert_int_equal(atomic_load(&g_releases), want);
}

static void test_body_release(void **state)
{
    (void)state;
    static const char want[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                               "Content-Type: text/plain\r\n\r\nborrowed body";
    int base = atomic_load(&g_releases);

    cli_t *c = cli_open();
    cli_send_str(c, "GET /borrow HTTP/1.1\r\n\r\n");
    cli_expect(c, want);
    expect_releases(base + 1);
    /* HEAD: released although no body byte is sent. */
    cli_send_str(c, "HEAD /borrow HTTP/1.1\r\n\r\n");
    char *r = cli_next(c, false);
    assert_non_null(r);
    assert_string_equal(r, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                           "Content-Type: text/plain\r\n\r\n");
    free(r);
    expect_releases(base + 2);
    cli_close(c);

    /* The client leaves (FIN) while the application holds the request. */
    int held = atomic_load(&g_async_borrows);
    c = cli_open();
    cli_send_str(c, "GET /async-borrow HTTP/1.1\r\n\r\n");
    wait_count(&g_async_borrows, held + 1);
    cli_close(c);
    /* ... and with a reset. */
    c = cli_open();
    cli_send_str(c, "GET /async-borrow HTTP/1.1\r\n\r\n");
    wait_count(&g_async_borrows, held + 2);
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    cli_close(c);
    expect_releases(base + 4);
}

static void test_head_omit(void **state)
{
    (void)state;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                               "Content-Type: text/plain\r\n\r\n";
    cli_t *c = cli_open();
    cli_send_str(c, "HEAD /hello HTTP/1.1\r\n\r\n");
    char *r = cli_next(c, false);
    assert_non_null(r);
    assert_string_equal(r, head);
    free(r);
    cli_send_str(c, "GET /omit HTTP/1.1\r\n\r\n");
    r = cli_next(c, false);
    assert_non_null(r);
    assert_string_equal(r, head);
    free(r);
    /* Nothing stray between responses: the next one starts right here. */
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(c, HELLO_200);
    cli_close(c);
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(http_status_text(200), "OK");
    assert_string_equal(http_status_text(404), "Not Found");
    assert_string_equal(http_status_text(413), "Payload Too Large");
    assert_string_equal(http_status_text(429), "Too Many Requests");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(503), "Service Unavailable");
    assert_string_equal(http_status_text(299), "Unknown");
}

static void test_stats(void **state)
{
    (void)state;
    http_server_stats_t st;
    http_server_get_stats(g_srv, &st);
    assert_true(st.connections_total >= 20);
    assert_true(st.requests_total >= 20);
    assert_true(st.parse_errors >= 6);
    assert_int_equal(st.timeouts, 0); /* its timeouts outlast every test */
    assert_int_equal(st.connections_rejected, 0);
}

/* ---- tests: abuse bounds (each on a server of its own) ---------------------------- */

static http_server_stats_t server_stats(http_server_t *s)
{
    http_server_stats_t st;
    http_server_get_stats(s, &st);
    return st;
}

/* A client that pipelines requests and never reads the answers: the server
 * answers until the unsent bytes pass output_max_bytes, then reads and
 * parses nothing more of it, so they stay within the limit plus one answer.
 * A normal client on the same loop is served meanwhile, and once the
 * pipeliner reads, every request it sent is answered, in order. (Before the
 * bound the server parsed all of them: N answers queued, 32 MiB.) */
static void test_output_bound(void **state)
{
    (void)state;
    enum { N = 1000 };
    static const char get_big[] = "GET /big HTTP/1.1\r\n\r\n";
    http_config_t cfg = t_config();
    http_server_t *s;
    char want[128];

    cfg.loops = 1; /* the normal client shares the pipeliner's loop */
    cfg.output_max_bytes = 256u * 1024u;
    cfg.output_low_bytes = 64u * 1024u;
    const uint64_t bound = cfg.output_max_bytes + T_BIG_BODY + 128; /* + one answer */
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);
    size_t len = 0;
    char *reqs = malloc(N * sizeof(get_big));
    assert_non_null(reqs);
    for (int i = 0; i < N; i++) {
        memcpy(reqs + len, get_big, sizeof(get_big) - 1);
        len += sizeof(get_big) - 1;
    }
    cli_t *p = cli_open_port(port);
    cli_send(p, reqs, len); /* 21 kB: the kernel takes it whether or not we are read */
    uint64_t end = now_ms() + T_DEADLINE_MS;
    http_server_stats_t st = server_stats(s);
    while (st.output_throttled == 0 && st.requests_total < N && now_ms() < end) {
        sleep_ms(1);
        st = server_stats(s);
    }
    /* Held there: look a while, the unsent bytes and the answers given do
     * not grow past the bound. */
    for (int i = 0; i < 20; i++) {
        st = server_stats(s);
        if (st.output_bytes > bound || st.requests_total >= N)
            fail_msg("unsent %llu bytes (bound %llu), %llu of %d requests answered",
                     (unsigned long long)st.output_bytes, (unsigned long long)bound,
                     (unsigned long long)st.requests_total, N);
        sleep_ms(10);
    }
    assert_int_equal(st.output_throttled, 1);

    cli_t *c = cli_open_port(port);
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(c, HELLO_200);
    cli_close(c);

    snprintf(want, sizeof(want),
             "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nContent-Type: text/plain\r\n\r\n",
             T_BIG_BODY);
    for (int i = 0; i < N; i++) {
        char *r = cli_next(p, true);
        assert_non_null(r);
        assert_int_equal(strlen(r), strlen(want) + T_BIG_BODY);
        assert_memory_equal(r, want, strlen(want));
        free(r);
    }
    st = server_stats(s);
    assert_true(st.output_throttled >= 1);
    assert_int_equal(st.requests_total, N + 1);
    cli_close(p);
    free(reqs);
    http_server_stop(s, 0);
}

/* Send one byte every gap_ms until the server answers; fails when no answer
 * came after max_bytes. Each gap is far inside the read timeout, so only a
 * deadline of its own can end the request. */
static void trickle_until_answer(cli_t *c, unsigned gap_ms, int max_bytes)
{
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int sent = 0;

    while (poll(&pf, 1, (int)gap_ms) == 0) {
        if (sent == max_bytes)
            fail_msg("no answer after %d bytes sent one per %u ms", sent, gap_ms);
        if (!cli_send_try(c, "x", 1))
            break;
        sent++;
    }
}

/* Slowloris: a head that trickles in, a byte at a time, never waits the
 * read timeout, but the head's deadline (from its first byte) ends it with
 * 408. A body trickling below the minimum rate after its grace, too. */
static void test_slowloris_408(void **state)
{
    (void)state;
    enum { HEAD_MS = 300, GAP_MS = 20 };
    http_config_t cfg = t_config();
    http_server_t *s;

    cfg.read_timeout_ms = 5000; /* far over every gap */
    cfg.head_timeout_ms = HEAD_MS;
    cfg.body_grace_ms = 200;
    cfg.body_min_rate = 1000; /* bytes/s; the client sends 50 */
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);

    cli_t *c = cli_open_port(port);
    uint64_t t0 = now_ms();
    cli_send_str(c, "GET /hello HTTP/1.1\r\nX-Slow: ");
    trickle_until_answer(c, GAP_MS, 400);
    expect_error(c, 408, "Request Timeout");
    assert_true(now_ms() - t0 >= HEAD_MS - T_TIMER_SLACK_MS);
    expect_close(c);
    cli_close(c);

    c = cli_open_port(port);
    t0 = now_ms();
    cli_send_str(c, "POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    trickle_until_answer(c, GAP_MS, 400);
    expect_error(c, 408, "Request Timeout");
    assert_true(now_ms() - t0 >= 200 - T_TIMER_SLACK_MS);
    expect_close(c);
    cli_close(c);
    assert_int_equal(server_timeouts(s), 2);

    /* A head that comes whole is not affected. */
    c = cli_open_port(port);
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(c, HELLO_200);
    cli_close(c);
    http_server_stop(s, 0);
}

/* Wait until the server has `open` connections open. */
static void wait_open(http_server_t *s, uint64_t open)
{
    uint64_t end = now_ms() + T_DEADLINE_MS;

    while (server_stats(s).connections_open != open) {
        if (now_ms() > end)
            fail_msg("waited %u ms for %llu open connections", T_DEADLINE_MS,
                     (unsigned long long)open);
        sleep_ms(1);
    }
}

/* Wait until the server holds `bytes` of request bodies. */
static void wait_body_bytes(http_server_t *s, uint64_t bytes)
{
    uint64_t end = now_ms() + T_DEADLINE_MS;

    while (server_stats(s).body_bytes != bytes) {
        if (now_ms() > end)
            fail_msg("waited %u ms for %llu body bytes held, there are %llu", T_DEADLINE_MS,
                     (unsigned long long)bytes, (unsigned long long)server_stats(s).body_bytes);
        sleep_ms(1);
    }
}

/* A 503 for the body budget: Retry-After, then the end of the connection. */
static void expect_budget_503(cli_t *c)
{
    char *r = cli_next(c, true);
    assert_non_null(r);
    assert_true(strncmp(r, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    assert_non_null(strstr(r, "\r\nRetry-After: 1\r\n"));
    assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
    free(r);
    assert_true(cli_wait_eof(c) >= 0);
}

static void send_chunk(cli_t *c, size_t len, size_t from)
{
    char line[32], data[1000];

    assert_true(len <= sizeof(data));
    snprintf(line, sizeof(line), "%zx\r\n", len);
    cli_send_str(c, line);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)pattern_byte(from + i);
    cli_send(c, data, len);
    cli_send_str(c, "\r\n");
}

/* Request bodies held at once, over every connection and loop, stay within
 * body_budget_bytes: a body announced over what is left gets 503 with
 * Retry-After right after its head, a chunked body that grows past it gets
 * the same mid-way; each is answered and its connection ends, and the budget
 * is given back when a request is answered. (Before the budget every body
 * was allocated whole: N clients held N bodies.) */
static void test_body_budget(void **state)
{
    (void)state;
    enum { BUDGET = 20000, HELD = 12000 };
    http_config_t cfg = t_config();
    http_server_t *s;
    char head[128];
    uint8_t body[HELD];

    cfg.body_budget_bytes = BUDGET;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);
    for (size_t i = 0; i < HELD; i++)
        body[i] = pattern_byte(i);

    /* a holds HELD bytes of budget while its body is under way. */
    cli_t *a = cli_open_port(port);
    snprintf(head, sizeof(head), "PUT /pattern HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HELD);
    cli_send_str(a, head);
    cli_send(a, body, 100);
    wait_body_bytes(s, HELD);

    /* b announces more than is left: 503 at once, not a byte read. */
    cli_t *b = cli_open_port(port);
    snprintf(head, sizeof(head), "PUT /pattern HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
             BUDGET - HELD + 1);
    cli_send_str(b, head);
    expect_budget_503(b);
    cli_close(b);
    assert_int_equal(server_stats(s).body_refused, 1);

    /* c's chunked body grows in steps the budget allows, until it would
     * pass it: 503 mid-body. */
    cli_t *c = cli_open_port(port);
    cli_send_str(c, "PUT /pattern HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t sent = 0;
    while (sent < (size_t)BUDGET && cli_send_try(c, "3e8\r\n", 5)) {
        char data[1000];
        for (size_t i = 0; i < sizeof(data); i++)
            data[i] = (char)pattern_byte(sent + i);
        if (!cli_send_try(c, data, sizeof(data)) || !cli_send_try(c, "\r\n", 2))
            break;
        sent += sizeof(data);
    }
    expect_budget_503(c);
    cli_close(c);
    assert_int_equal(server_stats(s).body_refused, 2);
    wait_body_bytes(s, HELD);
    assert_true(server_stats(s).body_bytes <= BUDGET);

    /* a finishes and is served; its budget is given back. */
    cli_send(a, body + 100, HELD - 100);
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\nok %d",
             (int)strlen("ok ") + 5, HELD);
    cli_expect(a, head);
    wait_body_bytes(s, 0);

    /* Now the same chunked body as c's passes, and a body of the whole
     * budget too. */
    cli_send_str(a, "PUT /pattern HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t k = 0; k < (size_t)BUDGET / 1000; k++)
        send_chunk(a, 1000, k * 1000);
    cli_send_str(a, "0\r\n\r\n");
    cli_expect(a, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Type: text/plain\r\n\r\n"
                  "ok 20000");
    cli_close(a);
    wait_body_bytes(s, 0);
    assert_int_equal(server_stats(s).body_refused, 2);
    http_server_stop(s, 0);
}

/* Connections from one address over conns_per_addr_max are closed at once
 * and counted; closing one makes room. The total cap still holds. */
static void test_conn_caps(void **state)
{
    (void)state;
    enum { PER_ADDR = 3 };
    http_config_t cfg = t_config();
    http_server_t *s;
    cli_t *cs[PER_ADDR];

    cfg.conns_per_addr_max = PER_ADDR;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);
    for (int i = 0; i < PER_ADDR; i++) {
        cs[i] = cli_open_port(port);
        cli_send_str(cs[i], "GET /hello HTTP/1.1\r\n\r\n");
        cli_expect(cs[i], HELLO_200);
    }
    cli_t *x = cli_open_port(port);
    assert_int_equal(cli_wait_eof(x), 0);
    cli_close(x);
    http_server_stats_t st = server_stats(s);
    assert_int_equal(st.connections_rejected_addr, 1);
    assert_int_equal(st.connections_rejected, 0);
    cli_close(cs[0]);
    wait_open(s, PER_ADDR - 1);
    cs[0] = cli_open_port(port);
    cli_send_str(cs[0], "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(cs[0], HELLO_200);
    for (int i = 0; i < PER_ADDR; i++)
        cli_close(cs[i]);
    http_server_stop(s, 0);

    /* The total cap, lowered the same way. */
    cfg = t_config();
    cfg.max_connections = 2;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    port = http_server_port(s);
    for (int i = 0; i < 2; i++) {
        cs[i] = cli_open_port(port);
        cli_send_str(cs[i], "GET /hello HTTP/1.1\r\n\r\n");
        cli_expect(cs[i], HELLO_200);
    }
    x = cli_open_port(port);
    assert_int_equal(cli_wait_eof(x), 0);
    cli_close(x);
    assert_int_equal(server_stats(s).connections_rejected, 1);
    for (int i = 0; i < 2; i++)
        cli_close(cs[i]);
    http_server_stop(s, 0);
}

#define T_VALUE_413                                                                                \
    "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n"          \
    "Connection: close\r\n\r\ntoo large"
#define T_PUT_VALUE_PLUS_1 "PUT /value HTTP/1.1\r\nContent-Length: 26214401\r\n\r\n"

/* A Worker's put of 25 MiB + 1 byte: the answer comes right after the head,
 * with Connection: close, then the server's FIN, while the client is still
 * sending its body (it reads as it sends). */
static void test_refused_body_answered(void **state)
{
    (void)state;
    static char chunk[64 * 1024];
    const size_t total = (size_t)KV_VALUE_MAX_BYTES + 1;
    size_t sent = 0, got = 0;
    char in[1024];
    bool eof = false;

    memset(chunk, 'v', sizeof(chunk));
    cli_t *c = cli_open();
    cli_send_str(c, T_PUT_VALUE_PLUS_1);
    uint64_t end = now_ms() + T_DEADLINE_MS;
    while (!eof) {
        struct pollfd pf = {.fd = c->fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (now_ms() > end)
            fail_msg("no answer and end in %u ms (%zu of %zu body bytes sent, %zu read)",
                     T_DEADLINE_MS, sent, total, got);
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(c->fd, in + got, sizeof(in) - 1 - got, MSG_DONTWAIT);
            if (n == 0)
                eof = true;
            else if (n > 0)
                got += (size_t)n;
            else if (errno != EAGAIN)
                fail_msg("recv: %s after %zu bytes read", strerror(errno), got);
        } else if (pf.revents & POLLOUT) {
            size_t want = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
            ssize_t n = send(c->fd, chunk, want, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
        }
    }
    in[got] = '\0';
    assert_string_equal(in, T_VALUE_413);
    cli_close(c);
}

/* The same put from a client that sends its whole body before it reads
 * (workerd does): the server reads and discards the body after answering,
 * so the client's send completes and it then reads the answer and the end,
 * not a reset. */
static void test_refused_body_sent_whole(void **state)
{
    (void)state;
    const size_t total = (size_t)KV_VALUE_MAX_BYTES + 1;
    char *body = malloc(total);

    assert_non_null(body);
    memset(body, 'v', total);
    cli_t *c = cli_open();
    cli_send_str(c, T_PUT_VALUE_PLUS_1);
    cli_send(c, body, total);
    cli_expect(c, T_VALUE_413);
    assert_int_equal(cli_wait_eof(c), 0);
    cli_close(c);
    free(body);
}

/* Lingering is bounded: a client that goes on sending after its answer is
 * closed after linger_timeout_ms. */
static void test_linger_bounded(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    char junk[1024];

    cfg.linger_timeout_ms = 300;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    memset(junk, 'j', sizeof(junk));
    cli_t *c = cli_open_port(http_server_port(s));
    cli_send_str(c, T_PUT_VALUE_PLUS_1);
    cli_expect(c, T_VALUE_413);
    assert_int_equal(cli_wait_eof(c), 0); /* the FIN came with the answer */
    uint64_t end = now_ms() + T_DEADLINE_MS;
    /* The server still reads (and drops) what we send, until it closes:
     * then a send fails (reset). */
    while (cli_send_try(c, junk, sizeof(junk))) {
        if (now_ms() > end)
            fail_msg("still lingering after %u ms", T_DEADLINE_MS);
        sleep_ms(10);
    }
    cli_close(c);
    wait_open(s, 0);
    http_server_stop(s, 0);
}

/* ---- tests with their own server -------------------------------------------------- */

/* http_server_stop on a thread of its own: it returns only once the loops
 * ended, and the tests act while it waits. */
typedef struct {
    http_server_t *srv;
    unsigned grace_ms;
    pthread_t thread;
} t_stopper_t;

static void *t_stopper_main(void *arg)
{
    t_stopper_t *st = arg;
    http_server_stop(st->srv, st->grace_ms);
    return NULL;
}

static void t_stopper_start(t_stopper_t *st, http_server_t *s, unsigned grace_ms)
{
    st->srv = s;
    st->grace_ms = grace_ms;
    assert_int_equal(pthread_create(&st->thread, NULL, t_stopper_main, st), 0);
}

static void test_graceful_stop(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    static t_stopper_t stopper; /* outlives a failed assertion, as the thread may */

    /* One loop: the idle connection's close then shows that the busy
     * connection's loop is stopping too. */
    cfg.loops = 1;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);
    int held = atomic_load(&g_held);
    atomic_store(&g_held_release, false);

    cli_t *busy = cli_open_port(port);
    cli_t *idle = cli_open_port(port);
    cli_send_str(idle, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(idle, HELLO_200);
    cli_send_str(busy, "GET /held HTTP/1.1\r\n\r\n");
    wait_count(&g_held, held + 1); /* the application has it */
    t_stopper_start(&stopper, s, T_LONG_TIMEOUT_MS);
    /* Idle connections close at once; the busy one waits for its answer,
     * which says the connection closes after it. */
    assert_int_equal(cli_wait_eof(idle), 0);
    atomic_store(&g_held_release, true);
    cli_expect(busy, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n"
                     "Connection: close\r\n\r\nheld done");
    assert_int_equal(cli_wait_eof(busy), 0);
    assert_int_equal(pthread_join(stopper.thread, NULL), 0);
    cli_close(busy);
    cli_close(idle);
}

/* Answers posted from other threads arrive on the request's loop, and a
 * stopping server waits for them: the holds keep its loop up. */
static void test_post_from_threads(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    static t_stopper_t stopper; /* outlives a failed assertion, as the thread may */
    cli_t *c[3];

    cfg.loops = 1;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int posted = atomic_load(&g_posted);
    atomic_store(&g_post_release, false);
    for (int i = 0; i < 3; i++) {
        c[i] = cli_open_port(http_server_port(s));
        cli_send_str(c[i], "GET /posted HTTP/1.1\r\n\r\n");
    }
    wait_count(&g_posted, posted + 3);
    cli_t *idle = cli_open_port(http_server_port(s));
    cli_send_str(idle, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(idle, HELLO_200);
    t_stopper_start(&stopper, s, T_LONG_TIMEOUT_MS);
    /* The idle connection closes: the loop is stopping, the posts not in. */
    assert_int_equal(cli_wait_eof(idle), 0);
    cli_close(idle);
    atomic_store(&g_post_release, true);
    for (int i = 0; i < 3; i++) {
        cli_expect(c[i], "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n"
                         "Connection: close\r\n\r\nposted");
        assert_int_equal(cli_wait_eof(c[i]), 0);
        cli_close(c[i]);
    }
    assert_int_equal(pthread_join(stopper.thread, NULL), 0);
}

/* A post that comes after the grace closed its connection still runs on
 * the loop (its answer is dropped) before http_server_stop returns: the
 * hold, not the connection, keeps the loop up. */
static void test_post_after_grace(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    static t_stopper_t stopper; /* outlives a failed assertion, as the thread may */

    cfg.loops = 1;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int posted = atomic_load(&g_posted), ran = atomic_load(&g_posted_run);
    atomic_store(&g_post_release, false);
    cli_t *c = cli_open_port(http_server_port(s));
    cli_send_str(c, "GET /posted HTTP/1.1\r\n\r\n");
    wait_count(&g_posted, posted + 1);
    t_stopper_start(&stopper, s, 20);
    assert_int_equal(cli_wait_eof(c), 0); /* force-closed, unanswered */
    cli_close(c);
    usleep(50 * 1000); /* the loop would be done by now, but for the hold */
    assert_int_equal(atomic_load(&g_posted_run), ran);
    atomic_store(&g_post_release, true);
    assert_int_equal(pthread_join(stopper.thread, NULL), 0);
    assert_int_equal(atomic_load(&g_posted_run), ran + 1);
}

static void test_stop_grace_expires(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    static t_stopper_t stopper; /* outlives a failed assertion, as the thread may */
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int base = atomic_load(&g_releases);
    int held = atomic_load(&g_held);
    atomic_store(&g_held_release, false);

    cli_t *c = cli_open_port(http_server_port(s));
    cli_send_str(c, "GET /held-borrow HTTP/1.1\r\n\r\n");
    wait_count(&g_held, held + 1);
    t_stopper_start(&stopper, s, 20);
    /* Force-closed when the grace ends, without an answer ... */
    assert_int_equal(cli_wait_eof(c), 0);
    assert_int_equal(atomic_load(&g_releases), base);
    /* ... and the answer given after that is dropped, its body released. */
    atomic_store(&g_held_release, true);
    assert_int_equal(pthread_join(stopper.thread, NULL), 0);
    assert_int_equal(atomic_load(&g_releases), base + 1);
    cli_close(c);
}

static void test_start_errors(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s = (http_server_t *)&cfg;

    cfg.loops = 0;
    assert_int_equal(http_server_start(&cfg, &s), KV_EINVAL);
    assert_null(s);
    cfg.loops = KV_HTTP_MAX_LOOPS + 1;
    assert_int_equal(http_server_start(&cfg, &s), KV_EINVAL);
    cfg = t_config();
    cfg.host = "not-an-address";
    assert_int_equal(http_server_start(&cfg, &s), KV_EINVAL);
    cfg = t_config();
    cfg.handler.request = NULL;
    assert_int_equal(http_server_start(&cfg, &s), KV_EINVAL);

    /* A port taken by a socket without SO_REUSEPORT. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    cfg = t_config();
    cfg.port = ntohs(sa.sin_port);
    assert_int_equal(http_server_start(&cfg, &s), -EADDRINUSE);
    assert_null(s);
    close(fd);
}

static void test_start_alloc_failure(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    int rc = -1;

    for (long n = 0; n < 10 && rc != 0; n++) {
        kv_mem_failing_set(n);
        rc = http_server_start(&cfg, &s);
        kv_mem_set(NULL);
        if (rc != 0) {
            assert_int_equal(rc, -ENOMEM);
            assert_null(s);
        }
    }
    assert_int_equal(rc, 0);
    http_server_stop(s, 0);
}

/* Allocation failures on a running server: the connection is refused, a
 * chunked body that cannot grow gets 500. */
static void test_runtime_alloc_failure(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    http_server_t *s;
    http_server_stats_t st;
    assert_int_equal(http_server_start(&cfg, &s), 0);
    int port = http_server_port(s);

    cli_t *c = cli_open_port(port);
    cli_send_str(c, "GET /hello HTTP/1.1\r\n\r\n");
    cli_expect(c, HELLO_200);

    kv_mem_failing_set(0);
    cli_t *refused = cli_open_port(port);
    assert_int_equal(cli_wait_eof(refused), 0);
    cli_close(refused);
    kv_mem_set(NULL);
    http_server_get_stats(s, &st);
    assert_int_equal(st.connections_rejected, 1);

    kv_mem_failing_set(0);
    cli_send_str(c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    expect_error_and_close(c, 500, "Internal Server Error");
    kv_mem_set(NULL);
    cli_close(c);
    http_server_stop(s, 0);
}

static int group_setup(void **state)
{
    (void)state;
    http_config_t cfg = t_config();
    if (http_server_start(&cfg, &g_srv) != 0)
        return -1;
    g_port = http_server_port(g_srv);
    return g_port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_server_stop(g_srv, 1000);
    return 0;
}

int main(void)
{
    for (size_t i = 0; i < sizeof(g_big_body); i++)
        g_big_body[i] = (char)('a' + i % 26);
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_start_alloc_failure),
        cmocka_unit_test(test_runtime_alloc_failure),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_post_from_threads),
        cmocka_unit_test(test_post_after_grace),
        cmocka_unit_test(test_stop_grace_expires),
        cmocka_unit_test(test_slow_client_408),
        cmocka_unit_test(test_read_timer_restarts),
        cmocka_unit_test(test_idle_close),
        cmocka_unit_test(test_keepalive_not_idle),
        cmocka_unit_test(test_no_timeout_in_app),
        cmocka_unit_test(test_output_bound),
        cmocka_unit_test(test_slowloris_408),
        cmocka_unit_test(test_conn_caps),
        cmocka_unit_test(test_body_budget),
        cmocka_unit_test(test_linger_bounded),
    };
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_query_and_headers),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_pipeline_many),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_post_large),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_refused_body_answered),
        cmocka_unit_test(test_refused_body_sent_whole),
        cmocka_unit_test(test_header_bytes_431),
        cmocka_unit_test(test_header_count_431),
        cmocka_unit_test(test_url_414),
        cmocka_unit_test(test_garbage_400),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_body_release),
        cmocka_unit_test(test_head_omit),
        cmocka_unit_test(test_stats),
    };
    int failed = cmocka_run_group_tests_name("http_own_server", own, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("http_shared_server", shared, group_setup, group_teardown);
    return failed;
}
