/*
 * cli_int.h - internals shared by the `edgekv kv` files: cli.c (arguments,
 * help, dispatch), cli_http.c (libcurl and the v4 envelope), cli_ns.c,
 * cli_key.c and cli_bulk.c (the commands), cli_line.c (the export line
 * format, base64, resume-state files, the progress line), cli_export.c and
 * cli_import.c (`export` and `import`).
 */
#ifndef NODE_CLI_INT_H
#define NODE_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

/* Items per bulk put / delete request: wrangler's batch size (a tenth of
 * the API's 10 000), so one failed request loses little work. A client
 * choice, not a server limit; the server limits are in kv_limits.h. */
#define CLI_BULK_BATCH_ITEMS 1000
/* Default server: what deploy/run-local.sh starts. */
#define CLI_DEFAULT_URL "http://127.0.0.1:8788"
/* Largest bulk input file read into memory: ten requests of the API's
 * largest body, far beyond any sane bulk file. */
#define CLI_BULK_FILE_MAX_BYTES (10ull * 100u * 1000u * 1000u)
/* Connect timeout; a transfer itself may take as long as it needs. */
#define CLI_CONNECT_TIMEOUT_S 10
/* A transfer that moves fewer than 1 byte/s for this long is abandoned. */
#define CLI_STALL_TIMEOUT_S 120

/* Flags. Each command lists the ones it accepts; the connection and output
 * flags are accepted everywhere. */
enum {
    CLI_F_URL = 1u << 0,
    CLI_F_TOKEN = 1u << 1,
    CLI_F_ACCOUNT = 1u << 2,
    CLI_F_JSON = 1u << 3,
    CLI_F_PROGRESS = 1u << 4,
    CLI_F_HELP = 1u << 5,
    CLI_F_NS_ID = 1u << 6,
    CLI_F_PREFIX = 1u << 7,
    CLI_F_TTL = 1u << 8,
    CLI_F_EXPIRATION = 1u << 9,
    CLI_F_METADATA = 1u << 10,
    CLI_F_PATH = 1u << 11,
    CLI_F_NEW_NAME = 1u << 12,
    CLI_F_FORCE = 1u << 13,    /* bulk delete: wrangler's --force (no prompt here) */
    CLI_F_YES = 1u << 14,      /* namespace delete: --skip-confirmation / -y */
    CLI_F_REMOTE = 1u << 15,   /* wrangler's --remote: accepted, always true here */
    CLI_F_CACERT = 1u << 16,   /* CA certificates that verify an HTTPS server */
    CLI_F_ALL = 1u << 17,      /* export: every namespace */
    CLI_F_OUT = 1u << 18,      /* export: the output file */
    CLI_F_RESUME = 1u << 19,   /* export/import: continue from the state file */
    CLI_F_BY_TITLE = 1u << 20, /* import: each record to the namespace of its title */
};
#define CLI_F_COMMON                                                                               \
    (CLI_F_URL | CLI_F_TOKEN | CLI_F_ACCOUNT | CLI_F_JSON | CLI_F_PROGRESS | CLI_F_HELP |          \
     CLI_F_REMOTE | CLI_F_CACERT)

#define CLI_MAX_POSITIONAL 4

/* One invocation. Strings point into argv or the environment (borrowed for
 * the whole run) except base and the curl handle, which cli_main owns. */
typedef struct {
    unsigned flags_seen;
    const char *url, *token, *account; /* resolved: flag, EDGEKV_*, CLOUDFLARE_* */
    const char *cacert;                /* resolved: --cacert, EDGEKV_CACERT; NULL: system CAs */
    const char *ns_id, *prefix, *ttl, *expiration, *metadata, *path, *new_name, *out;
    bool json, progress, all, resume, by_title;
    const char *pos[CLI_MAX_POSITIONAL];
    int npos;

    char *base;     /* <url>/client/v4/accounts/<account>/storage/kv/namespaces */
    char *auth_hdr; /* "Authorization: Bearer <token>" */
    CURL *curl;     /* one handle: keep-alive across every request of the run */
} cli_t;

/* A response. body is NUL-terminated (not counted in len); kv_malloc'd. */
typedef struct {
    long status;
    char *body;
    size_t len, cap;
    char expiration[24]; /* the `expiration` header of GET values, "" if none */
} cli_resp_t;

/* A request. path is appended to c->base ("" for the collection). */
typedef struct {
    const char *method;
    const char *path;
    const char *content_type; /* NULL: none */
    const void *body;
    size_t body_len;
    curl_mime *mime; /* multipart body instead of body */
} cli_req_t;

/* ---- cli.c ---- */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- cli_http.c ---- */
int cli_http_init(cli_t *c);
void cli_http_fini(cli_t *c);
/* Sends the request; 0, or CLI_EXIT_CONN with the reason printed. */
int cli_http(cli_t *c, const cli_req_t *rq, cli_resp_t *out);
void cli_resp_free(cli_resp_t *r);
/* Checks the v4 envelope of r. On success 0 with *result (and *info if
 * not NULL) borrowed from *doc, which the caller json_decref()s. On an API
 * error prints "edgekv kv: <message> [code: N]" and returns the exit status
 * (CLI_EXIT_API / _NOT_FOUND / _AUTH); *doc is then NULL. */
