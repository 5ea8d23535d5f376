/* auth.c - the token table of auth.h. */
#include "auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kv_err.h"
#include "kv_mem.h"

typedef struct {
    char id[AUTH_ID_BYTES]; /* auth.h: what a forwarded write names */
    char *token;
    size_t token_len;
    char *account;
    char **namespaces; /* NULL = all */
    size_t namespace_count;
    bool write;
} entry_t;

struct auth {
    pthread_rwlock_t cfg_lock; /* guards entries and count (auth_set_configured) */
    entry_t *entries;          /* configured */
    size_t count;
    pthread_rwlock_t lock; /* guards stored */
    entry_t *stored;       /* token field holds the SHA-256 hex */
    size_t nstored;
};

static void entry_free(entry_t *e)
{
    size_t i;
    kv_free(e->token);
    kv_free(e->account);
    for (i = 0; e->namespaces && i < e->namespace_count; i++)
        kv_free(e->namespaces[i]);
    kv_free(e->namespaces);
}

static int entry_init(entry_t *e, const auth_token_t *t)
{
    size_t i;
    memset(e, 0, sizeof *e);
    e->token_len = strlen(t->token);
    e->token = kv_strndup(t->token, e->token_len);
    e->account = kv_strndup(t->account, strlen(t->account));
    e->write = t->write;
    if (!e->token || !e->account)
        return -ENOMEM;
    if (t->namespaces) {
        e->namespaces = kv_calloc(t->namespace_count ? t->namespace_count : 1, sizeof(char *));
        if (!e->namespaces)
            return -ENOMEM;
        e->namespace_count = t->namespace_count;
        for (i = 0; i < t->namespace_count; i++)
            if (!(e->namespaces[i] = kv_strndup(t->namespaces[i], strlen(t->namespaces[i]))))
                return -ENOMEM;
    }
    return 0;
}

static int token_ok(const auth_token_t *t, const auth_token_t *all, size_t i)
{
    size_t len = t->token ? strlen(t->token) : 0, j;
    if (len == 0 || len > KV_TOKEN_MAX_BYTES || !t->account || !t->account[0] ||
        strlen(t->account) > KV_ACCOUNT_ID_MAX_BYTES)
        return 0;
    for (j = 0; j < i; j++)
        if (strcmp(all[j].token, t->token) == 0)
            return 0;
    return 1;
}

/* A configured table of n entries from tokens (validated by the caller);
 * 0 or -ENOMEM (nothing left allocated). */
static int entries_build(const auth_token_t *tokens, size_t n, entry_t **out)
{
    entry_t *e = n ? kv_calloc(n, sizeof *e) : NULL;
    size_t i;
    int rc = 0;
    if (n && !e)
        return -ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
        rc = entry_init(&e[i], &tokens[i]);
        auth_configured_id(tokens[i].token, strlen(tokens[i].token), e[i].id);
    }
    if (rc != 0) {
        for (size_t k = 0; k < i; k++)
            entry_free(&e[k]);
        kv_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static void entries_free(entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        entry_free(&e[i]);
    kv_free(e);
}

static int tokens_valid(const auth_token_t *tokens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!token_ok(&tokens[i], tokens, i))
            return 0;
    return 1;
}

int auth_create(const auth_token_t *tokens, size_t n, auth_t **out)
{
    auth_t *a;
    int rc;

    if (!tokens_valid(tokens, n))
        return KV_EINVAL;
    if (!(a = kv_calloc(1, sizeof *a)))
        return -ENOMEM;
    pthread_rwlock_init(&a->lock, NULL);
    pthread_rwlock_init(&a->cfg_lock, NULL);
    if ((rc = entries_build(tokens, n, &a->entries)) != 0) {
        auth_destroy(a);
        return rc;
    }
    a->count = n;
    *out = a;
    return 0;
}

int auth_set_configured(auth_t *a, const auth_token_t *tokens, size_t n)
{
    entry_t *fresh = NULL, *old;
    size_t nold;
    int rc;
    if (!tokens_valid(tokens, n))
        return KV_EINVAL;
    if ((rc = entries_build(tokens, n, &fresh)) != 0)
        return rc;
    pthread_rwlock_wrlock(&a->cfg_lock);
    old = a->entries, nold = a->count;
    a->entries = fresh, a->count = n;
    pthread_rwlock_unlock(&a->cfg_lock);
    entries_free(old, nold);
    return 0;
}

void auth_destroy(auth_t *a)
{
    size_t i;
    if (!a)
        return;
    entries_free(a->entries, a->count);
    for (i = 0; i < a->nstored; i++)
        entry_free(&a->stored[i]);
    kv_free(a->stored);
    pthread_rwlock_destroy(&a->lock);
    pthread_rwlock_destroy(&a->cfg_lock);
    kv_free(a);
}

