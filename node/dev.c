/* dev.c - the local cluster of dev.h: certificates, identity, processes. */
#include "dev.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "kv_err.h"
#include "text.h"

#define DEV_EDGES_DEFAULT    3
#define DEV_EDGES_MAX        64
#define DEV_ORIGIN_PORT      8788
#define DEV_EDGE_PORT_BASE   8790 /* edge i serves 8790 + i */
#define DEV_REPL_PORT        7400
#define DEV_START_TIMEOUT_MS 20000
#define DEV_STOP_TIMEOUT_MS  15000
#define DEV_PATH_MAX         4096

typedef struct {
    char name[32];
    pid_t pid;
    int port;
    char log[DEV_PATH_MAX];
} dev_proc_t;

typedef struct {
    char dir[DEV_PATH_MAX - 64];
    int edges;
    int origin_port, edge_port_base, repl_port;
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
           "  --dir DIR        cluster directory: data, certificates, logs (default ./data/dev)\n"
           "  --edges N        edges to run, 1..%d (default %d)\n"
           "  --port P         origin API port; edge i listens on P+2+i (default %d)\n"
           "  --repl-port R    origin replication port (default %d)\n"
           "  --sync MODE      WAL sync of the origin: always | batch | off (default always);\n"
           "                   edges use batch (off with off): they resume from the origin's log\n",
           DEV_EDGES_MAX, DEV_EDGES_DEFAULT, DEV_ORIGIN_PORT, DEV_REPL_PORT);
}

static int parse(dev_cluster_t *d, int argc, char **argv)
{
    snprintf(d->dir, sizeof d->dir, "./data/dev");
    snprintf(d->sync, sizeof d->sync, "always");
    d->edges = DEV_EDGES_DEFAULT;
    d->origin_port = DEV_ORIGIN_PORT;
    d->edge_port_base = DEV_EDGE_PORT_BASE;
    d->repl_port = DEV_REPL_PORT;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0)
            return 1;
        if (!v) {
            fprintf(stderr, "edgekv dev: %s needs a value\n", f);
            return -1;
        }
        i++;
        if (strcmp(f, "--dir") == 0)
            snprintf(d->dir, sizeof d->dir, "%s", v);
        else if (strcmp(f, "--edges") == 0 && atoi(v) >= 1 && atoi(v) <= DEV_EDGES_MAX)
            d->edges = atoi(v);
        else if (strcmp(f, "--port") == 0 && atoi(v) > 0 && atoi(v) < 65000 - DEV_EDGES_MAX)
            d->origin_port = atoi(v), d->edge_port_base = atoi(v) + 2;
        else if (strcmp(f, "--repl-port") == 0 && atoi(v) > 0 && atoi(v) < 65536)
            d->repl_port = atoi(v);
        else if (strcmp(f, "--sync") == 0 && strlen(v) < sizeof d->sync)
            snprintf(d->sync, sizeof d->sync, "%s", v);
        else {
            fprintf(stderr, "edgekv dev: bad option %s %s (see --help)\n", f, v);
            return -1;
        }
    }
    return 0;
}

