/*
 * backup.c - the backup endpoints of a live node (backup.h): make a
 * checkpoint, list it, serve its files in bounded chunks, delete it.
 *
 * A live node holds RocksDB's lock on its store, so a backup of it goes
 * through the node. The checkpoints live in a process-wide registry of
 * KV_BACKUP_CHECKPOINTS_MAX slots (one node per process; a slot remembers
 * its store, so a test process with several nodes keeps them apart). The
 * registry is a fixed array under one mutex: nothing to create or free
 * with the node. Every disk operation - making, hashing, reading a chunk,
 * deleting - runs on the libuv threadpool (app_offload); the loop only
 * books slots and answers. A reaper thread, running while a checkpoint
 * lives, deletes those idle for KV_BACKUP_IDLE_TTL_S.
 *
 * What it is not: the client (node/cmd/backup_cli.c), nor a resumable
 * server-side session: a chunk is read from the file each time.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "kv_rand.h"
#include "text.h"

#define BACKUP_LOG      "backup"
#define BACKUP_PREFIX   "/backup"
#define BACKUP_PATH_MAX (4096 + 64)
/* A checkpoint directory: the area, "/", the id. */
#define BACKUP_DIR_MAX (BACKUP_PATH_MAX + BACKUP_ID_HEX + 2)
/* How often the reaper looks for idle checkpoints. */
#define BACKUP_REAP_INTERVAL_MS 1000

typedef enum { SLOT_FREE = 0, SLOT_MAKING, SLOT_READY, SLOT_DELETING } slot_state_t;

typedef struct {
    slot_state_t state;
    const stor_t *store; /* the node it belongs to */
    char id[BACKUP_ID_HEX + 1];
    char dir[BACKUP_DIR_MAX];
    backup_desc_t desc; /* SLOT_READY */
    unsigned readers;   /* chunk reads in flight */
    uint64_t used_ms;   /* monotonic: last request that named it */
} slot_t;

/* Everything under lock. */
static struct {
    pthread_mutex_t lock;
    slot_t slots[KV_BACKUP_CHECKPOINTS_MAX];
    unsigned reads; /* chunk reads in flight, all slots */
    bool reaper;    /* the reaper thread runs */
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* DATA/backups for the store at DATA/db. */
static void area_of(const stor_t *s, char *out, size_t cap)
{
    const char *p = stor_path(s), *slash = strrchr(p, '/');
    if (!slash)
        snprintf(out, cap, "%s", BACKUP_AREA_NAME);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - p), p, BACKUP_AREA_NAME);
}

/* Under lock: the slot of id for store s in one of the states, or NULL. */
static slot_t *slot_find(const stor_t *s, const char *id, size_t id_len)
{
    for (int i = 0; i < KV_BACKUP_CHECKPOINTS_MAX; i++) {
        slot_t *sl = &reg.slots[i];
        if (sl->state != SLOT_FREE && sl->store == s && strlen(sl->id) == id_len &&
            memcmp(sl->id, id, id_len) == 0)
            return sl;
    }
    return NULL;
}

static void slot_release(slot_t *sl)
{
    backup_desc_free(&sl->desc);
    memset(sl, 0, sizeof *sl);
}

/* ---- the reaper ----------------------------------------------------------------- */

static void *reaper_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {BACKUP_REAP_INTERVAL_MS / 1000,
                              (BACKUP_REAP_INTERVAL_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        char dir[BACKUP_DIR_MAX] = "";
        slot_t *victim = NULL;
        bool any = false;
        uint64_t now = mono_ms();
        pthread_mutex_lock(&reg.lock);
        for (int i = 0; i < KV_BACKUP_CHECKPOINTS_MAX; i++) {
            slot_t *sl = &reg.slots[i];
            any = any || sl->state != SLOT_FREE;
            if (!victim && sl->state == SLOT_READY && !sl->readers &&
                now - sl->used_ms >= (uint64_t)KV_BACKUP_IDLE_TTL_S * 1000u) {
                victim = sl;
                sl->state = SLOT_DELETING;
                memcpy(dir, sl->dir, sizeof dir); /* same size, NUL-terminated */
            }
        }
        if (!any)
            reg.reaper = false;
        pthread_mutex_unlock(&reg.lock);
        if (!any)
            return NULL;
        if (victim) {
            KV_LOG_WARN(BACKUP_LOG, "checkpoint %s idle for %d s: deleted", dir,
                        KV_BACKUP_IDLE_TTL_S);
            backup_remove_dir(dir);
            pthread_mutex_lock(&reg.lock);
            slot_release(victim);
            pthread_mutex_unlock(&reg.lock);
        }
    }
}

