/*
 * replica_net.c - the replication links: the origin's TLS listener and the
 * edge's TLS link, with frames handed to and from the core as bytes.
 *
 * A connection becomes known to the core only once the mutual TLS handshake
 * succeeded (the peer's certificate chains to the cluster CA and carries the
 * expected role), with the name its certificate proved; until then a
 * handshake timer bounds it. Every SEND is copied, queued on the TLS
 * connection and, when flushed to the socket, reported to the origin core
 * for flow control.
 *
 * The origin's port before trust (anyone can connect): at most
 * KV_REPL_HANDSHAKES_MAX connections are in the handshake and at most
 * KV_REPL_CONNS_PER_ADDR_MAX come from one address; a newcomer over either
 * cap evicts the oldest half-open connection (of its address, for the
 * second), so idle connections never keep an edge out, or is closed at once
 * when there is none to evict. At REPLICA_UNPROVEN_MAX unauthenticated
 * connections (evicted ones included until they are freed) the listener
 * waits, so a burst never holds more TLS buffers than that. Every
 * connection is a heap handle freed by its close callback.
 *
 * The edge dials the configured origin address and requires the origin's
 * certificate to name it (subjectAltName; `edgekv certs --host`). The
 * address may be a host name: it is looked up before every connect
 * (uv_getaddrinfo, off the loop), the certificate checked against the name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "replica_int.h"

/* One queued frame: either a reference to the core's shared buffer (a
 * batch encoded once for every edge) or an inline copy. */
typedef struct {
    replica_t *r;
    repl_peer_t peer;
    size_t len;
    size_t *inflight; /* snapshot frames: the stream's unflushed bytes */
    repl_buf_t *buf;  /* core buffer referenced, or NULL: data[] holds a copy */
    const uint8_t *ptr;
    uint8_t data[];
} rsend_t;

rpeer_t *replica__peer(replica_t *r, repl_peer_t p)
{
    for (size_t i = 0; i < REPLICA_SLOTS; i++)
        if (r->peers[i] && r->peers[i]->id == p)
            return r->peers[i];
    return NULL;
}

static int peer_slot(replica_t *r, rpeer_t *peer)
{
    for (size_t i = 0; i < REPLICA_SLOTS; i++)
        if (!r->peers[i]) {
            r->peers[i] = peer;
            return 0;
        }
    return KV_ELIMIT;
}

static void peer_unslot(replica_t *r, rpeer_t *peer)
{
    for (size_t i = 0; i < REPLICA_SLOTS; i++)
        if (r->peers[i] == peer)
            r->peers[i] = NULL;
    if (r->link == peer)
        r->link = NULL;
}

static void peer_close(rpeer_t *peer)
{
    if (!peer->closing) {
        peer->closing = true;
        tls_conn_close(peer->tls); /* on_close follows and frees the peer */
    }
}

/* Count a refused, evicted or timed-out connection in `counter` (one of
 * r->port_counts's) and log it: the first at once, then at most one line per
 * REPLICA_NET_NOTE_MS with how many there were. */
static void net_note(replica_t *r, _Atomic uint64_t *counter, const char *what)
{
    uint64_t now = replica__now_ms();
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    r->net_noted++;
    if (r->net_note_ms && now >= r->net_note_ms && now - r->net_note_ms < REPLICA_NET_NOTE_MS)
        return;
    KV_LOG_WARN(REPLICA_LOG, "replication port: %s (%llu events since the last such line)", what,
                (unsigned long long)r->net_noted);
    r->net_note_ms = now;
    r->net_noted = 0;
}

/* ---- core calls -------------------------------------------------------------------- */

static void core_connected(replica_t *r, rpeer_t *peer)
{
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    peer->live = true;
    if (peer->upstream) {
        replica__up_connected(r, peer->id, &a);
    } else if (tls_conn_peer_role(peer->tls) == TLS_ROLE_ORIGIN && !r->origin) {
        /* Another candidate, as a standby, follows only the leader: this
         * one is not (replica_ha.c). It dials the next. */
        KV_LOG_INFO(REPLICA_LOG, "candidate %s refused: this node does not lead",
                    tls_conn_peer_name(peer->tls));
        peer->live = false;
        replica__close_peer(r, peer->id);
        return;
    } else if (!replica__ha_may_serve(r)) {
        /* A standby with no live link to a leader (it lost it, or was just
         * deposed and is cut off from etcd) could neither pass a write on
         * nor serve a fresh read: the edge or relay dials its next upstream,
         * which may be the leader. */
        KV_LOG_INFO(REPLICA_LOG, "%s refused: this standby follows no leader now",
                    tls_conn_peer_name(peer->tls));
        peer->live = false;
        replica__close_peer(r, peer->id);
        return;
    } else {
        replica__down_connected(r, peer->id, tls_conn_peer_name(peer->tls), &a);
        if (tls_conn_peer_role(peer->tls) == TLS_ROLE_ORIGIN)
            repl_origin_peer_standby(r->origin, peer->id); /* a candidate: its acks count */
    }
    replica__dispatch(r, &a);
}

