/* dev.c - the local cluster of dev.h: certificates, identity, processes. */
#include "dev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "kv_err.h"
#include "kv_rand.h"
#include "private_file.h"
#include "text.h"

#define DEV_EDGES_DEFAULT  3
#define DEV_EDGES_MAX      64
#define DEV_ORIGIN_PORT    8788
#define DEV_EDGE_PORT_BASE 8790 /* edge i serves 8790 + i */
#define DEV_REPL_PORT      7400
/* With --https each node also serves HTTPS on its API port + this (the
 * origin 9788, edge i 9790 + i): past every API port of the largest
 * cluster, so the two ranges never overlap. */
#define DEV_HTTPS_PORT_OFFSET 1000
/* The API certificate every node serves HTTPS with (`certs api`). */
#define DEV_API_CERT_NAME    "api"
#define DEV_START_TIMEOUT_MS 20000
#define DEV_STOP_TIMEOUT_MS  15000 /* default; --stop-timeout-ms */
#define DEV_PATH_MAX         4096

/* Ports: with --port 0 every node's API (HTTP and, with --https, HTTPS)
 * and with --repl-port 0 the origin's replication listener bind a port the
 * kernel picks (free by construction, so parallel clusters and tests never
 * collide); dev reads the ports each node printed in its banner and writes
 * them to ports.env. Nodes start in order, the origin first, because an
 * edge needs the origin's replication port on its command line. */
typedef struct {
    char name[32];
    pid_t pid;
    int port;       /* the API port the node reported; 0 until it serves */
    int https_port; /* its HTTPS port, as reported (--https) */
    int repl_port;  /* the origin's replication port, as reported */
    char log[DEV_PATH_MAX];
} dev_proc_t;

typedef struct {
    char dir[DEV_PATH_MAX - 64];
    int edges;
    int origin_port, edge_port_base, repl_port; /* 0: the kernel picks */
    unsigned stop_timeout_ms;
    bool https;            /* --https: every node also serves HTTPS */
    char ca[DEV_PATH_MAX]; /* absolute path of the CA certificate (for clients) */
    char sync[16];
    char account[33];
    char token[65];
    dev_proc_t procs[DEV_EDGES_MAX + 1];
    int nprocs;
} dev_cluster_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(void)
{
    printf("usage: edgekv dev [--dir DIR] [--edges N] [--port P] [--repl-port R] [--sync MODE]\n"
           "                  [--https] [--stop-timeout-ms MS]\n"
           "  --dir DIR        cluster directory: data, certificates, logs (default ./data/dev)\n"
           "  --edges N        edges to run, 1..%d (default %d)\n"
           "  --port P         origin API port; edge i listens on P+2+i (default %d);\n"
           "                   0: every node binds a free port (see DIR/ports.env)\n"
           "  --repl-port R    origin replication port (default %d); 0: a free port\n"
           "  --https          every node also serves the API over HTTPS, on its API port + %d\n"
           "                   (a free port with --port 0), with a certificate for localhost\n"
           "                   and 127.0.0.1 from the cluster CA (DIR/certs/" DEV_API_CERT_NAME
           ".crt); clients\n"
           "                   trust DIR/certs/ca.crt (EDGEKV_CA in the env files)\n"
           "  --sync MODE      WAL sync of the origin: always | batch | off (default always);\n"
           "                   edges use batch (off with off): they resume from the origin's log\n"
           "  --stop-timeout-ms MS  on stop, wait this long for each node before SIGKILL\n"
           "                   (default %d)\n"
           "Exit status: 0 when every node stopped cleanly (exit 0 after SIGTERM); 1 when a\n"
           "node failed to start, died, exited non-zero or had to be killed.\n",
           DEV_EDGES_MAX, DEV_EDGES_DEFAULT, DEV_ORIGIN_PORT, DEV_REPL_PORT, DEV_HTTPS_PORT_OFFSET,
           DEV_STOP_TIMEOUT_MS);
}

/* The port node i serves its API on (0: the kernel picks), and HTTPS. */
static int api_port(const dev_cluster_t *d, int i)
{
    return i ? (d->edge_port_base ? d->edge_port_base + i : 0) : d->origin_port;
}

static int https_port(const dev_cluster_t *d, int i)
{
    return api_port(d, i) ? api_port(d, i) + DEV_HTTPS_PORT_OFFSET : 0;
}

