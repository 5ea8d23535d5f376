/*
 * cli_line.c - what `edgekv kv export` and `import` share: the export line
 * format (one JSON object per key), base64, the resume-state files and the
 * progress meter.
 *
 * The line format, written once here and documented in the README:
 *
 *   {"namespace_id": "<id>", "namespace_title": "<title>", "key": "<key>",
 *    "value": "<UTF-8 text>"  |  "value_base64": "<standard base64>",
 *    "metadata"?: <any JSON>, "expiration"?: <absolute UNIX seconds>}
 *
 * A value that is valid UTF-8 travels as "value" (JSON-escaped text), any
 * other as "value_base64". "metadata" and "expiration" are absent when the
 * key has none. The decoder is strict (an unknown or mistyped field is an
 * error with its line number): a typo must not silently lose metadata.
 *
 * This file does no I/O on the network; it is what the unit tests drive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

static const char b64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cli_b64_encode(const unsigned char *s, size_t len)
{
    char *enc = kv_malloc((len + 2) / 3 * 4 + 1), *p = enc;
    size_t i;
    if (!enc)
        return NULL;
    for (i = 0; i + 2 < len; i += 3, p += 4) {
        unsigned w = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        p[0] = b64_tbl[w >> 18], p[1] = b64_tbl[w >> 12 & 63], p[2] = b64_tbl[w >> 6 & 63],
        p[3] = b64_tbl[w & 63];
    }
    if (i < len) {
        unsigned w = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0);
        p[0] = b64_tbl[w >> 18], p[1] = b64_tbl[w >> 12 & 63];
        p[2] = i + 1 < len ? b64_tbl[w >> 6 & 63] : '=', p[3] = '=';
        p += 4;
    }
    *p = '\0';
    return enc;
}

static int b64_val(char ch)
{
    const char *p = ch ? strchr(b64_tbl, ch) : NULL;
    return p ? (int)(p - b64_tbl) : -1;
}

int cli_b64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    size_t i, n = 0, pad = 0;
    unsigned char *buf;
    if (len % 4 != 0)
        return -1;
    if (len >= 1 && s[len - 1] == '=')
        pad++;
    if (len >= 2 && s[len - 2] == '=')
        pad++;
    if (!(buf = kv_malloc(len / 4 * 3 + 1)))
        return -ENOMEM;
    for (i = 0; i < len; i += 4) {
        int v[4], j, last = i + 4 == len;
        for (j = 0; j < 4; j++) {
            v[j] = last && j >= 4 - (int)pad ? 0 : b64_val(s[i + (size_t)j]);
            if (v[j] < 0) {
                kv_free(buf);
                return -1;
            }
        }
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        buf[n++] = (unsigned char)(w >> 16);
        if (!last || pad < 2)
            buf[n++] = (unsigned char)(w >> 8);
        if (!last || pad < 1)
            buf[n++] = (unsigned char)w;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

json_t *cli_rec_to_json(const cli_rec_t *r)
{
    json_t *o = json_object(), *v = NULL;
    bool b64 = false;
    if (!o)
        return NULL;
    v = json_stringn((const char *)r->value, r->value_len); /* NULL: not UTF-8 */
    if (!v) {
        char *enc = cli_b64_encode(r->value, r->value_len);
        v = enc ? json_string(enc) : NULL;
        kv_free(enc);
        b64 = true;
    }
    if (!v || json_object_set_new(o, "namespace_id", json_string(r->ns_id ? r->ns_id : "")) ||
        json_object_set_new(o, "namespace_title", json_string(r->ns_title ? r->ns_title : "")) ||
        json_object_set_new(o, "key", json_stringn(r->key, r->key_len)) ||
        json_object_set_new(o, b64 ? "value_base64" : "value", v) ||
        (r->metadata && json_object_set(o, "metadata", r->metadata)) ||
        (r->expiration &&
         json_object_set_new(o, "expiration", json_integer((json_int_t)r->expiration)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *cli_rec_encode(const cli_rec_t *r, size_t *len)
{
    json_t *o = cli_rec_to_json(r);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

void cli_rec_free(cli_rec_t *r)
{
    json_decref(r->doc);
    kv_free(r->value_buf);
    memset(r, 0, sizeof *r);
}

static int line_err(char *err, size_t cap, size_t lineno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int line_err(char *err, size_t cap, size_t lineno, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, cap, "line %zu: ", lineno);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < cap)
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The value: "value" or "value_base64", exactly one. */
static int decode_value(json_t *o, cli_rec_t *r, size_t lineno, char *err, size_t cap)
{
    json_t *t = json_object_get(o, "value"), *b = json_object_get(o, "value_base64");
    if ((t != NULL) == (b != NULL))
        return line_err(err, cap, lineno, "needs exactly one of \"value\" and \"value_base64\"");
    if (t && !json_is_string(t))
        return line_err(err, cap, lineno, "\"value\" must be a string");
    if (b && !json_is_string(b))
        return line_err(err, cap, lineno, "\"value_base64\" must be a string");
    if (t) {
        r->value = (const unsigned char *)json_string_value(t);
        r->value_len = json_string_length(t);
    } else {
        int rc = cli_b64_decode(json_string_value(b), json_string_length(b), &r->value_buf,
                                &r->value_len);
        if (rc == -ENOMEM)
            return line_err(err, cap, lineno, "out of memory");
        if (rc != 0)
            return line_err(err, cap, lineno, "\"value_base64\" is not valid base64");
        r->value = r->value_buf;
        r->binary = true;
        r->value_b64 = json_string_value(b);
        r->value_b64_len = json_string_length(b);
    }
    if (r->value_len > KV_VALUE_MAX_BYTES)
        return line_err(err, cap, lineno, "the value of %zu bytes exceeds the limit of %u",
                        r->value_len, KV_VALUE_MAX_BYTES);
    return 0;
}

static int decode_fields(json_t *o, cli_rec_t *r, size_t lineno, char *err, size_t cap)
{
    static const char *const known[] = {"namespace_id", "namespace_title", "key",       "value",
                                        "value_base64", "metadata",        "expiration"};
    const char *k;
    json_t *v;
    size_t i;
    json_object_foreach(o, k, v)
    {
        for (i = 0; i < sizeof known / sizeof known[0] && strcmp(k, known[i]) != 0; i++)
            ;
        if (i == sizeof known / sizeof known[0])
            return line_err(err, cap, lineno, "unknown field \"%s\"", k);
    }
    v = json_object_get(o, "key");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return line_err(err, cap, lineno, "\"key\" must be a non-empty string");
    r->key = json_string_value(v);
    r->key_len = json_string_length(v);
    if (r->key_len > KV_KEY_MAX_BYTES)
        return line_err(err, cap, lineno, "the key of %zu bytes exceeds the limit of %d",
                        r->key_len, KV_KEY_MAX_BYTES);
    v = json_object_get(o, "namespace_id");
    if (v && !json_is_string(v))
        return line_err(err, cap, lineno, "\"namespace_id\" must be a string");
    r->ns_id = json_string_value(v);
    v = json_object_get(o, "namespace_title");
    if (v && !json_is_string(v))
        return line_err(err, cap, lineno, "\"namespace_title\" must be a string");
    r->ns_title = json_string_value(v);
    v = json_object_get(o, "expiration");
    if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) <= 0))
        return line_err(err, cap, lineno,
                        "\"expiration\" must be a positive integer (UNIX seconds)");
    r->expiration = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    v = json_object_get(o, "metadata");
    if (v && !json_is_null(v)) {
        char *m = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t mlen = m ? strlen(m) : 0;
        free(m);
        if (mlen > KV_METADATA_MAX_BYTES)
            return line_err(err, cap, lineno,
                            "\"metadata\" of %zu bytes (serialised) exceeds the limit of %d", mlen,
                            KV_METADATA_MAX_BYTES);
        r->metadata = v;
    }
    return 0;
}

int cli_rec_decode(const char *line, size_t len, size_t lineno, cli_rec_t *r, char *err, size_t cap)
{
    json_error_t je;
    json_t *o;
    memset(r, 0, sizeof *r);
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o)
        return line_err(err, cap, lineno, "not JSON: %s (column %d)", je.text, je.column);
    r->doc = o;
    if (!json_is_object(o)) {
        cli_rec_free(r);
        return line_err(err, cap, lineno, "not a JSON object");
    }
    if (decode_fields(o, r, lineno, err, cap) != 0 || decode_value(o, r, lineno, err, cap) != 0) {
        cli_rec_free(r);
        return -1;
    }
    return 0;
}

