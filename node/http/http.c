/*
 * http.c - the HTTP/1.1 server: start/stop, the loop threads, accepting
 * connections, the per-loop ready queue, stats and small lookups.
 *
 * Each loop owns a listening socket of its own bound with SO_REUSEPORT to
 * the same port, so the kernel spreads new connections over the loops and
 * the loops share nothing but the process-wide connection count. What
 * happens on a connection is in http_conn.c; responses are in http_resp.c.
 *
 * This is not a general web server: no TLS, no HTTP/2, no routing, no
 * static files; just what edgekv's APIs need, with hard limits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"

/* Listen queue per loop socket; the kernel caps it at somaxconn anyway. */
#define HTTP__LISTEN_BACKLOG 1024

/* Connections open in the whole process, over every server and loop. */
static atomic_uint http__conns_process;

void http__conns_process_dec(void)
{
    atomic_fetch_sub_explicit(&http__conns_process, 1, memory_order_relaxed);
}

/* ---- connections per peer address ------------------------------------------------ */

static size_t http__addr_hash(const http_addr_t *a)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (unsigned i = 0; i < a->len; i++)
        h = (h ^ a->bytes[i]) * 16777619u;
    return h;
}

static bool http__addr_eq(const http_addr_t *x, const http_addr_t *y)
{
    return x->len == y->len && memcmp(x->bytes, y->bytes, x->len) == 0;
}

/* The slot of a, or the free slot where it would go. */
static size_t http__addr_find(const http_server_t *s, const http_addr_t *a)
{
    size_t mask = s->addr_slots - 1, i = http__addr_hash(a) & mask;

    while (s->addr_table[i].count > 0 && !http__addr_eq(&s->addr_table[i].addr, a))
        i = (i + 1) & mask;
    return i;
}

/* Count a new connection from a; false when a already has the most allowed
 * (nothing counted then). An unknown address (len 0) is not counted. */
bool http__addr_acquire(http_server_t *s, const http_addr_t *a)
{
    bool ok = true;

    if (a->len == 0)
        return true;
    uv_mutex_lock(&s->addr_lock);
    struct http_addr_slot *e = &s->addr_table[http__addr_find(s, a)];
    if (e->count >= s->cfg.conns_per_addr_max) {
        ok = false;
    } else {
        e->addr = *a;
        e->count++;
    }
    uv_mutex_unlock(&s->addr_lock);
    return ok;
}

void http__addr_release(http_server_t *s, const http_addr_t *a)
{
    if (a->len == 0)
        return;
    uv_mutex_lock(&s->addr_lock);
    size_t mask = s->addr_slots - 1, i = http__addr_find(s, a);
    if (s->addr_table[i].count > 0 && --s->addr_table[i].count == 0) {
        /* Backward-shift deletion keeps every probe chain unbroken. */
        size_t j = i;
        for (;;) {
            j = (j + 1) & mask;
            if (s->addr_table[j].count == 0)
                break;
            size_t home = http__addr_hash(&s->addr_table[j].addr) & mask;
            /* j's entry may move to i when i lies cyclically in [home, j). */
            if (((j - home) & mask) >= ((j - i) & mask)) {
                s->addr_table[i] = s->addr_table[j];
                s->addr_table[j].count = 0;
                i = j;
            }
        }
    }
    uv_mutex_unlock(&s->addr_lock);
}

/* ---- ready queue ----------------------------------------------------------------- */

static void http__on_tail(uv_prepare_t *h)
{
    const http_handler_t *hd = &((http_loop_t *)h->data)->srv->cfg.handler;
    hd->tail(hd->ctx);
}