static void core_gone(replica_t *r, rpeer_t *peer)
{
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (!r->loop_started || (!peer->upstream && !peer->live) || peer->orphan)
        return; /* the serving core never knew a connection before its handshake */
    if (peer->upstream && peer->live)
        replica__up_gone(r, &a);
    else if (peer->upstream)
        replica__up_connect_failed(r, &a);
    else
        replica__down_gone(r, peer->id, &a);
    replica__dispatch(r, &a);
}

/* ---- the origin's port before trust ------------------------------------------------ */

static void on_connection(uv_stream_t *server, int status);

/* A connection is no longer unproven (authenticated, or gone): a listener
 * waiting for room takes its next connection. */
static void peer_proven(replica_t *r, rpeer_t *peer)
{
    if (!peer->unproven)
        return;
    peer->unproven = false;
    r->unproven--;
    if (r->accept_paused && r->listening && r->unproven < REPLICA_UNPROVEN_MAX) {
        r->accept_paused = false;
        on_connection((uv_stream_t *)&r->listener, 0);
    }
}

/* The address a connection counts under: an IPv4 address (IPv4-mapped
 * IPv6 included) or an IPv6 /64, the block one party usually holds. */
static void peer_note_addr(rpeer_t *peer)
{
    struct sockaddr_storage sa;
    int len = (int)sizeof sa;
    peer->addr_len = 0;
    if (uv_tcp_getpeername(tls_conn_tcp(peer->tls), (struct sockaddr *)&sa, &len) != 0)
        return;
    if (sa.ss_family == AF_INET) {
        memcpy(peer->addr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
        peer->addr_len = 4;
    } else if (sa.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&sa)->sin6_addr;
        bool mapped = IN6_IS_ADDR_V4MAPPED(a6);
        memcpy(peer->addr, a6->s6_addr + (mapped ? 12 : 0), mapped ? 4 : 8);
        peer->addr_len = mapped ? 4 : 8;
    }
}

static bool same_addr(const rpeer_t *a, const rpeer_t *b)
{
    return a->addr_len == b->addr_len && memcmp(a->addr, b->addr, a->addr_len) == 0;
}

/* The oldest connection still in the handshake (from like's address when
 * like is given), or NULL. */
static rpeer_t *oldest_half_open(replica_t *r, const rpeer_t *like)
{
    rpeer_t *best = NULL;
    for (size_t i = 0; i < REPLICA_SLOTS; i++) {
        rpeer_t *p = r->peers[i];
        if (!p || p->live || p->closing || (like && !same_addr(p, like)))
            continue;
        if (!best || p->born < best->born)
            best = p;
    }
    return best;
}

/* Make room for `peer` under the caps, evicting half-open connections;
 * NULL when it may stay, else why it may not. */
static const char *admit(replica_t *r, rpeer_t *peer)
{
    size_t from_addr = 0, half_open = 0;
    for (size_t i = 0; i < REPLICA_SLOTS; i++) {
        const rpeer_t *p = r->peers[i];
        if (!p || p->closing)
            continue;
        half_open += !p->live;
        from_addr += same_addr(p, peer);
    }
    if (from_addr >= KV_REPL_CONNS_PER_ADDR_MAX) {
        rpeer_t *old = oldest_half_open(r, peer);
        if (!old)
            return "closed a connection at once: too many from one address";
        net_note(r, &r->port_counts.evicted,
                 "evicted a half-open connection: too many from one address");
        peer_close(old);
        half_open--;
    }
    if (half_open >= KV_REPL_HANDSHAKES_MAX) {
        rpeer_t *old = oldest_half_open(r, NULL);
        net_note(r, &r->port_counts.evicted,
                 "evicted a half-open connection: too many in the handshake");
        peer_close(old);
    }
    return peer_slot(r, peer) == 0 ? NULL : "closed a connection at once: the table is full";
}

