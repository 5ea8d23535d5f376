/* test_auth.c - node/api/auth.c: token scopes, 401 vs 403, malformed headers,
 * the configured table replaced by a reload. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "kv_err.h"
#include "kv_mem.h"

#define NS_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NS_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static auth_result_t chk(auth_t *a, const char *hdr, const char *acct, const char *ns, bool w)
{
    return auth_check(a, hdr, hdr ? strlen(hdr) : 0, acct, ns, w, NULL);
}

static void test_scopes(void **state)
{
    const char *only_a[] = {NS_A};
    auth_token_t t[] = {
        {.token = "all-write", .account = "acct", .write = true},
        {.token = "all-read", .account = "acct", .write = false},
        {.token = "a-write",
         .account = "acct",
         .namespaces = only_a,
         .namespace_count = 1,
         .write = true},
    };
    auth_t *a;
    char acct_out[KV_ACCOUNT_ID_MAX_BYTES + 1] = "";
    (void)state;
    assert_int_equal(auth_create(t, 3, &a), 0);
    assert_int_equal(auth_count(a), 3);
    assert_int_equal(chk(a, NULL, "acct", NULL, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Basic all-write", "acct", NULL, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer nope", "acct", NULL, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer all-writ", "acct", NULL, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer all-write2", "acct", NULL, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer all-write", "acct", NS_B, true), AUTH_OK);
    assert_int_equal(chk(a, "bearer  all-write ", "acct", NS_B, true), AUTH_OK);
    assert_int_equal(chk(a, "Bearer all-write", "other", NS_B, false), AUTH_FORBIDDEN);
    assert_int_equal(chk(a, "Bearer all-read", "acct", NS_B, false), AUTH_OK);
    assert_int_equal(chk(a, "Bearer all-read", "acct", NS_B, true), AUTH_FORBIDDEN);
    assert_int_equal(chk(a, "Bearer a-write", "acct", NS_A, true), AUTH_OK);
    assert_int_equal(chk(a, "Bearer a-write", "acct", NS_B, false), AUTH_FORBIDDEN);
    /* Namespace-scoped tokens may list, but not create, namespaces. */
    assert_int_equal(chk(a, "Bearer a-write", "acct", NULL, false), AUTH_OK);
    assert_int_equal(chk(a, "Bearer a-write", "acct", NULL, true), AUTH_FORBIDDEN);
    assert_int_equal(chk(a, "Bearer all-write", NULL, NS_A, true), AUTH_OK);
    assert_int_equal(auth_check(a, "Bearer all-read", 15, NULL, NULL, false, acct_out), AUTH_OK);
    assert_string_equal(acct_out, "acct");
    auth_destroy(a);
}