int cli_envelope(const cli_resp_t *r, json_t **doc, json_t **result, json_t **info);
/* cli_http then cli_envelope. */
int cli_call(cli_t *c, const cli_req_t *rq, json_t **doc, json_t **result, json_t **info);
/* Exit status for a non-2xx HTTP status (after printing the error). */
int cli_status_exit(long status);
/* Percent-encodes s for a path segment or query value: everything but
 * A-Z a-z 0-9 - _ ~ is escaped (so "." and ".." keys survive as keys).
 * kv_malloc'd, NULL on allocation failure. */
char *cli_pct(const char *s, size_t len);
/* printf into a kv_malloc'd string; NULL on allocation failure. */
char *cli_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints j as indented JSON on stdout. */
void cli_print_json(json_t *j);

/* ---- cli_key.c ---- */
/* Reads path ("-" = stdin) into a kv_malloc'd, NUL-terminated buffer of at
 * most max bytes. 0, or CLI_EXIT_USAGE with the reason printed. */
int cli__read_file(const char *path, size_t max, char **out, size_t *len);

/* ---- cli_ns.c ---- */
/* Every namespace of the account, by title: a new array in *out. */
int cli__ns_list_all(cli_t *c, json_t **out);
/* Creates a namespace titled `title`; its id (kv_malloc'd) in *id. */
int cli__ns_create(cli_t *c, const char *title, char **id);

/* ---- cli_line.c: export lines, base64, state files, progress ---- */
/* One key of an export line. Encoding borrows every pointer; decoding
 * fills them from doc (owned, with value_buf) until cli_rec_free. */
typedef struct {
    json_t *doc;                  /* decoded line (owner), NULL when encoding */
    const char *ns_id, *ns_title; /* NULL: absent */
    const char *key;
    size_t key_len;
    const unsigned char *value; /* the bytes */
    size_t value_len;
    unsigned char *value_buf; /* kv_malloc'd bytes of a base64 value */
    bool binary;              /* decoded from "value_base64" ... */
    const char *value_b64;    /* ... whose text this is (borrowed from doc) */
    size_t value_b64_len;
    json_t *metadata;   /* borrowed; NULL: none */
    int64_t expiration; /* absolute UNIX seconds; 0: none */
} cli_rec_t;

/* The line's JSON object (new reference), NULL on allocation failure. */
json_t *cli_rec_to_json(const cli_rec_t *r);
/* The line without its newline: json_dumps output, free() it. */
char *cli_rec_encode(const cli_rec_t *r, size_t *len);
/* Parses and checks one line (lineno for messages). 0, or -1 with
 * "line N: why" in err and nothing to free. */
int cli_rec_decode(const char *line, size_t len, size_t lineno, cli_rec_t *r, char *err,
                   size_t cap);
void cli_rec_free(cli_rec_t *r);
/* Standard base64 with padding; kv_malloc'd results. decode: 0, -1 when
 * s is not base64, -ENOMEM. */
char *cli_b64_encode(const unsigned char *s, size_t len);
int cli_b64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len);
/* Writes state as path atomically (a temporary file, fsync, rename). 0 or
 * -errno with the reason printed. */
int cli_state_save(const char *path, json_t *state);
/* Reads a state file: 0 with a new object in *out, or CLI_EXIT_USAGE with
 * the reason printed. */
int cli_state_load(const char *path, json_t **out);

/* The progress line of export and import: on stderr when it is a terminal
 * (redrawn in place) or with --progress (a line per redraw). */
typedef struct {
    bool on, tty;
    const char *verb;
    unsigned long long keys, bytes;
    unsigned long long keys0; /* keys done before a resume (not in the rate) */
    double start_s, drawn_s;
} cli_meter_t;
void cli_meter_init(cli_meter_t *m, const cli_t *c, const char *verb);
/* Redraws if METER_REDRAW_MS passed (or `last`, which ends the line). */
void cli_meter_draw(cli_meter_t *m, bool last);
double cli_meter_elapsed(const cli_meter_t *m);

/* ---- commands (cli_ns.c, cli_key.c, cli_bulk.c) ---- */
int cli_ns_create(cli_t *c);
int cli_ns_list(cli_t *c);
int cli_ns_rename(cli_t *c);
int cli_ns_delete(cli_t *c);
int cli_key_put(cli_t *c);
int cli_key_get(cli_t *c);
int cli_key_list(cli_t *c);
int cli_key_delete(cli_t *c);
int cli_bulk_put(cli_t *c);
int cli_bulk_get(cli_t *c);
int cli_bulk_delete(cli_t *c);
int cli_kv_export(cli_t *c);
int cli_kv_import(cli_t *c);

/* The namespace id a key or bulk command works on (--namespace-id). 0 or
 * CLI_EXIT_USAGE with the reason printed. */
int cli_need_ns(cli_t *c);

#endif
