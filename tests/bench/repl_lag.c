/* repl_lag - load generator and clock for tests/bench/repl.sh.
 *
 * One single-threaded epoll loop, raw sockets, HTTP/1.1 keep-alive (edgekv)
 * or RESP (Redis), CLOCK_MONOTONIC for every delay. Modes:
 *
 *   tput    closed loop: CONNS connections each PUT/SET a fresh key as soon
 *           as the previous write was acknowledged, for SECONDS (after
 *           WARMUP untimed seconds) -> writes/s, ack latency p50/p99/max.
 *   lag     open loop: writes paced at RATE/s to WRITE_PORT (on CONNS
 *           connections); every PROBE_EVERY-th write is a probe: t0 is taken
 *           just before it is sent, then every READ_PORT is polled (one
 *           keep-alive connection each, only while that port has a probe
 *           outstanding; from the send, or with --poll-from ack once the
 *           origin acknowledged the write) until it returns the probe's value
 *           -> delay = t_visible - t0, per read port, overall, and until
 *           every read port returned it (all_ports_*: the slowest port's, per
 *           probe). A port is
 *           polled at most every max(POLL_US, POLL_BACKOFF x the probe's age):
 *           fine-grained while delays are short, bounded load (and at most
 *           that relative error) while a port lags. With --samples FILE,
 *           every probe's delay at every read port is also written to FILE,
 *           one "replica delay_ms" line each (replica: the port's 1-based
 *           position in --read-ports), for a CDF.
 *           For the network lab (deploy/lab/run.sh): --write-addr and
 *           --read-addrs HOST:PORT,... put the ports on other hosts; --keys K
 *           cycles the writes over K keys (a read of a later write's value
 *           also counts as visible: the value names its write); --estimate
 *           mid dates visibility halfway between the last GET that missed
 *           and the response that hit (the poll gap's error centred on zero
 *           instead of always late); --lab-samples FILE writes every probe's
 *           "t_ms edge delay_ms ack_ms hit_ms" (t: the origin's
 *           acknowledgement, ms after the CLOCK_REALTIME start in the header;
 *           delay from there; ack_ms: from the send to the acknowledgement;
 *           hit_ms: from the send to the response that hit, an upper bound of
 *           the visibility however late the client ran), the simulator's
 *           --visibility form plus three columns. --reconnect-reads: a read
 *           port that closes or refuses (an edge the lab crashed) is not an
 *           error: that GET counts as a miss (the edge did not serve the
 *           write), and the port is dialled again at the next poll time, so
 *           the write is dated between the last failed GET and the first hit
 *           after the restart; any answer but 200 or 404 is a miss too.
 *           --reconnect-writes: a write whose connection closes or refuses,
 *           or that is answered with an error (an origin the lab crashed),
 *           fails: it is counted, never polled and has no sample (as the
 *           simulator's writes to a crashed origin), and the connection is
 *           dialled again for the next write.
 *   bulk    COUNT keys PREFIX%09d from START (value VALUE_BYTES bytes) through the REST
 *           bulk endpoint, BATCH per request, one request in flight.
 *   catchup polls GET /status on PORT (with the operator TOKEN) every 10 ms (retrying while the
 * port refuses connections) until .replication.applied_seq >= TARGET; times are measured from
 * SINCE_NS (CLOCK_REALTIME ns, taken by the caller just before it started the node).
 *
 * Every mode prints one JSON object on stdout and exits 0; it exits 1 when a
 * request failed, a connection broke, a response was malformed, a read
 * returned bytes other than the ones written, or a probe or the catch-up did
 * not finish within its timeout. It measures; it asserts no speed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP         (256 * 1024)
#define MAX_READ_PORTS 64

/* ---- small helpers ------------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("repl_lag: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        die("out of memory");
    return p;
}

typedef struct {
    int64_t *v;
    size_t n, cap;
} samples_t;

static void samp_add(samples_t *s, int64_t x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            die("out of memory");
    }
    s->v[s->n++] = x;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void samp_sort(samples_t *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_i64);
}

/* Nearest-rank percentile of sorted samples, in ms. */
static double pct_ms(const samples_t *s, double p)
{
    if (!s->n)
        return 0;
    size_t r = (size_t)(p * (double)s->n + 0.999999);
    if (r < 1)
        r = 1;
    if (r > s->n)
        r = s->n;
    return (double)s->v[r - 1] / 1e6;
}

static double max_ms(const samples_t *s)
{
    return s->n ? (double)s->v[s->n - 1] / 1e6 : 0;
}