static void http__on_idle(uv_idle_t *h)
{
    http_loop_t *l = h->data;
    http__link_t batch;

    /* Take the current queue; connections queued while it runs wait for the
     * next loop iteration, so a busy pipeliner cannot starve the others. */
    http__link_init(&batch);
    if (!http__link_empty(&l->ready)) {
        batch.next = l->ready.next;
        batch.prev = l->ready.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        http__link_init(&l->ready);
    }
    while (!http__link_empty(&batch)) {
        http_conn_t *c = HTTP__CONTAINER_OF(batch.next, http_conn_t, ready);
        http__link_remove(&c->ready);
        c->queued = false;
        http__conn_parse(c, false);
    }
    if (http__link_empty(&l->ready))
        uv_idle_stop(h);
}

/* Parse c's buffered bytes on a later loop iteration. */
void http__loop_enqueue(http_conn_t *c)
{
    http_loop_t *l = c->loop;

    if (c->queued || c->closing || l->done)
        return;
    c->queued = true;
    http__link_add_tail(&l->ready, &c->ready);
    if (!uv_is_active((uv_handle_t *)&l->ready_idle))
        uv_idle_start(&l->ready_idle, http__on_idle);
}

void http__loop_dequeue(http_conn_t *c)
{
    if (!c->queued)
        return;
    c->queued = false;
    http__link_remove(&c->ready);
}

/* ---- accepting -------------------------------------------------------------------- */

static void http__on_refused_closed(uv_handle_t *h)
{
    http_loop_t *l = h->data;

    if (h == (uv_handle_t *)&l->spare)
        l->spare_busy = false;
    else
        kv_free(h);
}

/* Accept the pending connection and close it at once. */
static void http__refuse(http_loop_t *l, uv_stream_t *server)
{
    uv_tcp_t *t = kv_malloc(sizeof(*t));

    if (!t && !l->spare_busy) {
        t = &l->spare;
        l->spare_busy = true;
    }
    if (!t) {
        KV_LOG_ERROR(HTTP_LOG, "out of memory refusing a connection");
        return;
    }
    HTTP__STAT_ADD(l, rejected, 1); /* before the client can see the close */
    uv_tcp_init(&l->loop, t);
    t->data = l;
    (void)uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, http__on_refused_closed);
}

static void http__on_connection(uv_stream_t *server, int status)
{
    http_loop_t *l = server->data;

    if (status < 0) {
        KV_LOG_WARN(HTTP_LOG, "accept: %s", uv_strerror(status));
        return;
    }
    unsigned open = atomic_fetch_add_explicit(&http__conns_process, 1, memory_order_relaxed);
    if (open >= l->srv->cfg.max_connections) {
        http__conns_process_dec();
        http__refuse(l, server);
        return;
    }
    int rc = http__conn_accept(l, server == (uv_stream_t *)&l->tls_listener);
    if (rc == -ENOMEM) {
        http__conns_process_dec();
        http__refuse(l, server);
    } else if (rc < 0) {
        KV_LOG_WARN(HTTP_LOG, "accept: %s", kv_strerror(rc));
    }
}

/* ---- loops ------------------------------------------------------------------------ */

/* The post handle outlives the other handles while holds remain: a
 * request the application still holds gets its post, and its answer. */
static void http__post_maybe_close(http_loop_t *l)
{
    if (!l->done || l->holds > 0 || l->post_closed)
        return;
    l->post_closed = true;
    uv_close((uv_handle_t *)&l->post_async, NULL);
}

/* Close every loop handle once the loop has no open connection left. */
void http__loop_maybe_done(http_loop_t *l)
{
    if (!l->stopping || l->done || l->conns_open > 0)
        return;
    l->done = true;
    uv_close((uv_handle_t *)&l->grace_timer, NULL);
    uv_close((uv_handle_t *)&l->ready_idle, NULL);
    uv_close((uv_handle_t *)&l->tail_prepare, NULL);
    http__post_maybe_close(l);
}

