/*
 * tokens.h - API tokens managed through the REST API.
 *
 * Besides the tokens of its configuration, a node accepts the tokens an
 * administrator creates with
 *   POST   /client/v4/accounts/{account}/tokens   {"name", "access": "read"|"write",
 *                                                   "namespaces": [ids] (optional)}
 *   GET    /client/v4/accounts/{account}/tokens
 *   DELETE /client/v4/accounts/{account}/tokens/{id}
 *   GET    /client/v4/accounts/{account}/tokens/verify
 * (Cloudflare's account-owned token paths; the body is edgekv's simplified
 * scope rather than Cloudflare's policy language). The secret is returned
 * once, at creation; nodes keep only its SHA-256. Token records travel the
 * replication log like every other write, so a token created or revoked at
 * any node works or stops working at every edge within the propagation
 * bound. Managing tokens needs a write token of the account scoped to all
 * namespaces. An account holds at most KV_TOKENS_PER_ACCOUNT_MAX live
 * tokens, counted by the origin's judge (node/replica/judge.h) when it
 * orders the write: one more is answered 400, code 10022.
 */
#ifndef NODE_TOKENS_H
#define NODE_TOKENS_H

#include "app.h"

/* Read every stored token record and replace the auth table's stored set.
 * 0 or a negative code. Any thread. */
int tokens_reload(stor_t *s, auth_t *a);

/* Answer a token request (1) or leave it (0). On the loop thread. */
int tokens_route(node_app_t *app, http_req_t *req);

#endif
