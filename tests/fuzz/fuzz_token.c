/*
 * fuzz_token.c - libFuzzer harness of API token records, which reach a
 * node through the replication log (a TOKEN_PUT value) and its store:
 * node/replica/state.c's TokenRecord decoding and the conversion of
 * records written before format 1 (JSON), then node/api/auth.c with the
 * decoded token installed and the Authorization header checked.
 * Input: first byte picks the account and namespace asked for, the rest
 * is the record; the same bytes after "Bearer " are the header.
 * Properties: a decoded record has an id, an account and a 64-hex digest
 * and re-encodes to a record that decodes the same; a converted record
 * decodes; a token never authenticates a header that does not carry its
 * secret (a random digest's secret is not in the input).
 */
#include "fuzz_util.h"

#include <errno.h>

#include "auth.h"
#include "kv_err.h"
#include "kv_mem.h"
#include "state.h"

static auth_t *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char *const ns[] = {"00112233445566778899aabbccddeeff"};
    auth_token_t t[] = {
        {"admin", "secret-admin-token", "acct1", NULL, 0, true},
        {"scoped", "secret-scoped-token", "acct1", ns, 1, false},
    };
    FZ_CHECK(auth_create(t, 2, &auth) == 0);
    return 0;
}

static void same_token(const state_token_t *a, const state_token_t *b)
{
    FZ_CHECK(strcmp(a->id, b->id) == 0 && strcmp(a->account, b->account) == 0);
    FZ_CHECK(strcmp(a->sha256_hex, b->sha256_hex) == 0);
    FZ_CHECK(strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0);
    FZ_CHECK(a->write == b->write && a->scoped == b->scoped);
    if (!a->scoped)
        return; /* namespaces of an unscoped token mean nothing (tokens.c) */
    FZ_CHECK(a->namespace_count == b->namespace_count);
    for (size_t i = 0; i < a->namespace_count; i++)
        FZ_CHECK(strcmp(a->namespaces[i], b->namespaces[i]) == 0);
}

static void check_header(const char *h, size_t len, const char *account, const char *ns)
{
    char acct[KV_ACCOUNT_ID_MAX_BYTES + 1];
    auth_result_t r = auth_check(auth, h, len, account, ns, true, acct);
    FZ_CHECK(r == AUTH_OK || r == AUTH_UNAUTHENTICATED || r == AUTH_FORBIDDEN);
    if (r != AUTH_UNAUTHENTICATED)
        FZ_CHECK(strlen(acct) <= KV_ACCOUNT_ID_MAX_BYTES);
    /* The configured secrets are not in the fuzzer's dictionary... unless
     * it found them, which a fuzzer may: only a known secret passes. */
    if (r == AUTH_OK)
        FZ_CHECK(memmem(h, len, "secret-", 7) != NULL);
    (void)auth_check(auth, h, len, account, ns, false, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    uint8_t pick = fz_u8(&in);
    static const char *const accounts[] = {"acct1", "acct2", NULL};
    static const char *const nss[] = {"00112233445566778899aabbccddeeff",
                                      "ffffffffffffffffffffffffffffffff", NULL};
    const char *account = accounts[pick % 3], *ns = nss[(pick / 3) % 3];
    state_token_t t, back;
    if (in.n > 0 && state_token_decode(in.p, in.n, &t) == 0) {
        FZ_CHECK(t.id && t.id[0] && t.account && t.account[0]);
        FZ_CHECK(t.sha256_hex && strlen(t.sha256_hex) == STATE_TOKEN_SHA256_HEX);
        uint8_t *enc;
        size_t elen;
        int rc = state_token_encode(&t, &enc, &elen);
        FZ_CHECK(rc == 0 || rc == KV_ETOOBIG);
        if (rc == 0) {
            FZ_CHECK(state_token_decode(enc, elen, &back) == 0);
            same_token(&t, &back);
            state_token_free(&back);
            kv_free(enc);
        }
        /* Installed as the only stored token, then asked for. */
        auth_stored_t st = {t.id,
                            t.name,
                            t.account,
                            t.sha256_hex,
                            t.scoped ? t.namespaces : NULL,
                            t.namespace_count,
                            t.write};
        (void)auth_set_stored(auth, &st, 1);
        state_token_free(&t);
    }
    uint8_t *conv;
    size_t clen;
    int rc = state_token_convert(in.p, in.n, &conv, &clen);
    FZ_CHECK(rc == 0 || rc == KV_ECORRUPT || rc == -ENOMEM);
    if (rc == 0 && conv) {
        FZ_CHECK(state_token_decode(conv, clen, &back) == 0);
        state_token_free(&back);
        kv_free(conv);
    }
    /* The record's bytes as an Authorization header. */
    char *h = kv_malloc(in.n + 8);
    FZ_CHECK(h != NULL);
    memcpy(h, "Bearer ", 7);
    if (in.n)
        memcpy(h + 7, in.p, in.n);
    check_header(h, in.n + 7, account, ns);
    check_header((const char *)in.p, in.n, account, ns);
    kv_free(h);
    (void)auth_set_stored(auth, NULL, 0);
    return 0;
}
