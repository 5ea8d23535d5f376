/*
 * config.c - the node's options: defaults, the option table, and the JSON
 * file and flag parsers it drives.
 *
 * Each option is declared once, in config__opts: its flag, its JSON key,
 * the field of node_config_t it sets (its C type checked at compile time),
 * the roles it matters to, its limits and its help text. Flags and file keys
 * go through the same setters (set_text, set_uint), so they accept the same
 * values and say the same things about bad ones. --help and README.md's
 * table are printed from the same table by config_doc.c. Not here: what the
 * options do (main.c, replica.c).
 */
#include "config.h"
#include "config_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_limits.h"
#include "kv_mem.h"
#include "replica.h"
#include "tls_api.h"

#define DEFAULT_PORT_ORIGIN 8788
#define DEFAULT_PORT_EDGE   8787
#define DEFAULT_PORT_RELAY  8789
/* A relay's replication port: beside an origin's on one host. */
#define DEFAULT_PORT_REPL_RELAY (REPLICA_DEFAULT_PORT + 1)
#define DEFAULT_PORT_REPL       REPLICA_DEFAULT_PORT
#define DEFAULT_WRITE_THREADS   64

void node_config_defaults(node_config_t *c, const char *role)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    bool edge = strcmp(role, "edge") == 0, relay = strcmp(role, "relay") == 0;
    c->listen_port = edge ? DEFAULT_PORT_EDGE : relay ? DEFAULT_PORT_RELAY : DEFAULT_PORT_ORIGIN;
    snprintf(c->data_dir, sizeof c->data_dir, "./data/%s", role);
    snprintf(c->repl_host, sizeof c->repl_host, "0.0.0.0");
    c->repl_port = relay ? DEFAULT_PORT_REPL_RELAY : DEFAULT_PORT_REPL;
    snprintf(c->origin_host, sizeof c->origin_host, "127.0.0.1");
    c->origin_port = DEFAULT_PORT_REPL;
    snprintf(c->name, sizeof c->name, "%s", role);
    /* The replication defaults have one home, the core's *_config_default,
     * which replica_config_defaults copies. */
    replica_config_t rd;
    replica_config_defaults(&rd, edge ? REPLICA_EDGE : relay ? REPLICA_RELAY : REPLICA_ORIGIN);
    c->propagation_bound_ms = rd.propagation_bound_ms;
    c->heartbeat_interval_ms = rd.heartbeat_interval_ms;
    c->max_clock_offset_ms = rd.max_clock_offset_ms;
    c->write_timeout_ms = rd.write_timeout_ms;
    c->log_retention = rd.log_retention;
    c->log_retention_max = rd.log_retention_max;
    c->repl_handshake_timeout_ms = rd.accept_handshake_timeout_ms;
    c->http_threads = ncpu > 0 ? (unsigned)ncpu : 1;
    c->write_threads = DEFAULT_WRITE_THREADS;
    c->cache_bytes = KV_CACHE_DEFAULT_BYTES;
    c->http_body_budget_bytes = KV_HTTP_BODY_BUDGET_DEFAULT_BYTES;
    stor_options_default(&c->storage);
    c->log_level = KV_LOG_INFO;
    c->metrics_public = true;
    c->https_handshake_timeout_ms = KV_HTTP_TLS_HANDSHAKE_TIMEOUT_MS;
    c->https_ticket_rotate_s = TLS_API_TICKET_ROTATE_S_DEFAULT;
    c->ready_wait_ms = NODE_READY_WAIT_MS_DEFAULT;
    c->drain_ms = NODE_DRAIN_MS_DEFAULT;
    snprintf(c->ha_cluster, sizeof c->ha_cluster, "edgekv");
    c->ha_lease_ms = KV_HA_LEASE_MS_DEFAULT;
    c->ha_sync_standbys = 1; /* named in etcd: only they may take over (ha_sync.h) */
    /* An edge's data is a replica of the origin's durable log: after a crash
     * it resumes from the last applied sequence that reached its disk, so a
     * write it acknowledged (durable at the origin first) is never lost. It
     * need not fsync every apply: batch is its default. So is a relay's:
     * its log holds the origin's sequence numbers and versions, and an edge
     * that is ahead of a relay restarted without its last applies waits
     * for the relay to catch up (replication/repl.h, "The relay"). */
    if (edge || relay)
        c->storage.sync = STOR_SYNC_BATCH;
}