/* ---- TLS callbacks ------------------------------------------------------------------ */

static void on_handshake(tls_conn_t *c, int status)
{
    rpeer_t *peer = tls_conn_user(c);
    replica_t *r = peer->r;
    uint64_t held = 0;
    uv_timer_stop(&peer->handshake_timer);
    if (status != 0) {
        const char *why = tls_conn_error(c);
        if (peer->upstream) {
            KV_LOG_WARN(REPLICA_LOG, "link %u to the upstream %s:%d refused: %s%s%s", peer->id,
                        replica__upstream(r)->host, replica__upstream(r)->port, why,
                        strstr(why, "mismatch") ? "; the upstream certificate must name " : "",
                        strstr(why, "mismatch") ? replica__upstream(r)->host : "");
            return; /* on_close follows */
        }
        atomic_fetch_add_explicit(&r->port_counts.failed, 1, memory_order_relaxed);
        if (kv_log_limit(&r->handshake_log, replica__now_ms(), KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS,
                         &held))
            KV_LOG_WARN(
                REPLICA_LOG,
                "link %u refused: %s (%llu more failed handshakes since the last such line)",
                peer->id, why, (unsigned long long)held);
        return; /* on_close follows */
    }
    KV_LOG_INFO(REPLICA_LOG, "link %u up: %s %s (certificate serial %s)", peer->id,
                tls_role_name(tls_conn_peer_role(c)), tls_conn_peer_name(c),
                tls_conn_peer_serial(c));
    pthread_mutex_lock(&r->lock);
    r->links_total++;
    pthread_mutex_unlock(&r->lock);
    peer_proven(r, peer);
    core_connected(r, peer);
}

void replica__flow(replica_t *r)
{
    size_t items, bytes;
    rpeer_t *peer = r->link;
    if (!replica__follows(r) || !peer || peer->closing || !peer->live)
        return;
    if (r->relay)
        repl_relay_backlog(r->relay, &items, &bytes);
    else
        repl_edge_backlog(r->edge, &items, &bytes);
    if (!peer->paused &&
        (items >= REPLICA_BACKLOG_HIGH_ITEMS || bytes >= REPLICA_BACKLOG_HIGH_BYTES)) {
        peer->paused = true;
        tls_conn_read_pause(peer->tls);
    } else if (peer->paused && items <= REPLICA_BACKLOG_LOW_ITEMS &&
               bytes <= REPLICA_BACKLOG_LOW_BYTES) {
        peer->paused = false;
        tls_conn_read_resume(peer->tls); /* may deliver buffered input now */
    }
}

static void on_data(tls_conn_t *c, const uint8_t *data, size_t len)
{
    rpeer_t *peer = tls_conn_user(c);
    replica_t *r = peer->r;
    repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
    if (!peer->live || peer->closing)
        return;
    if (peer->upstream)
        replica__up_bytes(r, data, len, &a);
    else
        replica__down_bytes(r, peer->id, data, len, &a);
    replica__dispatch(r, &a);
    replica__flow(r);
}

static void free_peer(uv_handle_t *h)
{
    kv_free(h->data);
}

static void on_close(tls_conn_t *c, int status, const char *reason)
{
    rpeer_t *peer = tls_conn_user(c);
    replica_t *r = peer->r;
    if (status != 0 && status != UV_EOF && peer->live)
        KV_LOG_INFO(REPLICA_LOG, "link %u closed: %s", peer->id,
                    reason && reason[0] ? reason : kv_strerror(status));
    if (peer->upstream) {
        r->connect_turn++; /* the next connect tries the upstream's next address ... */
        if (r->cfg.upstream_count > 1) {
            r->up_turn++; /* ... of the next upstream in the list */
            KV_LOG_INFO(REPLICA_LOG, "link %u to %s:%d gone; next upstream %s:%d", peer->id,
                        r->cfg.upstreams[(r->up_turn - 1) % r->cfg.upstream_count].host,
                        r->cfg.upstreams[(r->up_turn - 1) % r->cfg.upstream_count].port,
                        replica__upstream(r)->host, replica__upstream(r)->port);
        }
    }
    peer_unslot(r, peer);
    core_gone(r, peer);
    uv_close((uv_handle_t *)&peer->handshake_timer, free_peer);
    peer_proven(r, peer); /* its TLS buffers are freed when this returns */
    if (r->connect_pending && !r->link && r->loop_started) {
        r->connect_pending = false;
        replica__connect(r);
    }
}

