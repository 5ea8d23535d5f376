/*
 * backup_cli.c - `edgekv backup`: a consistent checkpoint of a node, into a
 * backup directory (backup_cli.h).
 *
 * Of a live node over HTTP (--url, --token: the operator token): POST
 * /backup makes a checkpoint on the node and answers its manifest; each
 * file is fetched in chunks of at most KV_BACKUP_CHUNK_MAX_BYTES and
 * verified (backup_sync.c); the checkpoint is deleted at the end, success
 * or not. Of a stopped node (--data): the store is opened, checkpointed
 * into DATA/backups/<id> (hard links), closed, and the files are copied
 * and verified the same way; a running node's lock is refused with its
 * process id. Either way the manifest is written last: a directory with
 * a manifest is a complete backup.
 */
#include "backup_cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact.h"
#include "config.h"
#include "edgekv_version.h"
#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kv_rand.h"

/* Connecting may take this long; a transfer that moves nothing for
 * BKCLI_STALL_S is given up (making the checkpoint is not: it hashes
 * every file before it answers). */
#define BKCLI_CONNECT_S 10
#define BKCLI_STALL_S   60
/* The manifest answer: KV_BACKUP_FILES_MAX entries of ~150 bytes. */
#define BKCLI_LISTING_MAX_BYTES (32u * 1024u * 1024u)
/* A chunk refused with 429 (too many reads on the node) is asked again
 * this many times, BKCLI_RETRY_MS apart. */
#define BKCLI_RETRIES  50
#define BKCLI_RETRY_MS 200

typedef struct {
    const char *url, *token, *account, *out, *data, *cacert;
    size_t chunk_bytes;
} opts_t;

static void usage(void)
{
    printf("usage: edgekv backup --url URL --token T [--account A] --out DIR\n"
           "       edgekv backup --data DATADIR --out DIR\n"
           "A consistent RocksDB checkpoint of a node, into DIR (DIR/manifest.json, DIR/db/).\n"
           "  --url URL         a live node's API (EDGEKV_URL); the node makes the checkpoint\n"
           "  --token T         its operator token (EDGEKV_TOKEN): read+write, every namespace\n"
           "  --account A       refuse a node of another account (EDGEKV_ACCOUNT)\n"
           "  --cacert FILE     trust this CA for an https:// URL (EDGEKV_CACERT)\n"
           "  --chunk-bytes N   bytes per request, 4096..%u (default: the maximum)\n"
           "  --data DATADIR    a stopped node's data directory instead (the store is DATADIR/db)\n"
           "  --out DIR         the backup directory; a re-run keeps the files already there\n"
           "                    whole and verified, and continues an interrupted one\n"
           "exit status: 0 done; 1 refused or failed; 2 bad arguments; 4 token refused;\n"
           "5 node unreachable\n",
           KV_BACKUP_CHUNK_MAX_BYTES);
}

/* ---- HTTP ---------------------------------------------------------------------- */

typedef struct {
    bkcli_src_t src; /* first */
    CURL *h;
    const opts_t *o;
    char id[BACKUP_ID_HEX + 1];
} http_src_t;

typedef struct {
    uint8_t *buf;
    size_t len, cap, max;
    bool fixed; /* buf is the caller's, cap bytes */
} body_t;

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    body_t *b = arg;
    size_t add = sz * n;
    if (b->len + add > b->max)
        return 0; /* more than was asked for: abort */
    if (!b->fixed && b->len + add + 1 > b->cap) {
        size_t ncap = (b->len + add + 1) * 2;
        uint8_t *nb = kv_realloc(b->buf, ncap);
        if (!nb)
            return 0;
        b->buf = nb;
        b->cap = ncap;
    }
    memcpy(b->buf + b->len, p, add);
    b->len += add;
    if (!b->fixed)
        b->buf[b->len] = 0;
    return add;
}