/* ---- the option table ------------------------------------------------------------ */

/* 0, or a compile-time error unless node_config_t's field f has type T. */
#define CFG_IS(f, T)                                                                               \
    (0 * sizeof(struct {                                                                           \
         _Static_assert(_Generic(((node_config_t *)0)->f, T : 1, default : 0),                     \
                        "node_config_t." #f " is not " #T);                                        \
         char c;                                                                                   \
     }))
#define CFG_FIELD(f, T)                                                                            \
    .off = offsetof(node_config_t, f) + CFG_IS(f, T), .size = sizeof(((node_config_t *)0)->f)

#define U32(f, min, max)  .kind = OPT_U32, CFG_FIELD(f, unsigned), .lo = (min), .hi = (max)
#define SIZE(f, min, max) .kind = OPT_SIZE, CFG_FIELD(f, size_t), .lo = (min), .hi = (max)
#define U64(f, min, max)  .kind = OPT_U64, CFG_FIELD(f, uint64_t), .lo = (min), .hi = (max)
#define I64(f, min, max)  .kind = OPT_I64, CFG_FIELD(f, int64_t), .lo = (min), .hi = (max)
#define BOOL(f)           .kind = OPT_BOOL, CFG_FIELD(f, bool)
#define STR(f, min)       .kind = OPT_STR, CFG_FIELD(f, char *), .lo = (min)
/* Enums are set through an int: the field must be one. */
#define ENUM(f, T, fn)                                                                             \
    .kind = OPT_ENUM, CFG_FIELD(f, T), .name = (fn),                                               \
    .lo = 0 * sizeof(struct {                                                                      \
              _Static_assert(sizeof(T) == sizeof(int), #T " is not int-sized");                    \
              char c;                                                                              \
          })
#define ADDR(h, p)                                                                                 \
    .kind = OPT_ADDR, CFG_FIELD(h, char *), .port_off = offsetof(node_config_t, p) + CFG_IS(p, int)

static const char *sync_name(int v)
{
    return v >= 0 && v <= STOR_SYNC_OFF ? stor_sync_name((stor_sync_t)v) : NULL;
}

static const char *level_name(int v)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    return v >= 0 && v <= KV_LOG_ERROR ? names[v] : NULL;
}

/* In README order. Flag-only and key-only options say why in their help. */
const node_opt_t config__opts[] = {
    {"--config", "FILE", NULL, .kind = OPT_CONFIG, .roles = OPT_ALL, .dflt_text = "none",
     .help = "a JSON object of the file keys listed here; flags override it"},
    {"--listen", "HOST:PORT", "listen", ADDR(listen_host, listen_port), .roles = OPT_ALL,
     .help = "API address (port 0 picks a free one)"},
    {"--data", "DIR", "data_dir", STR(data_dir, 1), .roles = OPT_ALL,
     .help = "data directory (RocksDB in DIR/db)"},
    {"--threads", "N", "http_threads", U32(http_threads, 1, KV_HTTP_MAX_LOOPS), .roles = OPT_ALL,
     .dflt_text = "one per CPU", .help = "HTTP event loops, one thread each, SO_REUSEPORT"},
    {"--write-threads", "N", "write_threads", U32(write_threads, 1, 1024), .roles = OPT_ALL,
     .help = "libuv threadpool threads: bulk bodies are parsed there, and namespace and token "
             "writes wait there for their commit (value writes wait on no thread)"},
    {"--cache-bytes", "N", "cache_bytes", SIZE(cache_bytes, 0, 1ULL << 40), .roles = OPT_ALL,
     .help = "read cache size in bytes; 0 disables it"},
    {NULL, NULL, "http_body_budget_bytes",
     SIZE(http_body_budget_bytes, KV_HTTP_BODY_BUDGET_MIN_BYTES, 1ULL << 40), .roles = OPT_ALL,
     .help = "request body bytes held at once by all connections; a body over what is left gets "
             "503 with Retry-After, unread (see \"Security and limits\" in README.md)"},
    {"--sync", "MODE", "sync", ENUM(storage.sync, stor_sync_t, sync_name), .roles = OPT_ALL,
     .help = "WAL sync policy (see \"WAL sync policy\" in README.md)"},
    {NULL, NULL, "sync_interval_ms", U32(storage.sync_interval_ms, 1, 60000), .roles = OPT_ALL,
     .help = "fsync period when sync is batch"},
    {"--node-id", "N", "node_id", U32(node_id, 1, UINT32_MAX), .roles = OPT_ALL,
     .dflt_text = "generated, kept in the data directory", .help = "tie-break id in every version"},
    {"--account", "ID", "account_id", STR(account_id, 1), .roles = OPT_ALL,
     .dflt_text = "generated, kept in the data directory",
     .help = "the account of the generated token and of --token tokens"},
    {"--token", "SECRET", "tokens", .kind = OPT_TOKENS, .roles = OPT_ALL,
     .dflt_text = "one generated, kept in the data directory",
     .help = "API tokens: the flag (repeatable) adds a read+write token of the account; the "
             "file key is a list of scoped tokens (see \"Tokens\" in README.md)"},
    {"--log-level", "LEVEL", "log_level", ENUM(log_level, kv_log_level_t, level_name),
     .roles = OPT_ALL, .help = "the least severe log lines written to stderr"},
    {"--metrics-public", "true|false", "metrics_public", BOOL(metrics_public), .roles = OPT_ALL,
     .help = "serve /metrics without a token (counters and gauges, no keys or values); false "
             "asks for an operator token, as /status and /digest always do (see \"Security and "
             "limits\" in README.md)"},
    {NULL, NULL, "block_cache_bytes", SIZE(storage.block_cache_bytes, 1 << 20, 1ULL << 40),
     .roles = OPT_ALL, .help = "RocksDB block cache"},
    {NULL, NULL, "write_buffer_bytes", SIZE(storage.write_buffer_bytes, 1 << 20, 1ULL << 34),
     .roles = OPT_ALL, .help = "RocksDB memtable size"},
    {NULL, NULL, "blob_min_bytes", SIZE(storage.blob_min_bytes, 0, KV_VALUE_MAX_BYTES),
     .roles = OPT_ALL, .help = "values at least this large go to RocksDB blob files"},
    {NULL, NULL, "max_open_files",
     U32(storage.max_open_files, KV_STOR_MAX_OPEN_FILES_MIN, 1u << 20), .roles = OPT_ALL,
     .help = "RocksDB files kept open at once; the node raises RLIMIT_NOFILE to its hard limit "
             "and warns when connections, replication links and these do not fit in it"},
    {NULL, NULL, "compression", BOOL(storage.compression), .roles = OPT_ALL,
     .help = "LZ4 for SST and blob files"},
    {NULL, NULL, "tombstone_retention_s", I64(storage.tombstone_retention_s, 60, 1ULL << 32),
     .roles = OPT_ALL, .help = "compaction may drop older tombstones"},
    {"--certs", "DIR", "certs_dir", STR(certs_dir, 0), .roles = OPT_ALL, .dflt_text = "none",
     .help = "cluster certificates (ca.crt, NAME.crt, NAME.key); an edge needs them, an origin "
             "without them runs alone with replication off"},
    {"--name", "NAME", "name", STR(name, 1), .roles = OPT_ALL,
     .help = "this node's certificate name: DIR/NAME.crt and DIR/NAME.key"},
    {"--repl-listen", "HOST:PORT", "repl_listen", ADDR(repl_host, repl_port), .roles = OPT_DOWN,
     .help = "where edges (and relays) connect"},
    {"--origin", "HOST:PORT", "origin", ADDR(origin_host, origin_port), .roles = OPT_UP,
     .help = "the origin's replication address, the upstream when --upstream is not given; HOST "
             "may be a name (looked up before every connect; the upstream's certificate must "
             "carry it)"},
    {"--upstream", "HOST:PORT[,HOST:PORT...]", "upstreams", .kind = OPT_ADDRS, .roles = OPT_UP,
     .dflt_text = "--origin",
     .help = "upstreams to follow (the origin, relays), tried in turn: on a failed connect or a "
             "lost link the next one, after backoff; the link resumes by sequence wherever the "
             "new upstream's log allows (see \"Topology\" in README.md)"},
    {"--propagation-bound-ms", "N", "propagation_bound_ms", U64(propagation_bound_ms, 10, 3600000),
     .roles = OPT_UP, .help = "stale N ms after it was last caught up with the origin"},
    {"--strict-staleness", "true|false", "strict_staleness", BOOL(strict_staleness),
     .roles = OPT_UP, .help = "refuse reads with 503 while stale"},
    {"--heartbeat-ms", "N", "heartbeat_interval_ms", U64(heartbeat_interval_ms, 5, 600000),
     .roles = OPT_DOWN, .help = "heartbeat interval (each echoes the edge's latest probe)"},
    {NULL, NULL, "max_clock_offset_ms", U64(max_clock_offset_ms, 0, 3600000), .roles = OPT_ORIGIN,
     .help = "refuse writer clock hints further ahead of the origin's clock"},
    {"--ready-wait-ms", "N", "ready_wait_ms", U64(ready_wait_ms, 0, 3600000), .roles = OPT_UP,
     .help = "under systemd (Type=notify): READY=1 once the link to the origin is live and "
             "fresh, or after this wait anyway (0: at once); GET /readyz still says which"},
    {"--drain-ms", "N", "drain_ms", U64(drain_ms, 0, NODE_DRAIN_MS_MAX), .roles = OPT_ALL,
     .help = "on SIGTERM/SIGINT: /readyz answers 503 \"draining\" and the node keeps serving "
             "this long before it stops accepting (0: stop at once; a second signal ends the "
             "drain). See \"Graceful drain\" in README.md"},
    {"--write-timeout-ms", "N", "write_timeout_ms", U64(write_timeout_ms, 100, 3600000),
     .roles = OPT_ALL,
     .help = "how long a forwarded write may wait (an HA leader: for its standbys' acks, "
             "then 503)"},
    {"--etcd", "URL[,URL...]", "etcd", STR(etcd, 0), .roles = OPT_ORIGIN, .dflt_text = "off",
     .help = "etcd members (http://HOST:PORT): this origin is a candidate for leadership and "
             "follows the leader as a standby until it wins (see \"Topology\" in README.md)"},
    {"--ha-cluster", "NAME", "ha_cluster", STR(ha_cluster, 1), .roles = OPT_ORIGIN,
     .help = "with --etcd: the cluster the candidates campaign in (/edgekv/NAME/leader)"},
    {"--ha-name", "NAME", "ha_name", STR(ha_name, 0), .roles = OPT_ORIGIN, .dflt_text = "--name",
     .help = "with --etcd: this candidate's name in etcd"},
    {"--ha-address", "HOST:PORT", "ha_address", STR(ha_address, 0), .roles = OPT_ORIGIN,
     .dflt_text = "the --repl-listen address",
     .help = "with --etcd: the replication address standbys dial when this candidate leads"},
    {"--ha-lease-ms", "N", "ha_lease_ms", U64(ha_lease_ms, KV_HA_LEASE_MS_MIN, KV_HA_LEASE_MS_MAX),
     .roles = OPT_ORIGIN,
     .help = "with --etcd: the leader's lease; it stops acknowledging writes when it runs out"},
    {"--ha-sync-standbys", "N", "ha_sync_standbys",
     SIZE(ha_sync_standbys, 0, KV_REPL_SYNC_STANDBYS_MAX), .roles = OPT_ORIGIN,
     .help = "with --etcd: standbys that must have made a write durable before the leader "
             "acknowledges it; the leader names them in etcd, and only a candidate it named "
             "(or the leader itself) may take over"},
    {"--log-retention", "N", "log_retention", U64(log_retention, 1, 1ULL << 40), .roles = OPT_DOWN,
     .help = "log entries always kept"},
    {"--log-retention-max", "N", "log_retention_max", U64(log_retention_max, 1, 1ULL << 40),
     .roles = OPT_DOWN,
     .help = "most log entries kept for a lagging edge; an edge further behind takes a snapshot"},
    {"--repl-handshake-timeout-ms", "N", "repl_handshake_timeout_ms",
     U64(repl_handshake_timeout_ms, 100, 600000), .roles = OPT_DOWN,
     .help = "a connection to the replication port whose TLS handshake is not done this long "
             "after it was accepted is closed"},
    {"--https-listen", "HOST:PORT", "https_listen", ADDR(https_host, https_port), .roles = OPT_ALL,
     .dflt_text = "off",
     .help = "also serve the API over HTTPS here (port 0 picks a free one); needs --https-cert "
             "and --https-key (see \"HTTPS\" in README.md)"},
    {"--https-cert", "FILE[,FILE]", "https_cert", STR(https_cert, 0), .roles = OPT_ALL,
     .dflt_text = "none",
     .help = "PEM server certificate, its chain after it; several (comma-separated) are chosen "
             "by the client's SNI name, the first is the default; reloaded on SIGHUP"},
    {"--https-key", "FILE[,FILE]", "https_key", STR(https_key, 0), .roles = OPT_ALL,
     .dflt_text = "none", .help = "PEM private keys of --https-cert, in the same order"},
    {"--https-client-ca", "FILE", "https_client_ca", STR(https_client_ca, 0), .roles = OPT_ALL,
     .dflt_text = "none",
     .help = "require HTTPS clients to present a certificate from this CA (mutual TLS), on top "
             "of their token"},
    {"--https-handshake-timeout-ms", "N", "https_handshake_timeout_ms",
     U32(https_handshake_timeout_ms, 100, 600000), .roles = OPT_ALL,
     .help = "a TLS handshake not done this long after the connection was accepted is cut"},
    {NULL, NULL, "https_ticket_rotate_s", U32(https_ticket_rotate_s, 60, 7 * 24 * 3600),
     .roles = OPT_ALL,
     .help = "session ticket keys are replaced this often; a ticket lives two periods"},
    {"--new-history", "true|false", NULL, BOOL(new_history), .roles = OPT_ORIGIN,
     .help = "start a new history after restoring a backup, so edges refuse it instead of "
             "resuming onto other data (a flag only: it is for one start, never for a file)"},
};

const size_t config__opt_count = sizeof config__opts / sizeof config__opts[0];

/* ---- setting values ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static void *field(node_config_t *c, const node_opt_t *o)
{
    return (char *)c + o->off;
}

const void *config__field(const node_config_t *c, const node_opt_t *o)
{
    return (const char *)c + o->off;
}

/* A number already checked against [lo, hi], which every field's type holds. */
static void set_uint(node_config_t *c, const node_opt_t *o, unsigned long long x)
{
    if (o->kind == OPT_U32)
        *(unsigned *)field(c, o) = (unsigned)x;
    else if (o->kind == OPT_SIZE)
        *(size_t *)field(c, o) = (size_t)x;
    else if (o->kind == OPT_U64)
        *(uint64_t *)field(c, o) = x;
    else
        *(int64_t *)field(c, o) = (int64_t)x;
}

unsigned long long config__get_uint(const node_config_t *c, const node_opt_t *o)
{
    if (o->kind == OPT_U32)
        return *(const unsigned *)config__field(c, o);
    if (o->kind == OPT_SIZE)
        return *(const size_t *)config__field(c, o);
    if (o->kind == OPT_U64)
        return *(const uint64_t *)config__field(c, o);
    return (unsigned long long)*(const int64_t *)config__field(c, o);
}

bool config__is_number(const node_opt_t *o)
{
    return o->kind == OPT_U32 || o->kind == OPT_SIZE || o->kind == OPT_U64 || o->kind == OPT_I64;
}

/* The enum's names joined by sep ("always|batch|off"). */
const char *config__choices(const node_opt_t *o, const char *sep, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int v = 0; o->name(v) && len < n; v++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", v ? sep : "", o->name(v));
    return buf;
}

static int parse_hostport(const char *what, const char *v, char *host, int *port_out, char *err,
                          size_t n)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;
    if (!colon || colon == v || (size_t)(colon - v) >= NODE_HOST_MAX)
        return errf(err, n, "%s: expected HOST:PORT, got '%s'", what, v);
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return errf(err, n, "%s: bad port in '%s'", what, v);
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    *port_out = (int)port;
    return 0;
}