static void on_handshake_timeout(uv_timer_t *t)
{
    rpeer_t *peer = t->data;
    if (peer->upstream)
        KV_LOG_WARN(REPLICA_LOG, "link %u: TLS handshake with the upstream timed out", peer->id);
    else
        net_note(peer->r, &peer->r->port_counts.timed_out,
                 "closed a connection: TLS handshake timed out");
    peer_close(peer);
}

static const tls_conn_cbs_t k_cbs = {
    .on_handshake = on_handshake, .on_data = on_data, .on_close = on_close};

/* A connection with its TLS state, in no slot yet. */
static rpeer_t *peer_new(replica_t *r, bool is_server)
{
    rpeer_t *peer = kv_calloc(1, sizeof *peer);
    if (!peer)
        return NULL;
    peer->r = r;
    peer->upstream = !is_server; /* only the link to the upstream is dialled */
    /* Ids are never reused while open, even when the counter wraps. */
    do
        peer->id = r->next_peer++;
    while (peer->id == 0 || replica__peer(r, peer->id));
    if (tls_conn_create(r->tls, &r->loop, is_server, &k_cbs, peer, &peer->tls) != 0) {
        kv_free(peer);
        return NULL;
    }
    uv_timer_init(&r->loop, &peer->handshake_timer);
    peer->handshake_timer.data = peer;
    return peer;
}

static void start_handshake_timer(rpeer_t *peer)
{
    uv_timer_start(
        &peer->handshake_timer, on_handshake_timeout,
        peer->upstream ? KV_TLS_HANDSHAKE_TIMEOUT_MS : peer->r->cfg.accept_handshake_timeout_ms, 0);
}

/* ---- origin: the listener ------------------------------------------------------------ */

static void free_handle(uv_handle_t *h)
{
    kv_free(h);
}

/* No memory for a connection: accept it into a bare handle and close it,
 * or the listener would stop. */
static void drop_connection(replica_t *r, uv_stream_t *server)
{
    uv_tcp_t *t = kv_malloc(sizeof *t);
    if (!t || uv_tcp_init(&r->loop, t) != 0) {
        kv_free(t);
        KV_LOG_ERROR(REPLICA_LOG, "accept: out of memory");
        return;
    }
    (void)uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, free_handle);
    net_note(r, &r->port_counts.refused, "closed a connection at once: out of memory");
}

static void on_connection(uv_stream_t *server, int status)
{
    replica_t *r = server->data;
    rpeer_t *peer;
    const char *why;
    if (status != 0) {
        net_note(r, &r->port_counts.refused, uv_strerror(status)); /* EMFILE: libuv dropped one */
        return;
    }
    if (r->unproven >= REPLICA_UNPROVEN_MAX) {
        /* Not accepted: libuv holds it and stops listening until
         * peer_proven() takes it. */
        r->accept_paused = true;
        return;
    }
    if (!(peer = peer_new(r, true))) {
        drop_connection(r, server);
        return;
    }
    peer->born = ++r->accepts;
    peer->unproven = true;
    r->unproven++;
    if (uv_accept(server, (uv_stream_t *)tls_conn_tcp(peer->tls)) != 0) {
        peer_close(peer);
        return;
    }
    peer_note_addr(peer);
    if ((why = admit(r, peer)) != NULL) {
        net_note(r, &r->port_counts.refused, why);
        peer_close(peer);
        return;
    }
    start_handshake_timer(peer);
    if (tls_conn_start(peer->tls) != 0)
        peer_close(peer);
}

int replica__listen(replica_t *r)
{
    struct sockaddr_storage addr;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    int namelen = sizeof addr, rc;
    if (uv_ip4_addr(r->cfg.host, r->cfg.port, a4) != 0 &&
        uv_ip6_addr(r->cfg.host, r->cfg.port, (struct sockaddr_in6 *)&addr) != 0)
        return KV_ECONFIG;
    uv_tcp_init(&r->loop, &r->listener);
    r->listener.data = r;
    r->listening = true;
    if ((rc = uv_tcp_bind(&r->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&r->listener, REPLICA_LISTEN_BACKLOG, on_connection)) != 0) {
        KV_LOG_ERROR(REPLICA_LOG, "replication listener %s:%d: %s", r->cfg.host, r->cfg.port,
                     uv_strerror(rc));
        return rc;
    }
    uv_tcp_getsockname(&r->listener, (struct sockaddr *)&addr, &namelen);
    r->port =
        ntohs(addr.ss_family == AF_INET ? a4->sin_port : ((struct sockaddr_in6 *)&addr)->sin6_port);
    return 0;
}

