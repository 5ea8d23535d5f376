/*
 * certs.c - the cluster CA, node and API certificates of certs.h, made with
 * OpenSSL's key and X509 API. Node and API certificates differ only in the
 * subject's OU and the extendedKeyUsage; one path (certs__issue) makes
 * both. The `edgekv certs` command line is in certs_cli.c.
 */
#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kv_err.h"
#include "kv_log.h"
#include "kv_mem.h"
#include "tls.h"

/* Serial numbers: 127 random bits with the top one set, so they are
 * positive, never zero and unique in practice (RFC 5280 allows 20 bytes). */
#define CERTS__SERIAL_BITS 127
/* Longest DNS name in a subjectAltName. */
#define CERTS__HOST_MAX 253

/* Log the OpenSSL error queue with what we were doing; KV_EIO. */
static int certs__ssl_fail(const char *what)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();

    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    KV_LOG_ERROR("certs", "%s: %s", what, buf);
    return KV_EIO;
}

static int certs__path(char *out, const char *dir, const char *name, const char *ext)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* mkdir -p, new directories 0700 (they will hold keys). */
static int certs__mkdirs(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof p)
        return n ? -ENAMETOOLONG : KV_EINVAL;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -errno;
        p[i] = saved;
    }
    return 0;
}

typedef int (*certs__writer_fn)(FILE *f, void *obj);

static int certs__write_key(FILE *f, void *obj)
{
    return PEM_write_PrivateKey(f, obj, NULL, NULL, 0, NULL, NULL);
}

static int certs__write_crt(FILE *f, void *obj)
{
    return PEM_write_X509(f, obj);
}

