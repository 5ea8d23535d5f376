/*
 * auth.h - API tokens and their scopes.
 *
 * A token is a bearer secret scoped to one account, to a set of namespaces
 * (or all of the account's), and to read or read+write access. Two sets:
 * the configured tokens, set at start-up and replaced as a whole by a
 * SIGHUP reload (auth_set_configured), and the stored tokens, created
 * through the API and replicated through the log, which auth_set_stored()
 * replaces as a whole (a revocation takes effect on the next request).
 * Stored tokens are kept as SHA-256 digests, never as secrets. Lookups
 * compare in constant time; each set is read under its own rwlock.
 */
#ifndef NODE_AUTH_H
#define NODE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "kv_limits.h"

typedef struct auth auth_t;

typedef struct {
    const char *name;              /* label for logs; may be NULL */
    const char *token;             /* secret */
    const char *account;           /* account id */
    const char *const *namespaces; /* NULL = every namespace of the account */
    size_t namespace_count;
    bool write;
} auth_token_t;

typedef enum {
    AUTH_OK = 0,
    AUTH_UNAUTHENTICATED, /* no token, malformed header, unknown token: 401 */
    AUTH_FORBIDDEN        /* a valid token without the needed scope: 403 */
} auth_result_t;

/* Copies everything it is given. 0, KV_EINVAL (empty or oversized token,
 * duplicate token) or -ENOMEM. */
int auth_create(const auth_token_t *tokens, size_t n, auth_t **out);
void auth_destroy(auth_t *a);
/* How many configured tokens there are now. Any thread. */
size_t auth_count(auth_t *a);

/* Replace the configured tokens as a whole (a SIGHUP reload): the next
 * request is judged by the new set, a removed token stops working at once.
 * Same checks and copies as auth_create; on error (KV_EINVAL, -ENOMEM) the
 * old set stays. Any thread. */
int auth_set_configured(auth_t *a, const auth_token_t *tokens, size_t n);

/* A stored token: id, account, name, sha256 of the secret (64 lowercase
 * hex), scope. Strings are copied. */
typedef struct {
    const char *id;
    const char *name;
    const char *account;
    const char *sha256_hex;
    const char *const *namespaces; /* NULL = all */
    size_t namespace_count;
    bool write;
} auth_stored_t;

/* Replace the stored tokens. 0, KV_EINVAL or -ENOMEM (the old set stays). */
int auth_set_stored(auth_t *a, const auth_stored_t *t, size_t n);

/* SHA-256 of a secret as 64 lowercase hex digits + NUL. */
void auth_digest_hex(const char *secret, size_t len, char out[65]);

/* A token's id, as a write forwarded by an edge names it to the origin
 * (which re-checks the write against that token: node/replica/judge.h):
 * a stored token's record id, or for a configured token "cfg-" and 32 hex
 * digits of a SHA-256 of its secret (domain-separated: never a digest the
 * token records hold), so every node configured with the same secret gives
 * it the same id. At most KV_AUTH_ID_MAX_BYTES + NUL. */
#define AUTH_ID_BYTES (KV_AUTH_ID_MAX_BYTES + 1)
void auth_configured_id(const char *secret, size_t len, char out[AUTH_ID_BYTES]);

/* The configured token of id `id` (auth_configured_id): 1 with its scope,
 * or 0. Call it between auth_configured_hold and auth_configured_release:
 * the strings are borrowed from the table, which no reload replaces while
 * it is held (a read lock: hold it briefly, never across a wait). Any
 * thread. */
void auth_configured_hold(auth_t *a);
void auth_configured_release(auth_t *a);
typedef struct {
    const char *account;
    const char *const *namespaces; /* NULL = every namespace of the account */
    size_t namespace_count;
    bool write;
} auth_scope_t;
int auth_configured_scope(const auth_t *a, const char *id, auth_scope_t *out);

/* auth_check, also giving the id of the token that answered (id_out, if
 * not NULL, AUTH_ID_BYTES; "" on AUTH_UNAUTHENTICATED). */
auth_result_t auth_check_id(auth_t *a, const char *header, size_t header_len, const char *account,
                            const char *ns_id, bool write, char *account_out, char *id_out);

/* Check an Authorization header value ("Bearer <token>"; NULL = absent)
 * for `account` (NULL: any account) and namespace `ns_id` (NULL: an
 * account-level operation such as listing namespaces; an account-level
 * write needs a token scoped to all namespaces). On AUTH_OK and
 * AUTH_FORBIDDEN, account_out (if not NULL; KV_ACCOUNT_ID_MAX_BYTES + 1
 * bytes) receives the token's account. */
auth_result_t auth_check(auth_t *a, const char *header, size_t header_len, const char *account,
                         const char *ns_id, bool write, char *account_out);

#endif
