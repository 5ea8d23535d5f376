/* proxy.c - edgekv-proxy, the fault proxy of the network lab and of the
 * nemesis run: a TCP relay on libuv on one replication link (edge ->
 * upstream).
 *
 * It forwards bytes both ways, unchanged (TLS passes through; the nodes carry
 * no test hooks), and
 *   - delays them per direction by the simulator's own link model
 *     (shape.h: one-way delay from the scenario's distributions or the world
 *     profile, jitter, loss, bandwidth, FIFO order) when started with
 *     --scenario FILE --place PLACE; without --scenario it adds no delay;
 *   - on command breaks the link:
 *       cut MS     every connection is reset, and new ones are accepted and
 *                  reset at once, for MS milliseconds (a link that is down);
 *       freeze MS  no byte passes either way and new connections are held
 *                  unanswered for MS milliseconds (a partition: TCP stays up,
 *                  the peers see only silence; what was in flight, and what
 *                  was sent meanwhile (read in the first PROXY_HEAL_DRAIN_NS
 *                  after the heal), leaves at heal + rto + a fresh delay, as
 *                  the simulator's partitions hold and retransmit frames);
 *       heal       ends a cut or freeze now;
 *       stats      one line of counters.
 * Commands are lines on a control port (loopback or the lab's addresses);
 * every command gets one answer line, "ok ..." or "err ...", sent after the
 * command took effect; a cut's or freeze's answer ends with at_ns=, the
 * CLOCK_REALTIME time it began (the lab dates its partitions by it).
 *
 * Connection set-up: the edge's TCP handshake ends at the proxy at once, so
 * the proxy connects upstream one round trip (two one-way draws) later and
 * reads nothing before: the handshake's round trip of the simulator (which
 * counts TCP + TLS 1.3 as two round trips; the TLS one is the delayed bytes).
 *
 * Timing: release times are absolute (uv_hrtime); a chunk leaves when a
 * libuv timer (millisecond resolution) fires at or after its time minus
 * PROXY_EARLY_NS, so the rounding error is centred on zero instead of always
 * late. The proxy's own lateness (timer, scheduling) is in "stats"
 * (late_p50_ms, late_p99_ms, late_max_ms: 0.1 ms buckets; early chunks count
 * as 0).
 *
 * Bounds: a side whose peer has more than PROXY_PENDING_MAX bytes queued
 * (delayed or being written) is not read until they drain; at most
 * PROXY_PAIRS_MAX connections are forwarded at once (more are reset).
 *
 * Usage: edgekv-proxy --listen HOST:PORT --upstream HOST:PORT --control HOST:PORT
 *          [--scenario FILE --place PLACE] [--seed N] [--stream K] [--burst-bytes B]
 * (port 0: the kernel picks; the ports are printed on stdout). It runs until
 * SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "shape.h"

/* Connections forwarded at once: an edge needs one; a reconnecting edge a
 * few more while the old one closes. */
#define PROXY_PAIRS_MAX 256
/* Bytes queued towards one side (held for their delay or being written)
 * before the other side is no longer read: a window of 4 MiB covers a
 * snapshot stream at 150 ms one-way; memory is at most about
 * 2 * PROXY_PAIRS_MAX * this. */
#define PROXY_PENDING_MAX (4 * 1024 * 1024)
/* One read's buffer. */
#define PROXY_READ_BUF (64 * 1024)
/* A control line; a longer one closes the control connection. */
#define PROXY_CTL_LINE_MAX 256
/* Control connections open at once. */
#define PROXY_CTLS_MAX 8
/* A cut or freeze lasts at most this long (a typo must not cut forever). */
#define PROXY_FAULT_MS_MAX (10 * 60 * 1000)
/* A chunk due within this much of now leaves now (half the timer's 1 ms
 * resolution: the error is centred on zero). */
#define PROXY_EARLY_NS 500000
/* The proxy's own lateness (a chunk handed to the socket after its release
 * time: timer resolution and scheduling on a busy machine) is counted in
 * buckets of PROXY_LATE_BUCKET_NS up to PROXY_LATE_BUCKETS of them (the last
 * bucket takes everything later), for the p50/p99 in "stats". */