/* ---- edge: the link ------------------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status)
{
    rpeer_t *peer = req->data;
    kv_free(req);
    if (peer->closing)
        return; /* closed meanwhile; on_close reports it */
    if (status != 0 || tls_conn_start(peer->tls) != 0) {
        KV_LOG_DEBUG(REPLICA_LOG, "connect to origin: %s", status ? uv_strerror(status) : "tls");
        peer_close(peer);
        return;
    }
    uv_tcp_nodelay(tls_conn_tcp(peer->tls), 1);
}

static void connect_failed_later(replica_t *r)
{
    r->connect_turn++;
    r->up_turn++;                   /* the next upstream in the list */
    r->defer_connect_failed = true; /* we may be inside a dispatch */
    replica__defer(r);
}

static void connect_to(replica_t *r, const struct sockaddr_storage *addr);

/* The origin's host name resolved (on the loop): connect to one of its
 * addresses, the next one after each failed connect, so an origin that
 * listens on only some of them (IPv4 but not ::1) is still reached. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    replica_t *r = req->data;
    struct sockaddr_storage addr;
    size_t n = 0, pick;
    kv_free(req);
    r->resolving = NULL;
    if (!r->loop_started || status == UV_ECANCELED) { /* stopping */
        uv_freeaddrinfo(res);
        return;
    }
    for (struct addrinfo *a = status == 0 ? res : NULL; a; a = a->ai_next)
        n += a->ai_family == AF_INET || a->ai_family == AF_INET6;
    if (n == 0) {
        KV_LOG_ERROR(REPLICA_LOG, "cannot resolve the upstream %s: %s", replica__upstream(r)->host,
                     status ? uv_strerror(status) : "no IPv4 or IPv6 address");
        uv_freeaddrinfo(res);
        connect_failed_later(r);
        return;
    }
    pick = r->connect_turn % n;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        if (pick-- == 0) {
            memset(&addr, 0, sizeof addr);
            memcpy(&addr, a->ai_addr, a->ai_addrlen);
            break;
        }
    }
    uv_freeaddrinfo(res);
    if (addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)replica__upstream(r)->port);
    else
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)replica__upstream(r)->port);
    connect_to(r, &addr);
}

/* A host name rather than an address: look it up off the loop (libuv's
 * threadpool) before every connect, so an origin that moved (a pod
 * rescheduled, a DNS record changed) is found again. The certificate is
 * checked against the name (tls_conn_set_verify_host). */
static void resolve_origin(replica_t *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    uv_getaddrinfo_t *req;
    if (r->resolving)
        return; /* one lookup at a time; its answer connects */
    if (!(req = kv_malloc(sizeof *req))) {
        connect_failed_later(r);
        return;
    }
    req->data = r;
    if (uv_getaddrinfo(&r->loop, req, on_resolved, replica__upstream(r)->host, NULL, &hints) != 0) {
        kv_free(req);
        KV_LOG_ERROR(REPLICA_LOG, "cannot resolve the upstream %s", replica__upstream(r)->host);
        connect_failed_later(r);
        return;
    }
    r->resolving = req;
}