static void http__on_post(uv_async_t *a)
{
    http_loop_t *l = a->data;
    http_post_t *p, *next;

    uv_mutex_lock(&l->post_lock);
    p = l->post_head;
    l->post_head = l->post_tail = NULL;
    uv_mutex_unlock(&l->post_lock);
    for (; p; p = next) {
        next = p->next; /* run may free p */
        l->holds--;
        p->run(p);
    }
    http__post_maybe_close(l);
}

http_loop_t *http_req_hold(http_req_t *req)
{
    http_loop_t *l = http__conn_of(req)->loop;
    l->holds++;
    return l;
}

void http_loop_post(http_loop_t *l, http_post_t *p)
{
    p->next = NULL;
    uv_mutex_lock(&l->post_lock);
    /* One wakeup per batch of posts: the loop takes them all (a group's
     * answers arrive together). Every uv_async_send that finds the loop
     * draining its handles makes it spin until the send is done. */
    bool wake = l->post_head == NULL;
    if (l->post_tail)
        l->post_tail->next = p;
    else
        l->post_head = p;
    l->post_tail = p;
    uv_mutex_unlock(&l->post_lock);
    if (wake)
        uv_async_send(&l->post_async);
}

static void http__on_grace(uv_timer_t *t)
{
    http_loop_t *l = t->data;
    http__link_t *n, *next;

    for (n = l->conns.next; n != &l->conns; n = next) {
        next = n->next;
        http__conn_close(HTTP__CONTAINER_OF(n, http_conn_t, all));
    }
    http__loop_maybe_done(l);
}

/* Stop accepting; close idle connections, let busy ones finish. */
static void http__loop_stop_now(http_loop_t *l)
{
    http__link_t *n, *next;

    if (l->stopping)
        return;
    l->stopping = true;
    uv_close((uv_handle_t *)&l->listener, NULL);
    if (l->tls_listening)
        uv_close((uv_handle_t *)&l->tls_listener, NULL);
    uv_close((uv_handle_t *)&l->stop_async, NULL);
    for (n = l->conns.next; n != &l->conns; n = next) {
        next = n->next;
        http__conn_stop(HTTP__CONTAINER_OF(n, http_conn_t, all));
    }
    if (l->conns_open > 0)
        uv_timer_start(&l->grace_timer, http__on_grace, l->srv->grace_ms, 0);
    http__loop_maybe_done(l);
}

static void http__on_stop_async(uv_async_t *a)
{
    http__loop_stop_now(a->data);
}

