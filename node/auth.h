/*
 * auth.h - API tokens and their scopes.
 *
 * A token is a bearer secret scoped to one account, to a set of namespaces
 * (or all of the account's), and to read or read+write access. The table is
 * built at start-up and immutable afterwards, so lookups take no lock.
 * Lookups compare secrets in constant time.
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
size_t auth_count(const auth_t *a);

/* Check an Authorization header value ("Bearer <token>"; NULL = absent)
 * for `account` (NULL: any account) and namespace `ns_id` (NULL: an
 * account-level operation such as listing namespaces; an account-level
 * write needs a token scoped to all namespaces). On AUTH_OK and
 * AUTH_FORBIDDEN, *account_out (if not NULL) is the token's account. */
auth_result_t auth_check(const auth_t *a, const char *header, size_t header_len,
                         const char *account, const char *ns_id, bool write,
                         const char **account_out);

#endif