static void certs__fsync_dir(const char *path)
{
    char d[PATH_MAX];
    char *slash;
    int fd;

    snprintf(d, sizeof d, "%s", path);
    slash = strrchr(d, '/');
    if (!slash)
        return;
    *slash = '\0';
    if ((fd = open(d[0] ? d : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Write `path` atomically with permissions `mode`: a temporary file in the
 * same directory, fsync, rename, fsync of the directory. */
static int certs__write_file(const char *path, mode_t mode, certs__writer_fn fn, void *obj)
{
    char tmp[PATH_MAX];
    FILE *f;
    int fd, rc = 0;

    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    (void)unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
        return -errno;
    if (fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
        rc = -errno;
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (fn(f, obj) != 1)
        rc = certs__ssl_fail(path);
    else if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    else
        certs__fsync_dir(path);
    return rc;
}

static int certs__add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;
    int ok;

    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    if (!(e = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)))
        return certs__ssl_fail(value);
    ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : certs__ssl_fail(value);
}

static int certs__set_time(ASN1_TIME *t, time_t now, int64_t offset_s)
{
    /* ASN1_TIME_adj takes days and seconds so large offsets cannot overflow. */
    return ASN1_TIME_adj(t, now, (int)(offset_s / 86400), (long)(offset_s % 86400)) ? 0 : KV_EIO;
}

/* A certificate for `key` with subject O=edgekv[, OU=ou], CN=cn, a random
 * serial and the given validity; version 3, no extensions yet. */
static int certs__new_cert(EVP_PKEY *key, const char *ou, const char *cn, int64_t nb_s,
                           int64_t na_s, X509 **out)
{
    X509 *x = X509_new();
    X509_NAME *subj = x ? X509_get_subject_name(x) : NULL;
    BIGNUM *bn = BN_new();
    time_t now = time(NULL);
    int ok = x && bn && X509_set_version(x, X509_VERSION_3) &&
             BN_rand(bn, CERTS__SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             certs__set_time(X509_getm_notBefore(x), now, nb_s) == 0 &&
             certs__set_time(X509_getm_notAfter(x), now, na_s) == 0 &&
             X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8, (const unsigned char *)"edgekv",
                                        -1, -1, 0) &&
             (!ou || X509_NAME_add_entry_by_txt(subj, "OU", MBSTRING_UTF8,
                                                (const unsigned char *)ou, -1, -1, 0)) &&
             X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0) &&
             X509_set_pubkey(x, key);

    BN_free(bn);
    if (!ok) {
        X509_free(x);
        return certs__ssl_fail("cannot build a certificate");
    }
    *out = x;
    return 0;
}

static int certs__gen_key(EVP_PKEY **out)
{
    if (!(*out = EVP_EC_gen("P-256")))
        return certs__ssl_fail("cannot generate an EC P-256 key");
    return 0;
}

static bool certs__exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int certs_create_ca(const char *dir, int days)
{
    char crt[PATH_MAX], keyp[PATH_MAX], cn[64];
    unsigned char id[4];
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc;

    if (!dir || days < 1 || days > CERTS_DAYS_MAX)
        return KV_EINVAL;
    if ((rc = certs__path(crt, dir, "ca", ".crt")) != 0 ||
        (rc = certs__path(keyp, dir, "ca", ".key")) != 0 || (rc = certs__mkdirs(dir)) != 0)
        return rc;
    if (certs__exists(crt))
        return KV_EEXISTS;
    if (RAND_bytes(id, sizeof id) != 1)
        return certs__ssl_fail("no randomness");
    snprintf(cn, sizeof cn, "edgekv cluster CA %02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
    if ((rc = certs__gen_key(&key)) != 0)
        return rc;
    if ((rc = certs__new_cert(key, NULL, cn, -CERTS_BACKDATE_S, (int64_t)days * 86400, &x)) ||
        X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        (rc = certs__add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) ||
        (rc = certs__add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
        (rc = certs__add_ext(x, x, NID_subject_key_identifier, "hash")) ||
        (rc = certs__add_ext(x, x, NID_authority_key_identifier, "keyid:always"))) {
        rc = rc ? rc : certs__ssl_fail("cannot build the CA certificate");
        goto out;
    }
    if (X509_sign(x, key, EVP_sha256()) <= 0) {
        rc = certs__ssl_fail("cannot sign the CA certificate");
        goto out;
    }
    if ((rc = certs__write_file(keyp, 0600, certs__write_key, key)) == 0)
        rc = certs__write_file(crt, 0644, certs__write_crt, x);
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static bool certs__name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n < 1 || n > KV_TLS_PEER_NAME_MAX || strcmp(name, "ca") == 0 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* "DNS:a,IP:b,..." for the subjectAltName; KV_EINVAL for a bad host. */
static int certs__san(const char *const *hosts, size_t n, char *out, size_t out_len)
{
    static const char *const defaults[] = {"localhost", "127.0.0.1"};
    size_t used = 0;

    if (!hosts || n == 0) {
        hosts = defaults;
        n = 2;
    }
    if (n > CERTS_HOSTS_MAX)
        return KV_EINVAL;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *h = hosts[i];
        unsigned char ip[16];
        bool is_ip = h && (inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1);
        size_t len = h ? strlen(h) : 0;
        int w;

        if (len == 0 || len > CERTS__HOST_MAX)
            return KV_EINVAL;
        for (size_t j = 0; !is_ip && j < len; j++)
            if (!((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z') ||
                  (h[j] >= '0' && h[j] <= '9') || h[j] == '-' || h[j] == '.' || h[j] == '*'))
                return KV_EINVAL;
        w = snprintf(out + used, out_len - used, "%s%s:%s", i ? "," : "", is_ip ? "IP" : "DNS", h);
        if (w < 0 || (size_t)w >= out_len - used)
            return KV_EINVAL;
        used += (size_t)w;
    }
    return 0;
}

static int certs__load_ca(const char *dir, X509 **crt, EVP_PKEY **key)
{
    char p[PATH_MAX];
    FILE *f;
    int rc;

    if ((rc = certs__path(p, dir, "ca", ".crt")) != 0)
        return rc;
    if (!(f = fopen(p, "r")))
        return errno == ENOENT ? KV_ENOTFOUND : -errno;
    *crt = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!*crt)
        return certs__ssl_fail(p);
    if ((rc = certs__path(p, dir, "ca", ".key")) != 0 || !(f = fopen(p, "r"))) {
        rc = rc ? rc : errno == ENOENT ? KV_ENOTFOUND : -errno;
        goto fail;
    }
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!*key) {
        rc = certs__ssl_fail(p);
        goto fail;
    }
    if (X509_check_private_key(*crt, *key) != 1) {
        EVP_PKEY_free(*key);
        rc = certs__ssl_fail("ca.key does not match ca.crt");
        goto fail;
    }
    return 0;
fail:
    X509_free(*crt);
    *crt = NULL;
    *key = NULL;
    return rc;
}

/* Add the extensions of a node or API certificate (extendedKeyUsage `eku`)
 * and sign with the CA. */
static int certs__finish(X509 *x, X509 *ca, EVP_PKEY *ca_key, const char *eku, const char *san)
{
    int rc;

    if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
        return certs__ssl_fail("cannot set the issuer");
    if ((rc = certs__add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")) ||
        (rc = certs__add_ext(x, ca, NID_key_usage, "critical,digitalSignature")) ||
        (rc = certs__add_ext(x, ca, NID_ext_key_usage, eku)) ||
        (rc = certs__add_ext(x, ca, NID_subject_key_identifier, "hash")) ||
        (rc = certs__add_ext(x, ca, NID_authority_key_identifier, "keyid:always")) ||
        (rc = certs__add_ext(x, ca, NID_subject_alt_name, san)))
        return rc;
    if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
        return certs__ssl_fail("cannot sign the certificate");
    return 0;
}

/* A certificate at `path` that carries an organizationalUnit (a node's
 * role). An unreadable or missing file is not one. */
static bool certs__has_ou(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    bool has = x && X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_organizationalUnitName,
                                               -1) >= 0;

    if (f)
        fclose(f);
    X509_free(x);
    ERR_clear_error();
    return has;
}

/* Issue dir/<name>.crt/.key: subject O=edgekv[, OU=ou], CN=name, with
 * extendedKeyUsage `eku`. The arguments of the public functions are
 * checked here, once. With `keep_nodes`, a node certificate (one with an
 * OU) already at that path is left alone: KV_EEXISTS. */
static int certs__issue(const char *dir, const char *ou, const char *eku, bool keep_nodes,
                        const char *name, int64_t not_before_s, int64_t not_after_s,
                        const char *const *hosts, size_t host_count)
{
    char crt[PATH_MAX], keyp[PATH_MAX], san[CERTS_HOSTS_MAX * (CERTS__HOST_MAX + 8)];
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    int rc;

    if (!dir || !certs__name_ok(name) || not_before_s >= not_after_s)
        return KV_EINVAL;
    if ((rc = certs__san(hosts, host_count, san, sizeof san)) != 0 ||
        (rc = certs__path(crt, dir, name, ".crt")) != 0 ||
        (rc = certs__path(keyp, dir, name, ".key")) != 0)
        return rc;
    if ((rc = certs__load_ca(dir, &ca, &ca_key)) != 0)
        return rc;
    if (keep_nodes && certs__has_ou(crt))
        rc = KV_EEXISTS;
    else if ((rc = certs__gen_key(&key)) == 0 &&
             (rc = certs__new_cert(key, ou, name, not_before_s, not_after_s, &x)) == 0 &&
             (rc = certs__finish(x, ca, ca_key, eku, san)) == 0 &&
             (rc = certs__write_file(keyp, 0600, certs__write_key, key)) == 0)
        rc = certs__write_file(crt, 0644, certs__write_crt, x);
    X509_free(x);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

int certs_issue_window(const char *dir, const char *role, const char *name, int64_t not_before_s,
                       int64_t not_after_s, const char *const *hosts, size_t host_count)
{
    const char *ou;

    if (role && strcmp(role, "origin") == 0)
        ou = TLS_ROLE_OU_ORIGIN;
    else if (role && strcmp(role, "edge") == 0)
        ou = TLS_ROLE_OU_EDGE;
    else if (role && strcmp(role, "relay") == 0)
        ou = TLS_ROLE_OU_RELAY;
    else
        return KV_EINVAL;
    /* serverAuth and clientAuth: a node is either side of a link. */
    return certs__issue(dir, ou, "serverAuth,clientAuth", false, name, not_before_s, not_after_s,
                        hosts, host_count);
}

int certs_issue(const char *dir, const char *role, const char *name, int days,
                const char *const *hosts, size_t host_count)
{
    if (days < 1 || days > CERTS_DAYS_MAX)
        return KV_EINVAL;
    return certs_issue_window(dir, role, name, -CERTS_BACKDATE_S, (int64_t)days * 86400, hosts,
                              host_count);
}

int certs_issue_api_window(const char *dir, const char *name, int64_t not_before_s,
                           int64_t not_after_s, const char *const *hosts, size_t host_count)
{
    /* No OU (no role) and serverAuth only: see certs.h. */
    return certs__issue(dir, NULL, "serverAuth", true, name, not_before_s, not_after_s, hosts,
                        host_count);
}

int certs_issue_api(const char *dir, const char *name, int days, const char *const *hosts,
                    size_t host_count)
{
    if (days < 1 || days > CERTS_DAYS_MAX)
        return KV_EINVAL;
    return certs_issue_api_window(dir, name, -CERTS_BACKDATE_S, (int64_t)days * 86400, hosts,
                                  host_count);
}

int certs_not_after(const char *path, int64_t *out)
{
    FILE *f = fopen(path, "re");
    X509 *x;
    struct tm tm;
    int rc = KV_EINVAL;
    if (!f)
        return -errno;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
        *out = (int64_t)timegm(&tm);
        rc = 0;
    }
    X509_free(x);
    ERR_clear_error(); /* a file without a certificate is the caller's to report */
    return rc;
}