/* ---- state files --------------------------------------------------------------------- */

int cli_state_save(const char *path, json_t *state)
{
    char *tmp = cli_fmt("%s.tmp", path), *text = json_dumps(state, JSON_COMPACT);
    int fd = -1, rc = -ENOMEM;
    if (tmp && text) {
        size_t len = strlen(text);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        rc = fd < 0 ? -errno : 0;
        if (rc == 0 && (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1))
            rc = -EIO;
        /* fsync before the rename: after a crash the state is the old one or
         * the new one, never an empty file. */
        if (rc == 0 && fsync(fd) != 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
    }
    if (rc != 0)
        fprintf(stderr, "edgekv kv: cannot write %s: %s\n", path, strerror(-rc));
    kv_free(tmp);
    free(text);
    return rc;
}

int cli_state_load(const char *path, json_t **out)
{
    json_error_t je;
    *out = json_load_file(path, 0, &je);
    if (!*out) {
        if (access(path, F_OK) != 0)
            fprintf(stderr, "edgekv kv: no %s: nothing to resume\n", path);
        else
            fprintf(stderr, "edgekv kv: %s is not a state file: %s\n", path, je.text);
        return CLI_EXIT_USAGE;
    }
    if (!json_is_object(*out)) {
        fprintf(stderr, "edgekv kv: %s is not a state file\n", path);
        json_decref(*out);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* ---- progress ------------------------------------------------------------------------ */

/* Redraws of the progress line, at most this often (a page of keys can take
 * a few milliseconds; a terminal need not be repainted that often). */
#define METER_REDRAW_MS 200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_meter_init(cli_meter_t *m, const cli_t *c, const char *verb)
{
    memset(m, 0, sizeof *m);
    m->on = c->progress || isatty(STDERR_FILENO);
    m->tty = isatty(STDERR_FILENO);
    m->verb = verb;
    m->start_s = now_s();
}

double cli_meter_elapsed(const cli_meter_t *m)
{
    return now_s() - m->start_s;
}

void cli_meter_draw(cli_meter_t *m, bool last)
{
    double t = now_s(), el = t - m->start_s;
    if (!m->on || (!last && (t - m->drawn_s) * 1000 < METER_REDRAW_MS))
        return;
    m->drawn_s = t;
    fprintf(stderr, "%s%s: %llu keys, %.1f MB, %.0f keys/s%s", m->tty ? "\r" : "", m->verb,
            (unsigned long long)m->keys, (double)m->bytes / 1e6,
            el > 0 ? (double)(m->keys - m->keys0) / el : 0.0, m->tty ? "\033[K" : "");
    if (!m->tty || last)
        fputc('\n', stderr);
    fflush(stderr);
}
