/*
 * test_tls.c - the mutual-TLS adapter (node/tls/tls.h) and the certificate
 * tooling (node/tls/certs.h).
 *
 * A group setup makes a CA with origin and edge certificates, an expired and
 * a not-yet-valid edge certificate, an API (HTTPS server) certificate and an
 * expired one, and a second, unrelated CA with an edge certificate of its
 * own, all in a temporary directory. Each connection test
 * runs an origin (server) and an edge (client) on one libuv loop over
 * loopback; the "attacker" clients that our API would refuse to build (an
 * origin certificate used as a client, no certificate at all) are plain
 * blocking OpenSSL clients on a thread. A guard timer ends a test that
 * hangs, and uv_loop_close() proves every handle was closed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "certs_cli.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "tls.h"

#define T_GUARD_MS 60000 /* a test that takes longer has hung */
#define T_ECHO_LEN (5u * 1024u * 1024u)
#define T_PAUSE_AT (1u * 1024u * 1024u)
#define T_PAUSE_MS 20

static char g_dir[64];  /* the cluster CA and its certificates */
static char g_dir2[96]; /* an unrelated CA */

static uint8_t pattern(size_t i)
{
    return (uint8_t)((i * 131u) ^ (i >> 11) ^ 0x5a);
}

static const char *path_of(const char *dir, const char *file)
{
    static char buf[4][256];
    static int n;
    char *p = buf[n++ % 4];
    snprintf(p, 256, "%s/%s", dir, file);
    return p;
}

/* ---- a loop with one server and one client connection ------------------------------- */

typedef struct net net_t;

typedef struct {
    net_t *net;
    tls_conn_t *conn;
    bool exists, hs_called, closed;
    int hs_status, close_status;
    char close_reason[256], error[256], peer_name[KV_TLS_PEER_NAME_MAX + 1];
    tls_role_t peer_role;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    bool rx_store; /* keep received bytes (else only check the pattern) */
    bool rx_bad;   /* a byte differed from pattern() */
    size_t flushed, flush_max, written, queued_at_close;
    int wcb_ok, wcb_err;
} peer_t;

struct net {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t guard, pause_timer;
    uv_connect_t connect_req;
    tls_ctx_t *srv_ctx, *cli_ctx;
    peer_t srv, cli;
    int port;
    bool timed_out, listener_closed;
    const char *verify_host;
    /* scenario */
    enum { SC_NONE, SC_ECHO, SC_BIG, SC_CLOSE_EARLY } sc;
    uint8_t *big;
    size_t big_len;
    bool paused_once;
};

static void net_maybe_done(net_t *n)
{
    if (!n->srv.closed || !n->cli.closed)
        return;
    if (!n->listener_closed) {
        n->listener_closed = true;
        uv_close((uv_handle_t *)&n->listener, NULL);
    }
    uv_close((uv_handle_t *)&n->guard, NULL);
    uv_close((uv_handle_t *)&n->pause_timer, NULL);
}

static void on_write_done(tls_conn_t *c, void *arg, int status)
{
    peer_t *p = arg;
    (void)c;
    if (status == 0)
        p->wcb_ok++;
    else
        p->wcb_err++;
}

static void on_handshake(tls_conn_t *c, int status)
{
    peer_t *p = tls_conn_user(c);
    net_t *n = p->net;

    assert_false(p->hs_called);
    p->hs_called = true;
    p->hs_status = status;
    p->peer_role = tls_conn_peer_role(c);
    snprintf(p->peer_name, sizeof p->peer_name, "%s", tls_conn_peer_name(c));
    if (status != 0 || p != &n->cli)
        return;
    /* the edge speaks first */
    if (n->sc == SC_ECHO) {
        /* both connections exist: the contexts may go (OpenSSL counts refs) */
        tls_ctx_free(n->srv_ctx);
        tls_ctx_free(n->cli_ctx);
        n->srv_ctx = n->cli_ctx = NULL;
        assert_int_equal(tls_conn_write(c, "hello", 5, NULL, NULL), 0); /* copied */
        assert_int_equal(tls_conn_write(c, n->big, n->big_len, on_write_done, p), 0);
        p->written = 5 + n->big_len;
        /* refused writes never call back */
        assert_int_equal(tls_conn_write(c, "x", 0, on_write_done, p), KV_EINVAL);
        assert_int_equal(tls_conn_write(c, n->big, KV_TLS_WRITE_QUEUE_MAX_BYTES, on_write_done, p),
                         KV_ELIMIT);
        assert_int_equal(tls_conn_queued_bytes(c), 5 + n->big_len);
    } else if (n->sc == SC_BIG) {
        assert_int_equal(tls_conn_write(c, n->big, n->big_len, on_write_done, p), 0);
        p->written = n->big_len;
    } else {
        tls_conn_close(c); /* the handshake was the test */
    }
}

static void rx_append(peer_t *p, const uint8_t *d, size_t len)
{
    if (!p->rx_store) {
        for (size_t i = 0; i < len; i++)
            if (d[i] != pattern(p->rx_len + i))
                p->rx_bad = true;
        p->rx_len += len;
        return;
    }
    if (p->rx_len + len > p->rx_cap) {
        p->rx_cap = (p->rx_len + len) * 2;
        p->rx = realloc(p->rx, p->rx_cap);
        assert_non_null(p->rx);
    }
    memcpy(p->rx + p->rx_len, d, len);
    p->rx_len += len;
}

static void on_resume_timer(uv_timer_t *t)
{
    net_t *n = t->data;
    if (n->srv.conn)
        tls_conn_read_resume(n->srv.conn);
}

