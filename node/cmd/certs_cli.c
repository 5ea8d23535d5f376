/*
 * certs_cli.c - the `edgekv certs` subcommand of certs.h (init, issue, api):
 * argument parsing and messages; the certificates themselves are made in
 * certs.c.
 */
#include "certs.h"
#include "certs_cli.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv_err.h"

typedef struct {
    const char *dir, *role, *name;
    int days, ca_days, edges, relays;
    const char *hosts[CERTS_HOSTS_MAX];
    size_t host_count;
    bool window; /* --valid-from/--valid-until given */
    long long valid_from_s, valid_until_s;
} certs__args_t;

static void certs__usage(FILE *out)
{
    fprintf(out,
            "usage: edgekv certs <command> [options]\n\n"
            "commands:\n"
            "  init   --dir D [--edges N] [--relays N] [--days N] [--ca-days N] [--host H]...\n"
            "         create the cluster CA in D (an existing one is kept), an \"origin\"\n"
            "         certificate, edge certificates \"edge1\"..\"edgeN\" (default N %d) and\n"
            "         relay certificates \"relay1\"..\"relayN\" (default none); existing\n"
            "         ones are kept\n"
            "  issue  --dir D --role origin|edge|relay --name NAME [--days N] [--host H]...\n"
            "         issue (or replace) D/NAME.crt and D/NAME.key, signed by D/ca.key\n"
            "  api    --dir D --name NAME [--days N] [--host H]...\n"
            "         issue (or replace) an API certificate D/NAME.crt and D/NAME.key for\n"
            "         HTTPS on the API port (--https-cert/--https-key), signed by D/ca.key;\n"
            "         --host: the names clients connect to. It has no role and is good\n"
            "         for TLS servers only, so it never passes as a replication peer; a\n"
            "         node certificate of that name is never replaced\n\n"
            "options:\n"
            "  --days N     validity of node and API certificates in days (default %d)\n"
            "  --ca-days N  validity of a new CA in days (default %d)\n"
            "  --host H     a DNS name or IP for subjectAltName; repeatable\n"
            "               (default: localhost and 127.0.0.1)\n"
            "  --valid-from S --valid-until S\n"
            "               issue, api: an explicit validity window in seconds relative to\n"
            "               now (negative = past), e.g. an expired certificate for a test\n\n"
            "The role is recorded in the subject (OU=edgekv-origin, edgekv-edge or\n"
            "edgekv-relay) and the node name in CN. The origin accepts edges and relays, a\n"
            "relay accepts edges and relays and follows an origin or a relay, an edge\n"
            "follows an origin or a relay; a certificate never acts in another role; an API "
            "certificate has O=edgekv and CN=NAME only. Keys\n"
            "are EC P-256, key files are written with mode 0600.\n",
            CERTS_EDGES_DEFAULT, CERTS_NODE_DAYS_DEFAULT, CERTS_CA_DAYS_DEFAULT);
}

static bool certs__int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* Parse options after the command word. 0, 1 (--help), or -1 (error,
 * printed). Accepts "--opt value" and "--opt=value". */
static int certs__parse(int argc, char **argv, certs__args_t *a)
{
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *eq = strchr(opt, '='), *v;
        size_t olen = eq ? (size_t)(eq - opt) : strlen(opt);
        bool ok = true;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
            return 1;
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            fprintf(stderr, "edgekv certs: %s needs a value\n", opt);
            return -1;
        }
#define CERTS__IS(name) (olen == strlen(name) && strncmp(opt, name, olen) == 0)
        if (CERTS__IS("--dir"))
            a->dir = v;
        else if (CERTS__IS("--role"))
            a->role = v;
        else if (CERTS__IS("--name"))
            a->name = v;
        else if (CERTS__IS("--days"))
            ok = certs__int(v, 1, CERTS_DAYS_MAX, &a->days);
        else if (CERTS__IS("--ca-days"))
            ok = certs__int(v, 1, CERTS_DAYS_MAX, &a->ca_days);
        else if (CERTS__IS("--edges"))
            ok = certs__int(v, 0, CERTS_EDGES_MAX, &a->edges);
        else if (CERTS__IS("--relays"))
            ok = certs__int(v, 0, CERTS_EDGES_MAX, &a->relays);
        else if (CERTS__IS("--valid-from") || CERTS__IS("--valid-until")) {
            char *end;
            long long x = strtoll(v, &end, 10);
            ok = *v && !*end;
            a->window = true;
            *(CERTS__IS("--valid-from") ? &a->valid_from_s : &a->valid_until_s) = x;
        } else if (CERTS__IS("--host") && a->host_count < CERTS_HOSTS_MAX)
            a->hosts[a->host_count++] = v;
        else {
            fprintf(stderr, "edgekv certs: unknown or repeated option '%.*s'\n", (int)olen, opt);
            return -1;
        }
#undef CERTS__IS
        if (!ok) {
            fprintf(stderr, "edgekv certs: bad value '%s' for %.*s\n", v, (int)olen, opt);
            return -1;
        }
    }
    return 0;
}