/* Fixed ports must exist and not collide: the API ports (HTTP, HTTPS)
 * against each other by construction, the replication port against them
 * here. 0, or -1 with the reason printed. */
static int ports_check(const dev_cluster_t *d)
{
    if (d->https && d->origin_port && https_port(d, d->edges) > 65535) {
        fprintf(stderr, "edgekv dev: --https needs ports up to %d; pick a lower --port\n",
                https_port(d, d->edges));
        return -1;
    }
    for (int i = 0; d->repl_port && d->origin_port && i <= d->edges; i++)
        if (d->repl_port == api_port(d, i) || (d->https && d->repl_port == https_port(d, i))) {
            fprintf(stderr, "edgekv dev: --repl-port %d is also an API port of this cluster\n",
                    d->repl_port);
            return -1;
        }
    return 0;
}

static int parse(dev_cluster_t *d, int argc, char **argv)
{
    snprintf(d->dir, sizeof d->dir, "./data/dev");
    snprintf(d->sync, sizeof d->sync, "always");
    d->edges = DEV_EDGES_DEFAULT;
    d->origin_port = DEV_ORIGIN_PORT;
    d->edge_port_base = DEV_EDGE_PORT_BASE;
    d->repl_port = DEV_REPL_PORT;
    d->stop_timeout_ms = DEV_STOP_TIMEOUT_MS;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0)
            return 1;
        if (strcmp(f, "--https") == 0) { /* a switch: no value */
            d->https = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "edgekv dev: %s needs a value\n", f);
            return -1;
        }
        i++;
        if (strcmp(f, "--dir") == 0)
            snprintf(d->dir, sizeof d->dir, "%s", v);
        else if (strcmp(f, "--edges") == 0 && atoi(v) >= 1 && atoi(v) <= DEV_EDGES_MAX)
            d->edges = atoi(v);
        else if (strcmp(f, "--port") == 0 && strcmp(v, "0") == 0)
            d->origin_port = 0, d->edge_port_base = 0;
        else if (strcmp(f, "--port") == 0 && atoi(v) > 0 && atoi(v) < 65000 - DEV_EDGES_MAX)
            d->origin_port = atoi(v), d->edge_port_base = atoi(v) + 2;
        else if (strcmp(f, "--repl-port") == 0 && atoi(v) >= 0 && atoi(v) < 65536)
            d->repl_port = atoi(v);
        else if (strcmp(f, "--stop-timeout-ms") == 0 && atoi(v) > 0)
            d->stop_timeout_ms = (unsigned)atoi(v);
        else if (strcmp(f, "--sync") == 0 && strlen(v) < sizeof d->sync)
            snprintf(d->sync, sizeof d->sync, "%s", v);
        else {
            fprintf(stderr, "edgekv dev: bad option %s %s (see --help)\n", f, v);
            return -1;
        }
    }
    return ports_check(d);
}

/* Read KEY=value lines of the identity file, or create them. */
static int identity(dev_cluster_t *d)
{
    char path[DEV_PATH_MAX], tmp[DEV_PATH_MAX + 8], line[256];
    FILE *f;
    snprintf(path, sizeof path, "%s/cluster.env", d->dir);
    if ((f = fopen(path, "r"))) {
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            if (strncmp(line, "EDGEKV_ACCOUNT=", 15) == 0)
                snprintf(d->account, sizeof d->account, "%.32s", line + 15);
            else if (strncmp(line, "EDGEKV_TOKEN=", 13) == 0)
                snprintf(d->token, sizeof d->token, "%.64s", line + 13);
        }
        fclose(f);
        if (d->account[0] && d->token[0])
            return 0;
    }
    if (kv_random_hex(d->account, 32) != 0 || kv_random_hex(d->token, 64) != 0)
        return -1;
    if (!(f = private_file_open(path, tmp, sizeof tmp)))
        return -errno;
    fprintf(f, "EDGEKV_ACCOUNT=%s\nEDGEKV_TOKEN=%s\n", d->account, d->token);
    return private_file_commit(f, path, tmp);
}