void replica__connect(replica_t *r)
{
    struct sockaddr_storage addr;

    if (r->link) {
        /* The old link is still closing: connect once it is gone. */
        r->connect_pending = true;
        return;
    }
    if (r->cfg.upstream_count == 0) {
        /* A standby that knows no leader yet (replica_ha.c): a failed
         * connect, retried after the core's backoff. */
        r->defer_connect_failed = true;
        replica__defer(r);
        return;
    }
    if (uv_ip4_addr(replica__upstream(r)->host, replica__upstream(r)->port,
                    (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(replica__upstream(r)->host, replica__upstream(r)->port,
                    (struct sockaddr_in6 *)&addr) != 0) {
        resolve_origin(r);
        return;
    }
    connect_to(r, &addr);
}

static void connect_to(replica_t *r, const struct sockaddr_storage *addr)
{
    uv_connect_t *req = NULL;
    rpeer_t *peer = NULL;

    if (r->link) {
        r->connect_pending = true;
        return;
    }
    if (!(req = kv_malloc(sizeof *req)) || !(peer = peer_new(r, false)) ||
        peer_slot(r, peer) != 0 ||
        tls_conn_set_verify_host(peer->tls, replica__upstream(r)->host) != 0) {
        KV_LOG_ERROR(REPLICA_LOG, "cannot open a link to %s:%d", replica__upstream(r)->host,
                     replica__upstream(r)->port);
        kv_free(req);
        if (peer)
            peer_close(peer); /* on_close reports the failed connect */
        else {
            r->defer_connect_failed = true; /* we are inside a dispatch */
            replica__defer(r);
        }
        return;
    }
    r->link = peer;
    req->data = peer;
    start_handshake_timer(peer);
    if (uv_tcp_connect(req, tls_conn_tcp(peer->tls), (const struct sockaddr *)addr, on_connected) !=
        0) {
        kv_free(req);
        peer_close(peer);
    }
}

/* ---- sending ---------------------------------------------------------------------------- */

static void on_written(tls_conn_t *c, void *arg, int status)
{
    rsend_t *s = arg;
    replica_t *r = s->r;
    (void)c;
    if (s->inflight) {
        pthread_mutex_lock(&r->lock);
        *s->inflight -= s->len;
        pthread_cond_broadcast(&r->snap_cond);
        pthread_mutex_unlock(&r->lock);
    } else if (status == 0 && replica__serves(r) && r->loop_started &&
               !(r->link && r->link->id == s->peer)) {
        repl_actions_t a = {r->act_buf, REPLICA_ACTIONS_CAP, 0};
        replica__down_flushed(r, s->peer, s->len, &a);
        replica__dispatch(r, &a);
    }
    if (s->buf)
        repl_buf_unref(s->buf); /* loop thread, like every core call */
    kv_free(s);
}

static int queue_send(replica_t *r, rpeer_t *peer, rsend_t *s)
{
    int rc = tls_conn_write(peer->tls, s->ptr, s->len, on_written, s);
    if (rc != 0) {
        KV_LOG_WARN(REPLICA_LOG, "link %u: send failed (%s); closing", peer->id, kv_strerror(rc));
        if (s->buf)
            repl_buf_unref(s->buf);
        kv_free(s);
        peer->closing = true;
        tls_conn_close(peer->tls);
    }
    return rc;
}

int replica__send(replica_t *r, repl_peer_t p, const uint8_t *data, size_t len, repl_buf_t *buf)
{
    rpeer_t *peer = replica__peer(r, p);
    rsend_t *s;
    if (!peer || peer->closing)
        return -EPIPE;
    if (!(s = kv_malloc(sizeof *s + (buf ? 0 : len)))) {
        peer->closing = true;
        tls_conn_close(peer->tls);
        return -ENOMEM;
    }
    s->r = r, s->peer = p, s->len = len, s->inflight = NULL;
    if (buf) {
        s->buf = repl_buf_ref(buf); /* no copy: the bytes live until written */
        s->ptr = data;
    } else {
        s->buf = NULL;
        memcpy(s->data, data, len);
        s->ptr = s->data;
    }
    return queue_send(r, peer, s);
}

void replica__send_counted(replica_t *r, repl_peer_t p, const uint8_t *frame, size_t len,
                           size_t *inflight)
{
    rpeer_t *peer = replica__peer(r, p);
    rsend_t *s = kv_malloc(sizeof *s + len);
    if (!peer || peer->closing || !s) {
        kv_free(s);
        pthread_mutex_lock(&r->lock);
        *inflight -= len;
        pthread_cond_broadcast(&r->snap_cond);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    s->r = r, s->peer = p, s->len = len, s->inflight = inflight, s->buf = NULL;
    memcpy(s->data, frame, len);
    s->ptr = s->data;
    if (queue_send(r, peer, s) != 0) {
        pthread_mutex_lock(&r->lock);
        *inflight -= len;
        pthread_cond_broadcast(&r->snap_cond);
        pthread_mutex_unlock(&r->lock);
    }
}

void replica__close_peer(replica_t *r, repl_peer_t p)
{
    rpeer_t *peer = replica__peer(r, p);
    if (peer && !peer->closing) {
        peer->closing = true;
        tls_conn_close(peer->tls);
    }
}

void replica__net_stop(replica_t *r)
{
    /* A lookup not yet started is cancelled; one running finishes (the
     * loop runs until it has) and on_resolved drops its answer. */
    if (r->resolving)
        uv_cancel((uv_req_t *)r->resolving);
    for (size_t i = 0; i < REPLICA_SLOTS; i++)
        if (r->peers[i])
            peer_close(r->peers[i]);
    if (r->listening) {
        r->listening = false;
        uv_close((uv_handle_t *)&r->listener, NULL);
    }
}
