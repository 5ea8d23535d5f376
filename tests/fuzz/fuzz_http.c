/*
 * fuzz_http.c - libFuzzer harness of the HTTP path a client reaches: bytes
 * on a TCP connection to a real node (fuzz_node.h: a lone origin on a real
 * store, opened once per process), parsed by node/http (llhttp, the head
 * and body limits, keep-alive, pipelining, chunked bodies, 100-continue,
 * the early 401/413 before a body), routed and answered by node/api/app.c
 * (auth, the REST API, the binding protocol, tokens, /healthz, /metrics,
 * /status, /digest).
 * Input: the first byte is the write pattern (0: the bytes at once; N: in
 * pieces of N bytes, at most 8 pieces, a short pause between them), the
 * rest is what the client sends; then it shuts its side down and reads
 * until the server closes.
 * Properties (fzn_check): every answer well-formed, one per request and in
 * order, nothing after a closing answer, every complete request answered
 * unless the server ended the connection with an answer, JSON answers
 * parse and their envelope's success matches the status, and no 2xx
 * without a configured secret except /healthz, /readyz and /metrics; no hang (an
 * exchange ends within FZN_DEADLINE_MS); no crash, leak or UB in any
 * thread of the node.
 */
#include "fuzz_node.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fzn_start();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fzn_buf_t resp;
    fz_in_t in = {data, size};
    size_t chunk = fz_u8(&in);
    const uint8_t *req;
    size_t len = fz_bytes(&in, in.n, &req);

    if (chunk && len > 8 * chunk)
        chunk = (len + 7) / 8;
    fzn_prepare();
    resp.n = 0;
    fzn_exchange(req, len, chunk, &resp);
    fzn_check(req, len, &resp);
    return 0;
}
