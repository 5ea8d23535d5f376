/*
 * cli_http.c - the HTTP side of `edgekv kv`: one libcurl easy handle per
 * run (so every request reuses one keep-alive connection), the v4 envelope,
 * and the mapping of failures to exit statuses.
 *
 * This is where foreign errors are translated, once: a libcurl failure
 * becomes CLI_EXIT_CONN with curl's text, a non-2xx answer becomes the
 * envelope's first message and an exit status by HTTP status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli_int.h"
#include "edgekv_version.h"
#include "kv_mem.h"

char *cli_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = kv_malloc((size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *cli_pct(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = kv_malloc(len * 3 + 1), *o = out;
    size_t i;
    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '~') {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

void cli_print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

int cli_http_init(cli_t *c)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        fputs("edgekv kv: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_CONN;
    }
    return 0;
}

void cli_http_fini(cli_t *c)
{
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        c->curl = NULL;
        curl_global_cleanup();
    }
}

void cli_resp_free(cli_resp_t *r)
{
    kv_free(r->body);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    cli_resp_t *r = arg;
    size_t len = size * n;
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        char *b;
        while (cap < r->len + len + 1)
            cap *= 2;
        if (!(b = kv_realloc(r->body, cap)))
            return 0; /* curl reports CURLE_WRITE_ERROR */
        r->body = b, r->cap = cap;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* Keeps the `expiration` header (GET values answers carry it). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    cli_resp_t *r = arg;
    size_t len = size * n, v = 11, e;
    if (len > v && strncasecmp(p, "expiration:", v) == 0) {
        while (v < len && (p[v] == ' ' || p[v] == '\t'))
            v++;
        for (e = v; e < len && p[e] >= '0' && p[e] <= '9'; e++)
            ;
        if (e - v < sizeof r->expiration) {
            memcpy(r->expiration, p + v, e - v);
            r->expiration[e - v] = '\0';
        }
    }
    return len;
}

/* What to do about a server certificate that did not verify (libcurl's
 * text above says why: the issuer, the host name, the dates). */
static void print_tls_hint(const cli_t *c, CURLcode cc)
{
    if (cc != CURLE_PEER_FAILED_VERIFICATION)
        return;
    if (c->cacert)
        fprintf(stderr,
                "edgekv kv: the server's TLS certificate is not valid for this URL with the CA "
                "certificates of %s\n",
                c->cacert);
    else
        fputs("edgekv kv: the server's TLS certificate is not trusted; for a node whose "
              "certificate comes from a private CA (edgekv certs), pass --cacert FILE (its "
              "ca.crt) or set EDGEKV_CACERT\n",
              stderr);
}

int cli_http(cli_t *c, const cli_req_t *rq, cli_resp_t *out)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL, *tmp;
    char *url = cli_fmt("%s%s", c->base, rq->path);
    char *ctype = rq->content_type ? cli_fmt("Content-Type: %s", rq->content_type) : NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;

    memset(out, 0, sizeof *out);
    if (!url || (rq->content_type && !ctype)) {
        kv_free(url);
        kv_free(ctype);
        fputs("edgekv kv: out of memory\n", stderr);
        return CLI_EXIT_API;
    }
    tmp = curl_slist_append(hdrs, c->auth_hdr);
    hdrs = tmp ? tmp : hdrs;
    if (ctype && (tmp = curl_slist_append(hdrs, ctype)))
        hdrs = tmp;
    if (rq->body && !rq->mime && (tmp = curl_slist_append(hdrs, "Expect:")))
        hdrs = tmp; /* no 100-continue round trip for big bodies */

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* keys are already escaped */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "edgekv-kv/" EDGEKV_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CLI_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)CLI_STALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* Only which CAs to trust is configurable: libcurl's verification of the
     * certificate chain and of the host name stays on (its default). With
     * --cacert the CAs of that file are the only ones trusted: the default
     * CA directory (/etc/ssl/certs) is turned off too, so the file decides. */
    if (c->cacert) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    if (rq->mime) {
        curl_easy_setopt(h, CURLOPT_MIMEPOST, rq->mime);
    } else if (rq->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    kv_free(ctype);
    kv_free(url);
    if (cc != CURLE_OK) {
        fprintf(stderr, "edgekv kv: cannot reach %s: %s\n", c->url ? c->url : CLI_DEFAULT_URL,
                errbuf[0] ? errbuf : curl_easy_strerror(cc));
        print_tls_hint(c, cc);
        cli_resp_free(out);
        return CLI_EXIT_CONN;
    }
    return 0;
}

int cli_status_exit(long status)
{
    if (status == 401 || status == 403)
        return CLI_EXIT_AUTH;
    if (status == 404)
        return CLI_EXIT_NOT_FOUND;
    return CLI_EXIT_API;
}

/* "edgekv kv: <message> [code: N]" for each error of a v4 failure, or the
 * status line and the start of the body when it is not an envelope. */
static void print_failure(const cli_resp_t *r, json_t *doc)
{
    json_t *errs = json_object_get(doc, "errors"), *e;
    size_t i, n = 0;
    json_array_foreach(errs, i, e)
    {
        const char *msg = json_string_value(json_object_get(e, "message"));
        json_t *code = json_object_get(e, "code");
        if (!msg)
            continue;
        n++;
        if (json_is_integer(code))
            fprintf(stderr, "edgekv kv: %s [code: %lld]\n", msg,
                    (long long)json_integer_value(code));
        else
            fprintf(stderr, "edgekv kv: %s\n", msg);
    }
    if (n == 0) {
        size_t len = r->len;
        while (len > 0 && (r->body[len - 1] == '\n' || r->body[len - 1] == '\r'))
            len--;
        fprintf(stderr, "edgekv kv: HTTP %ld%s%.*s\n", r->status, len ? ": " : "",
                (int)(len > 200 ? 200 : len), len ? r->body : "");
    }
}

int cli_envelope(const cli_resp_t *r, json_t **doc, json_t **result, json_t **info)
{
    /* JSON_ALLOW_NUL: a text value may hold NUL bytes ("\\u0000"). */
    json_t *d = r->len ? json_loadb(r->body, r->len, JSON_ALLOW_NUL, NULL) : NULL;
    bool ok = r->status >= 200 && r->status < 300;
    *doc = NULL;
    if (ok && (r->len == 0 || json_is_true(json_object_get(d, "success")))) {
        if (!d)
            d = json_object(); /* 204: success with no body */
        *doc = d;
        *result = json_object_get(d, "result");
        if (info)
            *info = json_object_get(d, "result_info");
        return 0;
    }
    print_failure(r, d);
    json_decref(d);
    if (ok) {
        fputs("edgekv kv: the server's answer is not a v4 envelope\n", stderr);
        return CLI_EXIT_API;
    }
    return cli_status_exit(r->status);
}

int cli_call(cli_t *c, const cli_req_t *rq, json_t **doc, json_t **result, json_t **info)
{
    cli_resp_t r;
    int rc = cli_http(c, rq, &r);
    if (rc != 0)
        return rc;
    rc = cli_envelope(&r, doc, result, info);
    cli_resp_free(&r);
    return rc;
}