static void http__loop_main(void *arg)
{
    http_loop_t *l = arg;
    char name[16];

    snprintf(name, sizeof name, "ekv-http%u", l->index);
    pthread_setname_np(pthread_self(), name);
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

/* After the loop ran to its end: free zombies (requests the application
 * never answered) and close the loop. */
static void http__loop_fini(http_loop_t *l)
{
    while (!http__link_empty(&l->conns))
        http__conn_free(HTTP__CONTAINER_OF(l->conns.next, http_conn_t, all));
    int rc = uv_loop_close(&l->loop);
    if (rc != 0)
        KV_LOG_ERROR(HTTP_LOG, "loop %u: uv_loop_close: %s (a handle left open)", l->index,
                     uv_strerror(rc));
    uv_mutex_destroy(&l->post_lock);
    kv_free(l->tls_in);
    l->tls_in = NULL;
}

/* Stop a loop whose thread never started, from the caller's thread. */
static void http__loop_teardown_inline(http_loop_t *l)
{
    http__loop_stop_now(l);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    http__loop_fini(l);
}

/* Set up loop l around the listening sockets fd and tls_fd (-1: no HTTPS;
 * both always taken, even on error). On error the loop is fully torn down. */
static int http__loop_init(http_server_t *s, http_loop_t *l, unsigned index, int fd, int tls_fd)
{
    l->srv = s;
    l->index = index;
    http__link_init(&l->conns);
    http__link_init(&l->ready);
    if (tls_fd >= 0 && !(l->tls_in = kv_malloc(KV_HTTP_TLS_READ_BYTES))) {
        close(fd);
        close(tls_fd);
        return -ENOMEM;
    }
    int rc = uv_loop_init(&l->loop);
    if (rc != 0) {
        close(fd);
        if (tls_fd >= 0)
            close(tls_fd);
        kv_free(l->tls_in);
        l->tls_in = NULL;
        return rc;
    }
    rc = uv_async_init(&l->loop, &l->stop_async, http__on_stop_async);
    if (rc != 0) {
        close(fd);
        if (tls_fd >= 0)
            close(tls_fd);
        uv_loop_close(&l->loop);
        kv_free(l->tls_in);
        l->tls_in = NULL;
        return rc;
    }
    /* The loop's async eventfd exists now: a second async cannot fail. */
    uv_async_init(&l->loop, &l->post_async, http__on_post);
    uv_mutex_init(&l->post_lock);
    l->post_async.data = l;
    uv_tcp_init(&l->loop, &l->listener);
    uv_timer_init(&l->loop, &l->grace_timer);
    uv_idle_init(&l->loop, &l->ready_idle);
    uv_prepare_init(&l->loop, &l->tail_prepare);
    l->listener.data = l->stop_async.data = l->grace_timer.data = l->ready_idle.data = l;
    l->tail_prepare.data = l;
    if (l->srv->cfg.handler.tail) {
        /* Runs while the loop runs; never keeps it alive on its own. */
        uv_prepare_start(&l->tail_prepare, http__on_tail);
        uv_unref((uv_handle_t *)&l->tail_prepare);
    }
    l->handles_init = true;
    rc = uv_tcp_open(&l->listener, fd);
    if (rc != 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&l->listener, HTTP__LISTEN_BACKLOG, http__on_connection);
    if (tls_fd >= 0) {
        uv_tcp_init(&l->loop, &l->tls_listener);
        l->tls_listener.data = l;
        l->tls_listening = true;
        int trc = uv_tcp_open(&l->tls_listener, tls_fd);
        if (trc != 0)
            close(tls_fd);
        else
            trc = uv_listen((uv_stream_t *)&l->tls_listener, HTTP__LISTEN_BACKLOG,
                            http__on_connection);
        if (rc == 0)
            rc = trc;
    }
    if (rc != 0)
        http__loop_teardown_inline(l);
    return rc;
}

/* ---- start / stop ----------------------------------------------------------------- */

static int http__parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return KV_EINVAL;
}

static void http__addr_set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* A listening socket on ss with SO_REUSEPORT; returns the fd or -errno. */
static int http__listen_fd(const struct sockaddr_storage *ss)
{
    socklen_t len =
        ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, HTTP__LISTEN_BACKLOG) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* The port fd is bound to, or -errno. */
static int http__fd_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int http__config_check(const http_config_t *cfg)
{
    if (!cfg || !cfg->host || !cfg->handler.request)
        return KV_EINVAL;
    if (cfg->tls_ctx && (!cfg->tls_host || cfg->tls_port < 0 || cfg->tls_port > 65535))
        return KV_EINVAL;
    if (cfg->loops < 1 || cfg->loops > KV_HTTP_MAX_LOOPS || cfg->port < 0 || cfg->port > 65535)
        return KV_EINVAL;
    return 0;
}