/* Bytes read within this long after a heal were sent during the freeze
 * (they waited in the kernel's buffers, unread): held bytes, re-timed like
 * the queued ones. */
#define PROXY_HEAL_DRAIN_NS  2000000
#define PROXY_LATE_BUCKET_NS 100000
#define PROXY_LATE_BUCKETS   1000

typedef enum { LINK_UP, LINK_CUT, LINK_FROZEN } link_mode_t;

typedef struct pair pair_t;

typedef struct chunk {
    uv_write_t req;
    struct chunk *next;
    struct side *to;
    uint64_t due_ns;
    size_t len;
    bool writing;
    char data[];
} chunk_t;

typedef struct side {
    uv_tcp_t tcp;
    uv_timer_t release; /* fires when the head of queue is due */
    pair_t *pair;
    sim_shape_t shape;    /* delays of the bytes towards this side */
    chunk_t *head, *tail; /* delayed chunks not yet handed to uv_write */
    size_t pending;       /* bytes queued or being written to this side */
    bool eof;             /* this side sent EOF (or failed) */
    bool shut_wanted;     /* the other side sent EOF: shut this one down once drained */
    bool reading;
    bool closed; /* uv_close called */
} side_t;

struct pair {
    side_t down; /* the client (the edge) */
    side_t up;   /* the upstream (the origin) */
    uv_connect_t connect;
    uv_timer_t handshake; /* the TCP handshake's round trip before the upstream connect */
    bool connected;       /* upstream connect completed */
    bool held;            /* accepted during a freeze: not connected yet */
    bool dying;
    int open_handles;
    pair_t *prev, *next;
};

typedef struct {
    uv_tcp_t tcp;
    char line[PROXY_CTL_LINE_MAX];
    size_t len;
    bool closing;
} ctl_t;

static uv_loop_t *loop;
static uv_tcp_t listener, ctl_listener;
static uv_timer_t fault_timer;
static uv_signal_t sig_term, sig_int;
static struct sockaddr_storage upstream;
static link_mode_t mode = LINK_UP;
static pair_t *pairs;
static int npairs, nctls;
static ctl_t *ctls[PROXY_CTLS_MAX + 1];
static uint64_t n_accepted, n_refused, n_cuts, n_freezes, bytes_up, bytes_down, n_reset;
static uint64_t n_chunks, n_loss_resets, n_held_chunks;
static uint64_t late_hist[PROXY_LATE_BUCKETS], late_n, late_max_ns;
static uint64_t last_heal_ns; /* the last end of a freeze (0: none yet) */
/* The delay model (NULL: none) and its seed; every pair gets its own streams. */
static sim_scenario_t *scenario;
static sim_shape_cfg_t shape_cfg;
static bool shaping;
static uint64_t shape_seed, shape_stream, pair_serial;

static void pair_kill(pair_t *p, bool reset);
static void side_read_start(side_t *s);
static void side_release(side_t *to);

static side_t *other(side_t *s)
{
    return s == &s->pair->down ? &s->pair->up : &s->pair->down;
}

static void pair_handle_gone(pair_t *p)
{
    if (--p->open_handles > 0)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        pairs = p->next;
    if (p->next)
        p->next->prev = p->prev;
    npairs--;
    free(p);
}

/* A side's socket or release timer (data: the side) closed. */
static void on_side_handle_closed(uv_handle_t *h)
{
    pair_handle_gone(((side_t *)h->data)->pair);
}

/* The pair's handshake timer (data: the pair) closed. */
static void on_pair_handle_closed(uv_handle_t *h)
{
    pair_handle_gone(h->data);
}

/* Chunks never handed to uv_write are freed here; those being written are
 * freed by their callback (cancelled by the close). */
static void side_drop_queue(side_t *s)
{
    for (chunk_t *c = s->head, *nx; c; c = nx) {
        nx = c->next;
        s->pending -= c->len;
        free(c);
    }
    s->head = s->tail = NULL;
}

