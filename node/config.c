/* config.c - defaults, JSON file and flags of config.h. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_limits.h"
#include "kv_mem.h"
#include "replica.h"

#define DEFAULT_PORT_ORIGIN   8788
#define DEFAULT_PORT_EDGE     8787
#define DEFAULT_PORT_REPL     REPLICA_DEFAULT_PORT
#define DEFAULT_WRITE_THREADS 64

void node_config_defaults(node_config_t *c, const char *role)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = strcmp(role, "edge") == 0 ? DEFAULT_PORT_EDGE : DEFAULT_PORT_ORIGIN;
    snprintf(c->data_dir, sizeof c->data_dir, "./data/%s", role);
    snprintf(c->repl_host, sizeof c->repl_host, "0.0.0.0");
    c->repl_port = DEFAULT_PORT_REPL;
    snprintf(c->origin_host, sizeof c->origin_host, "127.0.0.1");
    c->origin_port = DEFAULT_PORT_REPL;
    snprintf(c->name, sizeof c->name, "%s", role);
    /* The replication defaults have one home: replica_config_defaults. */
    replica_config_t rd;
    replica_config_defaults(&rd, strcmp(role, "edge") == 0 ? REPLICA_EDGE : REPLICA_ORIGIN);
    c->propagation_bound_ms = rd.propagation_bound_ms;
    c->heartbeat_interval_ms = rd.heartbeat_interval_ms;
    c->max_clock_offset_ms = rd.max_clock_offset_ms;
    c->write_timeout_ms = rd.write_timeout_ms;
    c->log_retention = rd.log_retention;
    c->log_retention_max = rd.log_retention_max;
    c->http_threads = ncpu > 0 ? (unsigned)ncpu : 1;
    c->write_threads = DEFAULT_WRITE_THREADS;
    c->cache_bytes = KV_CACHE_DEFAULT_BYTES;
    stor_options_default(&c->storage);
    c->log_level = KV_LOG_INFO;
    /* An edge's data is a replica of the origin's durable log: after a crash
     * it resumes from the last applied sequence that reached its disk, so a
     * write it acknowledged (durable at the origin first) is never lost. It
     * need not fsync every apply: batch is its default. */
    if (strcmp(role, "edge") == 0)
        c->storage.sync = STOR_SYNC_BATCH;
}

static int errf(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(err, n, fmt, a, b ? b : "");
    return -1;
}

static int parse_hostport(const char *what, const char *v, char *host, int *port_out, char *err,
                          size_t n)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;
    if (!colon || colon == v || (size_t)(colon - v) >= NODE_HOST_MAX) {
        snprintf(err, n, "%s: expected HOST:PORT, got '%s'", what, v);
        return -1;
    }
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, n, "%s: bad port in '%s'", what, v);
        return -1;
    }
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    *port_out = (int)port;
    return 0;
}

static int parse_listen(node_config_t *c, const char *v, char *err, size_t n)
{
    return parse_hostport("listen", v, c->listen_host, &c->listen_port, err, n);
}

static int parse_level(const char *v, kv_log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (kv_log_level_t)i;
            return 0;
        }
    return -1;
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

/* {"token": "...", "account": "...", "namespaces": "*" | [ids], "access": "read"|"write"} */
static int load_token(node_config_t *c, json_t *t, char *err, size_t n)
{
    auth_token_t a = {0};
    json_t *ns = json_object_get(t, "namespaces");
    const char *access = json_string_value(json_object_get(t, "access"));
    a.token = json_string_value(json_object_get(t, "token"));
    a.account = json_string_value(json_object_get(t, "account"));
    a.name = json_string_value(json_object_get(t, "name"));
    if (!a.token || !a.account)
        return errf(err, n, "tokens: each needs \"token\" and \"account\" strings%s%s", "", NULL);
    if (!access || strcmp(access, "write") == 0)
        a.write = true;
    else if (strcmp(access, "read") != 0)
        return errf(err, n, "tokens: access must be \"read\" or \"write\", got '%s'%s", access,
                    NULL);
    if (json_is_array(ns)) {
        size_t i, k = json_array_size(ns);
        const char **ids = kv_calloc(k ? k : 1, sizeof *ids);
        if (!ids)
            return -1;
        for (i = 0; i < k; i++)
            if (!(ids[i] = json_string_value(json_array_get(ns, i)))) {
                kv_free(ids);
                return errf(err, n, "tokens: namespaces must be strings%s%s", "", NULL);
            }
        a.namespaces = ids;
        a.namespace_count = k;
    } else if (ns && !(json_is_string(ns) && strcmp(json_string_value(ns), "*") == 0)) {
        return errf(err, n, "tokens: namespaces must be \"*\" or an array of ids%s%s", "", NULL);
    }
    return add_token(c, &a);
}