void auth_digest_hex(const char *secret, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int auth_set_stored(auth_t *a, const auth_stored_t *t, size_t n)
{
    entry_t *fresh = n ? kv_calloc(n, sizeof *fresh) : NULL, *old;
    size_t i, nold;
    int rc = 0;
    if (n && !fresh)
        return -ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
        auth_token_t tok = {.token = t[i].sha256_hex,
                            .account = t[i].account,
                            .namespaces = t[i].namespaces,
                            .namespace_count = t[i].namespace_count,
                            .write = t[i].write};
        if (!t[i].sha256_hex || strlen(t[i].sha256_hex) != 64 || !t[i].account ||
            (t[i].id && strlen(t[i].id) > KV_AUTH_ID_MAX_BYTES))
            rc = KV_EINVAL;
        else if ((rc = entry_init(&fresh[i], &tok)) == 0)
            snprintf(fresh[i].id, sizeof fresh[i].id, "%s", t[i].id ? t[i].id : "");
    }
    if (rc != 0) {
        for (size_t k = 0; k < i; k++)
            entry_free(&fresh[k]);
        kv_free(fresh);
        return rc;
    }
    pthread_rwlock_wrlock(&a->lock);
    old = a->stored, nold = a->nstored;
    a->stored = fresh, a->nstored = n;
    pthread_rwlock_unlock(&a->lock);
    for (i = 0; i < nold; i++)
        entry_free(&old[i]);
    kv_free(old);
    return 0;
}

void auth_configured_id(const char *secret, size_t len, char out[AUTH_ID_BYTES])
{
    static const char domain[] = "edgekv configured token id\n";
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, domain, sizeof domain - 1) != 1 ||
        EVP_DigestUpdate(c, secret, len) != 1 || EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
        out[0] = '\0'; /* names no token: a forwarded write is refused */
        EVP_MD_CTX_free(c);
        return;
    }
    EVP_MD_CTX_free(c);
    memcpy(out, "cfg-", 4);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", md[i]);
}

void auth_configured_hold(auth_t *a)
{
    pthread_rwlock_rdlock(&a->cfg_lock);
}

void auth_configured_release(auth_t *a)
{
    pthread_rwlock_unlock(&a->cfg_lock);
}

int auth_configured_scope(const auth_t *a, const char *id, auth_scope_t *out)
{
    for (size_t i = 0; id[0] && i < a->count; i++) {
        const entry_t *e = &a->entries[i];
        if (strcmp(e->id, id) != 0)
            continue;
        *out = (auth_scope_t){.account = e->account,
                              .namespaces = (const char *const *)e->namespaces,
                              .namespace_count = e->namespace_count,
                              .write = e->write};
        return 1;
    }
    return 0;
}

size_t auth_count(auth_t *a)
{
    size_t n;
    pthread_rwlock_rdlock(&a->cfg_lock);
    n = a->count;
    pthread_rwlock_unlock(&a->cfg_lock);
    return n;
}

/* Constant time in the length of the stored token. */
static int secret_eq(const char *given, size_t given_len, const entry_t *e)
{
    unsigned char diff = given_len != e->token_len;
    size_t i;
    for (i = 0; i < e->token_len; i++)
        diff |= (unsigned char)(e->token[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

static int ns_allowed(const entry_t *e, const char *ns_id)
{
    size_t i;
    if (!ns_id || !e->namespaces)
        return 1;
    for (i = 0; i < e->namespace_count; i++)
        if (strcmp(e->namespaces[i], ns_id) == 0)
            return 1;
    return 0;
}

static auth_result_t judge(const entry_t *found, const char *account, const char *ns_id, bool write,
                           char *account_out, char *id_out)
{
    if (account_out)
        snprintf(account_out, KV_ACCOUNT_ID_MAX_BYTES + 1, "%s", found->account);
    if (id_out)
        snprintf(id_out, AUTH_ID_BYTES, "%s", found->id);
    /* Account-level writes (creating namespaces) need an all-namespace token. */
    if ((account && strcmp(account, found->account) != 0) || !ns_allowed(found, ns_id) ||
        (write && !found->write) || (write && !ns_id && found->namespaces))
        return AUTH_FORBIDDEN;
    return AUTH_OK;
}

auth_result_t auth_check(auth_t *a, const char *header, size_t header_len, const char *account,
                         const char *ns_id, bool write, char *account_out)
{
    return auth_check_id(a, header, header_len, account, ns_id, write, account_out, NULL);
}

auth_result_t auth_check_id(auth_t *a, const char *header, size_t header_len, const char *account,
                            const char *ns_id, bool write, char *account_out, char *id_out)
{
    const entry_t *found = NULL;
    auth_result_t r = AUTH_UNAUTHENTICATED;
    char digest[65];
    size_t i;

    if (id_out)
        id_out[0] = '\0';
    if (!header || header_len < 8 || strncasecmp(header, "Bearer ", 7) != 0)
        return AUTH_UNAUTHENTICATED;
    header += 7, header_len -= 7;
    while (header_len && *header == ' ')
        header++, header_len--;
    while (header_len && (header[header_len - 1] == ' ' || header[header_len - 1] == '\t'))
        header_len--;
    pthread_rwlock_rdlock(&a->cfg_lock);
    for (i = 0; i < a->count; i++)
        if (secret_eq(header, header_len, &a->entries[i]))
            found = &a->entries[i];
    if (found)
        r = judge(found, account, ns_id, write, account_out, id_out);
    pthread_rwlock_unlock(&a->cfg_lock);
    if (found)
        return r;
    pthread_rwlock_rdlock(&a->lock);
    if (a->nstored) {
        auth_digest_hex(header, header_len, digest);
        for (i = 0; i < a->nstored; i++)
            if (secret_eq(digest, 64, &a->stored[i]))
                found = &a->stored[i];
        if (found)
            r = judge(found, account, ns_id, write, account_out, id_out);
    }
    pthread_rwlock_unlock(&a->lock);
    return r;
}