static void side_close(side_t *s, bool reset)
{
    if (s->closed)
        return;
    s->closed = true;
    side_drop_queue(s);
    uv_close((uv_handle_t *)&s->release, on_side_handle_closed);
    if (reset && uv_tcp_close_reset(&s->tcp, on_side_handle_closed) == 0)
        return;
    uv_close((uv_handle_t *)&s->tcp, on_side_handle_closed);
}

/* Ends a pair: both sides closed, with a reset (RST) when asked. */
static void pair_kill(pair_t *p, bool reset)
{
    if (p->dying)
        return;
    p->dying = true;
    /* A pending upstream connect is cancelled by the close: its callback
     * sees UV_ECANCELED before the handle's close callback frees the pair. */
    uv_close((uv_handle_t *)&p->handshake, on_pair_handle_closed);
    side_close(&p->down, reset);
    side_close(&p->up, reset);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(PROXY_READ_BUF);
    buf->len = buf->base ? PROXY_READ_BUF : 0;
}

static void side_read_stop(side_t *s)
{
    if (s->reading && !s->closed)
        uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = false;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void side_read_start(side_t *s)
{
    if (s->reading || s->eof || s->closed || mode != LINK_UP || !s->pair->connected)
        return;
    if (other(s)->pending > PROXY_PENDING_MAX)
        return;
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0)
        s->reading = true;
    else
        pair_kill(s->pair, true);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

static void maybe_finish(pair_t *p)
{
    /* Both directions ended and drained: the pair is done. */
    if (p->down.eof && p->up.eof && p->down.pending == 0 && p->up.pending == 0)
        pair_kill(p, false);
}

/* The other side's EOF reaches this one once everything before it left. */
static void side_maybe_shutdown(side_t *to)
{
    if (!to->shut_wanted || to->head || to->closed)
        return;
    to->shut_wanted = false;
    uv_shutdown_t *sh = malloc(sizeof *sh);
    if (!sh || uv_shutdown(sh, (uv_stream_t *)&to->tcp, on_shutdown) < 0) {
        free(sh);
        pair_kill(to->pair, false);
    }
}

static void on_written(uv_write_t *req, int status)
{
    chunk_t *c = (chunk_t *)req;
    side_t *to = c->to;
    to->pending -= c->len;
    free(c);
    if (to->pair->dying)
        return;
    if (status < 0) {
        pair_kill(to->pair, true);
        return;
    }
    side_read_start(other(to));
    maybe_finish(to->pair);
}

static void on_release_timer(uv_timer_t *t)
{
    side_release(t->data);
}

/* Hands every due chunk to uv_write, then re-arms the timer for the next. */
static void side_release(side_t *to)
{
    if (to->closed || mode == LINK_FROZEN)
        return;
    uint64_t now = uv_hrtime();
    while (to->head && to->head->due_ns <= now + PROXY_EARLY_NS) {
        chunk_t *c = to->head;
        uint64_t late_ns = now > c->due_ns ? now - c->due_ns : 0;
        size_t bucket = late_ns / PROXY_LATE_BUCKET_NS;
        late_hist[bucket < PROXY_LATE_BUCKETS ? bucket : PROXY_LATE_BUCKETS - 1]++;
        late_n++;
        late_max_ns = late_ns > late_max_ns ? late_ns : late_max_ns;
        to->head = c->next;
        if (!to->head)
            to->tail = NULL;
        c->writing = true;
        uv_buf_t b = uv_buf_init(c->data, (unsigned)c->len);
        if (uv_write(&c->req, (uv_stream_t *)&to->tcp, &b, 1, on_written) < 0) {
            to->pending -= c->len;
            free(c);
            pair_kill(to->pair, true);
            return;
        }
    }
    if (to->head) {
        uint64_t wait_ns = to->head->due_ns - now - PROXY_EARLY_NS;
        uv_timer_start(&to->release, on_release_timer, (wait_ns + 999999) / 1000000, 0);
    } else {
        uv_timer_stop(&to->release);
        side_maybe_shutdown(to);
    }
}

/* Queues n bytes read from `from` towards the other side, due when the
 * delay model says. */
static void forward(side_t *from, const char *data, size_t n)
{
    side_t *to = other(from);
    uint64_t now = uv_hrtime();
    bool reset = false;
    uint64_t due = shaping ? sim_shape_admit(&to->shape, now, n, &reset) : now;
    if (shaping && last_heal_ns && now - last_heal_ns < PROXY_HEAL_DRAIN_NS) {
        due = sim_shape_resend(&to->shape, last_heal_ns, due); /* sent during the freeze */
        n_held_chunks++;
    }
    if (reset) {
        n_loss_resets++;
        pair_kill(from->pair, true);
        return;
    }
    chunk_t *c = malloc(sizeof *c + n);
    if (!c) {
        pair_kill(from->pair, true);
        return;
    }
    memcpy(c->data, data, n);
    c->to = to;
    c->len = n;
    c->due_ns = due;
    c->next = NULL;
    c->writing = false;
    if (to->tail)
        to->tail->next = c;
    else
        to->head = c;
    to->tail = c;
    to->pending += n;
    n_chunks++;
    if (from == &from->pair->down)
        bytes_up += n;
    else
        bytes_down += n;
    if (to->head == c)
        side_release(to);
    if (to->pending > PROXY_PENDING_MAX)
        side_read_stop(from);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    side_t *s = st->data;
    pair_t *p = s->pair;
    if (n > 0 && !p->dying)
        forward(s, buf->base, (size_t)n);
    free(buf->base);
    if (n == UV_EOF && !p->dying) {
        side_read_stop(s);
        s->eof = true;
        other(s)->shut_wanted = true;
        side_maybe_shutdown(other(s));
        if (!p->dying)
            maybe_finish(p);
    } else if (n < 0 && !p->dying) {
        pair_kill(p, true);
    }
}

static void on_upstream_connected(uv_connect_t *req, int status)
{
    pair_t *p = req->data;
    if (status < 0 || p->dying) {
        if (!p->dying)
            pair_kill(p, true);
        return;
    }
    p->connected = true;
    if (mode == LINK_CUT) {
        pair_kill(p, true);
        return;
    }
    side_read_start(&p->down);
    side_read_start(&p->up);
}

static void on_handshake_over(uv_timer_t *t)
{
    pair_t *p = t->data;
    if (p->dying)
        return;
    if (mode == LINK_FROZEN) {
        p->held = true; /* a freeze began meanwhile: connected on heal */
        return;
    }
    p->connect.data = p;
    if (uv_tcp_connect(&p->connect, &p->up.tcp, (struct sockaddr *)&upstream,
                       on_upstream_connected) < 0)
        pair_kill(p, true);
}

/* The upstream connect, one round trip after the edge's handshake. */
static void pair_connect(pair_t *p)
{
    p->held = false;
    double rtt_ms =
        shaping ? sim_shape_one_way_ms(&p->up.shape) + sim_shape_one_way_ms(&p->down.shape) : 0;
    uv_timer_start(&p->handshake, on_handshake_over, (uint64_t)(rtt_ms + 0.5), 0);
}

static void side_init(pair_t *p, side_t *s, uint64_t stream)
{
    s->pair = p;
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->release);
    s->tcp.data = s;
    s->release.data = s;
    if (shaping)
        sim_shape_init(&s->shape, &shape_cfg, shape_seed, stream);
}

