/* hostgauges.c - the data directory's file system and certificate expiry
 * for /metrics (hostgauges.h). */
#include "hostgauges.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "certs.h"
#include "kv_mem.h"

typedef struct {
    char *path, *use;
    struct stat seen; /* identity when not_after was read */
    bool known;       /* not_after is of the file `seen` describes */
    int64_t not_after_s;
} cert_slot_t;

struct hostgauges {
    char *data_dir;
    pthread_mutex_t lock; /* the slots' caches: scrapes run on any HTTP loop */
    size_t count;
    cert_slot_t certs[HOSTGAUGES_CERTS_MAX];
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kv_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int hostgauges_create(const char *data_dir, const hostgauges_cert_t *certs, size_t n,
                      hostgauges_t **out)
{
    hostgauges_t *h = kv_calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    if (data_dir && !(h->data_dir = dup_str(data_dir)))
        goto oom;
    for (size_t i = 0; i < n && i < HOSTGAUGES_CERTS_MAX; i++, h->count++)
        if (!(h->certs[i].path = dup_str(certs[i].path)) ||
            !(h->certs[i].use = dup_str(certs[i].use)))
            goto oom;
    *out = h;
    return 0;
oom:
    h->count += h->count < HOSTGAUGES_CERTS_MAX; /* the slot half filled */
    hostgauges_destroy(h);
    return -ENOMEM;
}

void hostgauges_destroy(hostgauges_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->count; i++) {
        kv_free(h->certs[i].path);
        kv_free(h->certs[i].use);
    }
    kv_free(h->data_dir);
    pthread_mutex_destroy(&h->lock);
    kv_free(h);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The slot's notAfter, read again only when the file changed. Under lock. */
static bool slot_not_after(cert_slot_t *c, int64_t *out)
{
    struct stat st;
    if (stat(c->path, &st) != 0) {
        c->known = false;
        return false;
    }
    if (!c->known || !same_file(&st, &c->seen)) {
        c->known = certs_not_after(c->path, &c->not_after_s) == 0;
        c->seen = st;
    }
    *out = c->not_after_s;
    return c->known;
}

/* A label value: the path with its quotes and backslashes escaped. */
static void label_value(metrics_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            metrics_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            metrics_buf_printf(b, "\\n");
        else
            metrics_buf_printf(b, "%c", *s);
    }
}

void hostgauges_render(hostgauges_t *h, metrics_buf_t *b)
{
    struct statvfs vfs;
    if (!h)
        return;
    if (h->data_dir && statvfs(h->data_dir, &vfs) == 0) {
        metrics_buf_value(b, "gauge", "edgekv_disk_free_bytes",
                          "Bytes available to the node on the data directory's file system.",
                          (uint64_t)vfs.f_bavail * vfs.f_frsize);
        metrics_buf_value(b, "gauge", "edgekv_disk_size_bytes",
                          "Size of the data directory's file system.",
                          (uint64_t)vfs.f_blocks * vfs.f_frsize);
    }
    if (!h->count)
        return;
    metrics_buf_family(b, "gauge", "edgekv_certificate_not_after_seconds",
                       "Expiry (notAfter, Unix time) of each certificate file the node uses.");
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->count; i++) {
        int64_t t;
        if (!slot_not_after(&h->certs[i], &t))
            continue;
        metrics_buf_printf(b, "edgekv_certificate_not_after_seconds{use=\"%s\",file=\"",
                           h->certs[i].use);
        label_value(b, h->certs[i].path);
        metrics_buf_printf(b, "\"} %lld\n", (long long)t);
    }
    pthread_mutex_unlock(&h->lock);
}