static double mean_ms(const samples_t *s)
{
    double t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += (double)s->v[i];
    return s->n ? t / (double)s->n / 1e6 : 0;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- options ------------------------------------------------------------------------- */

typedef enum { P_HTTP, P_RESP } proto_t;

static struct {
    const char *mode;
    proto_t proto;
    const char *host;
    int port;       /* tput / bulk / catchup target */
    int write_port; /* lag */
    int read_ports[MAX_READ_PORTS];
    const char *read_hosts[MAX_READ_PORTS]; /* NULL: host */
    const char *write_host;                 /* NULL: host */
    int n_read;
    long keys;             /* lag: 0 = a fresh key per write, else write i goes to key i % keys */
    bool estimate_mid;     /* lag: date visibility between the last miss and the hit */
    bool reconnect_reads;  /* lag: a read port that closes is a miss, dialled again */
    bool reconnect_writes; /* lag: a write that fails is counted, its connection dialled again */
    const char *lab_samples;
    const char *acct, *ns, *token;
    const char *prefix;
    int conns;
    double seconds, warmup;
    double rate;
    int probe_every;
    int poll_us;
    bool poll_from_ack;
    double poll_backoff;
    double probe_timeout;
    const char *samples; /* lag: raw delays to this file, or NULL */
    int value_bytes;
    long count, batch, start;
    uint64_t target;
    int64_t since_ns;
    double timeout;
} opt = {
    .proto = P_HTTP,
    .host = "127.0.0.1",
    .prefix = "k",
    .conns = 64,
    .seconds = 5,
    .warmup = 1,
    .rate = 5000,
    .probe_every = 50,
    .poll_us = 200,
    .poll_backoff = 0.05,
    .probe_timeout = 10,
    .value_bytes = 100,
    .count = 1000000,
    .batch = 10000,
    .timeout = 120,
};

static void usage(void)
{
    fprintf(
        stderr,
        "usage: repl_lag MODE [options]\n"
        "  tput    --proto http|resp --port P --conns N --seconds S --warmup W --prefix K\n"
        "  lag     --proto http|resp --write-port P --read-ports P1,P2,.. --rate R --seconds S\n"
        "          --conns N --probe-every K --poll-us U --poll-from send|ack\n"
        "          --poll-backoff F --probe-timeout S --prefix K [--samples FILE]\n"
        "          [--write-addr H:P --read-addrs H:P,..] [--keys K] [--estimate hit|mid]\n"
        "          [--lab-samples FILE]\n"
        "  bulk    --port P --count N --start I --batch B --prefix K --value-bytes V\n"
        "  catchup --port P --target SEQ --since-ns REALTIME_NS --timeout S --token T\n"
        "  http modes also need --acct A --ns NS --token T\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    opt.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--reconnect-reads")) { /* the options without a value */
            opt.reconnect_reads = true;
            continue;
        }
        if (!strcmp(k, "--reconnect-writes")) {
            opt.reconnect_writes = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--proto")) {
            if (!strcmp(v, "http"))
                opt.proto = P_HTTP;
            else if (!strcmp(v, "resp"))
                opt.proto = P_RESP;
            else
                usage();
        } else if (!strcmp(k, "--host"))
            opt.host = v;
        else if (!strcmp(k, "--port"))
            opt.port = atoi(v);
        else if (!strcmp(k, "--write-port"))
            opt.write_port = atoi(v);
        else if (!strcmp(k, "--read-ports")) {
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (opt.n_read == MAX_READ_PORTS)
                    die("at most %d read ports", MAX_READ_PORTS);
                opt.read_ports[opt.n_read++] = atoi(t);
            }
            free(s);
        } else if (!strcmp(k, "--read-addrs") || !strcmp(k, "--write-addr")) {
            bool w = k[2] == 'w';
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *colon = strrchr(t, ':');
                if (!colon)
                    usage();
                *colon = '\0';
                if (w) {
                    opt.write_host = strdup(t);
                    opt.write_port = atoi(colon + 1);
                    continue;
                }
                if (opt.n_read == MAX_READ_PORTS)
                    die("at most %d read ports", MAX_READ_PORTS);
                opt.read_hosts[opt.n_read] = strdup(t);
                opt.read_ports[opt.n_read++] = atoi(colon + 1);
            }
            free(s);
        } else if (!strcmp(k, "--keys"))
            opt.keys = atol(v);
        else if (!strcmp(k, "--estimate")) {
            if (!strcmp(v, "mid"))
                opt.estimate_mid = true;
            else if (strcmp(v, "hit"))
                usage();
        } else if (!strcmp(k, "--lab-samples"))
            opt.lab_samples = v;
        else if (!strcmp(k, "--acct"))
            opt.acct = v;
        else if (!strcmp(k, "--ns"))
            opt.ns = v;
        else if (!strcmp(k, "--token"))
            opt.token = v;
        else if (!strcmp(k, "--prefix"))
            opt.prefix = v;
        else if (!strcmp(k, "--conns"))
            opt.conns = atoi(v);
        else if (!strcmp(k, "--seconds"))
            opt.seconds = atof(v);
        else if (!strcmp(k, "--warmup"))
            opt.warmup = atof(v);
        else if (!strcmp(k, "--rate"))
            opt.rate = atof(v);
        else if (!strcmp(k, "--probe-every"))
            opt.probe_every = atoi(v);
        else if (!strcmp(k, "--poll-us"))
            opt.poll_us = atoi(v);
        else if (!strcmp(k, "--poll-from")) {
            if (!strcmp(v, "send"))
                opt.poll_from_ack = false;
            else if (!strcmp(v, "ack"))
                opt.poll_from_ack = true;
            else
                usage();
        } else if (!strcmp(k, "--poll-backoff"))
            opt.poll_backoff = atof(v);
        else if (!strcmp(k, "--probe-timeout"))
            opt.probe_timeout = atof(v);
        else if (!strcmp(k, "--samples"))
            opt.samples = v;
        else if (!strcmp(k, "--value-bytes"))
            opt.value_bytes = atoi(v);
        else if (!strcmp(k, "--count"))
            opt.count = atol(v);
        else if (!strcmp(k, "--start"))
            opt.start = atol(v);
        else if (!strcmp(k, "--batch"))
            opt.batch = atol(v);
        else if (!strcmp(k, "--target"))
            opt.target = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--since-ns"))
            opt.since_ns = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--timeout"))
            opt.timeout = atof(v);
        else
            usage();
    }
    if (opt.conns < 1 || opt.conns > 4096 || opt.value_bytes < 16 || opt.value_bytes > 65536 ||
        opt.probe_every < 1 || opt.poll_us < 0 || opt.rate <= 0 || opt.seconds <= 0 ||
        opt.batch < 1 || opt.batch > 10000)
        die("an option is out of range");
}

/* ---- keys and values ------------------------------------------------------------------ */

/* Key of write i: PREFIX + 9 digits. */
static int make_key(char *buf, size_t cap, int64_t i)
{
    if (opt.keys > 0)
        i %= opt.keys;
    return snprintf(buf, cap, "%s%09" PRId64, opt.prefix, i);
}

/* Value of write i: "v<i>:" then a deterministic filler, exactly len bytes,
 * printable and JSON-safe. */
