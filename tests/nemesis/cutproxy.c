/* cutproxy.c - the nemesis's link cutter: a TCP fault proxy on libuv.
 *
 * It sits between an edge and the origin's replication port (the edge's
 * --origin points at the proxy), forwards bytes both ways unchanged, and on
 * command breaks the link:
 *   cut MS     every connection is reset, and new ones are accepted and
 *              reset at once, for MS milliseconds (a link that is down);
 *   freeze MS  no byte passes either way and new connections are held
 *              unanswered for MS milliseconds (a link that silently drops
 *              everything; TCP stays up, the peers see only silence);
 *   heal       ends a cut or freeze now;
 *   stats      one line of counters.
 * Commands are lines on a control port (loopback); every command gets one
 * answer line, "ok ..." or "err ...", sent after the command took effect.
 *
 * What it is not: it does not understand TLS or the replication protocol (it
 * forwards ciphertext); it does not delay, reorder or drop single packets.
 * Every byte goes through forward(), the one place a delay or loss stage
 * would go. Buffers are bounded: a side whose peer has more than
 * CUT_PENDING_MAX unsent bytes is not read until they drain, and at most
 * CUT_PAIRS_MAX connections are forwarded at once (more are reset).
 *
 * Usage: cutproxy --listen HOST:PORT --upstream HOST:PORT --control HOST:PORT
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
#include <uv.h>

/* Connections forwarded at once: an edge needs one; a reconnecting edge a
 * few more while the old one closes. */
#define CUT_PAIRS_MAX 256
/* Unsent bytes towards one side before the other side is no longer read:
 * the proxy's memory is at most about 2 * CUT_PAIRS_MAX * this. */
#define CUT_PENDING_MAX (256 * 1024)
/* One read's buffer. */
#define CUT_READ_BUF (64 * 1024)
/* A control line; a longer one closes the control connection. */
#define CUT_CTL_LINE_MAX 256
/* Control connections open at once. */
#define CUT_CTLS_MAX 8
/* A cut or freeze lasts at most this long (a typo must not cut forever). */
#define CUT_FAULT_MS_MAX (10 * 60 * 1000)

typedef enum { LINK_UP, LINK_CUT, LINK_FROZEN } link_mode_t;

typedef struct pair pair_t;

typedef struct {
    uv_tcp_t tcp;
    pair_t *pair;
    size_t pending; /* bytes queued for writing to this side */
    bool eof;       /* this side sent EOF (or failed) */
    bool reading;
    bool closed; /* uv_close called */
} side_t;

struct pair {
    side_t down; /* the client (the edge) */
    side_t up;   /* the upstream (the origin) */
    uv_connect_t connect;
    bool connected; /* upstream connect completed */
    bool held;      /* accepted during a freeze: not connected yet */
    bool dying;
    int open_handles;
    pair_t *prev, *next;
};

typedef struct {
    uv_write_t req;
    side_t *to;
    size_t len;
    char data[];
} wreq_t;