/* The upstream list: HOST:PORT items separated by commas (replaces any
 * list given before). */
static int parse_addrs(node_config_t *c, const char *what, const char *v, char *err, size_t n)
{
    char item[NODE_HOST_MAX + 8];
    size_t count = 0;
    for (const char *p = v;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item)
            return errf(err, n, "%s: expected HOST:PORT[,HOST:PORT...], got '%s'", what, v);
        if (count == NODE_UPSTREAMS_MAX)
            return errf(err, n, "%s: at most %d upstreams", what, NODE_UPSTREAMS_MAX);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_hostport(what, item, c->upstream_hosts[count], &c->upstream_ports[count], err,
                           n) != 0)
            return -1;
        count++;
        p += len;
        if (!*p)
            break;
    }
    c->upstream_count = count;
    return 0;
}

static int parse_uint(const char *v, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno || *end || end == v || v[0] == '-' ? -1 : 0;
}

static int add_token(node_config_t *c, const auth_token_t *t)
{
    auth_token_t *n = kv_realloc(c->tokens, (c->token_count + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    c->tokens = n;
    c->tokens[c->token_count++] = *t;
    return 0;
}

/* The one setter of a textual value, from a flag or a JSON string. `name`
 * is what error messages call the option: the flag or the key. */
static int set_text(node_config_t *c, const node_opt_t *o, const char *name, const char *v,
                    char *err, size_t n)
{
    char buf[128];
    unsigned long long x;
    size_t len = strlen(v);
    switch (o->kind) {
    case OPT_ADDR:
        return parse_hostport(name, v, field(c, o), (int *)((char *)c + o->port_off), err, n);
    case OPT_ADDRS:
        return parse_addrs(c, name, v, err, n);
    case OPT_STR:
        if (len < o->lo || len >= o->size)
            return o->lo ? errf(err, n, "%s: %llu..%zu characters, got '%s'", name, o->lo,
                                o->size - 1, v)
                         : errf(err, n, "%s: at most %zu characters", name, o->size - 1);
        memcpy(field(c, o), v, len + 1);
        return 0;
    case OPT_ENUM:
        for (int i = 0; o->name(i); i++)
            if (strcmp(v, o->name(i)) == 0) {
                memcpy(field(c, o), &i, sizeof i);
                return 0;
            }
        return errf(err, n, "%s: expected %s, got '%s'", name,
                    config__choices(o, "|", buf, sizeof buf), v);
    case OPT_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false"))
            return errf(err, n, "%s: true or false, got '%s'", name, v);
        *(bool *)field(c, o) = strcmp(v, "true") == 0;
        return 0;
    case OPT_TOKENS: {
        auth_token_t t = {.name = "flag", .token = v, .account = NULL, .write = true};
        return add_token(c, &t) == 0 ? 0 : errf(err, n, "%s: out of memory", name);
    }
    case OPT_CONFIG:
        return 0; /* read by node_config_parse before every other flag */
    default:
        if (parse_uint(v, &x) != 0 || x < o->lo || x > o->hi)
            return errf(err, n, "%s: bad number '%s' (expected an integer in [%llu, %llu])", name,
                        v, o->lo, o->hi);
        set_uint(c, o, x);
        return 0;
    }
}

/* {"token": "...", "account": "...", "name": "...", "namespaces": "*" | [ids],
 *  "access": "read" | "write"}; any other key is a typo and refused. */
static int load_token(node_config_t *c, json_t *t, char *err, size_t n)
{
    static const char *keys[] = {"token", "account", "name", "namespaces", "access"};
    auth_token_t a = {0};
    json_t *ns = json_object_get(t, "namespaces"), *v;
    const char *access = json_string_value(json_object_get(t, "access")), *k;
    json_object_foreach(t, k, v)
    {
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(k, keys[i]) != 0)
            i++;
        if (i == sizeof keys / sizeof keys[0])
            return errf(err, n, "tokens: unknown key '%s'", k);
    }
    a.token = json_string_value(json_object_get(t, "token"));
    a.account = json_string_value(json_object_get(t, "account"));
    a.name = json_string_value(json_object_get(t, "name"));
    if (!a.token || !a.account)
        return errf(err, n, "tokens: each needs \"token\" and \"account\" strings");
    if (!access || strcmp(access, "write") == 0)
        a.write = true;
    else if (strcmp(access, "read") != 0)
        return errf(err, n, "tokens: access must be \"read\" or \"write\", got '%s'", access);
    if (json_is_array(ns)) {
        size_t i, count = json_array_size(ns);
        const char **ids = kv_calloc(count ? count : 1, sizeof *ids);
        if (!ids)
            return errf(err, n, "tokens: out of memory");
        for (i = 0; i < count; i++)
            if (!(ids[i] = json_string_value(json_array_get(ns, i)))) {
                kv_free(ids);
                return errf(err, n, "tokens: namespaces must be strings");
            }
        a.namespaces = ids;
        a.namespace_count = count;
    } else if (ns && !(json_is_string(ns) && strcmp(json_string_value(ns), "*") == 0)) {
        return errf(err, n, "tokens: namespaces must be \"*\" or an array of ids");
    }
    if (add_token(c, &a) != 0) {
        kv_free((void *)a.namespaces);
        return errf(err, n, "tokens: out of memory");
    }
    return 0;
}

/* A JSON value: numbers and booleans by their JSON type, every other kind
 * as a string through set_text. */
static int set_json(node_config_t *c, const node_opt_t *o, json_t *v, char *err, size_t n)
{
    const char *key = o->key;
    if (config__is_number(o)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (unsigned long long)json_integer_value(v) < o->lo ||
            (unsigned long long)json_integer_value(v) > o->hi)
            return errf(err, n, "%s: expected an integer in [%llu, %llu]", key, o->lo, o->hi);
        set_uint(c, o, (unsigned long long)json_integer_value(v));
        return 0;
    }
    if (o->kind == OPT_BOOL) {
        if (!json_is_boolean(v))
            return errf(err, n, "%s: expected true or false", key);
        *(bool *)field(c, o) = json_is_true(v);
        return 0;
    }
    if (o->kind == OPT_TOKENS) {
        if (!json_is_array(v))
            return errf(err, n, "%s: expected an array of tokens", key);
        for (size_t i = 0; i < json_array_size(v); i++)
            if (load_token(c, json_array_get(v, i), err, n) != 0)
                return -1;
        return 0;
    }
    if (!json_is_string(v))
        return errf(err, n, "%s: expected a string", key);
    return set_text(c, o, key, json_string_value(v), err, n);
}