static void on_accept(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    pair_t *p = calloc(1, sizeof *p);
    if (!p)
        return;
    /* Every connection draws from its own streams: the link's stream,
     * then a serial per connection, per direction. */
    uint64_t stream = (shape_stream << 32) + 2 * pair_serial++;
    side_init(p, &p->down, stream);
    side_init(p, &p->up, stream + 1);
    uv_timer_init(loop, &p->handshake);
    p->handshake.data = p;
    p->open_handles = 5;
    p->next = pairs;
    if (pairs)
        pairs->prev = p;
    pairs = p;
    npairs++;
    if (uv_accept(srv, (uv_stream_t *)&p->down.tcp) < 0) {
        pair_kill(p, false);
        return;
    }
    n_accepted++;
    uv_tcp_nodelay(&p->down.tcp, 1);
    uv_tcp_nodelay(&p->up.tcp, 1);
    if (mode == LINK_CUT || npairs > PROXY_PAIRS_MAX) {
        n_refused++;
        pair_kill(p, true);
        return;
    }
    if (mode == LINK_FROZEN) {
        p->held = true; /* connected to upstream on heal */
        return;
    }
    pair_connect(p);
}

/* After a freeze: every chunk held over it leaves at heal + rto + a fresh
 * delay (shape.h), in order. */
