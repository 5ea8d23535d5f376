/*
 * main.c - the edgekv executable: subcommand dispatch and the lifecycle of
 * a node (open storage, establish identity and tokens, serve, stop).
 *
 * `edgekv origin` serves the REST API, the binding protocol and the
 * operations endpoints from one RocksDB replica. SIGINT/SIGTERM drain:
 * /readyz answers 503 at once and the node keeps serving for --drain-ms
 * (0 by default), then stops accepting, lets in-flight requests finish
 * (KV_SHUTDOWN_GRACE_MS at most) and closes RocksDB cleanly; a second
 * signal ends the drain at once. SIGHUP reloads the HTTPS and replication
 * certificates and the configured tokens without dropping a connection or
 * a link (node_signals.c). Under systemd (Type=notify) the node says when
 * it is ready, how it is doing, when it reloads and when it stops (ready.h).
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "app.h"
#include "backup_cli.h"
#include "certs.h"
#include "certs_cli.h"
#include "cli.h"
#include "compact.h"
#include "config.h"
#include "dev.h"
#include "edgekv_version.h"
#include "ha_cli.h"
#include "hostgauges.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kv_rand.h"
#include "private_file.h"
#include "ready.h"
#include "state.h"
#include "text.h"
#include "tls_api.h"
#include "tokens.h"
#include "node_int.h"

static int mkdir_p(const char *path)
{
    char tmp[NODE_PATH_MAX];
    size_t i, n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return -EINVAL;
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -errno;
            tmp[i] = c;
        }
    }
    return 0;
}

/* The durable facts of this node (state.h, "identity"): each is the
 * configured value, else the stored one, else a freshly generated one that
 * is stored for the next start. */
static int node_identity(node_t *n)
{
    state_identity_t id;
    char hex[ACCOUNT_HEX_LEN + 1];
    bool generated = false;
    int rc = state_identity_get(n->store, &id);
    if (rc != 0 && rc != KV_ENOTFOUND)
        return rc;
    if (!n->cfg.node_id && !id.node_id) {
        if ((rc = kv_random_hex(hex, 8)) != 0)
            return rc;
        id.node_id = (uint32_t)strtoul(hex, NULL, 16);
        id.node_id = id.node_id ? id.node_id : 1;
        generated = true;
    }
    n->app.node_id = n->cfg.node_id ? n->cfg.node_id : id.node_id;
    if (n->cfg.account_id[0]) {
        snprintf(n->account, sizeof n->account, "%s", n->cfg.account_id);
    } else {
        if (!id.account_id[0]) {
            if ((rc = kv_random_hex(id.account_id, ACCOUNT_HEX_LEN)) != 0)
                return rc;
            generated = true;
        }
        snprintf(n->account, sizeof n->account, "%s", id.account_id);
    }
    return generated ? state_identity_put(n->store, &id) : 0;
}

/* The configured token table of c: its tokens (the node's account where
 * one names none) or, with none, the node's default token, generated once
 * and kept in the store (so the server is never silently open). *out and
 * *count point into c or into n->default_token. */
static int token_table(node_t *n, node_config_t *c, auth_token_t *dflt, const auth_token_t **out,
                       size_t *count, int *generated)
{
    state_identity_t id;
    int rc;
    *generated = 0;
    for (size_t i = 0; i < c->token_count; i++)
        if (!c->tokens[i].account)
            c->tokens[i].account = n->account;
    if (c->token_count) {
        *out = c->tokens, *count = c->token_count;
        return 0;
    }
    if ((rc = state_identity_get(n->store, &id)) != 0 && rc != KV_ENOTFOUND)
        return rc;
    if (!id.default_token[0]) {
        if ((rc = kv_random_hex(id.default_token, TOKEN_HEX_LEN)) != 0 ||
            (rc = state_identity_put(n->store, &id)) != 0)
            return rc;
        *generated = 1;
    }
    snprintf(n->default_token, sizeof n->default_token, "%s", id.default_token);
    *dflt = (auth_token_t){
        .name = "default", .token = n->default_token, .account = n->account, .write = true};
    *out = dflt, *count = 1;
    return 0;
}