static int certificates(dev_cluster_t *d)
{
    char dir[DEV_PATH_MAX], path[DEV_PATH_MAX + 64];
    int rc;
    snprintf(dir, sizeof dir, "%s/certs", d->dir);
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    if (access(path, F_OK) != 0 && (rc = certs_create_ca(dir, 3650)) != 0)
        return rc;
    for (int i = 0; i <= d->edges; i++) {
        char name[32];
        snprintf(name, sizeof name, i ? "edge%d" : "origin", i);
        snprintf(path, sizeof path, "%s/%s.crt", dir, name);
        if (access(path, F_OK) != 0 &&
            (rc = certs_issue(dir, i ? "edge" : "origin", name, 825, NULL, 0)) != 0)
            return rc;
    }
    if (!d->https)
        return 0;
    /* One API certificate for every node: they all answer on 127.0.0.1. */
    snprintf(path, sizeof path, "%s/" DEV_API_CERT_NAME ".crt", dir);
    if (access(path, F_OK) != 0 &&
        (rc = certs_issue_api(dir, DEV_API_CERT_NAME, CERTS_NODE_DAYS_DEFAULT, NULL, 0)) != 0)
        return rc;
    /* Clients read the CA from env files, wherever they run: an absolute path. */
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    if (!realpath(path, d->ca))
        return -errno;
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* fork + exec this binary with `args`; output to p->log. The log is
 * truncated here, before the fork, so the banner read after it is never one
 * left by an earlier run. */
static int spawn(dev_proc_t *p, char *const *args)
{
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        signal(SIGINT, SIG_IGN); /* the terminal's Ctrl-C is ours to relay */
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    return 0;
}

/* Start node i (0 the origin, i > 0 edge i). An edge is started only once
 * the origin has reported its replication port. */
static int start_node(dev_cluster_t *d, int i)
{
    dev_proc_t *p = &d->procs[d->nprocs];
    char data[DEV_PATH_MAX + 32], certs[DEV_PATH_MAX], listen[64], repl[64], node_id[16];
    char https[64], crt[DEV_PATH_MAX + 16], key[DEV_PATH_MAX + 16];
    const char *role = i ? "edge" : "origin";
    int port = api_port(d, i);
    int repl_port = i ? d->procs[0].repl_port : d->repl_port;
    snprintf(p->name, sizeof p->name, i ? "edge%d" : "origin", i);
    snprintf(data, sizeof data, "%s/%s", d->dir, p->name);
    snprintf(p->log, sizeof p->log, "%.4000s.log", data);
    snprintf(certs, sizeof certs, "%s/certs", d->dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(repl, sizeof repl, "127.0.0.1:%d", repl_port);
    snprintf(node_id, sizeof node_id, "%d", (i + 1) % 1000);
    snprintf(https, sizeof https, "127.0.0.1:%d", https_port(d, i));
    snprintf(crt, sizeof crt, "%s/" DEV_API_CERT_NAME ".crt", certs);
    snprintf(key, sizeof key, "%s/" DEV_API_CERT_NAME ".key", certs);
    char *args[] = {"edgekv", (char *)role, "--listen", listen, "--data", data, "--certs", certs,
                    "--name", p->name, i ? "--origin" : "--repl-listen", repl, "--account",
                    d->account, "--token", d->token, "--node-id", node_id, "--sync", d->sync,
                    /* --https: the last six, else the list ends here */
                    d->https ? "--https-listen" : NULL, https, "--https-cert", crt, "--https-key",
                    key, NULL};
    int rc = spawn(p, args);
    if (rc == 0)
        d->nprocs++;
    return rc;
}

/* The port after `prefix` in `line`, or 0. */
static int port_after(const char *line, const char *prefix)
{
    const char *m = strstr(line, prefix);
    return m ? atoi(m + strlen(prefix)) : 0;
}

/* Scan a node's log for its banner: the API port (and its HTTPS port with
 * --https), and the replication port of an origin. 1 once the banner is
 * complete, else 0. */
static int read_banner(dev_proc_t *p, int is_origin, bool https)
{
    char line[512];
    int n;
    FILE *f = fopen(p->log, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if ((n = port_after(line, "serving http://127.0.0.1:")) > 0)
            p->port = n;
        if ((n = port_after(line, "serving https://127.0.0.1:")) > 0)
            p->https_port = n;
        if ((n = port_after(line, "replication: listening on 127.0.0.1:")) > 0)
            p->repl_port = n;
    }
    fclose(f);
    return p->port > 0 && (!https || p->https_port > 0) && (!is_origin || p->repl_port > 0);
}

/* Describe a wait status: "exit 3", "signal 9". */
static const char *status_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "status %d", status);
    return buf;
}

