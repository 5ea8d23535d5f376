/* test_bulk_scan.c - node/api/bulk_scan.c, the direct reader of bulk
 * bodies: what it reads from the usual shape, what it leaves to jansson,
 * and its promise held against jansson itself on generated and mutated
 * bodies (whatever it accepts, jansson accepts and holds the same). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bulk_scan.h"

#define BSO_CHECK(cond) assert_true(cond)
#include "bulk_scan_oracle.h"

#define CAP 64 /* items a test body may hold */

/* Scan a copy of text (the reader decodes in place); n items or 0. */
static size_t scan(const char *text, bool keys, uint8_t *buf, bulk_scan_item_t *items)
{
    size_t len = strlen(text), n;
    memcpy(buf, text, len);
    n = keys ? bulk_scan_keys(buf, len, items, CAP) : bulk_scan_put(buf, len, items, CAP);
    bulk_scan_decode(items, n);
    return n;
}

static void test_usual_shape(void **state)
{
    static const char body[] =
        " [ {\"key\":\"a\",\"value\":\"1\"},\n"
        "{\"value\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\u0000!\",\"key\":\"k\\u0041\","
        "\"base64\":true,\"expiration\":1700000000,\"expiration_ttl\":-0,"
        "\"metadata\":{\"m\":[1,2.5e3,\"s\",null,true]}} ,"
        "{\"key\":\"\xc3\xa9\xf0\x9f\x98\x80\",\"value\":\"\",\"base64\":false,\"expiration\":null,"
        "\"expiration_ttl\":60,\"metadata\":null} ]\t";
    uint8_t buf[sizeof body];
    bulk_scan_item_t it[CAP];
    (void)state;
    assert_int_equal(scan(body, false, buf, it), 3);
    assert_int_equal(it[0].key_len, 1);
    assert_memory_equal(it[0].key, "a", 1);
    assert_memory_equal(it[0].value, "1", it[0].value_len);
    assert_false(it[0].base64 || it[0].has_expiration || it[0].has_expiration_ttl);
    assert_null(it[0].metadata);

    assert_int_equal(it[1].key_len, 2);
    assert_memory_equal(it[1].key, "kA", 2);
    assert_int_equal(it[1].value_len, 18);
    assert_memory_equal(it[1].value, "x\"y\\z/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\0!", 18);
    assert_true(it[1].base64 && it[1].has_expiration && it[1].has_expiration_ttl);
    assert_int_equal(it[1].expiration, 1700000000);
    assert_int_equal(it[1].expiration_ttl, 0);
    assert_int_equal(it[1].metadata_len, strlen("{\"m\":[1,2.5e3,\"s\",null,true]}"));
    assert_memory_equal(it[1].metadata, "{\"m\":[1,2.5e3,\"s\",null,true]}", it[1].metadata_len);

    assert_memory_equal(it[2].key, "\xc3\xa9\xf0\x9f\x98\x80", it[2].key_len);
    assert_int_equal(it[2].value_len, 0);
    assert_false(it[2].base64 || it[2].has_expiration);
    assert_true(it[2].has_expiration_ttl);
    assert_int_equal(it[2].expiration_ttl, 60);
    assert_null(it[2].metadata);

    assert_int_equal(scan("[\"a\", \"b\\u00e9\"]", true, buf, it), 2);
    assert_memory_equal(it[1].key, "b\xc3\xa9", it[1].key_len);
}