/* Under lock. A reaper that cannot start leaves idle checkpoints to the
 * next one (or to the next process, which deletes what it finds). */
static void reaper_ensure(void)
{
    pthread_t t;
    pthread_attr_t a;
    if (reg.reaper || pthread_attr_init(&a) != 0)
        return;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, reaper_main, NULL) == 0)
        reg.reaper = true;
    else
        KV_LOG_WARN(BACKUP_LOG, "no reaper thread: idle checkpoints stay until the next backup");
    pthread_attr_destroy(&a);
}

/* ---- answers ---------------------------------------------------------------------- */

static void answer_error(node_app_t *app, http_req_t *req, int status, int code, const char *msg)
{
    app_rest_error(app, req, METRICS_ROUTE_BACKUP, status, code, msg);
}

/* ---- POST /backup: make ----------------------------------------------------------- */

typedef struct {
    node_app_t *app;
    http_req_t *req;
    slot_t *slot;
    stor_t *store;
    char dir[BACKUP_DIR_MAX];
    char area[BACKUP_PATH_MAX];
    backup_desc_t desc;
    int rc;
} make_job_t;

/* Directories in the area that no live slot of this process owns: left
 * by an earlier process (stopped mid-backup) or a failed checkpoint. */
static void sweep_area(const char *area, const stor_t *s)
{
    DIR *d = opendir(area);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char p[BACKUP_PATH_MAX + 300];
        bool live;
        if (e->d_name[0] == '.')
            continue;
        pthread_mutex_lock(&reg.lock);
        live = slot_find(s, e->d_name, strlen(e->d_name)) != NULL;
        pthread_mutex_unlock(&reg.lock);
        if (live)
            continue;
        snprintf(p, sizeof p, "%s/%s", area, e->d_name);
        KV_LOG_INFO(BACKUP_LOG, "deleting %s (left by an earlier process)", p);
        backup_remove_dir(p);
    }
    closedir(d);
}

static void make_work(void *arg)
{
    make_job_t *j = arg;
    sweep_area(j->area, j->store);
    if (mkdir(j->area, 0700) != 0 && errno != EEXIST) {
        j->rc = -errno;
        KV_LOG_ERROR(BACKUP_LOG, "cannot create %s: %s", j->area, kv_strerror(j->rc));
        return;
    }
    j->rc =
        backup_make(j->store, j->dir, j->app->role, j->app->node_id, j->app->account_id, &j->desc);
}

/* The slot takes the description; the answer is built under the lock, as
 * a DELETE on another loop may free the slot's copy right after. */
static void make_done(void *arg)
{
    make_job_t *j = arg;
    json_t *doc = NULL;
    pthread_mutex_lock(&reg.lock);
    if (j->rc == 0) {
        j->slot->desc = j->desc;
        j->slot->state = SLOT_READY;
        j->slot->used_ms = mono_ms();
        doc = backup_desc_json(&j->slot->desc);
        reaper_ensure();
    } else {
        slot_release(j->slot);
    }
    pthread_mutex_unlock(&reg.lock);
    if (j->rc == 0) {
        KV_LOG_INFO(BACKUP_LOG, "checkpoint %s: %zu files, %llu bytes, seq %llu", j->dir,
                    j->desc.nfiles, (unsigned long long)j->desc.bytes,
                    (unsigned long long)j->desc.seq);
        if (doc)
            app_respond_json(j->app, j->req, METRICS_ROUTE_BACKUP, 200, doc);
        else
            answer_error(j->app, j->req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Internal Server Error: checkpoint failed: %s",
                 kv_strerror(j->rc));
        answer_error(j->app, j->req, 500, KVOP_CODE_INTERNAL, msg);
    }
    kv_free(j);
}