/* One request; *status gets the HTTP status (0: no answer, err says why). */
static int http_do(http_src_t *s, const char *method, const char *path, body_t *b, long *status,
                   char *err, size_t cap)
{
    char url[8192], auth[KV_TOKEN_MAX_BYTES + 64], cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    const char *base = s->o->url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    snprintf(url, sizeof url, "%.*s%s", (int)bl, base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->o->token);
    hdrs = curl_slist_append(hdrs, auth);
    curl_easy_reset(s->h);
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->h, CURLOPT_USERAGENT, "edgekv-backup/" EDGEKV_VERSION);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT, (long)BKCLI_CONNECT_S);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") != 0) {
        curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_TIME, (long)BKCLI_STALL_S);
    } else {
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (s->o->cacert) {
        curl_easy_setopt(s->h, CURLOPT_CAINFO, s->o->cacert);
        curl_easy_setopt(s->h, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, b);
    CURLcode cc = curl_easy_perform(s->h);
    curl_slist_free_all(hdrs);
    *status = 0;
    if (cc != CURLE_OK) {
        snprintf(err, cap, "cannot reach %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* The message of an error envelope, or the body's start. */
static void envelope_message(const body_t *b, char *out, size_t cap)
{
    json_t *j = b->buf ? json_loadb((const char *)b->buf, b->len, 0, NULL) : NULL;
    const char *m = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message"));
    snprintf(out, cap, "%s", m ? m : b->buf ? (const char *)b->buf : "");
    json_decref(j);
}

static int http_read(bkcli_src_t *src, const char *name, uint64_t offset, size_t len, uint8_t *buf,
                     char *err, size_t cap)
{
    http_src_t *s = (http_src_t *)src;
    char path[256];
    long status = 0;
    snprintf(path, sizeof path, "/backup/%s/files/%s?offset=%llu&length=%zu", s->id, name,
             (unsigned long long)offset, len);
    for (int i = 0; i <= BKCLI_RETRIES; i++) {
        body_t b = {.buf = buf, .cap = len, .max = len, .fixed = true};
        if (http_do(s, "GET", path, &b, &status, err, cap) != 0)
            return -1;
        if (status == 200 && b.len == len)
            return 0;
        if (status != 429) {
            snprintf(err, cap, "GET %s: HTTP %ld, %zu of %zu bytes", path, status, b.len, len);
            return -1;
        }
        usleep(BKCLI_RETRY_MS * 1000);
    }
    snprintf(err, cap, "GET %s: the node stayed busy (429)", path);
    return -1;
}

static int exit_for(long status)
{
    return status == 401 || status == 403 ? 4 : 1;
}

static int backup_http(const opts_t *o)
{
    http_src_t s = {.src = {.read = http_read, .chunk_bytes = o->chunk_bytes}, .o = o};
    body_t b = {.max = BKCLI_LISTING_MAX_BYTES};
    backup_desc_t d = {0};
    char err[1024], msg[512];
    long status = 0;
    int rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(s.h = curl_easy_init())) {
        fprintf(stderr, "edgekv backup: libcurl failed to start\n");
        return 1;
    }
    if (http_do(&s, "POST", "/backup", &b, &status, err, sizeof err) != 0) {
        fprintf(stderr, "edgekv backup: %s\n", err);
        rc = 5;
        goto out;
    }
    if (status != 200) {
        envelope_message(&b, msg, sizeof msg);
        fprintf(stderr, "edgekv backup: POST /backup: HTTP %ld: %s\n", status, msg);
        rc = exit_for(status);
        goto out;
    }
    json_t *j = json_loadb((const char *)b.buf, b.len, 0, NULL);
    int prc = backup_desc_parse(j, &d, err, sizeof err);
    json_decref(j);
    if (prc != 0) {
        fprintf(stderr, "edgekv backup: the node's manifest: %s\n", err);
        goto out;
    }
    snprintf(s.id, sizeof s.id, "%s", d.id);
    if (o->account && d.account[0] && strcmp(o->account, d.account) != 0) {
        fprintf(stderr, "edgekv backup: %s serves account %s, not %s: nothing copied\n", o->url,
                d.account, o->account);
    } else {
        bkcli_stats_t st;
        char a[32], c[32];
        printf("edgekv backup: checkpoint %s of %s node %08x at %s (history %s, seq %llu): %zu "
               "files, ",
               d.id, d.role, d.node_id, o->url, d.history_id[0] ? d.history_id : "none",
               (unsigned long long)d.seq, d.nfiles);
        bkcli_size_text(d.bytes, a, sizeof a);
        printf("%s\n", a);
        fflush(stdout);
        if (bkcli_sync(o->out, &d, &s.src, &st) == 0 && bkcli_write_manifest(o->out, &d) == 0) {
            bkcli_size_text(st.fetched_bytes, a, sizeof a);
            bkcli_size_text(st.kept_bytes, c, sizeof c);
            printf("  downloaded %zu files (%s; %zu continued), kept %zu already complete and "
                   "verified (%s)\n  every SHA-256 verified; manifest %s/%s\n",
                   st.fetched, a, st.continued, st.kept, c, o->out, BKCLI_MANIFEST);
            rc = 0;
        }
    }
    /* The checkpoint pins files on the node: deleted, success or not. */
    char path[64];
    body_t db = {.max = 4096};
    snprintf(path, sizeof path, "/backup/%s", d.id);
    if (http_do(&s, "DELETE", path, &db, &status, err, sizeof err) != 0 || status != 200)
        fprintf(stderr,
                "edgekv backup: could not delete checkpoint %s on the node (it expires "
                "after %d s idle)\n",
                d.id, KV_BACKUP_IDLE_TTL_S);
    kv_free(db.buf);
out:
    backup_desc_free(&d);
    kv_free(b.buf);
    curl_easy_cleanup(s.h);
    curl_global_cleanup();
    return rc;
}

/* ---- a stopped node ------------------------------------------------------------ */

typedef struct {
    bkcli_src_t src; /* first */
    char dir[NODE_PATH_MAX + 64];
} local_src_t;

static int local_read(bkcli_src_t *src, const char *name, uint64_t offset, size_t len, uint8_t *buf,
                      char *err, size_t cap)
{
    local_src_t *s = (local_src_t *)src;
    char p[NODE_PATH_MAX + 160];
    size_t got = 0;
    snprintf(p, sizeof p, "%s/%s", s->dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "%s: %s", p, strerror(errno));
        return -1;
    }
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, cap, "%s: %s", p, n < 0 ? strerror(errno) : "shorter than listed");
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

static int backup_local(const opts_t *o)
{
    char db[NODE_PATH_MAX + 8], current[NODE_PATH_MAX + 16], area[NODE_PATH_MAX + 16];
    char id[BACKUP_ID_HEX + 1], a[32], c[32];
    local_src_t s = {.src = {.read = local_read, .chunk_bytes = o->chunk_bytes}};
    stor_options_t so;
    stor_t *st = NULL;
    backup_desc_t d = {0};
    bkcli_stats_t stats;
    struct stat sb;
    pid_t holder;
    int rc;
    snprintf(db, sizeof db, "%s/db", o->data);
    snprintf(current, sizeof current, "%s/CURRENT", db);
    snprintf(area, sizeof area, "%s/%s", o->data, BACKUP_AREA_NAME);
    if (stat(current, &sb) != 0) {
        fprintf(stderr, "edgekv backup: no store in %s (%s is missing)\n", o->data, current);
        return 1;
    }
    if ((holder = compact_lock_holder(db)) != 0) {
        fprintf(stderr,
                "edgekv backup: %s is in use by process %ld (a running node holds its lock); "
                "back it up over HTTP instead (--url, --token), or stop the node first\n",
                db, (long)holder);
        return 1;
    }
    stor_options_default(&so);
    so.path = db;
    if ((rc = stor_open(&so, &st)) != 0) {
        fprintf(stderr, "edgekv backup: cannot open the store at %s: %s\n", db, kv_strerror(rc));
        return 1;
    }
    if ((rc = kv_random_hex(id, BACKUP_ID_HEX)) == 0 && (rc = bkcli_mkdirs(area)) == 0) {
        snprintf(s.dir, sizeof s.dir, "%s/%s", area, id);
        rc = backup_make(st, s.dir, NULL, 0, NULL, &d);
    }
    stor_close(st);
    if (rc != 0) {
        fprintf(stderr, "edgekv backup: checkpoint of %s failed: %s\n", db, kv_strerror(rc));
        return 1;
    }
    bkcli_size_text(d.bytes, a, sizeof a);
    printf("edgekv backup: checkpoint %s of %s node %08x in %s (history %s, seq %llu): %zu "
           "files, %s\n",
           d.id, d.role, d.node_id, o->data, d.history_id[0] ? d.history_id : "none",
           (unsigned long long)d.seq, d.nfiles, a);
    rc = bkcli_sync(o->out, &d, &s.src, &stats) == 0 && bkcli_write_manifest(o->out, &d) == 0 ? 0
                                                                                              : 1;
    if (rc == 0) {
        bkcli_size_text(stats.fetched_bytes, a, sizeof a);
        bkcli_size_text(stats.kept_bytes, c, sizeof c);
        printf("  copied %zu files (%s; %zu continued), kept %zu already complete and verified "
               "(%s)\n  every SHA-256 verified; manifest %s/%s\n",
               stats.fetched, a, stats.continued, stats.kept, c, o->out, BKCLI_MANIFEST);
    }
    backup_remove_dir(s.dir);
    backup_desc_free(&d);
    return rc;
}

/* ---- arguments ------------------------------------------------------------------ */

static int parse(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->url = getenv("EDGEKV_URL");
    o->token = getenv("EDGEKV_TOKEN");
    o->account = getenv("EDGEKV_ACCOUNT");
    o->cacert = getenv("EDGEKV_CACERT");
    o->chunk_bytes = KV_BACKUP_CHUNK_MAX_BYTES;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 1;
        }
        if (!v) {
            fprintf(stderr, "edgekv backup: unknown option or missing value: '%s' (see --help)\n",
                    a);
            return -1;
        }
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--token") == 0)
            o->token = v;
        else if (strcmp(a, "--account") == 0)
            o->account = v;
        else if (strcmp(a, "--cacert") == 0)
            o->cacert = v;
        else if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--data") == 0 || strcmp(a, "--data-dir") == 0)
            o->data = v;
        else if (strcmp(a, "--chunk-bytes") == 0) {
            char *end;
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || n < 4096 || n > KV_BACKUP_CHUNK_MAX_BYTES) {
                fprintf(stderr, "edgekv backup: --chunk-bytes: 4096..%u, got '%s'\n",
                        KV_BACKUP_CHUNK_MAX_BYTES, v);
                return -1;
            }
            o->chunk_bytes = (size_t)n;
        } else {
            fprintf(stderr, "edgekv backup: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (!o->out || !o->out[0]) {
        fprintf(stderr, "edgekv backup: --out DIR is required (see --help)\n");
        return -1;
    }
    if (o->data && o->data[0])
        return 0;
    if (!o->url || !o->url[0] || !o->token || !o->token[0]) {
        fprintf(stderr, "edgekv backup: --url and --token (a live node), or --data (a stopped "
                        "node), are required (see --help)\n");
        return -1;
    }
    return 0;
}

int backup_main(int argc, char **argv)
{
    opts_t o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    /* RocksDB's and the store's own messages: warnings and errors only. */
    kv_log_set_level(KV_LOG_WARN);
    return o.data && o.data[0] ? backup_local(&o) : backup_http(&o);
}