/* The abuse bounds left 0 take their kv_limits.h defaults. */
static void http__config_defaults(http_config_t *c)
{
    if (c->head_timeout_ms == 0)
        c->head_timeout_ms = KV_HTTP_HEAD_TIMEOUT_MS;
    if (c->body_grace_ms == 0)
        c->body_grace_ms = KV_HTTP_BODY_GRACE_MS;
    if (c->body_min_rate == 0)
        c->body_min_rate = KV_HTTP_BODY_MIN_RATE_BYTES_PER_S;
    if (c->linger_timeout_ms == 0)
        c->linger_timeout_ms = KV_HTTP_LINGER_TIMEOUT_MS;
    if (c->output_max_bytes == 0)
        c->output_max_bytes = KV_HTTP_CONN_OUTPUT_MAX_BYTES;
    if (c->output_low_bytes == 0 || c->output_low_bytes >= c->output_max_bytes)
        c->output_low_bytes = c->output_max_bytes < KV_HTTP_CONN_OUTPUT_MAX_BYTES
                                  ? c->output_max_bytes / 4
                                  : KV_HTTP_CONN_OUTPUT_LOW_BYTES;
    if (c->max_connections == 0)
        c->max_connections = KV_HTTP_MAX_CONNECTIONS;
    if (c->conns_per_addr_max == 0)
        c->conns_per_addr_max = KV_HTTP_CONNS_PER_ADDR_MAX;
    if (c->body_budget_bytes == 0)
        c->body_budget_bytes = KV_HTTP_BODY_BUDGET_DEFAULT_BYTES;
    if (c->tls_handshake_timeout_ms == 0)
        c->tls_handshake_timeout_ms = KV_HTTP_TLS_HANDSHAKE_TIMEOUT_MS;
}

static void http__server_free(http_server_t *s)
{
    if (s->addr_lock_init)
        uv_mutex_destroy(&s->addr_lock);
    kv_free(s->addr_table);
    kv_free(s->loops);
    kv_free(s);
}

/* A listening socket for loop i on ss; the first one fixes the port of
 * the rest (port 0 picks one). The fd, or -errno. */
static int http__listen_loop(unsigned i, struct sockaddr_storage *ss, int *port)
{
    int fd = http__listen_fd(ss);
    if (fd < 0 || i > 0)
        return fd;
    *port = http__fd_port(fd);
    if (*port < 0) {
        int rc = *port;
        close(fd);
        return rc;
    }
    http__addr_set_port(ss, *port);
    return fd;
}

/* Create the sockets and loops (no threads yet). tls_ss NULL: no HTTPS. */
static int http__server_open(http_server_t *s, struct sockaddr_storage *ss,
                             struct sockaddr_storage *tls_ss)
{
    for (unsigned i = 0; i < s->cfg.loops; i++) {
        int fd = http__listen_loop(i, ss, &s->port);
        if (fd < 0)
            return fd;
        int tls_fd = -1;
        if (tls_ss && (tls_fd = http__listen_loop(i, tls_ss, &s->tls_port)) < 0) {
            close(fd);
            return tls_fd;
        }
        int rc = http__loop_init(s, &s->loops[i], i, fd, tls_fd);
        if (rc != 0)
            return rc;
        s->loop_count = i + 1;
    }
    return 0;
}

