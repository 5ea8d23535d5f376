/* test_cli.c - node/cli*.c without a server: escaping, argument errors and
 * their exit statuses, help texts, input-file validation, the export line
 * format (cli_line.c), a refused connection, and every allocation failure
 * on those paths. The commands against a live node are
 * tests/process/test_cli.sh and test_export.sh. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* A URL where connections are refused at once: a loopback port that a
 * socket of ours holds bound, never listening, for the whole run (so no one
 * else can listen there either). Set up by setup(). */
static int dead_fd = -1;
static char dead_url[64];     /* "http://127.0.0.1:<port>" */
static char dead_url_arg[80]; /* "--url=" dead_url */

static char out_path[] = "/tmp/edgekv-test-cli-XXXXXX";

/* Runs cli_main with stdout and stderr captured into out_path. */
static int run(int argc, const char **argv)
{
    int saved_out, saved_err, fd, rc;
    fflush(stdout), fflush(stderr);
    saved_out = dup(1), saved_err = dup(2);
    fd = open(out_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    dup2(fd, 1), dup2(fd, 2);
    close(fd);
    rc = cli_main(argc, (char **)argv);
    fflush(stdout), fflush(stderr);
    dup2(saved_out, 1), dup2(saved_err, 2);
    close(saved_out), close(saved_err);
    return rc;
}
#define RUN(...)                                                                                   \
    run((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                       \
        (const char *[]){__VA_ARGS__})

static bool output_has(const char *text)
{
    static char buf[65536];
    FILE *f = fopen(out_path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static int dead_url_init(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    dead_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (dead_fd < 0 || bind(dead_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(dead_fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    snprintf(dead_url_arg, sizeof dead_url_arg, "--url=%s", dead_url);
    return 0;
}

static int setup(void **state)
{
    int fd = mkstemp(out_path);
    (void)state;
    if (dead_url_init() != 0)
        return -1;
    unsetenv("EDGEKV_URL"), unsetenv("EDGEKV_TOKEN"), unsetenv("EDGEKV_ACCOUNT");
    unsetenv("CLOUDFLARE_API_BASE_URL"), unsetenv("CLOUDFLARE_API_TOKEN");
    unsetenv("CLOUDFLARE_ACCOUNT_ID");
    return fd >= 0 ? close(fd) : -1;
}

static int teardown(void **state)
{
    (void)state;
    close(dead_fd);
    return unlink(out_path);
}

static void test_pct(void **state)
{
    char *s;
    (void)state;
    s = cli_pct("a b/.%?&#+~-_Zz09", 17);
    assert_string_equal(s, "a%20b%2F%2E%25%3F%26%23%2B~-_Zz09");
    kv_free(s);
    s = cli_pct("\xd0\xba\x00x", 4); /* UTF-8 and a NUL byte */
    assert_string_equal(s, "%D0%BA%00x");
    kv_free(s);
    s = cli_pct("", 0);
    assert_string_equal(s, "");
    kv_free(s);
    s = cli_fmt("%s-%d", "n", 42);
    assert_string_equal(s, "n-42");
    kv_free(s);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(RUN("--help"), CLI_EXIT_OK);
    assert_true(output_has("5  cannot connect to the server"));
    assert_true(output_has("bulk delete <file>"));
    assert_int_equal(RUN("kv", "help"), CLI_EXIT_OK); /* a leading "kv" is skipped */
    assert_int_equal(RUN("key", "put", "--help"), CLI_EXIT_OK);
    assert_true(output_has("usage: edgekv kv key put <key> [<value>] [options]"));
    assert_true(output_has("--metadata JSON"));
    assert_true(output_has("--cacert FILE    EDGEKV_CACERT")); /* on every command */
    assert_int_equal(RUN("bulk", "-h"), CLI_EXIT_OK);
    assert_true(output_has("edgekv kv bulk get <file>"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run(0, NULL), CLI_EXIT_USAGE);
    assert_int_equal(RUN("frob"), CLI_EXIT_USAGE);
    assert_true(output_has("unknown command 'frob'"));
    assert_int_equal(RUN("key"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "frob"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "list", "--frob"), CLI_EXIT_USAGE);
    assert_true(output_has("unknown option '--frob'"));
    assert_int_equal(RUN("key", "list", "--json=yes"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "list", "--prefix"), CLI_EXIT_USAGE);
    assert_true(output_has("'--prefix' needs a value"));
    assert_int_equal(RUN("key", "list", "--ttl", "60"), CLI_EXIT_USAGE);
    assert_true(output_has("'key list' does not take --ttl"));
    assert_int_equal(RUN("key", "get"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "get", "a", "b"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("a", "b", "c", "d", "e", "f", "g"), CLI_EXIT_USAGE);
    assert_true(output_has("too many arguments"));
    /* Configuration. */
    assert_int_equal(RUN("namespace", "list"), CLI_EXIT_USAGE);
    assert_true(output_has("no API token"));
    assert_int_equal(RUN("namespace", "list", "--token", "t"), CLI_EXIT_USAGE);
    assert_true(output_has("no account id"));
    assert_int_equal(RUN("namespace", "list", "--token=t", "--account=a", "--url=ftp://x"),
                     CLI_EXIT_USAGE);
    /* An unreadable CA file is named before any request (the dead URL is
     * never reached: 2, not 5), from the flag or from EDGEKV_CACERT. */
    assert_int_equal(RUN("namespace", "list", "--token=t", "--account=a", dead_url_arg, "--cacert",
                         "/nonexistent/ca.crt"),
                     CLI_EXIT_USAGE);
    assert_true(output_has("cannot read the CA file '/nonexistent/ca.crt'"));
    setenv("EDGEKV_CACERT", "/nonexistent/env-ca.crt", 1);
    assert_int_equal(RUN("namespace", "list", "--token=t", "--account=a", dead_url_arg),
                     CLI_EXIT_USAGE);
    assert_true(output_has("cannot read the CA file '/nonexistent/env-ca.crt'"));
    unsetenv("EDGEKV_CACERT");
    assert_int_equal(RUN("namespace", "list", "--cacert"), CLI_EXIT_USAGE);
    assert_true(output_has("'--cacert' needs a value"));
    /* Command arguments, checked before any request. */
    assert_int_equal(RUN("key", "put", "k", "v", "--token=t", "--account=a"), CLI_EXIT_USAGE);
    assert_true(output_has("--namespace-id is required"));
    assert_int_equal(RUN("key", "put", "k", "--namespace-id=n", "--token=t", "--account=a"),
                     CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "put", "k", "v", "--path=/nonexistent", "--namespace-id=n",
                         "--token=t", "--account=a"),
                     CLI_EXIT_USAGE);
    assert_int_equal(
        RUN("key", "put", "k", "v", "--ttl=1h", "--namespace-id=n", "--token=t", "--account=a"),
        CLI_EXIT_USAGE);
    assert_int_equal(RUN("key", "put", "k", "v", "--metadata=[1]", "--namespace-id=n", "--token=t",
                         "--account=a"),
                     CLI_EXIT_USAGE);
    assert_true(output_has("--metadata must be a JSON object"));
    assert_int_equal(RUN("namespace", "rename", "t", "--token=t", "--account=a"), CLI_EXIT_USAGE);
    assert_int_equal(RUN("namespace", "delete", "--token=t", "--account=a"), CLI_EXIT_USAGE);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Malformed bulk files are refused whole, before the first request (so
 * the dead URL is never reached: the status is 2, not 5). */
static void test_bulk_files(void **state)
{
    char path[] = "/tmp/edgekv-test-cli-bulk-XXXXXX";
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "[{\"key\":1,\"value\":\"v\"},{\"key\":\"k\"},7,"
                     "{\"key\":\"k\",\"value\":\"v\",\"expiration\":\"soon\",\"base64\":1}]");
    assert_int_equal(
        RUN("bulk", "put", path, "--namespace-id=n", dead_url_arg, "--token=t", "--account=a"),
        CLI_EXIT_USAGE);
    assert_true(output_has("item 0: \"key\" must be a string"));
    assert_true(output_has("item 1: \"value\" must be a string"));
    assert_true(output_has("item 2: not an object"));
    assert_true(output_has("item 3: \"expiration\" and \"expiration_ttl\" must be numbers"));
    assert_true(output_has("item 3: \"base64\" must be true or false"));
    assert_true(output_has("5 errors; nothing was written"));
    write_file(path, "[\"a\", {\"name\": \"b\"}, {\"key\": \"c\"}]");
    assert_int_equal(
        RUN("bulk", "delete", path, "--namespace-id=n", dead_url_arg, "--token=t", "--account=a"),
        CLI_EXIT_USAGE);
    assert_true(output_has("item 2: expected a string or an object"));
    write_file(path, "{\"not\": \"an array\"}");
    assert_int_equal(
        RUN("bulk", "get", path, "--namespace-id=n", dead_url_arg, "--token=t", "--account=a"),
        CLI_EXIT_USAGE);
    assert_true(output_has("expected a JSON array"));
    write_file(path, "[1,");
    assert_int_equal(
        RUN("bulk", "get", path, "--namespace-id=n", dead_url_arg, "--token=t", "--account=a"),
        CLI_EXIT_USAGE);
    assert_true(output_has("is not JSON"));
    /* A valid file gets as far as the network. */
    write_file(path, "[{\"key\":\"k\",\"value\":\"v\",\"metadata\":{\"m\":1}}]");
    assert_int_equal(
        RUN("bulk", "put", path, "--namespace-id=n", dead_url_arg, "--token=t", "--account=a"),
        CLI_EXIT_CONN);
    unlink(path);
}

/* ---- the export line format (cli_line.c) ---- */

/* Encodes r, decodes the line, and checks every field came back. */
static void round_trip(const cli_rec_t *r, const char *want_line)
{
    size_t len;
    char *line = cli_rec_encode(r, &len), err[256];
    cli_rec_t d;
    assert_non_null(line);
    if (want_line)
        assert_string_equal(line, want_line);
    assert_int_equal(cli_rec_decode(line, len, 7, &d, err, sizeof err), 0);
    assert_string_equal(d.ns_id, r->ns_id);
    assert_string_equal(d.ns_title, r->ns_title);
    assert_int_equal(d.key_len, r->key_len);
    assert_memory_equal(d.key, r->key, r->key_len);
    assert_int_equal(d.value_len, r->value_len);
    if (r->value_len)
        assert_memory_equal(d.value, r->value, r->value_len);
    assert_int_equal(d.expiration, r->expiration);
    assert_true(r->metadata ? json_equal(d.metadata, r->metadata) : d.metadata == NULL);
    cli_rec_free(&d);
    free(line);
}

static void test_line_round_trip(void **state)
{
    (void)state;
    json_t *meta = json_pack("{s:i, s:[s, n]}", "a", 1, "tags", "x");
    cli_rec_t r = {.ns_id = "0123abcd", .ns_title = "prod", .key = "greeting", .key_len = 8};
    r.value = (const unsigned char *)"Hello, ключ 😀";
    r.value_len = strlen((const char *)r.value);
    r.metadata = meta;
    r.expiration = 1796237594;
    round_trip(&r, "{\"namespace_id\":\"0123abcd\",\"namespace_title\":\"prod\",\"key\":"
                   "\"greeting\",\"value\":\"Hello, ключ 😀\",\"metadata\":{\"a\":1,\"tags\":"
                   "[\"x\",null]},\"expiration\":1796237594}");
    /* Binary (not UTF-8): value_base64, every length modulo 3. */
    static const unsigned char bin[] = {0xff, 0x00, 0xfe, 0x80, 0x01, 0xc3};
    for (size_t n = 1; n <= sizeof bin; n++) {
        cli_rec_t b = {.ns_id = "i", .ns_title = "t", .key = "b", .key_len = 1};
        b.value = bin;
        b.value_len = n;
        round_trip(&b, NULL);
    }
    cli_rec_t b = {
        .ns_id = "i", .ns_title = "t", .key = "b", .key_len = 1, .value = bin, .value_len = 3};
    round_trip(&b, "{\"namespace_id\":\"i\",\"namespace_title\":\"t\",\"key\":\"b\","
                   "\"value_base64\":\"/wD+\"}");
    /* Text with NUL bytes stays text; an empty value; a key with a NUL. */
    cli_rec_t z = {.ns_id = "i", .ns_title = "t", .key = "k\0x", .key_len = 3};
    z.value = (const unsigned char *)"a\0b";
    z.value_len = 3;
    round_trip(&z, "{\"namespace_id\":\"i\",\"namespace_title\":\"t\",\"key\":\"k\\u0000x\","
                   "\"value\":\"a\\u0000b\"}");
    z.value_len = 0;
    round_trip(&z, NULL);
    json_decref(meta);
}

static void test_b64(void **state)
{
    (void)state;
    unsigned char *out;
    size_t len;
    char *e = cli_b64_encode((const unsigned char *)"hello", 5);
    assert_string_equal(e, "aGVsbG8=");
    kv_free(e);
    assert_int_equal(cli_b64_decode("aGVsbG8=", 8, &out, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    kv_free(out);
    assert_int_equal(cli_b64_decode("", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    kv_free(out);
    assert_int_equal(cli_b64_decode("aGVsbG8", 7, &out, &len), -1);  /* length */
    assert_int_equal(cli_b64_decode("aGV!bG8=", 8, &out, &len), -1); /* alphabet */
    assert_int_equal(cli_b64_decode("aG=sbG8=", 8, &out, &len), -1); /* '=' inside */
}

/* Each malformed line is refused with its line number and why. */
static void test_line_errors(void **state)
{
    static const struct {
        const char *line, *msg;
    } bad[] = {
        {"{\"key\": \"k\", \"value\": ", "line 42: not JSON: "},
        {"[1, 2]", "line 42: not a JSON object"},
        {"{\"value\": \"v\"}", "line 42: \"key\" must be a non-empty string"},
        {"{\"key\": \"\", \"value\": \"v\"}", "line 42: \"key\" must be a non-empty string"},
        {"{\"key\": 5, \"value\": \"v\"}", "line 42: \"key\" must be a non-empty string"},
        {"{\"key\": \"k\"}", "line 42: needs exactly one of \"value\" and \"value_base64\""},
        {"{\"key\": \"k\", \"value\": \"v\", \"value_base64\": \"dg==\"}",
         "line 42: needs exactly one of"},
        {"{\"key\": \"k\", \"value\": 7}", "line 42: \"value\" must be a string"},
        {"{\"key\": \"k\", \"value_base64\": \"!!\"}",
         "line 42: \"value_base64\" is not valid base64"},
        {"{\"key\": \"k\", \"value\": \"v\", \"expiration\": \"soon\"}",
         "line 42: \"expiration\" must be a positive integer"},
        {"{\"key\": \"k\", \"value\": \"v\", \"expiration\": -5}",
         "line 42: \"expiration\" must be a positive integer"},
        {"{\"key\": \"k\", \"value\": \"v\", \"metdata\": {}}",
         "line 42: unknown field \"metdata\""},
        {"{\"key\": \"k\", \"key\": \"j\", \"value\": \"v\"}", "line 42: not JSON: duplicate"},
        {"{\"key\": \"k\", \"value\": \"v\", \"namespace_id\": 3}",
         "line 42: \"namespace_id\" must be a string"},
        {"{\"key\": \"k\", \"value\": \"v\", \"namespace_title\": []}",
         "line 42: \"namespace_title\" must be a string"},
    };
    char err[256], line[2048];
    cli_rec_t r;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(cli_rec_decode(bad[i].line, strlen(bad[i].line), 42, &r, err, sizeof err),
                         -1);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("line %zu: got [%s], want [%s...]", i, err, bad[i].msg);
        assert_null(r.doc); /* nothing to free */
    }
    /* Limits of kv_limits.h: key 513 bytes, metadata of 1025 bytes. */
    memset(line, 0, sizeof line);
    int n = snprintf(line, sizeof line, "{\"key\": \"%0*d\", \"value\": \"v\"}",
                     KV_KEY_MAX_BYTES + 1, 0);
    assert_int_equal(cli_rec_decode(line, (size_t)n, 1, &r, err, sizeof err), -1);
    assert_string_equal(err, "line 1: the key of 513 bytes exceeds the limit of 512");
    n = snprintf(line, sizeof line, "{\"key\": \"%0*d\", \"value\": \"v\"}", KV_KEY_MAX_BYTES, 0);
    assert_int_equal(cli_rec_decode(line, (size_t)n, 1, &r, err, sizeof err), 0);
    cli_rec_free(&r);
    n = snprintf(line, sizeof line, "{\"key\": \"k\", \"value\": \"v\", \"metadata\": \"%0*d\"}",
                 KV_METADATA_MAX_BYTES - 1, 0); /* the JSON string: 1025 bytes with its quotes */
    assert_int_equal(cli_rec_decode(line, (size_t)n, 9, &r, err, sizeof err), -1);
    assert_string_equal(err, "line 9: \"metadata\" of 1025 bytes (serialised) exceeds the limit "
                             "of 1024");
    /* Absent namespace fields and null metadata/expiration are fine. */
    const char *ok = "{\"key\": \"k\", \"value\": \"v\", \"metadata\": null, \"expiration\": null}";
    assert_int_equal(cli_rec_decode(ok, strlen(ok), 1, &r, err, sizeof err), 0);
    assert_null(r.ns_id);
    assert_null(r.metadata);
    assert_int_equal(r.expiration, 0);
    cli_rec_free(&r);
}

/* export/import refuse bad arguments and files before any request (the
 * dead URL is never reached: 2, not 5). */
static void test_export_import_usage(void **state)
{
    char path[] = "/tmp/edgekv-test-cli-exp-XXXXXX", state_path[64];
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    close(fd);
    snprintf(state_path, sizeof state_path, "%s.import-state", path);
#define CONN dead_url_arg, "--token=t", "--account=a"
    assert_int_equal(RUN("export", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("give --namespace-id ID or --all (one of them)"));
    assert_int_equal(RUN("export", "--all", "--namespace-id=n", CONN), CLI_EXIT_USAGE);
    assert_int_equal(RUN("export", "--all", "--resume", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("--resume needs --out FILE"));
    assert_int_equal(RUN("export", "--all", "--out", path, CONN), CLI_EXIT_USAGE);
    assert_true(output_has("exists; pass --resume to continue"));
    assert_int_equal(RUN("export", "--all", "--out", "/nonexistent/x.jsonl", "--resume", CONN),
                     CLI_EXIT_USAGE);
    assert_true(output_has("no /nonexistent/x.jsonl.state: nothing to resume"));
    assert_int_equal(RUN("export", "--all", "--by-title", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("'export' does not take --by-title"));
    assert_int_equal(RUN("import", CONN), CLI_EXIT_USAGE);
    assert_int_equal(RUN("import", path, CONN), CLI_EXIT_USAGE);
    assert_true(output_has("give --namespace-id ID or --by-title (one of them)"));
    assert_int_equal(RUN("import", "-", "--by-title", "--resume", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("--resume needs a file, not stdin"));
    assert_int_equal(RUN("import", "/nonexistent/x", "--by-title", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("cannot open /nonexistent/x"));
    /* Malformed lines: every one named with its number, nothing sent. */
    write_file(path, "{\"key\":\"a\",\"value\":\"1\"}\n\n{\"key\":\"b\"}\nnot json\n"
                     "{\"key\":\"c\",\"value\":\"3\"}\n");
    assert_int_equal(RUN("import", path, "--namespace-id=n", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("line 3: needs exactly one of \"value\" and \"value_base64\""));
    assert_true(output_has("line 4: not JSON: "));
    assert_true(output_has("2 bad lines; nothing was written"));
    /* --by-title needs a title on every line. */
    write_file(path, "{\"key\":\"a\",\"value\":\"1\"}\n");
    assert_int_equal(RUN("import", path, "--by-title", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("line 1: no \"namespace_title\" (--by-title needs one)"));
    /* A valid file gets as far as the network; no batch was acknowledged,
     * so the state still points at line 0. */
    write_file(path, "{\"key\":\"a\",\"value\":\"1\",\"expiration\":1}\n"
                     "{\"key\":\"b\",\"value_base64\":\"/wD+\",\"metadata\":{\"m\":1}}\n");
    assert_int_equal(RUN("import", path, "--namespace-id=n", CONN), CLI_EXIT_CONN);
    assert_true(output_has("--resume continues from"));
    assert_int_equal(access(state_path, F_OK), 0);
    assert_int_equal(RUN("import", path, "--namespace-id=n", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("exists (an interrupted import); pass --resume or remove it"));
    assert_int_equal(RUN("import", path, "--namespace-id=other", "--resume", CONN), CLI_EXIT_USAGE);
    assert_true(output_has("is of an import into --namespace-id n; resume it the same way"));
    assert_int_equal(RUN("import", path, "--namespace-id=n", "--resume", CONN), CLI_EXIT_CONN);
#undef CONN
    unlink(state_path);
    unlink(path);
}

static void test_connection_refused(void **state)
{
    (void)state;
    char base[96], msg[96];
    snprintf(base, sizeof base, "%s/client/v4/", dead_url);
    snprintf(msg, sizeof msg, "cannot reach %s", dead_url);
    setenv("CLOUDFLARE_API_BASE_URL", base, 1);
    setenv("CLOUDFLARE_API_TOKEN", "t", 1);
    setenv("CLOUDFLARE_ACCOUNT_ID", "a", 1);
    assert_int_equal(RUN("namespace", "list"), CLI_EXIT_CONN);
    assert_true(output_has(msg));
    assert_int_equal(RUN("key", "get", "k", "--namespace-id", "n"), CLI_EXIT_CONN);
    /* a readable --cacert (any file: curl reads it only for https) gets as far */
    assert_int_equal(RUN("key", "get", "k", "--namespace-id", "n", "--cacert", out_path),
                     CLI_EXIT_CONN);
    assert_int_equal(RUN("key", "put", "k", "v", "--metadata", "{\"a\":1}", "--namespace-id", "n",
                         "--ttl", "60"),
                     CLI_EXIT_CONN);
    unsetenv("CLOUDFLARE_API_BASE_URL"), unsetenv("CLOUDFLARE_API_TOKEN");
    unsetenv("CLOUDFLARE_ACCOUNT_ID");
}

/* Every allocation of kv_mem failing in turn: an error status, never a
 * crash or (under LeakSanitizer) a leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *line = "{\"key\":\"b\",\"value_base64\":\"/wD+\"}";
    char err[256];
    cli_rec_t r;
    kv_mem_failing_set(0);
    assert_null(cli_b64_encode((const unsigned char *)"x", 1));
    kv_mem_failing_set(0); /* fails once, then never again */
    assert_int_equal(cli_rec_decode(line, strlen(line), 3, &r, err, sizeof err), -1);
    kv_mem_failing_set(-1);
    assert_string_equal(err, "line 3: out of memory");
    for (long n = 0; n < 60; n++) {
        int rc;
        kv_mem_failing_set(n);
        rc = RUN("export", "--all", "--url", dead_url, "--token", "t", "--account", "a");
        kv_mem_failing_set(-1);
        assert_true(rc == CLI_EXIT_API || rc == CLI_EXIT_CONN);
    }
    for (long n = 0; n < 40; n++) {
        int rc;
        kv_mem_failing_set(n);
        rc = RUN("key", "put", "k/1", "v", "--metadata", "{\"a\":1}", "--namespace-id", "n",
                 "--url", dead_url, "--token", "t", "--account", "a");
        kv_mem_failing_set(-1);
        assert_true(rc == CLI_EXIT_API || rc == CLI_EXIT_CONN);
        kv_mem_failing_set(n);
        rc = RUN("namespace", "delete", "title", "--url", dead_url, "--token", "t", "--account",
                 "a");
        kv_mem_failing_set(-1);
        assert_true(rc == CLI_EXIT_API || rc == CLI_EXIT_CONN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_bulk_files),
        cmocka_unit_test(test_line_round_trip),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_line_errors),
        cmocka_unit_test(test_export_import_usage),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