static int load_number(json_t *v, const char *key, long long min, long long max, long long *out,
                       char *err, size_t n)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, n, "%s: expected an integer in [%lld, %lld]", key, min, max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int load_key(node_config_t *c, const char *key, json_t *v, char *err, size_t n)
{
    long long x = 0;
    const char *s = json_string_value(v);
    if (strcmp(key, "listen") == 0)
        return s ? parse_listen(c, s, err, n) : errf(err, n, "%s: expected a string%s", key, NULL);
    if (strcmp(key, "data_dir") == 0 && s)
        return snprintf(c->data_dir, sizeof c->data_dir, "%s", s) < 0;
    if (strcmp(key, "account_id") == 0 && s && strlen(s) <= KV_ACCOUNT_ID_MAX_BYTES)
        return snprintf(c->account_id, sizeof c->account_id, "%s", s) < 0;
    if (strcmp(key, "sync") == 0 && s)
        return stor_sync_parse(s, &c->storage.sync) == 0
                   ? 0
                   : errf(err, n, "sync: expected always|batch|off, got '%s'%s", s, NULL);
    if (strcmp(key, "log_level") == 0 && s)
        return parse_level(s, &c->log_level) == 0
                   ? 0
                   : errf(err, n, "log_level: expected debug|info|warn|error%s%s", "", NULL);
    if (strcmp(key, "repl_listen") == 0 && s)
        return parse_hostport(key, s, c->repl_host, &c->repl_port, err, n);
    if (strcmp(key, "origin") == 0 && s)
        return parse_hostport(key, s, c->origin_host, &c->origin_port, err, n);
    if (strcmp(key, "certs_dir") == 0 && s)
        return snprintf(c->certs_dir, sizeof c->certs_dir, "%s", s) < 0;
    if (strcmp(key, "name") == 0 && s && s[0] && strlen(s) < sizeof c->name)
        return snprintf(c->name, sizeof c->name, "%s", s) < 0;
    if (strcmp(key, "strict_staleness") == 0 && json_is_boolean(v)) {
        c->strict_staleness = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "compression") == 0 && json_is_boolean(v)) {
        c->storage.compression = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "tokens") == 0 && json_is_array(v)) {
        size_t i;
        for (i = 0; i < json_array_size(v); i++)
            if (load_token(c, json_array_get(v, i), err, n) != 0)
                return -1;
        return 0;
    }
#define NUM(name, lo, hi, dst)                                                                     \
    if (strcmp(key, name) == 0) {                                                                  \
        if (load_number(v, key, lo, hi, &x, err, n) != 0)                                          \
            return -1;                                                                             \
        dst = x;                                                                                   \
        return 0;                                                                                  \
    }
    NUM("http_threads", 1, KV_HTTP_MAX_LOOPS, c->http_threads)
    NUM("write_threads", 1, 1024, c->write_threads)
    NUM("cache_bytes", 0, 1LL << 40, c->cache_bytes)
    NUM("block_cache_bytes", 1 << 20, 1LL << 40, c->storage.block_cache_bytes)
    NUM("write_buffer_bytes", 1 << 20, 1LL << 34, c->storage.write_buffer_bytes)
    NUM("blob_min_bytes", 0, KV_VALUE_MAX_BYTES, c->storage.blob_min_bytes)
    NUM("sync_interval_ms", 1, 60000, c->storage.sync_interval_ms)
    NUM("tombstone_retention_s", 60, 1LL << 32, c->storage.tombstone_retention_s)
    NUM("node_id", 1, UINT32_MAX, c->node_id)
    NUM("propagation_bound_ms", 10, 3600000, c->propagation_bound_ms)
    NUM("heartbeat_interval_ms", 5, 600000, c->heartbeat_interval_ms)
    NUM("max_clock_offset_ms", 0, 3600000, c->max_clock_offset_ms)
    NUM("write_timeout_ms", 100, 3600000, c->write_timeout_ms)
    NUM("log_retention", 1, 1LL << 40, c->log_retention)
    NUM("log_retention_max", 1, 1LL << 40, c->log_retention_max)