/* Wait until node i has printed its banner, or died. The log says why a
 * node did not start (a port in use, say): its last line is shown. */
static int wait_ready(dev_cluster_t *d, int i)
{
    dev_proc_t *p = &d->procs[i];
    uint64_t deadline = now_ms() + DEV_START_TIMEOUT_MS;
    char why[32];
    int status;
    while (!g_stop) {
        if (read_banner(p, i == 0, d->https))
            return 0;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            fprintf(stderr, "edgekv dev: %s exited during start-up (%s); see %s\n", p->name,
                    status_text(status, why, sizeof why), p->log);
            return -1;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "edgekv dev: %s did not start in time; see %s\n", p->name, p->log);
            return -1;
        }
        usleep(20 * 1000);
    }
    return -1;
}

/* SIGTERM every node (edges first, so none is left waiting on a vanished
 * origin) and reap it. 0 when each exited 0; -1 when one exited otherwise
 * or had to be killed after stop_timeout_ms. */
static int stop_all(dev_cluster_t *d)
{
    uint64_t deadline;
    int rc = 0;
    char why[32];
    for (int i = d->nprocs - 1; i >= 0; i--)
        if (d->procs[i].pid > 0)
            kill(d->procs[i].pid, SIGTERM);
    deadline = now_ms() + d->stop_timeout_ms;
    for (int i = d->nprocs - 1; i >= 0; i--) {
        dev_proc_t *p = &d->procs[i];
        int status = 0;
        while (p->pid > 0) {
            if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                p->pid = 0;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fprintf(stderr, "edgekv dev: %s stopped with %s; see %s\n", p->name,
                            status_text(status, why, sizeof why), p->log);
                    rc = -1;
                }
                break;
            }
            if (now_ms() > deadline) {
                fprintf(stderr, "edgekv dev: %s did not stop within %u ms; killing it\n", p->name,
                        d->stop_timeout_ms);
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &status, 0);
                p->pid = 0;
                rc = -1;
                break;
            }
            usleep(20 * 1000);
        }
    }
    return rc;
}

/* With --https: the CA to trust, under the names each kind of client reads
 * (edgekv kv: EDGEKV_CACERT; Node.js, so wrangler and the SDK:
 * NODE_EXTRA_CA_CERTS; scripts: EDGEKV_CA), and every node's HTTPS URL. */
static void write_https_env(const dev_cluster_t *d, FILE *f)
{
    if (!d->https)
        return;
    fprintf(f, "# --https: the CA of every node's HTTPS certificate, and the HTTPS URLs.\n");
    fprintf(f, "EDGEKV_CA=%s\nEDGEKV_CACERT=%s\nNODE_EXTRA_CA_CERTS=%s\n", d->ca, d->ca, d->ca);
    fprintf(f, "EDGEKV_ORIGIN_HTTPS_URL=https://127.0.0.1:%d\n", d->procs[0].https_port);
    for (int i = 1; i < d->nprocs; i++)
        fprintf(f, "EDGEKV_EDGE%d_HTTPS_URL=https://127.0.0.1:%d\n", i, d->procs[i].https_port);
}

static void write_env(dev_cluster_t *d)
{
    char path[DEV_PATH_MAX + 16], tmp[DEV_PATH_MAX + 32];
    FILE *f;
    snprintf(path, sizeof path, "%s/edgekv.env", d->dir);
    if ((f = private_file_open(path, tmp, sizeof tmp))) {
        fprintf(f,
                "# Point wrangler and the Cloudflare SDK at edge1 of the local cluster.\n"
                "CLOUDFLARE_API_BASE_URL=http://127.0.0.1:%d/client/v4\n"
                "CLOUDFLARE_BASE_URL=http://127.0.0.1:%d/client/v4\n"
                "CLOUDFLARE_ACCOUNT_ID=%s\nCLOUDFLARE_API_TOKEN=%s\nWRANGLER_SEND_METRICS=false\n",
                d->procs[1].port, d->procs[1].port, d->account, d->token);
        write_https_env(d, f);
        private_file_commit(f, path, tmp);
    }
    /* Every endpoint, for scripts and tests: the ports each node got. */
    snprintf(path, sizeof path, "%s/ports.env", d->dir);
    if ((f = private_file_open(path, tmp, sizeof tmp))) {
        fprintf(f, "EDGEKV_ORIGIN_URL=http://127.0.0.1:%d\nEDGEKV_REPL_ADDR=127.0.0.1:%d\n",
                d->procs[0].port, d->procs[0].repl_port);
        for (int i = 1; i < d->nprocs; i++)
            fprintf(f, "EDGEKV_EDGE%d_URL=http://127.0.0.1:%d\n", i, d->procs[i].port);
        for (int i = 0; i < d->nprocs; i++)
            fprintf(f, "EDGEKV_%s%.0d_PID=%d\n", i ? "EDGE" : "ORIGIN", i, (int)d->procs[i].pid);
        write_https_env(d, f);
        private_file_commit(f, path, tmp);
    }
}

