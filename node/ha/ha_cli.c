/*
 * ha_cli.c - `edgekv ha status` and `edgekv ha campaign` (ha_cli.h).
 *
 * campaign prints one line per transition, each starting with the time on
 * the election's clock (ha_clock_now_ms: CLOCK_BOOTTIME, milliseconds), so
 * the lines of several candidates on one host can be merged and compared:
 *   T campaign name=NAME lease_ms=L     it starts
 *   T follower leader=NAME term=N       who leads, as this candidate sees it
 *   T follower leader=- term=0          nobody (the key is absent)
 *   T leader term=N until=U             this candidate leads until U...
 *   T renewed term=N until=U            ...now until U
 *   T deposed term=N reason=R until=U   it stopped leading (R: ha_deposed_str)
 *   T act term=N                        it acted as leader (every --act-ms)
 *   T stopped                           it stepped down and exits
 * An `act` line is printed only when ha_elect_leading says so at that
 * moment: it stands for what the origin will do with leadership (order and
 * acknowledge a write), so the lines show when a candidate would have acted.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "ha_cli.h"
#include "ha_curl.h"
#include "ha_loop.h"
#include "kv_err.h"
#include "kv_limits.h"
#include "kv_log.h"
#include "kv_mem.h"

#define ACT_MS_DEFAULT    100u
#define STATUS_BUDGET_MS  5000u /* status: the whole walk over the members */
#define STATUS_ATTEMPT_MS 1000u /* status: one member */

typedef struct {
    char *urls_buf;
    const char *urls[KV_HA_ENDPOINTS_MAX];
    size_t url_count;
    const char *cluster, *name, *address;
    uint64_t lease_ms, poll_ms, act_ms;
} args_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: edgekv ha status   --etcd URL[,URL...] --cluster NAME\n"
            "       edgekv ha campaign --etcd URL[,URL...] --cluster NAME --name NAME\n"
            "                          --address HOST:PORT [--ha-lease-ms MS]\n"
            "                          [--ha-poll-ms MS] [--act-ms MS]\n\n"
            "status prints the leader of the cluster's origins, its term, its\n"
            "lease's TTL and its record of synchronous standbys (\"sync\") as JSON;\n"
            "campaign runs a bare candidate that prints its\n"
            "transitions until SIGTERM or SIGINT, then steps down.\n"
            "  --ha-lease-ms  the leader's lease (default %u, %u..%u)\n"
            "  --ha-poll-ms   a follower's reads of the leader key (default lease/%u)\n"
            "  --act-ms       how often a leader prints `act` (default %u; 0: never)\n",
            KV_HA_LEASE_MS_DEFAULT, KV_HA_LEASE_MS_MIN, KV_HA_LEASE_MS_MAX, KV_HA_POLL_DIV,
            ACT_MS_DEFAULT);
}