static void route_make(node_app_t *app, http_req_t *req)
{
    slot_t *free_slot = NULL;
    stor_t *s = kvops_store(app->ops);
    char id[BACKUP_ID_HEX + 1];
    make_job_t *j;
    if (kv_random_hex(id, BACKUP_ID_HEX) != 0 || !(j = kv_calloc(1, sizeof *j))) {
        answer_error(app, req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
        return;
    }
    pthread_mutex_lock(&reg.lock);
    for (int i = 0; i < KV_BACKUP_CHECKPOINTS_MAX && !free_slot; i++)
        if (reg.slots[i].state == SLOT_FREE)
            free_slot = &reg.slots[i];
    if (free_slot) {
        free_slot->state = SLOT_MAKING;
        free_slot->store = s;
        memcpy(free_slot->id, id, sizeof id);
    }
    pthread_mutex_unlock(&reg.lock);
    if (!free_slot) {
        kv_free(j);
        answer_error(app, req, 429, KVOP_CODE_LIMIT,
                     "Too Many Requests: too many checkpoints alive; delete one or retry later");
        return;
    }
    j->app = app;
    j->req = req;
    j->slot = free_slot;
    j->store = s;
    area_of(s, j->area, sizeof j->area);
    snprintf(j->dir, sizeof j->dir, "%s/%s", j->area, id);
    snprintf(free_slot->dir, sizeof free_slot->dir, "%s", j->dir);
    if (app_offload(req, make_work, make_done, j) != 0) {
        j->rc = -ENOMEM;
        make_done(j);
    }
}

/* ---- GET /backup/<id>: the manifest again ----------------------------------------- */

static void route_list(node_app_t *app, http_req_t *req, const char *id, size_t id_len)
{
    json_t *doc = NULL;
    bool found;
    pthread_mutex_lock(&reg.lock);
    slot_t *sl = slot_find(kvops_store(app->ops), id, id_len);
    found = sl && sl->state == SLOT_READY;
    if (found) {
        sl->used_ms = mono_ms();
        doc = backup_desc_json(&sl->desc);
    }
    pthread_mutex_unlock(&reg.lock);
    if (!found)
        answer_error(app, req, 404, KVOP_CODE_NO_ROUTE, "Not Found: no such checkpoint");
    else if (!doc)
        answer_error(app, req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
    else
        app_respond_json(app, req, METRICS_ROUTE_BACKUP, 200, doc);
}

/* ---- GET /backup/<id>/files/<name>?offset=O&length=L: a chunk --------------------- */

typedef struct {
    node_app_t *app;
    http_req_t *req;
    const stor_t *store;
    char id[BACKUP_ID_HEX + 1];
    char path[BACKUP_DIR_MAX + KV_BACKUP_NAME_MAX_BYTES + 2];
    uint64_t offset;
    size_t len;
    uint8_t *buf;
    int rc;
} chunk_job_t;

static void chunk_work(void *arg)
{
    chunk_job_t *j = arg;
    size_t got = 0;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->rc = -errno;
        return;
    }
    while (got < j->len) {
        ssize_t n = pread(fd, j->buf + got, j->len - got, (off_t)(j->offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            j->rc = n < 0 ? -errno : KV_ECORRUPT; /* shorter than listed: changed under us */
            break;
        }
        got += (size_t)n;
    }
    close(fd);
}

static void chunk_free(void *arg)
{
    kv_free(arg);
}

static void chunk_done(void *arg)
{
    chunk_job_t *j = arg;
    pthread_mutex_lock(&reg.lock);
    reg.reads--;
    slot_t *sl = slot_find(j->store, j->id, strlen(j->id));
    if (sl && sl->readers) {
        sl->readers--;
        sl->used_ms = mono_ms();
    }
    pthread_mutex_unlock(&reg.lock);
    if (j->rc == -ENOENT) {
        answer_error(j->app, j->req, 404, KVOP_CODE_NO_ROUTE, "Not Found: no such checkpoint");
    } else if (j->rc != 0) {
        KV_LOG_ERROR(BACKUP_LOG, "reading %s: %s", j->path, kv_strerror(j->rc));
        answer_error(j->app, j->req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
    } else {
        http_response_t r = {.status = 200,
                             .content_type = "application/octet-stream",
                             .body = j->buf,
                             .body_len = j->len,
                             .body_release = chunk_free,
                             .body_release_arg = j->buf};
        j->buf = NULL;
        app_respond(j->app, j->req, METRICS_ROUTE_BACKUP, &r);
    }
    kv_free(j->buf);
    kv_free(j);
}

/* A decimal query parameter; absent: dflt. false when malformed. */
static bool query_u64(const http_req_t *req, const char *name, uint64_t dflt, uint64_t *out)
{
    char buf[24], *end;
    long n = text_query_decode(req->query, req->query ? req->query_len : 0, name, buf, sizeof buf);
    *out = dflt;
    if (n == -1)
        return true;
    if (n <= 0 || buf[0] < '0' || buf[0] > '9')
        return false;
    errno = 0;
    *out = strtoull(buf, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Under lock: the listed file `name` of a ready slot, or NULL. */
static const backup_file_t *slot_file(slot_t *sl, const char *name, size_t len)
{
    for (size_t i = 0; sl && sl->state == SLOT_READY && i < sl->desc.nfiles; i++)
        if (strlen(sl->desc.files[i].name) == len && memcmp(sl->desc.files[i].name, name, len) == 0)
            return &sl->desc.files[i];
    return NULL;
}

static void route_chunk(node_app_t *app, http_req_t *req, const char *id, size_t id_len,
                        const char *name, size_t name_len)
{
    uint64_t off, len;
    chunk_job_t *j;
    const stor_t *s = kvops_store(app->ops);
    if (!query_u64(req, "offset", 0, &off) ||
        !query_u64(req, "length", KV_BACKUP_CHUNK_MAX_BYTES, &len) || len == 0 ||
        len > KV_BACKUP_CHUNK_MAX_BYTES) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Bad Request: offset and length must be decimal, 1 <= length <= %u",
                 KV_BACKUP_CHUNK_MAX_BYTES);
        answer_error(app, req, 400, KVOP_CODE_BAD_REQUEST, msg);
        return;
    }
    if (!(j = kv_calloc(1, sizeof *j))) {
        answer_error(app, req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
        return;
    }
    int status = 0;
    pthread_mutex_lock(&reg.lock);
    slot_t *sl = slot_find(s, id, id_len);
    const backup_file_t *f = slot_file(sl, name, name_len);
    if (!f)
        status = 404;
    else if (off > f->size)
        status = 416;
    else if (reg.reads >= KV_BACKUP_READS_MAX)
        status = 429;
    if (!status) {
        reg.reads++;
        sl->readers++;
        sl->used_ms = mono_ms();
        j->len = (size_t)(f->size - off < len ? f->size - off : len);
        snprintf(j->path, sizeof j->path, "%s/%s", sl->dir, f->name);
        memcpy(j->id, sl->id, sizeof j->id);
    }
    pthread_mutex_unlock(&reg.lock);
    if (status) {
        kv_free(j);
        if (status == 404)
            answer_error(app, req, 404, KVOP_CODE_NO_ROUTE,
                         "Not Found: no such checkpoint or file");
        else if (status == 416)
            answer_error(app, req, 416, KVOP_CODE_BAD_REQUEST,
                         "Range Not Satisfiable: offset past the end of the file");
        else
            answer_error(app, req, 429, KVOP_CODE_LIMIT,
                         "Too Many Requests: too many chunk reads at once; retry later");
        return;
    }
    j->app = app;
    j->req = req;
    j->store = s;
    j->offset = off;
    if (!(j->buf = kv_malloc(j->len ? j->len : 1)) ||
        app_offload(req, chunk_work, chunk_done, j) != 0) {
        j->rc = -ENOMEM;
        chunk_done(j);
    }
}

/* ---- DELETE /backup/<id> ---------------------------------------------------------- */

typedef struct {
    node_app_t *app;
    http_req_t *req;
    slot_t *slot;
    char dir[BACKUP_DIR_MAX];
    char id[BACKUP_ID_HEX + 1];
    int rc;
} del_job_t;

static void del_work(void *arg)
{
    del_job_t *j = arg;
    j->rc = backup_remove_dir(j->dir);
}

/* A chunk read still in flight opened its file before, or fails with 404:
 * unlinked files stay readable through an open descriptor. */
static void del_done(void *arg)
{
    del_job_t *j = arg;
    pthread_mutex_lock(&reg.lock);
    slot_release(j->slot);
    pthread_mutex_unlock(&reg.lock);
    if (j->rc != 0) {
        KV_LOG_ERROR(BACKUP_LOG, "deleting %s: %s", j->dir, kv_strerror(j->rc));
        answer_error(j->app, j->req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
    } else {
        KV_LOG_INFO(BACKUP_LOG, "checkpoint %s deleted", j->dir);
        app_respond_json(j->app, j->req, METRICS_ROUTE_BACKUP, 200,
                         json_pack("{s:s}", "deleted", j->id));
    }
    kv_free(j);
}

static void route_delete(node_app_t *app, http_req_t *req, const char *id, size_t id_len)
{
    del_job_t *j = kv_calloc(1, sizeof *j);
    slot_t *sl;
    if (!j) {
        answer_error(app, req, 500, KVOP_CODE_INTERNAL, "Internal Server Error");
        return;
    }
    pthread_mutex_lock(&reg.lock);
    sl = slot_find(kvops_store(app->ops), id, id_len);
    if (sl && sl->state == SLOT_READY) {
        sl->state = SLOT_DELETING;
        snprintf(j->dir, sizeof j->dir, "%s", sl->dir);
        memcpy(j->id, sl->id, sizeof j->id);
    } else {
        sl = NULL;
    }
    pthread_mutex_unlock(&reg.lock);
    if (!sl) {
        kv_free(j);
        answer_error(app, req, 404, KVOP_CODE_NO_ROUTE, "Not Found: no such checkpoint");
        return;
    }
    j->app = app;
    j->req = req;
    j->slot = sl;
    if (app_offload(req, del_work, del_done, j) != 0) {
        j->rc = backup_remove_dir(j->dir); /* no memory for the queue: a flat dir, here */
        del_done(j);
    }
}

/* ---- routing -------------------------------------------------------------------- */

static void method_not_allowed(node_app_t *app, http_req_t *req)
{
    answer_error(app, req, 405, KVOP_CODE_METHOD, "Method Not Allowed");
}

bool backup_handle(node_app_t *app, http_req_t *req)
{
    const size_t plen = sizeof BACKUP_PREFIX - 1;
    const char *p = req->path, *id, *slash, *end = req->path + req->path_len;
    if (req->path_len < plen || memcmp(p, BACKUP_PREFIX, plen) != 0 ||
        (req->path_len > plen && p[plen] != '/'))
        return false;
    if (!app_ops_admit(app, req, METRICS_ROUTE_BACKUP))
        return true;
    if (req->path_len == plen || req->path_len == plen + 1) { /* /backup, /backup/ */
        if (req->method == HTTP_M_POST)
            route_make(app, req);
        else
            method_not_allowed(app, req);
        return true;
    }
    id = p + plen + 1;
    slash = memchr(id, '/', (size_t)(end - id));
    if (!slash) {
        if (req->method == HTTP_M_GET)
            route_list(app, req, id, (size_t)(end - id));
        else if (req->method == HTTP_M_DELETE)
            route_delete(app, req, id, (size_t)(end - id));
        else
            method_not_allowed(app, req);
        return true;
    }
    const char *files = "/files/", *name = slash + strlen(files);
    if ((size_t)(end - slash) > strlen(files) && memcmp(slash, files, strlen(files)) == 0 &&
        !memchr(name, '/', (size_t)(end - name))) {
        if (req->method == HTTP_M_GET)
            route_chunk(app, req, id, (size_t)(slash - id), name, (size_t)(end - name));
        else
            method_not_allowed(app, req);
        return true;
    }
    answer_error(app, req, 404, KVOP_CODE_NO_ROUTE, "No route for the URI");
    return true;
}