static int node_tokens(node_t *n, int *generated)
{
    auth_token_t dflt;
    const auth_token_t *tv;
    size_t tn;
    int rc = token_table(n, &n->cfg, &dflt, &tv, &tn, generated);
    return rc != 0 ? rc : auth_create(tv, tn, &n->auth);
}

/* SIGHUP: the configuration (files and flags) read again for its tokens
 * only; every other setting keeps its start-up value. A configuration that
 * does not parse or holds a bad token changes nothing. */
int node_reload_config_tokens(node_t *n, size_t *count)
{
    node_config_t fresh;
    auth_token_t dflt;
    const auth_token_t *tv;
    char err[512] = "";
    int rc, generated;
    node_config_defaults(&fresh, n->app.role);
    if (node_config_parse(&fresh, n->argc, n->argv, err, sizeof err) != 0) {
        KV_LOG_ERROR("node", "SIGHUP: the configuration does not parse: %s", err);
        node_config_free(&fresh);
        return KV_ECONFIG;
    }
    rc = token_table(n, &fresh, &dflt, &tv, count, &generated);
    if (rc == 0 && (rc = auth_set_configured(n->auth, tv, *count)) == KV_EINVAL)
        KV_LOG_ERROR("node", "SIGHUP: the configured tokens are invalid (an empty, oversized or "
                             "duplicate token)");
    node_config_free(&fresh);
    return rc;
}

/* DATA/edgekv.env: where wrangler and the SDK find this node, and the
 * generated token. Mode 0600 from its first byte (private_file.h). */
static void write_env_file(node_t *n)
{
    char path[NODE_PATH_MAX + 16], tmp[NODE_PATH_MAX + 32];
    FILE *f;
    int rc;
    snprintf(path, sizeof path, "%s/edgekv.env", n->cfg.data_dir);
    if (!(f = private_file_open(path, tmp, sizeof tmp))) {
        KV_LOG_WARN("node", "cannot write %s: %s", path, kv_strerror(-errno));
        return;
    }
    fprintf(f,
            "# Point wrangler and the Cloudflare SDK at this node.\n"
            "CLOUDFLARE_API_BASE_URL=http://%s:%d/client/v4\n"
            "CLOUDFLARE_BASE_URL=http://%s:%d/client/v4\n"
            "CLOUDFLARE_ACCOUNT_ID=%s\n",
            n->cfg.listen_host, http_server_port(n->http), n->cfg.listen_host,
            http_server_port(n->http), n->account);
    if (n->default_token[0])
        fprintf(f, "CLOUDFLARE_API_TOKEN=%s\n", n->default_token);
    fprintf(f, "WRANGLER_SEND_METRICS=false\n");
    if ((rc = private_file_commit(f, path, tmp)) != 0)
        KV_LOG_WARN("node", "cannot write %s: %s", path, kv_strerror(rc));
}

/* Descriptors: the soft RLIMIT_NOFILE is raised to the hard limit (a node
 * holds connections, links and RocksDB files), then held to the rule of
 * kv_limits.h (KV_FD_BUDGET): when connections, replication links,
 * RocksDB's open files and the reserve do not all fit, the node says which
 * number to raise. The limit is logged either way. */