static const node_opt_t *opt_by_key(const char *key)
{
    for (size_t i = 0; i < config__opt_count; i++)
        if (config__opts[i].key && strcmp(config__opts[i].key, key) == 0)
            return &config__opts[i];
    return NULL;
}

static const node_opt_t *opt_by_flag(const char *flag)
{
    for (size_t i = 0; i < config__opt_count; i++)
        if (config__opts[i].flag && strcmp(config__opts[i].flag, flag) == 0)
            return &config__opts[i];
    return NULL;
}

int node_config_load_file(node_config_t *c, const char *path, char *err, size_t n)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *v;
    const char *key;
    if (!root)
        return errf(err, n, "%s:%d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return errf(err, n, "%s: the configuration must be a JSON object", path);
    }
    /* Every file read stays alive: tokens point into its strings. */
    if (!c->json_root && !(c->json_root = json_array())) {
        json_decref(root);
        return errf(err, n, "%s: out of memory", path);
    }
    if (json_array_append_new(c->json_root, root) != 0)
        return errf(err, n, "%s: out of memory", path);
    json_object_foreach(root, key, v)
    {
        const node_opt_t *o = opt_by_key(key);
        if (!o)
            return errf(err, n, "unknown or mistyped configuration key '%s'", key);
        if (set_json(c, o, v, err, n) != 0)
            return -1;
    }
    return 0;
}