static void side_heal(side_t *s, uint64_t heal_ns)
{
    for (chunk_t *c = s->head; c; c = c->next) {
        c->due_ns = shaping ? sim_shape_resend(&s->shape, heal_ns, c->due_ns) : c->due_ns;
        n_held_chunks++;
    }
    side_release(s);
}

/* The link's mode changes: a cut resets every pair; a freeze stops every
 * read and release; healing re-times what was held, resumes reads and
 * connects the pairs held meanwhile. */
static int set_mode(link_mode_t m)
{
    int touched = 0;
    link_mode_t was = mode;
    mode = m;
    uint64_t now = uv_hrtime();
    for (pair_t *p = pairs, *nx; p; p = nx) {
        nx = p->next;
        if (p->dying)
            continue;
        touched++;
        if (m == LINK_CUT) {
            n_reset++;
            pair_kill(p, true);
        } else if (m == LINK_FROZEN) {
            side_read_stop(&p->down);
            side_read_stop(&p->up);
            uv_timer_stop(&p->down.release);
            uv_timer_stop(&p->up.release);
        } else if (p->held) {
            pair_connect(p);
        } else {
            if (was == LINK_FROZEN) {
                last_heal_ns = now;
                side_heal(&p->down, now);
                side_heal(&p->up, now);
            }
            side_read_start(&p->down);
            side_read_start(&p->up);
        }
    }
    return touched;
}

static void on_fault_over(uv_timer_t *t)
{
    (void)t;
    set_mode(LINK_UP);
}

static void on_ctl_closed(uv_handle_t *h)
{
    for (int i = 0; i <= PROXY_CTLS_MAX; i++)
        if (ctls[i] == h->data)
            ctls[i] = NULL;
    free(h->data);
    nctls--;
}

static void ctl_close(ctl_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_ctl_closed);
}

static void on_ctl_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void ctl_reply(ctl_t *c, const char *text)
{
    size_t n = strlen(text);
    uv_write_t *w = malloc(sizeof *w + n + 1);
    if (!w) {
        ctl_close(c);
        return;
    }
    char *d = (char *)(w + 1);
    memcpy(d, text, n);
    d[n] = '\n';
    uv_buf_t b = uv_buf_init(d, (unsigned)n + 1);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_ctl_written) < 0) {
        free(w);
        ctl_close(c);
    }
}

/* Parses "WORD" or "WORD MS"; returns false on anything else. */
static bool parse_cmd(const char *line, char *word, size_t wlen, long *ms)
{
    char extra;
    *ms = -1;
    char fmt[32];
    snprintf(fmt, sizeof fmt, "%%%zus %%ld %%c", wlen - 1);
    int n = sscanf(line, fmt, word, ms, &extra);
    return n == 1 || n == 2;
}

/* The q-quantile of the lateness in ms (a bucket's upper edge). */
static double late_quantile_ms(double q)
{
    uint64_t want = (uint64_t)(q * (double)late_n + 0.999999), seen = 0;
    for (size_t b = 0; b < PROXY_LATE_BUCKETS; b++) {
        seen += late_hist[b];
        if (seen >= want && seen > 0)
            return (double)((b + 1) * PROXY_LATE_BUCKET_NS) / 1e6;
    }
    return 0;
}