static void raise_nofile(const node_config_t *c)
{
    struct rlimit rl;
    unsigned long long need = KV_FD_BUDGET(c->storage.max_open_files);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        KV_LOG_WARN("node", "getrlimit(RLIMIT_NOFILE): %s", kv_strerror(-errno));
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            KV_LOG_WARN("node", "setrlimit(RLIMIT_NOFILE, %llu): %s",
                        (unsigned long long)rl.rlim_max, kv_strerror(-errno));
            rl.rlim_cur = was;
        }
    }
    KV_LOG_INFO("node",
                "descriptors: RLIMIT_NOFILE %llu; budget %llu = %u HTTP connections + %u "
                "replication links + %u RocksDB open files + %u reserved",
                (unsigned long long)rl.rlim_cur, need, (unsigned)KV_HTTP_MAX_CONNECTIONS,
                (unsigned)KV_REPL_PEERS_MAX, c->storage.max_open_files,
                (unsigned)KV_FD_RESERVE_MISC);
    if (rl.rlim_cur != RLIM_INFINITY && (unsigned long long)rl.rlim_cur < need)
        KV_LOG_WARN("node",
                    "RLIMIT_NOFILE %llu is below the descriptor budget %llu: raise the hard "
                    "limit (ulimit -Hn, LimitNOFILE=) or lower max_open_files, or a connection "
                    "flood can leave RocksDB without descriptors",
                    (unsigned long long)rl.rlim_cur, need);
}