static int certs__report(int rc, const char *what, const char *dir, const char *name)
{
    if (rc == 0)
        printf("%s %s/%s.crt\n", what, dir, name);
    else
        fprintf(stderr, "edgekv certs: %s/%s: %s\n", dir, name, kv_strerror(rc));
    return rc;
}

static bool certs__have(const char *dir, const char *name)
{
    char crt[PATH_MAX], key[PATH_MAX];
    struct stat st;

    snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    return stat(crt, &st) == 0 && stat(key, &st) == 0;
}

/* Issue `name` unless both of its files exist. */
static int certs__ensure(const certs__args_t *a, const char *role, const char *name)
{
    if (certs__have(a->dir, name))
        return certs__report(0, "kept", a->dir, name);
    return certs__report(certs_issue(a->dir, role, name, a->days, a->hosts, a->host_count),
                         strcmp(role, "origin") == 0  ? "issued origin"
                         : strcmp(role, "relay") == 0 ? "issued relay"
                                                      : "issued edge",
                         a->dir, name);
}

static int certs__init(const certs__args_t *a)
{
    char name[32];
    int rc = certs_create_ca(a->dir, a->ca_days);

    if (rc == KV_EEXISTS) {
        if (!certs__have(a->dir, "ca")) {
            fprintf(stderr, "edgekv certs: %s/ca.crt exists but ca.key is missing\n", a->dir);
            return 1;
        }
        certs__report(0, "kept CA", a->dir, "ca");
    } else if (certs__report(rc, "created CA", a->dir, "ca") != 0) {
        return 1;
    }
    if (certs__ensure(a, "origin", "origin") != 0)
        return 1;
    for (int i = 1; i <= a->edges; i++) {
        snprintf(name, sizeof name, "edge%d", i);
        if (certs__ensure(a, "edge", name) != 0)
            return 1;
    }
    for (int i = 1; i <= a->relays; i++) {
        snprintf(name, sizeof name, "relay%d", i);
        if (certs__ensure(a, "relay", name) != 0)
            return 1;
    }
    return 0;
}

/* `certs api`: an API (HTTPS server) certificate; no role. */
static int certs__api(const certs__args_t *a)
{
    int rc;

    if (a->role) {
        fprintf(stderr, "edgekv certs api: an API certificate has no role (no --role)\n");
        return 2;
    }
    if (!a->name) {
        fprintf(stderr, "edgekv certs api: --name is required\n");
        return 2;
    }
    rc = a->window ? certs_issue_api_window(a->dir, a->name, a->valid_from_s, a->valid_until_s,
                                            a->hosts, a->host_count)
                   : certs_issue_api(a->dir, a->name, a->days, a->hosts, a->host_count);
    if (rc == KV_EINVAL)
        fprintf(stderr, "edgekv certs api: bad name ([A-Za-z0-9._-]{1,64}) or host\n");
    else if (rc == KV_EEXISTS)
        fprintf(stderr, "edgekv certs api: %s/%s.crt is a node certificate; pick another name\n",
                a->dir, a->name);
    return certs__report(rc, "issued API certificate", a->dir, a->name) == 0 ? 0 : 1;
}

int certs_main(int argc, char **argv)
{
    certs__args_t a = {.days = CERTS_NODE_DAYS_DEFAULT,
                       .ca_days = CERTS_CA_DAYS_DEFAULT,
                       .edges = CERTS_EDGES_DEFAULT};
    const char *cmd = argc > 0 ? argv[0] : "";
    int rc;

    if (argc < 1 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        certs__usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(cmd, "init") != 0 && strcmp(cmd, "issue") != 0 && strcmp(cmd, "api") != 0) {
        fprintf(stderr, "edgekv certs: unknown command '%s' (see edgekv certs --help)\n", cmd);
        return 2;
    }
    if ((rc = certs__parse(argc - 1, argv + 1, &a)) != 0) {
        if (rc > 0)
            certs__usage(stdout);
        return rc > 0 ? 0 : 2;
    }
    if (!a.dir) {
        fprintf(stderr, "edgekv certs %s: --dir is required\n", cmd);
        return 2;
    }
    if (strcmp(cmd, "init") == 0)
        return certs__init(&a);
    if (strcmp(cmd, "api") == 0)
        return certs__api(&a);
    if (!a.role || !a.name) {
        fprintf(stderr, "edgekv certs issue: --role and --name are required\n");
        return 2;
    }
    rc = a.window ? certs_issue_window(a.dir, a.role, a.name, a.valid_from_s, a.valid_until_s,
                                       a.hosts, a.host_count)
                  : certs_issue(a.dir, a.role, a.name, a.days, a.hosts, a.host_count);
    if (rc == KV_EINVAL)
        fprintf(stderr, "edgekv certs issue: bad role, name ([A-Za-z0-9._-]{1,64}) or host\n");
    return certs__report(rc, "issued", a.dir, a.name) == 0 ? 0 : 1;
}