static void ctl_stats(char *out, size_t cap)
{
    snprintf(out, cap,
             "ok mode=%s conns=%d accepted=%" PRIu64 " refused=%" PRIu64 " reset=%" PRIu64
             " cuts=%" PRIu64 " freezes=%" PRIu64 " bytes_up=%" PRIu64 " bytes_down=%" PRIu64
             " chunks=%" PRIu64 " held=%" PRIu64 " loss_resets=%" PRIu64 " shaping=%s"
             " late_p50_ms=%.1f late_p99_ms=%.1f late_max_ms=%.1f",
             mode == LINK_UP    ? "up"
             : mode == LINK_CUT ? "cut"
                                : "frozen",
             npairs, n_accepted, n_refused, n_reset, n_cuts, n_freezes, bytes_up, bytes_down,
             n_chunks, n_held_chunks, n_loss_resets, shaping ? "on" : "off", late_quantile_ms(0.5),
             late_quantile_ms(0.99), (double)late_max_ns / 1e6);
}

static void ctl_command(ctl_t *c, const char *line)
{
    char word[16], out[512];
    long ms;
    if (!parse_cmd(line, word, sizeof word, &ms)) {
        ctl_reply(c, "err expected: cut MS | freeze MS | heal | stats");
        return;
    }
    bool timed = strcmp(word, "cut") == 0 || strcmp(word, "freeze") == 0;
    if (timed) {
        if (ms <= 0 || ms > PROXY_FAULT_MS_MAX) {
            ctl_reply(c, "err MS must be 1..600000");
            return;
        }
        bool cut = word[0] == 'c';
        if (cut)
            n_cuts++;
        else
            n_freezes++;
        if (mode != LINK_UP)
            set_mode(LINK_UP); /* a freeze's held pairs get their chance */
        int t = set_mode(cut ? LINK_CUT : LINK_FROZEN);
        uv_timer_start(&fault_timer, on_fault_over, (uint64_t)ms, 0);
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        snprintf(out, sizeof out, "ok %s %d connections for %ld ms at_ns=%lld", word, t, ms,
                 (long long)at.tv_sec * 1000000000LL + at.tv_nsec);
    } else if (strcmp(word, "heal") == 0 && ms < 0) {
        uv_timer_stop(&fault_timer);
        set_mode(LINK_UP);
        snprintf(out, sizeof out, "ok healed");
    } else if (strcmp(word, "stats") == 0 && ms < 0) {
        ctl_stats(out, sizeof out);
    } else {
        snprintf(out, sizeof out, "err unknown command: %s", word);
    }
    ctl_reply(c, out);
}

static void on_ctl_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ctl_t *c = h->data;
    (void)hint;
    buf->base = c->line + c->len;
    buf->len = sizeof c->line - c->len;
}

static void on_ctl_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    ctl_t *c = st->data;
    (void)buf;
    if (n < 0) {
        ctl_close(c);
        return;
    }
    c->len += (size_t)n;
    char *nl;
    while (!c->closing && (nl = memchr(c->line, '\n', c->len))) {
        *nl = '\0';
        if (nl > c->line && nl[-1] == '\r')
            nl[-1] = '\0';
        ctl_command(c, c->line);
        size_t used = (size_t)(nl + 1 - c->line);
        memmove(c->line, nl + 1, c->len - used);
        c->len -= used;
    }
    if (c->len == sizeof c->line) {
        ctl_reply(c, "err line too long");
        ctl_close(c);
    }
}

static void on_ctl_accept(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    ctl_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    nctls++;
    for (int i = 0; i <= PROXY_CTLS_MAX; i++)
        if (!ctls[i]) {
            ctls[i] = c;
            break;
        }
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || nctls > PROXY_CTLS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, on_ctl_alloc, on_ctl_read) < 0)
        ctl_close(c);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    (void)sig;
    uv_stop(loop);
}

static int parse_addr(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out);
}