/* Each of these goes to jansson: the reader answers 0 and leaves the body. */
static void test_declines(void **state)
{
    static const char *const put[] = {
        "",
        "{}",
        "[]",
        "[{\"key\":\"a\"}]",                               /* no value */
        "[{\"value\":\"a\"}]",                             /* no key */
        "[{\"key\":\"a\",\"value\":\"v\",\"key\":\"b\"}]", /* repeated */
        "[{\"key\":\"a\",\"value\":\"v\",\"other\":1}]",   /* another field */
        "[{\"k\\u0065y\":\"a\",\"value\":\"v\"}]",         /* escaped name */
        "[{\"key\":1,\"value\":\"v\"}]",                   /* not a string */
        "[{\"key\":\"a\",\"value\":null}]",                /* not a string */
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":1.5}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":1e3}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":\"60\"}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":1234567890123456789}]", /* 19 digits */
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":01}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"expiration\":-}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"base64\":1}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"base64\":\"true\"}]",
        "[{\"key\":\"a\",\"value\":\"\\ud83d\\ude00\"}]", /* surrogates */
        "[{\"key\":\"a\",\"value\":\"\\x\"}]",
        "[{\"key\":\"a\",\"value\":\"\\u12\"}]",
        "[{\"key\":\"a\",\"value\":\"tab\there\"}]",    /* raw control character */
        "[{\"key\":\"a\",\"value\":\"\xc0\xaf\"}]",     /* overlong */
        "[{\"key\":\"a\",\"value\":\"\xed\xa0\x80\"}]", /* surrogate */
        "[{\"key\":\"a\",\"value\":\"\xe6\x97\"}]",     /* cut short */
        "[{\"key\":\"a\",\"value\":\"\xff\"}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"metadata\":{\"a\":}}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"metadata\":[1,]}]",
        "[{\"key\":\"a\",\"value\":\"v\",\"metadata\":tru}]",
        "[{\"key\":\"a\",\"value\":\"v\"}", /* unclosed */
        "[{\"key\":\"a\",\"value\":\"v\"},]",
        "[{\"key\":\"a\",\"value\":\"v\"}] x", /* trailing bytes */
        "[{\"key\":\"a\",\"value\":\"v\"}]]",
        "[{\"key\":\"a\",\"value\":\"v\" \"x\":1}]",
        "[{\"key\":\"a\" \"value\":\"v\"}]",
        "[{\"key\" \"a\",\"value\":\"v\"}]",
        "[[]]",
        "[\"a\"]",
    };
    static const char *const keys[] = {
        "[]",       "[1]", "[\"a\",]", "[{\"key\":\"a\"}]", "[\"a\" \"b\"]", "[\"\\ud800\"]",
        "[\"a\"] x"};
    uint8_t buf[256];
    bulk_scan_item_t it[CAP];
    (void)state;
    for (size_t i = 0; i < sizeof put / sizeof put[0]; i++) {
        size_t len = strlen(put[i]);
        memcpy(buf, put[i], len);
        if (bulk_scan_put(buf, len, it, CAP) != 0)
            fail_msg("the reader took %s", put[i]);
        assert_memory_equal(buf, put[i], len); /* left as it was */
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (scan(keys[i], true, buf, it) != 0)
            fail_msg("the key reader took %s", keys[i]);
}

/* Metadata nested up to the reader's depth is read; deeper goes to jansson. */
static void test_depth_and_room(void **state)
{
    char body[4 * BULK_SCAN_MAX_DEPTH + 128], *p;
    uint8_t buf[sizeof body];
    bulk_scan_item_t it[CAP];
    (void)state;
    for (int depth = BULK_SCAN_MAX_DEPTH - 1; depth <= BULK_SCAN_MAX_DEPTH; depth++) {
        p = body + sprintf(body, "[{\"key\":\"a\",\"value\":\"v\",\"metadata\":");
        for (int i = 0; i < depth; i++)
            *p++ = '[';
        for (int i = 0; i < depth; i++)
            *p++ = ']';
        strcpy(p, "}]");
        assert_int_equal(scan(body, false, buf, it), depth < BULK_SCAN_MAX_DEPTH ? 1 : 0);
    }
    /* More items than the caller's room: 0, never past it. */
    memcpy(buf, "[\"a\",\"b\",\"c\"]", 13);
    assert_int_equal(bulk_scan_keys(buf, 13, it, 2), 0);
    assert_int_equal(bulk_scan_keys(buf, 13, it, 3), 3);
}

/* ---- against jansson ------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

typedef struct {
    char b[8192];
    size_t n;
} out_t;

static void put(out_t *o, const char *s)
{
    size_t n = strlen(s);
    if (o->n + n < sizeof o->b)
        memcpy(o->b + o->n, s, n), o->n += n;
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((uint32_t)n)];
}
#define PICK(v) pick(v, sizeof v / sizeof v[0])

/* String contents: plain text, every escape, UTF-8 of each length, and a
 * few byte sequences no JSON string may hold. */
static void gen_string(out_t *o)
{
    static const char *const good[] = {"abc",
                                       "k-1",
                                       " ",
                                       "x",
                                       "\\\"",
                                       "\\\\",
                                       "\\/",
                                       "\\b",
                                       "\\f",
                                       "\\n",
                                       "\\r",
                                       "\\t",
                                       "\\u0041",
                                       "\\u00e9",
                                       "\\u20AC",
                                       "\\u0000",
                                       "\\uffff",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xef\xbf\xbf",
                                       "\x7f",
                                       "plain"};
    static const char *const bad[] = {
        "\\ud83d\\ude00",   "\\u12",    "\\q",  "\x01", "\xc0\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xe6\x97", "\x80", "\xff", "\""};
    int n = (int)rnd(5);
    put(o, "\"");
    for (int i = 0; i < n; i++)
        put(o, rnd(48) ? PICK(good) : PICK(bad));
    put(o, "\"");
}