/* Read KEY=value lines of the identity file, or create them. */
static int identity(dev_cluster_t *d)
{
    char path[DEV_PATH_MAX], line[256];
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
    if (text_random_hex(d->account, 32) != 0 || text_random_hex(d->token, 64) != 0)
        return -1;
    if (!(f = fopen(path, "w")))
        return -errno;
    fprintf(f, "EDGEKV_ACCOUNT=%s\nEDGEKV_TOKEN=%s\n", d->account, d->token);
    fclose(f);
    chmod(path, 0600);
    return 0;
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
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* fork + exec this binary with `args`; output to p->log. */
static int spawn(dev_proc_t *p, char *const *args)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        signal(SIGINT, SIG_IGN); /* the terminal's Ctrl-C is ours to relay */
        execv("/proc/self/exe", args);
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

static int start_node(dev_cluster_t *d, int i)
{
    dev_proc_t *p = &d->procs[d->nprocs];
    char data[DEV_PATH_MAX + 32], certs[DEV_PATH_MAX], listen[64], repl[64], node_id[16];
    const char *role = i ? "edge" : "origin";
    snprintf(p->name, sizeof p->name, i ? "edge%d" : "origin", i);
    p->port = i ? d->edge_port_base + i : d->origin_port;
    snprintf(data, sizeof data, "%s/%s", d->dir, p->name);
    snprintf(p->log, sizeof p->log, "%.4000s.log", data);
    snprintf(certs, sizeof certs, "%s/certs", d->dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", p->port);
    snprintf(repl, sizeof repl, "127.0.0.1:%d", d->repl_port);
    snprintf(node_id, sizeof node_id, "%d", (i + 1) % 1000);
    char *args[] = {"edgekv",
                    (char *)role,
                    "--listen",
                    listen,
                    "--data",
                    data,
                    "--certs",
                    certs,
                    "--name",
                    p->name,
                    i ? "--origin" : "--repl-listen",
                    repl,
                    "--account",
                    d->account,
                    "--token",
                    d->token,
                    "--node-id",
                    node_id,
                    "--sync",
                    d->sync,
                    NULL};
    int rc = spawn(p, args);
    if (rc == 0)
        d->nprocs++;
    return rc;
}

/* Wait until every process logged that it serves, or one died. */
static int wait_ready(dev_cluster_t *d)
{
    uint64_t deadline = now_ms() + DEV_START_TIMEOUT_MS;
    for (int i = 0; i < d->nprocs && !g_stop; i++) {
        char line[512];
        int ready = 0, status;
        while (!ready && !g_stop) {
            FILE *f = fopen(d->procs[i].log, "r");
            while (f && fgets(line, sizeof line, f))
                ready |= strstr(line, "serving http://") != NULL;
            if (f)
                fclose(f);
            if (ready)
                break;
            if (waitpid(d->procs[i].pid, &status, WNOHANG) == d->procs[i].pid) {
                d->procs[i].pid = 0;
                fprintf(stderr, "edgekv dev: %s exited during start-up; see %s\n", d->procs[i].name,
                        d->procs[i].log);
                return -1;
            }
            if (now_ms() > deadline) {
                fprintf(stderr, "edgekv dev: %s did not start in time; see %s\n", d->procs[i].name,
                        d->procs[i].log);
                return -1;
            }
            usleep(50 * 1000);
        }
    }
    return g_stop ? -1 : 0;
}

static void stop_all(dev_cluster_t *d)
{
    uint64_t deadline;
    /* Edges first, so none is left waiting on a vanished origin. */
    for (int i = d->nprocs - 1; i >= 0; i--)
        if (d->procs[i].pid > 0)
            kill(d->procs[i].pid, SIGTERM);
    deadline = now_ms() + DEV_STOP_TIMEOUT_MS;
    for (int i = d->nprocs - 1; i >= 0; i--) {
        while (d->procs[i].pid > 0) {
            int status;
            if (waitpid(d->procs[i].pid, &status, WNOHANG) == d->procs[i].pid) {
                d->procs[i].pid = 0;
                break;
            }
            if (now_ms() > deadline) {
                fprintf(stderr, "edgekv dev: %s did not stop; killing it\n", d->procs[i].name);
                kill(d->procs[i].pid, SIGKILL);
                waitpid(d->procs[i].pid, &status, 0);
                d->procs[i].pid = 0;
            }
            usleep(20 * 1000);
        }
    }
}

static void write_env(dev_cluster_t *d)
{
    char path[DEV_PATH_MAX + 16];
    FILE *f;
    snprintf(path, sizeof path, "%s/edgekv.env", d->dir);
    if (!(f = fopen(path, "w")))
        return;
    fprintf(f,
            "# Point wrangler and the Cloudflare SDK at edge1 of the local cluster.\n"
            "CLOUDFLARE_API_BASE_URL=http://127.0.0.1:%d/client/v4\n"
            "CLOUDFLARE_BASE_URL=http://127.0.0.1:%d/client/v4\n"
            "CLOUDFLARE_ACCOUNT_ID=%s\nCLOUDFLARE_API_TOKEN=%s\nWRANGLER_SEND_METRICS=false\n",
            d->edge_port_base + 1, d->edge_port_base + 1, d->account, d->token);
    fclose(f);
    chmod(path, 0600);
}

static void banner(dev_cluster_t *d)
{
    printf("edgekv dev: a local cluster in %s (Ctrl-C stops it)\n", d->dir);
    for (int i = 0; i < d->nprocs; i++)
        printf("  %-7s http://127.0.0.1:%d%s   log %s\n", d->procs[i].name, d->procs[i].port,
               i ? "" : "  (replication: mutual TLS on 127.0.0.1)", d->procs[i].log);
    printf("  account %s\n  token   %s\n", d->account, d->token);
    printf("  env file for wrangler and the SDK (edge1): %s/edgekv.env\n", d->dir);
    fflush(stdout);
}

/* Run until a signal or a child's death. */
static int supervise(dev_cluster_t *d)
{
    while (!g_stop) {
        for (int i = 0; i < d->nprocs; i++) {
            int status;
            if (d->procs[i].pid > 0 &&
                waitpid(d->procs[i].pid, &status, WNOHANG) == d->procs[i].pid) {
                d->procs[i].pid = 0;
                fprintf(stderr, "edgekv dev: %s exited unexpectedly (status %d); see %s\n",
                        d->procs[i].name, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                        d->procs[i].log);
                return 1;
            }
        }
        usleep(100 * 1000);
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
    rc = 0;
    for (int i = 0; i <= d.edges && rc == 0; i++)
        rc = start_node(&d, i);
    if (rc == 0 && wait_ready(&d) == 0) {
        write_env(&d);
        banner(&d);
        rc = supervise(&d);
    } else {
        rc = 1;
    }
    printf("edgekv dev: stopping\n");
    stop_all(&d);
    printf("edgekv dev: stopped\n");
    return rc;
}