/* argv[*i] as a flag and its value ("--f v" or "--f=v"); advances *i. */
static int next_flag(int argc, char **argv, int *i, char *name, size_t cap, const char **v,
                     char *err, size_t n)
{
    const char *f = argv[*i], *eq = strchr(f, '=');
    if (strncmp(f, "--", 2) != 0)
        return errf(err, n, "unexpected argument '%s'", f);
    if (eq) {
        if ((size_t)(eq - f) >= cap)
            return errf(err, n, "unknown option '%.*s' (see --help)", (int)(eq - f), f);
        memcpy(name, f, (size_t)(eq - f));
        name[eq - f] = '\0';
        *v = eq + 1;
    } else {
        if (*i + 1 >= argc)
            return strcmp(f, "--config") == 0 ? errf(err, n, "--config needs a file")
                                              : errf(err, n, "%s needs a value", f);
        snprintf(name, cap, "%s", f);
        *v = argv[++*i];
    }
    ++*i;
    return 0;
}

int node_config_parse(node_config_t *c, int argc, char **argv, char *err, size_t n)
{
    char name[64];
    const char *v;
    int i;
    for (i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    /* The files first, wherever --config appears: flags override them. */
    for (i = 0; i < argc;) {
        if (next_flag(argc, argv, &i, name, sizeof name, &v, err, n) != 0)
            return -1;
        if (strcmp(name, "--config") == 0 && node_config_load_file(c, v, err, n) != 0)
            return -1;
    }
    for (i = 0; i < argc;) {
        const node_opt_t *o;
        if (next_flag(argc, argv, &i, name, sizeof name, &v, err, n) != 0)
            return -1;
        if (!(o = opt_by_flag(name)))
            return errf(err, n, "unknown option '%s' (see --help)", name);
        if (set_text(c, o, name, v, err, n) != 0)
            return -1;
    }
    return 0;
}

void node_config_free(node_config_t *c)
{
    size_t i;
    for (i = 0; i < c->token_count; i++)
        kv_free((void *)c->tokens[i].namespaces);
    kv_free(c->tokens);
    if (c->json_root)
        json_decref(c->json_root);
    c->tokens = NULL;
    c->token_count = 0;
    c->json_root = NULL;
}