#undef NUM
    return errf(err, n, "unknown or mistyped configuration key '%s'%s", key, NULL);
}

int node_config_load_file(node_config_t *c, const char *path, char *err, size_t n)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *v;
    const char *key;
    if (!root) {
        snprintf(err, n, "%s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return errf(err, n, "%s: the configuration must be a JSON object%s", path, NULL);
    }
    if (c->json_root)
        json_decref(c->json_root);
    c->json_root = root;
    json_object_foreach(root, key, v)
    {
        if (load_key(c, key, v, err, n) != 0)
            return -1;
    }
    return 0;
}

void node_config_usage(const char *role)
{
    printf("usage: edgekv %s [options]\n"
           "  --config FILE        JSON configuration file (flags override it)\n"
           "  --listen HOST:PORT   API address (default 127.0.0.1:%d)\n"
           "  --data DIR           data directory (default ./data/%s)\n"
           "  --threads N          HTTP event loops (default: one per CPU)\n"
           "  --write-threads N    threads for durable writes (default %d)\n"
           "  --cache-bytes N      read cache size in bytes (default %u)\n"
           "  --sync MODE          WAL sync: always | batch | off (default always)\n"
           "  --node-id N          node id, 1..2^32-1 (default: generated, kept in DIR)\n"
           "  --account ID         account id (default: generated, kept in DIR)\n"
           "  --token SECRET       accept SECRET as a read+write token of the account\n"
           "  --log-level LEVEL    debug | info | warn | error (default info)\n"
           "replication:\n"
           "  --certs DIR          cluster certificates (ca.crt, NAME.crt, NAME.key); an origin\n"
           "                       without --certs runs alone, with replication off\n"
           "  --name NAME          this node's certificate name (default: the role)\n"
           "  --repl-listen H:P    origin: where edges connect (default 0.0.0.0:%d)\n"
           "  --origin H:P         edge: the origin's replication address (default 127.0.0.1:%d)\n"
           "  --propagation-bound-ms N  edge: stale after N ms without news (default 1000)\n"
           "  --strict-staleness true|false  edge: refuse reads with 503 while stale\n"
           "  --heartbeat-ms N     origin: heartbeat interval (default 200)\n"
           "  --new-history true   origin: start a new history (after restoring a backup, so\n"
           "                       edges refuse it instead of resuming onto other data)\n"
           "  --log-retention N    origin: log entries always kept (default 100000)\n"
           "  --log-retention-max N  origin: most entries kept for a lagging edge (default\n"
           "                       5000000); an edge further behind takes a snapshot\n"
           "  --write-timeout-ms N edge: how long a forwarded write may wait (default 10000)\n",
           role, strcmp(role, "edge") == 0 ? DEFAULT_PORT_EDGE : DEFAULT_PORT_ORIGIN, role,
           DEFAULT_WRITE_THREADS, KV_CACHE_DEFAULT_BYTES, DEFAULT_PORT_REPL, DEFAULT_PORT_REPL);
}

static int parse_uint(const char *v, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long x;
    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || *end || end == v || x > max || v[0] == '-')
        return -1;
    *out = x;
    return 0;
}