static int bound_port(uv_tcp_t *t)
{
    struct sockaddr_storage a;
    int len = sizeof a;
    if (uv_tcp_getsockname(t, (struct sockaddr *)&a, &len) < 0)
        return -1;
    return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static int listen_on(uv_tcp_t *t, const char *addr, uv_connection_cb cb)
{
    struct sockaddr_storage a;
    if (parse_addr(addr, &a) < 0)
        return -1;
    uv_tcp_init(loop, t);
    if (uv_tcp_bind(t, (struct sockaddr *)&a, 0) < 0 || uv_listen((uv_stream_t *)t, 128, cb) < 0)
        return -1;
    return bound_port(t);
}

static int usage(void)
{
    fprintf(stderr, "usage: edgekv-proxy --listen HOST:PORT --upstream HOST:PORT "
                    "--control HOST:PORT\n"
                    "         [--scenario FILE --place PLACE] [--seed N] [--stream K] "
                    "[--burst-bytes B]\n");
    return 2;
}

typedef struct {
    const char *listen, *upstream, *control, *scenario, *place;
    const char *seed, *stream, *burst;
} args_t;

static bool parse_args(int argc, char **argv, args_t *a)
{
    memset(a, 0, sizeof *a);
    struct {
        const char *flag;
        const char **dst;
    } flags[] = {{"--listen", &a->listen},   {"--upstream", &a->upstream},
                 {"--control", &a->control}, {"--scenario", &a->scenario},
                 {"--place", &a->place},     {"--seed", &a->seed},
                 {"--stream", &a->stream},   {"--burst-bytes", &a->burst}};
    for (int i = 1; i < argc; i += 2) {
        size_t k = 0;
        while (k < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[k].flag) != 0)
            k++;
        if (k == sizeof flags / sizeof flags[0] || i + 1 >= argc)
            return false;
        *flags[k].dst = argv[i + 1];
    }
    return a->listen && a->upstream && a->control && !a->scenario == !a->place;
}

/* The delay model of the link from --place to the scenario's origin. */
static int setup_shaping(const args_t *a, char *desc, size_t cap)
{
    snprintf(desc, cap, "no delay");
    if (!a->scenario)
        return 0;
    char err[256];
    if (sim_scenario_load(a->scenario, &scenario, err, sizeof err) != 0) {
        fprintf(stderr, "edgekv-proxy: %s\n", err);
        return -1;
    }
    int place = sim_place_find(a->place);
    if (place < 0) {
        fprintf(stderr, "edgekv-proxy: unknown place %s\n", a->place);
        return -1;
    }
    sim_shape_cfg_from_scenario(&shape_cfg, scenario, place);
    shape_cfg.burst_bytes = a->burst ? (size_t)strtoull(a->burst, NULL, 10) : 0;
    shape_seed = a->seed ? strtoull(a->seed, NULL, 0) : scenario->seed;
    shape_stream = a->stream ? strtoull(a->stream, NULL, 0) : (uint64_t)place;
    shaping = true;
    snprintf(desc, cap, "%s->%s base one-way %.2f ms%s%s, loss %g (%s), %g Mbit/s", a->place,
             sim_places[scenario->origin_place].name, shape_cfg.base_ms,
             shape_cfg.one_way ? " (scenario one_way)" : "", shape_cfg.jitter ? " + jitter" : "",
             shape_cfg.loss, shape_cfg.loss_mode == SIM_LOSS_RESET ? "reset" : "retransmit",
             shape_cfg.mbps);
    return 0;
}

int main(int argc, char **argv)
{
    args_t a;
    if (!parse_args(argc, argv, &a))
        return usage();
    if (parse_addr(a.upstream, &upstream) < 0) {
        fprintf(stderr, "edgekv-proxy: bad upstream address %s\n", a.upstream);
        return 2;
    }
    char desc[256];
    if (setup_shaping(&a, desc, sizeof desc) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    int port = listen_on(&listener, a.listen, on_accept);
    int cport = listen_on(&ctl_listener, a.control, on_ctl_accept);
    if (port < 0 || cport < 0) {
        fprintf(stderr, "edgekv-proxy: cannot listen on %s or %s\n", a.listen, a.control);
        sim_scenario_free(scenario);
        return 1;
    }
    uv_timer_init(loop, &fault_timer);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    printf("edgekv-proxy: listening on port %d, control on port %d, upstream %s, %s\n", port, cport,
           a.upstream, desc);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    /* Shut down: close everything, let the callbacks free what they own. */
    for (pair_t *p = pairs; p; p = p->next)
        pair_kill(p, false);
    for (int i = 0; i <= PROXY_CTLS_MAX; i++)
        if (ctls[i])
            ctl_close(ctls[i]);
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    sim_scenario_free(scenario);
    return 0;
}
