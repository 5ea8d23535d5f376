/*
 * certs.h - the cluster's certificate authority and node certificates
 * (the `edgekv certs` command, node/cmd/certs_cli.c, is their front end).
 *
 * Everything is made with OpenSSL's API (EVP_PKEY, X509, X509_sign), never by
 * running the openssl tool. Keys are EC P-256, signatures ECDSA-SHA256.
 * A directory holds ca.crt/ca.key and <name>.crt/<name>.key per node. Key
 * files are written 0600, every file atomically (temporary file, fsync,
 * rename), so a crash never leaves half a key.
 *
 * Node certificates carry what tls.h checks: subject O=edgekv,
 * OU=edgekv-origin|edgekv-edge|edgekv-relay (the role), CN=<node name>; extendedKeyUsage
 * serverAuth+clientAuth (either side of a link); subjectAltName with the
 * node's hosts/IPs.
 *
 * API certificates (certs_issue_api) are for HTTPS on a node's API port,
 * where the clients are browsers, SDKs and `edgekv kv`: subject O=edgekv,
 * CN=<name> and no organizationalUnit, so tls.h finds no role in them and
 * they can never pass as a replication peer; extendedKeyUsage serverAuth
 * only (not a client certificate either); subjectAltName as above. Same CA,
 * same key type, same file rules.
 *
 * What this is not: a PKI. No revocation lists, no renewal daemon; to retire
 * a node, re-create the CA and re-issue (`certs issue` is cheap).
 */
#ifndef NODE_CERTS_H
#define NODE_CERTS_H

#include <stddef.h>
#include <stdint.h>

/* Defaults of `certs init` / `certs issue` / `certs api` (node and API
 * certificates share CERTS_NODE_DAYS_DEFAULT). */
#define CERTS_CA_DAYS_DEFAULT   3650
#define CERTS_NODE_DAYS_DEFAULT 825
#define CERTS_EDGES_DEFAULT     3
/* Upper bound of --edges: a generous cluster, and a guard against typos. */
#define CERTS_EDGES_MAX 1000
/* Upper bound of --days (about 100 years: past 2049 X.509 switches time
 * encoding, which works but no node lives that long). */
#define CERTS_DAYS_MAX 36500
/* Certificates start this long in the past so that a node whose clock is a
 * little behind the issuer's accepts a fresh one. */
#define CERTS_BACKDATE_S 300
/* subjectAltName entries per certificate. */
#define CERTS_HOSTS_MAX 32

/* Create dir/ca.crt and dir/ca.key (a new key; CN "edgekv cluster CA <id>"
 * with a random id, so two clusters' CAs are told apart), valid for `days`.
 * Creates `dir` (0700) when missing. KV_EEXISTS if dir/ca.crt exists,
 * KV_EINVAL for days outside [1, CERTS_DAYS_MAX], -errno for file errors,
 * KV_EIO for OpenSSL failures (logged). */
int certs_create_ca(const char *dir, int days);

/* Issue dir/<name>.crt and dir/<name>.key signed by the CA in `dir`, for role
 * "origin", "edge" or "relay", valid from CERTS_BACKDATE_S ago for `days`. `hosts`
 * (DNS names or IP literals) become the subjectAltName; NULL or 0 gives
 * "localhost" and "127.0.0.1". Replaces an existing certificate of that
 * name. `name` is [A-Za-z0-9._-]{1,64} and not "ca". KV_EINVAL for bad
 * arguments, KV_ENOTFOUND when the CA is missing, else as above. */
int certs_issue(const char *dir, const char *role, const char *name, int days,
                const char *const *hosts, size_t host_count);

/* certs_issue with an explicit validity window, in seconds relative to now
 * (negative = past). Tests use it for expired and not-yet-valid
 * certificates. KV_EINVAL unless not_before_s < not_after_s. */
int certs_issue_window(const char *dir, const char *role, const char *name, int64_t not_before_s,
                       int64_t not_after_s, const char *const *hosts, size_t host_count);

/* Issue the API (HTTPS server) certificate dir/<name>.crt and dir/<name>.key
 * signed by the CA in `dir`, valid from CERTS_BACKDATE_S ago for `days`;
 * `hosts` and `name` as for certs_issue (the hosts are the names clients
 * connect to). Replaces an existing API certificate of that name, but
 * KV_EEXISTS if dir/<name>.crt is a node certificate (one with a role): a
 * node's certificate is never overwritten by mistake. Errors as
 * certs_issue. */
int certs_issue_api(const char *dir, const char *name, int days, const char *const *hosts,
                    size_t host_count);

/* certs_issue_api with an explicit validity window, as certs_issue_window. */
int certs_issue_api_window(const char *dir, const char *name, int64_t not_before_s,
                           int64_t not_after_s, const char *const *hosts, size_t host_count);

/* The notAfter of the first certificate in the PEM file `path`, as Unix
 * seconds, into *out (what /metrics exports as a certificate's expiry).
 * -errno when the file cannot be opened, KV_EINVAL when it holds no
 * certificate or its time cannot be read (the OpenSSL queue drained). */
int certs_not_after(const char *path, int64_t *out);

#endif
