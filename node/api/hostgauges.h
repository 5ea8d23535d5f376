/*
 * hostgauges.h - gauges /metrics reads from the host rather than from a
 * module: the file system of the data directory (free and total bytes,
 * statvfs) and the expiry of the node's certificates (notAfter, read with
 * OpenSSL through certs.h).
 *
 * Cheap per scrape: statvfs is one system call; a certificate file is
 * parsed again only when its identity (device, inode, size, mtime)
 * changed since the last scrape, so a certificate replaced for a SIGHUP
 * reload shows its new expiry at the next scrape. Not here: the
 * certificates' use (tls_api.h reloads them, replica.h loads the
 * replication ones).
 */
#ifndef NODE_HOSTGAUGES_H
#define NODE_HOSTGAUGES_H

#include <stddef.h>

#include "metrics.h"

/* Certificate files watched, at most: the replication CA and certificate
 * plus every HTTPS pair (TLS_API_PAIRS_MAX) and its client CA. */
#define HOSTGAUGES_CERTS_MAX 24

typedef struct {
    const char *path; /* copied */
    const char *use;  /* the label: "replication", "ca", "https", "https_client_ca" (copied) */
} hostgauges_cert_t;

typedef struct hostgauges hostgauges_t;

/* data_dir (copied; NULL: no disk gauges) and certs[n] (n at most
 * HOSTGAUGES_CERTS_MAX, more are ignored). 0 or -ENOMEM. A file missing
 * now is no error: its sample is left out until it can be read. */
int hostgauges_create(const char *data_dir, const hostgauges_cert_t *certs, size_t n,
                      hostgauges_t **out);
void hostgauges_destroy(hostgauges_t *h);

/* Append edgekv_disk_free_bytes, edgekv_disk_size_bytes and
 * edgekv_certificate_not_after_seconds{use,file}. Any thread (a mutex
 * guards the cache); h NULL appends nothing. */
void hostgauges_render(hostgauges_t *h, metrics_buf_t *b);

#endif