/* "  https://127.0.0.1:PORT" after a node's http URL with --https, else "". */
static const char *https_text(const dev_cluster_t *d, int i, char *buf, size_t len)
{
    buf[0] = '\0';
    if (d->https)
        snprintf(buf, len, "  https://127.0.0.1:%d", d->procs[i].https_port);
    return buf;
}

static void banner(dev_cluster_t *d)
{
    char h[48];
    printf("edgekv dev: a local cluster in %s (Ctrl-C stops it)\n", d->dir);
    printf("  origin  http://127.0.0.1:%d%s  (replication: mutual TLS on 127.0.0.1:%d)   log %s\n",
           d->procs[0].port, https_text(d, 0, h, sizeof h), d->procs[0].repl_port, d->procs[0].log);
    for (int i = 1; i < d->nprocs; i++)
        printf("  %-7s http://127.0.0.1:%d%s   log %s\n", d->procs[i].name, d->procs[i].port,
               https_text(d, i, h, sizeof h), d->procs[i].log);
    if (d->https)
        printf("  HTTPS clients trust %s (EDGEKV_CA, NODE_EXTRA_CA_CERTS)\n", d->ca);
    printf("  account %s\n  token   %s\n", d->account, d->token);
    printf("  ports of every node: %s/ports.env\n", d->dir);
    printf("  env file for wrangler and the SDK (edge1): %s/edgekv.env\n", d->dir);
    fflush(stdout);
}

/* Run until a signal or a child's death. */
static int supervise(dev_cluster_t *d)
{
    char why[32];
    while (!g_stop) {
        for (int i = 0; i < d->nprocs; i++) {
            int status;
            if (d->procs[i].pid > 0 &&
                waitpid(d->procs[i].pid, &status, WNOHANG) == d->procs[i].pid) {
                d->procs[i].pid = 0;
                fprintf(stderr, "edgekv dev: %s exited unexpectedly (%s); see %s\n",
                        d->procs[i].name, status_text(status, why, sizeof why), d->procs[i].log);
                return 1;
            }
        }
        usleep(100 * 1000);
    }
    return 0;
}

static int start_all(dev_cluster_t *d)
{
    for (int i = 0; i <= d->edges; i++) {
        int rc = start_node(d, i);
        if (rc != 0) {
            fprintf(stderr, "edgekv dev: cannot start node %d: %s\n", i, kv_strerror(rc));
            return -1;
        }
        if (wait_ready(d, i) != 0)
            return -1;
    }
    return 0;
}

int dev_main(int argc, char **argv)
{
    dev_cluster_t d;
    char cmd[DEV_PATH_MAX + 16];
    int rc;
    memset(&d, 0, sizeof d);
    if ((rc = parse(&d, argc, argv)) != 0) {
        if (rc > 0)
            usage();
        return rc > 0 ? 0 : 2;
    }
    snprintf(cmd, sizeof cmd, "%s", d.dir);
    for (char *p = cmd + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(cmd, 0700);
            *p = '/';
        }
    mkdir(cmd, 0700);
    if ((rc = identity(&d)) != 0 || (rc = certificates(&d)) != 0) {
        fprintf(stderr, "edgekv dev: cannot prepare %s: %s\n", d.dir, kv_strerror(rc));
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (start_all(&d) == 0) {
        write_env(&d);
        banner(&d);
        rc = supervise(&d);
    } else {
        rc = 1;
    }
    printf("edgekv dev: stopping\n");
    fflush(stdout);
    if (stop_all(&d) != 0)
        rc = 1;
    printf(rc == 0 ? "edgekv dev: stopped\n" : "edgekv dev: stopped, with errors (see above)\n");
    return rc;
}