static void on_data(tls_conn_t *c, const uint8_t *d, size_t len)
{
    peer_t *p = tls_conn_user(c);
    net_t *n = p->net;

    assert_true(p->hs_called && p->hs_status == 0);
    assert_true(len > 0 && len <= KV_TLS_PLAIN_CHUNK_BYTES);
    if (p == &n->srv && n->sc == SC_ECHO) {
        rx_append(p, d, len);
        assert_int_equal(tls_conn_write(c, d, len, NULL, NULL), 0);
        p->written += len;
    } else if (p == &n->srv && n->sc == SC_BIG) {
        rx_append(p, d, len);
        if (!n->paused_once && p->rx_len >= T_PAUSE_AT) {
            n->paused_once = true;
            tls_conn_read_pause(c);
            uv_timer_start(&n->pause_timer, on_resume_timer, T_PAUSE_MS, 0);
        }
        if (p->rx_len == n->big_len) {
            assert_int_equal(tls_conn_write(c, "ok", 2, NULL, NULL), 0);
            p->written += 2;
        }
    } else if (p == &n->cli) {
        rx_append(p, d, len);
        size_t want = n->sc == SC_ECHO ? 5 + n->big_len : 2;
        if (p->rx_len == want)
            tls_conn_close(c);
    }
}

static void on_flushed(tls_conn_t *c, size_t bytes)
{
    peer_t *p = tls_conn_user(c);
    p->flushed += bytes;
    if (bytes > p->flush_max)
        p->flush_max = bytes;
}

static void on_close(tls_conn_t *c, int status, const char *reason)
{
    peer_t *p = tls_conn_user(c);

    assert_false(p->closed);
    p->closed = true;
    p->close_status = status;
    snprintf(p->close_reason, sizeof p->close_reason, "%s", reason);
    snprintf(p->error, sizeof p->error, "%s", tls_conn_error(c));
    p->queued_at_close = tls_conn_queued_bytes(c);
    p->conn = NULL;
    net_maybe_done(p->net);
}

static const tls_conn_cbs_t g_cbs = {on_handshake, on_data, on_flushed, on_close};

static void on_guard(uv_timer_t *t)
{
    net_t *n = t->data;
    n->timed_out = true;
    if (n->srv.conn)
        tls_conn_close(n->srv.conn);
    if (n->cli.conn)
        tls_conn_close(n->cli.conn);
    if (!n->srv.exists) {
        n->srv.closed = true;
        net_maybe_done(n);
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    net_t *n = l->data;
    peer_t *p = &n->srv;

    assert_int_equal(status, 0);
    assert_false(p->exists);
    assert_int_equal(tls_conn_create(n->srv_ctx, &n->loop, true, &g_cbs, p, &p->conn), 0);
    p->exists = true;
    assert_int_equal(uv_accept(l, (uv_stream_t *)tls_conn_tcp(p->conn)), 0);
    assert_int_equal(tls_conn_start(p->conn), 0);
    n->listener_closed = true; /* one connection per test */
    uv_close((uv_handle_t *)&n->listener, NULL);
}

static void on_connect(uv_connect_t *req, int status)
{
    net_t *n = req->data;
    assert_int_equal(status, 0);
    if (n->sc == SC_CLOSE_EARLY) {
        tls_conn_close(n->cli.conn);
        return;
    }
    assert_int_equal(tls_conn_start(n->cli.conn), 0);
}

static void net_init(net_t *n, tls_ctx_t *srv_ctx, tls_ctx_t *cli_ctx)
{
    struct sockaddr_in sa;
    int len = sizeof sa;

    memset(n, 0, sizeof *n);
    n->srv_ctx = srv_ctx;
    n->cli_ctx = cli_ctx;
    n->srv.net = n->cli.net = n;
    assert_int_equal(uv_loop_init(&n->loop), 0);
    assert_int_equal(uv_tcp_init(&n->loop, &n->listener), 0);
    n->listener.data = n;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&n->listener, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&n->listener, 8, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&n->listener, (struct sockaddr *)&sa, &len), 0);
    n->port = ntohs(sa.sin_port);
    uv_timer_init(&n->loop, &n->guard);
    uv_timer_init(&n->loop, &n->pause_timer);
    n->guard.data = n->pause_timer.data = n;
    uv_timer_start(&n->guard, on_guard, T_GUARD_MS, 0);
}