int http_server_start(const http_config_t *cfg, http_server_t **out)
{
    struct sockaddr_storage ss, tls_ss;
    int rc;

    *out = NULL;
    if ((rc = http__config_check(cfg)) != 0)
        return rc;
    memset(&ss, 0, sizeof(ss));
    memset(&tls_ss, 0, sizeof(tls_ss));
    if ((rc = http__parse_addr(cfg->host, cfg->port, &ss)) != 0)
        return rc;
    if (cfg->tls_ctx && (rc = http__parse_addr(cfg->tls_host, cfg->tls_port, &tls_ss)) != 0)
        return rc;
    http_server_t *s = kv_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    s->tls_port = -1;
    if (s->cfg.idle_timeout_ms == 0)
        s->cfg.idle_timeout_ms = KV_HTTP_IDLE_TIMEOUT_MS;
    if (s->cfg.read_timeout_ms == 0)
        s->cfg.read_timeout_ms = KV_HTTP_READ_TIMEOUT_MS;
    http__config_defaults(&s->cfg);
    s->addr_slots = 16;
    while (s->addr_slots < 2 * (size_t)s->cfg.max_connections)
        s->addr_slots *= 2;
    s->loops = kv_calloc(cfg->loops, sizeof(*s->loops));
    s->addr_table = kv_calloc(s->addr_slots, sizeof(*s->addr_table));
    if (!s->loops || !s->addr_table || uv_mutex_init(&s->addr_lock) != 0) {
        http__server_free(s);
        return -ENOMEM;
    }
    s->addr_lock_init = true;
    rc = http__server_open(s, &ss, cfg->tls_ctx ? &tls_ss : NULL);
    for (unsigned i = 0; rc == 0 && i < s->loop_count; i++) {
        rc = uv_thread_create(&s->loops[i].thread, http__loop_main, &s->loops[i]);
        s->loops[i].thread_started = rc == 0;
    }
    if (rc != 0) {
        http_server_stop(s, 0);
        return rc;
    }
    *out = s;
    return 0;
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

int http_server_tls_port(const http_server_t *s)
{
    return s->tls_port;
}

void http_server_stop(http_server_t *s, unsigned grace_ms)
{
    if (!s)
        return;
    s->grace_ms = grace_ms;
    /* Signal every loop first so they drain in parallel, then join. */
    for (unsigned i = 0; i < s->loop_count; i++)
        if (s->loops[i].thread_started)
            uv_async_send(&s->loops[i].stop_async);
    for (unsigned i = 0; i < s->loop_count; i++) {
        http_loop_t *l = &s->loops[i];
        if (l->thread_started) {
            uv_thread_join(&l->thread);
            http__loop_fini(l);
        } else {
            http__loop_teardown_inline(l);
        }
    }
    http__server_free(s);
}

/* ---- small lookups ---------------------------------------------------------------- */

uv_loop_t *http_req_loop(const http_req_t *req)
{
    return &http__conn_of(req)->loop->loop;
}

const http_header_t *http_req_header(const http_req_t *req, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < req->header_count; i++) {
        const http_header_t *h = &req->headers[i];
        if (h->name_len == len && strncasecmp(h->name, name, len) == 0)
            return h;
    }
    return NULL;
}

static const struct {
    int status;
    const char *text;
} http__status_texts[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_text(int status)
{
    for (size_t i = 0; i < sizeof(http__status_texts) / sizeof(http__status_texts[0]); i++)
        if (http__status_texts[i].status == status)
            return http__status_texts[i].text;
    return "Unknown";
}

void http_server_get_stats(http_server_t *s, http_server_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < s->loop_count; i++) {
        http_stats_atomic_t *st = &s->loops[i].stats;
        out->connections_open += atomic_load_explicit(&st->open, memory_order_relaxed);
        out->connections_total += atomic_load_explicit(&st->total, memory_order_relaxed);
        out->connections_rejected += atomic_load_explicit(&st->rejected, memory_order_relaxed);
        out->requests_total += atomic_load_explicit(&st->requests, memory_order_relaxed);
        out->parse_errors += atomic_load_explicit(&st->parse_errors, memory_order_relaxed);
        out->timeouts += atomic_load_explicit(&st->timeouts, memory_order_relaxed);
        out->connections_rejected_addr +=
            atomic_load_explicit(&st->rejected_addr, memory_order_relaxed);
        out->output_bytes += atomic_load_explicit(&st->out_bytes, memory_order_relaxed);
        out->output_throttled += atomic_load_explicit(&st->throttled, memory_order_relaxed);
        out->body_refused += atomic_load_explicit(&st->body_refused, memory_order_relaxed);
        out->tls_handshakes += atomic_load_explicit(&st->tls_handshakes, memory_order_relaxed);
        out->tls_resumed += atomic_load_explicit(&st->tls_resumed, memory_order_relaxed);
        out->tls_failures += atomic_load_explicit(&st->tls_failures, memory_order_relaxed);
        out->tls_timeouts += atomic_load_explicit(&st->tls_timeouts, memory_order_relaxed);
    }
    out->body_bytes = atomic_load_explicit(&s->body_bytes, memory_order_relaxed);
}