/* Split a comma-separated list in place into at most max items. */
static size_t split_list(char *s, char **items, size_t max)
{
    size_t n = 0;
    for (char *p = s; *p && n <= max;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n < max)
            items[n] = p;
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

/* HTTPS settings into the server config: the certificates are loaded now,
 * so a bad file stops the start with its reason. */
static int start_https(node_t *n, http_config_t *hc)
{
    node_config_t *c = &n->cfg;
    char certs[NODE_PATH_MAX], keys[NODE_PATH_MAX];
    char *cert_v[TLS_API_PAIRS_MAX], *key_v[TLS_API_PAIRS_MAX];

    if (!c->https_host[0]) {
        if (c->https_cert[0] || c->https_key[0] || c->https_client_ca[0]) {
            KV_LOG_ERROR("node", "--https-cert/--https-key/--https-client-ca need --https-listen");
            return KV_ECONFIG;
        }
        return 0;
    }
    memcpy(certs, c->https_cert, sizeof certs);
    memcpy(keys, c->https_key, sizeof keys);
    size_t nc = split_list(certs, cert_v, TLS_API_PAIRS_MAX);
    size_t nk = split_list(keys, key_v, TLS_API_PAIRS_MAX);
    if (nc == 0 || nk == 0) {
        KV_LOG_ERROR("node", "--https-listen needs --https-cert and --https-key");
        return KV_ECONFIG;
    }
    if (nc != nk || nc > TLS_API_PAIRS_MAX) {
        KV_LOG_ERROR("node",
                     "--https-cert names %zu files and --https-key %zu: give one key per "
                     "certificate, at most %d pairs",
                     nc, nk, TLS_API_PAIRS_MAX);
        return KV_ECONFIG;
    }
    tls_api_config_t tc = {.cert_files = (const char *const *)cert_v,
                           .key_files = (const char *const *)key_v,
                           .pair_count = nc,
                           .client_ca_file = c->https_client_ca[0] ? c->https_client_ca : NULL,
                           .ticket_rotate_s = c->https_ticket_rotate_s};
    int rc = tls_api_create(&tc, &n->https);
    if (rc != 0) {
        KV_LOG_ERROR("node", "HTTPS: cannot use the certificates: %s", kv_strerror(rc));
        return rc;
    }
    hc->tls_host = c->https_host;
    hc->tls_port = c->https_port;
    hc->tls_ctx = tls_api_ctx;
    hc->tls_ctx_arg = n->https;
    hc->tls_handshake_timeout_ms = c->https_handshake_timeout_ms;
    return 0;
}

static int open_parts(node_t *n, int *token_generated)
{
    char path[NODE_PATH_MAX + 8];
    int rc;
    if ((rc = mkdir_p(n->cfg.data_dir)) != 0) {
        KV_LOG_ERROR("node", "cannot create %s: %s", n->cfg.data_dir, kv_strerror(rc));
        return rc;
    }
    snprintf(path, sizeof path, "%s/db", n->cfg.data_dir);
    n->cfg.storage.path = path;
    if ((rc = stor_open(&n->cfg.storage, &n->store)) != 0) {
        KV_LOG_ERROR("node", "cannot open storage at %s: %s", path, kv_strerror(rc));
        return rc;
    }
    n->cfg.storage.path = NULL;
    if ((rc = state_upgrade(n->store, NULL)) != 0) {
        KV_LOG_ERROR("node", "converting the stored state: %s", kv_strerror(rc));
        return rc;
    }
    if ((rc = node_identity(n)) != 0 || (rc = node_tokens(n, token_generated)) != 0) {
        KV_LOG_ERROR("node", "identity or tokens: %s", kv_strerror(rc));
        return rc;
    }
    if ((rc = cache_create(n->cfg.cache_bytes, &n->cache)) != 0 ||
        (rc = kvops_create(n->store, n->cache, &n->ops)) != 0 ||
        (rc = metrics_create(n->cfg.http_threads, &n->metrics)) != 0)
        return rc;
    if ((rc = tokens_reload(n->store, n->auth)) != 0)
        return rc;
    n->app.ops = n->ops;
    n->app.auth = n->auth;
    n->app.metrics = n->metrics;
    n->app.account_id = n->account;
    n->app.start_ns = uv_hrtime();
    return 0;
}

/* /metrics' gauges of the host: the data directory's file system and the
 * expiry of every certificate file the node reads. */
_Static_assert(HOSTGAUGES_CERTS_MAX >= 2 + TLS_API_PAIRS_MAX + 1,
               "the CA, the node certificate, every HTTPS pair and the client CA");
static int start_hostgauges(node_t *n)
{
    const node_config_t *c = &n->cfg;
    char paths[2][NODE_PATH_MAX + 80], certs[NODE_PATH_MAX];
    char *cert_v[TLS_API_PAIRS_MAX];
    hostgauges_cert_t hc[HOSTGAUGES_CERTS_MAX];
    size_t k = 0;
    if (c->certs_dir[0]) {
        snprintf(paths[0], sizeof paths[0], "%s/ca.crt", c->certs_dir);
        snprintf(paths[1], sizeof paths[1], "%s/%s.crt", c->certs_dir, c->name);
        hc[k++] = (hostgauges_cert_t){.path = paths[0], .use = "ca"};
        hc[k++] = (hostgauges_cert_t){.path = paths[1], .use = "replication"};
    }
    if (c->https_host[0]) {
        memcpy(certs, c->https_cert, sizeof certs);
        size_t nc = split_list(certs, cert_v, TLS_API_PAIRS_MAX);
        for (size_t i = 0; i < nc && i < TLS_API_PAIRS_MAX; i++)
            hc[k++] = (hostgauges_cert_t){.path = cert_v[i], .use = "https"};
        if (c->https_client_ca[0])
            hc[k++] = (hostgauges_cert_t){.path = c->https_client_ca, .use = "https_client_ca"};
    }
    int rc = hostgauges_create(c->data_dir, hc, k, &n->host);
    n->app.host = n->host;
    return rc;
}

static void close_parts(node_t *n)
{
    kvops_destroy(n->ops);
    cache_destroy(n->cache);
    stor_close(n->store);
    auth_destroy(n->auth);
    metrics_destroy(n->metrics);
    hostgauges_destroy(n->host);
    node_config_free(&n->cfg);
}

static void banner(node_t *n, int token_generated)
{
    int port = http_server_port(n->http);
    printf("edgekv %s %s: node %08x serving http://%s:%d (account %s, %u loops, sync %s)\n",
           n->app.role, EDGEKV_VERSION, n->app.node_id, n->cfg.listen_host, port, n->account,
           n->cfg.http_threads, stor_sync_name(n->cfg.storage.sync));
    if (n->default_token[0])
        printf("  token (%s): %s\n", token_generated ? "generated" : "kept in data dir",
               n->default_token);
    else
        printf("  tokens: %zu from the configuration\n", auth_count(n->auth));
    printf("  REST base: http://%s:%d/client/v4   env file: %s/edgekv.env\n", n->cfg.listen_host,
           port, n->cfg.data_dir);
    if (n->https)
        printf("  HTTPS: serving https://%s:%d (REST base https://%s:%d/client/v4%s)\n",
               n->cfg.https_host, http_server_tls_port(n->http), n->cfg.https_host,
               http_server_tls_port(n->http),
               n->cfg.https_client_ca[0] ? "; client certificates required" : "");
    if (n->app.replica && strcmp(n->app.role, "edge") != 0)
        printf("  replication: listening on %s:%d (mutual TLS, certs %s)\n", n->cfg.repl_host,
               replica_port(n->replica), n->cfg.certs_dir);
    if (n->app.replica && strcmp(n->app.role, "origin") != 0) {
        printf("  replication: upstream");
        for (size_t i = 0; i < n->cfg.upstream_count; i++)
            printf("%s%s:%d", i ? "," : " ", n->cfg.upstream_hosts[i], n->cfg.upstream_ports[i]);
        if (n->cfg.upstream_count == 0)
            printf(" %s:%d", n->cfg.origin_host, n->cfg.origin_port);
        printf(" (mutual TLS as %s, bound %llu ms%s)\n", n->cfg.name,
               (unsigned long long)n->cfg.propagation_bound_ms,
               n->cfg.strict_staleness ? ", strict" : "");
    }
    fflush(stdout);
}

/* A node allocates and frees buffers of up to a few MiB all the time
 * (frames, snapshot chunks, commit arrays). glibc's defaults hand such
 * memory back to the kernel (munmap, heap trim) and fault it in again on
 * the next use, which cost a catching-up edge a fifth of its CPU. Keep it:
 * the heap may hold up to NODE_MALLOC_TRIM_BYTES unused before trimming. */
#define NODE_MALLOC_MMAP_BYTES (32 * 1024 * 1024) /* glibc's largest */
#define NODE_MALLOC_TRIM_BYTES (256 * 1024 * 1024)
#define NODE_MALLOC_PAD_BYTES  (16 * 1024 * 1024)

static void node_malloc_tune(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, NODE_MALLOC_MMAP_BYTES);
    mallopt(M_TRIM_THRESHOLD, NODE_MALLOC_TRIM_BYTES);
    mallopt(M_TOP_PAD, NODE_MALLOC_PAD_BYTES);
#endif
}