static void make_value(char *buf, int len, int64_t i)
{
    static const char fill[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    int n = snprintf(buf, (size_t)len + 1, "v%" PRId64 ":", i);
    if (n > len)
        n = len;
    for (int j = n; j < len; j++)
        buf[j] = fill[(j + i) % (int64_t)(sizeof fill - 1)];
}

/* ---- connections ----------------------------------------------------------------------- */

typedef struct {
    int fd;
    int port;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len;
    bool busy;     /* a request is in flight */
    bool want_out; /* EPOLLOUT registered */
    int64_t t_send;
    int64_t op; /* write index, or probe index */
    int role;   /* 0 writer, 1 poller */
    int idx;    /* poller: read-port index */
    bool down;  /* poller with --reconnect-reads: closed, to be dialled again */
    const char *host;
} conn_t;

/* A poller's connection closed or failed (--reconnect-reads; lag mode). */
static void poller_lost(conn_t *c);
/* A writer's (--reconnect-writes; lag mode). */
static void writer_lost(conn_t *c);

static int g_ep = -1;

static int tcp_connect_to(const char *host, int port, bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        die("bad host %s", host);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int tcp_connect(int port, bool nonblock)
{
    return tcp_connect_to(opt.host, port, nonblock);
}

static void conn_open_at(conn_t *c, const char *host, int port, int role, int idx)
{
    memset(c, 0, sizeof *c);
    c->port = port;
    c->role = role;
    c->idx = idx;
    c->in = xmalloc(IN_CAP);
    c->host = host;
    c->fd = tcp_connect_to(host, port, true);
    if (c->fd < 0)
        die("connect %s:%d: %s", host, port, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_open(conn_t *c, int port, int role, int idx)
{
    conn_open_at(c, opt.host, port, role, idx);
}

static void conn_set_out(conn_t *c, bool want)
{
    if (c->want_out == want)
        return;
    c->want_out = want;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) {
                conn_set_out(c, true);
                return;
            }
            if (errno == EINTR)
                continue;
            if (c->role == 1 && opt.reconnect_reads) {
                poller_lost(c);
                return;
            }
            if (c->role == 0 && opt.reconnect_writes) {
                writer_lost(c);
                return;
            }
            die("send to port %d: %s", c->port, strerror(errno));
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    conn_set_out(c, false);
}

static void out_reserve(conn_t *c, size_t n)
{
    if (c->out_len + n + 1 > c->out_cap) {
        c->out_cap = (c->out_len + n + 1) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("out of memory");
    }
}

static void out_printf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(conn_t *c, const char *fmt, ...)
{
    out_reserve(c, 512);
    for (;;) {
        size_t room = c->out_cap - c->out_len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(c->out + c->out_len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            die("vsnprintf failed");
        if ((size_t)n < room) {
            c->out_len += (size_t)n;
            return;
        }
        out_reserve(c, (size_t)n);
    }
}

static void out_bytes(conn_t *c, const void *p, size_t n)
{
    out_reserve(c, n);
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* A parsed response: status (HTTP status; RESP: 200 for +OK / a bulk string,
 * 404 for a nil bulk, 500 for an error), body, and its total size. */
typedef struct {
    int status;
    const char *body;
    size_t blen;
    size_t total;
} resp_t;

/* 1: complete response in r; 0: need more bytes; dies on malformed input. */
static int parse_response(conn_t *c, proto_t proto, resp_t *r)
{
    const char *b = c->in;
    size_t n = c->in_len;
    if (proto == P_RESP) {
        const char *eol = memmem(b, n, "\r\n", 2);
        if (!eol)
            return 0;
        size_t line = (size_t)(eol - b) + 2;
        if (b[0] == '+' || b[0] == '-') {
            r->status = (b[0] == '+' && line == 5 && !memcmp(b, "+OK", 3)) ? 200 : 500;
            r->body = b + 1;
            r->blen = line - 3;
            r->total = line;
            return 1;
        }
        if (b[0] == '$') {
            long len = strtol(b + 1, NULL, 10);
            if (len < 0) {
                r->status = 404;
                r->body = NULL;
                r->blen = 0;
                r->total = line;
                return 1;
            }
            if (n < line + (size_t)len + 2)
                return 0;
            r->status = 200;
            r->body = b + line;
            r->blen = (size_t)len;
            r->total = line + (size_t)len + 2;
            return 1;
        }
        die("unexpected RESP reply from port %d: %.40s", c->port, b);
    }
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - b) + 4;
    if (n < 12 || memcmp(b, "HTTP/1.", 7))
        die("malformed HTTP response from port %d: %.40s", c->port, b);
    r->status = atoi(b + 9);
    long cl = -1;
    for (const char *p = memmem(b, hlen, "\r\n", 2); p && p < end;
         p = memmem(p + 2, (size_t)(end - p), "\r\n", 2)) {
        const char *h = p + 2;
        if (!strncasecmp(h, "content-length:", 15))
            cl = strtol(h + 15, NULL, 10);
        else if (!strncasecmp(h, "transfer-encoding:", 18))
            die("chunked response from port %d is not supported", c->port);
    }
    if (cl < 0)
        die("response without Content-Length from port %d", c->port);
    if (n < hlen + (size_t)cl)
        return 0;
    r->body = b + hlen;
    r->blen = (size_t)cl;
    r->total = hlen + (size_t)cl;
    return 1;
}

static void consume(conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Reads what is available; dies on EOF or error (a poller with
 * --reconnect-reads is marked down instead). */
static void conn_read(conn_t *c)
{
    while (!c->down) {
        if (c->in_len == IN_CAP)
            die("response from port %d larger than %d bytes", c->port, IN_CAP);
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (c->role == 1 && opt.reconnect_reads) {
            poller_lost(c);
            return;
        }
        if (c->role == 0 && opt.reconnect_writes) {
            writer_lost(c);
            return;
        }
        if (n == 0)
            die("port %d closed the connection", c->port);
        die("recv from port %d: %s", c->port, strerror(errno));
    }
}

/* ---- requests ----------------------------------------------------------------------------- */

static char *g_val; /* scratch value buffer */

static void req_write(conn_t *c, int64_t i)
{
    char key[128];
    make_key(key, sizeof key, i);
    make_value(g_val, opt.value_bytes, i);
    if (opt.proto == P_RESP) {
        out_printf(c, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(key), key,
                   opt.value_bytes);
        out_bytes(c, g_val, (size_t)opt.value_bytes);
        out_bytes(c, "\r\n", 2);
    } else {
        out_printf(c,
                   "PUT /client/v4/accounts/%s/storage/kv/namespaces/%s/values/%s HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
                   opt.acct, opt.ns, key, opt.token, opt.value_bytes);
        out_bytes(c, g_val, (size_t)opt.value_bytes);
    }
    c->busy = true;
    c->op = i;
    c->t_send = now_ns();
    conn_flush(c);
}

/* GET of the key of write `wi`; `op` is the probe index. */
static void req_read(conn_t *c, int64_t wi, int64_t op)
{
    char key[128];
    make_key(key, sizeof key, wi);
    if (opt.proto == P_RESP)
        out_printf(c, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
    else
        out_printf(c,
                   "GET /%s?urlencoded=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "X-EdgeKV-Namespace: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                   key, opt.ns, opt.token);
    c->busy = true;
    c->op = op;
    c->t_send = now_ns();
    conn_flush(c);
}

static void check_write_ok(conn_t *c, const resp_t *r)
{
    if (r->status != 200)
        die("write %" PRId64 " to port %d: status %d: %.*s", c->op, c->port, r->status,
            (int)(r->blen > 200 ? 200 : r->blen), r->body ? r->body : "");
    if (opt.proto == P_HTTP && !memmem(r->body, r->blen, "\"success\":true", 14))
        die("write %" PRId64 " to port %d: %.*s", c->op, c->port,
            (int)(r->blen > 200 ? 200 : r->blen), r->body);
}

/* ---- timer ------------------------------------------------------------------------------- */

static int g_tfd = -1;

static void timer_arm(int64_t at)
{
    struct itimerspec its = {0};
    if (at <= 0)
        at = 1;
    its.it_value.tv_sec = at / 1000000000;
    its.it_value.tv_nsec = at % 1000000000;
    if (timerfd_settime(g_tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
}

static void loop_init(void)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g_ep < 0 || g_tfd < 0)
        die("epoll/timerfd: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, g_tfd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    g_val = xmalloc((size_t)opt.value_bytes + 1);
}

/* Waits for events until `until` (monotonic ns; 0: no timer). Calls on_io for
 * every readable/writable connection. */
static void loop_wait(int64_t until, void (*on_io)(conn_t *))
{
    struct epoll_event evs[256];
    if (until > 0)
        timer_arm(until);
    int n = epoll_wait(g_ep, evs, 256, until > 0 ? -1 : 1000);
    if (n < 0) {
        if (errno == EINTR)
            return;
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (!c) {
            uint64_t x;
            ssize_t rr = read(g_tfd, &x, sizeof x);
            (void)rr;
            continue;
        }
        if (evs[i].events & EPOLLOUT)
            conn_flush(c);
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            conn_read(c);
            on_io(c);
        }
    }
}

static const char *proto_name(void)
{
    return opt.proto == P_RESP ? "resp" : "http";
}

/* ---- tput ---------------------------------------------------------------------------------- */

static struct {
    conn_t *conns;
    int64_t next;
    int64_t t_measure, t_end;
    samples_t lat;
    int64_t done_measured;
    int in_flight;
} T;

static void tput_io(conn_t *c)
{
    resp_t r;
    while (c->busy && parse_response(c, opt.proto, &r)) {
        int64_t t = now_ns();
        check_write_ok(c, &r);
        consume(c, r.total);
        c->busy = false;
        T.in_flight--;
        if (c->t_send >= T.t_measure && t <= T.t_end) {
            samp_add(&T.lat, t - c->t_send);
            T.done_measured++;
        }
        if (t < T.t_end) {
            req_write(c, T.next++);
            T.in_flight++;
        }
    }
    if (!c->busy && c->in_len)
        die("unexpected bytes from port %d", c->port);
}

static int run_tput(void)
{
    if (!opt.port || (opt.proto == P_HTTP && (!opt.acct || !opt.ns || !opt.token)))
        usage();
    loop_init();
    T.conns = xcalloc((size_t)opt.conns, sizeof *T.conns);
    for (int i = 0; i < opt.conns; i++)
        conn_open(&T.conns[i], opt.port, 0, i);
    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    T.t_measure = t0 + (int64_t)(opt.warmup * 1e9);
    T.t_end = T.t_measure + (int64_t)(opt.seconds * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        req_write(&T.conns[i], T.next++);
        T.in_flight++;
    }
    while (T.in_flight > 0) {
        if (now_ns() > T.t_end + (int64_t)30e9)
            die("writes still unacknowledged 30 s after the end");
        loop_wait(0, tput_io);
    }
    double cpu = cpu_seconds() - cpu0;
    double secs = (double)(T.t_end - T.t_measure) / 1e9;
    samp_sort(&T.lat);
    printf(
        "{\"mode\":\"tput\",\"proto\":\"%s\",\"port\":%d,\"conns\":%d,\"seconds\":%.3f,"
        "\"writes\":%" PRId64 ",\"writes_total\":%" PRId64 ",\"writes_per_s\":%.1f,"
        "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,\"tool_cpu_pct\":%.1f}\n",
        proto_name(), opt.port, opt.conns, secs, T.done_measured, T.next,
        (double)T.done_measured / secs, pct_ms(&T.lat, 0.50), pct_ms(&T.lat, 0.99), max_ms(&T.lat),
        mean_ms(&T.lat), 100 * cpu / ((double)(now_ns() - t0) / 1e9));
    return 0;
}

/* ---- lag ----------------------------------------------------------------------------------- */

typedef struct {
    int64_t write_idx;
    int64_t t0;   /* just before the write was sent */
    int64_t ack;  /* ack latency, ns (0 until acknowledged) */
    int *polls;   /* per read port: GETs sent for this probe */
    int64_t *vis; /* per read port: delay, ns */
    int64_t
        *hit; /* per read port: from t0 to the response that hit, ns (vis without --estimate mid) */
    bool failed; /* the write failed (--reconnect-writes): never polled, no sample */
} probe_t;

static struct {
    conn_t *writers;
    conn_t *pollers;
    int *idle;
    int n_idle;
    int64_t total, sent, acked;
    int64_t failed; /* writes that failed (--reconnect-writes) */
    int64_t t_start, t_last_send;
    int64_t interval_ns;
    probe_t *probes;
    int64_t n_probes; /* probes sent so far */
    int64_t probes_max;
    int64_t *cursor;    /* per read port: first probe not yet seen there */
    int64_t *next_poll; /* per read port: earliest time of the next GET */
    samples_t *vis;     /* per read port */
    samples_t all, ack_lat;
    int64_t polls, polls_miss;
    int64_t polls_failed; /* GETs on a connection that closed or refused (--reconnect-reads) */
    int64_t first_hits;   /* probes a port returned on the first GET */
    int64_t max_backlog;
    int64_t *last_miss;   /* per read port: send time of the last GET that missed */
    int64_t t_start_real; /* CLOCK_REALTIME ns at t_start */
} L;

/* The poll gap after a miss at `t_send`: POLL_US, or POLL_BACKOFF of the
 * probe's age when that is longer. */
static int64_t poll_gap(int64_t t_send, int64_t p)
{
    int64_t gap = (int64_t)opt.poll_us * 1000;
    int64_t age_gap = (int64_t)(opt.poll_backoff * (double)(t_send - L.probes[p].t0));
    return age_gap > gap ? age_gap : gap;
}

/* Write `i` failed: counted, and its probe (if it is one) is skipped. */
static void write_failed(int64_t i)
{
    L.failed++;
    if (i % opt.probe_every == 0)
        L.probes[i / opt.probe_every].failed = true;
}

static void writer_lost(conn_t *c)
{
    close(c->fd); /* leaves the epoll set */
    c->fd = -1;
    c->down = true;
    c->want_out = false;
    c->in_len = c->out_len = c->out_off = 0;
    if (c->busy) {
        c->busy = false;
        write_failed(c->op);
        L.idle[L.n_idle++] = (int)(c - L.writers);
    }
}

static void poller_lost(conn_t *c)
{
    int e = c->idx;
    close(c->fd); /* leaves the epoll set */
    c->fd = -1;
    c->down = true;
    c->want_out = false;
    c->in_len = c->out_len = c->out_off = 0;
    L.polls_failed++;
    if (c->busy) { /* the GET in flight was not served: a miss at its send time */
        c->busy = false;
        L.last_miss[e] = c->t_send;
        L.next_poll[e] = c->t_send + poll_gap(c->t_send, c->op);
    }
}

/* Dials a down poller again (nonblocking: a refusal shows as an error on
 * the connection, which marks it down again). */
static void poller_redial(conn_t *c)
{
    c->fd = tcp_connect_to(c->host, c->port, true);
    if (c->fd < 0) {
        c->fd = -1;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->down = false;
}

static void lag_io(conn_t *c)
{
    resp_t r;
    while (c->busy && parse_response(c, opt.proto, &r)) {
        int64_t t = now_ns();
        if (c->role == 0 && opt.reconnect_writes && r.status != 200) {
            consume(c, r.total);
            c->busy = false;
            write_failed(c->op);
            L.idle[L.n_idle++] = (int)(c - L.writers);
        } else if (c->role == 0) {
            check_write_ok(c, &r);
            consume(c, r.total);
            c->busy = false;
            L.acked++;
            samp_add(&L.ack_lat, t - c->t_send);
            if (c->op % opt.probe_every == 0)
                L.probes[c->op / opt.probe_every].ack = t - c->t_send;
            L.idle[L.n_idle++] = (int)(c - L.writers);
        } else {
            int e = c->idx;
            int64_t p = c->op;
            L.polls++;
            int64_t seen = -1; /* the write whose value the GET returned */
            if (r.status == 200) {
                seen = L.probes[p].write_idx;
                if (opt.keys > 0 && r.blen > 1 && r.body[0] == 'v')
                    seen = strtoll(r.body + 1, NULL, 10);
                make_value(g_val, opt.value_bytes, seen);
                if (r.blen != (size_t)opt.value_bytes || memcmp(r.body, g_val, r.blen))
                    die("read port %d returned wrong bytes for probe %" PRId64 ": %.*s", c->port, p,
                        (int)(r.blen > 80 ? 80 : r.blen), r.body);
            }
            if (seen >= L.probes[p].write_idx) {
                int64_t d = t - L.probes[p].t0;
                L.probes[p].hit[e] = d;
                if (opt.estimate_mid && L.probes[p].polls[e] > 1)
                    d = (L.last_miss[e] + t) / 2 - L.probes[p].t0;
                samp_add(&L.vis[e], d);
                L.probes[p].vis[e] = d;
                samp_add(&L.all, d);
                if (L.probes[p].polls[e] == 1)
                    L.first_hits++;
                L.cursor[e] = p + 1;
                L.next_poll[e] = t; /* the next outstanding probe, if any, at once */
            } else if (r.status == 404 || seen >= 0 || opt.reconnect_reads) {
                L.polls_miss++;
                L.last_miss[e] = c->t_send;
                /* Every POLL_US, or every POLL_BACKOFF of the probe's age when
                 * that is longer: the error stays under that fraction of the
                 * delay and the polling load stays bounded when edges lag. */
                L.next_poll[e] = c->t_send + poll_gap(t, p);
            } else {
                die("read of probe %" PRId64 " on port %d: status %d: %.*s", p, c->port, r.status,
                    (int)(r.blen > 200 ? 200 : r.blen), r.body ? r.body : "");
            }
            consume(c, r.total);
            c->busy = false;
        }
    }
    if (!c->busy && c->in_len)
        die("unexpected bytes from port %d", c->port);
}

/* Every probe's delay at every read port into opt.samples, in probe order:
 * "replica delay_ms" lines after a '#' header naming each replica's port. */
static void write_samples(void)
{
    FILE *f = fopen(opt.samples, "w");
    if (!f)
        die("cannot create %s: %s", opt.samples, strerror(errno));
    fprintf(f, "# replica delay_ms (proto %s; write port %d)\n", proto_name(), opt.write_port);
    for (int e = 0; e < opt.n_read; e++)
        fprintf(f, "# replica %d: read port %d\n", e + 1, opt.read_ports[e]);
    for (int64_t p = 0; p < L.n_probes; p++)
        for (int e = 0; e < opt.n_read && !L.probes[p].failed; e++)
            fprintf(f, "%d %.4f\n", e + 1, (double)L.probes[p].vis[e] / 1e6);
    if (ferror(f) | fclose(f))
        die("cannot write %s", opt.samples);
}

/* The network lab's form (the simulator's --visibility): "t_ms edge delay_ms
 * ack_ms hit_ms", the delay from the origin's acknowledgement, edge = the
 * read port's 1-based position, after a header with the CLOCK_REALTIME
 * start. */
static void write_lab_samples(void)
{
    FILE *f = fopen(opt.lab_samples, "w");
    if (!f)
        die("cannot create %s: %s", opt.lab_samples, strerror(errno));
    fprintf(f, "# t_start_realtime_ns %" PRId64 "\n# t_ms edge delay_ms ack_ms hit_ms\n",
            L.t_start_real);
    for (int64_t p = 0; p < L.n_probes; p++) {
        const probe_t *pr = &L.probes[p];
        if (pr->failed)
            continue;
        double t_ack_ms = (double)(pr->t0 + pr->ack - L.t_start) / 1e6;
        for (int e = 0; e < opt.n_read; e++)
            fprintf(f, "%.3f %d %.3f %.3f %.3f\n", t_ack_ms, e + 1,
                    (double)(pr->vis[e] - pr->ack) / 1e6, (double)pr->ack / 1e6,
                    (double)pr->hit[e] / 1e6);
    }
    if (ferror(f) | fclose(f))
        die("cannot write %s", opt.lab_samples);
}

static int run_lag(void)
{
    if (!opt.write_port || !opt.n_read ||
        (opt.proto == P_HTTP && (!opt.acct || !opt.ns || !opt.token)))
        usage();
    loop_init();
    L.total = (int64_t)(opt.rate * opt.seconds);
    L.interval_ns = (int64_t)(1e9 / opt.rate);
    L.probes_max = L.total / opt.probe_every + 1;
    L.probes = xcalloc((size_t)L.probes_max, sizeof *L.probes);
    L.writers = xcalloc((size_t)opt.conns, sizeof *L.writers);
    L.idle = xcalloc((size_t)opt.conns, sizeof *L.idle);
    L.pollers = xcalloc((size_t)opt.n_read, sizeof *L.pollers);
    L.cursor = xcalloc((size_t)opt.n_read, sizeof *L.cursor);
    L.next_poll = xcalloc((size_t)opt.n_read, sizeof *L.next_poll);
    L.vis = xcalloc((size_t)opt.n_read, sizeof *L.vis);
    L.last_miss = xcalloc((size_t)opt.n_read, sizeof *L.last_miss);
    for (int i = 0; i < opt.conns; i++) {
        conn_open_at(&L.writers[i], opt.write_host ? opt.write_host : opt.host, opt.write_port, 0,
                     i);
        L.idle[L.n_idle++] = i;
    }
    for (int e = 0; e < opt.n_read; e++)
        conn_open_at(&L.pollers[e], opt.read_hosts[e] ? opt.read_hosts[e] : opt.host,
                     opt.read_ports[e], 1, e);
    double cpu0 = cpu_seconds();
    L.t_start = now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    L.t_start_real = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    int64_t timeout_ns = (int64_t)(opt.probe_timeout * 1e9);
    for (;;) {
        int64_t t = now_ns();
        /* Paced writes: every write that is due, on an idle connection. */
        while (L.sent < L.total && L.t_start + L.sent * L.interval_ns <= t && L.n_idle > 0) {
            conn_t *c = &L.writers[L.idle[--L.n_idle]];
            if (c->down) {
                c->fd = tcp_connect_to(c->host, c->port, true);
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                if (c->fd >= 0 && epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
                    die("epoll_ctl: %s", strerror(errno));
                c->down = c->fd < 0;
            }
            int64_t i = L.sent++;
            if (i % opt.probe_every == 0) {
                probe_t *p = &L.probes[L.n_probes];
                p->write_idx = i;
                p->polls = xcalloc((size_t)opt.n_read, sizeof *p->polls);
                p->vis = xcalloc((size_t)opt.n_read, sizeof *p->vis);
                p->hit = xcalloc((size_t)opt.n_read, sizeof *p->hit);
                p->t0 = now_ns();
                L.n_probes++;
            }
            if (c->down) { /* refused at once: this write fails now */
                write_failed(i);
                L.idle[L.n_idle++] = (int)(c - L.writers);
                t = now_ns();
                continue;
            }
            req_write(c, i);
            L.t_last_send = c->t_send;
            t = c->t_send;
        }
        int64_t due = (t - L.t_start) / L.interval_ns + 1;
        if (due > L.total)
            due = L.total;
        due -= L.sent;
        if (due > L.max_backlog)
            L.max_backlog = due;
        /* Polls: per read port, the oldest probe it has not shown yet. */
        int64_t wake = 0;
        bool outstanding = false;
        for (int e = 0; e < opt.n_read; e++) {
            conn_t *c = &L.pollers[e];
            while (L.cursor[e] < L.n_probes && L.probes[L.cursor[e]].failed && !c->busy)
                L.cursor[e]++; /* a failed write is never visible */
            if (L.cursor[e] >= L.n_probes)
                continue;
            outstanding = true;
            if (t - L.probes[L.cursor[e]].t0 > timeout_ns)
                die("probe %" PRId64 " (write %" PRId64 ") not visible on port %d after %.1f s",
                    L.cursor[e], L.probes[L.cursor[e]].write_idx, c->port, opt.probe_timeout);
            if (c->busy)
                continue;
            if (opt.poll_from_ack && !L.probes[L.cursor[e]].ack)
                continue; /* polled once the origin acknowledged the write (an ack wakes the loop)
                           */
            if (L.next_poll[e] <= t && c->down) {
                poller_redial(c);
                if (c->down) { /* refused at once: a failed GET now */
                    L.probes[L.cursor[e]].polls[e]++;
                    L.polls_failed++;
                    L.last_miss[e] = t;
                    L.next_poll[e] = t + poll_gap(t, L.cursor[e]);
                    if (!wake || L.next_poll[e] < wake)
                        wake = L.next_poll[e];
                    continue;
                }
            }
            if (L.next_poll[e] <= t) {
                L.probes[L.cursor[e]].polls[e]++;
                req_read(c, L.probes[L.cursor[e]].write_idx, L.cursor[e]);
                t = c->t_send;
            } else if (!wake || L.next_poll[e] < wake) {
                wake = L.next_poll[e];
            }
        }
        if (L.sent == L.total && L.acked + L.failed == L.total && !outstanding)
            break;
        if (L.sent < L.total && L.n_idle > 0) {
            int64_t nx = L.t_start + L.sent * L.interval_ns;
            if (!wake || nx < wake)
                wake = nx;
        }
        if (outstanding && (!wake || wake > t + 100000000))
            wake = t + 100000000; /* re-check probe timeouts */
        loop_wait(wake, lag_io);
    }
    double cpu = cpu_seconds() - cpu0;
    int64_t t_done = now_ns();
    if (opt.samples)
        write_samples();
    if (opt.lab_samples)
        write_lab_samples();
    /* Visible after the origin's ack: the propagation alone (negative when an
     * edge showed the value before the ack reached us). */
    samples_t after = {0};
    for (int64_t p = 0; p < L.n_probes; p++)
        for (int e = 0; e < opt.n_read && !L.probes[p].failed; e++)
            samp_add(&after, L.probes[p].vis[e] - L.probes[p].ack);
    samp_sort(&after);
    /* Visible at every read port: per probe, the slowest port's delay. */
    samples_t last = {0};
    for (int64_t p = 0; p < L.n_probes; p++) {
        int64_t mx = 0;
        for (int e = 0; e < opt.n_read; e++)
            mx = L.probes[p].vis[e] > mx ? L.probes[p].vis[e] : mx;
        samp_add(&last, mx);
    }
    samp_sort(&last);
    double window = (double)(L.t_last_send - L.t_start) / 1e9 + 1.0 / opt.rate;
    samp_sort(&L.all);
    samp_sort(&L.ack_lat);
    printf("{\"mode\":\"lag\",\"proto\":\"%s\",\"write_port\":%d,\"conns\":%d,\"target_rate\":%.1f,"
           "\"writes\":%" PRId64 ",\"writes_failed\":%" PRId64
           ",\"achieved_rate\":%.1f,\"max_backlog\":%" PRId64 ","
           "\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"ack_max_ms\":%.3f,"
           "\"probe_every\":%d,\"poll_us\":%d,\"poll_from\":\"%s\",\"poll_backoff\":%.3f,"
           "\"probes\":%" PRId64 ",\"polls\":%" PRId64
           ",\"polls_per_s\":%.1f,\"polls_failed\":%" PRId64 ",\"first_poll_hits\":%" PRId64 ","
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
           "\"after_ack_p50_ms\":%.3f,\"after_ack_p99_ms\":%.3f,\"after_ack_min_ms\":%.3f,"
           "\"all_ports_p50_ms\":%.3f,\"all_ports_p99_ms\":%.3f,\"all_ports_max_ms\":%.3f,"
           "\"tool_cpu_pct\":%.1f,\"per_port\":[",
           proto_name(), opt.write_port, opt.conns, opt.rate, L.acked, L.failed,
           (double)L.acked / window, L.max_backlog, pct_ms(&L.ack_lat, 0.5),
           pct_ms(&L.ack_lat, 0.99), max_ms(&L.ack_lat), opt.probe_every, opt.poll_us,
           opt.poll_from_ack ? "ack" : "send", opt.poll_backoff, L.n_probes, L.polls,
           (double)L.polls / ((double)(t_done - L.t_start) / 1e9), L.polls_failed, L.first_hits,
           pct_ms(&L.all, 0.5), pct_ms(&L.all, 0.99), max_ms(&L.all), mean_ms(&L.all),
           pct_ms(&after, 0.5), pct_ms(&after, 0.99), after.n ? (double)after.v[0] / 1e6 : 0.0,
           pct_ms(&last, 0.5), pct_ms(&last, 0.99), max_ms(&last),
           100 * cpu / ((double)(t_done - L.t_start) / 1e9));
    for (int e = 0; e < opt.n_read; e++) {
        samp_sort(&L.vis[e]);
        printf("%s{\"port\":%d,\"probes\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
               e ? "," : "", opt.read_ports[e], L.vis[e].n, pct_ms(&L.vis[e], 0.5),
               pct_ms(&L.vis[e], 0.99), max_ms(&L.vis[e]));
    }
    printf("]}\n");
    free(after.v); /* locals; the rest lives in L until exit */
    free(last.v);
    return 0;
}

/* ---- blocking request helper (bulk, catchup) ------------------------------------------------ */

/* Sends c->out on a blocking socket and reads one response into r.
 * Returns false when the connection failed (the caller decides). */
static bool blocking_roundtrip(conn_t *c, resp_t *r)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    for (;;) {
        if (c->in_len && parse_response(c, P_HTTP, r))
            return true;
        if (c->in_len == IN_CAP)
            die("response from port %d larger than %d bytes", c->port, IN_CAP);
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        c->in_len += (size_t)n;
    }
}

/* ---- bulk --------------------------------------------------------------------------------- */

static int run_bulk(void)
{
    if (!opt.port || !opt.acct || !opt.ns || !opt.token)
        usage();
    conn_t c = {.port = opt.port, .in = xmalloc(IN_CAP)};
    c.fd = tcp_connect(opt.port, false);
    if (c.fd < 0)
        die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
    char *val = xmalloc((size_t)opt.value_bytes + 1);
    char key[128];
    size_t item_cap = (size_t)opt.value_bytes + 160;
    char *body = xmalloc((size_t)opt.batch * item_cap + 16);
    samples_t lat = {0};
    int64_t t0 = now_ns();
    for (long base = 0; base < opt.count; base += opt.batch) {
        long n = opt.count - base < opt.batch ? opt.count - base : opt.batch;
        size_t bl = 0;
        body[bl++] = '[';
        for (long j = 0; j < n; j++) {
            make_key(key, sizeof key, opt.start + base + j);
            make_value(val, opt.value_bytes, opt.start + base + j);
            bl += (size_t)sprintf(body + bl, "%s{\"key\":\"%s\",\"value\":\"%.*s\"}", j ? "," : "",
                                  key, opt.value_bytes, val);
        }
        body[bl++] = ']';
        out_printf(
            &c,
            "PUT /client/v4/accounts/%s/storage/kv/namespaces/%s/bulk HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %zu\r\n\r\n",
            opt.acct, opt.ns, opt.token, bl);
        out_bytes(&c, body, bl);
        resp_t r;
        int64_t ts = now_ns();
        if (!blocking_roundtrip(&c, &r))
            die("bulk PUT to port %d: connection failed: %s", opt.port, strerror(errno));
        samp_add(&lat, now_ns() - ts);
        char want[64];
        snprintf(want, sizeof want, "\"successful_key_count\":%ld", n);
        if (r.status != 200 || !memmem(r.body, r.blen, want, strlen(want)))
            die("bulk PUT of keys %ld..%ld: status %d: %.*s", opt.start + base,
                opt.start + base + n - 1, r.status, (int)(r.blen > 300 ? 300 : r.blen), r.body);
        consume(&c, r.total);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    samp_sort(&lat);
    printf("{\"mode\":\"bulk\",\"port\":%d,\"count\":%ld,\"batch\":%ld,\"seconds\":%.3f,"
           "\"mutations_per_s\":%.1f,\"request_p50_ms\":%.1f,\"request_max_ms\":%.1f}\n",
           opt.port, opt.count, opt.batch, secs, (double)opt.count / secs, pct_ms(&lat, 0.5),
           max_ms(&lat));
    return 0;
}

/* ---- catchup -------------------------------------------------------------------------------- */

static bool json_u64(const char *b, size_t n, const char *name, uint64_t *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = memmem(b, n, pat, strlen(pat));
    if (!p)
        return false;
    *out = strtoull(p + strlen(pat), NULL, 10);
    return true;
}

static int run_catchup(void)
{
    if (!opt.port || !opt.since_ns)
        usage();
    conn_t c = {.port = opt.port, .fd = -1, .in = xmalloc(IN_CAP)};
    int64_t m0 = now_ns();
    int64_t r0 = real_ns();
    int64_t base = m0 - (r0 - opt.since_ns); /* the caller's t0 on our monotonic clock */
    int64_t t_answer = 0, t_live = 0, t_done = 0;
    uint64_t first_applied = 0, applied = 0, origin_seq = 0;
    int64_t polls = 0;
    int64_t deadline = m0 + (int64_t)(opt.timeout * 1e9);
    while (!t_done) {
        if (now_ns() > deadline)
            die("port %d: applied_seq %" PRIu64 " did not reach %" PRIu64 " within %.0f s",
                opt.port, applied, opt.target, opt.timeout);
        if (c.fd < 0) {
            c.fd = tcp_connect(opt.port, false);
            if (c.fd < 0) {
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
                continue;
            }
            struct timeval tv = {2, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            c.in_len = 0;
        }
        int64_t ts = now_ns();
        if (opt.token) /* /status wants the operator token (the account's read+write one) */
            out_printf(
                &c, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
                opt.token);
        else
            out_printf(&c, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        resp_t r;
        if (!blocking_roundtrip(&c, &r)) {
            close(c.fd);
            c.fd = -1;
            c.out_len = c.out_off = 0;
            struct timespec sl = {0, 10000000};
            nanosleep(&sl, NULL);
            continue;
        }
        int64_t t = now_ns();
        polls++;
        if (r.status == 200) {
            if (!t_answer) {
                t_answer = t;
                json_u64(r.body, r.blen, "applied_seq", &first_applied);
            }
            if (!t_live && memmem(r.body, r.blen, "\"link\":\"live\"", 13))
                t_live = t;
            if (json_u64(r.body, r.blen, "applied_seq", &applied) && applied >= opt.target)
                t_done = t;
            json_u64(r.body, r.blen, "origin_seq", &origin_seq);
        }
        consume(&c, r.total);
        int64_t next = ts + 10000000;
        int64_t now = now_ns();
        if (!t_done && next > now) {
            struct timespec sl = {0, (long)(next - now)};
            nanosleep(&sl, NULL);
        }
    }
    if (c.fd >= 0)
        close(c.fd);
    printf("{\"mode\":\"catchup\",\"port\":%d,\"target\":%" PRIu64 ",\"applied_seq\":%" PRIu64
           ",\"first_applied_seq\":%" PRIu64 ",\"polls\":%" PRId64 ","
           "\"answer_s\":%.3f,\"live_s\":%.3f,\"done_s\":%.3f}\n",
           opt.port, opt.target, applied, first_applied, polls, (double)(t_answer - base) / 1e9,
           t_live ? (double)(t_live - base) / 1e9 : -1.0, (double)(t_done - base) / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(argc, argv);
    if (!strcmp(opt.mode, "tput"))
        return run_tput();
    if (!strcmp(opt.mode, "lag"))
        return run_lag();
    if (!strcmp(opt.mode, "bulk"))
        return run_bulk();
    if (!strcmp(opt.mode, "catchup"))
        return run_catchup();
    usage();
}
