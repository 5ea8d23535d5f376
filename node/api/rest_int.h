/*
 * rest_int.h - shared internals of the REST API (rest.c routes and reads,
 * rest_write.c writes).
 */
#ifndef NODE_REST_INT_H
#define NODE_REST_INT_H

#include "app.h"

typedef enum {
    REST_NS_COLLECTION, /* /namespaces */
    REST_NS,            /* /namespaces/{ns} */
    REST_VALUES,        /* /namespaces/{ns}/values/{key} */
    REST_METADATA,      /* /namespaces/{ns}/metadata/{key} */
    REST_KEYS,          /* /namespaces/{ns}/keys */
    REST_BULK,          /* /namespaces/{ns}/bulk */
    REST_BULK_DELETE,   /* /namespaces/{ns}/bulk/delete */
    REST_BULK_GET,      /* /namespaces/{ns}/bulk/get */
    REST_UNKNOWN
} rest_target_t;

/* A parsed REST request. */
typedef struct {
    rest_target_t target;
    metrics_route_t route;
    const char *op; /* message prefix: "get", "put", "bulk put", ... */
    char account[KV_ACCOUNT_ID_MAX_BYTES + 1];
    char ns[KV_NS_ID_LEN + 1];
    char *key; /* decoded key (values/metadata), kv_malloc'd */
    size_t key_len;
    char auth_id[AUTH_ID_BYTES]; /* the admitted token's id, named to the origin */
} rest_call_t;

/* Error as "<op>: '<msg>'" in the REST envelope. */
void rest_fail(node_app_t *app, http_req_t *req, const rest_call_t *c, int status, int code,
               const char *msg);
void rest_fail_err(node_app_t *app, http_req_t *req, const rest_call_t *c, const kvop_err_t *e);

/* {id, title, supports_url_encoding} */
json_t *rest_ns_json(const stor_ns_t *n);

/* Writes (rest_write.c). The call is copied; c->key ownership moves. */
void rest_value_put(node_app_t *app, http_req_t *req, rest_call_t *c);
void rest_value_delete(node_app_t *app, http_req_t *req, rest_call_t *c);
void rest_bulk_put(node_app_t *app, http_req_t *req, rest_call_t *c);
void rest_bulk_delete(node_app_t *app, http_req_t *req, rest_call_t *c);
void rest_ns_write(node_app_t *app, http_req_t *req, rest_call_t *c);

/* PUT values validation steps 1-4 for the too-large path too. */
int rest_check_put_params(node_app_t *app, http_req_t *req, const rest_call_t *c, int64_t *exp_abs,
                          kvop_err_t *e);

#endif