static int run_node(const char *role, int argc, char **argv)
{
    node_t n = {.argc = argc, .argv = argv};
    char err[512], threads[16];
    int rc, gen = 0;
    http_config_t hc = {0};

    node_malloc_tune();
    node_config_defaults(&n.cfg, role);
    rc = node_config_parse(&n.cfg, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc > 0)
            node_config_usage(stdout, role);
        else
            fprintf(stderr, "edgekv %s: %s\n", role, err);
        node_config_free(&n.cfg);
        return rc > 0 ? 0 : 2;
    }
    kv_log_set_level(n.cfg.log_level);
    snprintf(threads, sizeof threads, "%u", n.cfg.write_threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1); /* before the first uv_queue_work */
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(&n.cfg); /* before RocksDB opens a file */
    n.app.role = role;
    if ((rc = open_parts(&n, &gen)) != 0) {
        close_parts(&n);
        return 1;
    }
    if ((rc = node_start_replica(&n)) != 0) {
        KV_LOG_ERROR("node", "replication: %s", kv_strerror(rc));
        close_parts(&n);
        return 1;
    }
    if ((rc = start_hostgauges(&n)) != 0) {
        replica_stop(n.replica);
        close_parts(&n);
        return 1;
    }
    hc.host = n.cfg.listen_host;
    hc.port = n.cfg.listen_port;
    hc.loops = n.cfg.http_threads;
    hc.body_budget_bytes = n.cfg.http_body_budget_bytes;
    hc.handler = app_http_handler(&n.app);
    if ((rc = start_https(&n, &hc)) != 0 || (rc = http_server_start(&hc, &n.http)) != 0) {
        if (rc != KV_ECONFIG)
            KV_LOG_ERROR("node", "cannot listen on %s:%d%s%s: %s", hc.host, hc.port,
                         hc.tls_ctx ? " and " : "", hc.tls_ctx ? hc.tls_host : "", kv_strerror(rc));
        replica_stop(n.replica);
        tls_api_free(n.https);
        close_parts(&n);
        return 1;
    }
    n.app.http = n.http;
    write_env_file(&n);
    banner(&n, gen);

    uv_loop_t *loop = uv_default_loop();
    node_signals_start(&n, loop);
    if (ready_start(loop, &n.app, n.cfg.ready_wait_ms, &n.ready) != 0)
        KV_LOG_WARN("node", "systemd notification: out of memory; READY=1 not sent");
    uv_run(loop, UV_RUN_DEFAULT);                   /* returns once the drain closed every handle */
    http_server_stop(n.http, KV_SHUTDOWN_GRACE_MS); /* in-flight writes finish first */
    tls_api_free(n.https);                          /* after its last connection */
    replica_stop(n.replica);
    uv_loop_close(loop);
    close_parts(&n);
    KV_LOG_INFO("node", "stopped cleanly");
    return 0;
}

