/* proxy_ping.c - does edgekv-proxy delay bytes as its scenario says?
 *
 * It runs an echo server on loopback, starts the proxy in front of it
 * (--scenario FILE --place PLACE), and sends COUNT small messages through
 * the proxy one at a time, each after the previous echo came back, so the
 * link is idle and FIFO order never holds one back: each round trip is two
 * independent one-way draws. The expected distribution of that sum comes
 * from the same delay model (sim/shape.c) sampled EXPECT_DRAWS times.
 *   - Never early: the measured p10, p50 and p90 are at least the expected
 *     ones less PING_TOL_MS + PING_TOL_REL (a proxy that skipped the delay,
 *     used a shorter place or distribution fails; load only makes round trips
 *     longer, so this holds on any machine).
 *   - Not late: within the same tolerance above, when the machine lets the
 *     proxy keep time: its own lateness (stats late_p99_ms) at most
 *     PING_LATE_OK_MS. On a machine so loaded that the proxy itself runs late
 *     (ASan beside other work, load averages of 20 on 2 CPUs), a round trip
 *     measures the scheduler, not the model: the upper check is reported as
 *     not made, and the lower one still must hold.
 *
 * Usage: proxy_ping PROXY_BINARY SCENARIO PLACE COUNT
 * Prints one JSON object; exit 0 within tolerance, 1 outside, 2 on error.
 * The proxy is ended by its PID (SIGTERM) before the exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shape.h"

#define PING_BYTES   64
#define EXPECT_DRAWS 200000
#define PING_TOL_MS  2.0
#define PING_TOL_REL 0.05
#define PING_MAX     10000
/* The proxy's own p99 lateness up to which the upper check is made. */
#define PING_LATE_OK_MS 2.0

extern char **environ;
static pid_t proxy_pid;

static void fail(const char *msg)
{
    fprintf(stderr, "proxy_ping: %s (%s)\n", msg, strerror(errno));
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        waitpid(proxy_pid, NULL, 0);
    }
    exit(2);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static bool read_full(int fd, char *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* The echo server: one connection, every byte back. */
static void *echo_main(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)r) != r)
            break;
    close(fd);
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        fail("cannot listen on loopback");
    *port = ntohs(a.sin_port);
    return fd;
}

/* Starts the proxy; returns its listening port, read from its banner. */
static int ctl_port;

/* The proxy's own p99 lateness, from "stats" on its control port (-1: none). */
static double proxy_late_p99_ms(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)ctl_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[1024] = "";
    double late = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "stats\n", 6) == 6) {
        size_t got = 0;
        ssize_t r;
        while (got + 1 < sizeof buf && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
            got += (size_t)r;
            if (memchr(buf, '\n', got))
                break;
        }
        const char *p = strstr(buf, "late_p99_ms=");
        if (p)
            late = strtod(p + strlen("late_p99_ms="), NULL);
    }
    if (fd >= 0)
        close(fd);
    return late;
}

static int start_proxy(const char *bin, const char *scenario, const char *place, int echo_port)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        fail("pipe");
    char up[64];
    snprintf(up, sizeof up, "127.0.0.1:%d", echo_port);
    char *argv[] = {(char *)bin,   "--listen",    "127.0.0.1:0", "--upstream",     up,
                    "--control",   "127.0.0.1:0", "--scenario",  (char *)scenario, "--place",
                    (char *)place, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    if (posix_spawn(&proxy_pid, bin, &fa, NULL, argv, environ) != 0)
        fail("cannot start the proxy");
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    char line[512];
    int port = -1;
    if (f && fgets(line, sizeof line, f))
        sscanf(line, "edgekv-proxy: listening on port %d, control on port %d", &port, &ctl_port);
    if (port <= 0)
        fail("no banner from the proxy");
    fprintf(stderr, "proxy_ping: %s", line);
    return port; /* the pipe stays open: the proxy's stdout never breaks */
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: proxy_ping PROXY_BINARY SCENARIO PLACE COUNT\n");
        return 2;
    }
    long count = strtol(argv[4], NULL, 10);
    if (count < 10 || count > PING_MAX)
        fail("COUNT must be 10..10000");
    char err[256];
    sim_scenario_t *sc;
    if (sim_scenario_load(argv[2], &sc, err, sizeof err) != 0) {
        fprintf(stderr, "proxy_ping: %s\n", err);
        return 2;
    }
    int place = sim_place_find(argv[3]);
    if (place < 0)
        fail("unknown place");
    int echo_port, lfd = listen_loopback(&echo_port);
    pthread_t th;
    pthread_create(&th, NULL, echo_main, &lfd);
    int pport = start_proxy(argv[1], argv[2], argv[3], echo_port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)pport),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail("cannot connect to the proxy");
    double *rtt = calloc((size_t)count, sizeof *rtt);
    char msg[PING_BYTES], back[PING_BYTES];
    for (long i = 0; i < count; i++) {
        memset(msg, 'a' + (int)(i % 26), sizeof msg);
        double t0 = now_ms();
        if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg || !read_full(fd, back, sizeof back))
            fail("the link broke");
        rtt[i] = now_ms() - t0;
        if (memcmp(msg, back, sizeof msg) != 0)
            fail("the proxy changed bytes");
    }
    close(fd);
    double late_p99 = proxy_late_p99_ms();
    bool check_upper = late_p99 >= 0 && late_p99 <= PING_LATE_OK_MS;
    kill(proxy_pid, SIGTERM);
    waitpid(proxy_pid, NULL, 0);
    proxy_pid = 0;
    pthread_join(th, NULL);
    /* The expected round trip: two one-way draws of the same model. */
    sim_shape_cfg_t cfg;
    sim_shape_cfg_from_scenario(&cfg, sc, place);
    sim_shape_t sh;
    sim_shape_init(&sh, &cfg, 1, 1);
    double *exp_rtt = calloc(EXPECT_DRAWS, sizeof *exp_rtt);
    for (size_t i = 0; i < EXPECT_DRAWS; i++)
        exp_rtt[i] = sim_shape_one_way_ms(&sh) + sim_shape_one_way_ms(&sh);
    qsort(rtt, (size_t)count, sizeof *rtt, cmp_double);
    qsort(exp_rtt, EXPECT_DRAWS, sizeof *exp_rtt, cmp_double);
    const double qs[] = {0.10, 0.50, 0.90};
    bool ok = true;
    printf("{\"place\":\"%s\",\"base_one_way_ms\":%.3f,\"pings\":%ld,\"proxy_late_p99_ms\":%.1f,"
           "\"upper_checked\":%s,\"quantiles\":[",
           argv[3], cfg.base_ms, count, late_p99, check_upper ? "true" : "false");
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double m = quantile(rtt, (size_t)count, qs[i]);
        double e = quantile(exp_rtt, EXPECT_DRAWS, qs[i]);
        double tol = PING_TOL_MS + PING_TOL_REL * e;
        bool in = m >= e - tol && (!check_upper || m <= e + tol);
        ok = ok && in;
        printf("%s{\"q\":%.2f,\"expected_rtt_ms\":%.3f,\"measured_rtt_ms\":%.3f,\"ok\":%s}",
               i ? "," : "", qs[i], e, m, in ? "true" : "false");
    }
    printf("],\"ok\":%s}\n", ok ? "true" : "false");
    free(rtt);
    free(exp_rtt);
    sim_scenario_free(sc);
    return ok ? 0 : 1;
}