typedef struct {
    uv_tcp_t tcp;
    char line[CUT_CTL_LINE_MAX];
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
static ctl_t *ctls[CUT_CTLS_MAX + 1];
static uint64_t n_accepted, n_refused, n_cuts, n_freezes, bytes_up, bytes_down, n_reset;

static void pair_kill(pair_t *p, bool reset);
static void side_read_start(side_t *s);

static side_t *other(side_t *s)
{
    return s == &s->pair->down ? &s->pair->up : &s->pair->down;
}

static void on_pair_handle_closed(uv_handle_t *h)
{
    pair_t *p = ((side_t *)h->data)->pair;
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

static void side_close(side_t *s, bool reset)
{
    if (s->closed)
        return;
    s->closed = true;
    if (reset && uv_tcp_close_reset(&s->tcp, on_pair_handle_closed) == 0)
        return;
    uv_close((uv_handle_t *)&s->tcp, on_pair_handle_closed);
}

/* Ends a pair: both sides closed, with a reset (RST) when asked. Writes
 * still queued are cancelled by libuv and freed in their callbacks. */
static void pair_kill(pair_t *p, bool reset)
{
    if (p->dying)
        return;
    p->dying = true;
    /* A pending upstream connect is cancelled by the close: its callback
     * sees UV_ECANCELED before the handle's close callback frees the pair. */
    side_close(&p->down, reset);
    side_close(&p->up, reset);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(CUT_READ_BUF);
    buf->len = buf->base ? CUT_READ_BUF : 0;
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
    if (other(s)->pending > CUT_PENDING_MAX)
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

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    side_t *to = w->to;
    to->pending -= w->len;
    free(w);
    if (to->pair->dying)
        return;
    if (status < 0) {
        pair_kill(to->pair, true);
        return;
    }
    side_read_start(other(to));
    maybe_finish(to->pair);
}

/* Forwards n bytes read from `from` to the other side. The one stage every
 * byte passes: a delay or loss stage would go here. */
static void forward(side_t *from, const char *data, size_t n)
{
    side_t *to = other(from);
    wreq_t *w = malloc(sizeof *w + n);
    if (!w) {
        pair_kill(from->pair, true);
        return;
    }
    memcpy(w->data, data, n);
    w->to = to;
    w->len = n;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &b, 1, on_written) < 0) {
        free(w);
        pair_kill(from->pair, true);
        return;
    }
    to->pending += n;
    if (from == &from->pair->down)
        bytes_up += n;
    else
        bytes_down += n;
    if (to->pending > CUT_PENDING_MAX)
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
        side_t *o = other(s);
        uv_shutdown_t *sh = malloc(sizeof *sh);
        if (!sh || uv_shutdown(sh, (uv_stream_t *)&o->tcp, on_shutdown) < 0) {
            free(sh);
            pair_kill(p, false);
            return;
        }
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

static void pair_connect(pair_t *p)
{
    p->held = false;
    p->connect.data = p;
    if (uv_tcp_connect(&p->connect, &p->up.tcp, (struct sockaddr *)&upstream,
                       on_upstream_connected) < 0) {
        pair_kill(p, true);
    }
}

static void on_accept(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    pair_t *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->down.pair = p->up.pair = p;
    uv_tcp_init(loop, &p->down.tcp);
    uv_tcp_init(loop, &p->up.tcp);
    p->down.tcp.data = &p->down;
    p->up.tcp.data = &p->up;
    p->open_handles = 2;
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
    if (mode == LINK_CUT || npairs > CUT_PAIRS_MAX) {
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

/* The link's mode changes: a cut resets every pair; a freeze stops every
 * read; healing resumes reads and connects the pairs held meanwhile. */
static int set_mode(link_mode_t m)
{
    int touched = 0;
    mode = m;
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
        } else if (p->held) {
            pair_connect(p);
        } else {
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

static void ctl_reply(ctl_t *c, const char *text);

static void on_ctl_closed(uv_handle_t *h)
{
    for (int i = 0; i <= CUT_CTLS_MAX; i++)
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

static void ctl_command(ctl_t *c, const char *line)
{
    char word[16], out[256];
    long ms;
    if (!parse_cmd(line, word, sizeof word, &ms)) {
        ctl_reply(c, "err expected: cut MS | freeze MS | heal | stats");
        return;
    }
    bool timed = strcmp(word, "cut") == 0 || strcmp(word, "freeze") == 0;
    if (timed) {
        if (ms <= 0 || ms > CUT_FAULT_MS_MAX) {
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
        snprintf(out, sizeof out, "ok %s %d connections for %ld ms", word, t, ms);
    } else if (strcmp(word, "heal") == 0 && ms < 0) {
        uv_timer_stop(&fault_timer);
        set_mode(LINK_UP);
        snprintf(out, sizeof out, "ok healed");
    } else if (strcmp(word, "stats") == 0 && ms < 0) {
        snprintf(out, sizeof out,
                 "ok mode=%s conns=%d accepted=%" PRIu64 " refused=%" PRIu64 " reset=%" PRIu64
                 " cuts=%" PRIu64 " freezes=%" PRIu64 " bytes_up=%" PRIu64 " bytes_down=%" PRIu64,
                 mode == LINK_UP    ? "up"
                 : mode == LINK_CUT ? "cut"
                                    : "frozen",
                 npairs, n_accepted, n_refused, n_reset, n_cuts, n_freezes, bytes_up, bytes_down);
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
    for (int i = 0; i <= CUT_CTLS_MAX; i++)
        if (!ctls[i]) {
            ctls[i] = c;
            break;
        }
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || nctls > CUT_CTLS_MAX ||
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

int main(int argc, char **argv)
{
    const char *listen_addr = NULL, *up_addr = NULL, *ctl_addr = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen_addr = argv[i + 1];
        else if (strcmp(argv[i], "--upstream") == 0)
            up_addr = argv[i + 1];
        else if (strcmp(argv[i], "--control") == 0)
            ctl_addr = argv[i + 1];
    }
    if (!listen_addr || !up_addr || !ctl_addr || argc != 7) {
        fprintf(stderr, "usage: cutproxy --listen HOST:PORT --upstream HOST:PORT "
                        "--control HOST:PORT\n");
        return 2;
    }
    if (parse_addr(up_addr, &upstream) < 0) {
        fprintf(stderr, "cutproxy: bad upstream address %s\n", up_addr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    int port = listen_on(&listener, listen_addr, on_accept);
    int cport = listen_on(&ctl_listener, ctl_addr, on_ctl_accept);
    if (port < 0 || cport < 0) {
        fprintf(stderr, "cutproxy: cannot listen on %s or %s\n", listen_addr, ctl_addr);
        return 1;
    }
    uv_timer_init(loop, &fault_timer);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    printf("cutproxy: listening on port %d, control on port %d, upstream %s\n", port, cport,
           up_addr);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    /* Shut down: close everything, let the callbacks free what they own. */
    for (pair_t *p = pairs; p; p = p->next)
        pair_kill(p, false);
    for (int i = 0; i <= CUT_CTLS_MAX; i++)
        if (ctls[i])
            ctl_close(ctls[i]);
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