static void usage(void)
{
    printf("edgekv %s - a self-hosted, geo-distributed Workers KV\n\n"
           "usage: edgekv <command> [options]\n\n"
           "commands:\n"
           "  origin     run the origin node (REST API, binding protocol, storage; with\n"
           "             --certs it also orders and pushes writes to edges)\n"
           "  edge       run an edge node replicating from an origin (or relays) over\n"
           "             mutual TLS\n"
           "  relay      run a relay: follows the origin (or a relay) like an edge and\n"
           "             serves edges and relays like an origin\n"
           "  dev        run a whole local cluster: one origin and N edges (default 3)\n"
           "  certs      create the cluster CA and node certificates\n"
           "  compact    compact a stopped node's store now (drops expired records)\n"
           "  backup     a consistent checkpoint of a node (live over HTTP, or stopped)\n"
           "  restore    install a backup as a new data directory's store\n"
           "  kv         Workers KV from the command line (namespace, key, bulk), like\n"
           "             `wrangler kv`, against any node\n"
           "  ha         origin leadership in etcd: `ha status` shows the leader and its\n"
           "             term, `ha campaign` runs a bare candidate\n"
           "  config-table\n"
           "             print every option of origin, edge and relay as a markdown table (the\n"
           "             one in README.md)\n"
           "  version    print the version\n"
           "  help       this text\n\n"
           "`edgekv <command> --help` lists the options of a command.\n",
           EDGEKV_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("edgekv %s\n", EDGEKV_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "origin") == 0 || strcmp(argv[1], "edge") == 0 ||
        strcmp(argv[1], "relay") == 0)
        return run_node(argv[1], argc - 2, argv + 2);
    if (strcmp(argv[1], "certs") == 0)
        return certs_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "dev") == 0)
        return dev_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "kv") == 0)
        return cli_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "ha") == 0)
        return ha_cli_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "config-table") == 0) {
        if (argc != 2) {
            fprintf(stderr, "usage: edgekv config-table\n");
            return 2;
        }
        node_config_table(stdout);
        return 0;
    }
    if (strcmp(argv[1], "compact") == 0)
        return compact_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "backup") == 0)
        return backup_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "restore") == 0)
        return restore_main(argc - 2, argv + 2);
    fprintf(stderr, "edgekv: unknown command '%s' (see edgekv help)\n", argv[1]);
    return 2;
}