static int split_urls(args_t *a, const char *list)
{
    char *p, *save = NULL;
    kv_free(a->urls_buf);
    if (!(a->urls_buf = kv_strndup(list, strlen(list))))
        return -ENOMEM;
    a->url_count = 0;
    for (p = strtok_r(a->urls_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (a->url_count == KV_HA_ENDPOINTS_MAX)
            return KV_ELIMIT;
        a->urls[a->url_count++] = p;
    }
    return a->url_count ? 0 : KV_EINVAL;
}

static int parse_ms(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return KV_EINVAL;
    *out = v;
    return 0;
}

/* --flag VALUE or --flag=VALUE. Returns 0, or 2 with a message. */
static int parse_args(args_t *a, int argc, char **argv)
{
    int i;
    a->act_ms = ACT_MS_DEFAULT;
    for (i = 1; i < argc; i++) {
        const char *flag = argv[i], *val, *eq = strchr(flag, '=');
        char name[32];
        size_t n = eq ? (size_t)(eq - flag) : strlen(flag);
        int rc = 0;
        if (n >= sizeof name || strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "edgekv ha: unexpected argument '%s'\n", flag);
            return 2;
        }
        memcpy(name, flag, n);
        name[n] = '\0';
        if (strcmp(name, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (!(val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL))) {
            fprintf(stderr, "edgekv ha: %s needs a value\n", name);
            return 2;
        }
        if (strcmp(name, "--etcd") == 0)
            rc = split_urls(a, val);
        else if (strcmp(name, "--cluster") == 0)
            a->cluster = val;
        else if (strcmp(name, "--name") == 0)
            a->name = val;
        else if (strcmp(name, "--address") == 0)
            a->address = val;
        else if (strcmp(name, "--ha-lease-ms") == 0)
            rc = parse_ms(val, &a->lease_ms);
        else if (strcmp(name, "--ha-poll-ms") == 0)
            rc = parse_ms(val, &a->poll_ms);
        else if (strcmp(name, "--act-ms") == 0)
            rc = parse_ms(val, &a->act_ms);
        else {
            fprintf(stderr, "edgekv ha: unknown option %s\n", name);
            return 2;
        }
        if (rc != 0) {
            fprintf(stderr, "edgekv ha: %s %s: %s\n", name, val, kv_strerror(rc));
            return 2;
        }
    }
    if (!a->url_count || !a->cluster) {
        fprintf(stderr, "edgekv ha: --etcd and --cluster are required\n");
        return 2;
    }
    return 0;
}

/* ---- status ------------------------------------------------------------------------------ */

typedef struct {
    ha_curl_t *curl;
    ha_etcd_t *etcd;
    const char *cluster;
    char key[KV_HA_CLUSTER_MAX_BYTES + 32];
    json_t *out;
    int rc;
} status_t;

static void status_close(status_t *s)
{
    ha_etcd_free(s->etcd);
    s->etcd = NULL;
    ha_curl_close(s->curl, NULL, NULL);
}

static void status_fail(status_t *s, int err)
{
    fprintf(stderr, "edgekv ha status: etcd: %s\n", kv_strerror(err));
    s->rc = 1;
    status_close(s);
}

static void on_sync(void *arg, const ha_etcd_result_t *r)
{
    status_t *s = arg;
    if (r->err) {
        status_fail(s, r->err);
        return;
    }
    json_object_set_new(s->out, "sync", r->kv.found ? json_string(r->kv.value) : json_null());
    status_close(s);
}

/* Last: the leader's record of its synchronous standbys (ha_sync.h). */
static void status_sync(status_t *s)
{
    char key[KV_HA_CLUSTER_MAX_BYTES + 32];
    snprintf(key, sizeof key, "/edgekv/%s/sync", s->cluster);
    int rc = ha_etcd_get(s->etcd, key, STATUS_BUDGET_MS, on_sync, s, NULL);
    if (rc != 0)
        status_fail(s, rc);
}

static void on_ttl(void *arg, const ha_etcd_result_t *r)
{
    status_t *s = arg;
    if (r->err) {
        status_fail(s, r->err);
        return;
    }
    json_object_set_new(s->out, "ttl_s", json_integer(r->ttl_s));
    status_sync(s);
}

static void on_key(void *arg, const ha_etcd_result_t *r)
{
    status_t *s = arg;
    json_t *v, *leader;
    char lease[24];
    int rc;
    if (r->err) {
        status_fail(s, r->err);
        return;
    }
    s->out = json_pack("{s:s, s:s, s:s, s:I}", "cluster", s->cluster, "key", s->key, "endpoint",
                       ha_etcd_endpoint(s->etcd, r->endpoint), "revision", (json_int_t)r->revision);
    if (!r->kv.found) {
        json_object_set_new(s->out, "leader", json_null());
        json_object_set_new(s->out, "term", json_integer(0));
        status_sync(s);
        return;
    }
    v = json_loadb(r->kv.value, r->kv.value_len, 0, NULL);
    leader = json_is_object(v) ? json_incref(v) : json_string(r->kv.value);
    json_decref(v);
    json_object_set_new(s->out, "leader", leader);
    json_object_set_new(s->out, "term", json_integer(r->kv.create_revision));
    if (!r->kv.lease) { /* put by hand, without a lease: it never expires */
        json_object_set_new(s->out, "lease", json_null());
        status_sync(s);
        return;
    }
    snprintf(lease, sizeof lease, "%" PRId64, r->kv.lease);
    json_object_set_new(s->out, "lease", json_string(lease));
    if ((rc = ha_etcd_ttl(s->etcd, r->kv.lease, STATUS_BUDGET_MS, on_ttl, s, NULL)) != 0)
        status_fail(s, rc);
}

static int run_status(const args_t *a)
{
    uv_loop_t loop;
    status_t s = {.cluster = a->cluster};
    ha_etcd_config_t ec = {.endpoints = a->urls,
                           .endpoint_count = a->url_count,
                           .attempt_timeout_ms = STATUS_ATTEMPT_MS,
                           .now = ha_clock_now_ms};
    int rc;
    if (ha_elect_key(a->cluster, s.key, sizeof s.key) != 0) {
        fprintf(stderr, "edgekv ha status: invalid cluster name '%s'\n", a->cluster);
        return 2;
    }
    uv_loop_init(&loop);
    if ((rc = ha_curl_create(&loop, &s.curl)) != 0 ||
        (rc = ha_etcd_create(&ec, ha_curl_http(s.curl), &s.etcd)) != 0 ||
        (rc = ha_etcd_get(s.etcd, s.key, STATUS_BUDGET_MS, on_key, &s, NULL)) != 0) {
        fprintf(stderr, "edgekv ha status: %s\n", kv_strerror(rc));
        if (s.curl)
            status_close(&s);
        s.rc = rc == KV_EINVAL ? 2 : 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (s.rc == 0 && s.out) {
        char *text = json_dumps(s.out, JSON_COMPACT);
        if (text)
            printf("%s\n", text);
        free(text);
    }
    json_decref(s.out);
    return s.rc;
}

/* ---- campaign ---------------------------------------------------------------------------- */

typedef struct {
    ha_loop_t *ha;
    uv_timer_t act;
    uv_signal_t sigint, sigterm;
    uint64_t act_ms;
} campaign_t;

static void vline(uint64_t t_ms, const char *fmt, va_list ap)
{
    printf("%" PRIu64 " ", t_ms);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
}

/* A line stamped now. */
static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(ha_clock_now_ms(NULL), fmt, ap);
    va_end(ap);
}

/* A line stamped t_ms (read before what it reports was decided). */
static void line_at(uint64_t t_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_at(uint64_t t_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(t_ms, fmt, ap);
    va_end(ap);
}

static void on_leader(void *arg, int64_t term, uint64_t until_ms)
{
    line("leader term=%" PRId64 " until=%" PRIu64, term, until_ms);
}

static void on_renewed(void *arg, int64_t term, uint64_t until_ms)
{
    line("renewed term=%" PRId64 " until=%" PRIu64, term, until_ms);
}

static void on_deposed(void *arg, int64_t term, ha_deposed_t why, uint64_t until_ms)
{
    line("deposed term=%" PRId64 " reason=%s until=%" PRIu64, term, ha_deposed_str(why), until_ms);
}

static void on_seen(void *arg, const ha_leader_t *l)
{
    campaign_t *c = arg;
    if (c->ha && ha_elect_leading(ha_loop_elect(c->ha), NULL))
        return; /* itself: the leader line said it */
    line("follower leader=%s term=%" PRId64, l->term ? l->name : "-", l->term);
}

static void on_act(uv_timer_t *t)
{
    campaign_t *c = t->data;
    uint64_t t_ms = ha_clock_now_ms(NULL); /* before the check: leading at t_ms too */
    int64_t term;
    if (ha_elect_leading(ha_loop_elect(c->ha), &term))
        line_at(t_ms, "act term=%" PRId64, term);
}

static void on_stopped(void *arg)
{
    campaign_t *c = arg;
    line("stopped");
    c->ha = NULL;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    campaign_t *c = sig->data;
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
    uv_close((uv_handle_t *)&c->act, NULL);
    ha_loop_stop(c->ha, on_stopped, c);
}

static int run_campaign(const args_t *a)
{
    uv_loop_t *loop = uv_default_loop();
    campaign_t c = {.act_ms = a->act_ms};
    ha_loop_config_t cfg = {.endpoints = a->urls,
                            .endpoint_count = a->url_count,
                            .elect = {.cluster = a->cluster,
                                      .name = a->name,
                                      .address = a->address,
                                      .lease_ms = a->lease_ms,
                                      .poll_ms = a->poll_ms}};
    ha_elect_cbs_t cbs = {.on_leader = on_leader,
                          .on_renewed = on_renewed,
                          .on_deposed = on_deposed,
                          .on_leader_seen = on_seen,
                          .arg = &c};
    int rc;
    if (!a->name || !a->address) {
        fprintf(stderr, "edgekv ha campaign: --name and --address are required\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    line("campaign name=%s lease_ms=%" PRIu64, a->name,
         a->lease_ms ? a->lease_ms : (uint64_t)KV_HA_LEASE_MS_DEFAULT);
    if ((rc = ha_loop_start(loop, &cfg, &cbs, &c.ha)) != 0) {
        fprintf(stderr, "edgekv ha campaign: %s\n", kv_strerror(rc));
        uv_run(loop, UV_RUN_DEFAULT); /* what start made closes */
        uv_loop_close(loop);
        return rc == KV_EINVAL ? 2 : 1;
    }
    uv_timer_init(loop, &c.act);
    uv_signal_init(loop, &c.sigint);
    uv_signal_init(loop, &c.sigterm);
    c.act.data = c.sigint.data = c.sigterm.data = &c;
    if (c.act_ms)
        uv_timer_start(&c.act, on_act, c.act_ms, c.act_ms);
    uv_signal_start(&c.sigint, on_signal, SIGINT);
    uv_signal_start(&c.sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}

int ha_cli_main(int argc, char **argv)
{
    args_t a = {0};
    int rc;
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "status") != 0 && strcmp(argv[0], "campaign") != 0) {
        fprintf(stderr, "edgekv ha: unknown command '%s'\n", argv[0]);
        usage(stderr);
        return 2;
    }
    if ((rc = parse_args(&a, argc, argv)) != 0) {
        kv_free(a.urls_buf);
        return rc == 1 ? 0 : rc;
    }
    rc = strcmp(argv[0], "status") == 0 ? run_status(&a) : run_campaign(&a);
    kv_free(a.urls_buf);
    return rc;
}