static int apply_flag(node_config_t *c, const char *f, const char *v, char *err, size_t n)
{
    unsigned long long x;
    if (strcmp(f, "--listen") == 0)
        return parse_listen(c, v, err, n);
    if (strcmp(f, "--data") == 0)
        return snprintf(c->data_dir, sizeof c->data_dir, "%s", v) < 0;
    if (strcmp(f, "--sync") == 0)
        return stor_sync_parse(v, &c->storage.sync) == 0
                   ? 0
                   : errf(err, n, "--sync: expected always|batch|off, got '%s'%s", v, NULL);
    if (strcmp(f, "--log-level") == 0)
        return parse_level(v, &c->log_level) == 0
                   ? 0
                   : errf(err, n, "--log-level: expected debug|info|warn|error, got '%s'%s", v,
                          NULL);
    if (strcmp(f, "--account") == 0) {
        if (!v[0] || strlen(v) > KV_ACCOUNT_ID_MAX_BYTES)
            return errf(err, n, "--account: 1..64 characters, got '%s'%s", v, NULL);
        snprintf(c->account_id, sizeof c->account_id, "%s", v);
        return 0;
    }
    if (strcmp(f, "--repl-listen") == 0)
        return parse_hostport(f, v, c->repl_host, &c->repl_port, err, n);
    if (strcmp(f, "--origin") == 0)
        return parse_hostport(f, v, c->origin_host, &c->origin_port, err, n);
    if (strcmp(f, "--certs") == 0)
        return snprintf(c->certs_dir, sizeof c->certs_dir, "%s", v) < 0;
    if (strcmp(f, "--name") == 0) {
        if (!v[0] || strlen(v) >= sizeof c->name)
            return errf(err, n, "--name: 1..63 characters, got '%s'%s", v, NULL);
        snprintf(c->name, sizeof c->name, "%s", v);
        return 0;
    }
    if (strcmp(f, "--new-history") == 0) {
        if (strcmp(v, "true") && strcmp(v, "false"))
            return errf(err, n, "--new-history: true or false, got '%s'%s", v, NULL);
        c->new_history = strcmp(v, "true") == 0;
        return 0;
    }
    if (strcmp(f, "--strict-staleness") == 0) {
        if (strcmp(v, "true") && strcmp(v, "false"))
            return errf(err, n, "--strict-staleness: true or false, got '%s'%s", v, NULL);
        c->strict_staleness = strcmp(v, "true") == 0;
        return 0;
    }
    if (strcmp(f, "--token") == 0) {
        auth_token_t t = {.name = "flag", .token = v, .account = NULL, .write = true};
        return add_token(c, &t);
    }
#define UINTF(name, lo, hi, dst)                                                                   \
    if (strcmp(f, name) == 0) {                                                                    \
        if (parse_uint(v, hi, &x) != 0 || (long long)x < (long long)(lo))                          \
            return errf(err, n, name ": bad number '%s'%s", v, NULL);                              \
        dst = x;                                                                                   \
        return 0;                                                                                  \
    }
    UINTF("--threads", 1, KV_HTTP_MAX_LOOPS, c->http_threads)
    UINTF("--write-threads", 1, 1024, c->write_threads)
    UINTF("--cache-bytes", 0, 1ULL << 40, c->cache_bytes)
    UINTF("--node-id", 1, UINT32_MAX, c->node_id)
    UINTF("--propagation-bound-ms", 10, 3600000, c->propagation_bound_ms)
    UINTF("--heartbeat-ms", 5, 600000, c->heartbeat_interval_ms)
    UINTF("--log-retention", 1, 1ULL << 40, c->log_retention)
    UINTF("--log-retention-max", 1, 1ULL << 40, c->log_retention_max)
    UINTF("--write-timeout-ms", 100, 3600000, c->write_timeout_ms)
#undef UINTF
    return errf(err, n, "unknown option '%s'%s (see --help)", f, NULL);
}

int node_config_parse(node_config_t *c, int argc, char **argv, char *err, size_t n)
{
    int i;
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return errf(err, n, "--config needs a file%s%s", "", NULL);
            if (node_config_load_file(c, argv[i + 1], err, n) != 0)
                return -1;
        }
    }
    for (i = 0; i < argc; i++) {
        const char *f = argv[i], *eq = strchr(f, '=');
        char name[64];
        const char *v;
        if (strncmp(f, "--", 2) != 0)
            return errf(err, n, "unexpected argument '%s'%s", f, NULL);
        if (eq && (size_t)(eq - f) < sizeof name) {
            memcpy(name, f, (size_t)(eq - f));
            name[eq - f] = '\0';
            f = name;
            v = eq + 1;
        } else {
            if (i + 1 >= argc)
                return errf(err, n, "%s needs a value%s", f, NULL);
            v = argv[++i];
        }
        if (strcmp(f, "--config") == 0)
            continue;
        if (apply_flag(c, f, v, err, n) != 0)
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
