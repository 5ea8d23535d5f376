/*
 * fuzz_body.c - libFuzzer harness of the JSON bodies of the REST API and
 * the binding protocol, sent as whole requests to a real node
 * (fuzz_node.h) so they take the real path: head checks, auth, the body
 * buffer, then node/api's parsers and the writes through the replica. The
 * request line and headers are built here; the fuzzer writes the body.
 * Input: the first byte picks the route (REST bulk write PUT .../bulk, bulk
 * delete DELETE .../bulk and POST .../bulk/delete, bulk get POST
 * .../bulk/get, namespace create POST .../namespaces and rename PUT
 * .../namespaces/{id}, token create POST .../tokens, the binding's POST
 * /bulk/get), the second the token (the operator's, a read-only one scoped
 * to the namespace, none), the rest is the body (Content-Length).
 * Properties: fzn_check's, and exactly one answer (the request is whole
 * and well-formed).
 */
#include "fuzz_node.h"

#define FZB_BASE "/client/v4/accounts/" FZN_ACCOUNT
#define FZB_NSP  FZB_BASE "/storage/kv/namespaces"

static const struct {
    const char *method, *path;
    bool binding;
} fzb_routes[] = {
    {"PUT", FZB_NSP "/" FZN_NS "/bulk", false},
    {"DELETE", FZB_NSP "/" FZN_NS "/bulk", false},
    {"POST", FZB_NSP "/" FZN_NS "/bulk/delete", false},
    {"POST", FZB_NSP "/" FZN_NS "/bulk/get", false},
    {"POST", FZB_NSP, false},
    {"PUT", FZB_NSP "/" FZN_NS, false},
    {"POST", FZB_BASE "/tokens", false},
    {"POST", "/bulk/get", true},
};
#define FZB_ROUTES (sizeof fzb_routes / sizeof fzb_routes[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fzn_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fzn_buf_t req, resp;
    static const char *const auths[] = {FZN_ADMIN, FZN_ADMIN, FZN_READER, NULL};
    fz_in_t in = {data, size};
    unsigned route = fz_u8(&in) % FZB_ROUTES;
    const char *secret = auths[fz_u8(&in) % 4];
    const uint8_t *body;
    size_t len = fz_bytes(&in, in.n, &body);
    char head[1024];

    int n =
        snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n%s%s%s%s%s\r\n",
                 fzb_routes[route].method, fzb_routes[route].path, len,
                 secret ? "Authorization: Bearer " : "", secret ? secret : "", secret ? "\r\n" : "",
                 fzb_routes[route].binding ? "X-EdgeKV-Namespace: " FZN_NS : "",
                 fzb_routes[route].binding ? "\r\n" : "");
    FZ_CHECK(n > 0 && (size_t)n < sizeof head);
    req.n = resp.n = 0;
    fzn_buf_put(&req, head, (size_t)n);
    fzn_buf_put(&req, body, len);
    fzn_prepare();
    fzn_exchange(req.p, req.n, 0, &resp);
    FZ_CHECK(fzn_check(req.p, req.n, &resp) == 1);
    return 0;
}