static void gen_json(out_t *o, int depth)
{
    static const char *const atoms[] = {"0",   "-0",    "12",   "-7",    "1.5",
                                        "2e9", "-1E-2", "true", "false", "null"};
    static const char *const bad[] = {"1e400", "01", "1.", "nul", "123456789012345678901234"};
    switch (depth > 3 ? 0 : rnd(4)) {
    case 0:
        put(o, rnd(24) ? PICK(atoms) : PICK(bad));
        break;
    case 1:
        gen_string(o);
        break;
    case 2: {
        int n = (int)rnd(3);
        put(o, "[");
        for (int i = 0; i < n; i++) {
            if (i)
                put(o, ",");
            gen_json(o, depth + 1);
        }
        put(o, "]");
        break;
    }
    default: {
        int n = (int)rnd(3);
        put(o, "{");
        for (int i = 0; i < n; i++) {
            if (i)
                put(o, ",");
            gen_string(o);
            put(o, rnd(8) ? ":" : " : ");
            gen_json(o, depth + 1);
        }
        put(o, "}");
    }
    }
}

static void gen_int(out_t *o)
{
    static const char *const ints[] = {"0",   "60", "-60", "1700000000", "-0", "999999999999999999",
                                       "null"};
    static const char *const other[] = {"1234567890123456789", "1.5", "1e3", "\"60\"", "01", "-"};
    put(o, rnd(12) ? PICK(ints) : PICK(other));
}

/* One item: the usual fields in any order, now and then one missing,
 * repeated, of another type or unknown. */
static void gen_item(out_t *o)
{
    static const char *const names[] = {
        "key", "value", "base64", "expiration", "expiration_ttl", "metadata", "other", "k\\u0065y"};
    static const char *const b64[] = {"true", "false", "null", "true", "false", "1", "\"true\""};
    int order[9], n = 0;
    for (int i = 0; i < 8; i++)
        if (i < 2 ? rnd(48) != 0 : (i < 6 ? rnd(2) : rnd(48) == 0))
            order[n++] = i;
    if (rnd(48) == 0 && n > 0) {
        int again = order[rnd((uint32_t)n)];
        order[n++] = again; /* repeated */
    }
    for (int i = n - 1; i > 0; i--) {
        int k = (int)rnd((uint32_t)i + 1), t = order[i];
        order[i] = order[k], order[k] = t;
    }
    put(o, rnd(8) ? "{" : "{ ");
    for (int i = 0; i < n; i++) {
        if (i)
            put(o, rnd(8) ? "," : " ,\n");
        put(o, "\""), put(o, names[order[i]]), put(o, "\":");
        switch (order[i]) {
        case 0:
        case 1:
            if (rnd(48))
                gen_string(o);
            else
                gen_json(o, 3);
            break;
        case 2:
            put(o, PICK(b64));
            break;
        case 3:
        case 4:
            gen_int(o);
            break;
        default:
            gen_json(o, 0);
        }
    }
    put(o, "}");
}

static void gen_body(out_t *o, bool keys)
{
    int n = 1 + (int)rnd(6);
    o->n = 0;
    put(o, rnd(8) ? "[" : " [\n");
    for (int i = 0; i < n; i++) {
        if (i)
            put(o, rnd(8) ? "," : ", ");
        if (keys)
            rnd(16) ? gen_string(o) : gen_json(o, 2);
        else
            gen_item(o);
    }
    put(o, rnd(8) ? "]" : "]\r\n");
    /* Now and then a byte changed, dropped or the tail cut. */
    if (rnd(4) == 0 && o->n > 2) {
        static const char marks[] = "[]{}\",:\\ 0a\x01\x80";
        size_t at = rnd((uint32_t)o->n);
        switch (rnd(3)) {
        case 0:
            o->b[at] = marks[rnd(sizeof marks - 1)];
            break;
        case 1:
            memmove(o->b + at, o->b + at + 1, o->n - at - 1), o->n--;
            break;
        default:
            o->n = at;
        }
    }
}

static void test_against_jansson(void **state)
{
    static out_t o;
    static uint8_t buf[sizeof o.b];
    bulk_scan_item_t items[CAP];
    json_t *metas[CAP];
    int taken[2] = {0}, tries = 20000;
    (void)state;
    for (int keys = 0; keys < 2; keys++)
        for (int i = 0; i < tries; i++) {
            gen_body(&o, keys);
            taken[keys] +=
                bulk_scan_oracle((const uint8_t *)o.b, o.n, keys, buf, items, metas, CAP);
        }
    /* The generator's bodies are mostly of the usual shape: a reader that
     * took none would pass the comparison without being tested by it. */
    print_message("reader took %d of %d put bodies, %d of %d key bodies\n", taken[0], tries,
                  taken[1], tries);
    assert_true(taken[0] > tries / 20);
    assert_true(taken[1] > tries / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usual_shape),
        cmocka_unit_test(test_declines),
        cmocka_unit_test(test_depth_and_room),
        cmocka_unit_test(test_against_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