static void test_stored_tokens(void **state)
{
    auth_token_t cfg[] = {{.token = "configured", .account = "acct", .write = true}};
    const char *only_a[] = {NS_A};
    char h1[65], h2[65];
    auth_t *a;
    (void)state;
    assert_int_equal(auth_create(cfg, 1, &a), 0);
    assert_int_equal(chk(a, "Bearer minted-1", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    auth_digest_hex("minted-1", 8, h1);
    auth_digest_hex("minted-2", 8, h2);
    assert_int_equal(strlen(h1), 64);
    assert_string_not_equal(h1, h2);
    auth_stored_t st[] = {
        {.id = "t1", .account = "acct", .sha256_hex = h1, .write = true},
        {.id = "t2",
         .account = "acct",
         .sha256_hex = h2,
         .namespaces = only_a,
         .namespace_count = 1,
         .write = false},
    };
    assert_int_equal(auth_set_stored(a, st, 2), 0);
    assert_int_equal(chk(a, "Bearer minted-1", "acct", NS_B, true), AUTH_OK);
    assert_int_equal(chk(a, "Bearer minted-2", "acct", NS_A, false), AUTH_OK);
    assert_int_equal(chk(a, "Bearer minted-2", "acct", NS_A, true), AUTH_FORBIDDEN);
    assert_int_equal(chk(a, "Bearer minted-2", "acct", NS_B, false), AUTH_FORBIDDEN);
    /* The secret itself is not a token: only its digest matches. */
    char hdr[80];
    snprintf(hdr, sizeof hdr, "Bearer %s", h1);
    assert_int_equal(chk(a, hdr, "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    /* Revocation: the new set replaces the old one. */
    assert_int_equal(auth_set_stored(a, st + 1, 1), 0);
    assert_int_equal(chk(a, "Bearer minted-1", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer configured", "acct", NS_A, true), AUTH_OK);
    st[0].sha256_hex = "short";
    assert_int_equal(auth_set_stored(a, st, 1), KV_EINVAL);
    assert_int_equal(chk(a, "Bearer minted-2", "acct", NS_A, false), AUTH_OK); /* kept */
    auth_destroy(a);
}

static void test_invalid_tables(void **state)
{
    auth_token_t dup[] = {{.token = "x", .account = "a"}, {.token = "x", .account = "b"}};
    auth_token_t empty[] = {{.token = "", .account = "a"}};
    auth_token_t noacct[] = {{.token = "x", .account = NULL}};
    auth_t *a = NULL;
    (void)state;
    assert_int_equal(auth_create(dup, 2, &a), KV_EINVAL);
    assert_int_equal(auth_create(empty, 1, &a), KV_EINVAL);
    assert_int_equal(auth_create(noacct, 1, &a), KV_EINVAL);
    assert_null(a);
}

static void test_alloc_failure(void **state)
{
    const char *ns[] = {NS_A, NS_B};
    auth_token_t t[] = {{.token = "t1", .account = "a", .namespaces = ns, .namespace_count = 2},
                        {.token = "t2", .account = "a"}};
    auth_t *a;
    (void)state;
    for (long n = 0; n < 12; n++) {
        int rc;
        a = NULL;
        kv_mem_failing_set(n);
        rc = auth_create(t, 2, &a);
        kv_mem_set(NULL);
        if (rc == 0) {
            assert_int_equal(auth_count(a), 2);
            auth_destroy(a);
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
    }
}

/* A reload replaces the configured table as a whole: added tokens work,
 * removed ones stop, the ids the judge asks for follow; a bad table or an
 * allocation failure leaves the old one. */
static void test_set_configured(void **state)
{
    auth_token_t t0[] = {{.token = "keep", .account = "acct", .write = true},
                         {.token = "old", .account = "acct", .write = true}};
    auth_token_t t1[] = {{.token = "keep", .account = "acct", .write = true},
                         {.token = "new", .account = "acct", .write = false}};
    auth_token_t dup[] = {{.token = "z", .account = "acct"}, {.token = "z", .account = "acct"}};
    char id_old[AUTH_ID_BYTES], id_new[AUTH_ID_BYTES];
    auth_scope_t sc;
    auth_t *a;
    (void)state;
    auth_configured_id("old", 3, id_old);
    auth_configured_id("new", 3, id_new);
    assert_int_equal(auth_create(t0, 2, &a), 0);
    assert_int_equal(chk(a, "Bearer old", "acct", NS_A, true), AUTH_OK);
    assert_int_equal(chk(a, "Bearer new", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(auth_set_configured(a, t1, 2), 0);
    assert_int_equal(auth_count(a), 2);
    assert_int_equal(chk(a, "Bearer old", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    assert_int_equal(chk(a, "Bearer new", "acct", NS_A, false), AUTH_OK);
    assert_int_equal(chk(a, "Bearer new", "acct", NS_A, true), AUTH_FORBIDDEN);
    assert_int_equal(chk(a, "Bearer keep", "acct", NS_A, true), AUTH_OK);
    auth_configured_hold(a);
    assert_int_equal(auth_configured_scope(a, id_old, &sc), 0);
    assert_int_equal(auth_configured_scope(a, id_new, &sc), 1);
    assert_string_equal(sc.account, "acct");
    assert_false(sc.write);
    auth_configured_release(a);
    /* Refused: the table stays. */
    assert_int_equal(auth_set_configured(a, dup, 2), KV_EINVAL);
    assert_int_equal(chk(a, "Bearer new", "acct", NS_A, false), AUTH_OK);
    for (long n = 0; n < 8; n++) {
        kv_mem_failing_set(n);
        int rc = auth_set_configured(a, t0, 2);
        kv_mem_set(NULL);
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(chk(a, "Bearer new", "acct", NS_A, false), AUTH_OK);
        assert_int_equal(chk(a, "Bearer old", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    }
    assert_int_equal(chk(a, "Bearer old", "acct", NS_A, false), AUTH_OK);
    /* An empty table: nobody configured. */
    assert_int_equal(auth_set_configured(a, NULL, 0), 0);
    assert_int_equal(auth_count(a), 0);
    assert_int_equal(chk(a, "Bearer keep", "acct", NS_A, false), AUTH_UNAUTHENTICATED);
    auth_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scopes),         cmocka_unit_test(test_stored_tokens),
        cmocka_unit_test(test_invalid_tables), cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_set_configured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