/* Connect our client (if cli_ctx) and run until both sides closed. */
static void net_run(net_t *n)
{
    if (n->cli_ctx) {
        struct sockaddr_in sa;
        peer_t *p = &n->cli;
        assert_int_equal(tls_conn_create(n->cli_ctx, &n->loop, false, &g_cbs, p, &p->conn), 0);
        p->exists = true;
        if (n->verify_host)
            assert_int_equal(tls_conn_set_verify_host(p->conn, n->verify_host), 0);
        uv_ip4_addr("127.0.0.1", n->port, &sa);
        n->connect_req.data = n;
        assert_int_equal(uv_tcp_connect(&n->connect_req, tls_conn_tcp(p->conn),
                                        (struct sockaddr *)&sa, on_connect),
                         0);
    } else {
        n->cli.closed = true; /* a raw client on a thread plays that part */
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    assert_false(n->timed_out);
    assert_true(n->srv.closed && n->cli.closed);
    assert_int_equal(uv_loop_close(&n->loop), 0);
}

static void net_free(net_t *n)
{
    free(n->srv.rx);
    free(n->cli.rx);
}

static tls_ctx_t *ctx_of(tls_role_t role, const char *ca_dir, const char *dir, const char *name)
{
    char crt[64], key[64];
    tls_ctx_t *ctx = NULL;

    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(key, sizeof key, "%s.key", name);
    assert_int_equal(
        tls_ctx_create(role, path_of(ca_dir, "ca.crt"), path_of(dir, crt), path_of(dir, key), &ctx),
        0);
    return ctx;
}

/* ---- connection tests ------------------------------------------------------------- */

static void test_echo_roles_and_flush(void **state)
{
    tls_ctx_t *o = ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin");
    tls_ctx_t *e = ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1");
    net_t *n = calloc(1, sizeof *n);
    (void)state;

    assert_int_equal(tls_ctx_role(o), TLS_ROLE_ORIGIN);
    net_init(n, o, e);
    n->sc = SC_ECHO;
    n->big_len = T_ECHO_LEN;
    n->big = malloc(n->big_len);
    for (size_t i = 0; i < n->big_len; i++)
        n->big[i] = pattern(i);
    n->srv.rx_store = n->cli.rx_store = true;
    net_run(n);

    assert_int_equal(n->srv.hs_status, 0);
    assert_int_equal(n->cli.hs_status, 0);
    assert_int_equal(n->srv.peer_role, TLS_ROLE_EDGE);
    assert_string_equal(n->srv.peer_name, "edge1");
    assert_int_equal(n->cli.peer_role, TLS_ROLE_ORIGIN);
    assert_string_equal(n->cli.peer_name, "origin");
    /* byte-exact both ways */
    assert_int_equal(n->srv.rx_len, 5 + T_ECHO_LEN);
    assert_int_equal(n->cli.rx_len, 5 + T_ECHO_LEN);
    assert_memory_equal(n->srv.rx, "hello", 5);
    assert_memory_equal(n->srv.rx + 5, n->big, T_ECHO_LEN);
    assert_memory_equal(n->cli.rx, n->srv.rx, n->cli.rx_len);
    /* flush accounting: everything written was reported, in bounded steps */
    assert_int_equal(n->cli.flushed, n->cli.written);
    assert_int_equal(n->srv.flushed, n->srv.written);
    assert_int_equal(n->srv.written, 5 + T_ECHO_LEN);
    assert_true(n->cli.flush_max <= KV_TLS_CIPHER_INFLIGHT_MAX_BYTES);
    assert_int_equal(n->cli.wcb_ok, 1);
    assert_int_equal(n->cli.wcb_err, 0);
    assert_int_equal(n->cli.queued_at_close, 0);
    /* the client closed; the server saw its close_notify */
    assert_int_equal(n->cli.close_status, 0);
    assert_string_equal(n->cli.close_reason, "");
    assert_int_equal(n->srv.close_status, UV_EOF);
    assert_string_equal(n->srv.close_reason, "peer closed the connection");
    free(n->big);
    net_free(n);
    free(n);
}

/* A maximal value in one write, with the reader pausing on the way. */
static void test_max_value_one_write_with_pause(void **state)
{
    tls_ctx_t *o = ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin");
    tls_ctx_t *e = ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge2");
    net_t *n = calloc(1, sizeof *n);
    (void)state;

    net_init(n, o, e);
    n->sc = SC_BIG;
    n->big_len = KV_VALUE_MAX_BYTES;
    n->big = malloc(n->big_len);
    for (size_t i = 0; i < n->big_len; i++)
        n->big[i] = pattern(i);
    n->cli.rx_store = true;
    net_run(n);
    tls_ctx_free(o);
    tls_ctx_free(e);

    assert_true(n->paused_once);
    assert_int_equal(n->srv.rx_len, KV_VALUE_MAX_BYTES);
    assert_false(n->srv.rx_bad);
    assert_int_equal(n->cli.rx_len, 2);
    assert_memory_equal(n->cli.rx, "ok", 2);
    assert_int_equal(n->cli.flushed, KV_VALUE_MAX_BYTES);
    assert_int_equal(n->srv.flushed, 2);
    assert_int_equal(n->cli.wcb_ok, 1);
    assert_string_equal(n->srv.peer_name, "edge2");
    free(n->big);
    net_free(n);
    free(n);
}

/* Run our server and client with the given contexts; return the net. */
static net_t *run_pair(tls_ctx_t *srv, tls_ctx_t *cli, const char *verify_host)
{
    net_t *n = calloc(1, sizeof *n);
    net_init(n, srv, cli);
    n->verify_host = verify_host;
    net_run(n);
    tls_ctx_free(srv);
    tls_ctx_free(cli);
    return n;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* Both sides fail the handshake; `srv_why` / `cli_why` are in their reasons. */
static void assert_refused(net_t *n, const char *srv_why, const char *cli_why)
{
    assert_true(n->srv.hs_called);
    assert_int_equal(n->srv.hs_status, -EACCES);
    assert_int_equal(n->srv.close_status, -EACCES);
    assert_contains(n->srv.close_reason, srv_why);
    assert_int_equal(n->srv.peer_role, TLS_ROLE_NONE);
    if (n->cli.exists) {
        assert_true(n->cli.hs_called);
        assert_int_equal(n->cli.hs_status, -EACCES);
        assert_contains(n->cli.close_reason, cli_why);
        assert_int_equal(n->cli.peer_role, TLS_ROLE_NONE);
        assert_string_equal(n->cli.peer_name, "");
    }
    net_free(n);
    free(n);
}

static void test_refuse_client_from_other_ca(void **state)
{
    (void)state;
    /* trusts our CA (so it accepts the origin) but shows another CA's cert */
    net_t *n = run_pair(ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin"),
                        ctx_of(TLS_ROLE_EDGE, g_dir, g_dir2, "edge9"), NULL);
    assert_refused(n, "peer certificate: unable to get local issuer certificate",
                   "peer refused the handshake (alert: unknown CA)");
}

static void test_refuse_expired_client(void **state)
{
    (void)state;
    net_t *n = run_pair(ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin"),
                        ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge-old"), NULL);
    assert_refused(n, "peer certificate: certificate has expired",
                   "peer refused the handshake (alert: certificate expired)");
}

static void test_refuse_not_yet_valid_client(void **state)
{
    (void)state;
    net_t *n = run_pair(ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin"),
                        ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge-future"), NULL);
    assert_refused(n, "peer certificate: certificate is not yet valid",
                   "peer refused the handshake");
}

/* A server holding an edge certificate poses as the origin: the edge client
 * refuses it first; the server hears the alert. */
static void test_refuse_edge_cert_as_origin_server(void **state)
{
    (void)state;
    net_t *n = run_pair(ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge2"),
                        ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1"), NULL);
    assert_int_equal(n->cli.hs_status, -EACCES);
    assert_string_equal(n->cli.close_reason, "peer role edge where origin or relay expected");
    assert_int_equal(n->srv.hs_status, -EACCES);
    assert_contains(n->srv.close_reason, "peer refused the handshake");
    net_free(n);
    free(n);
}

static void test_verify_host(void **state)
{
    (void)state;
    net_t *n = run_pair(ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin"),
                        ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1"), "127.0.0.1");
    assert_int_equal(n->cli.hs_status, 0);
    assert_int_equal(n->srv.hs_status, 0);
    net_free(n);
    free(n);
    n = run_pair(ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin"),
                 ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1"), "10.9.8.7");
    assert_refused(n, "peer refused the handshake", "peer certificate: IP address mismatch");
}

static void test_close_before_handshake(void **state)
{
    tls_ctx_t *o = ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin");
    tls_ctx_t *e = ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1");
    net_t *n = calloc(1, sizeof *n);
    (void)state;

    net_init(n, o, e);
    n->sc = SC_CLOSE_EARLY;
    net_run(n);
    assert_false(n->cli.hs_called); /* closed by us: no on_handshake */
    assert_int_equal(n->cli.close_status, 0);
    assert_true(n->srv.hs_called);
    assert_int_equal(n->srv.hs_status, UV_EOF);
    assert_string_equal(n->srv.close_reason, "connection closed during the handshake");
    tls_ctx_free(o);
    tls_ctx_free(e);
    net_free(n);
    free(n);
}

/* ---- raw OpenSSL clients (what our API will not build) ---------------------------- */

typedef struct {
    int port;
    char crt[256], key[256]; /* "": no client certificate */
    int connect_rc;          /* SSL_connect */
    int read_rc;             /* SSL_read after the handshake */
    char err[256];
} raw_client_t;

static void *raw_client_main(void *arg)
{
    raw_client_t *r = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    struct timeval tv = {T_GUARD_MS / 1000, 0}; /* a hung server fails the test, late */
    char buf[64];
    int fd;
    SSL *ssl;

    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_load_verify_locations(ctx, path_of(g_dir, "ca.crt"), NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); /* trusts the server; no role check */
    if (r->crt[0]) {
        SSL_CTX_use_certificate_file(ctx, r->crt, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, r->key, SSL_FILETYPE_PEM);
    }
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r->connect_rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -1;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (r->connect_rc == 0) {
        r->connect_rc = SSL_connect(ssl);
        if (r->connect_rc == 1) {
            SSL_write(ssl, "hello", 5);
            r->read_rc = SSL_read(ssl, buf, sizeof buf);
        }
    }
    ERR_error_string_n(ERR_peek_last_error(), r->err, sizeof r->err);
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return NULL;
}

static void raw_client_run(raw_client_t *r, net_t **out)
{
    tls_ctx_t *o = ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin");
    net_t *n = calloc(1, sizeof *n);
    pthread_t th;

    net_init(n, o, NULL);
    r->port = n->port;
    assert_int_equal(pthread_create(&th, NULL, raw_client_main, r), 0);
    net_run(n);
    pthread_join(th, NULL);
    tls_ctx_free(o);
    *out = n;
}

/* An origin certificate connecting as a client: the origin takes edges only. */
static void test_refuse_origin_cert_as_client(void **state)
{
    raw_client_t r = {0};
    net_t *n;
    (void)state;

    snprintf(r.crt, sizeof r.crt, "%s", path_of(g_dir, "origin.crt"));
    snprintf(r.key, sizeof r.key, "%s", path_of(g_dir, "origin.key"));
    raw_client_run(&r, &n);
    assert_refused(n, "peer role origin where edge or relay expected", "");
    assert_true(r.read_rc <= 0); /* the client got an alert, never data */
    assert_contains(r.err, "alert");
}

static void test_refuse_no_client_cert(void **state)
{
    raw_client_t r = {0};
    net_t *n;
    (void)state;

    raw_client_run(&r, &n);
    assert_refused(n, "peer sent no certificate", "");
    assert_true(r.read_rc <= 0);
    assert_contains(r.err, "certificate required");
}

/* ---- contexts -------------------------------------------------------------------- */

static void test_ctx_checks(void **state)
{
    tls_ctx_t *ctx = NULL;
    const char *ca = path_of(g_dir, "ca.crt");
    (void)state;

    /* our own certificate must carry our role */
    assert_int_equal(tls_ctx_create(TLS_ROLE_ORIGIN, ca, path_of(g_dir, "edge1.crt"),
                                    path_of(g_dir, "edge1.key"), &ctx),
                     KV_ECONFIG);
    assert_int_equal(tls_ctx_create(TLS_ROLE_EDGE, ca, path_of(g_dir, "origin.crt"),
                                    path_of(g_dir, "origin.key"), &ctx),
                     KV_ECONFIG);
    /* key of another certificate */
    assert_int_equal(tls_ctx_create(TLS_ROLE_EDGE, ca, path_of(g_dir, "edge1.crt"),
                                    path_of(g_dir, "edge2.key"), &ctx),
                     KV_ECONFIG);
    /* missing files */
    assert_int_equal(tls_ctx_create(TLS_ROLE_EDGE, path_of(g_dir, "nope.crt"),
                                    path_of(g_dir, "edge1.crt"), path_of(g_dir, "edge1.key"), &ctx),
                     KV_ECONFIG);
    assert_int_equal(tls_ctx_create(TLS_ROLE_NONE, ca, ca, ca, &ctx), KV_EINVAL);
    assert_int_equal(tls_ctx_create(TLS_ROLE_EDGE, ca, NULL, ca, &ctx), KV_EINVAL);
    assert_null(ctx);
    assert_int_equal(ERR_peek_error(), 0); /* the error queue was drained */
    assert_string_equal(tls_role_name(TLS_ROLE_EDGE), "edge");
    assert_string_equal(tls_role_name(TLS_ROLE_ORIGIN), "origin");
}

static void test_conn_api_errors(void **state)
{
    tls_ctx_t *e = ctx_of(TLS_ROLE_EDGE, g_dir, g_dir, "edge1");
    tls_ctx_t *o = ctx_of(TLS_ROLE_ORIGIN, g_dir, g_dir, "origin");
    tls_conn_t *c = NULL;
    uv_loop_t loop;
    peer_t p = {0};
    tls_conn_cbs_t no_close = g_cbs;
    (void)state;

    no_close.on_close = NULL;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(tls_conn_create(e, &loop, false, &no_close, &p, &c), KV_EINVAL);
    kv_mem_failing_set(0);
    assert_int_equal(tls_conn_create(e, &loop, false, &g_cbs, &p, &c), -ENOMEM);
    kv_mem_set(NULL);
    assert_null(c);
    /* a server connection cannot verify a host name */
    assert_int_equal(tls_conn_create(o, &loop, true, &g_cbs, &p, &c), 0);
    p.conn = c;
    assert_int_equal(tls_conn_set_verify_host(c, "localhost"), KV_EINVAL);
    assert_int_equal(tls_conn_peer_role(c), TLS_ROLE_NONE);
    assert_string_equal(tls_conn_peer_name(c), "");
    /* queued before the handshake, cancelled by the close */
    assert_int_equal(tls_conn_write(c, "abc", 3, on_write_done, &p), 0);
    assert_int_equal(tls_conn_queued_bytes(c), 3);
    tls_conn_close(c);
    tls_conn_close(c); /* idempotent */
    assert_int_equal(tls_conn_write(c, "abc", 3, on_write_done, &p), -EPIPE);
    assert_int_equal(tls_conn_start(c), KV_EINVAL);
    assert_false(p.closed);           /* on_close comes from the loop */
    p.net = calloc(1, sizeof(net_t)); /* on_close calls net_maybe_done: a no-op here */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(p.closed);
    assert_int_equal(p.close_status, 0);
    assert_int_equal(p.wcb_err, 1);
    assert_int_equal(p.wcb_ok, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(p.net);
    tls_ctx_free(e);
    tls_ctx_free(o);
}

/* ---- certificates ------------------------------------------------------------------ */

static X509 *load_crt(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k;
    assert_non_null(f);
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

/* X509_verify_cert of `crt` against `ca` for `purpose`
 * (X509_PURPOSE_SSL_CLIENT / _SERVER): X509_V_OK or the error. */
static int verify_for(const char *ca, const char *crt, int purpose)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    X509 *cax = load_crt(ca), *x = load_crt(crt);
    int err;

    X509_STORE_add_cert(st, cax);
    X509_STORE_CTX_init(sc, st, x, NULL);
    X509_STORE_CTX_set_purpose(sc, purpose);
    err = X509_verify_cert(sc) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(sc);
    X509_STORE_CTX_free(sc);
    X509_STORE_free(st);
    X509_free(cax);
    X509_free(x);
    return err;
}

/* A node certificate is checked as a client (either side of a link works). */
static int verify_against(const char *ca, const char *crt)
{
    return verify_for(ca, crt, X509_PURPOSE_SSL_CLIENT);
}

static bool san_has(X509 *x, int type, const void *val, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool found = false;

    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *s = g->type == GEN_DNS     ? g->d.dNSName
                               : g->type == GEN_IPADD ? g->d.iPAddress
                                                      : NULL;
        if (g->type == type && s && (size_t)ASN1_STRING_length(s) == len &&
            memcmp(ASN1_STRING_get0_data(s), val, len) == 0)
            found = true;
    }
    GENERAL_NAMES_free(names);
    return found;
}

static int file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (int)(st.st_mode & 0777);
}

static void test_certs_issued(void **state)
{
    X509 *x = load_crt(path_of(g_dir, "edge1.crt"));
    EVP_PKEY *k = load_key(path_of(g_dir, "edge1.key"));
    X509 *ca = load_crt(path_of(g_dir, "ca.crt"));
    char buf[128];
    static const unsigned char lo[4] = {127, 0, 0, 1};
    (void)state;

    assert_int_equal(verify_against(path_of(g_dir, "ca.crt"), path_of(g_dir, "edge1.crt")),
                     X509_V_OK);
    assert_int_equal(X509_check_private_key(x, k), 1);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationalUnitName, buf,
                              sizeof buf);
    assert_string_equal(buf, TLS_ROLE_OU_EDGE);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
    assert_string_equal(buf, "edge1");
    assert_true(san_has(x, GEN_DNS, "localhost", 9));
    assert_true(san_has(x, GEN_IPADD, lo, 4));
    assert_int_equal(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
                     XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_not_equal(X509_check_ca(ca), 0);
    assert_int_equal(X509_check_issued(ca, x), X509_V_OK);
    assert_int_equal(file_mode(path_of(g_dir, "edge1.key")), 0600);
    assert_int_equal(file_mode(path_of(g_dir, "ca.key")), 0600);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(k);
    x = load_crt(path_of(g_dir, "origin.crt"));
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationalUnitName, buf,
                              sizeof buf);
    assert_string_equal(buf, TLS_ROLE_OU_ORIGIN);
    X509_free(x);
    /* another CA's certificate, and time-limited ones */
    assert_int_equal(verify_against(path_of(g_dir, "ca.crt"), path_of(g_dir2, "edge9.crt")),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    assert_int_equal(verify_against(path_of(g_dir2, "ca.crt"), path_of(g_dir2, "edge9.crt")),
                     X509_V_OK);
    assert_int_equal(verify_against(path_of(g_dir, "ca.crt"), path_of(g_dir, "edge-old.crt")),
                     X509_V_ERR_CERT_HAS_EXPIRED);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Who may be on the other end of a link: one rule for every role and side. */
static void test_peer_roles(void **state)
{
    const unsigned O = 1u << TLS_ROLE_ORIGIN, E = 1u << TLS_ROLE_EDGE, R = 1u << TLS_ROLE_RELAY;
    (void)state;
    assert_int_equal(tls_peer_roles(TLS_ROLE_ORIGIN, true), E | R);
    assert_int_equal(tls_peer_roles(TLS_ROLE_ORIGIN, false), 0);
    assert_int_equal(tls_peer_roles(TLS_ROLE_RELAY, true), E | R);
    assert_int_equal(tls_peer_roles(TLS_ROLE_RELAY, false), O | R);
    assert_int_equal(tls_peer_roles(TLS_ROLE_EDGE, false), O | R);
    assert_int_equal(tls_peer_roles(TLS_ROLE_EDGE, true), 0);
    assert_int_equal(tls_peer_roles(TLS_ROLE_NONE, true), 0);
    assert_string_equal(tls_role_name(TLS_ROLE_RELAY), "relay");
}

static void test_certs_hosts_and_errors(void **state)
{
    const char *hosts[] = {"edge5.example.net", "10.0.0.5", "::1"};
    const char *bad_host[] = {"a,DNS:evil"};
    static const unsigned char ip[4] = {10, 0, 0, 5}, ip6[16] = {[15] = 1};
    X509 *x;
    (void)state;

    assert_int_equal(certs_issue(g_dir, "edge", "edge5", 10, hosts, 3), 0);
    x = load_crt(path_of(g_dir, "edge5.crt"));
    assert_true(san_has(x, GEN_DNS, "edge5.example.net", 17));
    assert_true(san_has(x, GEN_IPADD, ip, 4));
    assert_true(san_has(x, GEN_IPADD, ip6, 16));
    assert_false(san_has(x, GEN_DNS, "localhost", 9));
    X509_free(x);
    assert_int_equal(certs_issue(g_dir, "edge", "edge5", 10, bad_host, 1), KV_EINVAL);
    assert_int_equal(certs_issue(g_dir, "router", "edge5", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue(g_dir, "edge", "../evil", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue(g_dir, "edge", "ca", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue(g_dir, "edge", "", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue(g_dir, "edge", "edge5", 0, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_window(g_dir, "edge", "edge5", 10, 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_create_ca(g_dir, 10), KV_EEXISTS);
    assert_int_equal(certs_create_ca(g_dir2, 0), KV_EINVAL);
    assert_int_equal(certs_issue(path_of(g_dir, "empty"), "edge", "e", 10, NULL, 0), KV_ENOTFOUND);
}

/* The subject's text for `nid`, "" if absent; how many entries of it. */
static int subject_entry(X509 *x, int nid, char *buf, int len)
{
    X509_NAME *n = X509_get_subject_name(x);
    int count = 0;

    buf[0] = '\0';
    for (int i = -1; (i = X509_NAME_get_index_by_NID(n, nid, i)) >= 0;)
        count++;
    if (count)
        X509_NAME_get_text_by_NID(n, nid, buf, len);
    return count;
}

/* An API certificate: a TLS server certificate of the cluster CA for the
 * API port, with no role, so that it serves HTTPS and nothing else. */
static void test_certs_api(void **state)
{
    char ca[256]; /* path_of's buffers are reused after four calls */
    X509 *x = load_crt(path_of(g_dir, "api.crt"));
    X509 *cax = load_crt(path_of(g_dir, "ca.crt"));
    EVP_PKEY *k = load_key(path_of(g_dir, "api.key"));
    char buf[128];
    static const unsigned char lo[4] = {127, 0, 0, 1};
    (void)state;

    snprintf(ca, sizeof ca, "%s", path_of(g_dir, "ca.crt"));
    /* it chains to the CA as a TLS server, and only as one */
    assert_int_equal(verify_for(ca, path_of(g_dir, "api.crt"), X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(verify_for(ca, path_of(g_dir, "api.crt"), X509_PURPOSE_SSL_CLIENT),
                     X509_V_ERR_INVALID_PURPOSE);
    assert_int_equal(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
                     XKU_SSL_SERVER);
    assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 0);
    assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(X509_check_issued(cax, x), X509_V_OK);
    /* subject O=edgekv, CN=api, no OU: no role */
    assert_int_equal(subject_entry(x, NID_organizationalUnitName, buf, sizeof buf), 0);
    assert_int_equal(subject_entry(x, NID_organizationName, buf, sizeof buf), 1);
    assert_string_equal(buf, "edgekv");
    assert_int_equal(subject_entry(x, NID_commonName, buf, sizeof buf), 1);
    assert_string_equal(buf, "api");
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 2);
    /* the default names; EC P-256; the key is the certificate's, written 0600 */
    assert_true(san_has(x, GEN_DNS, "localhost", 9));
    assert_true(san_has(x, GEN_IPADD, lo, 4));
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(x, "api", 0, 0, NULL), 0); /* the CN is not a host name */
    assert_true(EVP_PKEY_is_a(k, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(k), 256);
    assert_int_equal(EVP_PKEY_get_group_name(k, buf, sizeof buf, NULL), 1);
    assert_string_equal(buf, "prime256v1");
    assert_int_equal(X509_check_private_key(x, k), 1);
    assert_int_equal(file_mode(path_of(g_dir, "api.key")), 0600);
    assert_int_equal(file_mode(path_of(g_dir, "api.crt")), 0644);
    X509_free(x);
    X509_free(cax);
    EVP_PKEY_free(k);
    /* the expired one of the setup */
    assert_int_equal(verify_for(ca, path_of(g_dir, "api-old.crt"), X509_PURPOSE_SSL_SERVER),
                     X509_V_ERR_CERT_HAS_EXPIRED);
}

static void test_certs_api_hosts_and_errors(void **state)
{
    const char *hosts[] = {"kv.example.net", "10.0.0.7", "::1"};
    const char *bad_host[] = {"a,DNS:evil"};
    const char *many[CERTS_HOSTS_MAX + 1];
    static const unsigned char ip[4] = {10, 0, 0, 7}, ip6[16] = {[15] = 1};
    char *o1, *o2;
    size_t o1_len, o2_len;
    X509 *x, *y;
    (void)state;

    assert_int_equal(certs_issue_api(g_dir, "api2", 10, hosts, 3), 0);
    x = load_crt(path_of(g_dir, "api2.crt"));
    assert_true(san_has(x, GEN_DNS, "kv.example.net", 14));
    assert_true(san_has(x, GEN_IPADD, ip, 4));
    assert_true(san_has(x, GEN_IPADD, ip6, 16));
    assert_false(san_has(x, GEN_DNS, "localhost", 9));
    /* issued again: replaced, a new key and serial */
    assert_int_equal(certs_issue_api(g_dir, "api2", 10, NULL, 0), 0);
    y = load_crt(path_of(g_dir, "api2.crt"));
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);
    assert_true(san_has(y, GEN_DNS, "localhost", 9));
    X509_free(x);
    X509_free(y);
    /* not yet valid */
    assert_int_equal(certs_issue_api_window(g_dir, "api2", 86400, 2 * 86400, NULL, 0), 0);
    assert_int_equal(
        verify_for(path_of(g_dir, "ca.crt"), path_of(g_dir, "api2.crt"), X509_PURPOSE_SSL_SERVER),
        X509_V_ERR_CERT_NOT_YET_VALID);
    /* a node certificate is never replaced by an API certificate */
    o1 = slurp(path_of(g_dir, "origin.crt"), &o1_len);
    assert_int_equal(certs_issue_api(g_dir, "origin", 10, NULL, 0), KV_EEXISTS);
    assert_int_equal(certs_issue_api_window(g_dir, "edge1", -10, 10, NULL, 0), KV_EEXISTS);
    o2 = slurp(path_of(g_dir, "origin.crt"), &o2_len);
    assert_int_equal(o1_len, o2_len);
    assert_memory_equal(o1, o2, o1_len);
    free(o1);
    free(o2);
    /* bad arguments: the errors of certs_issue */
    for (size_t i = 0; i < CERTS_HOSTS_MAX + 1; i++)
        many[i] = "h.example";
    assert_int_equal(certs_issue_api(g_dir, "api2", 10, many, CERTS_HOSTS_MAX), 0);
    assert_int_equal(certs_issue_api(g_dir, "api2", 10, many, CERTS_HOSTS_MAX + 1), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "api2", 10, bad_host, 1), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "../evil", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "ca", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, NULL, 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(NULL, "api2", 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "api2", 0, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(g_dir, "api2", CERTS_DAYS_MAX + 1, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api_window(g_dir, "api2", 10, 10, NULL, 0), KV_EINVAL);
    assert_int_equal(certs_issue_api(path_of(g_dir, "empty"), "api", 10, NULL, 0), KV_ENOTFOUND);
}

/* A node never loads an API certificate as its own, and an origin refuses
 * one shown by a client: it carries no role (and is no client
 * certificate). */
static void test_certs_api_is_no_peer(void **state)
{
    const char *ca = path_of(g_dir, "ca.crt");
    const char *crt = path_of(g_dir, "api.crt"), *key = path_of(g_dir, "api.key");
    tls_ctx_t *ctx = NULL;
    raw_client_t r = {0};
    net_t *n;
    (void)state;

    assert_int_equal(tls_ctx_create(TLS_ROLE_ORIGIN, ca, crt, key, &ctx), KV_ECONFIG);
    assert_int_equal(tls_ctx_create(TLS_ROLE_EDGE, ca, crt, key, &ctx), KV_ECONFIG);
    assert_null(ctx);
    snprintf(r.crt, sizeof r.crt, "%s", crt);
    snprintf(r.key, sizeof r.key, "%s", key);
    raw_client_run(&r, &n);
    /* OpenSSL 3 says "unsuitable", 1.1 "unsupported" certificate purpose */
    assert_refused(n, "certificate purpose", "");
    assert_true(r.read_rc <= 0);
    assert_contains(r.err, "alert");
}

/* certs_main on the arguments up to a NULL. */
static int run_main(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return certs_main(argc, argv);
}

static void test_certs_main_init_idempotent(void **state)
{
    char d[128];
    char *ca1, *ca2, *o1, *o2;
    size_t ca1_len, ca2_len, o1_len, o2_len;
    struct stat st;
    (void)state;

    snprintf(d, sizeof d, "%s/init/nested", g_dir);
    assert_int_equal(run_main("init", "--dir", d, "--edges=2", NULL), 0);
    ca1 = slurp(path_of(d, "ca.crt"), &ca1_len);
    o1 = slurp(path_of(d, "origin.crt"), &o1_len);
    assert_int_equal(stat(path_of(d, "edge2.crt"), &st), 0);
    assert_int_not_equal(stat(path_of(d, "edge3.crt"), &st), 0);
    assert_int_equal(file_mode(path_of(d, "origin.key")), 0600);
    /* again, with more edges: CA and existing certificates are kept */
    assert_int_equal(run_main("init", "--dir", d, "--edges", "3", NULL), 0);
    ca2 = slurp(path_of(d, "ca.crt"), &ca2_len);
    o2 = slurp(path_of(d, "origin.crt"), &o2_len);
    assert_int_equal(ca1_len, ca2_len);
    assert_memory_equal(ca1, ca2, ca1_len);
    assert_int_equal(o1_len, o2_len);
    assert_memory_equal(o1, o2, o1_len);
    assert_int_equal(verify_against(path_of(d, "ca.crt"), path_of(d, "edge3.crt")), X509_V_OK);
    /* issue */
    assert_int_equal(
        run_main("issue", "--dir", d, "--role", "edge", "--name", "edge7", "--days", "30", NULL),
        0);
    assert_int_equal(verify_against(path_of(d, "ca.crt"), path_of(d, "edge7.crt")), X509_V_OK);
    /* usage */
    assert_int_equal(run_main("--help", NULL), 0);
    assert_int_equal(run_main(NULL), 2);
    assert_int_equal(run_main("bogus", NULL), 2);
    assert_int_equal(run_main("init", NULL), 2);                        /* no --dir */
    assert_int_equal(run_main("init", "--dir", d, "--edges", NULL), 2); /* no value */
    assert_int_equal(run_main("init", "--dir", d, "--edges", "x", NULL), 2);
    assert_int_equal(run_main("issue", "--dir", d, NULL), 2); /* no role/name */
    assert_int_equal(run_main("issue", "--dir", d, "--role", "boss", "--name", "x", NULL), 1);
    free(ca1);
    free(ca2);
    free(o1);
    free(o2);
}

/* `edgekv certs api`: issues, refuses what certs_issue_api refuses, and
 * tells usage errors (2) from failures (1). */
static void test_certs_main_api(void **state)
{
    char d[128];
    X509 *x;
    char buf[64];
    (void)state;

    snprintf(d, sizeof d, "%s/apicli", g_dir);
    assert_int_equal(run_main("init", "--dir", d, "--edges", "1", NULL), 0);
    assert_int_equal(run_main("api", "--dir", d, "--name", "web", "--host", "kv.example",
                              "--host=192.0.2.1", "--days", "30", NULL),
                     0);
    assert_int_equal(
        verify_for(path_of(d, "ca.crt"), path_of(d, "web.crt"), X509_PURPOSE_SSL_SERVER),
        X509_V_OK);
    x = load_crt(path_of(d, "web.crt"));
    assert_int_equal(X509_check_host(x, "kv.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "192.0.2.1", 0), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 0);
    assert_int_equal(subject_entry(x, NID_organizationalUnitName, buf, sizeof buf), 0);
    X509_free(x);
    assert_int_equal(file_mode(path_of(d, "web.key")), 0600);
    /* an expired one, for the tests of an HTTPS port */
    assert_int_equal(run_main("api", "--dir", d, "--name", "web-old", "--valid-from", "-864000",
                              "--valid-until", "-86400", NULL),
                     0);
    assert_int_equal(
        verify_for(path_of(d, "ca.crt"), path_of(d, "web-old.crt"), X509_PURPOSE_SSL_SERVER),
        X509_V_ERR_CERT_HAS_EXPIRED);
    /* usage errors */
    assert_int_equal(run_main("api", "--dir", d, NULL), 2);      /* no --name */
    assert_int_equal(run_main("api", "--name", "web", NULL), 2); /* no --dir */
    assert_int_equal(run_main("api", "--dir", d, "--name", "web", "--role", "edge", NULL), 2);
    assert_int_equal(run_main("api", "--dir", d, "--name", "web", "--days", "0", NULL), 2);
    assert_int_equal(run_main("api", "--dir", d, "--name", "web", "--valid-from", "x", NULL), 2);
    assert_int_equal(run_main("api", "--help", NULL), 0);
    /* failures */
    assert_int_equal(run_main("api", "--dir", d, "--name", "../x", NULL), 1);
    assert_int_equal(run_main("api", "--dir", d, "--name", "web", "--host", "a b", NULL), 1);
    assert_int_equal(run_main("api", "--dir", d, "--name", "edge1", NULL), 1); /* a node's */
    assert_int_equal(verify_against(path_of(d, "ca.crt"), path_of(d, "edge1.crt")), X509_V_OK);
    assert_int_equal(run_main("api", "--dir", path_of(d, "none"), "--name", "web", NULL), 1);
}

/* ---- setup ------------------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    /* TEST_TLS_LOG=1 shows the handshake failure messages */
    kv_log_set_level(getenv("TEST_TLS_LOG") ? KV_LOG_DEBUG : KV_LOG_ERROR);
    snprintf(g_dir, sizeof g_dir, "/tmp/edgekv-tls-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_dir2, sizeof g_dir2, "%s/other", g_dir);
    if (certs_create_ca(g_dir, 30) || certs_issue(g_dir, "origin", "origin", 30, NULL, 0) ||
        certs_issue(g_dir, "edge", "edge1", 30, NULL, 0) ||
        certs_issue(g_dir, "edge", "edge2", 30, NULL, 0) ||
        certs_issue_window(g_dir, "edge", "edge-old", -10 * 86400, -86400, NULL, 0) ||
        certs_issue_window(g_dir, "edge", "edge-future", 86400, 10 * 86400, NULL, 0) ||
        certs_issue_api(g_dir, "api", 30, NULL, 0) ||
        certs_issue_api_window(g_dir, "api-old", -10 * 86400, -86400, NULL, 0) ||
        certs_create_ca(g_dir2, 30) || certs_issue(g_dir2, "edge", "edge9", 30, NULL, 0))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certs_issued),
        cmocka_unit_test(test_peer_roles),
        cmocka_unit_test(test_certs_hosts_and_errors),
        cmocka_unit_test(test_certs_main_init_idempotent),
        cmocka_unit_test(test_certs_api),
        cmocka_unit_test(test_certs_api_hosts_and_errors),
        cmocka_unit_test(test_certs_api_is_no_peer),
        cmocka_unit_test(test_certs_main_api),
        cmocka_unit_test(test_ctx_checks),
        cmocka_unit_test(test_conn_api_errors),
        cmocka_unit_test(test_echo_roles_and_flush),
        cmocka_unit_test(test_max_value_one_write_with_pause),
        cmocka_unit_test(test_refuse_client_from_other_ca),
        cmocka_unit_test(test_refuse_expired_client),
        cmocka_unit_test(test_refuse_not_yet_valid_client),
        cmocka_unit_test(test_refuse_edge_cert_as_origin_server),
        cmocka_unit_test(test_refuse_origin_cert_as_client),
        cmocka_unit_test(test_refuse_no_client_cert),
        cmocka_unit_test(test_verify_host),
        cmocka_unit_test(test_close_before_handshake),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
